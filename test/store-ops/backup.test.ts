/**
 * `kmipd backup FILE` and `kmipd restore FILE` (issue 7): an online, consistent copy with key
 * material still wrapped, restored into a new data folder and read back key by key through a
 * real server; from SQLite and from PostgreSQL; refusals that protect what is there.
 */
import { expect } from 'chai';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { silentLogger } from '../../lib/log.js';
import { BackupError, backupRows, verifyBackup } from '../../lib/store/backup.js';
import { configWith } from '../../server/config.js';
import type { KmipdConfig } from '../../server/config.js';
import { DataDirError, DataDirLockedError } from '../../server/datadir.js';
import { startServer } from '../../server/index.js';
import { runBackup, runRestore } from '../../server/backup.js';
import { startPostgres } from '../support/postgres.js';
import { connectAdmin, initialisedCopy, kmipdCli, nameXml, removeDir, tempDir } from './helpers.js';
import type { Client } from './helpers.js';

const local = (dir: string, more: Partial<KmipdConfig> = {}): KmipdConfig => configWith({ dir, host: '127.0.0.1', port: 0, schedulerIntervalSeconds: 0, ...more });

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  expect.fail('expected a rejection');
}

/** Every key of the backup, read through a server on `dir`, equals what the source served. */
async function expectRestored(dir: string, file: string, materials: Map<string, string>): Promise<number> {
  const server = await startServer(local(dir), { log: silentLogger });
  const client = await connectAdmin(server, dir);
  let checked = 0;
  try {
    for await (const row of backupRows(file)) {
      const material = materials.get(row.id);
      if (material === undefined || row.body === null) continue;
      expect(await client.material(row.id), `key ${row.id}`).to.equal(material);
      checked += 1;
    }
  } finally {
    await client.close();
    await server.close();
  }
  return checked;
}

