/**
 * Local corrections of errata in the OASIS case files, applied to the text as it is read;
 * the files themselves are never edited (../shared/kmip-testcases/README.md: "Local
 * corrections, skips and notes belong in the project's own overlay").
 *
 * `corrections.json` is a list of `{ files, find, replace, why }`: `files` a glob over the
 * case paths, `find` a regular expression (applied globally), `replace` its replacement
 * (`$1` for groups), `why` the erratum in a sentence. A correction that changes nothing
 * in any case it applies to is reported as stale.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { globMatcher } from './cases.js';

export const DEFAULT_CORRECTIONS_FILE = path.join(path.dirname(fileURLToPath(import.meta.url)), 'corrections.json');

export interface Correction {
  readonly files: string;
  readonly find: string;
  readonly replace: string;
  readonly why: string;
}

export class Corrections {
  private readonly compiled: { correction: Correction; matches: (file: string) => boolean; regex: RegExp }[];
  /** How many replacements each correction made, and in how many files. */
  private readonly counts = new Map<Correction, { replacements: number; files: number }>();

  constructor(readonly list: readonly Correction[]) {
    this.compiled = list.map((correction) => ({ correction, matches: globMatcher([correction.files]), regex: new RegExp(correction.find, 'g') }));
    for (const correction of list) this.counts.set(correction, { replacements: 0, files: 0 });
  }

  /** The text of `file` (relative to the cases folder) with every correction that applies to it. */
  apply(file: string, text: string): string {
    let out = text;
    for (const { correction, matches, regex } of this.compiled) {
      if (!matches(file)) continue;
      let replacements = 0;
      out = out.replace(regex, (...args: unknown[]) => {
        replacements += 1;
        const groups = args.slice(1, -2);
        return correction.replace.replace(/\$([0-9])/g, (_, n: string) => String(groups[Number(n) - 1] ?? ''));
      });
      const count = this.counts.get(correction);
      if (count && replacements > 0) {
        count.replacements += replacements;
        count.files += 1;
      }
    }
    return out;
  }

  /** What each correction did in this run. */
  usage(): { correction: Correction; replacements: number; files: number }[] {
    return this.list.map((correction) => ({ correction, ...(this.counts.get(correction) ?? { replacements: 0, files: 0 }) }));
  }
}

export async function readCorrections(file: string): Promise<Corrections> {
  if (!existsSync(file)) return new Corrections([]);
  const data: unknown = JSON.parse(await readFile(file, 'utf8'));
  if (!Array.isArray(data)) throw new Error(`${file}: expected a list of corrections`);
  const list = data.map((entry: unknown, i): Correction => {
    const e = entry as Partial<Record<keyof Correction, unknown>>;
    for (const key of ['files', 'find', 'replace', 'why'] as const) {
      if (typeof e[key] !== 'string' || (key !== 'replace' && e[key] === '')) throw new Error(`${file}: correction ${i + 1} needs a string "${key}"`);
    }
    return { files: e.files as string, find: e.find as string, replace: e.replace as string, why: e.why as string };
  });
  return new Corrections(list);
}
