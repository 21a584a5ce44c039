/**
 * The store conformance suite: every back end (SQLite, PostgreSQL) runs these same tests.
 * A back end's test file calls `storeSuite(name, open)`, where `open` gives a fresh, empty
 * store built with `suiteIndexKeys` and a cleanup that closes it and removes its data.
 */
import { expect } from 'chai';
import { Enum, Tag, formatItem, itemsEqual, leaf, structure } from '../../ttlv/index.js';
import type { TtlvItem } from '../../ttlv/index.js';
import type { AttributeInstance } from '../attributes/types.js';
import type { ManagedObject } from '../objects/types.js';
import { StoreConflictError, UniqueValueError } from './types.js';
import type { UniqueClaim } from './types.js';
import { auditStoreTests } from '../audit/store-audit-suite.js';
import type { GrantRecord, Store } from './types.js';
import type { MaintenanceStore } from './types.js';
import { auditEntry, readTrail } from '../audit/store-audit-suite.js';
import { verifyChain } from '../audit/verify.js';
import type { AuditSource } from '../audit/record.js';
import type { IndexKeys } from './codec.js';
import { FileKek, KekError, KekRing, KeyMaterial } from '../crypto/index.js';
import type { KeyEncryptionKey } from '../crypto/index.js';

/**
 * The index keys the suite's expectations assume (the real ones come from the attribute
 * module): Name → its Name Value, a Text String → the text, an Enumeration or Integer →
 * its decimal value; any other attribute a null key (found by `has` only).
 */
export function suiteIndexKeys(attributes: readonly AttributeInstance[]): { name: string; key: string | null }[] {
  const keys: { name: string; key: string | null }[] = [];
  for (const { name, value } of attributes) {
    if (value.type === 'Structure') {
      const nameValue = value.value.find((item) => item.tag === Tag.NameValue);
      keys.push({ name, key: value.tag === Tag.Name && nameValue?.type === 'TextString' ? nameValue.value : null });
    } else if (value.type === 'TextString') {
      keys.push({ name, key: value.value });
    } else if (value.type === 'Enumeration' || value.type === 'Integer') {
      keys.push({ name, key: String(value.value) });
    } else {
      keys.push({ name, key: null });
    }
  }
  return keys;
}

export interface OpenedStore {
  readonly store: Store;
  cleanup(): Promise<void>;
}

// ---------------------------------------------------------------------------------------
// Fixtures

const nameAttribute = (text: string): AttributeInstance => ({
  name: 'Name',
  value: structure(Tag.Name, [
    leaf(Tag.NameValue, 'TextString', text),
    leaf(Tag.NameType, 'Enumeration', Enum.NameType.UninterpretedTextString),
  ]),
});

const stateAttribute = (state: number): AttributeInstance => ({ name: 'State', value: leaf(Tag.State, 'Enumeration', state) });

function keyBody(material: Uint8Array): TtlvItem {
  return structure(Tag.SymmetricKey, [
    structure(Tag.KeyBlock, [
      leaf(Tag.KeyFormatType, 'Enumeration', Enum.KeyFormatType.Raw),
      structure(Tag.KeyValue, [leaf(Tag.KeyMaterial, 'ByteString', material)]),
      leaf(Tag.CryptographicAlgorithm, 'Enumeration', Enum.CryptographicAlgorithm.AES),
      leaf(Tag.CryptographicLength, 'Integer', material.length * 8),
    ]),
  ]);
}

interface Fixture {
  readonly owner?: string;
  readonly objectType?: number;
  readonly names?: readonly string[];
  readonly attributes?: readonly AttributeInstance[];
  readonly body?: TtlvItem | undefined;
}

function newObject(store: Store, fixture: Fixture = {}): ManagedObject {
  const id = store.newId();
  return {
    id,
    objectType: fixture.objectType ?? Enum.ObjectType.SymmetricKey,
    owner: fixture.owner ?? 'alice',
    attributes: [...(fixture.names ?? []).map(nameAttribute), stateAttribute(Enum.State.PreActive), ...(fixture.attributes ?? [])],
    body: 'body' in fixture ? fixture.body : keyBody(Buffer.alloc(32, id.charCodeAt(0))),
    revision: 1,
  };
}

async function create(store: Store, fixture: Fixture = {}): Promise<ManagedObject> {
  const object = newObject(store, fixture);
  await store.commit({ create: [object] });
  return object;
}

/** The next revision of `object` with some fields changed, as an operation would commit it. */
function changed(object: ManagedObject, change: Partial<Pick<ManagedObject, 'attributes' | 'body' | 'owner'>>): ManagedObject {
  return { ...object, ...change, revision: object.revision + 1 };
}

function renamed(object: ManagedObject, name: string): ManagedObject {
  return changed(object, { attributes: object.attributes.map((a) => (a.name === 'Name' ? nameAttribute(name) : a)) });
}

function expectItem(actual: TtlvItem | undefined, expected: TtlvItem | undefined, what: string): void {
  if (expected === undefined || actual === undefined) {
    expect(actual, what).to.equal(expected);
    return;
  }
  const message = `${what} differs:\nexpected ${formatItem(expected)}\nactual   ${formatItem(actual)}`;
  expect(itemsEqual(actual, expected), message).to.equal(true);
}

function expectSameObject(actual: ManagedObject | undefined, expected: ManagedObject): void {
  expect(actual, `object ${expected.id}`).to.not.equal(undefined);
  if (actual === undefined) return;
  expect({ id: actual.id, objectType: actual.objectType, owner: actual.owner, revision: actual.revision }).to.deep.equal({
    id: expected.id,
    objectType: expected.objectType,
    owner: expected.owner,
    revision: expected.revision,
  });
  expect(actual.attributes.map((a) => a.name)).to.deep.equal(expected.attributes.map((a) => a.name));
  expected.attributes.forEach((a, i) => expectItem(actual.attributes[i]?.value, a.value, `attribute ${i} (${a.name})`));
  expectItem(actual.body, expected.body, 'body');
}

async function expectConflict(promise: Promise<unknown>): Promise<StoreConflictError> {
  try {
    await promise;
  } catch (error) {
    expect(error).to.be.instanceOf(StoreConflictError);
    return error as StoreConflictError;
  }
  expect.fail('expected a StoreConflictError');
}

// ---------------------------------------------------------------------------------------
// The suite

