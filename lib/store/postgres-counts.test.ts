import { expect } from 'chai';
import { Pool } from 'pg';
import { refuseOwnerAtCommit, startPostgres } from '../../test/support/postgres.js';
import type { PostgresCluster } from '../../test/support/postgres.js';
import { Enum, Tag, leaf, structure } from '../../ttlv/index.js';
import { FileKek, KeyMaterial } from '../crypto/index.js';
import type { KeyEncryptionKey } from '../crypto/index.js';
import type { ManagedObject } from '../objects/types.js';
import { POSTGRES_SCHEMA_VERSION, StoreConflictError, openPostgresStore } from './index.js';
import type { PostgresStore } from './index.js';
import { OBJECT_COUNT_SLOTS } from './postgres-counts.js';
import { suiteIndexKeys } from './store-suite.js';
import type { IndexKeys } from './codec.js';
import type { ImportItem, ObjectCount } from './types.js';
import { rejection } from '../../test/support/rejection.js';

const newKek = (): FileKek => new FileKek(KeyMaterial.random(32));

type Made = ManagedObject & { readonly body: NonNullable<ManagedObject['body']> };

function object(id: string, state: number | undefined, objectType: number = Enum.ObjectType.SymmetricKey): Made {
  return {
    id,
    objectType,
    owner: 'alice',
    revision: 1,
    attributes: state === undefined ? [] : [{ name: 'State', value: leaf(Tag.State, 'Enumeration', state) }],
    body: structure(Tag.SymmetricKey, [structure(Tag.KeyBlock, [leaf(Tag.KeyFormatType, 'Enumeration', Enum.KeyFormatType.Raw)])]),
  };
}

/** The next revision in another State; Destroyed drops the body, as Destroy does. */
function moved(o: ManagedObject, state: number): ManagedObject {
  return {
    ...o,
    revision: o.revision + 1,
    attributes: [...o.attributes.filter((a) => a.name !== 'State'), { name: 'State', value: leaf(Tag.State, 'Enumeration', state) }],
    ...(state === Enum.State.Destroyed ? { body: undefined } : {}),
  };
}

const sorted = (counts: readonly ObjectCount[]): ObjectCount[] =>
  [...counts].sort((a, b) => a.objectType - b.objectType || (a.state ?? -1) - (b.state ?? -1));

