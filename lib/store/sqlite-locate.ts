/**
 * Locate's candidates from SQLite without holding the event loop for long. better-sqlite3
 * runs each statement to its end on the event loop, so a statement must never have to read
 * the whole store.
 *
 * One SQL query (`WHERE id IN (index rows) ... ORDER BY seq LIMIT n`) serves a condition that
 * few objects meet, a Name, in a millisecond; but for one that most meet, such as Cryptographic
 * Algorithm AES among a million keys, SQLite gathered and sorted a million identifiers before
 * the first answer: 6-15 s during which no other client of the process was answered.
 *
 * So each condition's index rows are first counted, up to SELECTIVE_ROWS (a bounded range of
 * the index's primary key). When one of them has fewer, the query starts from it: at most
 * that many objects are read and sorted. When none has, the objects are read in creation
 * order, SCAN_SEQS sequence numbers at a time, each tested with index probes, with a turn of
 * the event loop between stretches, until `limit` are found or the store has been read.
 */
import type Database from 'better-sqlite3';
import { sqliteParam, visibleProbe } from './grants-sql.js';
import type { LocateQuery } from './types.js';

/** A condition met by fewer index rows than this drives the query. */
export const SELECTIVE_ROWS = 2000;
/** Sequence numbers (creation order) read in one statement of a scan: a few milliseconds. */
export const SCAN_SEQS = 512;

type Condition = { readonly name: string; readonly key: string } | { readonly name: string; readonly key?: undefined };

/** How a Locate reads SQLite: from its most selective condition, or by a scan (scanSql). Exported for tests (EXPLAIN). */
export interface LocatePlan {
  readonly kind: 'driven' | 'scan';
  readonly sql: string;
  readonly params: (string | number)[];
}

/** The query from `driver`'s index rows, the other conditions as probes, in creation order. */
export function drivenSql(query: LocateQuery, driver: Condition, limit: number | undefined): { sql: string; params: (string | number)[] } {
  const params: (string | number)[] = [];
  const param = sqliteParam(params);
  const source =
    driver.key === undefined
      ? `o.id IN (SELECT object_id FROM attribute_index WHERE name = ${param(driver.name)})`
      : `o.id IN (SELECT object_id FROM attribute_index WHERE name = ${param(driver.name)} AND key = ${param(driver.key)})`;
  // The unary + keeps the owner and type indexes out: the plan must start from the driver.
  const where = [source, ...rowConditions(query, params, driver, '+')];
  let sql = `SELECT o.id FROM objects o WHERE ${where.join(' AND ')} ORDER BY o.seq`;
  if (limit !== undefined) {
    sql += ' LIMIT ?';
    params.push(limit);
  }
  return { sql, params };
}

/**
 * One stretch of a scan: the objects with lo < seq <= hi that meet every condition, at most
 * `n` of them; lo and hi are the first two parameters, n the last.
 */
export function scanSql(query: LocateQuery): { sql: string; params: (string | number)[] } {
  const params: (string | number)[] = [];
  const where = ['o.seq > ?', 'o.seq <= ?', ...rowConditions(query, params, undefined, '')];
  // The stretch's bounds come first, its limit (the matches still wanted) last.
  return { sql: `SELECT o.id FROM objects o WHERE ${where.join(' AND ')} ORDER BY o.seq LIMIT ?`, params };
}

/** Every condition of `query` but `skip`, as tests of the row `o`. */
function rowConditions(query: LocateQuery, params: (string | number)[], skip: Condition | undefined, noIndex: '+' | ''): string[] {
  const param = sqliteParam(params);
  const where: string[] = [];
  if (query.owner !== undefined) where.push(`${noIndex}o.owner = ${param(query.owner)}`);
  if (query.objectType !== undefined) {
    where.push(`${noIndex}o.object_type = ?`);
    params.push(query.objectType);
  }
  if (query.visibleTo !== undefined) where.push(visibleProbe(query.visibleTo, param, { grants: 'grants', attributeIndex: 'attribute_index' }, 'o'));
  for (const condition of conditionsOf(query)) {
    // The driver's own rows are the source already (a copy of it among the conditions too).
    if (skip !== undefined && condition.name === skip.name && condition.key === skip.key) continue;
    where.push(
      condition.key === undefined
        ? `EXISTS (SELECT 1 FROM attribute_index a WHERE a.object_id = o.id AND a.name = ${param(condition.name)})`
        : `EXISTS (SELECT 1 FROM attribute_index a WHERE a.name = ${param(condition.name)} AND a.key = ${param(condition.key)} AND a.object_id = o.id)`,
    );
  }
  return where;
}

