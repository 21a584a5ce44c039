/**
 * The SQLite audit thread: appends audit-only transactions (the group commits of reads and
 * failures) over a connection of its own, so that their disk syncs never block the event
 * loop that serves clients; requests that arrive meanwhile gather into the next group.
 * Started by lib/audit/sqlite-thread.ts. BEGIN IMMEDIATE serialises it with the main
 * connection and with other processes on the file, exactly as the store's own commits.
 */
import Database from 'better-sqlite3';
import { parentPort, workerData } from 'node:worker_threads';
import type { MessagePort } from 'node:worker_threads';
import type { AuditDurability } from '../store/types.js';
import type { AuditEntry } from './record.js';
import { SqliteAuditAppender } from './sqlite.js';

export interface AuditThreadConfig {
  readonly path: string;
  readonly busyTimeoutMs: number;
}

export type AuditThreadRequest =
  | { readonly id: number; readonly entries: readonly AuditEntry[]; readonly durability: AuditDurability }
  | { readonly id: number; readonly checkpoint: 'PASSIVE' | 'TRUNCATE' }
  | { readonly id: number; readonly close: true };
export type AuditThreadReply = { readonly id: number; readonly ok: true } | { readonly id: number; readonly ok: false; readonly message: string };

if (parentPort === null) throw new Error('lib/audit/sqlite-worker runs only as a worker thread');
const port: MessagePort = parentPort;
const config = workerData as AuditThreadConfig;

const db = new Database(config.path, { fileMustExist: true });
db.pragma(`busy_timeout = ${Math.max(0, Math.trunc(config.busyTimeoutMs))}`);
const appender = new SqliteAuditAppender(db);
const append = db.transaction((entries: readonly AuditEntry[]) => appender.append(entries));

/**
 * `fsync`: synchronous=FULL, the WAL is synced at each commit. `process`: synchronous=NORMAL
 * (the database is in WAL mode): the commit's frames are written to the WAL, so every reader
 * and a restart after a crash of this process see them, but not synced; the next FULL commit
 * on any connection syncs the WAL file and with it every earlier frame, and WAL recovery keeps
 * the frames up to the last valid commit, so after a power loss the chain is a prefix.
 */
let synchronous = '';
function setDurability(durability: AuditDurability): void {
  const wanted = durability === 'process' ? 'NORMAL' : 'FULL';
  if (wanted === synchronous) return;
  db.pragma(`synchronous = ${wanted}`);
  synchronous = wanted;
}
setDurability('fsync');

port.on('message', (request: AuditThreadRequest) => {
  if ('close' in request) {
    db.close();
    port.postMessage({ id: request.id, ok: true } satisfies AuditThreadReply);
    return;
  }
  try {
    if ('checkpoint' in request) {
      // For the event loop's connections, which never checkpoint (it would sync there). A
      // TRUNCATE waits (busy_timeout) for writers and readers to leave the WAL, then empties it;
      // when they do not in time it does what it can, like PASSIVE.
      db.pragma(`wal_checkpoint(${request.checkpoint})`);
      port.postMessage({ id: request.id, ok: true } satisfies AuditThreadReply);
      return;
    }
    setDurability(request.durability);
    append.immediate(request.entries);
    port.postMessage({ id: request.id, ok: true } satisfies AuditThreadReply);
  } catch (error) {
    port.postMessage({ id: request.id, ok: false, message: error instanceof Error ? error.message : String(error) } satisfies AuditThreadReply);
  }
});