describe('kmipd backup and restore', function () {
  this.timeout(90_000);
  const dirs: string[] = [];
  /** A plain temporary folder. */
  const dir = async (prefix: string): Promise<string> => {
    const made = await tempDir(prefix);
    dirs.push(made);
    return made;
  };
  /** An initialised data folder (a copy of one made once). */
  const dataDir = async (prefix: string): Promise<string> => {
    const made = await initialisedCopy(prefix);
    dirs.push(dirname(made));
    return made;
  };
  after(async () => {
    for (const made of dirs) await removeDir(made);
  });

  it('SQLite: a backup taken while a client writes restores into a new folder, every key reading back the same bytes', async () => {
    const source = await dataDir('backup-src');
    const work = await dir('backup-work');
    const server = await startServer(local(source), { log: silentLogger });
    const client = await connectAdmin(server, source);
    const materials = new Map<string, string>();
    let writing = true;
    let writer: Promise<void> | undefined;
    const file = join(work, 'kmipd.backup');
    try {
      for (let i = 0; i < 15; i++) {
        const id = await client.createKey(`backup-${i}`);
        materials.set(id, await client.material(id));
      }
      const destroyed = await client.createKey('backup-destroyed');
      await client.destroy(destroyed);
      writer = (async () => {
        for (let i = 0; writing; i++) {
          const id = await client.createKey(`written-during-${i}`);
          materials.set(id, await client.material(id));
        }
      })();
      const cli = kmipdCli(['backup', file, '--dir', source]);
      expect(await cli.exited, cli.output()).to.equal(0);
      expect(cli.output()).to.match(/wrote .*: \d+ objects, 1 KEK records/).and.contain('NOT in the backup');
    } finally {
      writing = false;
      await writer;
      await client.close();
      await server.close();
    }

    const verified = await verifyBackup(file);
    expect(verified.header).to.include({ format: 'kmipd-backup', version: 1, source: 'sqlite' });
    expect(verified.objects).to.be.at.least(16);
    expect(verified.kekIdsInUse.size).to.equal(1);
    expect((await stat(file)).mode & 0o777).to.equal(0o600);
    // Wrapped: no key's bytes appear in the file, in hex or base64.
    const text = await readFile(file, 'utf8');
    for (const material of materials.values()) {
      expect(text).to.not.contain(material);
      expect(text).to.not.contain(Buffer.from(material, 'hex').toString('base64').slice(0, 32));
    }

    const target = join(work, 'restored');
    const said = await runRestore(local(target), file, { kekFiles: [join(source, 'kek.key')], force: false });
    expect(said).to.contain(`restored ${verified.objects} objects`);
    const checked = await expectRestored(target, file, materials);
    expect(checked).to.equal(verified.objects - 1); // all but the destroyed one

    // Names still find keys in the restored store.
    const server2 = await startServer(local(target), { log: silentLogger });
    const client2 = await connectAdmin(server2, target);
    try {
      expect(await client2.locate(nameXml('backup-7'))).to.have.length(1);
      // A server on the folder holds its lock: a restore into it is refused outright.
      const locked = await rejection(runRestore(local(target), file, { kekFiles: [], force: true }));
      expect(locked).to.be.instanceOf(DataDirLockedError);
    } finally {
      await client2.close();
      await server2.close();
    }

    // Over objects: refused without --force, replaced with it.
    const refused = await rejection(runRestore(local(target), file, { kekFiles: [], force: false }));
    expect(refused).to.be.instanceOf(DataDirError);
    expect(refused.message).to.match(/already holds objects: refusing to overwrite them \(give --force/);
    expect(await runRestore(local(target), file, { kekFiles: [], force: true })).to.contain(`restored ${verified.objects} objects`);
  });

  it('refuses a damaged or truncated backup, and a restore without the KEK, writing nothing', async () => {
    const source = await dataDir('backup-refusals');
    const server = await startServer(local(source), { log: silentLogger });
    const client = await connectAdmin(server, source);
    try {
      for (let i = 0; i < 3; i++) await client.createKey(`refusal-${i}`);
    } finally {
      await client.close();
      await server.close();
    }
    const file = join(source, '..', `${source.split('/').pop() ?? 'x'}.backup`);
    dirs.push(file);
    await runBackup(local(source), file);
    // Never overwritten.
    expect(await rejection(runBackup(local(source), file))).to.be.instanceOf(BackupError);

    const lines = (await readFile(file, 'utf8')).split('\n');
    const tampered = `${file}.tampered`;
    const row = lines.findIndex((line) => line.startsWith('{"row"'));
    const changed = [...lines];
    changed[row] = (changed[row] ?? '').replace('"revision":1', '"revision":7');
    await writeFile(tampered, changed.join('\n'));
    const truncated = `${file}.truncated`;
    await writeFile(truncated, `${lines.slice(0, -2).join('\n')}\n`);
    dirs.push(tampered, truncated);

    const target = join(source, 'never');
    const mismatch = await rejection(runRestore(local(target), tampered, { kekFiles: [join(source, 'kek.key')], force: false }));
    expect(mismatch).to.be.instanceOf(BackupError);
    expect(mismatch.message).to.match(/checksum mismatch/);
    const cut = await rejection(runRestore(local(target), truncated, { kekFiles: [join(source, 'kek.key')], force: false }));
    expect(cut.message).to.match(/no end line: the backup is truncated/);
    const noKek = await rejection(runRestore(local(target), file, { kekFiles: [], force: false }));
    expect(noKek).to.be.instanceOf(DataDirError);
    expect(noKek.message).to.match(/wrapped under KEKs this data folder does not have: [0-9a-f]{16}.*--kek-file/);
    expect(existsSync(target), 'no half-made folder left').to.equal(false);
  });

  it('PostgreSQL to SQLite: a backup of a PostgreSQL store restores into a new SQLite folder and every key reads back', async () => {
    const cluster = await startPostgres();
    try {
      const source = await dataDir('backup-pg');
      const config = local(source, { store: 'postgres', postgresUrl: cluster.connectionString });
      const server = await startServer(config, { log: silentLogger });
      const client: Client = await connectAdmin(server, source);
      const materials = new Map<string, string>();
      try {
        for (let i = 0; i < 12; i++) {
          const id = await client.createKey(`pg-backup-${i}`);
          materials.set(id, await client.material(id));
        }
      } finally {
        await client.close();
        await server.close();
      }
      const file = join(source, 'pg.backup');
      await runBackup(config, file);
      expect((await verifyBackup(file)).header.source).to.equal('postgres');
      // Into an initialised folder whose database is empty (the new-folder case is the SQLite test's).
      const target = await dataDir('backup-pg-target');
      await runRestore(local(target), file, { kekFiles: [join(source, 'kek.key')], force: false });
      expect(await expectRestored(target, file, materials)).to.equal(12);
    } finally {
      await cluster.stop();
    }
  });
});