export function storeSuite(name: string, open: () => Promise<OpenedStore>): void {
  describe(`Store conformance: ${name}`, function () {
    let opened: OpenedStore | undefined;
    let store: Store;

    beforeEach(async () => {
      opened = await open();
      store = opened.store;
    });
    afterEach(async () => {
      await opened?.cleanup();
      opened = undefined;
    });

    // Audit records (lib/audit/store-audit-suite.ts).
    auditStoreTests(() => store);

    describe('create and load', () => {
      it('round trips attributes of every item type and the body (Byte Strings by content)', async () => {
        const object = newObject(store, {
          names: ['first', 'second'],
          attributes: [
            { name: 'Cryptographic Algorithm', value: leaf(Tag.CryptographicAlgorithm, 'Enumeration', Enum.CryptographicAlgorithm.AES) },
            { name: 'Cryptographic Length', value: leaf(Tag.CryptographicLength, 'Integer', -256) },
            { name: 'Usage Limits Count', value: leaf(Tag.UsageLimitsCount, 'LongInteger', -(1n << 62n)) },
            { name: 'x-big', value: leaf(Tag.AttributeValue, 'BigInteger', -(1n << 100n) + 3n) },
            { name: 'Fresh', value: leaf(Tag.Fresh, 'Boolean', true) },
            { name: 'Description', value: leaf(Tag.Description, 'TextString', 'grüße, 鍵 and \u0000 nul') },
            { name: 'Digest', value: structure(Tag.Digest, [leaf(Tag.OpaqueDataValue, 'ByteString', Buffer.from([0, 1, 2, 0xff]))]) },
            { name: 'x-empty', value: leaf(Tag.AttributeValue, 'ByteString', new Uint8Array(0)) },
            { name: 'Initial Date', value: leaf(Tag.InitialDate, 'DateTime', 1_700_000_000n) },
            { name: 'x-interval', value: leaf(Tag.AttributeValue, 'Interval', 0xffffffff) },
            { name: 'Last Change Date', value: leaf(Tag.LastChangeDate, 'DateTimeExtended', 1_700_000_000_123_456n) },
            { name: 'x-struct', value: structure(Tag.AttributeValue, []) },
          ],
        });
        await store.commit({ create: [object] });
        expectSameObject(await store.load(object.id), object);
      });

      it('loads an object without a body (e.g. registered already destroyed)', async () => {
        const object = await create(store, { body: undefined });
        expectSameObject(await store.load(object.id), object);
      });

      it('keeps its own copy: changing the caller\'s bytes after commit, or a loaded object\'s bytes, changes nothing stored', async () => {
        const material = Buffer.alloc(32, 0x11);
        const object = await create(store, { body: keyBody(material.subarray(0, 32)) });
        material.fill(0x22);
        const first = await store.load(object.id);
        expectSameObject(first, { ...object, body: keyBody(Buffer.alloc(32, 0x11)) });
        const keyBlock = first?.body?.type === 'Structure' ? first.body.value[0] : undefined;
        const keyValue = keyBlock?.type === 'Structure' ? keyBlock.value[1] : undefined;
        const bytes = keyValue?.type === 'Structure' ? keyValue.value[0]?.value : undefined;
        expect(bytes).to.be.instanceOf(Uint8Array);
        (bytes as Uint8Array).fill(0x33);
        expectSameObject(await store.load(object.id), { ...object, body: keyBody(Buffer.alloc(32, 0x11)) });
      });

      it('loadMetadata gives the attributes and whether a body exists, without the body', async () => {
        const object = await create(store, { names: ['meta'] });
        const meta = await store.loadMetadata(object.id);
        expect(meta).to.not.equal(undefined);
        expect(meta).not.to.have.property('body');
        expect(meta?.hasBody).to.equal(object.body !== undefined);
        expect(meta?.attributes.map((a) => a.name)).to.deep.equal(object.attributes.map((a) => a.name));
        expect(meta?.revision).to.equal(1);
        const bodiless = await create(store, { body: undefined });
        expect((await store.loadMetadata(bodiless.id))?.hasBody).to.equal(false);
        expect(await store.loadMetadata(store.newId())).to.equal(undefined);
      });

      it('load of an unknown identifier gives undefined', async () => {
        await create(store);
        expect(await store.load(store.newId())).to.equal(undefined);
        expect(await store.load('')).to.equal(undefined);
      });

      it('newId gives distinct identifiers that no object uses', async () => {
        const ids = new Set(Array.from({ length: 1000 }, () => store.newId()));
        expect(ids.size).to.equal(1000);
        const object = await create(store);
        expect(ids.has(object.id)).to.equal(false);
      });

      it('creates several objects in one commit', async () => {
        const objects = [newObject(store, { names: ['a'] }), newObject(store, { names: ['b'] }), newObject(store, { names: ['c'] })];
        await store.commit({ create: objects });
        for (const object of objects) expectSameObject(await store.load(object.id), object);
      });

      it('an empty commit changes nothing', async () => {
        await store.commit({});
        await store.commit({ create: [], update: [] });
        expect(await store.locate({})).to.deep.equal([]);
      });

      it('creating an identifier that exists fails with StoreConflictError and writes nothing', async () => {
        const object = await create(store, { names: ['original'] });
        const other = newObject(store, { names: ['other'] });
        await expectConflict(store.commit({ create: [other, { ...object, attributes: [nameAttribute('impostor')] }] }));
        expectSameObject(await store.load(object.id), object);
        expect(await store.load(other.id)).to.equal(undefined);
      });
    });

    describe('update (optimistic concurrency)', () => {
      it('applies an update whose revision follows the stored one', async () => {
        const object = await create(store, { names: ['key'] });
        const next = changed(object, { attributes: [...object.attributes.slice(0, 1), stateAttribute(Enum.State.Active)] });
        await store.commit({ update: [next] });
        expectSameObject(await store.load(object.id), next);
        const third = changed(next, { owner: 'bob' });
        await store.commit({ update: [third] });
        expectSameObject(await store.load(object.id), third);
      });

      it('a stale revision fails with StoreConflictError and nothing changes', async () => {
        const object = await create(store, { names: ['key'] });
        const next = renamed(object, 'second');
        await store.commit({ update: [next] });
        await expectConflict(store.commit({ update: [renamed(object, 'stale')] })); // revision 2 again
        await expectConflict(store.commit({ update: [{ ...renamed(next, 'ahead'), revision: 4 }] }));
        expectSameObject(await store.load(object.id), next);
        expect(await store.locate({ equals: [{ name: 'Name', key: 'stale' }] })).to.deep.equal([]);
      });

      it('a conflict undoes the whole commit: creates and the other updates in it do not persist', async () => {
        const a = await create(store, { names: ['a'] });
        const b = await create(store, { names: ['b'] });
        await store.commit({ update: [renamed(b, 'b2')] });
        const fresh = newObject(store, { names: ['fresh'] });
        await expectConflict(store.commit({ create: [fresh], update: [renamed(a, 'a2'), renamed(b, 'b3-stale')] }));
        expect(await store.load(fresh.id)).to.equal(undefined);
        expectSameObject(await store.load(a.id), a);
        expect(await store.locate({ equals: [{ name: 'Name', key: 'fresh' }] })).to.deep.equal([]);
        expect(await store.locate({ equals: [{ name: 'Name', key: 'a2' }] })).to.deep.equal([]);
        expect(await store.locate({ equals: [{ name: 'Name', key: 'a' }] })).to.deep.equal([a.id]);
        expect(await store.locate({})).to.deep.equal([a.id, b.id]);
      });

      it('an update of an unknown object fails with StoreConflictError', async () => {
        const ghost = { ...newObject(store), revision: 2 };
        await expectConflict(store.commit({ update: [ghost] }));
        expect(await store.load(ghost.id)).to.equal(undefined);
      });

      it('of two concurrent updates from the same revision, exactly one wins', async () => {
        const object = await create(store, { names: ['race'] });
        const results = await Promise.allSettled([
          store.commit({ update: [renamed(object, 'left')] }),
          store.commit({ update: [renamed(object, 'right')] }),
        ]);
        const won = results.filter((r) => r.status === 'fulfilled');
        const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
        expect(won).to.have.length(1);
        expect(lost).to.have.length(1);
        expect(lost[0]?.reason).to.be.instanceOf(StoreConflictError);
        const stored = await store.load(object.id);
        expect(stored?.revision).to.equal(2);
        const winner = results[0]?.status === 'fulfilled' ? 'left' : 'right';
        expect(await store.locate({ equals: [{ name: 'Name', key: winner }] })).to.deep.equal([object.id]);
      });

      it('the body can become undefined (destroyed) and the attributes remain', async () => {
        const object = await create(store, { names: ['doomed'] });
        const destroyed = changed(object, { body: undefined, attributes: [...object.attributes, stateAttribute(Enum.State.Destroyed)] });
        await store.commit({ update: [destroyed] });
        const stored = await store.load(object.id);
        expectSameObject(stored, destroyed);
        expect(stored?.body).to.equal(undefined);
        expect(await store.locate({ equals: [{ name: 'Name', key: 'doomed' }] })).to.deep.equal([object.id]);
      });
    });

    describe('unique values (Changes.unique)', () => {
      const claim = (value: string, owner = 'alice'): UniqueClaim => ({ owner, name: 'Name', key: value });

      it("a commit claiming a value another of the owner's objects with key material holds is refused whole: UniqueValueError, nothing written", async () => {
        const holder = await create(store, { names: ['payroll'] });
        const audited = (await readTrail(store)).records.length;
        const taker = newObject(store, { names: ['payroll'] });
        const other = newObject(store, { names: ['other'] });
        const error = await store.commit({ create: [taker, other], unique: [claim('other'), claim('payroll')], audit: [auditEntry({ correlation: 'refused' })] }).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(error).to.be.instanceOf(UniqueValueError);
        expect(error).to.deep.include({ holder: holder.id, claim: claim('payroll') });
        expect(await store.load(taker.id)).to.equal(undefined);
        expect(await store.load(other.id)).to.equal(undefined);
        expect((await readTrail(store)).records.length).to.equal(audited);
      });

      it('not refused: a holder of another owner, a holder without key material, and objects of the commit itself giving the value up or taking it', async () => {
        await create(store, { names: ['shared'], owner: 'bob' });
        await create(store, { names: ['destroyed'], body: undefined });
        const first = await create(store, { names: ['handed-on'] });
        const taker = newObject(store, { names: ['shared'] });
        await store.commit({ create: [taker], unique: [claim('shared')] });
        const second = newObject(store, { names: ['destroyed'] });
        await store.commit({ create: [second], unique: [claim('destroyed')] });
        // Re-key: the replacement takes the name in the commit that renames the old object.
        const replacement = newObject(store, { names: ['handed-on'] });
        await store.commit({ create: [replacement], update: [renamed(first, 'retired')], unique: [claim('handed-on')] });
        expect((await store.load(replacement.id))?.revision).to.equal(1);
        // The holder is the commit's own object: an update keeping its name.
        await store.commit({ update: [renamed(replacement, 'handed-on')], unique: [claim('handed-on')] });
        expect((await store.load(replacement.id))?.revision).to.equal(2);
      });

      it('ten concurrent commits claiming one value: exactly one is kept', async () => {
        const objects = Array.from({ length: 10 }, () => newObject(store, { names: ['raced'] }));
        const outcomes = await Promise.all(objects.map((object) => store.commit({ create: [object], unique: [claim('raced')] }).then(() => 'kept', (e: unknown) => (e instanceof UniqueValueError ? 'refused' : String(e)))));
        expect(outcomes.filter((o) => o === 'kept')).to.have.length(1);
        expect(outcomes.filter((o) => o === 'refused')).to.have.length(9);
      });
    });

    describe('locate', () => {
      it('by owner: objects of another owner are excluded; no owner means all', async () => {
        const a1 = await create(store, { owner: 'alice' });
        const b1 = await create(store, { owner: 'bob' });
        const a2 = await create(store, { owner: 'alice' });
        expect(await store.locate({ owner: 'alice' })).to.deep.equal([a1.id, a2.id]);
        expect(await store.locate({ owner: 'bob' })).to.deep.equal([b1.id]);
        expect(await store.locate({ owner: 'carol' })).to.deep.equal([]);
        expect(await store.locate({})).to.deep.equal([a1.id, b1.id, a2.id]);
      });

      it('by object type', async () => {
        const key = await create(store);
        const secret = await create(store, { objectType: Enum.ObjectType.SecretData });
        const key2 = await create(store);
        expect(await store.locate({ objectType: Enum.ObjectType.SymmetricKey })).to.deep.equal([key.id, key2.id]);
        expect(await store.locate({ objectType: Enum.ObjectType.SecretData })).to.deep.equal([secret.id]);
        expect(await store.locate({ objectType: Enum.ObjectType.PrivateKey })).to.deep.equal([]);
      });

      it('countByState counts objects by type and State, following updates (the kmipd_objects metric)', async () => {
        if (store.countByState === undefined) throw new Error('this back end has no countByState');
        expect(await store.countByState()).to.deep.equal([]);
        await create(store);
        const active = await create(store);
        await create(store, { objectType: Enum.ObjectType.SecretData });
        const stateless = await create(store, { objectType: Enum.ObjectType.OpaqueObject });
        await store.commit({ update: [changed(active, { attributes: [stateAttribute(Enum.State.Active)] }), changed(stateless, { attributes: [] })] });
        const counts = await store.countByState();
        const sorted = [...counts].sort((a, b) => a.objectType - b.objectType || (a.state ?? 0) - (b.state ?? 0));
        expect(sorted).to.deep.equal([
          { objectType: Enum.ObjectType.SymmetricKey, state: Enum.State.PreActive, count: 1 },
          { objectType: Enum.ObjectType.SymmetricKey, state: Enum.State.Active, count: 1 },
          { objectType: Enum.ObjectType.SecretData, state: Enum.State.PreActive, count: 1 },
          { objectType: Enum.ObjectType.OpaqueObject, state: undefined, count: 1 },
        ]);
      });

      it('with a limit: the first in creation order, with the other conditions', async () => {
        const made = [];
        for (let i = 0; i < 5; i++) made.push(await create(store, { names: [`limited-${i}`] }));
        const other = await create(store, { objectType: Enum.ObjectType.SecretData });
        expect(await store.locate({ limit: 3 })).to.deep.equal(made.slice(0, 3).map((o) => o.id));
        expect(await store.locate({ has: ['Name'], limit: 2 })).to.deep.equal(made.slice(0, 2).map((o) => o.id));
        expect(await store.locate({ objectType: Enum.ObjectType.SecretData, limit: 10 })).to.deep.equal([other.id]);
        expect(await store.locate({ limit: 0 })).to.deep.equal([]);
      });

      it('by equals (name and index key)', async () => {
        const one = await create(store, { names: ['one'] });
        const two = await create(store, { names: ['two'] });
        const described = await create(store, { attributes: [{ name: 'Description', value: leaf(Tag.Description, 'TextString', 'one') }] });
        expect(await store.locate({ equals: [{ name: 'Name', key: 'one' }] })).to.deep.equal([one.id]);
        expect(await store.locate({ equals: [{ name: 'Name', key: 'two' }] })).to.deep.equal([two.id]);
        expect(await store.locate({ equals: [{ name: 'Description', key: 'one' }] })).to.deep.equal([described.id]);
        expect(await store.locate({ equals: [{ name: 'Name', key: 'three' }] })).to.deep.equal([]);
        expect(await store.locate({ equals: [{ name: 'State', key: String(Enum.State.PreActive) }] })).to.deep.equal([one.id, two.id, described.id]);
      });

      it('by has (any value, also of attributes without an index key)', async () => {
        const digest = { name: 'Digest', value: structure(Tag.Digest, [leaf(Tag.OpaqueDataValue, 'ByteString', Buffer.from([1]))]) };
        const plain = await create(store);
        const withDigest = await create(store, { attributes: [digest] });
        const named = await create(store, { names: ['n'] });
        expect(await store.locate({ has: ['Digest'] })).to.deep.equal([withDigest.id]);
        expect(await store.locate({ has: ['Name'] })).to.deep.equal([named.id]);
        expect(await store.locate({ has: ['State'] })).to.deep.equal([plain.id, withDigest.id, named.id]);
        expect(await store.locate({ has: ['Link'] })).to.deep.equal([]);
      });

      it('ANDs every condition: owner, object type, several equals and has', async () => {
        const link = { name: 'Link', value: structure(Tag.Link, [leaf(Tag.LinkType, 'Enumeration', Enum.LinkType.PublicKeyLink)]) };
        const match = await create(store, { owner: 'alice', names: ['n1', 'n2'], attributes: [link] });
        await create(store, { owner: 'bob', names: ['n1', 'n2'], attributes: [link] });
        await create(store, { owner: 'alice', names: ['n1'], attributes: [link] });
        await create(store, { owner: 'alice', names: ['n1', 'n2'] });
        await create(store, { owner: 'alice', objectType: Enum.ObjectType.SecretData, names: ['n1', 'n2'], attributes: [link] });
        const query = {
          owner: 'alice',
          objectType: Enum.ObjectType.SymmetricKey,
          equals: [
            { name: 'Name', key: 'n1' },
            { name: 'Name', key: 'n2' },
          ],
          has: ['Link', 'State'],
        };
        expect(await store.locate(query)).to.deep.equal([match.id]);
      });

      it('returns identifiers in creation order, also after updates and within one commit', async () => {
        const first = await create(store, { names: ['same'] });
        const batch = [newObject(store, { names: ['same'] }), newObject(store, { names: ['same'] })];
        await store.commit({ create: batch });
        const last = await create(store, { names: ['same'] });
        await store.commit({ update: [changed(first, { owner: 'alice' })] });
        const expected = [first.id, batch[0]?.id, batch[1]?.id, last.id];
        expect(await store.locate({ equals: [{ name: 'Name', key: 'same' }] })).to.deep.equal(expected);
        expect(await store.locate({})).to.deep.equal(expected);
      });

      it('index rows follow updates: a renamed object is found by its new name, not the old', async () => {
        const object = await create(store, { names: ['old name'] });
        const other = await create(store, { names: ['old name'] });
        await store.commit({ update: [renamed(object, 'new name')] });
        expect(await store.locate({ equals: [{ name: 'Name', key: 'new name' }] })).to.deep.equal([object.id]);
        expect(await store.locate({ equals: [{ name: 'Name', key: 'old name' }] })).to.deep.equal([other.id]);
        const noName = { ...object, attributes: object.attributes.filter((a) => a.name !== 'Name'), revision: 3 };
        await store.commit({ update: [noName] });
        expect(await store.locate({ has: ['Name'] })).to.deep.equal([other.id]);
        expect(await store.locate({ equals: [{ name: 'Name', key: 'new name' }] })).to.deep.equal([]);
      });

      it('finds one of 1,000 objects by name, and all of them in order', async function () {
        this.timeout(60_000);
        const objects = Array.from({ length: 1000 }, (_, i) => newObject(store, { names: [`key-${i}`], owner: i % 2 === 0 ? 'even' : 'odd' }));
        for (let i = 0; i < objects.length; i += 250) await store.commit({ create: objects.slice(i, i + 250) });
        expect(await store.locate({ equals: [{ name: 'Name', key: 'key-537' }] })).to.deep.equal([objects[537]?.id]);
        expect(await store.locate({ owner: 'odd', equals: [{ name: 'Name', key: 'key-537' }] })).to.deep.equal([objects[537]?.id]);
        expect(await store.locate({ owner: 'even', equals: [{ name: 'Name', key: 'key-537' }] })).to.deep.equal([]);
        expect(await store.locate({ has: ['Name'] })).to.deep.equal(objects.map((o) => o.id));
      });
    });

    describe('grants', () => {
      const grant = (change: Partial<GrantRecord> = {}): GrantRecord => ({
        targetKind: 'object',
        target: 'object-1',
        scopeOwner: null,
        granteeKind: 'identity',
        grantee: 'bob',
        permission: 'get',
        grantedBy: 'alice',
        created: 1_700_000_000_000,
        ...change,
      });
      const group = (name: string): AttributeInstance => ({ name: 'Object Group', value: leaf(Tag.ObjectGroup, 'TextString', name) });
      const summary = (grants: readonly GrantRecord[]): string[] => grants.map((g) => `${g.targetKind}:${g.target}:${g.scopeOwner ?? '*'}:${g.granteeKind}:${g.grantee}:${g.permission}`);

      it('stores grants durably and finds them by target, grantee and principal, oldest first', async () => {
        await store.addGrants([grant(), grant({ permission: 'encrypt', created: 1_700_000_000_001 })]);
        await store.addGrants([grant({ grantee: 'dba', granteeKind: 'group', permission: 'decrypt', created: 1_700_000_000_002 })]);
        await store.addGrants([grant({ targetKind: 'group', target: 'payroll', scopeOwner: 'alice', grantee: 'carol', created: 1_700_000_000_003 })]);
        expect(summary(await store.findGrants({ targetKind: 'object', target: 'object-1' }))).to.deep.equal([
          'object:object-1:*:identity:bob:get',
          'object:object-1:*:identity:bob:encrypt',
          'object:object-1:*:group:dba:decrypt',
        ]);
        expect(summary(await store.findGrants({ principal: { identity: 'bob', groups: [] } }))).to.deep.equal(['object:object-1:*:identity:bob:get', 'object:object-1:*:identity:bob:encrypt']);
        expect(summary(await store.findGrants({ principal: { identity: 'zed', groups: ['dba', 'ops'] } }))).to.deep.equal(['object:object-1:*:group:dba:decrypt']);
        expect(summary(await store.findGrants({ principal: { identity: 'dba', groups: [] } })), 'an identity named like a group is not its member').to.deep.equal([]);
        expect(summary(await store.findGrants({ targetKind: 'group', scopeOwner: 'alice' }))).to.deep.equal(['group:payroll:alice:identity:carol:get']);
        expect(summary(await store.findGrants({ targetKind: 'group', scopeOwner: null }))).to.deep.equal([]);
        const [stored] = await store.findGrants({ grantee: 'carol' });
        expect(stored).to.deep.equal(grant({ targetKind: 'group', target: 'payroll', scopeOwner: 'alice', grantee: 'carol', created: 1_700_000_000_003 }));
      });

      it('granting the same permission twice keeps one grant; removing takes only what the filter names', async () => {
        await store.addGrants([grant(), grant(), grant({ permission: 'sign' })]);
        await store.addGrants([grant({ grantedBy: 'admin', created: 1 })]);
        expect(summary(await store.findGrants({}))).to.deep.equal(['object:object-1:*:identity:bob:get', 'object:object-1:*:identity:bob:sign']);
        expect(await store.removeGrants({ target: 'object-1', grantee: 'bob', permissions: ['sign', 'mac'] })).to.equal(1);
        expect(summary(await store.findGrants({}))).to.deep.equal(['object:object-1:*:identity:bob:get']);
        expect(await store.removeGrants({ target: 'object-1', grantee: 'bob', permissions: [] })).to.equal(0);
        expect(await store.removeGrants({ target: 'object-2' })).to.equal(0);
        expect(await store.removeGrants({ target: 'object-1' })).to.equal(1);
        expect(await store.findGrants({})).to.deep.equal([]);
      });

      it('refuses a grant with an empty name or an object grant with a scope', async () => {
        for (const bad of [grant({ grantee: '' }), grant({ target: '' }), grant({ scopeOwner: 'alice' }), grant({ targetKind: 'group', scopeOwner: '' })]) {
          let failed = false;
          await store.addGrants([bad]).catch(() => (failed = true));
          expect(failed, JSON.stringify(bad)).to.equal(true);
        }
        expect(await store.findGrants({})).to.deep.equal([]);
      });

      it('keeps text a certificate or a client chose exactly (quotes, U+0000, non-ASCII)', async () => {
        const odd = "o'b\u0000\u00e9\"; DROP TABLE grants; --";
        await store.addGrants([grant({ grantee: odd, targetKind: 'group', target: odd, scopeOwner: odd })]);
        const [stored] = await store.findGrants({ principal: { identity: odd, groups: [odd] } });
        expect(stored?.grantee).to.equal(odd);
        expect(stored?.target).to.equal(odd);
        expect(stored?.scopeOwner).to.equal(odd);
      });

      it('locate visibleTo: owned objects, objects granted to the identity or its groups, and Object Groups within their scope', async () => {
        const own = await create(store, { owner: 'bob' });
        const byId = await create(store, { owner: 'alice' });
        const byGroupOfBob = await create(store, { owner: 'alice' });
        const inPayroll = await create(store, { owner: 'alice', attributes: [group('payroll')] });
        const carolsPayroll = await create(store, { owner: 'carol', attributes: [group('payroll')] });
        const inFinance = await create(store, { owner: 'carol', attributes: [group('finance')] });
        const hidden = await create(store, { owner: 'alice', attributes: [group('other')] });
        await store.addGrants([
          grant({ target: byId.id, grantee: 'bob', permission: 'get' }),
          grant({ target: byGroupOfBob.id, granteeKind: 'group', grantee: 'dba', permission: 'decrypt' }),
          // alice's grant on payroll covers her objects only; an administrator's covers every owner.
          grant({ targetKind: 'group', target: 'payroll', scopeOwner: 'alice', grantee: 'bob', permission: 'encrypt' }),
          grant({ targetKind: 'group', target: 'finance', scopeOwner: null, granteeKind: 'group', grantee: 'dba', permission: 'locate' }),
          grant({ target: hidden.id, grantee: 'someone-else' }),
        ]);
        const bob = { identity: 'bob', groups: ['dba'] };
        expect(await store.locate({ visibleTo: bob })).to.deep.equal([own.id, byId.id, byGroupOfBob.id, inPayroll.id, inFinance.id]);
        expect(await store.locate({ visibleTo: { identity: 'bob', groups: [] } })).to.deep.equal([own.id, byId.id, inPayroll.id]);
        expect(await store.locate({ visibleTo: { identity: 'carol', groups: [] } })).to.deep.equal([carolsPayroll.id, inFinance.id]);
        expect(await store.locate({ visibleTo: { identity: 'nobody', groups: ['nothing'] } })).to.deep.equal([]);
        // Other conditions still apply to what is visible.
        expect(await store.locate({ visibleTo: bob, equals: [{ name: 'Object Group', key: 'payroll' }] })).to.deep.equal([inPayroll.id]);
        // Leaving a group (an update of its attributes) takes the group's grant away.
        await store.commit({ update: [changed(inPayroll, { attributes: inPayroll.attributes.filter((a) => a.name !== 'Object Group') })] });
        expect(await store.locate({ visibleTo: { identity: 'bob', groups: [] } })).to.deep.equal([own.id, byId.id]);
        await store.removeGrants({ target: byId.id });
        expect(await store.locate({ visibleTo: { identity: 'bob', groups: [] } })).to.deep.equal([own.id]);
      });
    });
  });
}

