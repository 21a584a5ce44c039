/**
 * `kmipd backup FILE` and `kmipd restore FILE` (issue 7): an online, consistent copy with key
 * material still wrapped, restored into a new data folder and read back key by key through a
 * real server; from SQLite and from PostgreSQL; grants and the audit trail restored exactly
 * (a grantee still gets its key, `kmipd audit verify` passes, the restore itself recorded);
 * format 1 backups still restore; keys held inside an HSM need no KEK; refusals that protect
 * what is there.
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { KmipConnection } from '../../lib/client/index.js';
import { openSqliteAuditReader } from '../../lib/audit/index.js';
import type { StoredRecord } from '../../lib/audit/index.js';
import { Enum, Tag } from '../../ttlv/index.js';
import { loadKekFile } from '../../lib/crypto/index.js';
import { residentBody, residentUri } from '../../lib/crypto/pkcs11/resident.js';
import { silentLogger } from '../../lib/log.js';
import { BackupError, backupRows, verifyBackup } from '../../lib/store/backup.js';
import { openSqliteStore } from '../../lib/store/index.js';
import { issueClient } from '../../server/datadir.js';
import { indexKeys } from '../../server/store.js';
import { projectRoot } from '../support/paths.js';
import { configWith } from '../../server/config.js';
import type { KmipdConfig } from '../../server/config.js';
import { DataDirError, DataDirLockedError } from '../../server/datadir.js';
import { startServer } from '../../server/index.js';
import { runBackup, runRestore } from '../../server/backup.js';
import { startPostgres } from '../support/postgres.js';
import { Client, connectAdmin, find, initialisedCopy, kmipdCli, nameXml, removeDir, runCli, tempDir } from './helpers.js';
import { rejection } from '../support/rejection.js';

const local = (dir: string, more: Partial<KmipdConfig> = {}): KmipdConfig => configWith({ dir, host: '127.0.0.1', port: 0, schedulerIntervalSeconds: 0, ...more });

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

/** `kmip grant ID WHO PERMISSIONS` as the admin of `dir`, through the kmip command. */
function grant(port: number, dir: string, id: string, who: string, permissions: string): Promise<void> {
  const certs = join(dir, 'certs');
  const args = ['--import', 'tsx', join(projectRoot, 'server', 'kmip-cli.ts'), '--port', String(port), '--ca', join(certs, 'ca.pem'), '--cert', join(certs, 'admin.pem'), '--key', join(certs, 'admin-key.pem'), 'grant', id, who, permissions];
  return new Promise((resolve, reject) => {
    execFile(process.execPath, args, { cwd: projectRoot, timeout: 30_000 }, (error, _stdout, stderr) => (error === null ? resolve() : reject(new Error(`kmip grant: ${stderr}`))));
  });
}

/** A client of `dir`'s PKI as `name` (issued there when missing). */
async function connectAs(endpoint: { host: string; port: number }, dir: string, name: string): Promise<Client> {
  await issueClient(dir, name).catch(() => undefined);
  const certs = join(dir, 'certs');
  const read = (file: string): Promise<string> => readFile(join(certs, file), 'utf8');
  return new Client(await KmipConnection.connect(endpoint.host, endpoint.port, { cert: await read(`${name}.pem`), key: await read(`${name}-key.pem`), ca: await read('ca.pem') }));
}

/** The folder's audit records, in order. */
async function auditOf(dir: string): Promise<StoredRecord[]> {
  const reader = openSqliteAuditReader(join(dir, 'kmipd.db'));
  try {
    return await reader.records(0, 1_000_000);
  } finally {
    await reader.close();
  }
}

/** The backup's audit lines, as written. */
async function auditLines(file: string): Promise<StoredRecord[]> {
  return (await readFile(file, 'utf8'))
    .split('\n')
    .filter((line) => line.startsWith('{"audit"'))
    .map((line) => (JSON.parse(line) as { audit: StoredRecord }).audit);
}

/**
 * After a restore of `file` into `dir`: `kmipd audit verify` passes, the backup's records are
 * there unchanged, and one more says who restored which backup.
 */
