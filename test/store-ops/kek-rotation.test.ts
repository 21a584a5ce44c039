/**
 * `kmipd kek rotate` (issue 6): a new KEK and every stored key wrapped again under it while
 * the server serves; killed half-way (SIGKILL) nothing is lost and running it again finishes;
 * SQLite, PostgreSQL and an HSM (SoftHSM2) KEK.
 */
import { expect } from 'chai';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import { silentLogger } from '../../lib/log.js';
import { configWith } from '../../server/config.js';
import type { KmipdConfig } from '../../server/config.js';
import { startServer } from '../../server/index.js';
import type { RunningServer } from '../../server/index.js';
import { kekStatus, rotateKek } from '../../server/kek-command.js';
import { openForMaintenance } from '../../server/maintenance.js';
import { runInitHsm } from '../../server/hsm-init.js';
import { startPostgres } from '../support/postgres.js';
import type { PostgresCluster } from '../support/postgres.js';
import { createSoftHsmToken } from '../support/softhsm.js';
import { connectAdmin, initialisedCopy, kmipdCli, removeDir, tempDir } from './helpers.js';
import type { Client } from './helpers.js';

/** kek_id of every stored body, from the SQLite file itself. */
function storedKekIds(dir: string): Map<string, number> {
  const db = new Database(join(dir, 'kmipd.db'), { readonly: true });
  try {
    const rows = db.prepare('SELECT kek_id, count(*) AS n FROM objects WHERE kek_id IS NOT NULL GROUP BY kek_id').all() as { kek_id: string; n: number }[];
    return new Map(rows.map((r) => [r.kek_id, r.n]));
  } finally {
    db.close();
  }
}

async function createKeys(client: Client, prefix: string, count: number): Promise<Map<string, string>> {
  const keys = new Map<string, string>();
  for (let i = 0; i < count; i++) {
    const id = await client.createKey(`${prefix}-${i}`);
    keys.set(id, await client.material(id));
  }
  return keys;
}

async function expectMaterials(client: Client, keys: Map<string, string>): Promise<void> {
  for (const [id, material] of keys) expect(await client.material(id), `key ${id}`).to.equal(material);
}

