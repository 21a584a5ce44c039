/**
 * The shared store: one PostgreSQL database through pg.Pool, for several kmipd nodes behind
 * a load balancer (DESIGN.md decision 6). The model is the SQLite store's: bodies only
 * wrapped under the KEK (decision 3), attributes as TTLV, an attribute index for Locate, and
 * a commit that is one transaction, acknowledged only once PostgreSQL reports it committed
 * with synchronous_commit on (decision 4).
 *
 * Text a client chooses (owner names from certificates, attribute names, index keys) is
 * stored as bytea holding its UTF-8: PostgreSQL TEXT cannot hold U+0000, and KMIP Text
 * Strings can. Object identifiers stay TEXT: the store makes them (UUIDs), and an
 * identifier holding U+0000 is simply never found.
 */
import { randomUUID } from 'node:crypto';
import { DatabaseError, Pool, escapeIdentifier } from 'pg';
import type { PoolClient, PoolConfig } from 'pg';
import { encodeTtlv } from '../../ttlv/index.js';
import type { TtlvItem } from '../../ttlv/index.js';
import type { AttributeInstance } from '../attributes/types.js';
import type { KeyEncryptionKey } from '../crypto/index.js';
import { silentLogger } from '../log.js';
import type { Logger } from '../log.js';
import type { ManagedObject } from '../objects/types.js';
import { decodeAttributes, encodeAttributes, indexRows, unwrapBody } from './codec.js';
import type { IndexKeys } from './codec.js';
import type { StoreStats } from './sqlite.js';
import { StoreConflictError } from './types.js';
import { appendPostgresAudit, openPostgresAuditReader, postgresAuditSchema } from '../audit/postgres.js';
import type { AuditReader, AuditSource } from '../audit/record.js';
import type { Changes, LocateQuery, ObjectMetadata, Store } from './types.js';
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

  -- One row per (name, key) from indexKeys, and one row with key NULL per attribute name the
  -- object has (for "has" conditions). Both UTF-8 bytea, as owner.
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
    return new PostgresStore(pool, settings, migration, options.kek, options.indexKeys);
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
  await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`kmipd migrate ${schema}`]);
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
    where.push(`id IN (SELECT object_id FROM ${s}.attribute_index WHERE name = ${param(utf8(name))} AND key IS NULL)`);
  }
  const filter = where.length > 0 ? ` WHERE ${where.join(' AND ')}` : '';
  return { text: `SELECT id FROM ${s}.objects${filter} ORDER BY seq`, values };
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
}

/** SQLSTATEs meaning "another transaction changed this meanwhile": the caller may retry. */
const CONCURRENCY_FAILURES = new Set(['40001', '40P01']); // serialization_failure, deadlock_detected

// ---------------------------------------------------------------------------------------
// The store

export class PostgresStore implements Store, AuditSource {
  readonly #pool: Pool;
  readonly #kek: KeyEncryptionKey;
  readonly #indexKeys: IndexKeys;
  readonly #settings: PostgresSettings;
  readonly migration: Migration;
  readonly #sql: ReturnType<typeof statements>;
  #closed = false;

  constructor(pool: Pool, settings: PostgresSettings, migration: Migration, kek: KeyEncryptionKey, indexKeys: IndexKeys) {
    this.#pool = pool;
    this.#settings = settings;
    this.migration = migration;
    this.#kek = kek;
    this.#indexKeys = indexKeys;
    this.#sql = statements(escapeIdentifier(settings.schema));
  }

