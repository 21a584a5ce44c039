/**
 * The embedded store: one SQLite file through better-sqlite3, WAL with synchronous=FULL so
 * a commit is on disk before its promise resolves (DESIGN.md decision 4). Object commits use
 * group commit: written with synchronous=NORMAL, then the WAL is synced off the event loop;
 * commits that come while a sync runs are written together in one transaction (a savepoint
 * each) and share the next sync, either at once into an open transaction or, when cluster
 * workers share the file, after the running sync (see CommitGrouping). Key material is
 * written only wrapped under the KEK (decision 3). The store knows nothing of attribute semantics: the attribute module
 * supplies `indexKeys`, which turns attributes into the (name, key) rows Locate narrows by.
 */
import Database from 'better-sqlite3';
import { statSync } from 'node:fs';
import { chmod, open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { TtlvItem } from '../../ttlv/index.js';
import type { AttributeInstance } from '../attributes/types.js';
import type { KeyEncryptionKey } from '../crypto/index.js';
import type { ManagedObject } from '../objects/types.js';
import { StoreConflictError, UniqueValueError } from './types.js';
import { timeOrderedUuid } from './ids.js';
import { SQLITE_AUDIT_SCHEMA, SqliteAuditAppender, SqliteReadAuditWriter, openSqliteAuditReader } from '../audit/sqlite.js';
import { SqliteAuditThread } from '../audit/sqlite-thread.js';
import type { AuditEntry, AuditReader, AuditSource } from '../audit/record.js';
import type { Changes, ExportItem, ImportItem, ImportOptions, LocateQuery, MaintenanceStore, ObjectMetadata, UniqueClaim, WrappedBody } from './types.js';
import type { ChainHead } from '../audit/record.js';
import { AUDIT_COLUMNS, auditRecordFromRow, auditRowValues, importedHead, indexTask, parseIndexProgress } from './audit-rows.js';
import type { AuditRow, AuditRowValues, IndexProgress } from './audit-rows.js';
import { KekError, KekRing } from '../crypto/index.js';
import type { KekRecord } from '../crypto/index.js';
import { SqliteLocator } from './sqlite-locate.js';
import { decodeAttributes, encodeAttributes, indexRowKey, indexRows, unwrapBody, wrapBody } from './codec.js';
import type { IndexKeys, IndexRow } from './codec.js';
import { checkGrant, grantConditions, grantFromRow, scopeColumn, sqliteParam } from './grants-sql.js';
import type { GrantRow } from './grants-sql.js';
import type { GrantFilter, GrantRecord } from './types.js';
import type { ObjectCount } from './types.js';

export type { IndexKeys } from './codec.js';

/** The (name, key) pairs an object is found by; computed by the attribute module. */

export interface SqliteStoreOptions {
  /** The database file; created (mode 0600) when missing. */
  readonly path: string;
  readonly kek: KeyEncryptionKey;
  readonly indexKeys: IndexKeys;
  /** How long a write waits for another connection's transaction (ms); default 5000. */
  readonly busyTimeoutMs?: number;
  /** How object commits that come while a WAL sync runs are grouped (see CommitGrouping); default 'open'. */
  readonly commitGrouping?: CommitGrouping;
  /** The WAL size (bytes) past which it is checkpointed whole and truncated; default WAL_RESET_BYTES. */
  readonly walResetBytes?: number;
}

/**
 * Object commits that come while a sync of the WAL runs share a transaction and the next sync.
 * - 'open': each is written at once into one open transaction (see Batch), which the next
 *   sync commits: the write lock is held across the running sync. For one process alone.
 * - 'deferred': they wait in memory until the running sync ends, then are written together
 *   in one transaction (a savepoint each, see DeferredGroup) and synced: the write lock is
 *   held only while they are written. For processes that share the file (cluster workers):
 *   an open batch would make the others wait for its sync.
 * - 'none': each commit in a transaction of its own.
 */
export type CommitGrouping = 'open' | 'deferred' | 'none';

/**
 * Commits written while a sync of the WAL runs, in one open transaction, each in a savepoint
 * of its own (a failing one is undone alone). The sync after the running one first COMMITs
 * them together: a page several of them changed (the tail of the objects table and its
 * indexes, the audit chain head, the index range of a common attribute value) goes to the
 * WAL once, not once per commit, and the WAL's bytes are what the disk's bandwidth limits.
 */
interface Batch {
  /** Resolves once the batch is committed and synced; rejects when it could not be (none of its commits was kept). */
  readonly durable: Promise<void>;
  settle(error?: Error): void;
}

/** A commit waiting in a DeferredGroup: its rows and claims, and whether its savepoint was written. */
interface DeferredCommit {
  readonly creates: readonly PreparedRow[];
  readonly updates: readonly PreparedRow[];
  readonly audit: readonly AuditEntry[];
  readonly claims: readonly UniqueClaim[];
  /** Resolves once written in the group's transaction (committed, not synced); rejects when it was not kept. */
  readonly written: Promise<void>;
  settle(error?: Error): void;
}

/** Commits that came while a sync ran ('deferred' grouping), written together when it ends. */
interface DeferredGroup {
  readonly commits: DeferredCommit[];
  readonly batch: Batch;
}

/** Records of reads waiting for the end of this turn of the event loop (SqliteStore.#queueReadRecords). */
interface ReadRecords {
  readonly entries: AuditEntry[];
  /** Resolves once they are written (not synced); rejects when they could not be. */
  readonly written: Promise<void>;
  settle(error?: Error): void;
}

/** A promise settled from outside, awaited by several commits: never an unhandled rejection. */
function deferred(): { readonly promise: Promise<void>; settle(error?: Error): void } {
  let settle: (error?: Error) => void = () => undefined;
  const promise = new Promise<void>((resolve, reject) => {
    settle = (error) => (error === undefined ? resolve() : reject(error));
  });
  promise.catch(() => undefined);
  return { promise, settle };
}

function newBatch(): Batch {
  const { promise, settle } = deferred();
  return { durable: promise, settle };
}

export interface StoreStats {
  readonly objects: number;
}

/** The connection settings in force, as SQLite reports them (for status pages and tests). */
export interface SqliteSettings {
  readonly journalMode: string;
  /** 2 is FULL. */
  readonly synchronous: number;
  readonly foreignKeys: boolean;
  readonly busyTimeoutMs: number;
  readonly schemaVersion: number;
  /** 0 is the default (files, for Locate's large sorts); object commits set MEMORY for their journal only. */
  readonly tempStore: number;
}

/**
 * The rows indexKeys gives (lib/store/codec.ts), clustered on (name, key, object_id) so a
 * Locate condition reads one range of one b-tree. A key is never NULL in a primary key:
 * '' stands for indexKeys' null ("has an instance whose value has no key"). An empty text
 * value's row is the same row, which only widens a narrowing that Locate then checks exactly.
 */
const ATTRIBUTE_INDEX_TABLE = `
  CREATE TABLE attribute_index (
    name TEXT NOT NULL,
    key TEXT NOT NULL,
    object_id TEXT NOT NULL REFERENCES objects (id) ON DELETE CASCADE,
    PRIMARY KEY (name, key, object_id)
  ) STRICT, WITHOUT ROWID;
  CREATE INDEX attribute_index_object ON attribute_index (object_id);
`;

/**
 * Give every stored object its index rows anew, in one pass: the rows are gathered in a
 * temporary table and written in key order, far faster than as many random inserts. For
 * the schema migration, and for a bulk load that writes objects without their rows (which
 * then recounts object_counts: recountObjects).
 */
export function rebuildAttributeIndex(db: Database.Database, indexKeys: IndexKeys): number {
  db.exec('DELETE FROM attribute_index; CREATE TEMP TABLE attribute_index_load (name TEXT NOT NULL, key TEXT NOT NULL, object_id TEXT NOT NULL)');
  try {
    const insert = db.prepare<[string, string, string]>('INSERT INTO attribute_index_load (name, key, object_id) VALUES (?, ?, ?)');
    // Pages in table order (better-sqlite3 cannot insert while a SELECT is being iterated).
    const page = db.prepare<[number], { rowid: number; id: string; attributes: Buffer }>('SELECT rowid, id, attributes FROM objects WHERE rowid > ? ORDER BY rowid LIMIT 1000');
    let objects = 0;
    let after = 0;
    for (;;) {
      const rows = page.all(after);
      if (rows.length === 0) break;
      after = rows[rows.length - 1]?.rowid ?? after;
      for (const row of rows) {
        let index: IndexRow[];
        try {
          index = indexRows(decodeAttributes(row.attributes, row.id), indexKeys);
        } catch {
          continue; // a corrupt row: every load of it says so; it cannot hold back the others
        }
        for (const { name, key } of index) insert.run(name, key ?? '', row.id);
        objects += 1;
      }
    }
    db.exec('INSERT OR IGNORE INTO attribute_index (name, key, object_id) SELECT name, key, object_id FROM attribute_index_load ORDER BY name, key, object_id');
    return objects;
  } finally {
    db.exec('DROP TABLE temp.attribute_index_load');
  }
}

/**
 * How many objects of each type are in each State, as the State index rows say ('': an
 * object without one). The store's writes keep it; a bulk load recounts (recountObjects).
 */
const OBJECT_COUNTS_TABLE = `
  CREATE TABLE object_counts (
    object_type INTEGER NOT NULL,
    state TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (object_type, state)
  ) STRICT, WITHOUT ROWID;
`;

/** Count every object anew (one pass over the objects and their State rows). */
export function recountObjects(db: Database.Database): void {
  db.exec(`
    DELETE FROM object_counts;
    INSERT INTO object_counts (object_type, state, n)
      SELECT o.object_type, coalesce(s.key, ''), count(*) FROM objects o
      LEFT JOIN attribute_index s ON s.object_id = o.id AND s.name = 'State'
      GROUP BY o.object_type, coalesce(s.key, '');
  `);
}

/** The State index key among an object's index rows ('' when it has none), as object_counts keeps it. */
function stateKey(index: readonly IndexRow[]): string {
  return index.find((row) => row.name === 'State')?.key ?? '';
}

/** What the KEK triggers say when they refuse a write (see MIGRATIONS). */
const KEK_NOT_ACTIVE = 'kmipd: the KEK that wrapped this body is not the active KEK';

/**
 * Schema migrations: entry i takes the schema (`user_version`) from version i to i + 1; SQL,
 * or a function for a step that needs the attribute module (rebuilding the index rows).
 */
type Migration = string | ((db: Database.Database, indexKeys: IndexKeys) => void);

const MIGRATIONS: readonly Migration[] = [
  `
  CREATE TABLE objects (
    id TEXT PRIMARY KEY NOT NULL,
    seq INTEGER NOT NULL UNIQUE,      -- creation order
    object_type INTEGER NOT NULL,
    owner TEXT NOT NULL,
    revision INTEGER NOT NULL,
    attributes BLOB NOT NULL,         -- TTLV: Attributes { Attribute { Attribute Name, <value> } ... }
    body BLOB,                        -- TTLV of the object structure, wrapped under the KEK; NULL once destroyed
    kek_id TEXT,                      -- the KEK that wrapped body
    created INTEGER NOT NULL,         -- ms since the epoch
    updated INTEGER NOT NULL,
    CHECK ((body IS NULL) = (kek_id IS NULL))
  ) STRICT;
  CREATE INDEX objects_owner ON objects (owner, seq);
  CREATE INDEX objects_object_type ON objects (object_type, seq);

  -- One row per (name, key) from indexKeys, and one row with key NULL per attribute name
  -- the object has (for "has" conditions). Replaced by ATTRIBUTE_INDEX_TABLE (version 6).
  CREATE TABLE attribute_index (
    object_id TEXT NOT NULL REFERENCES objects (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    key TEXT
  ) STRICT;
  CREATE UNIQUE INDEX attribute_index_name_key ON attribute_index (name, key, object_id);
  CREATE INDEX attribute_index_object ON attribute_index (object_id);
  `,
  // Grants (lib/store/grants-sql.ts): one row per permission; scope_owner '' is every owner.
  `
  CREATE TABLE grants (
    target_kind TEXT NOT NULL CHECK (target_kind IN ('object', 'group')),
    target TEXT NOT NULL,             -- Unique Identifier, or Object Group name
    scope_owner TEXT NOT NULL,
    grantee_kind TEXT NOT NULL CHECK (grantee_kind IN ('identity', 'group')),
    grantee TEXT NOT NULL,
    permission TEXT NOT NULL,
    granted_by TEXT NOT NULL,
    created INTEGER NOT NULL,         -- ms since the epoch
    PRIMARY KEY (target, target_kind, scope_owner, grantee, grantee_kind, permission)
  ) STRICT;
  CREATE INDEX grants_grantee ON grants (grantee, grantee_kind, target_kind, target);
  `,
  // The audit trail (lib/audit/sqlite.ts): hash-chained records and the chain head.
  SQLITE_AUDIT_SCHEMA,
  // KEK rotation (`kmipd kek`): the KEKs, and a refusal to write a body wrapped under one
  // that is no longer active, so that nothing new lands under a KEK being rotated out.
  `
  CREATE TABLE keks (
    id TEXT PRIMARY KEY NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('active', 'retiring', 'retired')),
    kind TEXT NOT NULL,
    ref TEXT NOT NULL,
    created INTEGER NOT NULL
  ) STRICT;
  CREATE UNIQUE INDEX keks_one_active ON keks (state) WHERE state = 'active';
  CREATE INDEX objects_kek ON objects (kek_id, id) WHERE kek_id IS NOT NULL;
  CREATE TRIGGER objects_kek_insert BEFORE INSERT ON objects
    WHEN EXISTS (SELECT 1 FROM keks WHERE id = NEW.kek_id AND state <> 'active')
    BEGIN SELECT RAISE(ABORT, '${KEK_NOT_ACTIVE}'); END;
  CREATE TRIGGER objects_kek_update BEFORE UPDATE OF body, kek_id ON objects
    WHEN EXISTS (SELECT 1 FROM keks WHERE id = NEW.kek_id AND state <> 'active')
    BEGIN SELECT RAISE(ABORT, '${KEK_NOT_ACTIVE}'); END;
  `,
  // Progress of resumable maintenance (refreshIndex): without a row for the scheduler's due
  // index, the scheduler's first start gives every object written before it its due row.
  `
  CREATE TABLE maintenance_state (
    name TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL               -- JSON
  ) STRICT;
  `,
  // The attribute index as a table clustered on its key (no rowid copy; the object index
  // covers its rows), with only the rows indexKeys gives: 41 rows per AES key became about 10.
  (db, indexKeys) => {
    db.exec(`
      DROP TABLE attribute_index;
      ${ATTRIBUTE_INDEX_TABLE}
    `);
    rebuildAttributeIndex(db, indexKeys);
  },
  // Objects by type and State, kept by every write (the kmipd_objects metric read them with
  // a join over every object: 6 to 90 seconds on the event loop among 1,000,000 objects).
  (db) => {
    db.exec(OBJECT_COUNTS_TABLE);
    recountObjects(db);
  },
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/** Locks taken with `exclusively`, by database file and name, for every store of the process. */
const HELD = new Set<string>();

/**
 * Object commits between two checkpoints of the WAL, asked of the audit thread (the store's
 * own connection never checkpoints: a checkpoint syncs the WAL and the database file, and
 * would do so on the event loop). About 10 WAL pages per object commit: near SQLite's own
 * threshold of 1000 pages.
 */
const CHECKPOINT_EVERY = 100;

/**
 * A WAL this large is checkpointed whole and truncated, object commits waiting meanwhile.
 * Passive checkpoints never reset a WAL that writes keep appending to: under steady load it
 * grew without end (300 MB after 8,000 Creates), and each sync of it cost more.
 */
const WAL_RESET_BYTES = 64 * 1024 * 1024;

/**
 * Back to synchronous=FULL after an object commit's transaction. The PRAGMAs around object
 * commits go through exec, never a prepared statement: SQLite applies a PRAGMA's setting
 * when it compiles it, so running a prepared one again changes nothing. Nor db.pragma(),
 * which makes a Statement object each call (~5 us, with several per transaction).
 */
const FULL_SYNC = 'PRAGMA synchronous = FULL';

/** Most index rows one INSERT writes (3 parameters each); an AES key has about 10. */
const INDEX_ROWS_PER_INSERT = 32;

/** Objects written between two runs of PRAGMA optimize. */
const OPTIMIZE_EVERY = 1000;

export async function openSqliteStore(options: SqliteStoreOptions): Promise<SqliteStore> {
  await createPrivateFile(options.path);
  const db = new Database(options.path);
  try {
    const mode = db.pragma('journal_mode = WAL', { simple: true });
    if (mode !== 'wal') throw new Error(`${options.path}: SQLite cannot use WAL here (journal mode stays ${String(mode)})`);
    db.pragma('synchronous = FULL');
    db.pragma('foreign_keys = ON');
    db.pragma('wal_autocheckpoint = 0');
    db.pragma(`busy_timeout = ${Math.max(0, Math.trunc(options.busyTimeoutMs ?? 5000))}`);
    migrate(db, options.indexKeys);
    // Locate relies on the planner knowing that a (name, key) pair is more selective than an
    // owner: keep sqlite_stat1 current, with ANALYZE bounded so it stays cheap.
    db.pragma('analysis_limit = 1000');
    db.pragma('optimize = 0x10002');
    // SQLite gives -wal and -shm the main file's mode; chmod anyway, whatever the umask was.
    await restrictFiles(options.path);
  } catch (error) {
    db.close();
    throw error;
  }
  const store = new SqliteStore(db, options.kek, options.indexKeys, {
    grouping: options.commitGrouping ?? 'open',
    walResetBytes: options.walResetBytes ?? WAL_RESET_BYTES,
  });
  try {
    await store.registerKek();
  } catch (error) {
    await store.close();
    throw error;
  }
  return store;
}

/**
 * Bring the schema to SCHEMA_VERSION; refuse a database written by a newer kmipd. The
 * version is read inside the write transaction, so processes starting together migrate once.
 */
export function migrate(db: Database.Database, indexKeys: IndexKeys): void {
  const migrated = db.transaction(() => {
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version > MIGRATIONS.length) {
      throw new Error(`database schema version ${version} is newer than this kmipd understands (${MIGRATIONS.length}): upgrade kmipd`);
    }
    for (const step of MIGRATIONS.slice(version)) {
      if (typeof step === 'string') db.exec(step);
      else step(db, indexKeys);
    }
    if (version < MIGRATIONS.length) db.pragma(`user_version = ${MIGRATIONS.length}`);
    return version < MIGRATIONS.length;
  }).immediate();
  // A migration may rewrite much of the file; nothing checkpoints automatically (see openSqliteStore).
  if (migrated) db.pragma('wal_checkpoint(TRUNCATE)');
}

/** An empty file is a valid empty database: create it 0600 so SQLite never makes it wider. */
async function createPrivateFile(path: string): Promise<void> {
  try {
    const handle = await open(path, 'wx', 0o600);
    await handle.close();
  } catch (error) {
    if (!(error instanceof Error && (error as NodeJS.ErrnoException).code === 'EEXIST')) throw error;
  }
}

async function restrictFiles(path: string): Promise<void> {
  for (const file of [path, `${path}-wal`, `${path}-shm`]) {
    try {
      await chmod(file, 0o600);
    } catch (error) {
      if (!(error instanceof Error && (error as NodeJS.ErrnoException).code === 'ENOENT')) throw error;
    }
  }
}

// ---------------------------------------------------------------------------------------
// Rows

interface ObjectRow {
  readonly object_type: number;
  readonly owner: string;
  readonly revision: number;
  readonly attributes: Buffer;
  readonly body: Buffer | null;
  readonly kek_id: string | null;
}

/** An object ready to be written: everything encoded and wrapped, nothing left to await. */
interface PreparedRow {
  readonly id: string;
  readonly objectType: number;
  readonly owner: string;
  readonly revision: number;
  readonly attributes: Buffer;
  readonly body: Buffer | null;
  readonly kekId: string | null;
  readonly index: readonly IndexRow[];
}

// ---------------------------------------------------------------------------------------
// The store

export class SqliteStore implements MaintenanceStore, AuditSource {
  readonly #db: Database.Database;
  readonly #kek: KeyEncryptionKey;
  readonly #indexKeys: IndexKeys;
  readonly #locator: SqliteLocator;
  readonly #grantStatements = new Map<string, Database.Statement<string[], GrantRow<string>>>();
  readonly #insert: Database.Statement<
    [id: string, objectType: number, owner: string, revision: number, attributes: Buffer, body: Buffer | null, kekId: string | null, created: number, updated: number]
  >;
  readonly #update: Database.Statement<
    [objectType: number, owner: string, revision: number, attributes: Buffer, body: Buffer | null, kekId: string | null, updated: number, id: string, expected: number]
  >;
  readonly #selectRevision: Database.Statement<[id: string], number>;
  readonly #select: Database.Statement<[id: string], ObjectRow>;
  /** Without the body: its NULL-ness is in the record header, so the wrapped bytes are never read. */
  readonly #selectMetadata: Database.Statement<[id: string], Omit<ObjectRow, 'body' | 'kek_id'> & { readonly has_body: number }>;
  readonly #selectIndex: Database.Statement<[id: string], { name: string; key: string | null }>;
  readonly #deleteIndexRow: Database.Statement<[id: string, name: string, key: string | null]>;
  readonly #insertIndex: Database.Statement<[id: string, name: string, key: string | null]>;
  /** By row count (see #insertIndexRows). */
  readonly #insertIndexStatements: (Database.Statement<(string | null)[]> | undefined)[] = [];
  readonly #count: Database.Statement<[], number>;
  readonly #countByState: Database.Statement<[], { object_type: number; state: string; n: number }>;
  readonly #addCount: Database.Statement<[objectType: number, state: string, delta: number]>;
  readonly #selectObjectType: Database.Statement<[id: string], number>;
  #writtenSinceOptimize = 0;
  #commitsSinceCheckpoint = 0;
  /** Objects of an owner with key material that hold a value (Changes.unique). */
  readonly #claimHolders: Database.Statement<[string, string, string], string>;
  readonly #writeTransaction: Database.Transaction<(creates: readonly PreparedRow[], updates: readonly PreparedRow[], audit: readonly AuditEntry[], claims: readonly UniqueClaim[]) => void>;
  readonly #audit: SqliteAuditAppender;
  /** Audit-only commits (records of reads and failures), synced off the event loop. */
  readonly #auditThread: SqliteAuditThread;
  /** Unsynced audit-only commits on the event loop (auditDurability `process`), opened at first use. */
  #readAudit: SqliteReadAuditWriter | undefined;
  /** Group commit: one WAL sync for every object commit written since the last one started. */
  readonly #walSync = new GroupSync(async () => {
    const batch = this.#commitBatch() ?? (await this.#writeDeferred());
    try {
      await this.#syncWal();
    } catch (error) {
      batch?.settle(error instanceof Error ? error : new Error(String(error)));
      throw error;
    }
    batch?.settle();
  });
  readonly #grouping: CommitGrouping;
  readonly #walResetBytes: number;
  /** The connection's busy timeout (ms): how long an object commit waits for another process's write lock. */
  readonly #busyTimeoutMs: number;
  /** An object commit's BEGIN and COMMIT, prepared once (PRAGMAs cannot be: see FULL_SYNC). */
  readonly #begin: Database.Statement<[]>;
  readonly #commitStatement: Database.Statement<[]>;
  /** What #tryBegin restores once its BEGIN has run: the default temporary storage and the busy timeout. */
  readonly #afterBegin: string;
  /** While the audit thread truncates the WAL (see WAL_RESET_BYTES). */
  #walReset: Promise<void> | undefined;
  /** The open batch on the connection, if any ('open' grouping). */
  #batch: Batch | undefined;
  /** Commits waiting for the running sync to end ('deferred' grouping). */
  #deferred: DeferredGroup | undefined;
  /** Commits written in a transaction of their own that have not asked for their sync yet. */
  #unrequested = 0;
  /** Records of reads (auditReadDurability `process`) gathered for one transaction at the end of this turn. */
  #readRecords: ReadRecords | undefined;
  #wal: Promise<FileHandle> | undefined;
  /** Set when a sync of the WAL failed: what was written since may be lost, so no commit is acknowledged any more. */
  #syncFailure: Error | undefined;

  constructor(db: Database.Database, kek: KeyEncryptionKey, indexKeys: IndexKeys, writes: { grouping: CommitGrouping; walResetBytes: number }) {
    this.#db = db;
    this.#locator = new SqliteLocator(db);
    this.#grouping = writes.grouping;
    this.#walResetBytes = writes.walResetBytes;
    this.#busyTimeoutMs = Number(db.pragma('busy_timeout', { simple: true }));
    this.#begin = db.prepare('BEGIN IMMEDIATE');
    this.#commitStatement = db.prepare('COMMIT');
    this.#afterBegin = `PRAGMA temp_store = DEFAULT; PRAGMA busy_timeout = ${this.#busyTimeoutMs}`;
    this.#kek = kek;
    this.#indexKeys = indexKeys;
    this.#insert = db.prepare(
      `INSERT INTO objects (id, seq, object_type, owner, revision, attributes, body, kek_id, created, updated)
       VALUES (?, (SELECT coalesce(max(seq), 0) + 1 FROM objects), ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.#update = db.prepare(
      `UPDATE objects SET object_type = ?, owner = ?, revision = ?, attributes = ?, body = ?, kek_id = ?, updated = ?
       WHERE id = ? AND revision = ?`,
    );
    this.#selectRevision = db.prepare<[string], number>('SELECT revision FROM objects WHERE id = ?').pluck();
    this.#select = db.prepare<[string], ObjectRow>(
      'SELECT object_type, owner, revision, attributes, body, kek_id FROM objects WHERE id = ?',
    );
    this.#selectMetadata = db.prepare('SELECT object_type, owner, revision, attributes, body IS NOT NULL AS has_body FROM objects WHERE id = ?');
    // '' in the table is indexKeys' null (see ATTRIBUTE_INDEX_TABLE).
    this.#selectIndex = db.prepare("SELECT name, NULLIF(key, '') AS key FROM attribute_index WHERE object_id = ?");
    this.#deleteIndexRow = db.prepare("DELETE FROM attribute_index WHERE object_id = ? AND name = ? AND key = coalesce(?, '')");
    this.#insertIndex = db.prepare("INSERT OR IGNORE INTO attribute_index (object_id, name, key) VALUES (?, ?, coalesce(?, ''))");
    this.#count = db.prepare<[], number>('SELECT count(*) FROM objects').pluck();
    this.#countByState = db.prepare('SELECT object_type, state, n FROM object_counts WHERE n > 0');
    this.#addCount = db.prepare('INSERT INTO object_counts (object_type, state, n) VALUES (?, ?, ?) ON CONFLICT (object_type, state) DO UPDATE SET n = n + excluded.n');
    this.#selectObjectType = db.prepare<[string], number>('SELECT object_type FROM objects WHERE id = ?').pluck();
    this.#claimHolders = db
      .prepare<[string, string, string], string>('SELECT o.id FROM attribute_index a JOIN objects o ON o.id = a.object_id WHERE a.name = ? AND a.key = ? AND o.owner = ? AND o.body IS NOT NULL')
      .pluck();
    this.#audit = new SqliteAuditAppender(db);
    this.#auditThread = new SqliteAuditThread({ path: db.name, busyTimeoutMs: Number(db.pragma('busy_timeout', { simple: true })) });
    this.#writeTransaction = db.transaction((creates: readonly PreparedRow[], updates: readonly PreparedRow[], audit: readonly AuditEntry[], claims: readonly UniqueClaim[]) =>
      this.#write(creates, updates, audit, claims),
    );
  }

  newId(): string {
    return timeOrderedUuid();
  }

  async load(id: string): Promise<ManagedObject | undefined> {
    const row = this.#select.get(id);
    if (row === undefined) return undefined;
    const attributes = decodeAttributes(row.attributes, id);
    const body = row.body === null ? undefined : await this.#unwrapBody(id, row.body, row.kek_id);
    return { id, objectType: row.object_type, owner: row.owner, attributes, body, revision: row.revision };
  }

  async loadMetadata(id: string): Promise<ObjectMetadata | undefined> {
    const row = this.#selectMetadata.get(id);
    if (row === undefined) return undefined;
    const attributes = decodeAttributes(row.attributes, id);
    return { id, objectType: row.object_type, owner: row.owner, attributes, revision: row.revision, hasBody: row.has_body === 1 };
  }

  async commit(changes: Changes): Promise<void> {
    const creates = changes.create ?? [];
    const updates = changes.update ?? [];
    const audit = changes.audit ?? [];
    if (creates.length === 0 && updates.length === 0 && audit.length === 0) return;
    if (creates.length === 0 && updates.length === 0) {
      // Only records (of reads and failures). Unsynced ones are gathered over this turn of
      // the event loop and written together (see #flushReadRecords); synced ones go to the
      // audit thread's connection, so no wait stalls other clients, who gather into the next group.
      if (changes.auditDurability === 'process') return this.#queueReadRecords(audit);
      await this.#auditThread.append(audit, changes.auditDurability ?? 'fsync');
      return;
    }
    for (const object of creates) {
      if (object.revision !== 1) throw new Error(`object ${object.id}: a new object has revision 1, not ${object.revision}`);
    }
    for (const object of updates) {
      if (!Number.isInteger(object.revision) || object.revision < 2) {
        throw new Error(`object ${object.id}: an update has revision 2 or more, not ${object.revision}`);
      }
    }
    if (this.#syncFailure !== undefined) throw this.#syncFailure;
    while (this.#walReset !== undefined) await this.#walReset;
    // Wrapping may be asynchronous (an HSM worker): finish it before the transaction opens,
    // so the transaction itself is synchronous and holds the write lock only briefly.
    let batch: Batch | undefined;
    try {
      batch = await this.#prepareAndWrite(creates, updates, audit, changes.unique ?? [], changes.written === undefined);
    } catch (error) {
      if (!isKekRefusal(error)) throw error;
      // A KEK rotation began since this process last looked: wrap again under the new KEK.
      if (!(this.#kek instanceof KekRing)) throw kekRetired(this.#kek.id, error);
      await this.#kek.refresh();
      batch = await this.#prepareAndWrite(creates, updates, audit, changes.unique ?? [], changes.written === undefined);
    }
    // From here to request() below nothing awaits: no other commit runs in between.
    if (batch === undefined) this.#unrequested -= 1;
    // Written and visible, not yet durable: the caller may let the next commit in, which
    // will share the sync below (or the next one).
    changes.written?.();
    this.#commitsSinceCheckpoint += 1;
    if (this.#commitsSinceCheckpoint >= CHECKPOINT_EVERY) {
      this.#commitsSinceCheckpoint = 0;
      this.#checkpoint();
    }
    // A commit of a batch waits for the sync that commits the batch, the others for the next sync.
    await (batch === undefined ? this.#walSync.request() : batch.durable);
    this.#writtenSinceOptimize += creates.length + updates.length;
    if (this.#writtenSinceOptimize >= OPTIMIZE_EVERY) {
      // The change is committed: a failure to refresh statistics must not report it failed.
      try {
        this.optimize();
      } catch {
        // Statistics stay as they were; the next run or close() tries again.
      }
    }
  }

  /** See SqliteLocator: no statement reads the whole store; a scan lets other requests in between its stretches. */
  async locate(query: LocateQuery): Promise<string[]> {
    return this.#locator.locate(query, () => new Promise((resolve) => setImmediate(resolve)));
  }

  async stats(): Promise<StoreStats> {
    return { objects: this.#count.get() ?? 0 };
  }

  async countByState(): Promise<ObjectCount[]> {
    return this.#countByState.all().map((row) => ({ objectType: row.object_type, state: row.state === '' ? undefined : Number(row.state), count: row.n }));
  }

  settings(): SqliteSettings {
    const pragma = (name: string): unknown => this.#db.pragma(name, { simple: true });
    return {
      journalMode: String(pragma('journal_mode')),
      synchronous: Number(pragma('synchronous')),
      foreignKeys: Number(pragma('foreign_keys')) === 1,
      busyTimeoutMs: Number(pragma('busy_timeout')),
      schemaVersion: Number(pragma('user_version')),
      tempStore: Number(pragma('temp_store')),
    };
  }

  /**
   * Refresh the planner's statistics when SQLite thinks they are stale (PRAGMA optimize).
   * Runs by itself every OPTIMIZE_EVERY written objects and at close; advisory, so a busy
   * database is no error.
   */
  optimize(): void {
    this.#flushBatch(); // its own transaction, never inside a batch of object commits
    this.#writtenSinceOptimize = 0;
    try {
      this.#db.pragma('optimize = 0x10002');
    } catch (error) {
      if (!(error instanceof Database.SqliteError && error.code.startsWith('SQLITE_BUSY'))) throw error;
    }
  }

  // Grants -------------------------------------------------------------------------------

  async addGrants(grants: readonly GrantRecord[], audit: readonly AuditEntry[] = []): Promise<void> {
    this.#flushBatch(); // its own transaction, never inside a batch of object commits
    grants.forEach(checkGrant);
    const insert = this.#db.prepare(
      `INSERT OR IGNORE INTO grants (target_kind, target, scope_owner, grantee_kind, grantee, permission, granted_by, created)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.#db
      .transaction(() => {
        for (const g of grants) insert.run(g.targetKind, g.target, scopeColumn(g), g.granteeKind, g.grantee, g.permission, g.grantedBy, g.created);
        this.#audit.append(audit);
      })
      .immediate();
  }

  async removeGrants(filter: GrantFilter, audit: readonly AuditEntry[] = []): Promise<number> {
    this.#flushBatch(); // its own transaction, never inside a batch of object commits
    const params: string[] = [];
    const where = grantConditions(filter, sqliteParam(params));
    const sql = `DELETE FROM grants${where.length > 0 ? ` WHERE ${where.join(' AND ')}` : ''}`;
    const remove = this.#db.prepare<string[]>(sql);
    return this.#db
      .transaction(() => {
        const { changes } = remove.run(...params);
        this.#audit.append(audit);
        return changes;
      })
      .immediate();
  }

  async findGrants(filter: GrantFilter): Promise<GrantRecord[]> {
    const params: string[] = [];
    const where = grantConditions(filter, sqliteParam(params));
    const sql = `SELECT * FROM grants${where.length > 0 ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY created, rowid`;
    // Every access check of a non-owner runs one of a few shapes: keep them prepared.
    let statement = this.#grantStatements.get(sql);
    if (statement === undefined) {
      if (this.#grantStatements.size >= 64) this.#grantStatements.clear();
      statement = this.#db.prepare<string[], GrantRow<string>>(sql);
      this.#grantStatements.set(sql, statement);
    }
    return statement
      .all(...params)
      .map((row) => grantFromRow(row, (text) => text));
  }

  /** The audit trail, read over a connection of its own (one snapshot). */
  async auditReader(): Promise<AuditReader> {
    return openSqliteAuditReader(this.#db.name);
  }

  async close(): Promise<void> {
    if (!this.#db.open) return;
    await this.#readRecords?.written.catch(() => undefined);
    await this.#walSync.settled();
    // A batch is always followed by a queued sync, which commits it; this is only a guard.
    if (this.#batch !== undefined) await this.#walSync.request().catch(() => undefined);
    const wal = this.#wal;
    this.#wal = undefined;
    if (wal !== undefined) await wal.then((handle) => handle.close(), () => undefined);
    this.#readAudit?.close();
    await this.#auditThread.close();
    try {
      this.optimize();
    } finally {
      this.#db.close();
    }
  }

  // Maintenance (KEK rotation, backup and restore, the scheduler) -------------------------

  /** At open: list a KEK ring's KEK when the store lists none yet, then give the ring the list. */
  async registerKek(): Promise<void> {
    const ring = this.#kek;
    if (!(ring instanceof KekRing)) return;
    this.#db
      .prepare(`INSERT INTO keks (id, state, kind, ref, created) SELECT ?, 'active', ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM keks)`)
      .run(ring.id, ring.initial.kind, ring.initial.ref, Date.now());
    ring.attach(() => this.keks());
    await ring.refresh();
  }

  async keks(): Promise<KekRecord[]> {
    return this.#db.prepare<[], KekRow>('SELECT id, state, kind, ref, created FROM keks ORDER BY created, id').all().map(kekFromRow);
  }

  async kekUsage(): Promise<Map<string | null, number>> {
    const rows = this.#db.prepare<[], { kek_id: string | null; n: number }>('SELECT kek_id, count(*) AS n FROM objects GROUP BY kek_id').all();
    return new Map(rows.map((row) => [row.kek_id, row.n]));
  }

  async beginKekRotation(next: Pick<KekRecord, 'id' | 'kind' | 'ref'>): Promise<void> {
    this.#flushBatch(); // its own transaction, never inside a batch of object commits
    this.#db
      .transaction(() => {
        const active = this.#db.prepare<[], string>("SELECT id FROM keks WHERE state = 'active'").pluck().get();
        if (active === next.id) throw new Error(`KEK ${next.id} is already the active KEK`);
        if (this.#db.prepare("SELECT 1 FROM keks WHERE state = 'retiring'").get() !== undefined) {
          throw new Error('a KEK rotation is already in progress: finish it first (kmipd kek rotate resumes it)');
        }
        this.#db.prepare("UPDATE keks SET state = 'retiring' WHERE state = 'active'").run();
        this.#db.prepare("INSERT INTO keks (id, state, kind, ref, created) VALUES (?, 'active', ?, ?, ?)").run(next.id, next.kind, next.ref, Date.now());
      })
      .immediate();
  }

  async wrappedWith(kekId: string, afterId: string | undefined, limit: number): Promise<WrappedBody[]> {
    const rows = this.#db
      .prepare<[string, string, number], { id: string; body: Buffer; kek_id: string }>(
        'SELECT id, body, kek_id FROM objects WHERE kek_id = ? AND id > ? ORDER BY id LIMIT ?',
      )
      .all(kekId, afterId ?? '', limit);
    return rows.map((row) => ({ id: row.id, body: row.body, kekId: row.kek_id }));
  }

  async rewrapBody(from: WrappedBody, to: { readonly body: Buffer; readonly kekId: string }): Promise<boolean> {
    this.#flushBatch(); // its own transaction, never inside a batch of object commits
    const result = this.#db
      .prepare('UPDATE objects SET body = ?, kek_id = ? WHERE id = ? AND kek_id = ? AND body = ?')
      .run(to.body, to.kekId, from.id, from.kekId, from.body);
    return result.changes === 1;
  }

  async retireKek(id: string): Promise<boolean> {
    this.#flushBatch(); // its own transaction, never inside a batch of object commits
    return this.#db
      .transaction(() => {
        if (this.#db.prepare('SELECT 1 FROM objects WHERE kek_id = ? LIMIT 1').get(id) !== undefined) return false;
        return this.#db.prepare("UPDATE keks SET state = 'retired' WHERE id = ? AND state = 'retiring'").run(id).changes === 1;
      })
      .immediate();
  }

  async setKekRef(id: string, ref: string): Promise<void> {
    this.#flushBatch(); // its own transaction, never inside a batch of object commits
    this.#db.prepare('UPDATE keks SET ref = ? WHERE id = ?').run(ref, id);
  }

  /** A connection of its own, in a read transaction: one snapshot while this store keeps writing. */
  async *exportRows(): AsyncIterable<ExportItem> {
    const reader = new Database(this.#db.name, { readonly: true, fileMustExist: true });
    try {
      reader.pragma(`busy_timeout = ${Number(this.#db.pragma('busy_timeout', { simple: true }))}`);
      reader.exec('BEGIN');
      // The first read fixes the snapshot for the whole transaction.
      const keks = reader.prepare<[], KekRow>('SELECT id, state, kind, ref, created FROM keks ORDER BY created, id').all();
      for (const kek of keks) yield { kek: kekFromRow(kek) };
      const rows = reader.prepare<[], ExportRow>('SELECT id, object_type, owner, revision, attributes, body, kek_id, created, updated FROM objects ORDER BY seq');
      for (const row of rows.iterate()) {
        yield {
          id: row.id,
          objectType: row.object_type,
          owner: row.owner,
          revision: row.revision,
          attributes: row.attributes,
          body: row.body,
          kekId: row.kek_id,
          created: row.created,
          updated: row.updated,
        };
      }
      for (const row of reader.prepare<[], GrantRow<string>>('SELECT * FROM grants ORDER BY created, rowid').iterate()) {
        yield { grant: grantFromRow(row, (text) => text) };
      }
      for (const row of reader.prepare<[], AuditRow>(`SELECT ${AUDIT_COLUMNS} FROM audit_log ORDER BY seq`).iterate()) yield { audit: auditRecordFromRow(row) };
      const head = reader.prepare<[], ChainHead>('SELECT seq, hash FROM audit_head WHERE id = 1').get();
      if (head !== undefined) yield { auditHead: { seq: Number(head.seq), hash: String(head.hash) } };
      reader.exec('COMMIT');
    } finally {
      reader.close();
    }
  }

  async isEmpty(): Promise<boolean> {
    return this.#db.prepare('SELECT 1 FROM objects LIMIT 1').get() === undefined;
  }

  /**
   * The rows arrive asynchronously, so this is not a better-sqlite3 transaction function but
   * BEGIN ... COMMIT on the store's connection: nothing else may use the store meanwhile.
   */
  async importRows(keks: readonly KekRecord[], items: AsyncIterable<ImportItem>, options: ImportOptions = {}): Promise<number> {
    this.#flushBatch(); // its own transaction, never inside a batch of object commits
    const insert = this.#db.prepare<[string, number, string, number, Buffer, Buffer | null, string | null, number, number]>(
      `INSERT INTO objects (id, seq, object_type, owner, revision, attributes, body, kek_id, created, updated)
       VALUES (?, (SELECT coalesce(max(seq), 0) + 1 FROM objects), ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    const insertGrant = this.#db.prepare(
      `INSERT OR IGNORE INTO grants (target_kind, target, scope_owner, grantee_kind, grantee, permission, granted_by, created)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    const insertAudit = this.#db.prepare<AuditRowValues>(`INSERT INTO audit_log (${AUDIT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    const restoreAudit = options.restoreAudit === true;
    let count = 0;
    let head: ChainHead | undefined;
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      if (options.replace === true) {
        this.#db.exec('DELETE FROM objects');
        this.#db.exec('DELETE FROM grants');
      } else if (!(await this.isEmpty())) throw new Error('the store already holds objects: refusing to import over them');
      if (restoreAudit) {
        const records = this.#db.prepare<[], number>('SELECT count(*) FROM audit_log').pluck().get() ?? 0;
        if (options.replace !== true && records > 0) {
          throw new Error(`the store's audit trail already holds ${records} records: refusing to replace it with the imported one`);
        }
        this.#db.exec('DELETE FROM audit_log');
      }
      // Rows first, KEK records last: the triggers accept any KEK while the list is empty.
      this.#db.exec('DELETE FROM keks');
      for await (const item of items) {
        if ('grant' in item) {
          const g = item.grant;
          checkGrant(g);
          insertGrant.run(g.targetKind, g.target, scopeColumn(g), g.granteeKind, g.grantee, g.permission, g.grantedBy, g.created);
        } else if ('audit' in item) {
          if (!restoreAudit) throw new Error('audit records given to an import that keeps the store\'s own audit trail');
          insertAudit.run(...auditRowValues(item.audit));
        } else if ('auditHead' in item) {
          head = item.auditHead;
        } else {
          insert.run(item.id, item.objectType, item.owner, item.revision, item.attributes, item.body, item.kekId, item.created, item.updated);
          this.#writeIndex({ id: item.id, index: indexRows(decodeAttributes(item.attributes, item.id), this.#indexKeys) });
          count += 1;
        }
      }
      if (restoreAudit) {
        const { seq, hash } = importedHead(head);
        this.#db.prepare('INSERT INTO audit_head (id, seq, hash) VALUES (1, ?, ?) ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash').run(seq, hash);
      }
      const insertKek = this.#db.prepare('INSERT INTO keks (id, state, kind, ref, created) VALUES (?, ?, ?, ?, ?)');
      for (const kek of keks) insertKek.run(kek.id, kek.state, kek.kind, kek.ref, kek.created);
      // The index keys may have changed since the export: every row was indexed anew.
      this.#db.prepare('DELETE FROM maintenance_state WHERE name LIKE ?').run(`${indexTask('')}%`);
      recountObjects(this.#db);
      this.#audit.append(options.appendAudit ?? []);
      this.#db.exec('COMMIT');
    } catch (error) {
      if (this.#db.inTransaction) this.#db.exec('ROLLBACK');
      throw error;
    }
    if (this.#kek instanceof KekRing) await this.#kek.refresh();
    this.optimize();
    return count;
  }

  async indexRange(name: string, upTo: string, limit: number): Promise<string[]> {
    return this.#db
      .prepare<[string, string, number], string>('SELECT object_id FROM attribute_index WHERE name = ? AND key <= ? ORDER BY key, object_id LIMIT ?')
      .pluck()
      .all(name, upTo, limit);
  }

  async refreshIndex(name: string, version: number, limit: number): Promise<{ readonly objects: number; readonly done: boolean }> {
    this.#flushBatch(); // its own transaction, never inside a batch of object commits
    const task = indexTask(name);
    const page = this.#db.prepare<[string, number], { id: string; attributes: Buffer }>('SELECT id, attributes FROM objects WHERE id > ? ORDER BY id LIMIT ?');
    return this.#db
      .transaction(() => {
        const progress = parseIndexProgress(this.#db.prepare<[string], string>('SELECT value FROM maintenance_state WHERE name = ?').pluck().get(task));
        if (progress?.version === version && progress.after === null) return { objects: 0, done: true };
        const rows = page.all(progress?.version === version ? progress.after ?? '' : '', Math.max(1, limit));
        for (const row of rows) {
          let wanted: IndexRow[];
          try {
            wanted = indexRows(decodeAttributes(row.attributes, row.id), this.#indexKeys).filter((r) => r.name === name);
          } catch {
            continue; // a corrupt row: every load of it says so; it cannot hold back the others
          }
          const keep = new Set(wanted.map(indexRowKey));
          const stored = new Set<string>();
          for (const old of this.#selectIndex.all(row.id)) {
            if (old.name !== name) continue;
            stored.add(indexRowKey(old));
            if (!keep.has(indexRowKey(old))) this.#deleteIndexRow.run(row.id, old.name, old.key);
          }
          for (const r of wanted) if (!stored.has(indexRowKey(r))) this.#insertIndex.run(row.id, r.name, r.key);
        }
        const done = rows.length < Math.max(1, limit);
        const after = done ? null : (rows[rows.length - 1]?.id ?? null);
        this.#db
          .prepare('INSERT INTO maintenance_state (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value')
          .run(task, JSON.stringify({ version, after } satisfies IndexProgress));
        return { objects: rows.length, done };
      })
      .immediate();
  }

  /** One process serves a SQLite folder (server/datadir.ts holds its lock): a lock within the process suffices. */
  async exclusively(name: string, work: () => Promise<void>): Promise<boolean> {
    const key = `${this.#db.name}\u0000${name}`;
    if (HELD.has(key)) return false;
    HELD.add(key);
    try {
      await work();
      return true;
    } finally {
      HELD.delete(key);
    }
  }

  /** Returns the batch the commit joined, or undefined when it was committed on its own. */
  async #prepareAndWrite(
    creates: readonly ManagedObject[],
    updates: readonly ManagedObject[],
    audit: readonly AuditEntry[],
    claims: readonly UniqueClaim[],
    mayDefer: boolean,
  ): Promise<Batch | undefined> {
    const createRows = await Promise.all(creates.map((o) => this.#prepare(o)));
    const updateRows = await Promise.all(updates.map((o) => this.#prepare(o)));
    // 'deferred': wait for the running sync, or for the one that a commit written on its own
    // is about to ask for. A commit whose caller waits to see it written (Changes.written) is
    // written at once.
    if (this.#grouping === 'deferred' && mayDefer && (this.#walSync.busy || this.#deferred !== undefined || this.#unrequested > 0)) {
      return this.#defer(createRows, updateRows, audit, claims);
    }
    // Another process may hold the file's write lock: wait for it on a timer, never in
    // SQLite's busy handler, which would sleep on the event loop (see #tryBegin).
    const deadline = Date.now() + this.#busyTimeoutMs;
    for (let wait = 1; ; wait = Math.min(wait * 2, 16)) {
      if (this.#batch === undefined && this.#grouping === 'open' && (this.#walSync.busy || this.#unrequested > 0)) this.#openBatch();
      const batch = this.#batch;
      if (batch !== undefined) {
        this.#writeTransaction(createRows, updateRows, audit, claims); // in the open transaction: a savepoint
        return batch;
      }
      if (this.#tryBegin()) {
        // No sync inside the transaction (WAL with NORMAL: the commit is in the WAL, in order);
        // commit() then waits for a sync of the WAL that started after it.
        try {
          this.#writeTransaction(createRows, updateRows, audit, claims);
          this.#commitStatement.run();
        } catch (error) {
          if (this.#db.inTransaction) this.#db.exec('ROLLBACK');
          throw error;
        } finally {
          this.#db.exec(FULL_SYNC);
        }
        this.#unrequested += 1; // until commit() asks for its sync, which will commit a batch opened meanwhile
        return undefined;
      }
      await this.#waitForLock(deadline, wait);
    }
  }

  /** Wait `wait` ms before trying another process's write lock again; SQLITE_BUSY past the deadline. */
  async #waitForLock(deadline: number, wait: number): Promise<void> {
    if (Date.now() >= deadline) throw new Database.SqliteError(`the database file stayed locked by another process for ${this.#busyTimeoutMs} ms`, 'SQLITE_BUSY');
    await new Promise((resolve) => setTimeout(resolve, wait));
  }

  /**
   * Hold a commit until the running sync ends ('deferred' grouping): the next sync writes it
   * with the others that came meanwhile (#writeDeferred). Resolves once it is written, with
   * the batch whose sync makes it durable.
   */
  async #defer(creates: readonly PreparedRow[], updates: readonly PreparedRow[], audit: readonly AuditEntry[], claims: readonly UniqueClaim[]): Promise<Batch> {
    const { promise, settle } = deferred();
    const commit = { creates, updates, audit, claims, written: promise, settle };
    let group = this.#deferred;
    if (group === undefined) {
      group = { commits: [commit], batch: newBatch() };
      this.#deferred = group;
      // The next sync to start writes the group first (it may start at once); its result settles the batch.
      this.#walSync.request().catch(() => undefined);
    } else group.commits.push(commit);
    await promise;
    return group.batch;
  }

  /**
   * Write the deferred group in one transaction, each commit in a savepoint (a failing one is
   * undone alone and only its caller hears of it), waiting for another process's write lock
   * on a timer. Returns the batch to settle after the sync; undefined when there was no group
   * or none of it was kept (every member already told).
   */
  async #writeDeferred(): Promise<Batch | undefined> {
    const group = this.#deferred;
    if (group === undefined) return undefined;
    this.#deferred = undefined; // commits from now on wait for the sync after this one
    // Those already refused on their own stay refused: a promise settles once.
    const fail = (error: unknown): undefined => {
      const reason = error instanceof Error ? error : new Error(String(error));
      for (const commit of group.commits) commit.settle(reason);
      group.batch.settle(reason);
      return undefined;
    };
    try {
      while (this.#walReset !== undefined) await this.#walReset;
      const deadline = Date.now() + this.#busyTimeoutMs;
      for (let wait = 1; !this.#tryBegin(); wait = Math.min(wait * 2, 16)) await this.#waitForLock(deadline, wait);
    } catch (error) {
      return fail(error);
    }
    const kept: DeferredCommit[] = [];
    try {
      for (const commit of group.commits) {
        // An I/O or full-disk error makes SQLite roll back the whole transaction by itself.
        if (!this.#db.inTransaction) throw new Error('SQLite rolled back a group of commits after an error: none of them was kept');
        try {
          this.#writeTransaction(commit.creates, commit.updates, commit.audit, commit.claims); // in the open transaction: a savepoint
          kept.push(commit);
        } catch (error) {
          commit.settle(error instanceof Error ? error : new Error(String(error)));
        }
      }
      if (!this.#db.inTransaction) throw new Error('SQLite rolled back a group of commits after an error: none of them was kept');
      this.#commitStatement.run();
    } catch (error) {
      if (this.#db.inTransaction) this.#db.exec('ROLLBACK');
      return fail(error);
    } finally {
      this.#db.exec(FULL_SYNC);
    }
    for (const commit of kept) commit.settle();
    if (kept.length === 0) {
      group.batch.settle();
      return undefined;
    }
    return group.batch;
  }

  /**
   * BEGIN IMMEDIATE with synchronous=NORMAL, without waiting: false (and FULL again) when
   * another connection holds the write lock. The connection's busy timeout stays for every
   * other statement; only this one must not sleep.
   */
  #tryBegin(): boolean {
    // The transaction's statement journal (a batch's savepoints: each commit's pages as they
    // were) in memory: SQLite decides where at BEGIN. On a file, it spilled past 64 KiB and
    // cost about a quarter of a Create (a dozen pwrite calls each). Temporary storage goes
    // back to the default at once, so the large sorts and lists of a Locate run during the
    // transaction may still spill to disk instead of holding the process's memory.
    this.#db.exec('PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 0; PRAGMA temp_store = MEMORY');
    try {
      this.#begin.run();
      return true;
    } catch (error) {
      this.#db.exec(FULL_SYNC);
      if (error instanceof Database.SqliteError && error.code.startsWith('SQLITE_BUSY')) return false;
      throw error;
    } finally {
      this.#db.exec(this.#afterBegin);
    }
  }

  /**
   * Ask the audit thread for a checkpoint: a passive one, or when the WAL has grown past
   * WAL_RESET_BYTES one that empties it, for which object commits wait (reads go on).
   */
  #checkpoint(): void {
    if (this.#walReset !== undefined) return;
    let size: number;
    try {
      size = statSync(`${this.#db.name}-wal`).size;
    } catch {
      return;
    }
    if (size < this.#walResetBytes) {
      this.#auditThread.checkpoint();
      return;
    }
    this.#walReset = this.#auditThread.truncateWal().finally(() => {
      this.#walReset = undefined;
    });
  }

  /**
   * Gather the records of reads answered in this turn of the event loop into one transaction,
   * written before any of their answers goes out: one write lock, one chain-head update and a
   * few WAL pages for all of them, instead of each. (Per read, the transaction was about a
   * tenth of a Get's CPU; with --workers, the processes also took turns at the lock for each.)
   */
  #queueReadRecords(entries: readonly AuditEntry[]): Promise<void> {
    let group = this.#readRecords;
    if (group === undefined) {
      const { promise, settle } = deferred();
      const created: ReadRecords = { entries: [], written: promise, settle };
      this.#readRecords = created;
      setImmediate(() => void this.#flushReadRecords(created));
      group = created;
    }
    group.entries.push(...entries);
    return group.written;
  }

  /** Unsynced, at once when the write lock is free; else handed to the audit thread, which waits for it. */
  async #flushReadRecords(group: ReadRecords): Promise<void> {
    if (this.#readRecords === group) this.#readRecords = undefined;
    try {
      this.#readAudit ??= new SqliteReadAuditWriter(this.#db.name);
      const { written, checkpointDue } = this.#readAudit.append(group.entries);
      if (checkpointDue) this.#checkpoint();
      if (!written) await this.#auditThread.append(group.entries, 'process');
      group.settle();
    } catch (error) {
      group.settle(error instanceof Error ? error : new Error(String(error)));
    }
  }

  /** Open a batch when the write lock is free at once (#tryBegin); else leave it for the caller to wait. */
  #openBatch(): void {
    if (this.#batch !== undefined || !this.#tryBegin()) return;
    const batch = newBatch();
    this.#batch = batch;
    // The next sync to start commits the batch: the one queued after the running one, or
    // the one a commit written on its own is about to ask for. Should that commit not ask
    // (it always does), a sync asked for on the next turn of the event loop commits it.
    if (this.#walSync.busy) this.#walSync.request().catch(() => undefined);
    else {
      setImmediate(() => {
        if (this.#batch === batch) this.#walSync.request().catch(() => undefined);
      });
    }
  }

  /**
   * COMMIT the open batch, if any, and return it for a sync to settle. A failure settles it
   * at once, for each of its commits to report; it is never thrown here: what was synced
   * before stays synced.
   */
  #commitBatch(): Batch | undefined {
    const batch = this.#batch;
    if (batch === undefined) return undefined;
    this.#batch = undefined;
    try {
      // An I/O or full-disk error makes SQLite roll back the whole transaction by itself.
      if (!this.#db.inTransaction) throw new Error('SQLite rolled back a batch of commits after an error: none of them was kept');
      this.#commitStatement.run();
      return batch;
    } catch (error) {
      if (this.#db.inTransaction) this.#db.exec('ROLLBACK');
      batch.settle(error instanceof Error ? error : new Error(String(error)));
      return undefined;
    } finally {
      this.#db.exec(FULL_SYNC);
    }
  }

  /** Before a write of another kind, which runs in a transaction of its own: commit the open batch, which the next sync makes durable. */
  #flushBatch(): void {
    const batch = this.#commitBatch();
    if (batch === undefined) return;
    this.#walSync.request().then(
      () => batch.settle(),
      (error: unknown) => batch.settle(error instanceof Error ? error : new Error(String(error))),
    );
  }

  /**
   * Make every commit written so far durable: fdatasync of the WAL file (on the libuv thread
   * pool, the event loop carries on), as synchronous=FULL would have done at each commit.
   * The WAL stays the same file while this connection is open (SQLite deletes it only when
   * the last connection closes; a checkpoint restarts or truncates it in place, after
   * syncing what it copied into the database file). Its directory entry is synced once.
   */
  async #syncWal(): Promise<void> {
    try {
      this.#wal ??= openSynced(`${this.#db.name}-wal`);
      await (await this.#wal).datasync();
    } catch (error) {
      this.#syncFailure ??= new Error(`the store could not sync its write-ahead log; restart kmipd (SQLite recovers what was durable): ${error instanceof Error ? error.message : String(error)}`, { cause: error });
      throw this.#syncFailure;
    }
  }

  async #prepare(object: ManagedObject): Promise<PreparedRow> {
    const wrapped = object.body === undefined ? undefined : await wrapBody(this.#kek, object.body);
    return {
      id: object.id,
      objectType: object.objectType,
      owner: object.owner,
      revision: object.revision,
      attributes: encodeAttributes(object.attributes),
      body: wrapped?.wrapped ?? null,
      kekId: wrapped?.kekId ?? null,
      index: indexRows(object.attributes, this.#indexKeys),
    };
  }



  /** Runs inside the transaction; a throw rolls everything back. */
  #write(creates: readonly PreparedRow[], updates: readonly PreparedRow[], audit: readonly AuditEntry[], claims: readonly UniqueClaim[]): void {
    // First, in the transaction: no other connection commits before this one ends.
    if (claims.length > 0) {
      const own = new Set([...creates, ...updates].map((row) => row.id));
      for (const claim of claims) {
        const holder = this.#claimHolders.all(claim.name, claim.key, claim.owner).find((id) => !own.has(id));
        if (holder !== undefined) throw new UniqueValueError(claim, holder);
      }
    }
    const now = Date.now();
    for (const row of creates) {
      try {
        this.#insert.run(row.id, row.objectType, row.owner, row.revision, row.attributes, row.body, row.kekId, now, now);
      } catch (error) {
        if (error instanceof Database.SqliteError && error.code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
          throw new StoreConflictError(`object ${row.id} already exists`);
        }
        throw error;
      }
      this.#writeIndex(row);
      this.#addCount.run(row.objectType, stateKey(row.index), 1);
    }
    for (const row of updates) {
      const expected = row.revision - 1;
      const storedType = this.#selectObjectType.get(row.id);
      const result = this.#update.run(row.objectType, row.owner, row.revision, row.attributes, row.body, row.kekId, now, row.id, expected);
      if (result.changes !== 1) {
        const stored = this.#selectRevision.get(row.id);
        throw new StoreConflictError(
          stored === undefined
            ? `object ${row.id} does not exist`
            : `object ${row.id} is at revision ${stored}, the update expected revision ${expected}: it was changed meanwhile`,
        );
      }
      const storedState = this.#rewriteIndex(row);
      const state = stateKey(row.index);
      if (storedType !== row.objectType || storedState !== state) {
        this.#addCount.run(storedType ?? row.objectType, storedState, -1);
        this.#addCount.run(row.objectType, state, 1);
      }
    }
    // Last, so the head row is read and moved after the change it records (BEGIN IMMEDIATE
    // already holds the write lock: no other process appends in between).
    this.#audit.append(audit);
  }

  /** An object's index rows, in their order, INDEX_ROWS_PER_INSERT to a statement: one call into SQLite instead of one a row. */
  #writeIndex(row: Pick<PreparedRow, 'id' | 'index'>): void {
    const rows = row.index;
    for (let from = 0; from < rows.length; from += INDEX_ROWS_PER_INSERT) {
      const to = Math.min(rows.length, from + INDEX_ROWS_PER_INSERT);
      const params: (string | null)[] = [];
      for (let i = from; i < to; i++) {
        const { name, key } = rows[i] as IndexRow;
        params.push(row.id, name, key);
      }
      this.#insertIndexRows(to - from).run(...params);
    }
  }

  /** INSERT OR IGNORE of `count` index rows (each ignored alone when present), prepared once per count. */
  #insertIndexRows(count: number): Database.Statement<(string | null)[]> {
    let statement = this.#insertIndexStatements[count];
    if (statement === undefined) {
      const values = Array.from({ length: count }, () => "(?, ?, coalesce(?, ''))").join(', ');
      statement = this.#db.prepare<(string | null)[]>(`INSERT OR IGNORE INTO attribute_index (object_id, name, key) VALUES ${values}`);
      this.#insertIndexStatements[count] = statement;
    }
    return statement;
  }

  /**
   * Most updates (a state, a date) change few index rows: write only the difference.
   * Returns the State key the object had (see stateKey).
   */
  #rewriteIndex(row: PreparedRow): string {
    const wanted = new Set(row.index.map(indexRowKey));
    const stored = new Set<string>();
    let storedState = '';
    for (const old of this.#selectIndex.all(row.id)) {
      const key = indexRowKey(old);
      stored.add(key);
      if (old.name === 'State') storedState = old.key ?? '';
      if (!wanted.has(key)) this.#deleteIndexRow.run(row.id, old.name, old.key);
    }
    for (const { name, key } of row.index) {
      if (!stored.has(indexRowKey({ name, key }))) this.#insertIndex.run(row.id, name, key);
    }
    return storedState;
  }

  async #unwrapBody(id: string, wrapped: Buffer, kekId: string | null): Promise<TtlvItem> {
    return unwrapBody(this.#kek, id, wrapped, kekId);
  }



}

// ---------------------------------------------------------------------------------------
// Group commit

/**
 * Runs `sync` so that every `request()` resolves after a sync that started after the
 * request: while one runs, requests wait together for the next, which starts when it ends.
 * At most one sync runs at a time.
 */
class GroupSync {
  readonly #sync: () => Promise<void>;
  #running: Promise<void> | undefined;
  #next: Promise<void> | undefined;

  constructor(sync: () => Promise<void>) {
    this.#sync = sync;
  }

  request(): Promise<void> {
    if (this.#next !== undefined) return this.#next;
    const running = this.#running;
    if (running === undefined) return this.#start();
    const next = running.then(
      () => undefined,
      () => undefined,
    ).then(() => {
      this.#next = undefined;
      return this.#start();
    });
    this.#next = next;
    return next;
  }

  /** Whether a sync runs now (a request would wait for the next one). */
  get busy(): boolean {
    return this.#running !== undefined;
  }

  /** Resolves when no sync runs or waits (never rejects). */
  async settled(): Promise<void> {
    while (this.#running !== undefined || this.#next !== undefined) {
      await (this.#next ?? this.#running)?.catch(() => undefined);
    }
  }

  #start(): Promise<void> {
    const run = this.#sync();
    this.#running = run;
    const done = (): void => {
      if (this.#running === run) this.#running = undefined;
    };
    run.then(done, done);
    return run;
  }
}

/** Open a file for syncing, after syncing its folder once (its directory entry may be new). */
async function openSynced(path: string): Promise<FileHandle> {
  const folder = await open(dirname(path), 'r');
  try {
    await folder.sync();
  } finally {
    await folder.close();
  }
  return open(path, 'r');
}

// ---------------------------------------------------------------------------------------
// KEK rows

interface KekRow {
  readonly id: string;
  readonly state: string;
  readonly kind: string;
  readonly ref: string;
  readonly created: number;
}

interface ExportRow extends ObjectRow {
  readonly id: string;
  readonly created: number;
  readonly updated: number;
}

function kekFromRow(row: KekRow): KekRecord {
  const state = row.state === 'active' || row.state === 'retiring' || row.state === 'retired' ? row.state : 'retired';
  const kind = row.kind === 'pkcs11' ? 'pkcs11' : 'file';
  return { id: row.id, state, kind, ref: row.ref, created: Number(row.created) };
}

function isKekRefusal(error: unknown): boolean {
  return error instanceof Database.SqliteError && error.message.includes(KEK_NOT_ACTIVE);
}

function kekRetired(id: string, cause: unknown): KekError {
  return new KekError('KEK_RETIRED', `this store no longer accepts values wrapped under KEK ${id}: it was rotated out (kmipd kek status)`, { cause });
}
