/**
 * Finding the test cases in a folder and telling what each one is: its KMIP version (the
 * `vX.Y` folder), its profile (from the file name: `CS-BC-M-GCM-2-14.xml` is CS-BC), and
 * the family whose cases build on each other (SASED-M-3 finds what SASED-M-2 left, TL-M-3
 * what TL-M-2 created), which must run one after the other against the same server.
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';

/** The profiles of the KMIP Profiles specifications, in the order the report lists them. */
export const PROFILES: readonly string[] = ['BL', 'SKLC', 'SKFF', 'AKLC', 'OMOS', 'SASED', 'TL', 'CS-BC', 'CS-AC', 'CS-RNG', 'AX', 'MSGENC', 'PKCS11', 'QS'];

/** Profiles whose cases assume an empty server (README: "TL-* ... assume an empty server"). */
export const FRESH_SERVER_PROFILES: ReadonlySet<string> = new Set(['TL']);

export interface CaseFile {
  /** Path relative to the cases folder, with forward slashes: `v1.4/mandatory/BL-M-1-14.xml`. */
  readonly file: string;
  /** Absolute path. */
  readonly path: string;
  /** KMIP version of the folder, "1.4"; "?" when neither folder nor name tells. */
  readonly version: string;
  /** BL, SKLC, ...; an unknown prefix is its own profile (SUITEB_128). */
  readonly profile: string;
  /** Cases of one family run in order against one server: `SASED-M`, `CS-BC-M-GCM`. */
  readonly family: string;
  /** Position in the family: the case number (SASED-M-2-21 is 2). */
  readonly number: number;
  /** Must start from an empty server. */
  readonly freshServer: boolean;
  /** Needs a server with an HSM (PKCS#11 cases): run on a kmipd of its own with a SoftHSM2 token. */
  readonly needsHsm?: boolean;
}

/** Every `.xml` file under `dir`, sorted, described. */
export function findCases(dir: string): CaseFile[] {
  return xmlFiles(dir)
    .map((absolute) => describeCase(path.relative(dir, absolute).split(path.sep).join('/'), absolute))
    .sort((a, b) => compareText(a.file, b.file));
}

function xmlFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return xmlFiles(full);
    return entry.isFile() && entry.name.toLowerCase().endsWith('.xml') ? [full] : [];
  });
}

/** PROFILE-M-NUMBER-VERSION with words anywhere in the middle: CS-AC-M-OAEP-1-14, CS-BC-M-4-12-3DES-13. */
const CASE_NAME = /^(.+?)-([MO])-(.+)-([0-9]{2})$/;

export function describeCase(file: string, absolute: string): CaseFile {
  const base = path.posix.basename(file).replace(/\.xml$/i, '');
  const match = CASE_NAME.exec(base);
  const prefix = match?.[1] ?? base.split('-')[0] ?? base;
  const profile = profileOf(prefix);
  const folderVersion = file
    .split('/')
    .slice(0, -1)
    .map((part) => /^v?([0-9]+\.[0-9]+)$/.exec(part)?.[1])
    .find((v) => v !== undefined);
  const suffix = match?.[4];
  const nameVersion = suffix !== undefined ? `${suffix[0] ?? ''}.${suffix[1] ?? ''}` : undefined;
  // The family is the name without its case number and version: CS-AC-M-OAEP-1-14 is CS-AC-M-OAEP, number 1.
  const middle = match?.[3]?.split('-') ?? [];
  const numberAt = middle.findIndex((part) => /^[0-9]+$/.test(part));
  const familyParts = match ? [match[1] ?? '', match[2] ?? '', ...middle.filter((_, i) => i !== numberAt)] : [base];
  return {
    file,
    path: absolute,
    version: folderVersion ?? nameVersion ?? '?',
    profile,
    family: familyParts.join('-'),
    number: numberAt >= 0 ? Number(middle[numberAt]) : 0,
    freshServer: FRESH_SERVER_PROFILES.has(profile),
    needsHsm: profile === 'PKCS11',
  };
}

/** The known profile a prefix belongs to (MSGENC-HTTPS is MSGENC), or the prefix itself. */
export function profileOf(prefix: string): string {
  const known = PROFILES.filter((p) => prefix === p || prefix.startsWith(`${p}-`)).sort((a, b) => b.length - a.length);
  return known[0] ?? prefix;
}

/** Versions numerically, then profiles in PROFILES order, unknown ones after, by name. */
export function compareRows(a: { version: string; profile: string }, b: { version: string; profile: string }): number {
  return compareVersions(a.version, b.version) || profileRank(a.profile) - profileRank(b.profile) || compareText(a.profile, b.profile);
}

export function compareVersions(a: string, b: string): number {
  const [am = NaN, an = NaN] = a.split('.').map(Number);
  const [bm = NaN, bn = NaN] = b.split('.').map(Number);
  if (Number.isNaN(am) || Number.isNaN(bm)) return Number.isNaN(am) ? (Number.isNaN(bm) ? compareText(a, b) : 1) : -1;
  return am - bm || an - bn;
}

function profileRank(profile: string): number {
  const i = PROFILES.indexOf(profile);
  return i < 0 ? PROFILES.length : i;
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * A glob over case paths: `*` and `?` stay within one folder, `**` crosses folders,
 * `{a,b}` is either, `[0-9]` and `[!x]` are character classes. A pattern without `/` is matched against the file name alone as well.
 */
export function globMatcher(patterns: readonly string[]): (file: string) => boolean {
  const compiled = patterns.map((pattern) => ({ regex: globToRegExp(pattern), baseOnly: !pattern.includes('/') }));
  return (file) => compiled.some(({ regex, baseOnly }) => regex.test(file) || (baseOnly && regex.test(path.posix.basename(file))));
}

export function globToRegExp(pattern: string): RegExp {
  let out = '';
  let depth = 0;
  for (let i = 0; i < pattern.length; i += 1) {
    const c = pattern.charAt(i);
    if (c === '*') {
      if (pattern.charAt(i + 1) === '*') {
        i += 1;
        if (pattern.charAt(i + 1) === '/') {
          i += 1;
          out += '(?:.*/)?';
        } else {
          out += '.*';
        }
      } else {
        out += '[^/]*';
      }
    } else if (c === '?') out += '[^/]';
    else if (c === '[' && pattern.indexOf(']', i + 2) > i) {
      // A character class: [0-9], [!ab] (negated).
      const end = pattern.indexOf(']', i + 2);
      let body = pattern.slice(i + 1, end);
      const negated = body.startsWith('!') || body.startsWith('^');
      if (negated) body = body.slice(1);
      out += `[${negated ? '^/' : ''}${body.replace(/[\\\]^]/g, '\\$&')}]`;
      i = end;
    } else if (c === '{') {
      depth += 1;
      out += '(?:';
    } else if (c === '}' && depth > 0) {
      depth -= 1;
      out += ')';
    } else if (c === ',' && depth > 0) out += '|';
    else out += c.replace(/[\\^$.|+()[\]{}]/g, '\\$&');
  }
  return new RegExp(`^${out}$`);
}
