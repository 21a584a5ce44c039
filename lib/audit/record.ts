/**
 * Audit records and their hash chain. An entry is what happened (who, from where, which
 * operation on which objects, with what result); the store makes it a record by giving it
 * the next sequence number and the SHA-256 of the previous record's canonical bytes, inside
 * the transaction that writes it, so the chain has one order however many writers share it.
 *
 * Records hold identifiers and results only, never a field of a request or response
 * payload: no key material, password or other secret can reach the audit trail.
 */
import * as crypto from 'node:crypto';

/** What the service records for one batch item, or for one request it could not read. */
export interface AuditEntry {
  /** ISO 8601 UTC with milliseconds: `2024-05-01T12:00:00.000Z`. */
  readonly time: string;
  /** The client's identity (certificate subject, or credential user). */
  readonly identity: string;
  /** The client's address, `203.0.113.7:50122`. */
  readonly peer: string;
  /** The server correlation value of the request (every log line of it carries the same). */
  readonly correlation: string;
  /** The client correlation value of the request header, when it sent one. */
  readonly clientCorrelation: string | null;
  /** The batch item's position in its request, from 1; null for a request that could not be read. */
  readonly item: number | null;
  /** The operation's name (`Get`, `Create`...); null when the message could not be read. */
  readonly operation: string | null;
  /** Unique Identifiers the request named and the response returned, without repeats. */
  readonly objects: readonly string[];
  /** The Result Status: `Success`, `OperationFailed`, `OperationPending`, `OperationUndone`. */
  readonly status: string;
  /** The Result Reason of a failure (`PermissionDenied`, `ItemNotFound`...). */
  readonly reason: string | null;
  /** The Result Message the client was given. */
  readonly message: string | null;
}

/** An entry as stored: numbered and chained. Hashes are lower-case hex (64 digits). */
export interface AuditRecord extends AuditEntry {
  readonly seq: number;
  readonly prevHash: string;
  readonly hash: string;
}

/** Where the chain ends: the last record's number and hash (0 and GENESIS_HASH when empty). */
export interface ChainHead {
  readonly seq: number;
  readonly hash: string;
}

/** The audit trail cannot be read or extended as it stands (missing tables, missing head). */
export class AuditChainError extends Error {
  override readonly name = 'AuditChainError';
}

/** The `prevHash` of record 1. */
export const GENESIS_HASH = '0'.repeat(64);

export const EMPTY_HEAD: ChainHead = { seq: 0, hash: GENESIS_HASH };

/** A version tag inside the hashed bytes, so a later format can never be confused with this one. */
const FORMAT = 'kmipd-audit-1';

/** Longest Result Message kept; a longer one is cut (the client saw it whole). */
export const MAX_MESSAGE_LENGTH = 1024;
/** Most object identifiers kept in one record (a Locate may return thousands). */
export const MAX_OBJECTS = 1000;

/**
 * The bytes a record's hash covers: a JSON array of every field in a fixed order. `objects`
 * enters as its stored JSON text, so the verifier hashes exactly what the database holds.
 */
export function canonicalBytes(record: Omit<AuditRecord, 'hash' | 'objects'> & { readonly objectsJson: string }): Buffer {
  return Buffer.from(canonicalText(record, record.seq, record.prevHash, record.objectsJson), 'utf8');
}

/** What canonicalBytes encodes in UTF-8, for `fields` numbered `seq` after `prevHash`, without first copying them into one object. */
function canonicalText(fields: Omit<AuditEntry, 'objects'>, seq: number, prevHash: string, objects: string): string {
  return JSON.stringify([
    FORMAT,
    seq,
    prevHash,
    fields.time,
    fields.identity,
    fields.peer,
    fields.correlation,
    fields.clientCorrelation,
    fields.item,
    fields.operation,
    objects,
    fields.status,
    fields.reason,
    fields.message,
  ]);
}

/**
 * SHA-256 (hex) of `text` in UTF-8. The one-shot crypto.hash (Node 20.12 and later) makes
 * no Hash object and no Buffer: about 0.6 us a record instead of 2 us, paid once per operation.
 */
const sha256Hex: (text: string) => string =
  typeof crypto.hash === 'function' ? (text) => crypto.hash('sha256', text, 'hex') : (text) => crypto.createHash('sha256').update(text, 'utf8').digest('hex');

/** The stored form of `objects`. */
export function objectsJson(objects: readonly string[]): string {
  return JSON.stringify(objects);
}

/**
 * Number and chain `entries` after `head`: what a store writes inside its transaction, after
 * reading the head under a lock. Returns the records and the new head.
 */
