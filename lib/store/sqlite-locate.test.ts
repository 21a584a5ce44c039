/**
 * SqliteLocator (sqlite-locate.ts): the same candidates whichever way it reads, a selective
 * condition read through the index, an unselective one by stretches of the creation order
 * with turns of the event loop between them, and no statement that reads a table whole.
 */
import Database from 'better-sqlite3';
import { expect } from 'chai';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Enum, Tag, leaf, structure } from '../../ttlv/index.js';
import { FileKek, KeyMaterial } from '../crypto/index.js';
import type { ManagedObject } from '../objects/types.js';
import { openSqliteStore } from './index.js';
import type { SqliteStore } from './index.js';
import { SCAN_SEQS, SELECTIVE_ROWS, SqliteLocator } from './sqlite-locate.js';
import { suiteIndexKeys } from './store-suite.js';
import type { GrantRecord, LocateQuery } from './types.js';

/** Object i: owner alice or bob, AES or 3DES (one in 100), group g<i mod 7>; every tenth a Secret Data. */
function objectAt(id: string, i: number): ManagedObject {
  const attributes = [
    { name: 'Name', value: structure(Tag.Name, [leaf(Tag.NameValue, 'TextString', `key-${i}`), leaf(Tag.NameType, 'Enumeration', 1)]) },
    { name: 'Cryptographic Algorithm', value: leaf(Tag.CryptographicAlgorithm, 'Enumeration', i % 100 === 0 ? Enum.CryptographicAlgorithm.DES3 : Enum.CryptographicAlgorithm.AES) },
    { name: 'Object Group', value: leaf(Tag.ObjectGroup, 'TextString', `g${i % 7}`) },
  ];
  if (i % 3 === 0) attributes.push({ name: 'Comment', value: leaf(Tag.Description, 'TextString', 'every third') });
  return {
    id,
    objectType: i % 10 === 9 ? Enum.ObjectType.SecretData : Enum.ObjectType.SymmetricKey,
    owner: i % 2 === 0 ? 'alice' : 'bob',
    revision: 1,
    attributes,
    body: structure(Tag.SymmetricKey, [structure(Tag.KeyBlock, [leaf(Tag.KeyFormatType, 'Enumeration', Enum.KeyFormatType.Raw), structure(Tag.KeyValue, [leaf(Tag.KeyMaterial, 'ByteString', Buffer.alloc(16, i & 0xff))])])]),
  };
}

const COUNT = SELECTIVE_ROWS + 1500;
const AES = String(Enum.CryptographicAlgorithm.AES);
const TDES = String(Enum.CryptographicAlgorithm.DES3);

