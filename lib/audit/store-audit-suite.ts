/**
 * The audit part of the store conformance suite (lib/store/store-suite.ts runs it for every
 * back end): records are numbered and chained by the store, inside the transaction of the
 * change they describe, and the chain stays whole under concurrent commits.
 */
import { expect } from 'chai';
import { Enum, Tag, leaf, structure } from '../../ttlv/index.js';
import type { ManagedObject } from '../objects/types.js';
import { StoreConflictError } from '../store/types.js';
import type { Store } from '../store/types.js';
import { exportLines } from './export.js';
import { GENESIS_HASH, recordHash } from './record.js';
import type { AuditEntry, AuditReader, AuditSource, StoredRecord } from './record.js';
import { verifyChain } from './verify.js';

export function auditSource(store: Store): AuditSource {
  if (!('auditReader' in store) || typeof store.auditReader !== 'function') throw new Error('this store has no audit trail (auditReader)');
  return store as Store & AuditSource;
}

export function auditEntry(fields: Partial<AuditEntry> = {}): AuditEntry {
  return {
    time: new Date().toISOString(),
    identity: 'alice',
    peer: '127.0.0.1:50000',
    correlation: 'c0ffee00-0000-4000-8000-000000000000',
    clientCorrelation: null,
    item: 1,
    operation: 'Get',
    objects: [],
    status: 'Success',
    reason: null,
    message: null,
    ...fields,
  };
}

/** Every record and the head, read in one snapshot. */
export async function readTrail(store: Store): Promise<{ records: StoredRecord[]; head: { seq: number; hash: string } | undefined }> {
  const reader = await auditSource(store).auditReader();
  try {
    return { records: await reader.records(0, 1_000_000), head: await reader.head() };
  } finally {
    await reader.close();
  }
}

async function withReader<T>(store: Store, work: (reader: AuditReader) => Promise<T>): Promise<T> {
  const reader = await auditSource(store).auditReader();
  try {
    return await work(reader);
  } finally {
    await reader.close();
  }
}

function object(store: Store, owner = 'alice'): ManagedObject {
  return {
    id: store.newId(),
    objectType: Enum.ObjectType.SymmetricKey,
    owner,
    attributes: [{ name: 'State', value: leaf(Tag.State, 'Enumeration', Enum.State.PreActive) }],
    body: structure(Tag.SymmetricKey, [structure(Tag.KeyBlock, [leaf(Tag.KeyFormatType, 'Enumeration', Enum.KeyFormatType.Raw)])]),
    revision: 1,
  };
}

