/**
 * Objects by type and State for the PostgreSQL store (the `kmipd_objects` metric), kept by
 * the writes instead of counted at each scrape. A transaction adds its deltas to the rows of
 * one slot drawn at random among OBJECT_COUNT_SLOTS, in one statement sent with its COMMIT:
 * two nodes' transactions wait for each other on these rows only when they drew the same
 * slot, and then only for a COMMIT; a reader sums a few hundred rows whatever the number of
 * objects.
 *
 * The State is the key of the object's State index row (UTF-8 bytea, as in attribute_index),
 * empty for an object without one: the same rule as the full count below.
 */
import { randomInt } from 'node:crypto';
import type { PoolClient } from 'pg';
import type { ObjectCount } from './types.js';

/** Slots a transaction draws its count rows from: the rows number at most slots x types x states. */
export const OBJECT_COUNT_SLOTS = 64;

/** The attribute whose index key is an object's State. */
export const STATE_INDEX_NAME = 'State';

/** The counts as of the objects and State rows the transaction sees, in slot 0 (quoted schema name). */
const fullCount = (s: string): string => `
  INSERT INTO ${s}.object_counts (slot, object_type, state, n)
    SELECT 0, o.object_type, coalesce(st.key, '\\x'::bytea), count(*) FROM ${s}.objects o
    LEFT JOIN ${s}.attribute_index st ON st.object_id = o.id AND st.name = convert_to('${STATE_INDEX_NAME}', 'UTF8') AND st.key IS NOT NULL
    GROUP BY 1, 2, 3`;

/**
 * The schema step that creates the table and counts the objects already there, once. It runs
 * in the migration's transaction under its advisory lock (nodes starting together count
 * once); the SHARE lock makes nodes still on an older kmipd wait for the count, so none of
 * their objects slips in between the count and the commit. What those nodes write afterwards
 * is not counted (they know nothing of the table): docs/operations.md section 6 says to
 * upgrade every node together, or to run `kmipd recount-objects` once they all are.
 */
export function objectCountsSchema(s: string): string {
  return `
  CREATE TABLE ${s}.object_counts (
    slot smallint NOT NULL,
    object_type integer NOT NULL,
    state bytea NOT NULL,           -- the State index key (UTF-8), empty: no State
    n bigint NOT NULL,              -- this slot's share: may be negative, the sum over slots is the count
    PRIMARY KEY (slot, object_type, state)
  );
  LOCK TABLE ${s}.objects IN SHARE MODE;
  ${fullCount(s)};
  `;
}

/** Counts every object anew, in the caller's transaction (after a bulk load, with writers locked out). */
export async function recountObjects(client: PoolClient, s: string): Promise<void> {
  await client.query(`DELETE FROM ${s}.object_counts`);
  await client.query(fullCount(s));
}

/** Sums over slots; the types and States with at least one object. */
export async function countByState(client: Pick<PoolClient, 'query'>, s: string): Promise<ObjectCount[]> {
  const { rows } = await client.query<{ object_type: number; state: Buffer; n: string }>(
    `SELECT object_type, state, sum(n) AS n FROM ${s}.object_counts GROUP BY object_type, state HAVING sum(n) > 0`,
  );
  return rows.map((row) => ({ objectType: row.object_type, state: row.state.length === 0 ? undefined : Number(row.state.toString('utf8')), count: Number(row.n) }));
}

/** One commit's (or one transaction's) changes to the counts, keyed by type and State. */
export class CountDeltas {
  readonly #deltas = new Map<string, { objectType: number; state: string; delta: number }>();

  add(objectType: number, state: string, delta: number): void {
    const key = `${objectType}:${state}`;
    const entry = this.#deltas.get(key);
    if (entry === undefined) this.#deltas.set(key, { objectType, state, delta });
    else entry.delta += delta;
  }

  /** An object moved from one type and State to another (nothing when neither changed). */
  move(from: { readonly objectType: number; readonly state: string }, to: { readonly objectType: number; readonly state: string }): void {
    if (from.objectType === to.objectType && from.state === to.state) return;
    this.add(from.objectType, from.state, -1);
    this.add(to.objectType, to.state, 1);
  }

  addAll(other: CountDeltas): void {
    for (const { objectType, state, delta } of other.#deltas.values()) this.add(objectType, state, delta);
  }

  /**
   * The statement that adds the deltas to the rows of one slot drawn at random, undefined when
   * there is nothing to add. Its values are numbers and hex, written out, so that it can travel
   * with the COMMIT in one round trip. The rows are written in one order (type, then State
   * bytes) by every transaction, so two that drew the same slot queue on their first common
   * row instead of deadlocking.
   */
  sql(s: string): string | undefined {
    const rows = [...this.#deltas.values()]
      .filter((entry) => entry.delta !== 0)
      .map((entry) => ({ ...entry, bytes: Buffer.from(entry.state, 'utf8') }))
      .sort((a, b) => a.objectType - b.objectType || Buffer.compare(a.bytes, b.bytes));
    if (rows.length === 0) return undefined;
    const slot = randomInt(OBJECT_COUNT_SLOTS);
    const values = rows.map((r) => `(${slot}, ${integer(r.objectType)}, '\\x${r.bytes.toString('hex')}'::bytea, ${integer(r.delta)})`);
    return `INSERT INTO ${s}.object_counts (slot, object_type, state, n) VALUES ${values.join(', ')}
      ON CONFLICT (slot, object_type, state) DO UPDATE SET n = ${s}.object_counts.n + excluded.n`;
  }
}

function integer(value: number): string {
  if (!Number.isSafeInteger(value)) throw new TypeError(`object count: ${value} is not an integer`);
  return String(value);
}
