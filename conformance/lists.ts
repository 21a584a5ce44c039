/**
 * The two lists kept in the repository beside the runner:
 *
 * - `skips.json`: `{ "v1.4/mandatory/X-M-1-14.xml": "why" }`, cases whose failure is
 *   expected for a stated reason. They still run, so that a skip that starts passing is
 *   reported and the list only shrinks.
 * - `passing.json`: the sorted list of cases recorded as passing. Any of them failing is a
 *   regression and fails the run; `--record` adds new passes and refuses to drop an entry
 *   unless `--allow-shrink`.
 */
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const DEFAULT_SKIPS_FILE = path.join(here, 'skips.json');
export const DEFAULT_PASSING_FILE = path.join(here, 'passing.json');

export type SkipList = ReadonlyMap<string, string>;

export async function readSkips(file: string): Promise<SkipList> {
  if (!existsSync(file)) return new Map();
  const data: unknown = JSON.parse(await readFile(file, 'utf8'));
  if (typeof data !== 'object' || data === null || Array.isArray(data)) throw new Error(`${file}: expected an object of case file -> reason`);
  const skips = new Map<string, string>();
  for (const [key, reason] of Object.entries(data as Record<string, unknown>)) {
    if (typeof reason !== 'string' || reason.trim() === '') throw new Error(`${file}: the skip of ${key} needs a reason`);
    skips.set(key, reason);
  }
  return skips;
}

export async function readPassing(file: string): Promise<string[]> {
  if (!existsSync(file)) return [];
  const data: unknown = JSON.parse(await readFile(file, 'utf8'));
  if (!Array.isArray(data) || !data.every((entry): entry is string => typeof entry === 'string')) throw new Error(`${file}: expected an array of case files`);
  return data;
}

export async function writePassing(file: string, list: readonly string[]): Promise<void> {
  await writeFile(file, `${JSON.stringify(list, null, 2)}\n`);
}

export interface RecordPlan {
  /** The new list, sorted. */
  readonly list: string[];
  readonly added: string[];
  /** Recorded cases that ran and did not pass. */
  readonly dropped: string[];
}

/**
 * The passing list after this run: what was recorded, plus every case that passed (and is
 * not a skip), minus recorded cases that ran and did not pass. Cases not run this time
 * (--filter) keep their entries.
 */
export function planRecord(recorded: readonly string[], ran: ReadonlyMap<string, boolean>, skips: SkipList): RecordPlan {
  const before = new Set(recorded);
  const dropped = recorded.filter((file) => ran.has(file) && ran.get(file) !== true);
  const added = [...ran].filter(([file, passed]) => passed && !before.has(file) && !skips.has(file)).map(([file]) => file);
  const list = [...new Set([...recorded.filter((file) => !dropped.includes(file)), ...added])].sort();
  return { list, added: added.sort(), dropped };
}