export function auditStoreTests(current: () => Store): void {
  describe('audit trail', () => {
    it('numbers records from 1 and chains each to the one before; the head follows the last', async () => {
      const store = current();
      expect((await readTrail(store)).head).to.deep.equal({ seq: 0, hash: GENESIS_HASH });
      await store.commit({ audit: [auditEntry({ operation: 'Get' }), auditEntry({ operation: 'Locate', item: 2 })] });
      await store.commit({ audit: [auditEntry({ operation: 'Query', status: 'OperationFailed', reason: 'PermissionDenied', message: 'no' })] });
      const { records, head } = await readTrail(store);
      expect(records.map((r) => [r.seq, r.operation, r.item])).to.deep.equal([
        [1, 'Get', 1],
        [2, 'Locate', 2],
        [3, 'Query', 1],
      ]);
      expect(records[0]?.prevHash).to.equal(GENESIS_HASH);
      for (const [i, record] of records.entries()) {
        expect(recordHash(record), `record ${record.seq} hash`).to.equal(record.hash);
        if (i > 0) expect(record.prevHash).to.equal(records[i - 1]?.hash);
      }
      expect(head).to.deep.equal({ seq: 3, hash: records[2]?.hash });
      expect(records[2]).to.include({ status: 'OperationFailed', reason: 'PermissionDenied', message: 'no', identity: 'alice', peer: '127.0.0.1:50000' });
      expect(await withReader(store, (reader) => verifyChain(reader))).to.deep.include({ intact: true, records: 3 });
    });

    it('writes a record in the transaction of its change: both land, or (on a conflict) neither', async () => {
      const store = current();
      const key = object(store);
      await store.commit({ create: [key], audit: [auditEntry({ operation: 'Create', objects: [key.id] })] });
      expect(await store.loadMetadata(key.id)).to.not.equal(undefined);
      const stale = { ...key, revision: 3 };
      try {
        await store.commit({ create: [object(store)], update: [stale], audit: [auditEntry({ operation: 'Activate', objects: [key.id] })] });
        expect.fail('the stale update should conflict');
      } catch (error) {
        expect(error).to.be.instanceOf(StoreConflictError);
      }
      const { records, head } = await readTrail(store);
      expect(records.map((r) => r.operation)).to.deep.equal(['Create']);
      expect(JSON.parse(records[0]?.objectsJson ?? 'null')).to.deep.equal([key.id]);
      expect(head?.seq).to.equal(1);
    });

    it('keeps one gapless chain under 40 concurrent commits with and without changes', async () => {
      const store = current();
      await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          i % 2 === 0 ? store.commit({ audit: [auditEntry({ item: i })] }) : store.commit({ create: [object(store)], audit: [auditEntry({ operation: 'Create', item: i })] }),
        ),
      );
      const { records } = await readTrail(store);
      expect(records.map((r) => r.seq)).to.deep.equal(Array.from({ length: 40 }, (_, i) => i + 1));
      expect(new Set(records.map((r) => r.item)).size).to.equal(40);
      expect(await withReader(store, (reader) => verifyChain(reader))).to.deep.include({ intact: true, records: 40 });
    });

    it('auditDurability process: a record is readable once its commit resolves, and one chain holds both kinds with changes', async () => {
      const store = current();
      await store.commit({ audit: [auditEntry({ operation: 'Get', item: 100 })], auditDurability: 'process' });
      expect((await readTrail(store)).records.map((r) => r.item)).to.deep.equal([100]);
      await Promise.all(
        Array.from({ length: 30 }, (_, i) =>
          i % 3 === 0
            ? store.commit({ audit: [auditEntry({ item: i })], auditDurability: 'process' })
            : i % 3 === 1
              ? store.commit({ audit: [auditEntry({ item: i })], auditDurability: 'fsync' })
              : store.commit({ create: [object(store)], audit: [auditEntry({ operation: 'Create', item: i })], auditDurability: 'process' }),
        ),
      );
      const { records } = await readTrail(store);
      expect(records.map((r) => r.seq)).to.deep.equal(Array.from({ length: 31 }, (_, i) => i + 1));
      expect(new Set(records.map((r) => r.item)).size).to.equal(31);
      expect(await withReader(store, (reader) => verifyChain(reader))).to.deep.include({ intact: true, records: 31 });
    });

    it('writes a grant change and its records in one transaction (addGrants, removeGrants)', async () => {
      const store = current();
      const key = object(store);
      await store.commit({ create: [key] });
      const grant = { targetKind: 'object' as const, target: key.id, scopeOwner: null, granteeKind: 'identity' as const, grantee: 'bob', permission: 'get', grantedBy: 'alice', created: 1_700_000_000_000 };
      await store.addGrants([grant], [auditEntry({ operation: 'Grant', objects: [key.id] })]);
      expect(await store.findGrants({ target: key.id })).to.have.length(1);
      expect(await store.removeGrants({ target: key.id }, [auditEntry({ operation: 'RevokeGrant', objects: [key.id] })])).to.equal(1);
      expect(await store.removeGrants({ target: key.id }, [auditEntry({ operation: 'RevokeGrant', objects: [key.id] })])).to.equal(0);
      const { records } = await readTrail(store);
      expect(records.map((r) => [r.seq, r.operation])).to.deep.equal([
        [1, 'Grant'],
        [2, 'RevokeGrant'],
        [3, 'RevokeGrant'],
      ]);
      expect(await withReader(store, (reader) => verifyChain(reader))).to.deep.include({ intact: true, records: 3 });
    });

    it('stores text exactly (quotes, non-ASCII), U+0000 as U+FFFD, and the chain still verifies', async () => {
      const store = current();
      await store.commit({ audit: [auditEntry({ identity: 'CN="Zoë", O=Ünïcode', message: 'name "a\u0000b" taken', objects: ['id-1', 'id-1', 'id-2'] })] });
      const { records } = await readTrail(store);
      expect(records[0]).to.include({ identity: 'CN="Zoë", O=Ünïcode', message: 'name "a\uFFFDb" taken' });
      expect(JSON.parse(records[0]?.objectsJson ?? 'null')).to.deep.equal(['id-1', 'id-2']);
      expect(await withReader(store, (reader) => verifyChain(reader))).to.deep.include({ intact: true });
    });

    it('exports JSON lines from a sequence number or from a time', async () => {
      const store = current();
      await store.commit({ audit: [auditEntry({ time: '2024-01-01T00:00:00.000Z' }), auditEntry({ time: '2024-03-01T00:00:00.000Z', operation: 'Destroy' })] });
      await store.commit({ audit: [auditEntry({ time: '2024-02-01T00:00:00.000Z', operation: 'Revoke' })] });
      const lines = async (start: { seq: number } | { time: string }): Promise<Record<string, unknown>[]> =>
        withReader(store, async (reader) => {
          const out: Record<string, unknown>[] = [];
          for await (const line of exportLines(reader, start, 2)) out.push(JSON.parse(line) as Record<string, unknown>);
          return out;
        });
      expect((await lines({ seq: 2 })).map((l) => [l['seq'], l['operation']])).to.deep.equal([
        [2, 'Destroy'],
        [3, 'Revoke'],
      ]);
      expect((await lines({ time: '2024-02-01T00:00:00.000Z' })).map((l) => l['seq'])).to.deep.equal([2, 3]);
      expect((await lines({ seq: 1 }))[0]).to.include({ seq: 1, identity: 'alice', status: 'Success', prevHash: GENESIS_HASH });
    });
  });
}
