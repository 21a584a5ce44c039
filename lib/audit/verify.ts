/**
 * `kmipd audit verify`: walk the chain from record 1 to the stored head, and either prove it
 * intact or name the first record where it breaks and how:
 *
 * - edited: a record's fields no longer give its hash (or its hash was rewritten too, and
 *   the next record no longer links to it);
 * - deleted: a sequence number is missing, or the records after it were renumbered to close
 *   the gap (each then hashes under its old number), or the last records are gone (the head
 *   names a later record);
 * - reordered: two records swapped places (each hashes under the other's number);
 * - inserted: a record the chain skips (the next record links to the one before it), or
 *   records after a forged one hash under a smaller number, or records beyond the head.
 *
 * A chain rewritten from some point on, hashes and head included, is consistent again: only
 * a head kept elsewhere shows it (see `expect`), which is why verify prints the head.
 */
import { GENESIS_HASH, recordHash } from './record.js';
import type { AuditReader, ChainHead, StoredRecord } from './record.js';

export type BreakKind = 'edited' | 'deleted' | 'reordered' | 'inserted' | 'head';

export interface ChainBreak {
  /** The record named as broken (for `deleted`, the first missing number). */
  readonly seq: number;
  readonly kind: BreakKind;
  /** One sentence for the operator. */
  readonly detail: string;
}

export type VerifyResult =
  | { readonly intact: true; readonly records: number; readonly head: ChainHead }
  | { readonly intact: false; readonly records: number; readonly broken: ChainBreak };

export interface VerifyOptions {
  /** Records read per query; default 1000. */
  readonly pageSize?: number;
  /** A head recorded earlier (from a previous verify): that record must still have that hash. */
  readonly expect?: ChainHead;
}

/** How far from its place a moved record is looked for. */
const SEARCH_WINDOW = 64;

/** Records in order, read a page at a time, with look-ahead for the diagnosis. */
class Cursor {
  #buffer: StoredRecord[] = [];
  #after = 0;
  #done = false;

  constructor(
    private readonly reader: AuditReader,
    private readonly pageSize: number,
  ) {}

