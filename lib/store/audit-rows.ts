/**
 * The audit tables as both back ends export and import them for backup and restore: every
 * column copied exactly as stored (hashes, `objects` as its JSON text), so that a restored
 * chain hashes as the original did and `kmipd audit verify` passes on it.
 */
import type { ChainHead } from '../audit/record.js';

export { AUDIT_COLUMNS, auditRecordFromRow, auditRowValues } from '../audit/rows.js';
export type { AuditRow, AuditRowValues } from '../audit/rows.js';

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
