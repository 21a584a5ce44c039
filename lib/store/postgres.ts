/**
 * The shared store: one PostgreSQL database through pg.Pool, for several kmipd nodes behind
 * a load balancer (DESIGN.md decision 6). The model is the SQLite store's: bodies only
 * wrapped under the KEK (decision 3), attributes as TTLV, an attribute index for Locate, and
 * a commit that is all or nothing, acknowledged only once PostgreSQL reports it committed
 * with synchronous_commit on (decision 4). The commits that arrive while one runs share the
 * next transaction, a savepoint each (lib/store/postgres-commits.ts): one chain-head update
 * and one WAL flush for all of them.
 *
 * Text a client chooses (owner names from certificates, attribute names, index keys) is
 * stored as bytea holding its UTF-8: PostgreSQL TEXT cannot hold U+0000, and KMIP Text
 * Strings can. Object identifiers stay TEXT: the store makes them (UUIDs), and an
 * identifier holding U+0000 is simply never found.
 */
import { createHash } from 'node:crypto';
import { DatabaseError, Pool, escapeIdentifier } from 'pg';
import type { PoolClient, PoolConfig } from 'pg';
import type { TtlvItem } from '../../ttlv/index.js';
import type { AttributeInstance } from '../attributes/types.js';
import type { KeyEncryptionKey } from '../crypto/index.js';
import { silentLogger } from '../log.js';
import type { Logger } from '../log.js';
import type { ManagedObject } from '../objects/types.js';
import { decodeAttributes, encodeAttributes, indexRows, unwrapBody, wrapBody } from './codec.js';
import type { IndexKeys, IndexRow } from './codec.js';
import type { StoreStats } from './sqlite.js';
import { StoreConflictError, UniqueValueError } from './types.js';
import { timeOrderedUuid } from './ids.js';
import { appendPostgresAudit, openPostgresAuditReader, postgresAuditSchema } from '../audit/postgres.js';
import { CommitGroups } from './postgres-commits.js';
import { CountDeltas, STATE_INDEX_NAME, countByState, objectCountsSchema, recountObjects } from './postgres-counts.js';
import type { AuditEntry, AuditReader, AuditSource } from '../audit/record.js';
import type { Changes, ExportItem, ImportItem, ImportOptions, LocateQuery, MaintenanceStore, ObjectMetadata, UniqueClaim, WrappedBody } from './types.js';
import { AUDIT_COLUMNS, auditRecordFromRow, auditRowValues, importedHead, indexTask, parseIndexProgress } from './audit-rows.js';
import type { AuditRow, IndexProgress } from './audit-rows.js';
import type { ChainHead, StoredRecord } from '../audit/record.js';
import { KekError, KekRing } from '../crypto/index.js';
import type { KekRecord } from '../crypto/index.js';
import { checkGrant, grantConditions, grantFromRow, scopeColumn, visibleCondition } from './grants-sql.js';
import type { GrantRow } from './grants-sql.js';
import type { GrantFilter, GrantRecord } from './types.js';
import type { ObjectCount } from './types.js';

/** Where the database is: a connection string, or pg's pool settings (host, user, ssl, max, ...). */
export type PostgresConnection = { readonly connectionString: string } | { readonly pool: PoolConfig };

export type PostgresStoreOptions = PostgresConnection & {
  readonly kek: KeyEncryptionKey;
  readonly indexKeys: IndexKeys;
  /** The schema holding kmipd's tables, created when missing; default `kmipd`. */
  readonly schema?: string;
  /** Where connection errors of idle pooled connections are reported; default: dropped. */
  readonly logger?: Logger;
};

/** What the server reported at open (for status pages and tests). */
export interface PostgresSettings {
  readonly schema: string;
  readonly schemaVersion: number;
  /** on, remote_write, remote_apply or local: never off (refused at open). */
  readonly synchronousCommit: string;
  readonly serverVersion: number;
}

/** The schema versions before and after this open's migration (equal when none ran). */
export interface Migration {
  readonly from: number;
  readonly to: number;
}

export const DEFAULT_SCHEMA = 'kmipd';


/** The SQLSTATE the KEK trigger raises (class KM: kmipd's own). */
const KEK_NOT_ACTIVE_SQLSTATE = 'KM001';

/** hashtextextended (PostgreSQL 11) names the migration lock; identity columns need 10. */
const MIN_SERVER_VERSION = 110000;

/**
 * Schema migrations, given the quoted schema name: entry i takes the schema from version i to
 * i + 1. The version lives in `schema_migrations`, one row per applied step.
 */
