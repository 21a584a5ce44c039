import { expect } from 'chai';
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { Pool } from 'pg';
import { refuseOwnerAtCommit, startPostgres } from '../../test/support/postgres.js';
import type { PostgresCluster } from '../../test/support/postgres.js';
import { Enum, Tag, encodeTtlv, itemsEqual, leaf, structure } from '../../ttlv/index.js';
import type { TtlvItem } from '../../ttlv/index.js';
import { FileKek, KekError, KeyMaterial } from '../crypto/index.js';
import type { KeyEncryptionKey } from '../crypto/index.js';
import type { ManagedObject } from '../objects/types.js';
import { POSTGRES_SCHEMA_VERSION, StoreConflictError, openPostgresStore } from './index.js';
import type { PostgresStore } from './index.js';
import { locateSql } from './postgres.js';
import { MAX_GROUP_COMMITS } from './postgres-commits.js';
import { auditEntry, readTrail } from '../audit/store-audit-suite.js';
import { verifyChain } from '../audit/verify.js';
import { storeMaintenanceSuite, storeSuite, suiteIndexKeys } from './store-suite.js';
import type { OpenedMaintenanceStore } from './store-suite.js';
import type { IndexKeys } from './codec.js';
import type { LocateQuery } from './types.js';
import type { AuditEntry } from '../audit/record.js';
import { rejection } from '../../test/support/rejection.js';

const newKek = (): FileKek => new FileKek(KeyMaterial.random(32));

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

function renamed(object: ManagedObject, name: string): ManagedObject {
  const nameValue = structure(Tag.Name, [leaf(Tag.NameValue, 'TextString', name), leaf(Tag.NameType, 'Enumeration', 1)]);
  return { ...object, revision: object.revision + 1, attributes: object.attributes.map((a) => (a.name === 'Name' ? { name: 'Name', value: nameValue } : a)) };
}

function expectBody(object: ManagedObject | undefined, body: TtlvItem | undefined): void {
  expect(object?.body).to.not.equal(undefined);
  if (object?.body === undefined || body === undefined) return;
  expect(itemsEqual(object.body, body)).to.equal(true);
}

/** Every file under `dir`, concatenated (table files and WAL segments: tens of megabytes). */
async function filesUnder(dir: string): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) out.push(await readFile(path.join(entry.parentPath, entry.name)));
  }
  return out;
}

