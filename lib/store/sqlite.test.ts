import Database from 'better-sqlite3';
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readlinkSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Enum, Tag, encodeTtlv, itemsEqual, leaf, structure } from '../../ttlv/index.js';
import type { TtlvItem } from '../../ttlv/index.js';
import { FileKek, KekError, KeyMaterial, loadKekFile } from '../crypto/index.js';
import type { KeyEncryptionKey } from '../crypto/index.js';
import type { ManagedObject } from '../objects/types.js';
import { SQLITE_SCHEMA_VERSION, StoreConflictError, openSqliteStore } from './index.js';
import type { CommitGrouping, SqliteStore } from './index.js';
import { SCAN_SEQS, SqliteLocator } from './sqlite-locate.js';
import { storeMaintenanceSuite, storeSuite, suiteIndexKeys } from './store-suite.js';
import type { OpenedMaintenanceStore } from './store-suite.js';
import type { IndexKeys } from './codec.js';
import type { LocateQuery } from './types.js';
import { openSqliteAuditReader, verifyChain } from '../audit/index.js';
import type { AuditEntry } from '../audit/record.js';
import { auditEntry } from '../audit/store-audit-suite.js';
import { rejection } from '../../test/support/rejection.js';

const DB_FILE = 'kmipd.db';

async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'kmipd-sqlite-'));
}

const newKek = (): FileKek => new FileKek(KeyMaterial.random(32));

async function openIn(dir: string, kek: KeyEncryptionKey, indexKeys: IndexKeys = suiteIndexKeys, commitGrouping?: CommitGrouping): Promise<SqliteStore> {
  return openSqliteStore({ path: join(dir, DB_FILE), kek, indexKeys, ...(commitGrouping === undefined ? {} : { commitGrouping }) });
}