const MIGRATIONS: readonly ((schema: string) => string)[] = [
  (s) => `
  CREATE TABLE ${s}.objects (
    id text PRIMARY KEY,
    seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,  -- creation order
    object_type integer NOT NULL,
    owner bytea NOT NULL,           -- UTF-8 (TEXT cannot hold U+0000)
    revision integer NOT NULL CHECK (revision >= 1),
    attributes bytea NOT NULL,      -- TTLV: Attributes { Attribute { Attribute Name, <value> } ... }
    body bytea,                     -- TTLV of the object structure, wrapped under the KEK; NULL once destroyed
    kek_id text,                    -- the KEK that wrapped body
    created timestamptz NOT NULL,
    updated timestamptz NOT NULL,
    CHECK ((body IS NULL) = (kek_id IS NULL))
  );
  CREATE INDEX objects_owner ON ${s}.objects (owner, seq);
  CREATE INDEX objects_object_type ON ${s}.objects (object_type, seq);

  -- The rows indexKeys gives (lib/store/codec.ts); key NULL: "has an instance whose value has
  -- no key". Both UTF-8 bytea, as owner. Stores written by earlier kmipd versions hold a NULL row
  -- per attribute and rows of attributes no longer indexed (Booleans, dates, masks): Locate
  -- never asks for those, and each object's next change drops its own.
  CREATE TABLE ${s}.attribute_index (
    object_id text NOT NULL REFERENCES ${s}.objects (id) ON DELETE CASCADE,
    name bytea NOT NULL,
    key bytea
  );
  CREATE UNIQUE INDEX attribute_index_name_key ON ${s}.attribute_index (name, key, object_id);
  CREATE INDEX attribute_index_object ON ${s}.attribute_index (object_id);
  `,
  // Grants (lib/store/grants-sql.ts): one row per permission; scope_owner '' is every owner.
  // Client-chosen text as UTF-8 bytea, as owner.
  (s) => `
  CREATE TABLE ${s}.grants (
    target_kind text NOT NULL CHECK (target_kind IN ('object', 'group')),
    target bytea NOT NULL,          -- Unique Identifier, or Object Group name
    scope_owner bytea NOT NULL,
    grantee_kind text NOT NULL CHECK (grantee_kind IN ('identity', 'group')),
    grantee bytea NOT NULL,
    permission bytea NOT NULL,
    granted_by bytea NOT NULL,
    created bigint NOT NULL,        -- ms since the epoch
    seq bigint GENERATED ALWAYS AS IDENTITY,
    PRIMARY KEY (target, target_kind, scope_owner, grantee, grantee_kind, permission)
  );
  CREATE INDEX grants_grantee ON ${s}.grants (grantee, grantee_kind, target_kind, target);
  `,
  // The audit trail (lib/audit/postgres.ts): hash-chained records and the chain head.
  (s) => postgresAuditSchema(s),
  // KEK rotation (`kmipd kek`): the KEKs, and a refusal to write a body wrapped under one that
  // is no longer active. Writers hold a shared advisory lock until they commit; changing a
  // KEK's state takes it exclusively, so no writer can slip a body in under a KEK that is
  // being rotated out or retired (each statement of the function sees the latest commit).
  (s) => `
  CREATE TABLE ${s}.keks (
    id text PRIMARY KEY,
    state text NOT NULL CHECK (state IN ('active', 'retiring', 'retired')),
    kind text NOT NULL,
    ref text NOT NULL,
    created bigint NOT NULL         -- ms since the epoch
  );
  CREATE UNIQUE INDEX keks_one_active ON ${s}.keks (state) WHERE state = 'active';
  CREATE INDEX objects_kek ON ${s}.objects (kek_id, id) WHERE kek_id IS NOT NULL;
  CREATE FUNCTION ${s}.objects_kek_check() RETURNS trigger LANGUAGE plpgsql AS $$
  DECLARE
    kek_state text;
  BEGIN
    IF NEW.kek_id IS NULL THEN
      RETURN NEW;
    END IF;
    PERFORM pg_advisory_xact_lock_shared(hashtextextended('kmipd keks ' || TG_TABLE_SCHEMA, 0));
    SELECT state INTO kek_state FROM ${s}.keks WHERE id = NEW.kek_id;
    IF FOUND AND kek_state <> 'active' THEN
      RAISE EXCEPTION USING ERRCODE = '${KEK_NOT_ACTIVE_SQLSTATE}', MESSAGE = 'kmipd: the KEK that wrapped this body is not the active KEK';
    END IF;
    RETURN NEW;
  END
  $$;
  CREATE TRIGGER objects_kek BEFORE INSERT OR UPDATE OF body, kek_id ON ${s}.objects FOR EACH ROW EXECUTE FUNCTION ${s}.objects_kek_check();
  `,
  // Progress of resumable maintenance (refreshIndex): without a row for the scheduler's due
  // index, the scheduler's first start gives every object written before it its due row.
  (s) => `
  CREATE TABLE ${s}.maintenance_state (
    name text PRIMARY KEY,
    value text NOT NULL             -- JSON
  );
  `,
  // Objects by type and State for the kmipd_objects metric, kept by every write
  // (lib/store/postgres-counts.ts); the objects already there are counted here, once.
  (s) => objectCountsSchema(s),
];

export const SCHEMA_VERSION = MIGRATIONS.length;

export async function openPostgresStore(options: PostgresStoreOptions): Promise<PostgresStore> {
  const schema = options.schema ?? DEFAULT_SCHEMA;
  // Names are quoted anyway; the rule keeps them plain in psql and in advisory lock keys.
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) {
    throw new Error(`PostgreSQL schema name ${JSON.stringify(schema)}: use 1 to 63 lower-case letters, digits and _, not starting with a digit`);
  }
  if ('pool' in options && 'connectionString' in options) throw new Error('give the PostgreSQL connection as connectionString or as pool settings, not both');
  const config: PoolConfig = 'pool' in options ? options.pool : { connectionString: options.connectionString };
  const pool = new Pool({ application_name: 'kmipd', ...config });
  const logger = options.logger ?? silentLogger;
  // An idle connection that breaks (server restart, failover) is dropped by the pool; without
  // a listener its 'error' event would end the process.
  pool.on('error', (error) => logger.warn('PostgreSQL connection lost while idle', { error }));
  try {
    const server = await checkServer(pool);
    const migration = await transaction(pool, (client) => migrate(client, schema));
    const settings: PostgresSettings = { schema, schemaVersion: migration.to, ...server };
    const store = new PostgresStore(pool, settings, migration, options.kek, options.indexKeys);
    await store.registerKek();
    return store;
  } catch (error) {
    await pool.end();
    throw error;
  }
}

async function checkServer(pool: Pool): Promise<{ synchronousCommit: string; serverVersion: number }> {
  const { rows } = await pool.query<{ sc: string; version: string }>(
    "SELECT current_setting('synchronous_commit') AS sc, current_setting('server_version_num') AS version",
  );
  const synchronousCommit = rows[0]?.sc ?? '';
  const serverVersion = Number(rows[0]?.version);
  if (!(serverVersion >= MIN_SERVER_VERSION)) {
    throw new Error(`PostgreSQL server version ${rows[0]?.version ?? '?'} is too old: kmipd needs PostgreSQL 11 or later`);
  }
  if (synchronousCommit === 'off') {
    throw new Error(
      'PostgreSQL has synchronous_commit = off for this connection: a commit could be acknowledged before it is durable ' +
        '(DESIGN.md decision 4). Set it to on (or local, remote_write, remote_apply) for the kmipd role or database.',
    );
  }
  return { synchronousCommit, serverVersion };
}

/**
 * Bring the schema to SCHEMA_VERSION; refuse a schema written by a newer kmipd. All under
 * one transaction-scoped advisory lock, so nodes starting together migrate once: the others
 * wait, then find the work done.
 */
export async function migrate(client: PoolClient, schema: string): Promise<Migration> {
  const s = escapeIdentifier(schema);
  await lockMigrations(client, schema);
  // CREATE SCHEMA IF NOT EXISTS needs CREATE on the database even when the schema exists:
  // look first, so a role given a ready schema by its administrator need not have it.
  const exists = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema]);
  if (exists.rowCount === 0) await client.query(`CREATE SCHEMA ${s}`);
  await client.query(`CREATE TABLE IF NOT EXISTS ${s}.schema_migrations (version integer PRIMARY KEY, applied timestamptz NOT NULL DEFAULT now())`);
  const { rows } = await client.query<{ version: number | null }>(`SELECT max(version) AS version FROM ${s}.schema_migrations`);
  const from = rows[0]?.version ?? 0;
  if (from > MIGRATIONS.length) {
    throw new Error(`database schema ${schema} is at version ${from}, newer than this kmipd understands (${MIGRATIONS.length}): upgrade kmipd`);
  }
  for (let version = from; version < MIGRATIONS.length; version++) {
    await client.query((MIGRATIONS[version] as (schema: string) => string)(s));
    await client.query(`INSERT INTO ${s}.schema_migrations (version) VALUES ($1)`, [version + 1]);
  }
  return { from, to: Math.max(from, MIGRATIONS.length) };
}