describe('SQLite store: Locate without reading the whole store in one statement', function () {
  this.timeout(60_000);
  let dir: string;
  let store: SqliteStore;
  let db: Database.Database;
  let locator: SqliteLocator;
  let ids: string[];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kmipd-locate-'));
    store = await openSqliteStore({ path: join(dir, 'kmipd.db'), kek: new FileKek(KeyMaterial.random(32)), indexKeys: suiteIndexKeys });
    const s = store;
    const objects = Array.from({ length: COUNT }, (_, i) => objectAt(s.newId(), i));
    ids = objects.map((o) => o.id);
    await s.commit({ create: objects });
    const grant = (g: Partial<GrantRecord>): GrantRecord => ({ targetKind: 'object', target: '', scopeOwner: null, granteeKind: 'identity', grantee: 'carol', permission: 'get', grantedBy: 'admin', created: 1_700_000_000_000, ...g });
    // carol sees object 5 by name, the g3 objects of alice through a group grant to her group.
    await s.addGrants([grant({ target: ids[5] ?? '' }), grant({ targetKind: 'group', target: 'g3', scopeOwner: 'alice', granteeKind: 'group', grantee: 'auditors' })]);
    db = new Database(join(dir, 'kmipd.db'), { readonly: true });
    locator = new SqliteLocator(db);
  });
  after(async () => {
    db?.close();
    await store?.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** What Locate must find, from the definition of objectAt. */
  const expected = (keep: (i: number) => boolean, limit = Number.POSITIVE_INFINITY): string[] => ids.filter((_, i) => keep(i)).slice(0, limit);
  const turns = { count: 0 };
  const yieldTurn = (): Promise<void> => {
    turns.count += 1;
    return new Promise((resolve) => setImmediate(resolve));
  };
  const planText = (query: LocateQuery): string => {
    const plan = locator.plan(query);
    const params = plan.kind === 'scan' ? [0, SCAN_SEQS, ...plan.params, 10] : plan.params;
    return (db.prepare(`EXPLAIN QUERY PLAN ${plan.sql}`).all(...params) as { detail: string }[]).map((r) => r.detail).join('\n');
  };

  const cases: [string, LocateQuery, (i: number) => boolean, 'driven' | 'scan'][] = [
    ['a Name', { equals: [{ name: 'Name', key: 'key-1234' }] }, (i) => i === 1234, 'driven'],
    ['an algorithm few have', { equals: [{ name: 'Cryptographic Algorithm', key: TDES }] }, (i) => i % 100 === 0, 'driven'],
    ['an algorithm most have', { equals: [{ name: 'Cryptographic Algorithm', key: AES }] }, (i) => i % 100 !== 0, 'scan'],
    ['an algorithm most have, and a group', { equals: [{ name: 'Cryptographic Algorithm', key: AES }, { name: 'Object Group', key: 'g2' }] }, (i) => i % 100 !== 0 && i % 7 === 2, 'driven'],
    ['an attribute a third have (has)', { has: ['Comment'] }, (i) => i % 3 === 0, 'driven'],
    ['an attribute every object has (has), of one owner', { has: ['Name'], owner: 'bob' }, (i) => i % 2 === 1, 'scan'],
    ['an object type', { objectType: Enum.ObjectType.SecretData }, (i) => i % 10 === 9, 'scan'],
    ['nothing: every object', {}, () => true, 'scan'],
    ['what carol may see', { visibleTo: { identity: 'carol', groups: ['auditors'] } }, (i) => i === 5 || (i % 7 === 3 && i % 2 === 0), 'scan'],
    ['what carol may see, by Name', { visibleTo: { identity: 'carol', groups: ['auditors'] }, equals: [{ name: 'Name', key: 'key-5' }] }, (i) => i === 5, 'driven'],
    ['what bob may see of an algorithm', { visibleTo: { identity: 'bob', groups: [] }, equals: [{ name: 'Cryptographic Algorithm', key: AES }] }, (i) => i % 2 === 1 && i % 100 !== 0, 'scan'],
    ['two conditions nobody meets together', { equals: [{ name: 'Cryptographic Algorithm', key: TDES }, { name: 'Object Group', key: 'nope' }] }, () => false, 'driven'],
  ];

  for (const [what, query, keep, kind] of cases) {
    it(`${what}: ${kind === 'driven' ? 'from its most selective condition' : 'by stretches'}, the same objects in creation order, with and without a limit`, async () => {
      expect(locator.plan(query).kind).to.equal(kind);
      expect(await locator.locate(query, yieldTurn)).to.deep.equal(expected(keep));
      expect(await locator.locate({ ...query, limit: 7 }, yieldTurn)).to.deep.equal(expected(keep, 7));
      // The store answers through the locator.
      expect(await store.locate({ ...query, limit: 7 })).to.deep.equal(expected(keep, 7));
    });
  }

  it('a scan of the whole store takes a turn of the event loop between stretches of SCAN_SEQS', async () => {
    turns.count = 0;
    expect(await locator.locate({ has: ['Name'], objectType: Enum.ObjectType.Certificate }, yieldTurn)).to.deep.equal([]);
    expect(turns.count).to.equal(Math.ceil(COUNT / SCAN_SEQS) - 1);
    // A limit met in the first stretch takes no turn at all.
    turns.count = 0;
    expect(await locator.locate({ has: ['Name'], limit: 3 }, yieldTurn)).to.deep.equal(ids.slice(0, 3));
    expect(turns.count).to.equal(0);
  });

  it('no plan reads a table whole: index searches, a range of the creation order, index probes (EXPLAIN QUERY PLAN)', () => {
    for (const [what, query] of cases) {
      const plan = planText(query);
      expect(plan, `${what}:\n${plan}`).to.not.match(/\bSCAN (objects|o|attribute_index|a|ai|grants|g)\b(?! USING)/);
    }
    expect(planText({ equals: [{ name: 'Name', key: 'key-1' }] })).to.match(/SEARCH attribute_index USING PRIMARY KEY \(name=\? AND key=\?\)/);
    expect(planText({ equals: [{ name: 'Cryptographic Algorithm', key: AES }] })).to.match(/SEARCH o USING INDEX \w+ \(seq>\? AND seq<\?\)/);
    expect(planText({ objectType: Enum.ObjectType.SecretData })).to.match(/SEARCH o USING INDEX objects_object_type \(object_type=\? AND seq>\? AND seq<\?\)/);
    expect(planText({ visibleTo: { identity: 'carol', groups: ['auditors'] } })).to.match(/grants_grantee|sqlite_autoindex_grants/);
  });
});