function conditionsOf(query: LocateQuery): Condition[] {
  return [...(query.equals ?? []), ...(query.has ?? []).map((name) => ({ name }))];
}

/** Finds the candidates of Locate queries in one SQLite database; statements prepared once per shape. */
export class SqliteLocator {
  readonly #db: Database.Database;
  readonly #statements = new Map<string, Database.Statement<(string | number)[], string>>();
  readonly #countKey: Database.Statement<[string, string, number], number>;
  readonly #countName: Database.Statement<[string, number], number>;
  readonly #seqRange: Database.Statement<[], { low: number | null; high: number | null }>;

  constructor(db: Database.Database) {
    this.#db = db;
    this.#countKey = db.prepare<[string, string, number], number>('SELECT count(*) FROM (SELECT 1 FROM attribute_index WHERE name = ? AND key = ? LIMIT ?)').pluck();
    this.#countName = db.prepare<[string, number], number>('SELECT count(*) FROM (SELECT 1 FROM attribute_index WHERE name = ? LIMIT ?)').pluck();
    // Two subqueries: SQLite reads min() or max() alone from the end of the index, not both at once.
    this.#seqRange = db.prepare<[], { low: number | null; high: number | null }>('SELECT (SELECT min(seq) FROM objects) AS low, (SELECT max(seq) FROM objects) AS high');
  }

  /** How this query would be read now: from its most selective condition, or by a scan. */
  plan(query: LocateQuery): LocatePlan {
    const driver = this.#driver(query);
    if (driver !== undefined) return { kind: 'driven', ...drivenSql(query, driver, query.limit) };
    return { kind: 'scan', ...scanSql(query) };
  }

  async locate(query: LocateQuery, yieldTurn: () => Promise<void>): Promise<string[]> {
    const limit = query.limit === undefined ? Number.POSITIVE_INFINITY : Math.max(0, Math.trunc(query.limit));
    if (limit === 0) return [];
    const plan = this.plan({ ...query, ...(Number.isFinite(limit) ? { limit } : {}) });
    if (plan.kind === 'driven') return this.#statement(plan.sql).all(...plan.params);
    const { low, high } = this.#seqRange.get() ?? { low: null, high: null };
    if (low === null || high === null) return [];
    // Objects created during the scan come after `high`: the answer is the store as it was.
    const stretch = this.#statement(plan.sql);
    const found: string[] = [];
    for (let from = low - 1; from < high && found.length < limit; from += SCAN_SEQS) {
      if (from >= low - 1 + SCAN_SEQS) await yieldTurn();
      const wanted = Number.isFinite(limit) ? limit - found.length : SCAN_SEQS;
      found.push(...stretch.all(from, Math.min(from + SCAN_SEQS, high), ...plan.params, wanted));
    }
    return found;
  }

  /** The condition with the fewest index rows, if fewer than SELECTIVE_ROWS. */
  #driver(query: LocateQuery): Condition | undefined {
    let best: { condition: Condition; rows: number } | undefined;
    for (const condition of conditionsOf(query)) {
      const rows = condition.key === undefined ? this.#countName.get(condition.name, SELECTIVE_ROWS) : this.#countKey.get(condition.name, condition.key, SELECTIVE_ROWS);
      if (rows === undefined || rows >= SELECTIVE_ROWS) continue;
      if (best === undefined || rows < best.rows) best = { condition, rows };
      if (rows === 0) break;
    }
    return best?.condition;
  }

  #statement(sql: string): Database.Statement<(string | number)[], string> {
    let statement = this.#statements.get(sql);
    if (statement === undefined) {
      // The shapes are few (which conditions, how many), but bound the cache anyway.
      if (this.#statements.size >= 256) this.#statements.clear();
      statement = this.#db.prepare<(string | number)[], string>(sql).pluck();
      this.#statements.set(sql, statement);
    }
    return statement;
  }
}