/** The migrations' lock, until the transaction ends: one node migrates (or recounts) at a time. */
async function lockMigrations(client: PoolClient, schema: string): Promise<void> {
  await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`kmipd migrate ${schema}`]);
}

/** BEGIN, work, COMMIT; ROLLBACK on any error. A connection that cannot roll back is discarded. */
async function transaction<T>(pool: Pool, work: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    try {
      await client.query('ROLLBACK');
    } catch (rollbackError) {
      broken = rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError));
    }
    throw error;
  } finally {
    client.release(broken);
  }
}

// ---------------------------------------------------------------------------------------
// Locate

type Param = string | number | Buffer;

const utf8 = (text: string): Buffer => Buffer.from(text, 'utf8');

/** An object grant's target as text, to compare with objects.id (the guard keeps group names, which may hold U+0000, out of convert_from). */
const OBJECT_TARGET = "CASE WHEN target_kind = 'object' THEN convert_from(target, 'UTF8') END";

/** The one SQL query for a LocateQuery; exported so tests can EXPLAIN it. */
export function locateSql(schema: string, query: LocateQuery): { text: string; values: Param[] } {
  const s = escapeIdentifier(schema);
  const where: string[] = [];
  const values: Param[] = [];
  const param = (value: Param): string => {
    values.push(value);
    return `$${values.length}`;
  };
  if (query.owner !== undefined) where.push(`owner = ${param(utf8(query.owner))}`);
  if (query.visibleTo !== undefined) {
    where.push(visibleCondition(query.visibleTo, (value) => param(utf8(value)), { objects: `${s}.objects`, grants: `${s}.grants`, attributeIndex: `${s}.attribute_index` }, OBJECT_TARGET));
  }
  if (query.objectType !== undefined) where.push(`object_type = ${param(query.objectType)}`);
  for (const { name, key } of query.equals ?? []) {
    where.push(`id IN (SELECT object_id FROM ${s}.attribute_index WHERE name = ${param(utf8(name))} AND key = ${param(utf8(key))})`);
  }
  for (const name of query.has ?? []) {
    where.push(`id IN (SELECT object_id FROM ${s}.attribute_index WHERE name = ${param(utf8(name))})`);
  }
  const filter = where.length > 0 ? ` WHERE ${where.join(' AND ')}` : '';
  const limit = query.limit === undefined ? '' : ` LIMIT ${param(Math.max(0, Math.trunc(query.limit)))}`;
  return { text: `SELECT id FROM ${s}.objects${filter} ORDER BY seq${limit}`, values };
}

// ---------------------------------------------------------------------------------------
// Rows

interface ObjectRow {
  readonly object_type: number;
  readonly owner: Buffer;
  readonly revision: number;
  readonly attributes: Buffer;
  readonly body: Buffer | null;
  readonly kek_id: string | null;
}

/** An object ready to be written: everything encoded and wrapped, nothing left to await. */
interface PreparedRow {
  readonly id: string;
  readonly objectType: number;
  readonly owner: Buffer;
  readonly revision: number;
  readonly attributes: Buffer;
  readonly body: Buffer | null;
  readonly kekId: string | null;
  /** Index rows as two parallel arrays, as unnest() takes them. */
  readonly indexNames: Buffer[];
  readonly indexKeys: (Buffer | null)[];
  /** The key of its State index row, '' without one (lib/store/postgres-counts.ts). */
  readonly state: string;
}

/** One commit's objects, ready to be written; updates in identifier order. */
interface PreparedWrite {
  readonly creates: readonly PreparedRow[];
  readonly updates: readonly PreparedRow[];
  readonly claims: readonly UniqueClaim[];
}

/** SQLSTATEs meaning "another transaction changed this meanwhile": the caller may retry. */
const CONCURRENCY_FAILURES = new Set(['40001', '40P01']); // serialization_failure, deadlock_detected

// ---------------------------------------------------------------------------------------
// The store

export class PostgresStore implements MaintenanceStore, AuditSource {
  readonly #pool: Pool;
  readonly #kek: KeyEncryptionKey;
  readonly #indexKeys: IndexKeys;
  readonly #settings: PostgresSettings;
  readonly migration: Migration;
  readonly #sql: ReturnType<typeof statements>;
  /** Synced commits of this node, written a group per transaction (lib/store/postgres-commits.ts). */
  readonly #commits: CommitGroups<PreparedWrite, CountDeltas>;
  #closed = false;