export function chainEntries(head: ChainHead, entries: readonly AuditEntry[]): { records: AuditRecord[]; head: ChainHead } {
  const records: AuditRecord[] = [];
  let { seq, hash } = head;
  for (const given of entries) {
    seq += 1;
    const record = chainedRecord(normalizeEntry(given), seq, hash);
    records.push(record);
    hash = record.hash;
  }
  return { records, head: { seq, hash } };
}

/**
 * `entry` as record `seq` after `prevHash`. The fields are listed one by one: V8 builds an
 * object spread followed by more properties (`{ ...entry, seq }`) on a slow path, several
 * microseconds a record, which made the chain ~6 % of a Get's CPU.
 */
function chainedRecord(entry: AuditEntry, seq: number, prevHash: string): AuditRecord {
  const hash = sha256Hex(canonicalText(entry, seq, prevHash, objectsJson(entry.objects)));
  return {
    time: entry.time,
    identity: entry.identity,
    peer: entry.peer,
    correlation: entry.correlation,
    clientCorrelation: entry.clientCorrelation,
    item: entry.item,
    operation: entry.operation,
    objects: entry.objects,
    status: entry.status,
    reason: entry.reason,
    message: entry.message,
    seq,
    prevHash,
    hash,
  };
}

/** A character storableText replaces may be there (nearly all text has none: it is returned as it is). */
const UNSTORABLE = /[\u0000\uD800-\uDFFF]/;

/**
 * Make text safe to store and hash the same everywhere: PostgreSQL TEXT cannot hold U+0000,
 * and a lone UTF-16 surrogate would come back from UTF-8 storage changed (breaking the hash).
 */
export function storableText(text: string): string {
  if (!UNSTORABLE.test(text)) return text;
  return text.replace(/\u0000/g, '\uFFFD').replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');
}

/** An entry with every text made storable and the bounded fields bounded. */
export function normalizeEntry(entry: AuditEntry): AuditEntry {
  const text = (value: string | null): string | null => (value === null ? null : storableText(value));
  const message = entry.message === null ? null : storableText(entry.message.length > MAX_MESSAGE_LENGTH ? `${entry.message.slice(0, MAX_MESSAGE_LENGTH)}...` : entry.message);
  return {
    time: entry.time,
    identity: storableText(entry.identity),
    peer: storableText(entry.peer),
    correlation: storableText(entry.correlation),
    clientCorrelation: text(entry.clientCorrelation),
    item: entry.item,
    operation: text(entry.operation),
    objects: storableObjects(entry.objects),
    status: storableText(entry.status),
    reason: text(entry.reason),
    message,
  };
}

/** The identifiers made storable, each kept once, at most MAX_OBJECTS of them. */
function storableObjects(objects: readonly string[]): string[] {
  // Nearly every record names one object, often twice (asked for and answered): a list that
  // short is checked in place, without the Set and the three lists of the general case.
  if (objects.length <= 2) {
    const first = objects[0];
    const second = objects[1];
    if (first === undefined) return [];
    if (second === undefined || second === first) return [storableText(first)];
  }
  return [...new Set(objects.map(storableText))].slice(0, MAX_OBJECTS);
}

/** A record as read back from the database: `objects` still as its stored JSON text. */
export interface StoredRecord extends Omit<AuditRecord, 'objects'> {
  readonly objectsJson: string;
}

/** The hash `row` should have if it were record number `seq` (its own number by default). */
export function recordHash(row: StoredRecord, seq: number = row.seq): string {
  return sha256Hex(canonicalText(row, seq, row.prevHash, row.objectsJson));
}

/** The identifiers of a stored record; text that is not a JSON list of strings is given as it is. */
export function parseObjects(objectsJson: string): string[] {
  try {
    const parsed: unknown = JSON.parse(objectsJson);
    if (Array.isArray(parsed) && parsed.every((id): id is string => typeof id === 'string')) return parsed;
  } catch {
    // Not JSON: fall through and keep the text.
  }
  return [objectsJson];
}

/** Reads one consistent snapshot of a store's audit trail (see AuditSource). */
export interface AuditReader {
  /** The stored chain head; undefined when its row is missing. */
  head(): Promise<ChainHead | undefined>;
  /** Up to `limit` records numbered above `afterSeq`, in order; only those at or after `sinceTime` when given. */
  records(afterSeq: number, limit: number, sinceTime?: string): Promise<StoredRecord[]>;
  /** Ends the snapshot (and the connection when the reader opened its own). */
  close(): Promise<void>;
}

/** A store whose audit trail can be read. */
export interface AuditSource {
  auditReader(): Promise<AuditReader>;
}