// ---------------------------------------------------------------------------------------
// Maintenance: KEK rotation, export and import, due dates, the exclusive lock

export interface OpenedMaintenanceStore {
  readonly store: MaintenanceStore;
  cleanup(): Promise<void>;
}

/** Two file KEKs behind a ring, loaded by id from memory (the server's loader finds files). */
export function suiteRing(): { ring: KekRing; first: FileKek; second: FileKek } {
  const first = new FileKek(KeyMaterial.random(32));
  const second = new FileKek(KeyMaterial.random(32));
  const byId = new Map([first, second].map((kek) => [kek.id, kek]));
  const ring = new KekRing({ kek: first, kind: 'file', ref: 'first', close: async () => undefined }, async (record) => {
    const kek = byId.get(record.id);
    if (kek === undefined) throw new KekError('KEK_UNKNOWN', `no KEK ${record.id}`);
    return { kek, close: async () => undefined };
  });
  return { ring, first, second };
}

async function drain<T>(rows: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const row of rows) out.push(row);
  return out;
}

async function* fromArray<T>(items: readonly T[]): AsyncIterable<T> {
  for (const item of items) yield item;
}

/**
 * `open(kek)` gives a fresh, empty store over `kek` (a KekRing for the rotation tests); a
 * second call with the same `shareWith` opens another connection to the same store (a
 * second node or process), or a new empty one when undefined.
 */
