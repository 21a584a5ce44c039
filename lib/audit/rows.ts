/**
 * The audit_log row, as both back ends store it: the column list, the row as read (values
 * taken as stored, whatever an editor put there: the hash check judges them), and the
 * values of a record in column order, for inserts, backups and restores.
 */
import type { StoredRecord } from './record.js';

/** The columns of audit_log, in the order of `auditRowValues`. */
export const AUDIT_COLUMNS = 'seq, time, identity, peer, correlation, client_correlation, item, operation, objects, status, reason, message, prev_hash, hash';

/** A row of audit_log (PostgreSQL gives bigint as text). */
export interface AuditRow {
  readonly seq: number | string;
  readonly time: string;
  readonly identity: string;
  readonly peer: string;
  readonly correlation: string;
  readonly client_correlation: string | null;
  readonly item: number | null;
  readonly operation: string | null;
  readonly objects: string;
  readonly status: string;
  readonly reason: string | null;
  readonly message: string | null;
  readonly prev_hash: string;
  readonly hash: string;
}

export function auditRecordFromRow(row: AuditRow): StoredRecord {
  const orNull = (value: unknown): string | null => (value === null ? null : String(value));
  return {
    seq: Number(row.seq),
    time: String(row.time),
    identity: String(row.identity),
    peer: String(row.peer),
    correlation: String(row.correlation),
    clientCorrelation: orNull(row.client_correlation),
    item: row.item === null ? null : Number(row.item),
    operation: orNull(row.operation),
    objectsJson: String(row.objects),
    status: String(row.status),
    reason: orNull(row.reason),
    message: orNull(row.message),
    prevHash: String(row.prev_hash),
    hash: String(row.hash),
  };
}

export type AuditRowValues = [
  seq: number,
  time: string,
  identity: string,
  peer: string,
  correlation: string,
  clientCorrelation: string | null,
  item: number | null,
  operation: string | null,
  objects: string,
  status: string,
  reason: string | null,
  message: string | null,
  prevHash: string,
  hash: string,
];

/** A record's column values, in AUDIT_COLUMNS order. */
export function auditRowValues(r: StoredRecord): AuditRowValues {
  return [r.seq, r.time, r.identity, r.peer, r.correlation, r.clientCorrelation, r.item, r.operation, r.objectsJson, r.status, r.reason, r.message, r.prevHash, r.hash];
}
