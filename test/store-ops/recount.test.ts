/**
 * `kmipd recount-objects`: the counts behind `kmipd_objects`, off after writes that did not
 * keep them (as a node of the release before them writes), counted anew by the command run
 * beside a serving server; SQLite and PostgreSQL.
 */
import { expect } from 'chai';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import { Pool } from 'pg';
import { silentLogger } from '../../lib/log.js';
import { configWith } from '../../server/config.js';
import type { KmipdConfig } from '../../server/config.js';
import { startServer } from '../../server/index.js';
import { openForMaintenance } from '../../server/maintenance.js';
import { startPostgres } from '../support/postgres.js';
import type { PostgresCluster } from '../support/postgres.js';
import { connectAdmin, initialisedCopy, removeDir, runCli } from './helpers.js';

/** The counts the store keeps, as `kmipd_objects` reads them, one "type state count" string each. */
async function keptCounts(config: KmipdConfig): Promise<string[]> {
  const opened = await openForMaintenance(config);
  try {
    return (await opened.store.countByState?.())?.map((c) => `${c.objectType} ${c.state ?? '-'} ${c.count}`).sort() ?? [];
  } finally {
    await opened.close();
  }
}

describe('kmipd recount-objects: counts kept wrong by writes that did not count, made exact again while a server serves', function () {
  this.timeout(90_000);

  it('SQLite data folder', async () => {
    const dir = await initialisedCopy('recount');
    const config = configWith({ dir, host: '127.0.0.1', port: 0, schedulerIntervalSeconds: 0 });
    const server = await startServer(config, { log: silentLogger });
    const client = await connectAdmin(server, dir);
    try {
      const ids = [await client.createKey('r1'), await client.createKey('r2'), await client.createKey('r3')];
      await client.activate(ids[0] ?? '');
      expect(await keptCounts(config)).to.deep.equal(['2 1 2', '2 2 1']);
      // Writes past the counts: one key's State row rewritten, another key deleted.
      const db = new Database(join(dir, 'kmipd.db'));
      try {
        db.prepare("UPDATE attribute_index SET key = '5' WHERE name = 'State' AND object_id = ?").run(ids[1]);
        db.prepare('DELETE FROM attribute_index WHERE object_id = ?').run(ids[2]);
        db.prepare('DELETE FROM objects WHERE id = ?').run(ids[2]);
      } finally {
        db.close();
      }
      expect(await keptCounts(config)).to.deep.equal(['2 1 2', '2 2 1']);

      const { code, output } = await runCli(['recount-objects', '--dir', dir]);
      expect(code, output).to.equal(0);
      expect(output.split('\n')).to.deep.equal(['SymmetricKey Active 1', 'SymmetricKey Destroyed 1 (was 0)', 'SymmetricKey PreActive 0 (was 2)', '2 objects recounted; 2 counts corrected (they said 3 objects)', '']);
      expect(await keptCounts(config)).to.deep.equal(['2 2 1', '2 5 1']);
      // The server keeps counting from there.
      await client.activate(await client.createKey('r4'));
      expect(await keptCounts(config)).to.deep.equal(['2 2 2', '2 5 1']);
      expect((await runCli(['recount-objects', '--dir', dir])).output).to.contain('3 objects recounted; the kept counts were exact');
    } finally {
      await client.close();
      await server.close();
      await removeDir(dirname(dir));
    }
  });

  describe('PostgreSQL store', () => {
    let cluster: PostgresCluster | undefined;
    before(async () => {
      cluster = await startPostgres();
    });
    after(async () => {
      await cluster?.stop();
    });

    it('an older node\'s create and activation written in plain SQL, recounted by the command', async () => {
      if (cluster === undefined) throw new Error('the PostgreSQL cluster did not start');
      const url = cluster.connectionString;
      const dir = await initialisedCopy('recount-pg');
      const config = configWith({ dir, host: '127.0.0.1', port: 0, store: 'postgres', postgresUrl: url, postgresSchema: 'recount', schedulerIntervalSeconds: 0 });
      const server = await startServer(config, { log: silentLogger });
      const client = await connectAdmin(server, dir);
      const admin = new Pool({ connectionString: url });
      try {
        const ids = [await client.createKey('p1'), await client.createKey('p2')];
        expect(await keptCounts(config)).to.deep.equal(['2 1 2']);
        // As the release before the counts writes: an activation and a create, rows and index rows.
        await admin.query("UPDATE recount.attribute_index SET key = convert_to('2', 'UTF8') WHERE name = convert_to('State', 'UTF8') AND object_id = $1", [ids[0]]);
        await admin.query(`INSERT INTO recount.objects (id, object_type, owner, revision, attributes, created, updated) VALUES ('older', 7, '\\x', 1, '\\x', now(), now());
          INSERT INTO recount.attribute_index (object_id, name, key) VALUES ('older', convert_to('State', 'UTF8'), convert_to('2', 'UTF8'))`);
        expect(await keptCounts(config)).to.deep.equal(['2 1 2']);

        const { code, output } = await runCli(['recount-objects', '--dir', dir, '--store', 'postgres', '--postgres-url', url, '--postgres-schema', 'recount']);
        expect(code, output).to.equal(0);
        expect(output.split('\n')).to.deep.equal(['SecretData Active 1 (was 0)', 'SymmetricKey Active 1 (was 0)', 'SymmetricKey PreActive 1 (was 2)', '3 objects recounted; 3 counts corrected (they said 2 objects)', '']);
        expect(await keptCounts(config)).to.deep.equal(['2 1 1', '2 2 1', '7 2 1']);
        await client.activate(ids[1] ?? '');
        expect(await keptCounts(config)).to.deep.equal(['2 2 2', '7 2 1']);
      } finally {
        await admin.end();
        await client.close();
        await server.close();
        await removeDir(dirname(dir));
      }
    });
  });
});
