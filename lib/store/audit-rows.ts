/**
 * The audit tables as both back ends export and import them for backup and restore: every
 * column copied exactly as stored (hashes, `objects` as its JSON text), so that a restored
 * chain hashes as the original did and `kmipd audit verify` passes on it.
 */
import type { ChainHead, StoredRecord } from '../audit/record.js';

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
  return {
    seq: Number(row.seq),
    time: row.time,
    identity: row.identity,
    peer: row.peer,
    correlation: row.correlation,
    clientCorrelation: row.client_correlation,
    item: row.item === null ? null : Number(row.item),
    operation: row.operation,
    objectsJson: row.objects,
    status: row.status,
    reason: row.reason,
    message: row.message,
    prevHash: row.prev_hash,
    hash: row.hash,
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

/** The head an imported trail ends at; refused when missing (a chain without a head cannot be extended). */
export function importedHead(head: ChainHead | undefined): ChainHead {
  if (head === undefined) {
    throw new Error('the imported audit trail has no chain head (its source had lost its audit_head row: run kmipd audit verify on the source)');
  }
  return head;
}

/** Progress of MaintenanceStore.refreshIndex, as kept in maintenance_state. */
export interface IndexProgress {
  readonly version: number;
  /** The last object done; null once every object is. */
  readonly after: string | null;
}

export function parseIndexProgress(value: string | undefined): IndexProgress | undefined {
  if (value === undefined) return undefined;
  try {
    const parsed: unknown = JSON.parse(value);
    if (typeof parsed === 'object' && parsed !== null && 'version' in parsed && 'after' in parsed) {
      const { version, after } = parsed;
      if (typeof version === 'number' && (after === null || typeof after === 'string')) return { version, after };
    }
  } catch {
    // Unreadable progress: start again (the work is idempotent).
  }
  return undefined;
}

/** The maintenance_state key of an index refresh. */
export const indexTask = (name: string): string => `refresh index ${name}`;