  constructor(pool: Pool, settings: PostgresSettings, migration: Migration, kek: KeyEncryptionKey, indexKeys: IndexKeys) {
    this.#pool = pool;
    this.#settings = settings;
    this.migration = migration;
    this.#kek = kek;
    this.#indexKeys = indexKeys;
    this.#sql = statements(escapeIdentifier(settings.schema));
    this.#commits = new CommitGroups({
      pool,
      lock: (client, ids) => client.query({ name: 'kmipd-lock-updated', text: this.#sql.lockRows, values: [ids] }).then(() => undefined),
      lockClaims: (client, keys) => client.query({ name: 'kmipd-lock-claims', text: this.#sql.lockClaims, values: [keys] }).then(() => undefined),
      write: (client, rows) => this.#write(client, rows),
      beforeCommit: (written) => {
        const all = new CountDeltas();
        for (const deltas of written) all.addAll(deltas);
        return all.sql(escapeIdentifier(settings.schema));
      },
      appendAudit: (client, entries) => appendPostgresAudit(client, escapeIdentifier(settings.schema), entries),
    });
  }

  newId(): string {
    return timeOrderedUuid();
  }

  async load(id: string): Promise<ManagedObject | undefined> {
    const row = await this.#select(id);
    if (row === undefined) return undefined;
    const attributes = decodeAttributes(row.attributes, id);
    const body = row.body === null ? undefined : await this.#unwrapBody(id, row.body, row.kek_id);
    return { id, objectType: row.object_type, owner: row.owner.toString('utf8'), attributes, body, revision: row.revision };
  }

  async loadMetadata(id: string): Promise<ObjectMetadata | undefined> {
    const row = await this.#select(id);
    if (row === undefined) return undefined;
    const attributes = decodeAttributes(row.attributes, id);
    return { id, objectType: row.object_type, owner: row.owner.toString('utf8'), attributes, revision: row.revision, hasBody: row.body !== null };
  }

  async commit(changes: Changes): Promise<void> {
    const creates = changes.create ?? [];
    const updates = changes.update ?? [];
    const audit = changes.audit ?? [];
    if (creates.length === 0 && updates.length === 0 && audit.length === 0) return;
    for (const object of creates) {
      if (object.revision !== 1) throw new Error(`object ${object.id}: a new object has revision 1, not ${object.revision}`);
      if (object.id.includes('\u0000')) throw new Error(`object ${JSON.stringify(object.id)}: an identifier cannot hold U+0000 in PostgreSQL`);
    }
    for (const object of updates) {
      if (!Number.isInteger(object.revision) || object.revision < 2) {
        throw new Error(`object ${object.id}: an update has revision 2 or more, not ${object.revision}`);
      }
      if (object.id.includes('\u0000')) throw new StoreConflictError(`object ${JSON.stringify(object.id)} does not exist`);
    }
    if (creates.length === 0 && updates.length === 0) {
      if (changes.auditDurability === 'process') {
        // Records of reads and failures only: committed without waiting for the WAL flush
        // (Changes.auditDurability); the next synchronous commit flushes them, in order.
        await transaction(this.#pool, async (client) => {
          await client.query('SET LOCAL synchronous_commit = off');
          await appendPostgresAudit(client, escapeIdentifier(this.#settings.schema), audit);
        });
      } else {
        await this.#commits.commit({ rows: undefined, audit, bytes: 0, updates: [], claims: [] });
      }
      return;
    }
    // Wrapping may be asynchronous (an HSM worker): finish it before the commit joins a
    // group, so the transaction holds its locks only for the writes.
    try {
      try {
        await this.#prepareAndWrite(creates, updates, audit, changes.unique ?? []);
      } catch (error) {
        if (!(error instanceof DatabaseError && error.code === KEK_NOT_ACTIVE_SQLSTATE)) throw error;
        // A KEK rotation began since this process last looked: wrap again under the new KEK.
        if (!(this.#kek instanceof KekRing)) throw kekRetired(this.#kek.id, error);
        await this.#kek.refresh();
        await this.#prepareAndWrite(creates, updates, audit, changes.unique ?? []);
      }
    } catch (error) {
      if (error instanceof DatabaseError && error.code !== undefined && CONCURRENCY_FAILURES.has(error.code)) {
        throw new StoreConflictError(`a concurrent transaction changed the same objects (${error.message}): nothing was written`, { cause: error });
      }
      throw error;
    }
  }

  async locate(query: LocateQuery): Promise<string[]> {
    const { text, values } = locateSql(this.#settings.schema, query);
    const { rows } = await this.#pool.query<{ id: string }>(text, values);
    return rows.map((row) => row.id);
  }

  async stats(): Promise<StoreStats> {
    const { rows } = await this.#pool.query<{ objects: string }>(this.#sql.count);
    return { objects: Number(rows[0]?.objects ?? 0) };
  }

  /** From the counts every write keeps (lib/store/postgres-counts.ts): a few hundred rows, however many objects. */
  async countByState(): Promise<ObjectCount[]> {
    return countByState(this.#pool, this.#schema);
  }

  /**
   * Counts every object anew, in one transaction (`kmipd recount-objects`): after nodes of a
   * release that kept no counts wrote meanwhile. As the schema step that first counted, under
   * the migrations' lock and a SHARE lock on objects: writes in flight commit first, the next
   * wait. The EXCLUSIVE lock on the counts also holds back a refresh of the State index rows,
   * which moves counts without writing objects. Returns the counts as written.
   */
  async recountObjects(): Promise<ObjectCount[]> {
    const s = this.#schema;
    return transaction(this.#pool, async (client) => {
      await lockMigrations(client, this.#settings.schema);
      await client.query(`LOCK TABLE ${s}.objects IN SHARE MODE; LOCK TABLE ${s}.object_counts IN EXCLUSIVE MODE`);
      await recountObjects(client, s);
      return countByState(client, s);
    });
  }

  settings(): PostgresSettings {
    return this.#settings;
  }

  // Grants -------------------------------------------------------------------------------

  async addGrants(grants: readonly GrantRecord[], audit: readonly AuditEntry[] = []): Promise<void> {
    grants.forEach(checkGrant);
    // Object identifiers never hold U+0000 here (see commit): such a grant could name no object.
    if (grants.some((g) => g.targetKind === 'object' && g.target.includes('\u0000'))) throw new Error('an object grant names an identifier holding U+0000');
    if (grants.length === 0 && audit.length === 0) return;
    const s = escapeIdentifier(this.#settings.schema);
    await transaction(this.#pool, async (client) => {
      if (grants.length > 0) await this.#insertGrants(client, s, grants);
      // Last: the chain head's row lock is held only from here to COMMIT.
      await appendPostgresAudit(client, s, audit);
    });
  }

  async #insertGrants(client: PoolClient, s: string, grants: readonly GrantRecord[]): Promise<void> {
    await client.query(
      `INSERT INTO ${s}.grants (target_kind, target, scope_owner, grantee_kind, grantee, permission, granted_by, created)
       SELECT * FROM unnest($1::text[], $2::bytea[], $3::bytea[], $4::text[], $5::bytea[], $6::bytea[], $7::bytea[], $8::bigint[])
       ON CONFLICT DO NOTHING`,
      [
        grants.map((g) => g.targetKind),
        grants.map((g) => utf8(g.target)),
        grants.map((g) => utf8(scopeColumn(g))),
        grants.map((g) => g.granteeKind),
        grants.map((g) => utf8(g.grantee)),
        grants.map((g) => utf8(g.permission)),
        grants.map((g) => utf8(g.grantedBy)),
        grants.map((g) => g.created),
      ],
    );
  }

  async removeGrants(filter: GrantFilter, audit: readonly AuditEntry[] = []): Promise<number> {
    const { where, values } = this.#grantWhere(filter);
    const s = escapeIdentifier(this.#settings.schema);
    return transaction(this.#pool, async (client) => {
      const result = await client.query(`DELETE FROM ${s}.grants${where}`, values);
      await appendPostgresAudit(client, s, audit);
      return result.rowCount ?? 0;
    });
  }

  async findGrants(filter: GrantFilter): Promise<GrantRecord[]> {
    const { where, values } = this.#grantWhere(filter);
    const { rows } = await this.#pool.query<GrantRow<Buffer>>(`SELECT * FROM ${escapeIdentifier(this.#settings.schema)}.grants${where} ORDER BY created, seq`, values);
    return rows.map((row) => grantFromRow(row, (bytes) => bytes.toString('utf8')));
  }

  #grantWhere(filter: GrantFilter): { where: string; values: Buffer[] } {
    const values: Buffer[] = [];
    const where = grantConditions(filter, (value) => {
      values.push(utf8(value));
      return `$${values.length}`;
    });
    return { where: where.length > 0 ? ` WHERE ${where.join(' AND ')}` : '', values };
  }

  // Maintenance (KEK rotation, backup and restore, the scheduler) -------------------------

  /** At open: list a KEK ring's KEK when the store lists none yet, then give the ring the list. */
  async registerKek(): Promise<void> {
    const ring = this.#kek;
    if (!(ring instanceof KekRing)) return;
    // Nodes starting together: the one-active index lets one insert win, the others do nothing.
    await this.#pool.query(
      `INSERT INTO ${this.#schema}.keks (id, state, kind, ref, created) SELECT $1, 'active', $2, $3, $4
       WHERE NOT EXISTS (SELECT 1 FROM ${this.#schema}.keks) ON CONFLICT DO NOTHING`,
      [ring.id, ring.initial.kind, ring.initial.ref, Date.now()],
    );
    ring.attach(() => this.keks());
    await ring.refresh();
  }

  async keks(): Promise<KekRecord[]> {
    const { rows } = await this.#pool.query<KekRow>(`SELECT id, state, kind, ref, created FROM ${this.#schema}.keks ORDER BY created, id`);
    return rows.map(kekFromRow);
  }

  async kekUsage(): Promise<Map<string | null, number>> {
    const { rows } = await this.#pool.query<{ kek_id: string | null; n: string }>(`SELECT kek_id, count(*) AS n FROM ${this.#schema}.objects GROUP BY kek_id`);
    return new Map(rows.map((row) => [row.kek_id, Number(row.n)]));
  }

  async beginKekRotation(next: Pick<KekRecord, 'id' | 'kind' | 'ref'>): Promise<void> {
    const s = this.#schema;
    await transaction(this.#pool, async (client) => {
      // Exclusive: waits for writers in flight, and new writers wait for this commit.
      await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`kmipd keks ${this.#settings.schema}`]);
      const { rows } = await client.query<{ id: string; state: string }>(`SELECT id, state FROM ${s}.keks WHERE state <> 'retired'`);
      if (rows.some((row) => row.state === 'active' && row.id === next.id)) throw new Error(`KEK ${next.id} is already the active KEK`);
      if (rows.some((row) => row.state === 'retiring')) throw new Error('a KEK rotation is already in progress: finish it first (kmipd kek rotate resumes it)');
      await client.query(`UPDATE ${s}.keks SET state = 'retiring' WHERE state = 'active'`);
      await client.query(`INSERT INTO ${s}.keks (id, state, kind, ref, created) VALUES ($1, 'active', $2, $3, $4)`, [next.id, next.kind, next.ref, Date.now()]);
    });
  }

  async wrappedWith(kekId: string, afterId: string | undefined, limit: number): Promise<WrappedBody[]> {
    const { rows } = await this.#pool.query<{ id: string; body: Buffer; kek_id: string }>(
      `SELECT id, body, kek_id FROM ${this.#schema}.objects WHERE kek_id = $1 AND id > $2 ORDER BY id LIMIT $3`,
      [kekId, afterId ?? '', limit],
    );
    return rows.map((row) => ({ id: row.id, body: row.body, kekId: row.kek_id }));
  }