describe('kmipd kek rotate: a new KEK, online, interruptible and resumable', function () {
  this.timeout(90_000);

  describe('SQLite data folder', () => {
    let dir: string;
    let server: RunningServer | undefined;
    let client: Client | undefined;
    const config = (): KmipdConfig => configWith({ dir, host: '127.0.0.1', port: 0, schedulerIntervalSeconds: 0 });

    before(async () => {
      dir = await initialisedCopy('kek-rotate');
    });
    after(async () => {
      await client?.close();
      await server?.close();
      await removeDir(dirname(dir));
    });

    it('killed with SIGKILL half-way through, loses nothing; run again, it finishes while the server keeps serving', async () => {
      server = await startServer(config(), { log: silentLogger });
      client = await connectAdmin(server, dir);
      const keys = await createKeys(client, 'rotate', 30);
      const [oldKek] = [...storedKekIds(dir).keys()];

      // Throttled, so that it is surely half-way when killed.
      const first = kmipdCli(['kek', 'rotate', '--dir', dir, '--batch-size', '5', '--max-per-second', '60']);
      await first.waitFor(/rewrapped (1\d|[5-9])$/);
      first.child.kill('SIGKILL');
      expect(await first.exited).to.equal('SIGKILL');

      const during = storedKekIds(dir);
      expect(during.size, 'both KEKs in use at the kill').to.equal(2);
      const newKek = [...during.keys()].find((id) => id !== oldKek) ?? '';
      const status = await statusOf(config());
      expect(status).to.match(new RegExp(`${oldKek}\\s+retiring`)).and.match(new RegExp(`${newKek}\\s+active`)).and.match(/rotation in progress/);

      // The server reads both, and writes under the new KEK only.
      await expectMaterials(client, keys);
      const fresh = await createKeys(client, 'during-rotation', 3);
      for (const [id, material] of fresh) keys.set(id, material);
      expect(storedKekIds(dir).get(newKek)).to.be.greaterThan(during.get(newKek) ?? 0);

      const second = kmipdCli(['kek', 'rotate', '--dir', dir, '--batch-size', '7']);
      const line = await second.waitFor(/^KEK rotated/);
      expect(await second.exited).to.equal(0);
      expect(line).to.contain(`${oldKek} -> ${newKek}`).and.contain('(resumed)');
      expect(storedKekIds(dir)).to.deep.equal(new Map([[newKek, keys.size]]));
      await expectMaterials(client, keys);

      // kek.key is now the new KEK; the old one is kept beside it for older backups.
      const files = (await readdir(dir)).filter((f) => f.startsWith('kek')).sort();
      expect(files).to.deep.equal([`kek-${oldKek}.key`, 'kek.key']);
      const after = await statusOf(config());
      expect(after).to.match(new RegExp(`${oldKek}\\s+retired\\s+file\\s+0\\s+kek-${oldKek}.key`)).and.match(new RegExp(`${newKek}\\s+active\\s+file\\s+${keys.size}\\s+kek.key`));
      expect(after).to.not.match(/rotation in progress/);

      // A restarted server reads everything with the new kek.key.
      await client.close();
      await server.close();
      server = await startServer(config(), { log: silentLogger });
      client = await connectAdmin(server, dir);
      await expectMaterials(client, keys);
    });
  });

  describe('PostgreSQL store', () => {
    let cluster: PostgresCluster;
    let dir: string;
    before(async () => {
      cluster = await startPostgres();
      dir = await initialisedCopy('kek-rotate-pg');
    });
    after(async () => {
      await cluster?.stop();
      await removeDir(dirname(dir));
    });

    it('rotates while clients keep creating and reading keys through the server', async () => {
      const config = configWith({ dir, host: '127.0.0.1', port: 0, store: 'postgres', postgresUrl: cluster.connectionString, schedulerIntervalSeconds: 0 });
      const server = await startServer(config, { log: silentLogger });
      const client = await connectAdmin(server, dir);
      try {
        const keys = await createKeys(client, 'pg', 30);
        const opened = await openForMaintenance(config);
        let writing = true;
        const writer = (async () => {
          for (let i = 0; writing; i++) {
            const id = await client.createKey(`pg-during-${i}`);
            keys.set(id, await client.material(id));
          }
        })();
        try {
          const result = await rotateKek(config, opened, { batchSize: 4 });
          writing = false;
          await writer;
          expect(result.rewrapped).to.be.at.least(30);
          const usage = await opened.store.kekUsage();
          expect(usage).to.deep.equal(new Map([[result.to, keys.size]]));
          expect((await opened.store.keks()).map((k) => k.state)).to.deep.equal(['retired', 'active']);
        } finally {
          writing = false;
          await writer.catch(() => undefined);
          await opened.close();
        }
        await expectMaterials(client, keys);
      } finally {
        await client.close();
        await server.close();
      }
    });
  });

  describe('HSM (SoftHSM2) KEK, set up with kmipd init --hsm', () => {
    it('init --hsm makes the folder and config; rotate makes a second non-extractable HSM key and every key still reads', async () => {
      const token = await createSoftHsmToken({ label: 'kmipd-rotate' });
      const dir = await tempDir('kek-rotate-hsm');
      const pinFile = join(dir, '..', `${dir.split('/').pop() ?? 'x'}.pin`);
      await writeFile(pinFile, token.pin, { mode: 0o600 });
      const folder = join(dir, 'data');
      try {
        const said = await runInitHsm(folder, { module: token.module, tokenLabel: token.tokenLabel, pinFile });
        expect(said).to.contain('kmipd serve --config');
        const settings = JSON.parse(await readFile(join(folder, 'kmipd.json'), 'utf8')) as Record<string, unknown>;
        expect(settings).to.include({ kek: 'pkcs11', pkcs11TokenLabel: 'kmipd-rotate', pkcs11KeyLabel: 'kmipd-kek' });
        const config = configWith({ ...(settings as Partial<KmipdConfig>), host: '127.0.0.1', port: 0, schedulerIntervalSeconds: 0 });
        const server = await startServer(config, { log: silentLogger });
        const client = await connectAdmin(server, folder);
        try {
          const keys = await createKeys(client, 'hsm', 12);
          const opened = await openForMaintenance(config);
          try {
            const before = await opened.store.keks();
            expect(before.map((k) => [k.kind, k.ref, k.state])).to.deep.equal([['pkcs11', 'kmipd-kek', 'active']]);
            const result = await rotateKek(config, opened, { batchSize: 5 });
            expect(result.rewrapped).to.equal(12);
            const after = await opened.store.keks();
            expect(after.map((k) => [k.kind, k.state])).to.deep.equal([['pkcs11', 'retired'], ['pkcs11', 'active']]);
            expect(after[1]?.ref).to.match(/^kmipd-kek-\d{8}T\d{6}Z$/);
            expect(await kekStatus(opened)).to.contain(`HSM key "${after[1]?.ref ?? ''}"`);
          } finally {
            await opened.close();
          }
          await expectMaterials(client, keys);
          keys.set(await client.createKey('hsm-after'), '');
        } finally {
          await client.close();
          await server.close();
        }
      } finally {
        await removeDir(dir);
        await removeDir(pinFile);
        await token.cleanup();
      }
    });
  });
});

/** `kmipd kek status` of the store `config` names. */
async function statusOf(config: KmipdConfig): Promise<string> {
  const opened = await openForMaintenance(config);
  try {
    return await kekStatus(opened);
  } finally {
    await opened.close();
  }
}