async function expectAuditRestored(dir: string, file: string): Promise<void> {
  const verified = await runCli(['audit', 'verify', '--dir', dir]);
  expect(verified.code, verified.output).to.equal(0);
  expect(verified.output).to.match(/audit chain intact/);
  const restored = await auditOf(dir);
  const backedUp = await auditLines(file);
  expect(backedUp.length).to.be.greaterThan(0);
  expect(restored.slice(0, backedUp.length)).to.deep.equal(backedUp);
  expect(restored).to.have.length(backedUp.length + 1);
  const last = restored[restored.length - 1];
  const { sha256 } = await verifyBackup(file);
  expect(last).to.include({ operation: 'Restore', identity: `local:${userInfo().username}`, status: 'Success', prevHash: backedUp[backedUp.length - 1]?.hash });
  expect(last?.message).to.contain(`sha256 ${sha256}`);
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
    expect(verified.header).to.include({ format: 'kmipd-backup', version: 2, source: 'sqlite' });
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

  it('SQLite: grants and the audit trail come back exactly: a grantee still gets its key through a server, audit verify passes, the restore is recorded', async () => {
    const source = await dataDir('backup-grants');
    const server = await startServer(local(source), { log: silentLogger });
    const client = await connectAdmin(server, source);
    let shared: string;
    let kept: string;
    let material: string;
    try {
      shared = await client.createKey('shared-with-bob');
      kept = await client.createKey('not-shared');
      await client.activate(shared);
      material = await client.material(shared);
      await grant(server.port, source, shared, 'bob', 'get');
      const bob = await connectAs(server, source, 'bob');
      try {
        expect(await bob.material(shared), 'the grant works before the backup').to.equal(material);
      } finally {
        await bob.close();
      }
    } finally {
      await client.close();
      await server.close();
    }
    const file = join(await dir('backup-grants-work'), 'with-grants.backup');
    const said = await runBackup(local(source), file);
    expect(said).to.match(/1 grants, \d+ audit records \(head \d+:[0-9a-f]{64}\)/);
    const verified = await verifyBackup(file);
    expect(verified).to.include({ grants: 1, hasAudit: true });
    expect(verified.auditRecords).to.be.greaterThan(3);

    const target = join(dirname(file), 'restored');
    const restored = await runRestore(local(target), file, { kekFiles: [join(source, 'kek.key')], force: false });
    expect(restored).to.contain('1 grants').and.match(/recorded in the audit trail: chain intact/);
    await expectAuditRestored(target, file);

    // The restored folder has a PKI of its own; identities are names, so bob's certificate from it is bob.
    const server2 = await startServer(local(target), { log: silentLogger });
    try {
      const bob = await connectAs(server2, target, 'bob');
      const carol = await connectAs(server2, target, 'carol');
      try {
        expect(await bob.material(shared)).to.equal(material);
        const denied = await bob.send(`<Operation type="Enumeration" value="Get"/><RequestPayload><UniqueIdentifier type="TextString" value="${kept}"/></RequestPayload>`);
        expect(find(denied, Tag.ResultReason)?.value, 'bob has no grant on the other key').to.equal(Enum.ResultReason.PermissionDenied);
        const other = await carol.send(`<Operation type="Enumeration" value="Get"/><RequestPayload><UniqueIdentifier type="TextString" value="${shared}"/></RequestPayload>`);
        expect(find(other, Tag.ResultReason)?.value, 'carol has no grant').to.equal(Enum.ResultReason.PermissionDenied);
      } finally {
        await bob.close();
        await carol.close();
      }
    } finally {
      await server2.close();
    }
    // The server's own records follow the restore record, and the chain still verifies.
    const after = await runCli(['audit', 'verify', '--dir', target]);
    expect(after.code, after.output).to.equal(0);
  });

  it('a format 1 backup (no grants, no audit trail) still restores; the store keeps its own trail and records the restore', async () => {
    const source = await dataDir('backup-v1');
    const server = await startServer(local(source), { log: silentLogger });
    const client = await connectAdmin(server, source);
    const materials = new Map<string, string>();
    try {
      for (let i = 0; i < 3; i++) {
        const id = await client.createKey(`v1-${i}`);
        materials.set(id, await client.material(id));
      }
    } finally {
      await client.close();
      await server.close();
    }
    const file = join(await dir('backup-v1-work'), 'v2.backup');
    await runBackup(local(source), file);
    // The same backup as kmipd wrote it before format 2: no grant, audit or head lines, older end line.
    const lines = (await readFile(file, 'utf8')).split('\n').filter((line) => line !== '');
    const header = JSON.parse(lines[0] ?? '{}') as Record<string, unknown>;
    const body = [JSON.stringify({ ...header, version: 1 }), ...lines.slice(1, -1).filter((line) => line.startsWith('{"kek"') || line.startsWith('{"row"'))];
    const text = body.map((line) => `${line}\n`).join('');
    const v1 = join(dirname(file), 'v1.backup');
    await writeFile(v1, `${text}${JSON.stringify({ end: { keks: 1, objects: 3, sha256: createHash('sha256').update(text).digest('hex') } })}\n`);
    const verified = await verifyBackup(v1);
    expect(verified).to.include({ objects: 3, grants: 0, hasAudit: false, auditRecords: 0 });
    // A format 2 line in a format 1 file is refused.
    const mixed = join(dirname(file), 'mixed.backup');
    await writeFile(mixed, lines.map((line, i) => (i === 0 ? JSON.stringify({ ...header, version: 1 }) : line)).join('\n'));
    expect((await rejection(verifyBackup(mixed))).message).to.match(/not a line a version 1 backup holds/);

    const target = await dataDir('backup-v1-target');
    const own = (await auditOf(target)).length;
    const said = await runRestore(local(target), v1, { kekFiles: [join(source, 'kek.key')], force: false });
    expect(said).to.contain('format 1').and.contain("the store's own audit trail was kept");
    expect(await expectRestored(target, v1, materials)).to.equal(3);
    const records = await auditOf(target);
    expect(records[own]).to.include({ operation: 'Restore', seq: own + 1 });
    const verify = await runCli(['audit', 'verify', '--dir', target]);
    expect(verify.code, verify.output).to.equal(0);
  });

  it('keys held inside an HSM (KEK id hsm-resident) need no KEK: kek status counts them apart, kek rotate leaves them, restore does not ask for them', async () => {
    const source = await dataDir('backup-resident');
    const kek = await loadKekFile(join(source, 'kek.key'));
    const store = await openSqliteStore({ path: join(source, 'kmipd.db'), kek, indexKeys });
    const id = store.newId();
    try {
      const body = residentBody(Enum.CryptographicAlgorithm.AES, 256, residentUri('kmipd', id));
      await store.commit({ create: [{ id, objectType: Enum.ObjectType.SymmetricKey, owner: 'admin', attributes: [], body, revision: 1 }] });
    } finally {
      await store.close();
      kek.wipe();
    }
    const server = await startServer(local(source), { log: silentLogger });
    const client = await connectAdmin(server, source);
    try {
      await client.createKey('software-key');
    } finally {
      await client.close();
      await server.close();
    }
    const status = await runCli(['kek', 'status', '--dir', source]);
    expect(status.code, status.output).to.equal(0);
    expect(status.output).to.match(/keys held inside the HSM .*: 1/).and.not.match(/unlisted/);
    const rotate = await runCli(['kek', 'rotate', '--dir', source]);
    expect(rotate.code, rotate.output).to.equal(0);
    const after = await runCli(['kek', 'status', '--dir', source]);
    expect(after.output).to.match(/keys held inside the HSM .*: 1/).and.not.match(/rotation in progress/);

    const file = join(await dir('backup-resident-work'), 'resident.backup');
    expect(await runBackup(local(source), file)).to.match(/1 of the objects are keys held inside the HSM/);
    const verified = await verifyBackup(file);
    expect(verified.residentObjects).to.equal(1);
    expect([...verified.kekIdsInUse]).to.not.include('hsm-resident');
    const target = join(dirname(file), 'restored');
    const said = await runRestore(local(target), file, { kekFiles: [join(source, 'kek.key')], force: false });
    expect(said).to.match(/1 keys are held inside an HSM .* no HSM is configured here/);
    await expectAuditRestored(target, file);
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
      let shared = '';
      try {
        for (let i = 0; i < 12; i++) {
          const id = await client.createKey(`pg-backup-${i}`);
          materials.set(id, await client.material(id));
        }
        shared = [...materials.keys()][3] ?? '';
        await client.activate(shared);
        await grant(server.port, source, shared, 'bob', 'get');
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
      expect((await verifyBackup(file)).grants).to.equal(1);
      await expectAuditRestored(target, file);
      expect(await expectRestored(target, file, materials)).to.equal(12);
      const restoredServer = await startServer(local(target), { log: silentLogger });
      try {
        const bob = await connectAs(restoredServer, target, 'bob');
        try {
          expect(await bob.material(shared), 'the grant made on PostgreSQL works on SQLite').to.equal(materials.get(shared));
        } finally {
          await bob.close();
        }
      } finally {
        await restoredServer.close();
      }
    } finally {
      await cluster.stop();
    }
  });
});
