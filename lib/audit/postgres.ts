/**
 * The audit trail in the PostgreSQL store: the tables (a migration step of
 * lib/store/postgres.ts), the append that runs inside the store's commit transaction, and a
 * reader for `kmipd audit verify` and `export`.
 *
 * Several kmipd nodes write to one database: the append locks the head row (SELECT ... FOR
 * UPDATE) before numbering its records, so appends from every node queue on that one row and
 * the chain stays a single sequence. The lock is taken last in the transaction, after the
 * object writes, and held only until COMMIT; a node's commits that arrive meanwhile share its
 * next transaction and one append (lib/store/postgres-commits.ts).
 */
import { Pool, escapeIdentifier } from 'pg';
import type { PoolClient } from 'pg';
import { AuditChainError, GENESIS_HASH, chainEntries, objectsJson } from './record.js';
import type { AuditEntry, AuditReader, ChainHead } from './record.js';
import { AUDIT_COLUMNS, auditRecordFromRow } from './rows.js';
import type { AuditRow } from './rows.js';

/** Schema step creating the audit tables, given the quoted schema name. */
export function postgresAuditSchema(s: string): string {
  return `
  -- Append-only: record n holds the SHA-256 (hex) of record n - 1 (prev_hash) and its own
  -- (hash), over the canonical bytes of lib/audit/record.ts. Numbers have no gaps.
  CREATE TABLE ${s}.audit_log (
    seq bigint PRIMARY KEY,
    time text COLLATE "C" NOT NULL,   -- ISO 8601 UTC with milliseconds, as hashed (byte order is time order)
    identity text NOT NULL,
    peer text NOT NULL,
    correlation text NOT NULL,        -- server correlation value of the request
    client_correlation text,
    item integer,                     -- batch item, from 1; NULL for an unreadable request
    operation text,
    objects text NOT NULL,            -- JSON list of Unique Identifiers
    status text NOT NULL,
    reason text,
    message text,
    prev_hash text NOT NULL,
    hash text NOT NULL
  );
  CREATE INDEX audit_log_time ON ${s}.audit_log (time);
  -- The chain head: one row, locked and moved by every append.
  CREATE TABLE ${s}.audit_head (
    id integer PRIMARY KEY CHECK (id = 1),
    seq bigint NOT NULL,
    hash text NOT NULL
  );
  INSERT INTO ${s}.audit_head (id, seq, hash) VALUES (1, 0, '${GENESIS_HASH}');
  `;
}

const HEAD_MISSING = 'the audit chain head (table audit_head) has no row: the audit trail was tampered with; run kmipd audit verify';


/** Append inside the caller's open transaction on `client`; a throw makes the caller roll back. */
export async function appendPostgresAudit(client: PoolClient, s: string, entries: readonly AuditEntry[]): Promise<void> {
  if (entries.length === 0) return;
  const { rows } = await client.query<{ seq: string; hash: string }>({
    name: `kmipd-audit-head-${s}`,
    text: `SELECT seq, hash FROM ${s}.audit_head WHERE id = 1 FOR UPDATE`,
  });
  const head = rows[0];
  if (head === undefined) throw new AuditChainError(HEAD_MISSING);
  const { records, head: next } = chainEntries({ seq: Number(head.seq), hash: head.hash }, entries);
  const column = <T>(pick: (r: (typeof records)[number]) => T): T[] => records.map(pick);
  await client.query({
    name: `kmipd-audit-insert-${s}`,
    text: `INSERT INTO ${s}.audit_log (${AUDIT_COLUMNS})
      SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::integer[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[])`,
    values: [
      column((r) => r.seq),
      column((r) => r.time),
      column((r) => r.identity),
      column((r) => r.peer),
      column((r) => r.correlation),
      column((r) => r.clientCorrelation),
      column((r) => r.item),
      column((r) => r.operation),
      column((r) => objectsJson(r.objects)),
      column((r) => r.status),
      column((r) => r.reason),
      column((r) => r.message),
      column((r) => r.prevHash),
      column((r) => r.hash),
    ],
  });
  await client.query({ name: `kmipd-audit-move-head-${s}`, text: `UPDATE ${s}.audit_head SET seq = $1, hash = $2 WHERE id = 1`, values: [next.seq, next.hash] });
}


/**
 * A reader on one pooled connection, inside one REPEATABLE READ READ ONLY transaction: the
 * head and every record come from the same snapshot while nodes keep appending.
 * `endPool` also ends the pool at close (when the reader made it).
 */
export async function openPostgresAuditReader(pool: Pool, schema: string, endPool: boolean): Promise<AuditReader> {
  const s = escapeIdentifier(schema);
  let client: PoolClient;
  try {
    client = await pool.connect();
  } catch (error) {
    if (endPool) await pool.end();
    throw error;
  }
  const release = async (broken?: Error): Promise<void> => {
    client.release(broken);
    if (endPool) await pool.end();
  };
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const { rows } = await client.query<{ tables: string }>(
      `SELECT count(*) AS tables FROM pg_tables WHERE schemaname = $1 AND tablename IN ('audit_log', 'audit_head')`,
      [schema],
    );
    if (Number(rows[0]?.tables) !== 2) {
      throw new AuditChainError(`schema ${schema} has no audit trail (tables audit_log and audit_head): start this kmipd on it once (kmipd serve) to create them`);
    }
  } catch (error) {
    await release(error instanceof Error ? error : undefined);
    throw error;
  }
  let closed = false;
  return {
    head: async () => {
      const result = await client.query<{ seq: string; hash: string }>(`SELECT seq, hash FROM ${s}.audit_head WHERE id = 1`);
      const row = result.rows[0];
      return row === undefined ? undefined : ({ seq: Number(row.seq), hash: row.hash } satisfies ChainHead);
    },
    records: async (afterSeq, limit, sinceTime) => {
      const result =
        sinceTime === undefined
          ? await client.query<AuditRow>(`SELECT ${AUDIT_COLUMNS} FROM ${s}.audit_log WHERE seq > $1 ORDER BY seq LIMIT $2`, [afterSeq, limit])
          : await client.query<AuditRow>(`SELECT ${AUDIT_COLUMNS} FROM ${s}.audit_log WHERE seq > $1 AND time >= $2 ORDER BY seq LIMIT $3`, [afterSeq, sinceTime, limit]);
      return result.rows.map(auditRecordFromRow);
    },
    close: async () => {
      if (closed) return;
      closed = true;
      let broken: Error | undefined;
      try {
        await client.query('COMMIT');
      } catch (error) {
        broken = error instanceof Error ? error : new Error(String(error));
      }
      await release(broken);
    },
  };
}

/** A reader with a connection of its own to the database at `connectionString` (for the audit commands). */
export async function openPostgresAuditReaderAt(connectionString: string, schema: string): Promise<AuditReader> {
  const pool = new Pool({ connectionString, application_name: 'kmipd audit', max: 1 });
  // A connection that breaks while idle must not end the process; the next query reports it.
  pool.on('error', () => undefined);
  return openPostgresAuditReader(pool, schema, true);
}