  newId(): string {
    return randomUUID();
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
    // Wrapping may be asynchronous (an HSM worker): finish it before the transaction opens,
    // so the transaction holds its locks only for the writes.
    const createRows = await Promise.all(creates.map((o) => this.#prepare(o)));
    // Rows are locked in identifier order, so two nodes updating the same objects never deadlock.
    const updateRows = (await Promise.all(updates.map((o) => this.#prepare(o)))).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    try {
      await transaction(this.#pool, async (client) => {
        for (const row of createRows) await this.#insert(client, row);
        for (const row of updateRows) await this.#update(client, row);
        // Last: the head row lock is held only from here to COMMIT.
        await appendPostgresAudit(client, escapeIdentifier(this.#settings.schema), audit);
      });
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

  async countByState(): Promise<ObjectCount[]> {
    const s = escapeIdentifier(this.#settings.schema);
    // The State index rows (UTF-8 bytea) joined to each object's type by primary key; count(*) is a bigint (text).
    const { rows } = await this.#pool.query<{ object_type: number; state: string | null; n: string }>(
      `SELECT o.object_type, convert_from(st.key, 'UTF8') AS state, count(*) AS n FROM ${s}.objects o
       LEFT JOIN ${s}.attribute_index st ON st.object_id = o.id AND st.name = convert_to('State', 'UTF8') AND st.key IS NOT NULL
       GROUP BY o.object_type, st.key`,
    );
    return rows.map((row) => ({ objectType: row.object_type, state: row.state === null ? undefined : Number(row.state), count: Number(row.n) }));
  }

  settings(): PostgresSettings {
    return this.#settings;
  }

  // Grants -------------------------------------------------------------------------------

  async addGrants(grants: readonly GrantRecord[]): Promise<void> {
    grants.forEach(checkGrant);
    // Object identifiers never hold U+0000 here (see commit): such a grant could name no object.
    if (grants.some((g) => g.targetKind === 'object' && g.target.includes('\u0000'))) throw new Error('an object grant names an identifier holding U+0000');
    if (grants.length === 0) return;
    const s = escapeIdentifier(this.#settings.schema);
    await this.#pool.query(
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

  async removeGrants(filter: GrantFilter): Promise<number> {
    const { where, values } = this.#grantWhere(filter);
    const result = await this.#pool.query(`DELETE FROM ${escapeIdentifier(this.#settings.schema)}.grants${where}`, values);
    return result.rowCount ?? 0;
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

  /** Ends the pool: waits for checked-out connections to come back, then closes them all. */
  /** The audit trail, read on one pooled connection in one snapshot. */
  async auditReader(): Promise<AuditReader> {
    return openPostgresAuditReader(this.#pool, this.#settings.schema, false);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#pool.end();
  }

  async #select(id: string): Promise<ObjectRow | undefined> {
    if (id.includes('\u0000')) return undefined; // never stored (see commit); TEXT would reject it
    const { rows } = await this.#pool.query<ObjectRow>({ name: 'kmipd-select', text: this.#sql.select, values: [id] });
    return rows[0];
  }

  async #insert(client: PoolClient, row: PreparedRow): Promise<void> {
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
  }

  async #update(client: PoolClient, row: PreparedRow): Promise<void> {
    const expected = row.revision - 1;
    // Under READ COMMITTED a second writer waits for the row lock, then re-checks the
    // revision against the committed row: of two updates from one revision, one matches.
    const result = await client.query({
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
    await client.query({ name: 'kmipd-rewrite-index', text: this.#sql.rewriteIndex, values: [row.id, row.indexNames, row.indexKeys] });
  }

  async #prepare(object: ManagedObject): Promise<PreparedRow> {
    let body: Buffer | null = null;
    if (object.body !== undefined) {
      const clear = encodeTtlv(object.body);
      try {
        body = await this.#kek.wrap(clear);
      } finally {
        clear.fill(0);
      }
    }
    const index = indexRows(object.attributes, this.#indexKeys);
    return {
      id: object.id,
      objectType: object.objectType,
      owner: utf8(object.owner),
      revision: object.revision,
      attributes: encodeAttributes(object.attributes),
      body,
      kekId: body === null ? null : this.#kek.id,
      indexNames: index.map((r) => utf8(r.name)),
      indexKeys: index.map((r) => (r.key === null ? null : utf8(r.key))),
    };
  }



  async #unwrapBody(id: string, wrapped: Buffer, kekId: string | null): Promise<TtlvItem> {
    return unwrapBody(this.#kek, id, wrapped, kekId);
  }

}

/** The fixed statements, for one quoted schema name. */
function statements(s: string) {
  return {
    select: `SELECT object_type, owner, revision, attributes, body, kek_id FROM ${s}.objects WHERE id = $1`,
    selectRevision: `SELECT revision FROM ${s}.objects WHERE id = $1`,
    count: `SELECT count(*) AS objects FROM ${s}.objects`,
    insert: `INSERT INTO ${s}.objects (id, object_type, owner, revision, attributes, body, kek_id, created, updated)
             VALUES ($1, $2, $3, $4, $5, $6, $7, now(), now())`,
    insertIndex: `INSERT INTO ${s}.attribute_index (object_id, name, key) SELECT $1, name, key FROM unnest($2::bytea[], $3::bytea[]) AS t (name, key)`,
    update: `UPDATE ${s}.objects SET object_type = $2, owner = $3, revision = $4, attributes = $5, body = $6, kek_id = $7, updated = now()
             WHERE id = $1 AND revision = $8`,
    // Most updates (a state, a date) change few index rows: delete and insert only the
    // difference, in one statement (the INSERT's subquery sees the rows as they were).
    rewriteIndex: `WITH wanted (name, key) AS (SELECT * FROM unnest($2::bytea[], $3::bytea[])),
        gone AS (
          DELETE FROM ${s}.attribute_index a WHERE a.object_id = $1
            AND NOT EXISTS (SELECT 1 FROM wanted w WHERE w.name = a.name AND w.key IS NOT DISTINCT FROM a.key))
      INSERT INTO ${s}.attribute_index (object_id, name, key)
        SELECT $1, w.name, w.key FROM wanted w
        WHERE NOT EXISTS (SELECT 1 FROM ${s}.attribute_index a WHERE a.object_id = $1 AND a.name = w.name AND a.key IS NOT DISTINCT FROM w.key)`,
  } as const;
}
