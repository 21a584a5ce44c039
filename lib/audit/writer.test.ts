/**
 * Group commit: audit entries of requests that arrive together share one transaction, each
 * caller is answered only once its entries are committed, and a failed transaction fails
 * exactly the callers whose entries it held.
 */
import { expect } from 'chai';
import { AuditWriter } from './writer.js';
import type { AuditEntry } from './record.js';
import { auditEntry } from './store-audit-suite.js';

const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('AuditWriter (group commit)', () => {
  it('gathers 100 concurrent writes into a few transactions, in arrival order, resolving each after its commit', async () => {
    const transactions: AuditEntry[][] = [];
    let committed = 0;
    const writer = new AuditWriter({
      commit: async (entries) => {
        await delay(5); // a disk sync
        transactions.push([...entries]);
        committed += entries.length;
      },
    });
    const settledAfter: number[] = [];
    await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        writer.write([auditEntry({ item: i })]).then(() => {
          settledAfter.push(committed);
        }),
      ),
    );
    expect(transactions.length).to.be.at.most(2);
    expect(transactions.flat().map((e) => e.item)).to.deep.equal(Array.from({ length: 100 }, (_, i) => i));
    // Nobody was answered before the transaction holding its entry had committed.
    expect(Math.min(...settledAfter)).to.be.at.least(transactions[0]?.length ?? 0);
    expect(writer.stats).to.deep.equal({ transactions: transactions.length, entries: 100 });
  });

  it('writes what arrives during a transaction in the next one', async () => {
    const sizes: number[] = [];
    const writer = new AuditWriter({
      commit: async (entries) => {
        sizes.push(entries.length);
        await delay(20);
      },
    });
    const first = writer.write([auditEntry()]);
    await delay(5); // the first transaction is in flight
    const later = Array.from({ length: 10 }, () => writer.write([auditEntry()]));
    await Promise.all([first, ...later]);
    expect(sizes).to.deep.equal([1, 10]);
  });

  it('bounds a transaction to maxEntries, keeping each request whole', async () => {
    const sizes: number[] = [];
    const writer = new AuditWriter({ maxEntries: 5, commit: async (entries) => void sizes.push(entries.length) });
    await Promise.all([writer.write([auditEntry(), auditEntry(), auditEntry()]), writer.write([auditEntry(), auditEntry(), auditEntry()]), writer.write([auditEntry()])]);
    expect(sizes).to.deep.equal([3, 4]);
  });

  it('a failed transaction rejects its callers only; the next one goes on', async () => {
    let calls = 0;
    const writer = new AuditWriter({
      commit: async () => {
        calls += 1;
        if (calls === 1) throw new Error('disk full');
      },
    });
    const failed = await Promise.allSettled([writer.write([auditEntry()]), writer.write([auditEntry()])]);
    expect(failed.map((r) => r.status)).to.deep.equal(['rejected', 'rejected']);
    await writer.write([auditEntry()]);
    expect(calls).to.equal(2);
  });

  it('resolves at once for nothing to write', async () => {
    const writer = new AuditWriter({ commit: async () => expect.fail('no transaction for no entries') });
    await writer.write([]);
  });
});