  async rewrapBody(from: WrappedBody, to: { readonly body: Buffer; readonly kekId: string }): Promise<boolean> {
    const result = await this.#pool.query(`UPDATE ${this.#schema}.objects SET body = $1, kek_id = $2 WHERE id = $3 AND kek_id = $4 AND body = $5`, [
      to.body,
      to.kekId,
      from.id,
      from.kekId,
      from.body,
    ]);
    return result.rowCount === 1;
  }

  async retireKek(id: string): Promise<boolean> {
    const s = this.#schema;
    return transaction(this.#pool, async (client) => {
      await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`kmipd keks ${this.#settings.schema}`]);
      // A statement after the lock: its snapshot sees every writer that held the lock before.
      const used = await client.query(`SELECT 1 FROM ${s}.objects WHERE kek_id = $1 LIMIT 1`, [id]);
      if ((used.rowCount ?? 0) > 0) return false;
      const result = await client.query(`UPDATE ${s}.keks SET state = 'retired' WHERE id = $1 AND state = 'retiring'`, [id]);
      return result.rowCount === 1;
    });
  }

  async setKekRef(id: string, ref: string): Promise<void> {
    await this.#pool.query(`UPDATE ${this.#schema}.keks SET ref = $1 WHERE id = $2`, [ref, id]);
  }

  /** One REPEATABLE READ transaction: every page comes from the same snapshot while nodes keep writing. */
  async *exportRows(): AsyncIterable<ExportItem> {
    const s = this.#schema;
    const client = await this.#pool.connect();
    let broken: Error | undefined;
    let finished = false;
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const keks = await client.query<KekRow>(`SELECT id, state, kind, ref, created FROM ${s}.keks ORDER BY created, id`);
      for (const kek of keks.rows) yield { kek: kekFromRow(kek) };
      let after = 0n;
      for (;;) {
        const { rows } = await client.query<ExportRow>(
          `SELECT seq, id, object_type, owner, revision, attributes, body, kek_id,
                  (extract(epoch FROM created) * 1000)::bigint AS created, (extract(epoch FROM updated) * 1000)::bigint AS updated
           FROM ${s}.objects WHERE seq > $1 ORDER BY seq LIMIT ${EXPORT_PAGE}`,
          [after.toString()],
        );
        for (const row of rows) {
          yield {
            id: row.id,
            objectType: row.object_type,
            owner: row.owner.toString('utf8'),
            revision: row.revision,
            attributes: row.attributes,
            body: row.body,
            kekId: row.kek_id,
            created: Number(row.created),
            updated: Number(row.updated),
          };
        }
        if (rows.length < EXPORT_PAGE) break;
        after = BigInt(rows[rows.length - 1]?.seq ?? '0');
      }
      const grants = await client.query<GrantRow<Buffer>>(`SELECT * FROM ${s}.grants ORDER BY created, seq`);
      for (const row of grants.rows) yield { grant: grantFromRow(row, (bytes) => bytes.toString('utf8')) };
      for (let afterSeq = 0; ; ) {
        const { rows } = await client.query<AuditRow>(`SELECT ${AUDIT_COLUMNS} FROM ${s}.audit_log WHERE seq > $1 ORDER BY seq LIMIT ${EXPORT_PAGE}`, [afterSeq]);
        for (const row of rows) yield { audit: auditRecordFromRow(row) };
        if (rows.length < EXPORT_PAGE) break;
        afterSeq = Number(rows[rows.length - 1]?.seq ?? 0);
      }
      const head = await client.query<{ seq: string; hash: string }>(`SELECT seq, hash FROM ${s}.audit_head WHERE id = 1`);
      const headRow = head.rows[0];
      if (headRow !== undefined) yield { auditHead: { seq: Number(headRow.seq), hash: headRow.hash } };
      await client.query('COMMIT');
      finished = true;
    } finally {
      // An error, or a consumer that stopped early: end the read transaction before the connection goes back.
      if (!finished) {
        await client.query('ROLLBACK').catch((rollbackError: unknown) => {
          broken = rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError));
        });
      }
      client.release(broken);
    }
  }

  async isEmpty(): Promise<boolean> {
    const { rowCount } = await this.#pool.query(`SELECT 1 FROM ${this.#schema}.objects LIMIT 1`);
    return (rowCount ?? 0) === 0;
  }

  async importRows(keks: readonly KekRecord[], items: AsyncIterable<ImportItem>, options: ImportOptions = {}): Promise<number> {
    const s = this.#schema;
    const restoreAudit = options.restoreAudit === true;
    let count = 0;
    await transaction(this.#pool, async (client) => {
      await client.query(`LOCK TABLE ${s}.objects IN EXCLUSIVE MODE`);
      if (options.replace === true) {
        await client.query(`DELETE FROM ${s}.attribute_index`);
        await client.query(`DELETE FROM ${s}.objects`);
        await client.query(`DELETE FROM ${s}.grants`);
      } else {
        const present = await client.query(`SELECT 1 FROM ${s}.objects LIMIT 1`);
        if ((present.rowCount ?? 0) > 0) throw new Error('the store already holds objects: refusing to import over them');
      }
      let head: ChainHead | undefined;
      let records: StoredRecord[] = [];
      if (restoreAudit) {
        // Appenders of other nodes queue on the head row until this commits, then extend the restored chain.
        await client.query(`SELECT seq FROM ${s}.audit_head WHERE id = 1 FOR UPDATE`);
        const held = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${s}.audit_log`);
        const n = Number(held.rows[0]?.n ?? 0);
        if (options.replace !== true && n > 0) throw new Error(`the store's audit trail already holds ${n} records: refusing to replace it with the imported one`);
        await client.query(`DELETE FROM ${s}.audit_log`);
      }
      const flushAudit = async (): Promise<void> => {
        if (records.length === 0) return;
        const columns = records.map(auditRowValues);
        const column = (i: number): unknown[] => columns.map((values) => values[i]);
        await client.query(
          `INSERT INTO ${s}.audit_log (${AUDIT_COLUMNS})
           SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::integer[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[])`,
          Array.from({ length: 14 }, (_, i) => column(i)),
        );
        records = [];
      };
      // Rows first, KEK records last: the trigger accepts any KEK while the list is empty.
      await client.query(`DELETE FROM ${s}.keks`);
      for await (const item of items) {
        if ('grant' in item) {
          const g = item.grant;
          checkGrant(g);
          await client.query(
            `INSERT INTO ${s}.grants (target_kind, target, scope_owner, grantee_kind, grantee, permission, granted_by, created)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING`,
            [g.targetKind, utf8(g.target), utf8(scopeColumn(g)), g.granteeKind, utf8(g.grantee), utf8(g.permission), utf8(g.grantedBy), g.created],
          );
          continue;
        }
        if ('audit' in item) {
          if (!restoreAudit) throw new Error("audit records given to an import that keeps the store's own audit trail");
          records.push(item.audit);
          if (records.length >= EXPORT_PAGE) await flushAudit();
          continue;
        }
        if ('auditHead' in item) {
          head = item.auditHead;
          continue;
        }
        const index = indexRows(decodeAttributes(item.attributes, item.id), this.#indexKeys);
        await client.query(
          `INSERT INTO ${s}.objects (id, object_type, owner, revision, attributes, body, kek_id, created, updated)
           VALUES ($1, $2, $3, $4, $5, $6, $7, to_timestamp($8::bigint / 1000.0), to_timestamp($9::bigint / 1000.0))`,
          [item.id, item.objectType, utf8(item.owner), item.revision, item.attributes, item.body, item.kekId, item.created, item.updated],
        );
        if (index.length > 0) {
          await client.query({
            name: 'kmipd-insert-index',
            text: this.#sql.insertIndex,
            values: [item.id, index.map((r) => utf8(r.name)), index.map((r) => (r.key === null ? null : utf8(r.key)))],
          });
        }
        count += 1;
      }
      await flushAudit();
      if (restoreAudit) {
        const { seq, hash } = importedHead(head);
        await client.query(
          `INSERT INTO ${s}.audit_head (id, seq, hash) VALUES (1, $1, $2) ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash`,
          [seq, hash],
        );
      }
      for (const kek of keks) {
        await client.query(`INSERT INTO ${s}.keks (id, state, kind, ref, created) VALUES ($1, $2, $3, $4, $5)`, [kek.id, kek.state, kek.kind, kek.ref, kek.created]);
      }
      // The index keys may have changed since the export: every row was indexed anew.
      await client.query(`DELETE FROM ${s}.maintenance_state WHERE name LIKE $1`, [`${indexTask('')}%`]);
      // The EXCLUSIVE lock keeps every other writer of the counts out until COMMIT.
      await recountObjects(client, s);
      // Last: the chain head's row lock is held only from here to COMMIT.
      await appendPostgresAudit(client, s, options.appendAudit ?? []);
    });
    if (this.#kek instanceof KekRing) await this.#kek.refresh();
    return count;
  }

  async indexRange(name: string, upTo: string, limit: number): Promise<string[]> {
    const { rows } = await this.#pool.query<{ object_id: string }>(
      `SELECT object_id FROM ${this.#schema}.attribute_index WHERE name = $1 AND key <= $2 ORDER BY key, object_id LIMIT $3`,
      [utf8(name), utf8(upTo), limit],
    );
    return rows.map((row) => row.object_id);
  }

  async refreshIndex(name: string, version: number, limit: number): Promise<{ readonly objects: number; readonly done: boolean }> {
    const s = this.#schema;
    const task = indexTask(name);
    const size = Math.max(1, limit);
    return transaction(this.#pool, async (client) => {
      // One refresher at a time; the page's rows stay locked against updates until COMMIT.
      await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`kmipd ${this.#settings.schema} ${task}`]);
      const state = await client.query<{ value: string }>(`SELECT value FROM ${s}.maintenance_state WHERE name = $1`, [task]);
      const progress = parseIndexProgress(state.rows[0]?.value);
      if (progress?.version === version && progress.after === null) return { objects: 0, done: true };
      const from = progress?.version === version ? (progress.after ?? '') : '';
      const { rows } = await client.query<{ id: string; object_type: number; attributes: Buffer }>(
        `SELECT id, object_type, attributes FROM ${s}.objects WHERE id > $1 ORDER BY id LIMIT $2 FOR UPDATE`,
        [from, size],
      );
      const ids: string[] = [];
      const keys: (Buffer | null)[] = [];
      const covered: string[] = [];
      for (const row of rows) {
        let wanted: IndexRow[];
        try {
          wanted = indexRows(decodeAttributes(row.attributes, row.id), this.#indexKeys).filter((r) => r.name === name);
        } catch {
          continue; // a corrupt row: every load of it says so; it cannot hold back the others
        }
        covered.push(row.id);
        for (const r of wanted) {
          ids.push(row.id);
          keys.push(r.key === null ? null : utf8(r.key));
        }
      }
      const deleted = await client.query<{ object_id: string; key: Buffer | null }>(
        `DELETE FROM ${s}.attribute_index WHERE name = $1 AND object_id = ANY($2::text[]) RETURNING object_id, key`,
        [utf8(name), covered],
      );
      if (ids.length > 0) {
        await client.query(`INSERT INTO ${s}.attribute_index (object_id, name, key) SELECT id, $1, key FROM unnest($2::text[], $3::bytea[]) AS t (id, key)`, [utf8(name), ids, keys]);
      }
      if (name === STATE_INDEX_NAME) await this.#recountStates(client, rows, deleted.rows, ids, keys);
      const done = rows.length < size;
      const after = done ? null : (rows[rows.length - 1]?.id ?? null);
      await client.query(
        `INSERT INTO ${s}.maintenance_state (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = excluded.value`,
        [task, JSON.stringify({ version, after } satisfies IndexProgress)],
      );
      return { objects: rows.length, done };
    });
  }

  /** The State rows of a page of objects were written anew (refreshIndex): move their counts. */
  async #recountStates(
    client: PoolClient,
    objects: readonly { readonly id: string; readonly object_type: number }[],
    deleted: readonly { readonly object_id: string; readonly key: Buffer | null }[],
    ids: readonly string[],
    keys: readonly (Buffer | null)[],
  ): Promise<void> {
    const stateOf = (pairs: Iterable<[string, Buffer | null]>): Map<string, string> => {
      const states = new Map<string, string>();
      for (const [id, key] of pairs) if (key !== null && !states.has(id)) states.set(id, key.toString('utf8'));
      return states;
    };
    const before = stateOf(deleted.map((row) => [row.object_id, row.key]));
    const after = stateOf(ids.map((id, i) => [id, keys[i] ?? null]));
    const deltas = new CountDeltas();
    for (const { id, object_type: objectType } of objects) deltas.move({ objectType, state: before.get(id) ?? '' }, { objectType, state: after.get(id) ?? '' });
    const sql = deltas.sql(this.#schema);
    if (sql !== undefined) await client.query(sql);
  }

  /** A session advisory lock on a connection held for the work: one node at a time, released if this one dies. */
  async exclusively(name: string, work: () => Promise<void>): Promise<boolean> {
    const client = await this.#pool.connect();
    let broken: Error | undefined;
    const key = `kmipd ${this.#settings.schema} ${name}`;
    try {
      const { rows } = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS locked', [key]);
      if (rows[0]?.locked !== true) return false;
      try {
        await work();
      } finally {
        await client.query('SELECT pg_advisory_unlock(hashtextextended($1, 0))', [key]).catch((error: unknown) => {
          broken = error instanceof Error ? error : new Error(String(error));
        });
      }
      return true;
    } finally {
      client.release(broken);
    }
  }

  get #schema(): string {
    return escapeIdentifier(this.#settings.schema);
  }

  /** Ends the pool: waits for checked-out connections to come back, then closes them all. */
  /** The audit trail, read on one pooled connection in one snapshot. */
  async auditReader(): Promise<AuditReader> {
    return openPostgresAuditReader(this.#pool, this.#settings.schema, false);
  }

  /** Synced commits written so far and the transactions that held them (for tests and benchmarks). */
  groupCommitStats(): { readonly transactions: number; readonly commits: number } {
    return { ...this.#commits.stats };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#commits.settled();
    await this.#pool.end();
  }

  async #select(id: string): Promise<ObjectRow | undefined> {
    if (id.includes('\u0000')) return undefined; // never stored (see commit); TEXT would reject it
    const { rows } = await this.#pool.query<ObjectRow>({ name: 'kmipd-select', text: this.#sql.select, values: [id] });
    return rows[0];
  }

  async #insert(client: PoolClient, row: PreparedRow, deltas: CountDeltas): Promise<void> {
    try {
      await client.query({
        name: 'kmipd-insert',
        text: this.#sql.insert,
        values: [row.id, row.objectType, row.owner, row.revision, row.attributes, row.body, row.kekId],
      });
    } catch (error) {
      if (error instanceof DatabaseError && error.code === '23505' && error.constraint === 'objects_pkey') {
        throw new StoreConflictError(`object ${row.id} already exists`, { cause: error });
      }
      throw error;
    }
    if (row.indexNames.length > 0) {
      await client.query({ name: 'kmipd-insert-index', text: this.#sql.insertIndex, values: [row.id, row.indexNames, row.indexKeys] });
    }
    deltas.add(row.objectType, row.state, 1);
  }

  async #update(client: PoolClient, row: PreparedRow, deltas: CountDeltas): Promise<void> {
    const expected = row.revision - 1;
    // Under READ COMMITTED a second writer waits for the row lock, then re-checks the
    // revision against the committed row: of two updates from one revision, one matches.
    const result = await client.query<{ object_type: number }>({
      name: 'kmipd-update',
      text: this.#sql.update,
      values: [row.id, row.objectType, row.owner, row.revision, row.attributes, row.body, row.kekId, expected],
    });
    if (result.rowCount !== 1) {
      const stored = await client.query<{ revision: number }>({ name: 'kmipd-select-revision', text: this.#sql.selectRevision, values: [row.id] });
      const revision = stored.rows[0]?.revision;
      throw new StoreConflictError(
        revision === undefined
          ? `object ${row.id} does not exist`
          : `object ${row.id} is at revision ${revision}, the update expected revision ${expected}: it was changed meanwhile`,
      );
    }
    const index = await client.query<{ state: Buffer | null }>({ name: 'kmipd-rewrite-index', text: this.#sql.rewriteIndex, values: [row.id, row.indexNames, row.indexKeys] });
    const stored = { objectType: result.rows[0]?.object_type ?? row.objectType, state: index.rows[0]?.state?.toString('utf8') ?? '' };
    deltas.move(stored, row);
  }

  async #prepareAndWrite(creates: readonly ManagedObject[], updates: readonly ManagedObject[], audit: readonly AuditEntry[], claims: readonly UniqueClaim[]): Promise<void> {
    const createRows = await Promise.all(creates.map((o) => this.#prepare(o)));
    // Rows are locked in identifier order, so two nodes updating the same objects never
    // deadlock (a group of commits locks all of its rows first, in that order).
    const updateRows = (await Promise.all(updates.map((o) => this.#prepare(o)))).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const bytes = [...createRows, ...updateRows].reduce((sum, row) => sum + rowBytes(row), 0);
    const claimKeys = claims.map((claim) => `kmipd unique ${this.#settings.schema} ${createHash('sha256').update(JSON.stringify([claim.owner, claim.name, claim.key])).digest('hex')}`);
    await this.#commits.commit({ rows: { creates: createRows, updates: updateRows, claims }, audit, bytes, updates: updateRows.map((row) => row.id), claims: claimKeys });
  }

  /** Returns the commit's changes to the object counts, written by the group if the commit is kept. */
  async #write(client: PoolClient, rows: PreparedWrite): Promise<CountDeltas> {
    // The group holds the locks of these claims (CommitGroups): a statement from here sees
    // every commit of another node that claimed one of them before.
    if (rows.claims.length > 0) {
      const own = new Set([...rows.creates, ...rows.updates].map((row) => row.id));
      for (const claim of rows.claims) {
        const { rows: holders } = await client.query<{ id: string }>({ name: 'kmipd-claim-holders', text: this.#sql.claimHolders, values: [utf8(claim.name), utf8(claim.key), utf8(claim.owner)] });
        const holder = holders.find((row) => !own.has(row.id));
        if (holder !== undefined) throw new UniqueValueError(claim, holder.id);
      }
    }
    const deltas = new CountDeltas();
    for (const row of rows.creates) await this.#insert(client, row, deltas);
    for (const row of rows.updates) await this.#update(client, row, deltas);
    return deltas;
  }

  async #prepare(object: ManagedObject): Promise<PreparedRow> {
    const wrapped = object.body === undefined ? undefined : await wrapBody(this.#kek, object.body);
    const index = indexRows(object.attributes, this.#indexKeys);
    return {
      id: object.id,
      objectType: object.objectType,
      owner: utf8(object.owner),
      revision: object.revision,
      attributes: encodeAttributes(object.attributes),
      body: wrapped?.wrapped ?? null,
      kekId: wrapped?.kekId ?? null,
      indexNames: index.map((r) => utf8(r.name)),
      indexKeys: index.map((r) => (r.key === null ? null : utf8(r.key))),
      state: index.find((r) => r.name === STATE_INDEX_NAME && r.key !== null)?.key ?? '',
    };
  }



  async #unwrapBody(id: string, wrapped: Buffer, kekId: string | null): Promise<TtlvItem> {
    return unwrapBody(this.#kek, id, wrapped, kekId);
  }

}

/** What a row holds in memory until its group is written (MAX_GROUP_BYTES). */
function rowBytes(row: PreparedRow): number {
  const index = row.indexNames.reduce((sum, name) => sum + name.length, 0) + row.indexKeys.reduce((sum, key) => sum + (key?.length ?? 0), 0);
  return row.attributes.length + (row.body?.length ?? 0) + index;
}

/** The fixed statements, for one quoted schema name. */
function statements(s: string) {
  return {
    select: `SELECT object_type, owner, revision, attributes, body, kek_id FROM ${s}.objects WHERE id = $1`,
    selectRevision: `SELECT revision FROM ${s}.objects WHERE id = $1`,
    // Rows are locked as they come out of the sort, in the byte order of their identifiers
    // (for the ASCII of the store's UUIDs, the order in which a lone commit updates them).
    lockRows: `SELECT 1 FROM ${s}.objects WHERE id = ANY($1::text[]) ORDER BY id COLLATE "C" FOR UPDATE`,
    // Volatile functions of the select list run after the sort: the locks are taken in hash order.
    lockClaims: `SELECT pg_advisory_xact_lock(h) FROM (SELECT DISTINCT hashtextextended(k, 0) AS h FROM unnest($1::text[]) AS k) AS claims ORDER BY h`,
    claimHolders: `SELECT o.id FROM ${s}.attribute_index a JOIN ${s}.objects o ON o.id = a.object_id WHERE a.name = $1 AND a.key = $2 AND o.owner = $3 AND o.body IS NOT NULL`,
    count: `SELECT count(*) AS objects FROM ${s}.objects`,
    insert: `INSERT INTO ${s}.objects (id, object_type, owner, revision, attributes, body, kek_id, created, updated)
             VALUES ($1, $2, $3, $4, $5, $6, $7, now(), now())`,
    insertIndex: `INSERT INTO ${s}.attribute_index (object_id, name, key) SELECT $1, name, key FROM unnest($2::bytea[], $3::bytea[]) AS t (name, key)`,
    // Returns the type the object had (the joined row is the statement's snapshot of it; when
    // the revision matches, no change of its type can have come between).
    update: `UPDATE ${s}.objects o SET object_type = $2, owner = $3, revision = $4, attributes = $5, body = $6, kek_id = $7, updated = now()
             FROM ${s}.objects stored WHERE o.id = $1 AND o.revision = $8 AND stored.id = $1
             RETURNING stored.object_type`,
    // Most updates (a state, a date) change few index rows: delete and insert only the
    // difference, in one statement whose parts all see the rows as they were. Returns the
    // State key the object had (for the counts).
    rewriteIndex: `WITH wanted (name, key) AS (SELECT * FROM unnest($2::bytea[], $3::bytea[])),
        gone AS (
          DELETE FROM ${s}.attribute_index a WHERE a.object_id = $1
            AND NOT EXISTS (SELECT 1 FROM wanted w WHERE w.name = a.name AND w.key IS NOT DISTINCT FROM a.key)),
        added AS (
          INSERT INTO ${s}.attribute_index (object_id, name, key)
            SELECT $1, w.name, w.key FROM wanted w
            WHERE NOT EXISTS (SELECT 1 FROM ${s}.attribute_index a WHERE a.object_id = $1 AND a.name = w.name AND a.key IS NOT DISTINCT FROM w.key))
      SELECT (SELECT key FROM ${s}.attribute_index WHERE object_id = $1 AND name = convert_to('${STATE_INDEX_NAME}', 'UTF8') AND key IS NOT NULL LIMIT 1) AS state`,
  } as const;
}

// ---------------------------------------------------------------------------------------
// KEK rows

/** Rows per page of an export. */
const EXPORT_PAGE = 1000;

interface KekRow {
  readonly id: string;
  readonly state: string;
  readonly kind: string;
  readonly ref: string;
  /** bigint arrives as text. */
  readonly created: string | number;
}

interface ExportRow extends ObjectRow {
  readonly seq: string;
  readonly id: string;
  readonly created: string;
  readonly updated: string;
}

function kekFromRow(row: KekRow): KekRecord {
  const state = row.state === 'active' || row.state === 'retiring' || row.state === 'retired' ? row.state : 'retired';
  const kind = row.kind === 'pkcs11' ? 'pkcs11' : 'file';
  return { id: row.id, state, kind, ref: row.ref, created: Number(row.created) };
}

function kekRetired(id: string, cause: unknown): KekError {
  return new KekError('KEK_RETIRED', `this store no longer accepts values wrapped under KEK ${id}: it was rotated out (kmipd kek status)`, { cause });
}
