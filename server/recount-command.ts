/**
 * `kmipd recount-objects`: the objects by type and State that `kmipd_objects` reports, counted
 * anew from the objects themselves. Every write keeps these counts; nodes of a release before
 * them (PostgreSQL schema 6) do not, so after a rolling upgrade the counts are off by what
 * those nodes changed meanwhile (docs/operations.md section 6). Safe while servers serve: one
 * transaction, during which writes wait.
 */
import Database from 'better-sqlite3';
import { Enum } from '../ttlv/index.js';
import { PostgresStore, SqliteStore } from '../lib/store/index.js';
import type { ObjectCount } from '../lib/store/index.js';
import { recountObjects as recountSqlite } from '../lib/store/sqlite.js';
import type { OpenedForMaintenance } from './maintenance.js';

export interface Recount {
  /** What the kept counts said. */
  readonly before: readonly ObjectCount[];
  /** What they say now: every object counted. */
  readonly after: readonly ObjectCount[];
}

export async function recountObjects(opened: OpenedForMaintenance): Promise<Recount> {
  const { store } = opened;
  if (store instanceof PostgresStore) {
    const before = await store.countByState();
    return { before, after: await store.recountObjects() };
  }
  if (store instanceof SqliteStore) {
    const before = await store.countByState();
    // The store keeps its connection to itself: a second one, in the write lock (servers wait).
    const db = new Database(opened.paths.database);
    try {
      db.pragma('busy_timeout = 10000');
      db.transaction(() => recountSqlite(db)).immediate();
    } finally {
      db.close();
    }
    return { before, after: await store.countByState() };
  }
  throw new Error('this store keeps no object counts');
}

const names = (values: Readonly<Record<string, number>>): Map<number, string> => new Map(Object.entries(values).map(([name, value]) => [value, name]));
const TYPE_NAMES = names(Enum.ObjectType);
const STATE_NAMES = names(Enum.State);

/** One line per type and State, "(was N)" where the kept count differed, then the totals. */
export function formatRecount({ before, after }: Recount): string {
  const label = (c: ObjectCount): string => `${TYPE_NAMES.get(c.objectType) ?? c.objectType} ${c.state === undefined ? 'none' : (STATE_NAMES.get(c.state) ?? c.state)}`;
  const was = new Map(before.map((c) => [label(c), c.count]));
  const now = new Map(after.map((c) => [label(c), c.count]));
  const lines = [...new Set([...now.keys(), ...was.keys()])].sort().map((name) => {
    const count = now.get(name) ?? 0;
    const old = was.get(name) ?? 0;
    return `${name} ${count}${old === count ? '' : ` (was ${old})`}`;
  });
  const total = (counts: readonly ObjectCount[]): number => counts.reduce((sum, c) => sum + c.count, 0);
  const off = lines.filter((line) => line.endsWith(')')).length;
  lines.push(`${total(after)} objects recounted; ${off === 0 ? 'the kept counts were exact' : `${off} counts corrected (they said ${total(before)} objects)`}`);
  return `${lines.join('\n')}\n`;
}