  async peek(offset = 0): Promise<StoredRecord | undefined> {
    while (this.#buffer.length <= offset && !this.#done) {
      const page = await this.reader.records(this.#after, this.pageSize);
      if (page.length < this.pageSize) this.#done = true;
      const last = page[page.length - 1];
      if (last !== undefined) this.#after = last.seq;
      this.#buffer.push(...page);
    }
    return this.#buffer[offset];
  }

  async next(): Promise<StoredRecord | undefined> {
    const record = await this.peek();
    this.#buffer.shift();
    return record;
  }
}

/** The number `record` hashes under, other than its own, if any near it. */
function hashesAs(record: StoredRecord): number | undefined {
  for (let distance = 1; distance <= SEARCH_WINDOW; distance++) {
    for (const seq of [record.seq - distance, record.seq + distance]) {
      if (seq >= 1 && recordHash(record, seq) === record.hash) return seq;
    }
  }
  return undefined;
}

const range = (from: number, to: number): string => (from === to ? `record ${from}` : `records ${from} to ${to}`);

export async function verifyChain(reader: AuditReader, options: VerifyOptions = {}): Promise<VerifyResult> {
  const head = await reader.head();
  const cursor = new Cursor(reader, Math.max(2, options.pageSize ?? 1000));
  let prev: { seq: number; hash: string } = { seq: 0, hash: GENESIS_HASH };
  let beforePrev: string | undefined;
  let checked = 0;
  const broken = (seq: number, kind: BreakKind, detail: string): VerifyResult => ({ intact: false, records: checked, broken: { seq, kind, detail } });
  let expectSeen = false;
  /** Hashes of the last verified records, to recognise a copy of one of them. */
  const recent = new Map<number, string>();

  for (let record = await cursor.next(); record !== undefined; record = await cursor.next()) {
    const expected = prev.seq + 1;
    if (record.seq !== expected) {
      if (recordHash(record, expected) === record.hash) {
        return broken(expected, 'edited', `record ${expected} had its sequence number changed to ${record.seq}`);
      }
      return broken(expected, 'deleted', `${range(expected, record.seq - 1)} missing: the sequence goes from ${prev.seq} to ${record.seq}`);
    }
    if (recordHash(record) !== record.hash) {
      return broken(...(await diagnoseContent(record, prev, cursor, head, recent)));
    }
    if (record.prevHash !== prev.hash) {
      return broken(...(await diagnoseLink(record, prev, beforePrev, cursor)));
    }
    if (options.expect !== undefined && record.seq === options.expect.seq) {
      expectSeen = true;
      if (record.hash !== options.expect.hash) {
        return broken(record.seq, 'edited', `record ${record.seq} has hash ${record.hash}, not the ${options.expect.hash} recorded earlier: the chain was rewritten from this record or before`);
      }
    }
    beforePrev = prev.hash;
    prev = { seq: record.seq, hash: record.hash };
    checked += 1;
    recent.set(record.seq, record.hash);
    recent.delete(record.seq - SEARCH_WINDOW);
  }

  if (head === undefined) return broken(prev.seq + 1, 'head', 'the chain head (table audit_head) has no row');
  if (prev.seq < head.seq) return broken(prev.seq + 1, 'deleted', `${range(prev.seq + 1, head.seq)} missing: the chain head says the last record is ${head.seq}, the log ends at ${prev.seq}`);
  if (prev.seq > head.seq) return broken(head.seq + 1, 'inserted', `${range(head.seq + 1, prev.seq)} beyond the chain head (${head.seq}): appended outside kmipd`);
  if (prev.hash !== head.hash) {
    return broken(prev.seq, prev.seq === 0 ? 'head' : 'edited', prev.seq === 0 ? 'the chain is empty but its head has a hash' : `record ${prev.seq} does not have the hash the chain head holds`);
  }
  if (options.expect !== undefined && !expectSeen && options.expect.seq !== 0) {
    return broken(options.expect.seq, 'deleted', `record ${options.expect.seq}, recorded earlier with hash ${options.expect.hash}, is not in the chain (it ends at ${prev.seq})`);
  }
  return { intact: true, records: checked, head };
}

type Diagnosis = [seq: number, kind: BreakKind, detail: string];

/** `record` does not hash to its own hash under its own number. */
async function diagnoseContent(
  record: StoredRecord,
  prev: { seq: number; hash: string },
  cursor: Cursor,
  head: ChainHead | undefined,
  recent: ReadonlyMap<number, string>,
): Promise<Diagnosis> {
  const p = record.seq;
  const original = hashesAs(record);
  if (original !== undefined && recent.get(original) === record.hash) {
    return [p, 'inserted', `record ${p} was inserted: it is a copy of record ${original}`];
  }
  if (original !== undefined && original > p) {
    const other = await findBySeq(cursor, original);
    if (other !== undefined && recordHash(other, p) === other.hash) {
      return [p, 'reordered', `records ${p} and ${original} were swapped: each holds the other's record`];
    }
    return [p, 'deleted', `${range(p, original - 1)} deleted and the later records renumbered: record ${p} was written as ${original}`];
  }
  if (original !== undefined && original < p) {
    return [original, 'inserted', `${range(original, p - 1)} inserted: the record now numbered ${p} was written as ${original}`];
  }
  const next = await cursor.peek();
  if (next !== undefined && next.seq === p + 1) {
    if (next.prevHash === record.hash) return [p, 'edited', `record ${p} was edited: its fields no longer give its hash`];
    if (next.prevHash === prev.hash) return [p, 'inserted', `record ${p} was inserted: record ${p + 1} links to record ${prev.seq}`];
    if (recordHash(next, p) === next.hash) return [p, 'inserted', `record ${p} was inserted: the record now numbered ${p + 1} was written as ${p}`];
  }
  if (next === undefined && head !== undefined) {
    if (head.seq === prev.seq && head.hash === prev.hash) return [p, 'inserted', `record ${p} was appended after the chain head (${head.seq})`];
  }
  return [p, 'edited', `record ${p} was edited: its fields and its hash were both changed`];
}

/** `record` hashes right, but does not link to the record before it. */
async function diagnoseLink(record: StoredRecord, prev: { seq: number; hash: string }, beforePrev: string | undefined, cursor: Cursor): Promise<Diagnosis> {
  const p = record.seq;
  if (beforePrev !== undefined && record.prevHash === beforePrev) {
    return [prev.seq, 'inserted', `record ${prev.seq} was inserted: record ${p} links to the record before it`];
  }
  const next = await cursor.peek();
  if (next !== undefined && next.seq === p + 1 && recordHash(next, p) === next.hash && next.prevHash === prev.hash) {
    return [p, 'inserted', `record ${p} was inserted: the record now numbered ${p + 1} was written as ${p} and links to record ${prev.seq}`];
  }
  if (prev.seq === 0) return [p, 'edited', `record ${p} does not start the chain: it was edited, or the records before it deleted`];
  return [prev.seq, 'edited', `record ${prev.seq} was edited (its hash rewritten to match): record ${p} does not link to it`];
}

async function findBySeq(cursor: Cursor, seq: number): Promise<StoredRecord | undefined> {
  for (let offset = 0; offset <= SEARCH_WINDOW; offset++) {
    const record = await cursor.peek(offset);
    if (record === undefined || record.seq > seq) return undefined;
    if (record.seq === seq) return record;
  }
  return undefined;
}
