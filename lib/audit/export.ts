/**
 * `kmipd audit export`: the audit records as JSON lines (one object a line, UTF-8), the form
 * SIEM collectors ingest. Each line carries its sequence number and hashes, so a collector
 * can check that it received an unbroken run of the chain.
 */
import { parseObjects } from './record.js';
import type { AuditReader, StoredRecord } from './record.js';

/** Where an export starts: a sequence number (that record on), or a time (records written then or later). */
export type ExportStart = { readonly seq: number } | { readonly time: string };

export class ExportStartError extends Error {
  override readonly name = 'ExportStartError';
}

/** `--since`: a sequence number (digits), or an ISO 8601 date or date-time (UTC unless it says otherwise). */
export function parseSince(text: string): ExportStart {
  const trimmed = text.trim();
  if (/^\d+$/.test(trimmed)) {
    const seq = Number(trimmed);
    if (!Number.isSafeInteger(seq)) throw new ExportStartError(`--since ${text}: sequence number too large`);
    return { seq };
  }
  // Date.parse accepts many forms; accept only ISO 8601 so that an operator's typo is not read as some other date.
  if (!/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(trimmed)) {
    throw new ExportStartError(`--since ${text}: give a sequence number (1234) or an ISO 8601 date (2024-05-01 or 2024-05-01T12:00:00Z)`);
  }
  const dateOnly = trimmed.length === 10;
  const noZone = !dateOnly && !/(Z|[+-]\d{2}:?\d{2})$/.test(trimmed);
  const ms = Date.parse(dateOnly ? `${trimmed}T00:00:00Z` : noZone ? `${trimmed.replace(' ', 'T')}Z` : trimmed.replace(' ', 'T'));
  if (Number.isNaN(ms)) throw new ExportStartError(`--since ${text}: not a valid date`);
  return { time: new Date(ms).toISOString() };
}

/** One record as the JSON object of its line. */
export function exportObject(record: StoredRecord): Record<string, unknown> {
  return {
    seq: record.seq,
    time: record.time,
    identity: record.identity,
    peer: record.peer,
    operation: record.operation,
    objects: parseObjects(record.objectsJson),
    status: record.status,
    reason: record.reason,
    message: record.message,
    correlation: record.correlation,
    clientCorrelation: record.clientCorrelation,
    item: record.item,
    prevHash: record.prevHash,
    hash: record.hash,
  };
}

/** The lines of every record from `start`, in chain order, read a page at a time. */
export async function* exportLines(reader: AuditReader, start: ExportStart, pageSize = 1000): AsyncGenerator<string> {
  let after = 'seq' in start ? Math.max(0, start.seq - 1) : 0;
  const sinceTime = 'time' in start ? start.time : undefined;
  for (;;) {
    const page = await reader.records(after, pageSize, sinceTime);
    for (const record of page) yield `${JSON.stringify(exportObject(record))}\n`;
    const last = page[page.length - 1];
    if (last === undefined || page.length < pageSize) return;
    after = last.seq;
  }
}