storeSuite('SQLite', async () => {
  const dir = await tempDir();
  const store = await openIn(dir, newKek());
  return {
    store,
    async cleanup() {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

// Each handle's folder, so that a second connection can open the same file (another process).
const dirOf = new WeakMap<OpenedMaintenanceStore, string>();
storeMaintenanceSuite('SQLite', async (kek, shareWith, indexKeys) => {
  const shared = shareWith === undefined ? undefined : dirOf.get(shareWith);
  const dir = shared ?? (await tempDir());
  const store = await openIn(dir, kek, indexKeys);
  const handle: OpenedMaintenanceStore = {
    store,
    async cleanup() {
      await store.close();
      if (shared === undefined) await rm(dir, { recursive: true, force: true });
    },
  };
  dirOf.set(handle, dir);
  return handle;
});

function symmetricKey(id: string, material: Buffer, name: string): ManagedObject {
  return {
    id,
    objectType: Enum.ObjectType.SymmetricKey,
    owner: 'alice',
    revision: 1,
    attributes: [
      { name: 'Name', value: structure(Tag.Name, [leaf(Tag.NameValue, 'TextString', name), leaf(Tag.NameType, 'Enumeration', 1)]) },
      { name: 'State', value: leaf(Tag.State, 'Enumeration', Enum.State.Active) },
    ],
    body: structure(Tag.SymmetricKey, [
      structure(Tag.KeyBlock, [
        leaf(Tag.KeyFormatType, 'Enumeration', Enum.KeyFormatType.Raw),
        structure(Tag.KeyValue, [leaf(Tag.KeyMaterial, 'ByteString', material)]),
      ]),
    ]),
  };
}

function expectBody(object: ManagedObject | undefined, body: TtlvItem | undefined): void {
  expect(object?.body).to.not.equal(undefined);
  if (object?.body === undefined || body === undefined) return;
  expect(itemsEqual(object.body, body)).to.equal(true);
}

async function readIfPresent(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return Buffer.alloc(0);
    throw error;
  }
}

describe('SqliteStore (SQLite specifics)', () => {
  let dir: string;
  let store: SqliteStore | undefined;

  beforeEach(async () => {
    dir = await tempDir();
  });
  afterEach(async () => {
    await store?.close();
    store = undefined;
    await rm(dir, { recursive: true, force: true });
  });

  it('never writes key material in clear: neither the .db nor the -wal file holds the key bytes', async () => {
    const kek = newKek();
    store = await openIn(dir, kek);
    const canary = Buffer.from('KMIPD-CANARY-0123456789-ABCDEF!!'); // 32 recognisable bytes
    expect(canary.length).to.equal(32);
    const object = symmetricKey(store.newId(), canary, 'canary-name');
    await store.commit({ create: [object] });
    const files = (): Promise<Buffer[]> => Promise.all(['', '-wal', '-shm'].map((s) => readIfPresent(join(dir, DB_FILE + s))));

    const whileOpen = await files();
    await store.close();
    const afterClose = await files();
    for (const bytes of [...whileOpen, ...afterClose]) {
      expect(bytes.includes(canary)).to.equal(false);
      expect(bytes.includes(canary.subarray(0, 8))).to.equal(false);
      expect(bytes.includes(encodeTtlv(object.body as TtlvItem))).to.equal(false);
    }
    // The check reads the right bytes: attributes are stored in clear, and are found.
    expect(Buffer.concat(whileOpen).includes(Buffer.from('canary-name'))).to.equal(true);
    expect(Buffer.concat(afterClose).includes(Buffer.from('canary-name'))).to.equal(true);

    store = await openIn(dir, kek);
    const loaded = await store.load(object.id);
    expectBody(loaded, object.body);
  });

  it('runs in WAL mode with synchronous FULL (2), foreign keys on and a busy timeout', async () => {
    store = await openSqliteStore({ path: join(dir, DB_FILE), kek: newKek(), indexKeys: suiteIndexKeys, busyTimeoutMs: 1234 });
    expect(store.settings()).to.deep.equal({
      journalMode: 'wal',
      synchronous: 2,
      foreignKeys: true,
      busyTimeoutMs: 1234,
      schemaVersion: SQLITE_SCHEMA_VERSION,
      tempStore: 0,
    });
  });

  it('after object commits (alone, batched, kept waiting by another connection) the settings are those it opened with', async () => {
    store = await openSqliteStore({ path: join(dir, DB_FILE), kek: newKek(), indexKeys: suiteIndexKeys, busyTimeoutMs: 1234 });
    const s = store;
    const opened = s.settings();
    const key = (name: string): ManagedObject => symmetricKey(s.newId(), randomBytes(32), name);
    await s.commit({ create: [key('alone')] });
    expect(s.settings(), 'after a commit on its own').to.deep.equal(opened);
    await Promise.all(Array.from({ length: 20 }, (_, i) => s.commit({ create: [key(`batched-${i}`)] })));
    expect(s.settings(), 'after a batch').to.deep.equal(opened);
    const probe = new Database(join(dir, DB_FILE));
    try {
      probe.exec('BEGIN IMMEDIATE');
      const waiting = s.commit({ create: [key('waiting')] });
      await new Promise((resolve) => setTimeout(resolve, 30));
      expect(s.settings(), 'while waiting for the write lock').to.deep.equal(opened);
      probe.exec('COMMIT');
      await waiting;
    } finally {
      probe.close();
    }
    expect(s.settings(), 'after the wait').to.deep.equal(opened);
    expect(await s.stats()).to.deep.equal({ objects: 22 });
  });

  it('an object with more index rows than one INSERT writes (70 Names) has every row, and Locate finds it by each', async () => {
    store = await openIn(dir, newKek());
    const object = symmetricKey(store.newId(), randomBytes(32), 'name-0');
    const names = Array.from({ length: 70 }, (_, i) => `name-${i}`);
    const many: ManagedObject = {
      ...object,
      attributes: [
        ...names.map((name) => ({ name: 'Name', value: structure(Tag.Name, [leaf(Tag.NameValue, 'TextString', name), leaf(Tag.NameType, 'Enumeration', 1)]) })),
        ...object.attributes.filter((a) => a.name !== 'Name'),
      ],
    };
    await store.commit({ create: [many] });
    const probe = new Database(join(dir, DB_FILE), { readonly: true });
    try {
      const stored = probe.prepare<[string], string>("SELECT key FROM attribute_index WHERE object_id = ? AND name = 'Name' ORDER BY key").pluck().all(many.id);
      expect(stored).to.deep.equal([...names].sort());
    } finally {
      probe.close();
    }
    for (const name of names) expect(await store.locate({ equals: [{ name: 'Name', key: name }] })).to.deep.equal([many.id]);
  });

  it('creates the database, -wal and -shm files with mode 0600 whatever the umask', async () => {
    const old = process.umask(0);
    try {
      store = await openIn(dir, newKek());
      await store.commit({ create: [symmetricKey(store.newId(), Buffer.alloc(32, 1), 'mode')] });
    } finally {
      process.umask(old);
    }
    for (const suffix of ['', '-wal', '-shm']) {
      const info = await stat(join(dir, DB_FILE + suffix));
      expect(info.mode & 0o777, DB_FILE + suffix).to.equal(0o600);
    }
  });

  it('narrows an existing database file that others could read to mode 0600', async () => {
    const path = join(dir, DB_FILE);
    await writeFile(path, Buffer.alloc(0));
    await chmod(path, 0o644);
    store = await openIn(dir, newKek());
    expect((await stat(path)).mode & 0o777).to.equal(0o600);
  });

  it('Locate uses the attribute index (EXPLAIN QUERY PLAN) among 1,000 objects', async () => {
    store = await openIn(dir, newKek());
    const s = store;
    const objects = Array.from({ length: 1000 }, (_, i) => ({ ...symmetricKey(s.newId(), Buffer.alloc(32, i & 0xff), `key-${i}`), owner: 'alice' }));
    await s.commit({ create: objects });
    const db = new Database(join(dir, DB_FILE), { readonly: true });
    const locator = new SqliteLocator(db);
    const plan = (query: LocateQuery): string => {
      const chosen = locator.plan(query);
      const params = chosen.kind === 'scan' ? [0, SCAN_SEQS, ...chosen.params, 10] : chosen.params;
      return (db.prepare(`EXPLAIN QUERY PLAN ${chosen.sql}`).all(...params) as { detail: string }[]).map((r) => r.detail).join('\n');
    };
    try {
      const byName = plan({ equals: [{ name: 'Name', key: 'key-537' }] });
      expect(byName, byName).to.match(/SEARCH attribute_index USING PRIMARY KEY \(name=\? AND key=\?\)/);
      expect(byName).to.not.match(/SCAN objects/);
      // With statistics the planner starts from the name, not from the (unselective) owner.
      const byOwnerAndName = plan({ owner: 'alice', equals: [{ name: 'Name', key: 'key-537' }] });
      expect(byOwnerAndName, byOwnerAndName).to.match(/SEARCH attribute_index USING PRIMARY KEY \(name=\? AND key=\?\)/);
      expect(byOwnerAndName).to.not.match(/objects_owner|SCAN objects/);
      expect(plan({ has: ['Name'] })).to.match(/SEARCH attribute_index USING PRIMARY KEY \(name=\?\)/);
      // Without a selective condition, a stretch of the creation order in the owner's or the type's index.
      expect(plan({ owner: 'alice' })).to.match(/USING INDEX objects_owner \(owner=\? AND seq>\? AND seq<\?\)/);
      expect(plan({ objectType: 2 })).to.match(/USING INDEX objects_object_type \(object_type=\? AND seq>\? AND seq<\?\)/);
      // A non-administrator's Locate: a stretch of objects, each probed in the grants index and the attribute index by group name.
      const visible = plan({ visibleTo: { identity: 'bob', groups: ['dba'] } });
      expect(visible).to.match(/\(seq>\? AND seq<\?\)/);
      expect(visible).to.match(/grants_grantee|sqlite_autoindex_grants/);
      expect(visible).to.not.match(/SCAN objects\b(?! USING)/);
      expect(visible).to.not.match(/SCAN grants\b(?! USING)/);
      const visibleByName = plan({ visibleTo: { identity: 'bob', groups: [] }, equals: [{ name: 'Name', key: 'key-537' }] });
      expect(visibleByName, visibleByName).to.match(/SEARCH attribute_index USING PRIMARY KEY \(name=\? AND key=\?\)/);
    } finally {
      db.close();
    }
    expect(await s.locate({ owner: 'alice', equals: [{ name: 'Name', key: 'key-537' }] })).to.deep.equal([objects[537]?.id]);
  });

  it('schema 7 counts an older store\'s objects by type and State; writes keep the counts equal to a recount', async () => {
    const kek = newKek();
    store = await openIn(dir, kek);
    const s = store;
    const keys = Array.from({ length: 30 }, (_, i) => symmetricKey(s.newId(), Buffer.alloc(32, i), `counted-${i}`));
    await s.commit({ create: keys });
    await s.close();
    store = undefined;
    const db = new Database(join(dir, DB_FILE));
    db.exec('DROP TABLE object_counts');
    db.pragma('user_version = 6');
    db.close();

    store = await openIn(dir, kek);
    const recount = (): { objectType: number; state: number | undefined; count: number }[] => {
      const check = new Database(join(dir, DB_FILE), { readonly: true });
      try {
        return check
          .prepare<[], { object_type: number; state: string | null; n: number }>(
            "SELECT o.object_type, s.key AS state, count(*) AS n FROM objects o LEFT JOIN attribute_index s ON s.object_id = o.id AND s.name = 'State' GROUP BY 1, 2 ORDER BY 1, 2",
          )
          .all()
          .map((row) => ({ objectType: row.object_type, state: row.state === null ? undefined : Number(row.state), count: row.n }));
      } finally {
        check.close();
      }
    };
    const sorted = async (): Promise<unknown[]> => [...(await store!.countByState())].sort((a, b) => a.objectType - b.objectType || (a.state ?? -1) - (b.state ?? -1));
    expect(await sorted()).to.deep.equal([{ objectType: Enum.ObjectType.SymmetricKey, state: Enum.State.Active, count: 30 }]);

    // Deactivate five, strip the State of two, add an object without one: the kept counts follow.
    const withState = (object: ManagedObject, state: number | undefined): ManagedObject => ({
      ...object,
      revision: 2,
      attributes: [...object.attributes.filter((a) => a.name !== 'State'), ...(state === undefined ? [] : [{ name: 'State', value: leaf(Tag.State, 'Enumeration', state) }])],
    });
    await store.commit({ update: keys.slice(0, 5).map((k) => withState(k, Enum.State.Deactivated)) });
    await store.commit({ update: keys.slice(5, 7).map((k) => withState(k, undefined)) });
    await store.commit({ create: [{ ...symmetricKey(store.newId(), Buffer.alloc(32, 0xee), 'stateless'), attributes: [] }] });
    expect(await sorted()).to.deep.equal([
      { objectType: Enum.ObjectType.SymmetricKey, state: undefined, count: 3 },
      { objectType: Enum.ObjectType.SymmetricKey, state: Enum.State.Active, count: 23 },
      { objectType: Enum.ObjectType.SymmetricKey, state: Enum.State.Deactivated, count: 5 },
    ]);
    expect(await sorted()).to.deep.equal(recount());
    // A commit that fails changes no count.
    try {
      await store.commit({ update: [withState(keys[10]!, Enum.State.Compromised), { ...withState(keys[11]!, Enum.State.Compromised), revision: 9 }] });
      expect.fail('expected a conflict');
    } catch (error) {
      expect(error).to.be.instanceOf(StoreConflictError);
    }
    expect(await sorted()).to.deep.equal(recount());
  });

  it('finds its objects again after close and reopen', async () => {
    const kek = newKek();
    store = await openIn(dir, kek);
    const a = symmetricKey(store.newId(), Buffer.alloc(32, 0xa1), 'a');
    const b = symmetricKey(store.newId(), Buffer.alloc(32, 0xb2), 'b');
    await store.commit({ create: [a, b] });
    await store.commit({ update: [{ ...b, revision: 2, body: undefined }] });
    await store.close();

    store = await openIn(dir, kek);
    expectBody(await store.load(a.id), a.body);
    expect((await store.load(b.id))?.revision).to.equal(2);
    expect((await store.load(b.id))?.body).to.equal(undefined);
    expect(await store.locate({ equals: [{ name: 'Name', key: 'b' }] })).to.deep.equal([b.id]);
    expect(await store.stats()).to.deep.equal({ objects: 2 });
  });


  it('schema 6 rebuilds an older store\'s attribute index: clustered, only the rows indexKeys gives, Locate unchanged', async () => {
    const kek = newKek();
    store = await openIn(dir, kek);
    const s = store;
    const keys = Array.from({ length: 50 }, (_, i) => symmetricKey(s.newId(), Buffer.alloc(32, i), `old-${i}`));
    const digest: ManagedObject = {
      ...symmetricKey(s.newId(), Buffer.alloc(32, 0xdd), 'with-digest'),
      attributes: [...(keys[0]?.attributes ?? []), { name: 'Digest', value: structure(Tag.Digest, [leaf(Tag.HashingAlgorithm, 'Enumeration', 4)]) }],
    };
    await s.commit({ create: [...keys, digest] });
    await s.close();
    store = undefined;

    // Put the file back as schema 5 wrote it: a rowid table with a NULL-key row per attribute
    // name, the keyed rows, and one row the current index keys no longer give.
    const db = new Database(join(dir, DB_FILE));
    const wanted = db.prepare("SELECT object_id, name, NULLIF(key, '') AS key FROM attribute_index ORDER BY object_id, name, key").all();
    db.exec(`
      DROP TABLE object_counts;
      DROP TABLE attribute_index;
      CREATE TABLE attribute_index (object_id TEXT NOT NULL REFERENCES objects (id) ON DELETE CASCADE, name TEXT NOT NULL, key TEXT) STRICT;
      CREATE UNIQUE INDEX attribute_index_name_key ON attribute_index (name, key, object_id);
      CREATE INDEX attribute_index_object ON attribute_index (object_id);
    `);
    const insert = db.prepare('INSERT INTO attribute_index (object_id, name, key) VALUES (?, ?, ?)');
    for (const object of [...keys, digest]) {
      for (const { name } of object.attributes) insert.run(object.id, name, null);
      insert.run(object.id, 'Name', object === digest ? 'with-digest' : `old-${keys.indexOf(object)}`);
      insert.run(object.id, 'State', String(Enum.State.Active));
      insert.run(object.id, 'Initial Date', '1700000000');
    }
    db.pragma('user_version = 5');
    db.close();

    store = await openIn(dir, kek);
    expect(store.settings().schemaVersion).to.equal(SQLITE_SCHEMA_VERSION);
    const check = new Database(join(dir, DB_FILE), { readonly: true });
    try {
      const table = check.prepare<[], string>("SELECT sql FROM sqlite_schema WHERE name = 'attribute_index'").pluck().get() ?? '';
      expect(table).to.match(/WITHOUT ROWID/);
      expect(check.prepare("SELECT object_id, name, NULLIF(key, '') AS key FROM attribute_index ORDER BY object_id, name, key").all()).to.deep.equal(wanted);
      expect(check.pragma('integrity_check', { simple: true })).to.equal('ok');
    } finally {
      check.close();
    }
    expect(await store.locate({ equals: [{ name: 'Name', key: 'old-17' }] })).to.deep.equal([keys[17]?.id]);
    expect(await store.locate({ has: ['Digest'] })).to.deep.equal([digest.id]);
    expect(await store.locate({ has: ['Name'] })).to.have.length(51);
    expect(await store.locate({ has: ['Initial Date'] })).to.deep.equal([]);
    // Updates and deletes keep working on the rebuilt table.
    await store.commit({ update: [{ ...keys[3]!, revision: 2, attributes: [{ name: 'Name', value: structure(Tag.Name, [leaf(Tag.NameValue, 'TextString', 'renamed'), leaf(Tag.NameType, 'Enumeration', 1)]) }] }] });
    expect(await store.locate({ equals: [{ name: 'Name', key: 'old-3' }] })).to.deep.equal([]);
    expect(await store.locate({ equals: [{ name: 'Name', key: 'renamed' }] })).to.deep.equal([keys[3]?.id]);
  });
  it('a commit that resolved survives the process being killed (SIGKILL, no close)', async function () {
    this.timeout(30_000);
    const kekFile = join(dir, 'kek');
    const root = fileURLToPath(new URL('../../', import.meta.url));
    // The child commits, reports the id, and is killed before it can close anything.
    const child = `
      const { openSqliteStore } = await import(${JSON.stringify(new URL('./index.js', import.meta.url).href)});
      const { createKekFile } = await import(${JSON.stringify(new URL('../crypto/index.js', import.meta.url).href)});
      const { suiteIndexKeys } = await import(${JSON.stringify(new URL('./store-suite.js', import.meta.url).href)});
      const kek = await createKekFile(${JSON.stringify(kekFile)});
      const store = await openSqliteStore({ path: ${JSON.stringify(join(dir, DB_FILE))}, kek, indexKeys: suiteIndexKeys });
      const id = store.newId();
      await store.commit({ create: [{ id, objectType: 2, owner: 'crash', revision: 1, attributes: [], body: { tag: 0x420043, type: 'ByteString', value: Buffer.alloc(32, 7) } }] });
      process.stdout.write(id + '\\n', () => process.kill(process.pid, 'SIGKILL'));
    `;
    const { stdout, signal } = await new Promise<{ stdout: string; signal: NodeJS.Signals | null }>((resolve, reject) => {
      const proc = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', child], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      proc.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
      proc.on('error', reject);
      proc.on('close', (_code, sig) => resolve({ stdout: out, signal: sig }));
    });
    expect(signal).to.equal('SIGKILL');
    const id = stdout.trim();
    expect(id).to.match(/^[0-9a-f-]{36}$/);
    expect((await readIfPresent(join(dir, `${DB_FILE}-wal`))).length).to.be.greaterThan(0);

    store = await openIn(dir, await loadKekFile(kekFile));
    const loaded = await store.load(id);
    expect(loaded?.owner).to.equal('crash');
    expectBody(loaded, leaf(Tag.KeyMaterial, 'ByteString', Buffer.alloc(32, 7)));
  });

  it('two connections on one file (as cluster workers have) see each other\'s commits and conflicts', async () => {
    const kek = newKek();
    const [a, b] = await Promise.all([openIn(dir, kek), openIn(dir, kek)]);
    try {
      const object = symmetricKey(a.newId(), Buffer.alloc(32, 8), 'shared');
      await a.commit({ create: [object] });
      expectBody(await b.load(object.id), object.body);
      await b.commit({ update: [{ ...object, revision: 2 }] });
      const error = await rejection(a.commit({ update: [{ ...object, revision: 2 }] }));
      expect(error).to.be.instanceOf(StoreConflictError);
      expect(error.message).to.include('is at revision 2, the update expected revision 1');
      expect(await a.locate({ equals: [{ name: 'Name', key: 'shared' }] })).to.deep.equal([object.id]);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('two connections batching at once: a batch holding the write lock across its sync makes the other wait on a timer, and every commit of both is kept', async () => {
    const kek = newKek();
    const [a, b] = await Promise.all([openIn(dir, kek), openIn(dir, kek)]);
    const made: ManagedObject[] = [];
    try {
      // The event loop must keep turning while the other connection holds the lock: count its turns.
      let turns = 0;
      const ticker = setInterval(() => (turns += 1), 1);
      try {
        await Promise.all(
          Array.from({ length: 8 }, async (_, round) => {
            for (const store of [a, b]) {
              const group = Array.from({ length: 20 }, (_, i) => symmetricKey(store.newId(), Buffer.alloc(32, i), `both-${round}-${i}-${made.length}`));
              made.push(...group);
              await Promise.all(group.map((object) => store.commit({ create: [object] })));
            }
          }),
        );
      } finally {
        clearInterval(ticker);
      }
      expect(turns).to.be.above(0);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
    store = await openIn(dir, kek);
    expect(await store.stats()).to.deep.equal({ objects: made.length });
    for (const object of made) expectBody(await store.load(object.id), object.body);
  });

  for (const grouping of ['open', 'deferred'] as const) {
    it(`two connections, ${grouping} grouping: every commit of both is kept; ${grouping === 'open' ? 'a batch holds the write lock across its sync' : 'the write lock is never held across a sync'}`, async () => {
      const kek = newKek();
      const [a, b] = await Promise.all([openIn(dir, kek, suiteIndexKeys, grouping), openIn(dir, kek, suiteIndexKeys, grouping)]);
      const probe = new Database(join(dir, DB_FILE));
      probe.pragma('busy_timeout = 0');
      const made: ManagedObject[] = [];
      let tries = 0;
      let locked = 0;
      let writing = true;
      // Between turns of the event loop: is the file's write lock free?
      const probing = (async () => {
        while (writing) {
          tries++;
          try {
            probe.exec('BEGIN IMMEDIATE');
            probe.exec('ROLLBACK');
          } catch (error) {
            if (!(error instanceof Database.SqliteError && error.code.startsWith('SQLITE_BUSY'))) throw error;
            locked++;
          }
          await new Promise((resolve) => setImmediate(resolve));
        }
      })();
      try {
        // A commit on each connection every turn, as from clients: they come while syncs run.
        const commits: Promise<void>[] = [];
        for (let i = 0; i < 100; i++) {
          for (const s of [a, b]) {
            const object = symmetricKey(s.newId(), Buffer.alloc(32, i), `two-${i}-${s.newId()}`);
            made.push(object);
            commits.push(s.commit({ create: [object] }));
          }
          await new Promise((resolve) => setImmediate(resolve));
        }
        await Promise.all(commits);
      } finally {
        writing = false;
        await probing;
        probe.close();
        await Promise.all([a.close(), b.close()]);
      }
      expect(tries).to.be.above(10);
      if (grouping === 'deferred') expect(locked, `the write lock was held across ${locked} of ${tries} turns`).to.equal(0);
      else expect(locked, `the write lock was held across ${locked} of ${tries} turns`).to.be.above(0);
      store = await openIn(dir, kek);
      expect(await store.stats()).to.deep.equal({ objects: made.length });
      for (const object of made) expectBody(await store.load(object.id), object.body);
    });
  }

  it('records which KEK wrapped each body, and NULL when there is none', async () => {
    const kek = newKek();
    store = await openIn(dir, kek);
    const withBody = symmetricKey(store.newId(), Buffer.alloc(32, 3), 'with');
    const without = { ...symmetricKey(store.newId(), Buffer.alloc(32, 4), 'without'), body: undefined };
    await store.commit({ create: [withBody, without] });
    const db = new Database(join(dir, DB_FILE), { readonly: true });
    try {
      const rows = db.prepare('SELECT id, kek_id, body IS NULL AS empty FROM objects ORDER BY seq').all();
      expect(rows).to.deep.equal([
        { id: withBody.id, kek_id: kek.id, empty: 0 },
        { id: without.id, kek_id: null, empty: 1 },
      ]);
    } finally {
      db.close();
    }
  });

  it('with another KEK, bodies do not load (clear error) while attributes-only objects and Locate still work', async () => {
    const kek = newKek();
    store = await openIn(dir, kek);
    const keyed = symmetricKey(store.newId(), Buffer.alloc(32, 5), 'keyed');
    const destroyed = { ...symmetricKey(store.newId(), Buffer.alloc(32, 6), 'destroyed'), body: undefined };
    await store.commit({ create: [keyed, destroyed] });
    await store.close();

    const wrong = newKek();
    store = await openIn(dir, wrong);
    const error = await rejection(store.load(keyed.id));
    expect(error).to.be.instanceOf(KekError);
    expect((error as KekError).code).to.equal('KEK_MISMATCH');
    expect(error.message).to.include(keyed.id).and.include(kek.id).and.include(wrong.id);
    expect((await store.load(destroyed.id))?.attributes).to.have.length(2);
    expect(await store.locate({ equals: [{ name: 'Name', key: 'keyed' }] })).to.deep.equal([keyed.id]);
  });

  it('a body changed in the file fails its integrity check on load (clear error naming the object)', async () => {
    const kek = newKek();
    store = await openIn(dir, kek);
    const object = symmetricKey(store.newId(), Buffer.alloc(32, 9), 'tampered');
    await store.commit({ create: [object] });
    const db = new Database(join(dir, DB_FILE));
    try {
      const body = db.prepare<[string], Buffer>('SELECT body FROM objects WHERE id = ?').pluck().get(object.id) as Buffer;
      body.writeUInt8(body.readUInt8(20) ^ 0x04, 20);
      db.prepare('UPDATE objects SET body = ? WHERE id = ?').run(body, object.id);
    } finally {
      db.close();
    }
    const error = await rejection(store.load(object.id));
    expect(error).to.be.instanceOf(KekError);
    expect((error as KekError).code).to.equal('KEK_UNWRAP_FAILED');
    expect(error.message).to.include(object.id).and.include('wrapped bytes were changed');
  });

  it('sets the schema version and refuses a database from a newer kmipd', async () => {
    store = await openIn(dir, newKek());
    expect(store.settings().schemaVersion).to.equal(SQLITE_SCHEMA_VERSION);
    await store.close();
    store = undefined;
    const db = new Database(join(dir, DB_FILE));
    db.pragma('user_version = 99');
    db.close();
    const error = await rejection(openIn(dir, newKek()));
    expect(error.message).to.include(`schema version 99 is newer than this kmipd understands (${SQLITE_SCHEMA_VERSION})`);
  });

  it('refuses a create whose revision is not 1 and an update whose revision is below 2', async () => {
    store = await openIn(dir, newKek());
    const object = symmetricKey(store.newId(), Buffer.alloc(32, 1), 'r');
    expect((await rejection(store.commit({ create: [{ ...object, revision: 0 }] }))).message).to.match(/revision 1, not 0/);
    expect((await rejection(store.commit({ update: [{ ...object, revision: 1 }] }))).message).to.match(/revision 2 or more/);
    expect(await store.stats()).to.deep.equal({ objects: 0 });
  });

  for (const grouping of ['open', 'deferred'] as const) {
  it(`commits made while a sync runs share one transaction (${grouping} grouping): fewer WAL frames than the same commits one by one`, async () => {
    store = await openIn(dir, newKek(), suiteIndexKeys, grouping);
    const s = store;
    const probe = new Database(join(dir, DB_FILE));
    const framesOf = async (commit: (objects: ManagedObject[]) => Promise<void>): Promise<number> => {
      probe.pragma('wal_checkpoint(TRUNCATE)');
      await commit(Array.from({ length: 40 }, (_, i) => symmetricKey(s.newId(), Buffer.alloc(32, i), `f-${s.newId()}`)));
      return (probe.pragma('wal_checkpoint(PASSIVE)') as { log: number }[])[0]?.log ?? 0;
    };
    try {
      const oneByOne = await framesOf(async (objects) => {
        for (const object of objects) await s.commit({ create: [object] });
      });
      const together = await framesOf(async (objects) => {
        await Promise.all(objects.map((object) => s.commit({ create: [object] })));
      });
      expect(together, `${together} frames for 40 concurrent commits, ${oneByOne} one by one`).to.be.below(oneByOne / 2);
    } finally {
      probe.close();
    }
  });
  }

  it("'none' grouping: concurrent commits each write their own transaction", async () => {
    store = await openIn(dir, newKek(), suiteIndexKeys, 'none');
    const s = store;
    const probe = new Database(join(dir, DB_FILE));
    try {
      probe.pragma('wal_checkpoint(TRUNCATE)');
      const objects = Array.from({ length: 20 }, (_, i) => symmetricKey(s.newId(), Buffer.alloc(32, i), `n-${s.newId()}`));
      await Promise.all(objects.map((object) => s.commit({ create: [object] })));
      // Every transaction ends with a commit frame; each of these changed the objects table's last page.
      const frames = (probe.pragma('wal_checkpoint(PASSIVE)') as { log: number }[])[0]?.log ?? 0;
      expect(frames, `${frames} frames for 20 commits`).to.be.at.least(20 * 2);
    } finally {
      probe.close();
    }
  });

  it("a batch's savepoints journal in memory: no temporary file opens while it is written, and Locate's temporary storage stays the default", async () => {
    store = await openIn(dir, newKek());
    const s = store;
    // SQLite's temporary files are unlinked at once; the process still holds them open.
    const temporaryFiles = (): string[] =>
      readdirSync('/proc/self/fd').flatMap((fd) => {
        try {
          const target = readlinkSync(`/proc/self/fd/${fd}`);
          return target.includes('etilqs') ? [target] : [];
        } catch {
          return []; // closed meanwhile
        }
      });
    // Enough objects, and commits of several objects under random names, that one commit
    // changes more pages than SQLite keeps of a journal in memory before it spills to a file
    // (64 KiB): a server's Create changes as many (its index rows, the audit record).
    const named = (): ManagedObject => symmetricKey(s.newId(), randomBytes(32), randomBytes(12).toString('hex'));
    for (let round = 0; round < 30; round++) {
      await Promise.all(Array.from({ length: 20 }, () => s.commit({ create: Array.from({ length: 10 }, named), audit: [auditEntry({})] })));
    }
    // One commit per turn of the event loop, as from clients: they join the batch open while
    // a sync runs, and the temporary files are looked for between them.
    const seen = new Set<string>();
    const commits: Promise<void>[] = [];
    for (let i = 0; i < 40; i++) {
      commits.push(s.commit({ create: Array.from({ length: 10 }, named), audit: [auditEntry({ correlation: `j-${i}` })] }));
      await new Promise((resolve) => setImmediate(resolve));
      for (const file of temporaryFiles()) seen.add(file);
    }
    await Promise.all(commits);
    expect([...seen], 'temporary files open while the batch was written').to.deep.equal([]);
    const probe = new Database(join(dir, DB_FILE), { readonly: true });
    try {
      expect(probe.prepare('SELECT count(*) FROM objects').pluck().get()).to.equal(6400);
    } finally {
      probe.close();
    }
    expect(s.settings().tempStore, 'temporary storage after the batch').to.equal(0);
  });

  it('records of reads answered in one turn are written in one transaction, in order, before any of them resolves', async () => {
    store = await openIn(dir, newKek());
    const s = store;
    const probe = new Database(join(dir, DB_FILE));
    const record = (i: number): AuditEntry => auditEntry({ correlation: `read-${i}` });
    const framesOf = async (write: () => Promise<void>): Promise<number> => {
      probe.pragma('wal_checkpoint(TRUNCATE)');
      await write();
      return (probe.pragma('wal_checkpoint(PASSIVE)') as { log: number }[])[0]?.log ?? 0;
    };
    try {
      const oneByOne = await framesOf(async () => {
        for (let i = 0; i < 40; i++) await s.commit({ audit: [record(i)], auditDurability: 'process' });
      });
      const resolved: number[] = [];
      const together = await framesOf(async () => {
        await Promise.all(Array.from({ length: 40 }, (_, i) => s.commit({ audit: [record(100 + i)], auditDurability: 'process' }).then(() => resolved.push(i))));
      });
      expect(together, `${together} frames for 40 reads in one turn, ${oneByOne} one by one`).to.be.below(oneByOne / 4);
      expect(resolved).to.have.length(40);
      const rows = probe.prepare<[], string>("SELECT correlation FROM audit_log WHERE correlation LIKE 'read-%' ORDER BY seq").pluck().all();
      expect(rows).to.deep.equal(Array.from({ length: 40 }, (_, i) => `read-${i}`).concat(Array.from({ length: 40 }, (_, i) => `read-${100 + i}`)));
    } finally {
      probe.close();
    }
    const reader = openSqliteAuditReader(join(dir, DB_FILE));
    try {
      expect(await verifyChain(reader)).to.include({ intact: true, records: 80 });
    } finally {
      await reader.close();
    }
  });

  it('a WAL past walResetBytes is emptied while commits wait: its size stays bounded, every commit is kept', async () => {
    const kek = newKek();
    store = await openSqliteStore({ path: join(dir, DB_FILE), kek, indexKeys: suiteIndexKeys, walResetBytes: 256 * 1024 });
    const s = store;
    const objects: ManagedObject[] = [];
    let largest = 0;
    for (let round = 0; round < 10; round++) {
      const group = Array.from({ length: 60 }, (_, i) => symmetricKey(s.newId(), Buffer.alloc(32, i), `w-${round}-${i}`));
      objects.push(...group);
      await Promise.all(group.map((object) => s.commit({ create: [object] })));
      largest = Math.max(largest, (await stat(join(dir, `${DB_FILE}-wal`))).size);
    }
    // A reset happens at a checkpoint request (every 100 commits): the WAL may pass the limit by that much.
    expect(largest, `largest WAL ${largest} bytes`).to.be.below(4 * 1024 * 1024);
    await s.close();
    store = await openIn(dir, kek);
    for (const object of objects) expectBody(await store.load(object.id), object.body);
  });

  it('group commit: concurrent commits each report written before durable, a stale one fails alone, the others survive reopening', async () => {
    const kek = newKek();
    store = await openIn(dir, kek);
    const s = store;
    const base = symmetricKey(s.newId(), Buffer.alloc(32, 2), 'base');
    await s.commit({ create: [base] });
    await s.commit({ update: [{ ...base, revision: 2 }] });
    const order: string[] = [];
    const creates = Array.from({ length: 30 }, (_, i) => symmetricKey(s.newId(), Buffer.alloc(32, i + 3), `g${i}`));
    const commits = creates.map((object) =>
      s.commit({ create: [object], written: () => order.push(`written ${object.id}`) }).then(() => {
        order.push(`durable ${object.id}`);
      }),
    );
    // In the middle of the group: an update from revision 1, which another commit already moved on.
    const stale = s.commit({ update: [{ ...base, revision: 2 }], written: () => order.push('written stale') });
    const more = creates.slice(0, 5).map((object, i) => commits[i]?.then(() => s.commit({ update: [{ ...object, revision: 2 }] })));
    expect(await rejection(stale)).to.be.instanceOf(StoreConflictError);
    await Promise.all([...commits, ...more]);
    expect(order).to.not.include('written stale');
    for (const object of creates) {
      expect(order.indexOf(`written ${object.id}`)).to.be.within(0, order.indexOf(`durable ${object.id}`) - 1);
    }
    await s.close();
    store = await openIn(dir, kek);
    for (const [i, object] of creates.entries()) {
      const loaded = await store.load(object.id);
      expect(loaded?.revision).to.equal(i < 5 ? 2 : 1);
      expectBody(loaded, object.body);
    }
    expect((await store.load(base.id))?.revision).to.equal(2);
  });

  it("'deferred' grouping: commits wait for the running sync and are written together, a stale one fails alone; one that asks to know when it is written is written at once", async () => {
    const kek = newKek();
    store = await openIn(dir, kek, suiteIndexKeys, 'deferred');
    const s = store;
    const base = symmetricKey(s.newId(), Buffer.alloc(32, 2), 'base');
    await s.commit({ create: [base] });
    await s.commit({ update: [{ ...base, revision: 2 }] });
    const probe = new Database(join(dir, DB_FILE), { readonly: true });
    const stored = (id: string): boolean => probe.prepare('SELECT 1 FROM objects WHERE id = ?').get(id) !== undefined;
    const creates = Array.from({ length: 30 }, (_, i) => symmetricKey(s.newId(), Buffer.alloc(32, i + 3), `d${i}`));
    try {
      const order: string[] = [];
      const commits = creates.map((object) => s.commit({ create: [object] }).then(() => order.push(`durable ${object.id}`)));
      const stale = s.commit({ update: [{ ...base, revision: 2 }] });
      // The first went on its own; the others wait in memory for its sync, unwritten.
      await Promise.resolve();
      const waiting = creates.slice(1).filter((object) => !stored(object.id)).length;
      const atOnce = symmetricKey(s.newId(), Buffer.alloc(32, 99), 'at-once');
      const atOnceCommit = s.commit({ create: [atOnce], written: () => order.push(`written ${atOnce.id}`) });
      expect(await rejection(stale)).to.be.instanceOf(StoreConflictError);
      await Promise.all([...commits, atOnceCommit]);
      expect(waiting, 'commits still in memory after the first was written').to.be.above(20);
      const firstDurable = Math.min(...creates.map((object) => order.indexOf(`durable ${object.id}`)));
      expect(order.indexOf(`written ${atOnce.id}`), order.join('\n')).to.be.within(0, firstDurable - 1);
    } finally {
      probe.close();
    }
    await s.close();
    store = await openIn(dir, kek);
    for (const object of creates) expectBody(await store.load(object.id), object.body);
    expect((await store.load(base.id))?.revision).to.equal(2);
  });
});