describe('PostgresStore against a throwaway PostgreSQL cluster', function () {
  let cluster: PostgresCluster | undefined;
  let admin: Pool | undefined;
  let schemas = 0;

  before(async function () {
    this.timeout(60_000);
    cluster = await startPostgres(); // throws, naming the package, when PostgreSQL is missing
    admin = new Pool({ connectionString: cluster.connectionString, application_name: 'kmipd-test-admin' });
  });
  after(async () => {
    await admin?.end();
    await cluster?.stop();
  });

  const db = (): Pool => {
    if (admin === undefined) throw new Error('the PostgreSQL cluster did not start');
    return admin;
  };
  const connectionString = (): string => {
    if (cluster === undefined) throw new Error('the PostgreSQL cluster did not start');
    return cluster.connectionString;
  };
  const freshSchema = (): string => `kmipd_test_${++schemas}`;
  const openIn = (schema: string, kek: KeyEncryptionKey, indexKeys: IndexKeys = suiteIndexKeys): Promise<PostgresStore> =>
    openPostgresStore({ connectionString: connectionString(), kek, indexKeys, schema });

  /** Waits until `count` kmipd connections are blocked on a lock. */
  async function lockWaiters(count: number): Promise<void> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const { rows } = await db().query<{ n: number }>(
        "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'kmipd' AND wait_event_type = 'Lock'",
      );
      if ((rows[0]?.n ?? 0) >= count) return;
      if (Date.now() > deadline) expect.fail(`${count} connections never waited on a lock`);
      await delay(10);
    }
  }

  // A fresh schema per test, in one database of one cluster for the whole file.
  storeSuite('PostgreSQL', async () => {
    const schema = freshSchema();
    const store = await openIn(schema, newKek());
    return {
      store,
      async cleanup() {
        await store.close();
        await db().query(`DROP SCHEMA ${schema} CASCADE`);
      },
    };
  });

  // Each handle's schema, so that a second connection can join it (another node).
  const schemaOf = new WeakMap<OpenedMaintenanceStore, string>();
  storeMaintenanceSuite('PostgreSQL', async (kek, shareWith, indexKeys) => {
    const shared = shareWith === undefined ? undefined : schemaOf.get(shareWith);
    const schema = shared ?? freshSchema();
    const store = await openIn(schema, kek, indexKeys);
    const handle: OpenedMaintenanceStore = {
      store,
      async cleanup() {
        await store.close();
        if (shared === undefined) await db().query(`DROP SCHEMA ${schema} CASCADE`);
      },
    };
    schemaOf.set(handle, schema);
    return handle;
  });

  describe('PostgreSQL specifics', () => {
    let schema: string;
    const opened: PostgresStore[] = [];
    const open = async (kek: KeyEncryptionKey, inSchema = schema): Promise<PostgresStore> => {
      const store = await openIn(inSchema, kek);
      opened.push(store);
      return store;
    };

    /**
     * Two nodes and objects x and y; the updates `race` starts are held back by a third
     * connection holding both rows until all `waiters` wait for the locks, then let go.
     */
    const raceOnHeldPair = async (
      waiters: number,
      race: (nodes: { a: PostgresStore; b: PostgresStore; x: ManagedObject; y: ManagedObject }) => Promise<void>[],
    ): Promise<{ a: PostgresStore; b: PostgresStore; x: ManagedObject; y: ManagedObject; results: PromiseSettledResult<void>[] }> => {
      const kek = newKek();
      const [a, b] = [await open(kek), await open(kek)];
      const x = symmetricKey(a.newId(), Buffer.alloc(32, 1), 'x');
      const y = symmetricKey(a.newId(), Buffer.alloc(32, 2), 'y');
      await a.commit({ create: [x, y] });
      const holder = await db().connect();
      try {
        await holder.query('BEGIN');
        await holder.query(`SELECT 1 FROM ${schema}.objects WHERE id IN ($1, $2) FOR UPDATE`, [x.id, y.id]);
        const racing = Promise.allSettled(race({ a, b, x, y }));
        await lockWaiters(waiters);
        await holder.query('ROLLBACK');
        return { a, b, x, y, results: await racing };
      } finally {
        holder.release();
      }
    };

    beforeEach(() => {
      schema = freshSchema();
    });
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((s) => s.close()));
      await db().query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    });

    it('never stores key material in clear: not in the bytea columns, the table files or the WAL', async () => {
      const store = await open(newKek());
      const canary = Buffer.from('KMIPD-CANARY-0123456789-ABCDEF!!'); // 32 recognisable bytes
      const object = symmetricKey(store.newId(), canary, 'canary-name');
      await store.commit({ create: [object] });
      await store.commit({ update: [renamed(object, 'canary-renamed')] });

      const objects = await db().query<{ id: string; owner: Buffer; attributes: Buffer; body: Buffer | null }>(
        `SELECT id, owner, attributes, body FROM ${schema}.objects`,
      );
      const index = await db().query<{ name: Buffer; key: Buffer | null }>(`SELECT name, key FROM ${schema}.attribute_index`);
      const columns = Buffer.concat([
        ...objects.rows.flatMap((r) => [Buffer.from(r.id), r.owner, r.attributes, r.body ?? Buffer.alloc(0)]),
        ...index.rows.flatMap((r) => [r.name, r.key ?? Buffer.alloc(0)]),
      ]);
      expect(objects.rows[0]?.body?.length).to.be.greaterThan(32);
      await db().query('CHECKPOINT'); // table pages on disk, not only in shared buffers
      const dataDir = cluster?.dataDir ?? '';
      const onDisk = [...(await filesUnder(path.join(dataDir, 'base'))), ...(await filesUnder(path.join(dataDir, 'pg_wal')))];
      for (const bytes of [columns, ...onDisk]) {
        expect(bytes.includes(canary)).to.equal(false);
        expect(bytes.includes(canary.subarray(0, 8))).to.equal(false);
        expect(bytes.includes(encodeTtlv(object.body as TtlvItem))).to.equal(false);
      }
      // The check reads the right bytes: attributes are stored in clear, and are found.
      expect(columns.includes(Buffer.from('canary-renamed'))).to.equal(true);
      expect(onDisk.some((bytes) => bytes.includes(Buffer.from('canary-renamed')))).to.equal(true);
      expectBody(await store.load(object.id), object.body);
    });

    it('two nodes (two pools) on one database see each other\'s commits and conflicts', async () => {
      const kek = newKek();
      const [a, b] = [await open(kek), await open(kek)];
      const object = symmetricKey(a.newId(), Buffer.alloc(32, 8), 'shared');
      await a.commit({ create: [object] });
      expectBody(await b.load(object.id), object.body);
      await b.commit({ update: [renamed(object, 'by-b')] });
      expect(await a.locate({ equals: [{ name: 'Name', key: 'by-b' }] })).to.deep.equal([object.id]);
      const error = await rejection(a.commit({ update: [renamed(object, 'stale')] }));
      expect(error).to.be.instanceOf(StoreConflictError);
      expect(error.message).to.include('is at revision 2, the update expected revision 1');
      expect((await a.load(object.id))?.revision).to.equal(2);
    });

    it('of two nodes updating one object at the same moment, exactly one wins (the other re-checks after the row lock)', async () => {
      const kek = newKek();
      const [a, b] = [await open(kek), await open(kek)];
      const object = symmetricKey(a.newId(), Buffer.alloc(32, 9), 'race');
      await a.commit({ create: [object] });
      // Hold the row, so both updates are waiting for it when it is released.
      const holder = await db().connect();
      let results: PromiseSettledResult<void>[];
      try {
        await holder.query('BEGIN');
        await holder.query(`SELECT 1 FROM ${schema}.objects WHERE id = $1 FOR UPDATE`, [object.id]);
        const racing = Promise.allSettled([a.commit({ update: [renamed(object, 'from-a')] }), b.commit({ update: [renamed(object, 'from-b')] })]);
        await lockWaiters(2);
        await holder.query('ROLLBACK');
        results = await racing;
      } finally {
        holder.release();
      }
      const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect(results.filter((r) => r.status === 'fulfilled')).to.have.length(1);
      expect(lost).to.have.length(1);
      expect(lost[0]?.reason).to.be.instanceOf(StoreConflictError);
      expect((lost[0]?.reason as Error).message).to.include('is at revision 2, the update expected revision 1');
      const winner = results[0]?.status === 'fulfilled' ? 'from-a' : 'from-b';
      expect((await b.load(object.id))?.revision).to.equal(2);
      expect(await b.locate({ equals: [{ name: 'Name', key: winner }] })).to.deep.equal([object.id]);
    });

    it('two nodes updating the same two objects in opposite order do not deadlock: one wins, the other sees a revision conflict', async () => {
      const { a, x, y, results } = await raceOnHeldPair(2, ({ a, b, x, y }) => [
        a.commit({ update: [renamed(x, 'x-a'), renamed(y, 'y-a')] }),
        b.commit({ update: [renamed(y, 'y-b'), renamed(x, 'x-b')] }),
      ]);
      const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect(lost).to.have.length(1);
      expect(lost[0]?.reason).to.be.instanceOf(StoreConflictError);
      // A deadlock would also end as a conflict, but only after deadlock_timeout (1 s) and with another message.
      expect((lost[0]?.reason as Error).message).to.include('the update expected revision 1');
      const suffix = results[0]?.status === 'fulfilled' ? 'a' : 'b';
      expect(await a.locate({ equals: [{ name: 'Name', key: `x-${suffix}` }] })).to.deep.equal([x.id]);
      expect(await a.locate({ equals: [{ name: 'Name', key: `y-${suffix}` }] })).to.deep.equal([y.id]);
    });

    it('of two nodes creating the same identifier at the same moment, one wins and the other gets StoreConflictError', async () => {
      const kek = newKek();
      const [a, b] = [await open(kek), await open(kek)];
      const id = a.newId();
      const results = await Promise.allSettled([
        a.commit({ create: [symmetricKey(id, Buffer.alloc(32, 3), 'create-a')] }),
        b.commit({ create: [symmetricKey(id, Buffer.alloc(32, 4), 'create-b')] }),
      ]);
      const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect(lost).to.have.length(1);
      expect(lost[0]?.reason).to.be.instanceOf(StoreConflictError);
      expect((lost[0]?.reason as Error).message).to.equal(`object ${id} already exists`);
      expect(await a.locate({})).to.deep.equal([id]);
    });

    it('migrates once when four nodes open a new schema at the same moment (advisory lock)', async () => {
      const kek = newKek();
      const nodes = await Promise.all([open(kek), open(kek), open(kek), open(kek)]);
      const migrations = nodes.map((n) => n.migration);
      expect(migrations.filter((m) => m.from === 0)).to.have.length(1);
      expect(migrations.every((m) => m.to === POSTGRES_SCHEMA_VERSION)).to.equal(true);
      expect(migrations.filter((m) => m.from === POSTGRES_SCHEMA_VERSION)).to.have.length(3);
      const { rows } = await db().query<{ version: number }>(`SELECT version FROM ${schema}.schema_migrations ORDER BY version`);
      expect(rows.map((r) => r.version)).to.deep.equal(Array.from({ length: POSTGRES_SCHEMA_VERSION }, (_, i) => i + 1));
      const object = symmetricKey(nodes[0]?.newId() ?? '', Buffer.alloc(32, 5), 'seen-by-all');
      await nodes[0]?.commit({ create: [object] });
      for (const node of nodes) expect(await node.locate({ equals: [{ name: 'Name', key: 'seen-by-all' }] })).to.deep.equal([object.id]);
      expect(nodes.map((n) => n.settings().schemaVersion)).to.deep.equal(Array.from({ length: 4 }, () => POSTGRES_SCHEMA_VERSION));
    });

    it('refuses a schema written by a newer kmipd', async () => {
      const store = await open(newKek());
      await store.close();
      await db().query(`INSERT INTO ${schema}.schema_migrations (version) VALUES (99)`);
      const error = await rejection(open(newKek()));
      expect(error.message).to.match(/schema kmipd_test_\d+ is at version 99, newer than this kmipd understands/).and.include(`(${POSTGRES_SCHEMA_VERSION})`);
    });

    it('finds its objects again after close and reopen, without migrating again', async () => {
      const kek = newKek();
      let store = await open(kek);
      const a = symmetricKey(store.newId(), Buffer.alloc(32, 0xa1), 'a');
      const b = symmetricKey(store.newId(), Buffer.alloc(32, 0xb2), 'b');
      await store.commit({ create: [a, b] });
      await store.commit({ update: [{ ...b, revision: 2, body: undefined }] });
      await store.close();

      store = await open(kek);
      expect(store.migration).to.deep.equal({ from: POSTGRES_SCHEMA_VERSION, to: POSTGRES_SCHEMA_VERSION });
      expectBody(await store.load(a.id), a.body);
      expect((await store.load(b.id))?.revision).to.equal(2);
      expect((await store.load(b.id))?.body).to.equal(undefined);
      expect(await store.locate({ equals: [{ name: 'Name', key: 'b' }] })).to.deep.equal([b.id]);
      expect(await store.locate({})).to.deep.equal([a.id, b.id]);
      expect(await store.stats()).to.deep.equal({ objects: 2 });
    });

    it('keeps text holding U+0000 (owner, attribute name, index key) as UTF-8 bytea, exactly', async () => {
      const store = await open(newKek());
      const owner = 'ali\u0000ce';
      const object: ManagedObject = {
        ...symmetricKey(store.newId(), Buffer.alloc(32, 6), 'n\u0000ame'),
        owner,
        attributes: [
          ...symmetricKey('', Buffer.alloc(0), 'n\u0000ame').attributes,
          { name: 'x-\u0000attr', value: leaf(Tag.AttributeValue, 'TextString', 'v\u0000al') },
        ],
      };
      await store.commit({ create: [object] });
      const loaded = await store.load(object.id);
      expect(loaded?.owner).to.equal(owner);
      expect(loaded?.attributes.map((a) => a.name)).to.deep.equal(['Name', 'State', 'x-\u0000attr']);
      const found = (query: LocateQuery): Promise<string[]> => store.locate(query);
      expect(await found({ owner })).to.deep.equal([object.id]);
      expect(await found({ owner: 'ali' })).to.deep.equal([]);
      expect(await found({ equals: [{ name: 'Name', key: 'n\u0000ame' }] })).to.deep.equal([object.id]);
      expect(await found({ equals: [{ name: 'Name', key: 'n' }] })).to.deep.equal([]);
      expect(await found({ equals: [{ name: 'x-\u0000attr', key: 'v\u0000al' }] })).to.deep.equal([object.id]);
      expect(await found({ has: ['x-\u0000attr'] })).to.deep.equal([object.id]);
      expect(await found({ has: ['x-'] })).to.deep.equal([]);
      const { rows } = await db().query<{ key: Buffer }>(`SELECT key FROM ${schema}.attribute_index WHERE object_id = $1 AND key IS NOT NULL ORDER BY key`, [object.id]);
      expect(rows.map((r) => r.key)).to.deep.include(Buffer.from('v\u0000al'));

      // Identifiers are TEXT: one holding U+0000 is never found, and cannot be stored.
      expect(await store.load('\u0000')).to.equal(undefined);
      expect(await store.loadMetadata(`${object.id}\u0000`)).to.equal(undefined);
      const nulId = { ...object, id: 'a\u0000b' };
      expect((await rejection(store.commit({ create: [nulId] }))).message).to.match(/cannot hold U\+0000/);
      expect(await rejection(store.commit({ update: [{ ...nulId, revision: 2 }] }))).to.be.instanceOf(StoreConflictError);
    });

    it('runs with synchronous_commit on, and refuses a connection where it is off', async () => {
      const store = await open(newKek());
      expect(store.settings()).to.include({ schema, schemaVersion: POSTGRES_SCHEMA_VERSION, synchronousCommit: 'on' });
      expect(store.settings().serverVersion).to.be.at.least(110000);
      const error = await rejection(
        openPostgresStore({
          pool: { connectionString: connectionString(), options: '-c synchronous_commit=off' },
          kek: newKek(),
          indexKeys: suiteIndexKeys,
          schema,
        }),
      );
      expect(error.message).to.include('synchronous_commit = off').and.include('decision 4');
    });

    it('refuses a schema name that is not plain lower-case', async () => {
      for (const bad of ['', 'Kmipd', 'a-b', '1abc', 'a"; DROP TABLE x; --', 'x'.repeat(64)]) {
        const error = await rejection(openPostgresStore({ connectionString: connectionString(), kek: newKek(), indexKeys: suiteIndexKeys, schema: bad }));
        expect(error.message).to.include('PostgreSQL schema name');
      }
    });

    it('Locate is one query that starts from the attribute index (EXPLAIN) among 1,000 objects', async () => {
      const store = await open(newKek());
      const objects = Array.from({ length: 1000 }, (_, i) => symmetricKey(store.newId(), Buffer.alloc(32, i & 0xff), `key-${i}`));
      for (let i = 0; i < objects.length; i += 250) await store.commit({ create: objects.slice(i, i + 250) });
      await db().query(`ANALYZE ${schema}.objects, ${schema}.attribute_index`); // autovacuum does this in service
      const plan = async (query: LocateQuery): Promise<string> => {
        const { text, values } = locateSql(schema, query);
        const { rows } = await db().query<{ 'QUERY PLAN': string }>(`EXPLAIN ${text}`, values);
        return rows.map((r) => r['QUERY PLAN']).join('\n');
      };
      for (const query of [{ equals: [{ name: 'Name', key: 'key-537' }] }, { owner: 'alice', equals: [{ name: 'Name', key: 'key-537' }] }]) {
        const text = await plan(query);
        expect(text).to.match(/Index (Only )?Scan using attribute_index_name_key/);
        expect(text).to.not.match(/Seq Scan/);
      }
      expect(await store.locate({ owner: 'alice', equals: [{ name: 'Name', key: 'key-537' }] })).to.deep.equal([objects[537]?.id]);
    });

    it('records which KEK wrapped each body, and NULL when there is none', async () => {
      const kek = newKek();
      const store = await open(kek);
      const withBody = symmetricKey(store.newId(), Buffer.alloc(32, 3), 'with');
      const without = { ...symmetricKey(store.newId(), Buffer.alloc(32, 4), 'without'), body: undefined };
      await store.commit({ create: [withBody, without] });
      const { rows } = await db().query(`SELECT id, kek_id, body IS NULL AS empty FROM ${schema}.objects ORDER BY seq`);
      expect(rows).to.deep.equal([
        { id: withBody.id, kek_id: kek.id, empty: false },
        { id: without.id, kek_id: null, empty: true },
      ]);
    });

    it('with another KEK bodies do not load (clear error); a changed body fails its integrity check', async () => {
      const kek = newKek();
      const store = await open(kek);
      const keyed = symmetricKey(store.newId(), Buffer.alloc(32, 5), 'keyed');
      const tampered = symmetricKey(store.newId(), Buffer.alloc(32, 6), 'tampered');
      await store.commit({ create: [keyed, tampered] });

      const wrong = newKek();
      const other = await open(wrong);
      const mismatch = await rejection(other.load(keyed.id));
      expect(mismatch).to.be.instanceOf(KekError);
      expect((mismatch as KekError).code).to.equal('KEK_MISMATCH');
      expect(mismatch.message).to.include(keyed.id).and.include(kek.id).and.include(wrong.id);
      expect((await other.loadMetadata(keyed.id))?.hasBody).to.equal(true);
      expect(await other.locate({ equals: [{ name: 'Name', key: 'keyed' }] })).to.deep.equal([keyed.id]);

      // Flip one bit of the wrapped bytes in place.
      await db().query(`UPDATE ${schema}.objects SET body = set_bit(body, 160, 1 - get_bit(body, 160)) WHERE id = $1`, [tampered.id]);
      const changed = await rejection(store.load(tampered.id));
      expect(changed).to.be.instanceOf(KekError);
      expect((changed as KekError).code).to.equal('KEK_UNWRAP_FAILED');
      expect(changed.message).to.include(tampered.id).and.include('wrapped bytes were changed');
    });

    it('close ends the pool: its connections leave the server, and a second close is harmless', async () => {
      const applicationName = `kmipd-close-${schema}`;
      const store = await openPostgresStore({
        pool: { connectionString: connectionString(), application_name: applicationName },
        kek: newKek(),
        indexKeys: suiteIndexKeys,
        schema,
      });
      await Promise.all(Array.from({ length: 5 }, () => store.locate({})));
      const connections = async (): Promise<number> =>
        (await db().query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1', [applicationName])).rows[0]?.n ?? -1;
      expect(await connections()).to.be.greaterThan(0);
      await store.close();
      await store.close();
      const deadline = Date.now() + 5000;
      while ((await connections()) > 0 && Date.now() < deadline) await delay(10);
      expect(await connections()).to.equal(0);
      await rejection(store.locate({}));
    });

    describe('group commit (lib/store/postgres-commits.ts)', () => {
      /** Transactions that wrote objects: now() is the transaction's start, shared by its savepoints. */
      const transactionsOf = async (ids: readonly string[]): Promise<number> =>
        (await db().query<{ n: number }>(`SELECT count(DISTINCT created)::int AS n FROM ${schema}.objects WHERE id = ANY($1::text[])`, [ids])).rows[0]?.n ?? -1;

      it('commits that arrive while a transaction runs share the next one: 40 concurrent creates in far fewer transactions', async () => {
        const store = await open(newKek());
        const objects = Array.from({ length: 40 }, (_, i) => symmetricKey(store.newId(), Buffer.alloc(32, i), `grouped-${i}`));
        await Promise.all(objects.map((o, i) => store.commit({ create: [o], audit: [auditEntry({ operation: 'Create', item: i + 1, objects: [o.id] })] })));
        const transactions = await transactionsOf(objects.map((o) => o.id));
        expect(transactions).to.be.within(1, 10);
        expect(store.groupCommitStats()).to.deep.equal({ transactions, commits: 40 });
        expect(await store.stats()).to.deep.equal({ objects: 40 });
        const { records } = await readTrail(store);
        expect(records.map((r) => r.seq)).to.deep.equal(Array.from({ length: 40 }, (_, i) => i + 1));
        const reader = await store.auditReader();
        try {
          expect(await verifyChain(reader)).to.deep.include({ intact: true, records: 40 });
        } finally {
          await reader.close();
        }
      });

      it('a failing commit of a group is rolled back to its savepoint alone: only its caller gets the error, the others are kept', async () => {
        const kek = newKek();
        const store = await open(kek);
        const [a, b, c] = [1, 2, 3].map((n) => symmetricKey(store.newId(), Buffer.alloc(32, n), `before-${n}`)) as [ManagedObject, ManagedObject, ManagedObject];
        await store.commit({ create: [a, b, c] });
        const d = symmetricKey(store.newId(), Buffer.alloc(32, 4), 'new-d');
        const e = symmetricKey(store.newId(), Buffer.alloc(32, 5), 'new-e');
        const record = (operation: string, object: ManagedObject): AuditEntry[] => [auditEntry({ operation, objects: [object.id], message: `${operation} ${object.id}` })];
        const results = await Promise.allSettled([
          store.commit({ update: [renamed(a, 'a-2')], audit: record('Modify', a) }),
          // Writes e, then finds b stale: e must go with it.
          store.commit({ create: [e], update: [{ ...renamed(b, 'b-stale'), revision: 3 }], audit: record('Stale', b) }),
          store.commit({ create: [d], audit: record('Create', d) }),
          // An identifier already stored: the primary key refuses it.
          store.commit({ create: [{ ...symmetricKey(c.id, Buffer.alloc(32, 6), 'duplicate') }], audit: record('Duplicate', c) }),
          store.commit({ update: [renamed(c, 'c-2')], audit: record('Modify', c) }),
          // The same revision of c again: the update before it in the group changed it.
          store.commit({ update: [renamed(c, 'c-again')], audit: record('Again', c) }),
        ]);
        expect(results.map((r) => r.status)).to.deep.equal(['fulfilled', 'rejected', 'fulfilled', 'rejected', 'fulfilled', 'rejected']);
        const reasons = results.map((r) => (r.status === 'rejected' ? (r.reason as Error) : undefined));
        expect(reasons[1]).to.be.instanceOf(StoreConflictError);
        expect(reasons[1]?.message).to.include(`object ${b.id} is at revision 1, the update expected revision 2`);
        expect(reasons[3]?.message).to.equal(`object ${c.id} already exists`);
        expect(reasons[5]?.message).to.include(`object ${c.id} is at revision 2, the update expected revision 1`);
        // The kept commits were one transaction.
        const { rows } = await db().query<{ n: number }>(`SELECT count(DISTINCT updated)::int AS n FROM ${schema}.objects WHERE id = ANY($1::text[])`, [[a.id, c.id, d.id]]);
        expect(rows[0]?.n).to.equal(1);

        // As another node sees it, after this one is closed.
        await store.close();
        const other = await open(kek);
        expect((await other.load(a.id))?.revision).to.equal(2);
        expect((await other.load(b.id))?.revision).to.equal(1);
        expect(await other.locate({ equals: [{ name: 'Name', key: 'b-stale' }] })).to.deep.equal([]);
        expect(await other.load(e.id)).to.equal(undefined);
        expectBody(await other.load(c.id), c.body);
        expect(await other.locate({ equals: [{ name: 'Name', key: 'c-2' }] })).to.deep.equal([c.id]);
        expect(await other.locate({ equals: [{ name: 'Name', key: 'duplicate' }] })).to.deep.equal([]);
        expectBody(await other.load(d.id), d.body);
        const { records } = await readTrail(other);
        expect(records.map((r) => r.message).sort()).to.deep.equal([`Create ${d.id}`, `Modify ${a.id}`, `Modify ${c.id}`].sort());
        const reader = await other.auditReader();
        try {
          expect(await verifyChain(reader)).to.deep.include({ intact: true, records: 3 });
        } finally {
          await reader.close();
        }
      });

      it("two nodes whose groups update the same two objects, given in opposite orders, do not deadlock: one node's group wins both", async () => {
        // One group per node, each of two commits of one object: node b's arrive y first.
        const { b, x, y, results } = await raceOnHeldPair(2, ({ a, b, x, y }) => [
          a.commit({ update: [renamed(x, 'x-a')] }),
          a.commit({ update: [renamed(y, 'y-a')] }),
          b.commit({ update: [renamed(y, 'y-b')] }),
          b.commit({ update: [renamed(x, 'x-b')] }),
        ]);
        const won = results.map((r) => r.status === 'fulfilled');
        expect([won, [!won[0], !won[1], !won[2], !won[3]]]).to.deep.include([true, true, false, false]);
        for (const lost of results.filter((r): r is PromiseRejectedResult => r.status === 'rejected')) {
          expect(lost.reason).to.be.instanceOf(StoreConflictError);
          // A deadlock would end as a conflict too, but after deadlock_timeout (1 s) and with another message.
          expect((lost.reason as Error).message).to.include('is at revision 2, the update expected revision 1');
        }
        const suffix = won[0] === true ? 'a' : 'b';
        expect(await b.locate({ equals: [{ name: 'Name', key: `x-${suffix}` }] })).to.deep.equal([x.id]);
        expect(await b.locate({ equals: [{ name: 'Name', key: `y-${suffix}` }] })).to.deep.equal([y.id]);
      });

      it('a COMMIT that fails fails every commit of its group, and none of them is kept', async () => {
        const store = await open(newKek());
        await store.commit({ audit: [auditEntry({ operation: 'Before' })] });
        // Checked at COMMIT: a deferred constraint trigger that refuses one owner.
        await db().query(refuseOwnerAtCommit(schema));
        const good = [1, 2].map((n) => symmetricKey(store.newId(), Buffer.alloc(32, n), `good-${n}`));
        const refused = { ...symmetricKey(store.newId(), Buffer.alloc(32, 3), 'refused'), owner: 'refused' };
        const results = await Promise.allSettled([
          store.commit({ create: [good[0] as ManagedObject], audit: [auditEntry({ operation: 'Create' })] }),
          store.commit({ create: [refused], audit: [auditEntry({ operation: 'Create' })] }),
          store.commit({ audit: [auditEntry({ operation: 'Get' })] }),
          store.commit({ create: [good[1] as ManagedObject] }),
        ]);
        for (const result of results) {
          expect(result.status).to.equal('rejected');
          expect(((result as PromiseRejectedResult).reason as Error).message).to.equal('refused at commit');
        }
        expect(await store.stats()).to.deep.equal({ objects: 0 });
        expect((await readTrail(store)).records.map((r) => r.operation)).to.deep.equal(['Before']);
        // The connection was given back in order: the next group commits.
        await store.commit({ create: [good[0] as ManagedObject], audit: [auditEntry({ operation: 'After' })] });
        expect((await readTrail(store)).records.map((r) => r.operation)).to.deep.equal(['Before', 'After']);
      });

      it(`a group holds at most ${MAX_GROUP_COMMITS} commits`, async () => {
        const store = await open(newKek());
        const count = MAX_GROUP_COMMITS * 2 + 10;
        const objects = Array.from({ length: count }, (_, i) => ({ ...symmetricKey(store.newId(), Buffer.alloc(32, i & 0xff), `bounded-${i}`), attributes: [] }));
        await Promise.all(objects.map((o) => store.commit({ create: [o] })));
        const { rows } = await db().query<{ n: number }>(`SELECT count(*)::int AS n FROM ${schema}.objects GROUP BY created ORDER BY n DESC LIMIT 1`);
        expect(rows[0]?.n).to.equal(MAX_GROUP_COMMITS);
        expect(store.groupCommitStats().transactions).to.be.at.least(3);
      });

      it('two nodes, 8 writers each, creating and updating at once: every commit kept, each writer\'s records in its order, one intact chain', async () => {
        const kek = newKek();
        const nodes = [await open(kek), await open(kek)];
        const perWriter = 15;
        await Promise.all(
          nodes.flatMap((node, n) =>
            Array.from({ length: 8 }, async (_, w) => {
              let last: ManagedObject | undefined;
              for (let i = 0; i < perWriter; i++) {
                const writer = `node${n}-writer${w}`;
                const entry = auditEntry({ identity: writer, item: i + 1 });
                if (last !== undefined && i % 3 === 2) {
                  const next = renamed(last, `${writer}-${i}`);
                  await node.commit({ update: [next], audit: [{ ...entry, operation: 'Modify', objects: [next.id] }] });
                  last = next;
                } else if (i % 5 === 4) {
                  await node.commit({ audit: [entry] });
                } else {
                  last = symmetricKey(node.newId(), Buffer.alloc(32, i), `${writer}-${i}`);
                  await node.commit({ create: [last], audit: [{ ...entry, operation: 'Create', objects: [last.id] }] });
                }
              }
            }),
          ),
        );
        const total = 2 * 8 * perWriter;
        const { records, head } = await readTrail(nodes[0] as PostgresStore);
        expect(records.map((r) => r.seq)).to.deep.equal(Array.from({ length: total }, (_, i) => i + 1));
        expect(head?.seq).to.equal(total);
        const byWriter = new Map<string, number[]>();
        for (const r of records) byWriter.set(r.identity, [...(byWriter.get(r.identity) ?? []), r.item ?? 0]);
        expect(byWriter.size).to.equal(16);
        for (const items of byWriter.values()) expect(items).to.deep.equal(Array.from({ length: perWriter }, (_, i) => i + 1));
        const creates = records.filter((r) => r.operation === 'Create').length;
        expect(await nodes[1]?.stats()).to.deep.equal({ objects: creates });
        for (const r of records.filter((record) => record.operation === 'Modify')) {
          const id = (JSON.parse(r.objectsJson) as string[])[0] ?? '';
          expect((await nodes[1]?.loadMetadata(id))?.revision, `${r.identity} item ${r.item}`).to.be.at.least(2);
        }
        for (const node of nodes) {
          const stats = node.groupCommitStats();
          expect(stats.commits).to.equal(8 * perWriter);
          expect(stats.transactions).to.be.below(stats.commits);
        }
        const reader = await (nodes[1] as PostgresStore).auditReader();
        try {
          expect(await verifyChain(reader)).to.deep.include({ intact: true, records: total });
        } finally {
          await reader.close();
        }
      });
    });
  });
});
