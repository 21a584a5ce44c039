/**
 * The audit trail in the SQLite store: the tables (a migration step of lib/store/sqlite.ts),
 * the append that runs inside the store's write transaction, and a reader over its own
 * connection for `kmipd audit verify` and `export`.
 *
 * Several processes (node:cluster workers) share one SQLite file: every store commit is
 * BEGIN IMMEDIATE, which takes the database's single write lock before anything is read, so
 * reading the head, appending and moving the head happen with no other writer in between.
 */
import Database from 'better-sqlite3';
import { AuditChainError, GENESIS_HASH, chainEntries, objectsJson } from './record.js';
import type { AuditEntry, AuditReader, ChainHead } from './record.js';
import { AUDIT_COLUMNS, auditRecordFromRow } from './rows.js';
import type { AuditRow, AuditRowValues } from './rows.js';

/** Schema step creating the audit tables (applied once, by the store's migrations). */
export const SQLITE_AUDIT_SCHEMA = `
  -- Append-only: record n holds the SHA-256 (hex) of record n - 1 (prev_hash) and its own
  -- (hash), over the canonical bytes of lib/audit/record.ts. Numbers have no gaps.
  CREATE TABLE audit_log (
    seq INTEGER PRIMARY KEY NOT NULL,
    time TEXT NOT NULL,               -- ISO 8601 UTC with milliseconds
    identity TEXT NOT NULL,
    peer TEXT NOT NULL,
    correlation TEXT NOT NULL,        -- server correlation value of the request
    client_correlation TEXT,
    item INTEGER,                     -- batch item, from 1; NULL for an unreadable request
    operation TEXT,
    objects TEXT NOT NULL,            -- JSON list of Unique Identifiers
    status TEXT NOT NULL,
    reason TEXT,
    message TEXT,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
  ) STRICT;
  CREATE INDEX audit_log_time ON audit_log (time);
  -- The chain head: one row, moved in the same transaction as every append.
  CREATE TABLE audit_head (
    id INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    seq INTEGER NOT NULL,
    hash TEXT NOT NULL
  ) STRICT;
  INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '${GENESIS_HASH}');
`;

const HEAD_MISSING = 'the audit chain head (table audit_head) has no row: the audit trail was tampered with; run kmipd audit verify';

/** Appends records inside a write transaction of the connection it was made for. */
export class SqliteAuditAppender {
  readonly #head: Database.Statement<[], ChainHead>;
  readonly #insert: Database.Statement<AuditRowValues>;
  readonly #moveHead: Database.Statement<[seq: number, hash: string]>;

  constructor(db: Database.Database) {
    this.#head = db.prepare<[], ChainHead>('SELECT seq, hash FROM audit_head WHERE id = 1');
    this.#insert = db.prepare(
      `INSERT INTO audit_log (${AUDIT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.#moveHead = db.prepare('UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1');
  }

  /** Only inside the store's BEGIN IMMEDIATE transaction; a throw rolls the whole commit back. */
  append(entries: readonly AuditEntry[]): void {
    if (entries.length === 0) return;
    const head = this.#head.get();
    if (head === undefined) throw new AuditChainError(HEAD_MISSING);
    const chained = chainEntries(head, entries);
    for (const r of chained.records) {
      this.#insert.run(r.seq, r.time, r.identity, r.peer, r.correlation, r.clientCorrelation, r.item, r.operation, objectsJson(r.objects), r.status, r.reason, r.message, r.prevHash, r.hash);
    }
    this.#moveHead.run(chained.head.seq, chained.head.hash);
  }
}

/** About how many read-record transactions fill SQLite's default checkpoint threshold (1000 WAL pages, ~4 per transaction). */
const CHECKPOINT_EVERY = 250;

/**
 * Records of reads written at once on the event loop's thread, over a connection of its own
 * with synchronous=NORMAL (auditReadDurability `process`): no sync to wait for, so no thread
 * hand-off either. It never waits for the write lock (busy_timeout 0): when another
 * connection holds it, `append` says so and the caller hands the records to the audit thread,
 * which may wait. Checkpoints (which sync) are left to that thread too: `append` returns true
 * in `checkpointDue` every CHECKPOINT_EVERY transactions.
 */
export class SqliteReadAuditWriter {
  readonly #db: Database.Database;
  readonly #append: Database.Transaction<(entries: readonly AuditEntry[]) => void>;
  #commits = 0;

  constructor(path: string) {
    this.#db = new Database(path, { fileMustExist: true });
    try {
      this.#db.pragma('synchronous = NORMAL');
      this.#db.pragma('busy_timeout = 0');
      this.#db.pragma('wal_autocheckpoint = 0');
      const appender = new SqliteAuditAppender(this.#db);
      this.#append = this.#db.transaction((entries: readonly AuditEntry[]) => appender.append(entries));
    } catch (error) {
      this.#db.close();
      throw error;
    }
  }

  /** Committed (in the WAL, not synced): `written`; the write lock was taken: not written, hand them on. */
  append(entries: readonly AuditEntry[]): { readonly written: boolean; readonly checkpointDue: boolean } {
    try {
      this.#append.immediate(entries);
    } catch (error) {
      if (error instanceof Database.SqliteError && error.code.startsWith('SQLITE_BUSY')) return { written: false, checkpointDue: false };
      throw error;
    }
    this.#commits += 1;
    return { written: true, checkpointDue: this.#commits % CHECKPOINT_EVERY === 0 };
  }

  close(): void {
    if (this.#db.open) this.#db.close();
  }
}


/**
 * A reader over its own connection to the database file, inside one read transaction: the
 * head and every record come from the same snapshot while servers keep appending (WAL).
 */
export function openSqliteAuditReader(path: string): AuditReader {
  const db = new Database(path, { fileMustExist: true });
  try {
    db.pragma('busy_timeout = 5000');
    const tables = db.prepare<[], string>("SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('audit_log', 'audit_head')").pluck().all();
    if (tables.length !== 2) {
      throw new AuditChainError(`${path} has no audit trail (tables audit_log and audit_head): open it once with this kmipd (kmipd serve) to create them`);
    }
    db.exec('BEGIN');
  } catch (error) {
    db.close();
    throw error;
  }
  const head = db.prepare<[], ChainHead>('SELECT seq, hash FROM audit_head WHERE id = 1');
  const page = db.prepare<[number, number], AuditRow>(`SELECT ${AUDIT_COLUMNS} FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?`);
  const pageSince = db.prepare<[number, string, number], AuditRow>(`SELECT ${AUDIT_COLUMNS} FROM audit_log WHERE seq > ? AND time >= ? ORDER BY seq LIMIT ?`);
  return {
    head: async () => {
      const row = head.get();
      return row === undefined ? undefined : { seq: Number(row.seq), hash: String(row.hash) };
    },
    records: async (afterSeq, limit, sinceTime) =>
      (sinceTime === undefined ? page.all(afterSeq, limit) : pageSince.all(afterSeq, sinceTime, limit)).map(auditRecordFromRow),
    close: async () => {
      if (!db.open) return;
      try {
        db.exec('COMMIT');
      } finally {
        db.close();
      }
    },
  };
}