describe('PostgreSQL object counts (lib/store/postgres-counts.ts) against a throwaway cluster', function () {
  let cluster: PostgresCluster | undefined;
  let admin: Pool | undefined;
  let schemas = 0;
  let schema = '';
  const opened: PostgresStore[] = [];

  before(async function () {
    this.timeout(60_000);
    cluster = await startPostgres();
    admin = new Pool({ connectionString: cluster.connectionString, application_name: 'kmipd-test-admin' });
  });
  after(async () => {
    await admin?.end();
    await cluster?.stop();
  });
  beforeEach(() => {
    schema = `kmipd_counts_${++schemas}`;
  });
  afterEach(async () => {
    for (const store of opened.splice(0)) await store.close();
    await db().query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  });

  const db = (): Pool => {
    if (admin === undefined) throw new Error('the PostgreSQL cluster did not start');
    return admin;
  };
  const open = async (kek: KeyEncryptionKey, indexKeys: IndexKeys = suiteIndexKeys, inSchema = schema): Promise<PostgresStore> => {
    if (cluster === undefined) throw new Error('the PostgreSQL cluster did not start');
    const store = await openPostgresStore({ connectionString: cluster.connectionString, kek, indexKeys, schema: inSchema });
    opened.push(store);
    return store;
  };

  /** What the kept counts must equal: every object joined to its State row (the query countByState used to run). */
  const fullCount = async (inSchema = schema): Promise<ObjectCount[]> => {
    const { rows } = await db().query<{ object_type: number; state: string | null; n: number }>(
      `SELECT o.object_type, convert_from(st.key, 'UTF8') AS state, count(*)::int AS n FROM ${inSchema}.objects o
       LEFT JOIN ${inSchema}.attribute_index st ON st.object_id = o.id AND st.name = convert_to('State', 'UTF8') AND st.key IS NOT NULL
       GROUP BY 1, 2`,
    );
    return sorted(rows.map((row) => ({ objectType: row.object_type, state: row.state === null ? undefined : Number(row.state), count: row.n })));
  };
  const expectExact = async (store: PostgresStore, inSchema = schema): Promise<void> => {
    expect(sorted(await store.countByState())).to.deep.equal(await fullCount(inSchema));
  };
  /** The kept rows alone, summed over slots (fails where nothing keeps them). */
  const keptTotal = async (): Promise<number> =>
    (await db().query<{ n: number }>(`SELECT coalesce(sum(n), 0)::int AS n FROM ${schema}.object_counts`)).rows[0]?.n ?? -1;

  it('creates, State changes and destroys move the counts in their own commit', async () => {
    const store = await open(newKek());
    expect(await store.countByState()).to.deep.equal([]);
    const keys = [1, 2, 3].map(() => object(store.newId(), Enum.State.PreActive));
    const secret = object(store.newId(), Enum.State.Active, Enum.ObjectType.SecretData);
    const opaque = object(store.newId(), undefined, Enum.ObjectType.OpaqueObject);
    await store.commit({ create: [...keys, secret] });
    await store.commit({ create: [opaque] });
    expect(await keptTotal()).to.equal(5);
    const [k1, k2, k3] = keys as [Made, Made, Made];
    const active = moved(k1, Enum.State.Active);
    await store.commit({ update: [active] });
    // Several changes of one object's State in one commit of several objects, with a create.
    const later = object(store.newId(), Enum.State.PreActive);
    await store.commit({ create: [later], update: [moved(k2, Enum.State.Destroyed), moved(active, Enum.State.Deactivated), moved(secret, Enum.State.Compromised)] });
    // An update that keeps the State (a rename, say) moves nothing.
    await store.commit({ update: [{ ...k3, revision: 2, attributes: [...k3.attributes, { name: 'Name', value: leaf(Tag.Name, 'TextString', 'k3') }] }] });
    // An object that loses its State row.
    await store.commit({ update: [{ ...later, revision: 2, attributes: [] }] });
    expect(sorted(await store.countByState())).to.deep.equal([
      { objectType: Enum.ObjectType.SymmetricKey, state: undefined, count: 1 },
      { objectType: Enum.ObjectType.SymmetricKey, state: Enum.State.PreActive, count: 1 },
      { objectType: Enum.ObjectType.SymmetricKey, state: Enum.State.Deactivated, count: 1 },
      { objectType: Enum.ObjectType.SymmetricKey, state: Enum.State.Destroyed, count: 1 },
      { objectType: Enum.ObjectType.SecretData, state: Enum.State.Compromised, count: 1 },
      { objectType: Enum.ObjectType.OpaqueObject, state: undefined, count: 1 },
    ]);
    await expectExact(store);
    expect(await keptTotal()).to.equal(6);
  });

  it('an object whose type changes moves from one type to the other', async () => {
    const store = await open(newKek());
    const o = object(store.newId(), Enum.State.Active);
    await store.commit({ create: [o] });
    await store.commit({ update: [{ ...o, revision: 2, objectType: Enum.ObjectType.SecretData }] });
    expect(await store.countByState()).to.deep.equal([{ objectType: Enum.ObjectType.SecretData, state: Enum.State.Active, count: 1 }]);
    await expectExact(store);
  });

  it('a commit that fails leaves no delta: alone, refused within its group (savepoint), or at a failed COMMIT', async () => {
    const store = await open(newKek());
    const [a, b, c] = [1, 2, 3].map(() => object(store.newId(), Enum.State.PreActive)) as [Made, Made, Made];
    await store.commit({ create: [a, b, c] });
    const before = sorted(await store.countByState());

    // Alone: a create and a State change, then a stale update: nothing of it is kept.
    const stale = await rejection(store.commit({ create: [object(store.newId(), Enum.State.Active)], update: [moved(a, Enum.State.Active), { ...moved(b, Enum.State.Active), revision: 5 }] }));
    expect(stale).to.be.instanceOf(StoreConflictError);
    expect(sorted(await store.countByState())).to.deep.equal(before);

    // In one group (commits queued together share a transaction): the refused ones had
    // creates and State changes written before their savepoint was rolled back.
    const kept = object(store.newId(), Enum.State.Active);
    const statsBefore = store.groupCommitStats();
    const results = await Promise.allSettled([
      store.commit({ create: [kept], update: [moved(a, Enum.State.Active)] }),
      store.commit({ create: [object(store.newId(), Enum.State.Active)], update: [{ ...moved(b, Enum.State.Destroyed), revision: 3 }] }),
      store.commit({ create: [object(store.newId(), Enum.State.Compromised), object(c.id, Enum.State.Active)] }),
      store.commit({ update: [moved(c, Enum.State.Deactivated)] }),
    ]);
    expect(results.map((r) => r.status)).to.deep.equal(['fulfilled', 'rejected', 'rejected', 'fulfilled']);
    const statsAfter = store.groupCommitStats();
    expect(statsAfter.transactions - statsBefore.transactions).to.equal(1);
    expect(sorted(await store.countByState())).to.deep.equal([
      { objectType: Enum.ObjectType.SymmetricKey, state: Enum.State.PreActive, count: 1 },
      { objectType: Enum.ObjectType.SymmetricKey, state: Enum.State.Active, count: 2 },
      { objectType: Enum.ObjectType.SymmetricKey, state: Enum.State.Deactivated, count: 1 },
    ]);
    await expectExact(store);

    // A COMMIT refused by a deferred constraint: the whole group, its deltas with it.
    await db().query(refuseOwnerAtCommit(schema));
    const counted = sorted(await store.countByState());
    const failed = await Promise.allSettled([
      store.commit({ create: [{ ...object(store.newId(), Enum.State.Active), owner: 'refused' }] }),
      store.commit({ update: [moved(moved(a, Enum.State.Active), Enum.State.Deactivated)] }),
    ]);
    expect(failed.map((r) => r.status)).to.deep.equal(['rejected', 'rejected']);
    expect(sorted(await store.countByState())).to.deep.equal(counted);
    await expectExact(store);
  });

  it('two nodes writing at once (creates, activations, destroys): the counts equal a full count, spread over slots', async () => {
    const kek = newKek();
    const nodes = [await open(kek), await open(kek)];
    await Promise.all(
      nodes.flatMap((node, n) =>
        Array.from({ length: 6 }, async (_, w) => {
          let last: ManagedObject | undefined;
          for (let i = 0; i < 20; i++) {
            if (last !== undefined && i % 4 === 1) {
              last = moved(last, Enum.State.Active);
              await node.commit({ update: [last] });
            } else if (last !== undefined && i % 4 === 2) {
              last = moved(last, Enum.State.Destroyed);
              await node.commit({ update: [last] });
            } else {
              const type = (n + w + i) % 3 === 0 ? Enum.ObjectType.SecretData : Enum.ObjectType.SymmetricKey;
              last = object(node.newId(), Enum.State.PreActive, type);
              await node.commit({ create: [last, object(node.newId(), undefined, Enum.ObjectType.OpaqueObject)] });
            }
          }
        }),
      ),
    );
    for (const node of nodes) await expectExact(node);
    expect(await keptTotal()).to.equal(2 * 6 * 10 * 2);
    const { rows } = await db().query<{ slots: number }>(`SELECT count(DISTINCT slot)::int AS slots FROM ${schema}.object_counts`);
    expect(rows[0]?.slots).to.be.above(1).and.at.most(OBJECT_COUNT_SLOTS);
  });

  it('a database from before the counts is counted once when four nodes start on it together, an older node\'s commit in flight included', async () => {
    const kek = newKek();
    const old = await open(kek);
    const made = [object(old.newId(), Enum.State.PreActive), object(old.newId(), Enum.State.Active), object(old.newId(), undefined, Enum.ObjectType.OpaqueObject)];
    await old.commit({ create: made });
    await old.commit({ update: [moved(made[1] as ManagedObject, Enum.State.Destroyed)] });
    await old.close();
    // Back to the schema before this step, as an older kmipd left it.
    await db().query(`DROP TABLE ${schema}.object_counts; DELETE FROM ${schema}.schema_migrations WHERE version = ${POSTGRES_SCHEMA_VERSION}`);
    // An older node's commit in flight: it writes no counts, and commits while the nodes start.
    const older = await db().connect();
    try {
      await older.query('BEGIN');
      await older.query(`INSERT INTO ${schema}.objects (id, object_type, owner, revision, attributes, created, updated) VALUES ('older', $1, 'x', 1, '\\x', now(), now())`, [Enum.ObjectType.SecretData]);
      await older.query(`INSERT INTO ${schema}.attribute_index (object_id, name, key) VALUES ('older', convert_to('State', 'UTF8'), convert_to('${Enum.State.Active}', 'UTF8'))`);
      const starting = Promise.all([1, 2, 3, 4].map(() => open(kek)));
      // The migration waits for the older commit (its SHARE lock on objects).
      const deadline = Date.now() + 10_000;
      for (;;) {
        const { rows } = await db().query<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'kmipd' AND wait_event_type = 'Lock'");
        if ((rows[0]?.n ?? 0) >= 4) break;
        if (Date.now() > deadline) expect.fail('the starting nodes never waited');
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      await older.query('COMMIT');
      const nodes = await starting;
      expect(nodes.map((node) => node.migration.from).sort((x, y) => x - y)).to.deep.equal([POSTGRES_SCHEMA_VERSION - 1, ...Array.from({ length: 3 }, () => POSTGRES_SCHEMA_VERSION)]);
      expect(sorted(await (nodes[0] as PostgresStore).countByState())).to.deep.equal([
        { objectType: Enum.ObjectType.SymmetricKey, state: Enum.State.PreActive, count: 1 },
        { objectType: Enum.ObjectType.SymmetricKey, state: Enum.State.Destroyed, count: 1 },
        { objectType: Enum.ObjectType.SecretData, state: Enum.State.Active, count: 1 },
        { objectType: Enum.ObjectType.OpaqueObject, state: undefined, count: 1 },
      ]);
      // And kept from there on.
      await (nodes[2] as PostgresStore).commit({ create: [object('after', Enum.State.Active)], update: [moved(made[0] as ManagedObject, Enum.State.Active)] });
      for (const node of nodes) await expectExact(node);
    } finally {
      older.release(true); // a fresh connection for the next test, whatever state this one is in
    }
  });

  it('what a node of the older release writes is not counted; recountObjects counts anew, waiting for its commit in flight, while nodes write', async () => {
    const kek = newKek();
    const [store, other] = [await open(kek), await open(kek)] as [PostgresStore, PostgresStore];
    const [a, b] = [object(store.newId(), Enum.State.PreActive), object(store.newId(), Enum.State.Active)] as [Made, Made];
    await store.commit({ create: [a, b] });
    const older = await db().connect();
    const state = (value: number): Buffer => Buffer.from(String(value));
    const stateName = Buffer.from('State');
    try {
      // As the older release writes: a create (the object, then its index rows), a State
      // change of an object of this release, a change of type, a delete (its rows by cascade).
      await older.query('BEGIN');
      await older.query(`INSERT INTO ${schema}.objects (id, object_type, owner, revision, attributes, created, updated) VALUES ('older-1', $1, '\\x', 1, '\\x', now(), now())`, [Enum.ObjectType.SecretData]);
      await older.query(`INSERT INTO ${schema}.attribute_index (object_id, name, key) VALUES ('older-1', $1, $2), ('older-1', $3, NULL)`, [stateName, state(Enum.State.PreActive), Buffer.from('Name')]);
      await older.query('COMMIT');
      await older.query(`UPDATE ${schema}.objects SET revision = revision + 1 WHERE id = $1`, [a.id]);
      await older.query(`UPDATE ${schema}.attribute_index SET key = $2 WHERE object_id = $1 AND name = $3`, [a.id, state(Enum.State.Deactivated), stateName]);
      await older.query(`UPDATE ${schema}.objects SET object_type = $1 WHERE id = 'older-1'`, [Enum.ObjectType.OpaqueObject]);
      await older.query(`DELETE FROM ${schema}.objects WHERE id = $1`, [b.id]);
      // The kept counts still say what this release wrote.
      expect(sorted(await store.countByState())).to.deep.equal([
        { objectType: Enum.ObjectType.SymmetricKey, state: Enum.State.PreActive, count: 1 },
        { objectType: Enum.ObjectType.SymmetricKey, state: Enum.State.Active, count: 1 },
      ]);
      const exact = [
        { objectType: Enum.ObjectType.SymmetricKey, state: Enum.State.Deactivated, count: 1 },
        { objectType: Enum.ObjectType.OpaqueObject, state: Enum.State.PreActive, count: 1 },
      ];
      expect(await fullCount()).to.deep.equal(exact);

      // An older node's create in flight: the recount waits for its commit and counts it.
      await older.query('BEGIN');
      await older.query(`INSERT INTO ${schema}.objects (id, object_type, owner, revision, attributes, created, updated) VALUES ('older-2', $1, '\\x', 1, '\\x', now(), now())`, [Enum.ObjectType.SecretData]);
      const recount = other.recountObjects();
      const deadline = Date.now() + 10_000;
      for (;;) {
        const { rows } = await db().query<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'kmipd' AND wait_event_type = 'Lock'");
        if ((rows[0]?.n ?? 0) >= 1) break;
        if (Date.now() > deadline) expect.fail('the recount never waited');
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      await older.query('COMMIT');
      const counted = sorted(await recount);
      expect(counted).to.deep.equal(sorted([...exact, { objectType: Enum.ObjectType.SecretData, state: undefined, count: 1 }]));
      await expectExact(store);
      expect(await keptTotal()).to.equal(3);

      // Drifted again, then recounted while both nodes create, activate and destroy.
      await older.query(`DELETE FROM ${schema}.objects WHERE id = 'older-2'`);
      let writing = true;
      const writers = [store, other].flatMap((node) =>
        [1, 2, 3].map(async () => {
          while (writing) {
            const made = object(node.newId(), Enum.State.PreActive);
            await node.commit({ create: [made] });
            const active = moved(made, Enum.State.Active);
            await node.commit({ update: [active] });
            await node.commit({ update: [moved(active, Enum.State.Destroyed)] });
          }
        }),
      );
      for (let i = 0; i < 3; i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        await (i % 2 === 0 ? store : other).recountObjects();
      }
      writing = false;
      await Promise.all(writers);
      await expectExact(store);
      await expectExact(other);
    } finally {
      older.release(true); // a fresh connection for the next test, whatever state this one is in
    }
  });

  it('a restore (importRows) and a refresh of the State index rows count anew', async () => {
    // Objects written while the index keys left State out: all counted without a State.
    const kek = newKek();
    const withoutState: IndexKeys = (attributes) => suiteIndexKeys(attributes).filter((k) => k.name !== 'State');
    const unindexed = await open(kek, withoutState);
    const made = [1, 2, 3, 4, 5].map((i) => object(unindexed.newId(), i % 2 === 0 ? Enum.State.Active : Enum.State.PreActive));
    await unindexed.commit({ create: made });
    expect(await unindexed.countByState()).to.deep.equal([{ objectType: Enum.ObjectType.SymmetricKey, state: undefined, count: 5 }]);
    const store = await open(kek);
    expect(await store.refreshIndex('State', 1, 2)).to.deep.equal({ objects: 2, done: false });
    await expectExact(store);
    while (!(await store.refreshIndex('State', 1, 2)).done);
    expect(sorted(await store.countByState())).to.deep.equal([
      { objectType: Enum.ObjectType.SymmetricKey, state: Enum.State.PreActive, count: 3 },
      { objectType: Enum.ObjectType.SymmetricKey, state: Enum.State.Active, count: 2 },
    ]);

    const items: ImportItem[] = [];
    for await (const item of store.exportRows()) if (!('kek' in item)) items.push(item);
    async function* fromArray(list: readonly ImportItem[]): AsyncIterable<ImportItem> {
      yield* list;
    }
    const target = await open(kek, suiteIndexKeys, `${schema}_restored`);
    try {
      await target.commit({ create: [object(target.newId(), Enum.State.Compromised)] });
      expect(await target.importRows([], fromArray(items), { replace: true })).to.equal(5);
      expect(sorted(await target.countByState())).to.deep.equal(sorted(await store.countByState()));
      await expectExact(target, `${schema}_restored`);
      expect(await target.importRows([], fromArray(items.slice(0, 1)), { replace: true })).to.equal(1);
      expect(await target.countByState()).to.deep.equal([{ objectType: Enum.ObjectType.SymmetricKey, state: Enum.State.PreActive, count: 1 }]);
    } finally {
      await target.close();
      opened.splice(opened.indexOf(target), 1);
      await db().query(`DROP SCHEMA ${schema}_restored CASCADE`);
    }
  });
});