export function storeMaintenanceSuite(
  name: string,
  open: (kek: KeyEncryptionKey, shareWith?: OpenedMaintenanceStore, indexKeys?: IndexKeys) => Promise<OpenedMaintenanceStore>,
): void {
  describe(`Store maintenance: ${name}`, function () {
    const opened: OpenedMaintenanceStore[] = [];
    const openStore = async (kek: KeyEncryptionKey, shareWith?: OpenedMaintenanceStore, indexKeys?: IndexKeys): Promise<MaintenanceStore> => {
      const handle = await open(kek, shareWith, indexKeys);
      opened.push(handle);
      return handle.store;
    };
    afterEach(async () => {
      for (const handle of opened.splice(0).reverse()) await handle.cleanup();
    });

    it('two connections (processes or nodes) racing to claim one unique value: exactly one commit is kept', async () => {
      const kek = new FileKek(KeyMaterial.random(32));
      const a = await open(kek);
      opened.push(a);
      const b = await open(kek, a);
      opened.push(b);
      for (let round = 0; round < 5; round++) {
        const value = `raced-${round}`;
        const commits = Array.from({ length: 12 }, (_, i) => {
          const store = i % 2 === 0 ? a.store : b.store;
          const object = newObject(store, { names: [value] });
          return store.commit({ create: [object], unique: [{ owner: 'alice', name: 'Name', key: value }] }).then(
            () => 'kept',
            (e: unknown) => (e instanceof UniqueValueError ? 'refused' : String(e)),
          );
        });
        const outcomes = await Promise.all(commits);
        expect(outcomes.filter((o) => o === 'kept'), outcomes.join(', ')).to.have.length(1);
        expect(outcomes.filter((o) => o === 'refused')).to.have.length(11);
        expect(await a.store.locate({ equals: [{ name: 'Name', key: value }] })).to.have.length(1);
      }
    });

    it('a KEK ring lists its KEK at open, active, and a plain KEK lists nothing', async () => {
      const plain = await openStore(new FileKek(KeyMaterial.random(32)));
      expect(await plain.keks()).to.deep.equal([]);
      const { ring, first } = suiteRing();
      const store = await openStore(ring);
      const keks = await store.keks();
      expect(keks.map((k) => ({ id: k.id, state: k.state, kind: k.kind, ref: k.ref }))).to.deep.equal([{ id: first.id, state: 'active', kind: 'file', ref: 'first' }]);
    });

    it('rotation: new writes go under the new KEK, old bodies are rewrapped one by one, and the old KEK retires only when unused', async () => {
      const { ring, first, second } = suiteRing();
      const store = await openStore(ring);
      const before = await Promise.all([1, 2, 3].map(() => create(store, { names: ['k'] })));
      expect(await store.kekUsage()).to.deep.equal(new Map([[first.id, 3]]));

      await store.beginKekRotation({ id: second.id, kind: 'file', ref: 'second' });
      expect((await store.keks()).map((k) => k.state)).to.deep.equal(['retiring', 'active']);
      // The ring still thinks `first` is active: the store refuses that write, the ring re-reads the list, the write succeeds under `second`.
      expect(ring.id).to.equal(first.id);
      const during = await create(store, { names: ['during'] });
      expect(ring.id).to.equal(second.id);
      expect(await store.kekUsage()).to.deep.equal(new Map([[first.id, 3], [second.id, 1]]));
      expect(await store.retireKek(first.id)).to.equal(false);

      const pending = await store.wrappedWith(first.id, undefined, 2);
      expect(pending.map((p) => p.id)).to.deep.equal(before.map((o) => o.id).sort().slice(0, 2));
      const rest = await store.wrappedWith(first.id, pending[1]?.id, 10);
      expect(rest).to.have.length(1);
      for (const row of [...pending, ...rest]) {
        const clear = await first.unwrap(row.body);
        const body = await second.wrap(clear);
        expect(await store.rewrapBody(row, { body, kekId: second.id })).to.equal(true);
        // The same swap again finds the row changed: it does nothing.
        expect(await store.rewrapBody(row, { body, kekId: second.id })).to.equal(false);
      }
      expect(await store.wrappedWith(first.id, undefined, 10)).to.deep.equal([]);
      expect(await store.retireKek(first.id)).to.equal(true);
      expect((await store.keks()).map((k) => k.state)).to.deep.equal(['retired', 'active']);
      for (const object of [...before, during]) expectSameObject(await store.load(object.id), object);
    });

    it('a second connection whose ring has not seen the rotation reads old and new bodies and writes under the new KEK', async function () {
      const { ring, first, second } = suiteRing();
      const a = await openStore(ring);
      const old = await create(a, { names: ['old'] });
      // The second connection's ring has its own handles on the same two KEKs.
      const byId = new Map([first, second].map((kek) => [kek.id, kek]));
      const ringB = new KekRing({ kek: first, kind: 'file', ref: 'first', close: async () => undefined }, async (record) => {
        const kek = byId.get(record.id);
        if (kek === undefined) throw new KekError('KEK_UNKNOWN', `no KEK ${record.id}`);
        return { kek, close: async () => undefined };
      });
      const b = await openStore(ringB, opened[0]);
      await a.beginKekRotation({ id: second.id, kind: 'file', ref: 'second' });
      const fresh = await create(a, { names: ['fresh'] });
      expectSameObject(await b.load(fresh.id), fresh); // b loads `second` on demand
      await b.commit({ update: [renamed(old, 'renamed')] });
      expect(ringB.id).to.equal(second.id);
      expect(await b.kekUsage()).to.deep.equal(new Map([[second.id, 2]]));
    });

    it('a plain KEK that was rotated out is refused with KEK_RETIRED, nothing written', async () => {
      const { ring, first, second } = suiteRing();
      const store = await openStore(ring);
      await store.beginKekRotation({ id: second.id, kind: 'file', ref: 'second' });
      const stale = await openStore(first, opened[0]);
      const object = newObject(stale);
      try {
        await stale.commit({ create: [object] });
        expect.fail('expected KEK_RETIRED');
      } catch (error) {
        expect(error).to.be.instanceOf(KekError);
        expect((error as KekError).code).to.equal('KEK_RETIRED');
      }
      expect(await store.load(object.id)).to.equal(undefined);
    });

    it('export gives every KEK and row; import into an empty store restores them, index rows included', async () => {
      const { ring, first } = suiteRing();
      const source = await openStore(ring);
      const objects = [await create(source, { names: ['one'] }), await create(source, { names: ['two'], owner: 'bob' }), await create(source, { body: undefined })];
      const exported = await drain(source.exportRows());
      const keks = exported.flatMap((item) => ('kek' in item ? [item.kek] : []));
      const rows = exported.flatMap((item) => ('id' in item ? [item] : []));
      expect(keks).to.have.length(1);
      expect(rows.map((r) => r.id)).to.deep.equal(objects.map((o) => o.id));

      // The target's ring must hold the source's KEK (the KEK is not in an export).
      const target = await openStore(new KekRing({ kek: first, kind: 'file', ref: 'first', close: async () => undefined }, async () => Promise.reject(new Error('none'))));
      expect(await target.isEmpty()).to.equal(true);
      expect(await target.importRows(keks, fromArray(rows))).to.equal(3);
      expect(await target.isEmpty()).to.equal(false);
      for (const object of objects) expectSameObject(await target.load(object.id), object);
      expect(await target.locate({ equals: [{ name: 'Name', key: 'two' }] })).to.deep.equal([objects[1]?.id]);
      expect(await target.keks()).to.deep.equal(keks);
      // A second import over the objects is refused, and with replace it rewrites them.
      try {
        await target.importRows(keks, fromArray(rows));
        expect.fail('expected a refusal');
      } catch (error) {
        expect((error as Error).message).to.match(/already holds objects/);
      }
      expect(await target.importRows(keks, fromArray(rows.slice(0, 1)), { replace: true })).to.equal(1);
      expect(await target.load(objects[1]?.id ?? '')).to.equal(undefined);
    });

    it('export carries grants and the audit trail as stored; an import that restores the audit gives the same chain, head and grants, then appends', async () => {
      const { ring, first } = suiteRing();
      const source = await openStore(ring);
      const object = await create(source, { names: ['audited'] });
      const grants: GrantRecord[] = [
        { targetKind: 'object', target: object.id, scopeOwner: null, granteeKind: 'identity', grantee: 'carol', permission: 'Get', grantedBy: 'alice', created: 1000 },
        { targetKind: 'group', target: 'payroll\u0000x', scopeOwner: 'alice', granteeKind: 'group', grantee: 'ops', permission: 'Encrypt', grantedBy: 'alice', created: 2000 },
      ];
      await source.addGrants(grants);
      await source.commit({ audit: [auditEntry({ operation: 'Get', objects: [object.id] }), auditEntry({ operation: 'Locate', message: 'caf\u00e9' })] });
      const exported = await drain(source.exportRows());
      const keks = exported.flatMap((item) => ('kek' in item ? [item.kek] : []));
      const items = exported.flatMap((item) => ('kek' in item ? [] : [item]));
      expect(items.flatMap((item) => ('grant' in item ? [item.grant] : []))).to.deep.equal(grants);
      const records = items.flatMap((item) => ('audit' in item ? [item.audit] : []));
      expect(records.map((r) => r.seq)).to.deep.equal([1, 2]);
      const head = items.flatMap((item) => ('auditHead' in item ? [item.auditHead] : []));
      expect(head).to.deep.equal([{ seq: 2, hash: records[1]?.hash }]);

      const target = await openStore(new KekRing({ kek: first, kind: 'file', ref: 'first', close: async () => undefined }, async () => Promise.reject(new Error('none'))));
      // A trail of the target's own is not replaced without `replace`.
      await target.commit({ audit: [auditEntry({ operation: 'Query' })] });
      try {
        await target.importRows(keks, fromArray(items), { restoreAudit: true });
        expect.fail('expected a refusal');
      } catch (error) {
        expect((error as Error).message).to.match(/audit trail already holds 1 records/);
      }
      expect(await target.importRows(keks, fromArray(items), { restoreAudit: true, replace: true, appendAudit: [auditEntry({ operation: 'Restore' })] })).to.equal(1);
      expect(await target.findGrants({})).to.deep.equal(grants);
      expect(await target.findGrants({ principal: { identity: 'carol', groups: [] } })).to.have.length(1);
      const reader = await (target as MaintenanceStore & AuditSource).auditReader();
      try {
        const result = await verifyChain(reader);
        expect(result.intact, JSON.stringify(result)).to.equal(true);
        const restored = await reader.records(0, 10);
        expect(restored.slice(0, 2)).to.deep.equal(records);
        expect(restored.map((r) => r.operation)).to.deep.equal(['Get', 'Locate', 'Restore']);
        expect(restored[2]?.prevHash).to.equal(records[1]?.hash);
      } finally {
        await reader.close();
      }
      // Without restoreAudit, audit items are refused (they would be silently dropped).
      try {
        await target.importRows(keks, fromArray(items), { replace: true });
        expect.fail('expected a refusal');
      } catch (error) {
        expect((error as Error).message).to.match(/audit records given to an import that keeps/);
      }
    });

    it('refreshIndex gives every object the index rows of one name, a page at a time, resuming, and again for a new version', async () => {
      // A store whose index keys once left out Description (as stores before the due index had no due rows).
      let withDescription = false;
      const keys = (attributes: readonly AttributeInstance[]): { name: string; key: string | null }[] =>
        suiteIndexKeys(attributes).filter((k) => k.name !== 'Description' || withDescription);
      const store = await openStore(suiteRing().ring, undefined, keys);
      const objects: ManagedObject[] = [];
      for (let i = 0; i < 5; i++) objects.push(await create(store, { attributes: [{ name: 'Description', value: leaf(Tag.Description, 'TextString', `d${i}`) }] }));
      expect(await store.indexRange('Description', 'd9', 10)).to.deep.equal([]);
      withDescription = true;
      expect(await store.refreshIndex('Description', 1, 2)).to.deep.equal({ objects: 2, done: false });
      expect(await store.indexRange('Description', 'd9', 10)).to.have.length(2);
      expect(await store.refreshIndex('Description', 1, 2)).to.deep.equal({ objects: 2, done: false });
      expect(await store.refreshIndex('Description', 1, 2)).to.deep.equal({ objects: 1, done: true });
      expect(await store.refreshIndex('Description', 1, 2)).to.deep.equal({ objects: 0, done: true });
      expect(await store.indexRange('Description', 'd9', 10)).to.deep.equal(objects.map((o) => o.id));
      expect(await store.locate({ equals: [{ name: 'Description', key: 'd3' }] })).to.deep.equal([objects[3]?.id]);
      // A new version removes rows the index keys no longer give.
      withDescription = false;
      expect(await store.refreshIndex('Description', 2, 100)).to.deep.equal({ objects: 5, done: true });
      expect(await store.indexRange('Description', 'd9', 10)).to.deep.equal([]);
      expect(await store.locate({ has: ['Description'] }), 'no row of the name is left').to.deep.equal([]);
    });

    it('export is one snapshot: writes made while it runs are not in it', async () => {
      const store = await openStore(suiteRing().ring);
      const first: ManagedObject[] = [];
      for (let i = 0; i < 5; i++) first.push(await create(store));
      const seen: string[] = [];
      let wrote: ManagedObject | undefined;
      for await (const item of store.exportRows()) {
        if (!('id' in item)) continue;
        seen.push(item.id);
        if (wrote === undefined) {
          wrote = await create(store);
          await store.commit({ update: [renamed({ ...first[4], attributes: [nameAttribute('x'), ...(first[4]?.attributes ?? [])] } as ManagedObject, 'y')] });
        }
      }
      expect(seen).to.deep.equal(first.map((o) => o.id));
      expect(await store.load(wrote?.id ?? '')).to.not.equal(undefined);
    });

    it('indexRange finds rows of one index name up to a key, in key order', async () => {
      const store = await openStore(suiteRing().ring);
      const late = await create(store, { attributes: [{ name: 'Description', value: leaf(Tag.Description, 'TextString', '0300') }] });
      const early = await create(store, { attributes: [{ name: 'Description', value: leaf(Tag.Description, 'TextString', '0100') }] });
      await create(store, { attributes: [{ name: 'Description', value: leaf(Tag.Description, 'TextString', '0900') }] });
      expect(await store.indexRange('Description', '0500', 10)).to.deep.equal([early.id, late.id]);
      expect(await store.indexRange('Description', '0500', 1)).to.deep.equal([early.id]);
      expect(await store.indexRange('Description', '0099', 10)).to.deep.equal([]);
    });

    it('exclusively: one holder at a time, released after the work (also when it throws)', async () => {
      const a = await openStore(suiteRing().ring);
      const b = await openStore(new FileKek(KeyMaterial.random(32)), opened[0]);
      let inner: boolean | undefined;
      expect(await a.exclusively('scheduler', async () => {
        inner = await b.exclusively('scheduler', async () => undefined);
      })).to.equal(true);
      expect(inner).to.equal(false);
      try {
        await a.exclusively('scheduler', async () => {
          throw new Error('boom');
        });
      } catch (error) {
        expect((error as Error).message).to.equal('boom');
      }
      expect(await b.exclusively('scheduler', async () => undefined)).to.equal(true);
    });
  });
}
