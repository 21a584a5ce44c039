/**
 * The conformance statement: from the case files on disk, `passing.json` and `skips.json`
 * (no server needed), per KMIP Profiles version and profile, how many cases pass, which are
 * skipped and why, and which do not pass yet. It writes
 *
 * - `docs/conformance.md`: a statement in the style of a vendor's KMIP conformance claim
 *   (product, protocol versions, a verdict per profile and version, the full table, the
 *   exceptions with their reasons, how to reproduce);
 * - the block of `README.md` between `<!-- conformance:start -->` and `<!-- conformance:end -->`.
 *
 *   tsx conformance/statement.ts [--cases DIR] [--results FILE] [--check]
 *
 * `--results FILE` is a `npm run conformance -- --json FILE` run: the reasons of the cases that
 * do not pass come from it. Without it, each reason is kept from the current
 * docs/conformance.md, else it is "does not pass yet"; so a regeneration, and `--check`,
 * need no server and give the same bytes. `--check` writes nothing and exits 1 when either
 * file differs from what would be written. Exit 2: the statement could not be made.
 */
import { existsSync, statSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { SUPPORTED_VERSIONS } from '../lib/protocol/versions.js';
import { compareRows, compareVersions, findCases } from './cases.js';
import type { CaseFile } from './cases.js';
import { DEFAULT_PASSING_FILE, DEFAULT_SKIPS_FILE, readPassing, readSkips } from './lists.js';
import type { SkipList } from './lists.js';
import { CK_INFO_VARIATION } from './variations.js';

const here = path.dirname(fileURLToPath(import.meta.url));
export const PROJECT_ROOT = path.resolve(here, '..');
export const DEFAULT_CASES_DIR = path.resolve(PROJECT_ROOT, '..', 'shared', 'kmip-testcases');
export const DEFAULT_DOCS_FILE = path.join(PROJECT_ROOT, 'docs', 'conformance.md');
export const DEFAULT_README_FILE = path.join(PROJECT_ROOT, 'README.md');
export const DEFAULT_PACKAGE_FILE = path.join(PROJECT_ROOT, 'package.json');

export const BLOCK_START = '<!-- conformance:start -->';
export const BLOCK_END = '<!-- conformance:end -->';

/** The command that regenerates both files (the npm script of package.json). */
export const REGENERATE = 'npm run conformance:statement';

/** What a case that does not pass says when no run told why. */
export const NOT_PASSING_YET = 'does not pass yet';

/**
 * The server profiles the test-case prefixes stand for, by their names in the Profile Name
 * enumeration (KMIP 1.3 and later). Prefixes not listed are shown as they are.
 */
export const PROFILE_NAMES: Readonly<Record<string, string>> = {
  BL: 'Baseline Server',
  SKLC: 'Symmetric Key Lifecycle Server',
  SKFF: 'Symmetric Key Foundry Server',
  AKLC: 'Asymmetric Key Lifecycle Server',
  OMOS: 'Opaque Managed Object Store Server',
  SASED: 'Storage Array with Self Encrypting Drive Server',
  TL: 'Tape Library Server',
  'CS-BC': 'Basic Cryptographic Server',
  'CS-AC': 'Advanced Cryptographic Server',
  'CS-RNG': 'RNG Cryptographic Server',
  AX: 'AES XTS Server',
  MSGENC: 'HTTPS, JSON and XML Server',
  PKCS11: 'PKCS#11 Server',
  QS: 'Quantum Safe Server',
  SUITEB_128: 'Suite B minLOS_128 Server',
  SUITEB_192: 'Suite B minLOS_192 Server',
};

/** The Suite B profiles' one case is a Query; what they are about is their TLS authentication suite. */
const suiteB = (level: string, tls: string): string =>
  `its one case is a Query; the profile also requires the Suite B ${level} Authentication Suite (${tls}), which the runner does not negotiate and the development PKI of \`kmipd init\` (RSA 2048) does not provide`;

/**
 * Profiles whose cases may pass without the profile being claimed, and why: what the cases
 * check is not all the profile asks for.
 */
export const NOT_CLAIMED: Readonly<Record<string, string>> = {
  // MSGENC is claimed: the runner replays MSGENC-HTTPS/XML/JSON over kmipd's KMIP over HTTPS
  // (setting `https`, POST /kmip), each in its encoding (conformance/https.ts).
  SUITEB_128: suiteB('minLOS_128', 'TLS 1.2, ECDHE-ECDSA with AES-GCM, P-256 or P-384 certificates'),
  SUITEB_192: suiteB('minLOS_192', 'TLS 1.2, ECDHE-ECDSA with AES-256-GCM and SHA-384, P-384 certificates'),
};

export function profileName(profile: string): string {
  return PROFILE_NAMES[profile] ?? profile;
}

// ---- the computation ----

/** pass: recorded in passing.json; skip: on the skip list; open: neither, not passing yet. */
export type CaseState = 'pass' | 'skip' | 'open';

export interface StatementCase {
  readonly file: string;
  /** The KMIP Profiles version of the case set (its folder): "1.4". */
  readonly version: string;
  /** The protocol version the case speaks, from its name (SKLC-M-1-11 is 1.1); else `version`. */
  readonly protocol: string;
  readonly profile: string;
  /** From the name (-M- or -O-), else from the folder (mandatory/optional). */
  readonly mandatory: boolean;
  /** The folder says the other thing than the name (the OASIS 1.3 mandatory folder holds -O- files). */
  readonly misfiled: boolean;
  readonly state: CaseState;
  /** skip: the skip list's reason; open: why it does not pass (Markdown). */
  readonly reason?: string;
}

export interface Tally {
  total: number;
  passed: number;
  skipped: number;
  open: number;
}

export interface StatementRow {
  readonly version: string;
  readonly profile: string;
  readonly mandatory: Tally;
  readonly optional: Tally;
}

export interface Product {
  readonly name: string;
  readonly version: string;
  readonly description?: string;
}

export interface StatementInput {
  readonly cases: readonly Pick<CaseFile, 'file' | 'version' | 'profile'>[];
  readonly passing: readonly string[];
  readonly skips: SkipList;
  readonly product: Product;
  /** The protocol versions the server speaks. */
  readonly protocolVersions: readonly string[];
  /** Why a case does not pass (Markdown), by case file. */
  readonly reasons?: ReadonlyMap<string, string>;
}

export interface Statement {
  readonly product: Product;
  readonly protocolVersions: readonly string[];
  readonly cases: readonly StatementCase[];
  /** One per version and profile, in the runner's order. */
  readonly rows: readonly StatementRow[];
  readonly versions: readonly string[];
  readonly profiles: readonly string[];
  readonly totals: { readonly mandatory: Tally; readonly optional: Tally };
  /** passing.json entries naming no case found. */
  readonly unknownPassing: readonly string[];
  /** skips.json entries naming no case found. */
  readonly unknownSkips: readonly string[];
  /** Cases both recorded as passing and on the skip list: they count as passing. */
  readonly passingAndSkipped: readonly string[];
}

const NAME = /^(.+?)-([MO])-(.+)-([0-9]{2})$/;

/** Mandatory by the name's -M-/-O-, else by the folder; a case that tells neither counts as mandatory. */
export function classify(file: string): { mandatory: boolean; misfiled: boolean; protocol: string | undefined } {
  const base = path.posix.basename(file).replace(/\.xml$/i, '');
  const match = NAME.exec(base);
  const folders = file.split('/').slice(0, -1);
  const folder = folders.includes('mandatory') ? true : folders.includes('optional') ? false : undefined;
  const byName = match?.[2] === 'M' ? true : match?.[2] === 'O' ? false : undefined;
  const suffix = match?.[4];
  return {
    mandatory: byName ?? folder ?? true,
    misfiled: byName !== undefined && folder !== undefined && byName !== folder,
    protocol: suffix !== undefined ? `${suffix.charAt(0)}.${suffix.charAt(1)}` : undefined,
  };
}

function tally(): Tally {
  return { total: 0, passed: 0, skipped: 0, open: 0 };
}

function add(t: Tally, state: CaseState): void {
  t.total += 1;
  if (state === 'pass') t.passed += 1;
  else if (state === 'skip') t.skipped += 1;
  else t.open += 1;
}

export function computeStatement(input: StatementInput): Statement {
  const recorded = new Set(input.passing);
  const cases = input.cases.map((c): StatementCase => {
    const { mandatory, misfiled, protocol } = classify(c.file);
    const skip = input.skips.get(c.file);
    const state: CaseState = recorded.has(c.file) ? 'pass' : skip !== undefined ? 'skip' : 'open';
    const reason = state === 'skip' ? skip : state === 'open' ? (input.reasons?.get(c.file) ?? NOT_PASSING_YET) : undefined;
    return {
      file: c.file,
      version: c.version,
      protocol: protocol ?? c.version,
      profile: c.profile,
      mandatory,
      misfiled,
      state,
      ...(reason !== undefined ? { reason } : {}),
    };
  });

  const byRow = new Map<string, StatementRow>();
  const totals = { mandatory: tally(), optional: tally() };
  for (const c of cases) {
    const key = `${c.version}\u0000${c.profile}`;
    const row = byRow.get(key) ?? { version: c.version, profile: c.profile, mandatory: tally(), optional: tally() };
    byRow.set(key, row);
    add(c.mandatory ? row.mandatory : row.optional, c.state);
    add(c.mandatory ? totals.mandatory : totals.optional, c.state);
  }
  const rows = [...byRow.values()].sort(compareRows);
  const files = new Set(cases.map((c) => c.file));
  return {
    product: input.product,
    protocolVersions: input.protocolVersions,
    cases,
    rows,
    versions: [...new Set(rows.map((r) => r.version))].sort(compareVersions),
    profiles: [...new Set(rows.map((r) => r.profile))].sort(compareProfiles),
    totals,
    unknownPassing: input.passing.filter((file) => !files.has(file)),
    unknownSkips: [...input.skips.keys()].filter((file) => !files.has(file)).sort(),
    passingAndSkipped: input.passing.filter((file) => input.skips.has(file) && files.has(file)),
  };
}

export function compareProfiles(a: string, b: string): number {
  return compareRows({ version: '', profile: a }, { version: '', profile: b });
}

/** "conformant" when every mandatory case passes, else "partial (n of m mandatory)". */
export function verdict(row: StatementRow): string {
  const m = row.mandatory;
  if (m.total === 0) return row.optional.total > 0 ? 'optional cases only' : '—';
  if (NOT_CLAIMED[row.profile] !== undefined) return `not claimed (${m.passed} of ${m.total} mandatory pass)`;
  return m.passed === m.total ? 'conformant' : `partial (${m.passed} of ${m.total} mandatory)`;
}

/** Every row of the profile has all its mandatory cases passing (and there is one). */
function fullyPassing(statement: Statement, profile: string): boolean {
  const rows = statement.rows.filter((r) => r.profile === profile && r.mandatory.total > 0);
  return rows.length > 0 && rows.every((r) => r.mandatory.passed === r.mandatory.total);
}

// ---- reasons ----

/** Hex runs longer than this are cut: a reason is one line, not a dump. */
const LONG_HEX = /\b([0-9a-fA-F]{16})[0-9a-fA-F]{17,}(\.\.\.)?/g;
const MAX_REASON = 240;

/** One line of Markdown: `step 1: \`path: expected ..., actual ...\``. */
export function formatRunReason(text: string, step: number | undefined): string {
  let detail = text.replace(/\s+/g, ' ').trim().replace(LONG_HEX, '$1…').replace(/`/g, "'");
  if (detail.length > MAX_REASON) detail = `${detail.slice(0, MAX_REASON - 1)}…`;
  return `${step !== undefined ? `step ${step}: ` : ''}\`${detail}\``;
}

/**
 * Why each case of a `--json` run did not pass: its reason (or difference) and step. A case
 * that passed there but is not recorded says so.
 */
export function reasonsFromResults(data: unknown): Map<string, string> {
  const cases = isRecord(data) ? data['cases'] : undefined;
  if (!Array.isArray(cases)) throw new Error('expected the JSON of `npm run conformance -- --json FILE`: {"cases": [...]}');
  const reasons = new Map<string, string>();
  for (const entry of cases as unknown[]) {
    if (!isRecord(entry) || typeof entry['file'] !== 'string') continue;
    const file = entry['file'];
    const step = typeof entry['step'] === 'number' ? entry['step'] : undefined;
    if (entry['status'] === 'fail') {
      const text = typeof entry['reason'] === 'string' ? entry['reason'] : typeof entry['difference'] === 'string' ? entry['difference'] : 'failed';
      reasons.set(file, formatRunReason(text, step));
    } else if (entry['status'] === 'pass') {
      reasons.set(file, `passes, not yet recorded in conformance/passing.json (\`npm run conformance -- --record\`)`);
    }
  }
  return reasons;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const REASON_LINE = /^- `([^`]+)`: (.+)$/;

/** The reasons a statement gave for its cases not passing: the `- \`file\`: reason` lines. */
export function parseReasons(doc: string): Map<string, string> {
  const reasons = new Map<string, string>();
  for (const line of doc.split('\n')) {
    const match = REASON_LINE.exec(line);
    if (match?.[1] !== undefined && match[2] !== undefined) reasons.set(match[1], match[2]);
  }
  return reasons;
}

// ---- rendering ----

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\s*\n\s*/g, ' ');
}

function table(header: readonly string[], align: readonly ('l' | 'r')[], body: readonly (readonly string[])[]): string[] {
  return [
    `| ${header.join(' | ')} |`,
    `|${align.map((a) => (a === 'r' ? '---:' : '---')).join('|')}|`,
    ...body.map((line) => `| ${line.map(cell).join(' | ')} |`),
  ];
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

function list(items: readonly string[]): string {
  if (items.length <= 1) return items.join('');
  return `${items.slice(0, -1).join(', ')} and ${items[items.length - 1] ?? ''}`;
}

function label(profile: string): string {
  const name = profileName(profile);
  return name === profile ? profile : `${name} (${profile})`;
}

function fraction(t: Tally): string {
  return t.total === 0 ? '' : `${t.passed}/${t.total}`;
}

function rowOf(statement: Statement, version: string, profile: string): StatementRow | undefined {
  return statement.rows.find((r) => r.version === version && r.profile === profile);
}

/** Case sets whose files speak other protocol versions than the set's own: the 1.0 set has -10, -11 and -12 files. */
function protocolNotes(statement: Statement): string[] {
  return statement.versions.flatMap((version) => {
    const protocols = [...new Set(statement.cases.filter((c) => c.version === version).map((c) => c.protocol))].sort(compareVersions);
    if (protocols.length === 1 && protocols[0] === version) return [];
    return [`The ${version} case set replays its cases in protocol ${protocols.length === 1 ? 'version' : 'versions'} ${list(protocols)}; they count under ${version}.`];
  });
}

function misfiledNotes(statement: Statement): string[] {
  return statement.versions.flatMap((version) => {
    const misfiled = statement.cases.filter((c) => c.version === version && c.misfiled);
    if (misfiled.length === 0) return [];
    const names = `${misfiled
      .slice(0, 3)
      .map((c) => path.posix.basename(c.file, '.xml'))
      .join(', ')}${misfiled.length > 3 ? ', …' : ''}`;
    const optional = misfiled.filter((c) => !c.mandatory).length;
    if (optional === misfiled.length) return [`The ${version} mandatory folder also holds ${plural(misfiled.length, 'optional case')} (-O- in the name: ${names}); they count as optional.`];
    if (optional === 0) return [`The ${version} optional folder also holds ${plural(misfiled.length, 'mandatory case')} (-M- in the name: ${names}); they count as mandatory.`];
    return [`${plural(misfiled.length, 'file')} of the ${version} set are in a folder their names contradict (${names}); the -M- or -O- of the name decides.`];
  });
}

/** docs/conformance.md. */
export function renderStatement(statement: Statement): string {
  const { product, totals } = statement;
  const out: string[] = [];
  const title = `${product.name} ${product.version}`;
  out.push(`# KMIP conformance statement: ${title}`, '');
  out.push(`<!-- Generated by \`${REGENERATE}\` (conformance/statement.ts) from the OASIS case files, conformance/passing.json and conformance/skips.json: do not edit by hand. -->`, '');

  const claimable = statement.profiles.filter((p) => NOT_CLAIMED[p] === undefined && statement.rows.some((r) => r.profile === p && r.mandatory.total > 0));
  const everywhere = claimable.filter((p) => fullyPassing(statement, p));
  const somewhere = claimable.filter((p) => !everywhere.includes(p) && statement.rows.some((r) => r.profile === p && verdict(r) === 'conformant'));
  const m0 = totals.mandatory;
  const o0 = totals.optional;
  out.push(
    `**${title}** passes ${m0.passed + o0.passed} of the ${m0.total + o0.total} OASIS KMIP Profiles test cases: ${m0.passed} of ${m0.total} mandatory, ${o0.passed} of ${o0.total} optional. ` +
      `It is conformant to ${everywhere.length} of ${claimable.length} server profiles in every KMIP version that has test cases for them` +
      `${somewhere.length > 0 ? `, and to ${somewhere.length} more in some versions` : ''}; ` +
      `the [exceptions](#exceptions) are listed below, each with its reason.`,
    '',
  );

  out.push('## Product', '');
  out.push(
    ...table(
      ['', ''],
      ['l', 'l'],
      [
        ['Product', `${product.name} ${product.version}`],
        ...(product.description !== undefined ? [['Description', product.description]] : []),
        ['Role', 'KMIP server'],
        ['KMIP protocol versions', list(statement.protocolVersions.slice().sort(compareVersions).reverse())],
        ['Test material', `the OASIS KMIP Profiles test cases, KMIP ${list([...statement.versions])}: ${totals.mandatory.total + totals.optional.total} files (${totals.mandatory.total} mandatory, ${totals.optional.total} optional)`],
        ['Evidence', `the ${plural(totals.mandatory.passed + totals.optional.passed, 'case')} recorded in \`conformance/passing.json\`; CI replays every case and fails when a recorded one fails, so the list only grows`],
      ],
    ),
    '',
  );

  out.push('## Claims', '');
  out.push(
    'A profile is claimed as **conformant** for a KMIP version when every mandatory test case of that profile and version passes; ' +
      'otherwise it is **partial (n of m mandatory)**. A test case passes when every response matches the expected one, ' +
      'with only the variations section 8.4 of KMIP Additional Message Encodings v1.0 permits (see [conformance/README.md](../conformance/README.md)). ' +
      'This is a self-assessment against the published test cases, not a certification. ' +
      'A dash: that version\'s case set has no case for the profile.',
    '',
  );
  out.push(
    ...table(
      ['Server profile', ...statement.versions],
      ['l', ...statement.versions.map((): 'l' => 'l')],
      statement.profiles.map((profile) => [label(profile), ...statement.versions.map((version) => {
        const row = rowOf(statement, version, profile);
        return row === undefined ? '—' : verdict(row);
      })]),
    ),
    '',
  );
  const claimed = statement.profiles.flatMap((profile) => {
    const versions = statement.rows.filter((r) => r.profile === profile && verdict(r) === 'conformant').map((r) => r.version);
    return versions.length > 0 ? [`- ${profileName(profile)}: KMIP ${list(versions)}`] : [];
  });
  if (claimed.length > 0) out.push(`${product.name} claims conformance to:`, '', ...claimed, '');
  for (const profile of statement.profiles) {
    const why = NOT_CLAIMED[profile];
    if (why !== undefined && statement.rows.some((r) => r.profile === profile)) out.push(`Not claimed: ${label(profile)}: ${why}.`, '');
  }

  out.push('## Results', '');
  out.push('Per KMIP Profiles version and profile: the cases on disk, those recorded as passing, those skipped (with a reason, below), and those not passing yet, mandatory and optional.', '');
  const body = statement.rows.map((r) => [
    r.version,
    r.profile,
    String(r.mandatory.total + r.optional.total),
    String(r.mandatory.passed + r.optional.passed),
    String(r.mandatory.skipped + r.optional.skipped),
    String(r.mandatory.open),
    String(r.optional.open),
    verdict(r),
  ]);
  const m = totals.mandatory;
  const o = totals.optional;
  body.push(['**total**', '', String(m.total + o.total), String(m.passed + o.passed), String(m.skipped + o.skipped), String(m.open), String(o.open), '']);
  out.push(...table(['Version', 'Profile', 'Cases', 'Passed', 'Skipped', 'Not passing (mandatory)', 'Not passing (optional)', 'Verdict'], ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'l'], body), '');
  const notes = [...protocolNotes(statement), ...misfiledNotes(statement)];
  if (notes.length > 0) out.push(...notes.map((n) => `- ${n}`), '');

  out.push('## Exceptions', '');
  const skipped = statement.cases.filter((c) => c.state === 'skip');
  out.push('### Skipped cases', '');
  if (skipped.length === 0) out.push('None.', '');
  else {
    out.push(`From \`conformance/skips.json\`: cases that cannot pass, for the stated reason. They still run, and one that passes is reported, so the list only shrinks.`, '');
    out.push(...table(['Case', 'Profile', 'Mandatory', 'Reason'], ['l', 'l', 'l', 'l'], skipped.map((c) => [`\`${c.file}\``, c.profile, c.mandatory ? 'yes' : 'no', c.reason ?? ''])), '');
  }
  // Variations the runner accepts that 8.4.1 does not list by name (conformance/variations.ts).
  out.push('### Stated variations', '');
  out.push('Besides the variations section 8.4.1 lists, the runner accepts this one, on the same ground (a value that identifies the server\'s own implementation):', '');
  out.push(`- ${CK_INFO_VARIATION}`, '');
  for (const mandatory of [true, false]) {
    const open = statement.cases.filter((c) => c.state === 'open' && c.mandatory === mandatory);
    out.push(`### ${mandatory ? 'Mandatory' : 'Optional'} cases not passing`, '');
    if (open.length === 0) {
      out.push(`None${skipped.some((c) => c.mandatory === mandatory) ? ' besides the skipped cases' : ''}.`, '');
      continue;
    }
    out.push(`${plural(open.length, 'case')}, by profile; the reason is the first difference of the last run that was given to the generator (\`--results\`), or "${NOT_PASSING_YET}".`, '');
    for (const profile of statement.profiles) {
      const mine = open.filter((c) => c.profile === profile);
      if (mine.length === 0) continue;
      out.push(`#### ${label(profile)}`, '');
      out.push(...mine.map((c) => `- \`${c.file}\`: ${c.reason ?? NOT_PASSING_YET}`), '');
    }
  }
  const listProblems: string[] = [
    ...statement.unknownPassing.map((f) => `- \`conformance/passing.json\` names \`${f}\`, which is not among the case files.`),
    ...statement.unknownSkips.map((f) => `- \`conformance/skips.json\` names \`${f}\`, which is not among the case files.`),
    ...statement.passingAndSkipped.map((f) => `- \`${f}\` is recorded as passing and on the skip list: it counts as passing; its skip should go.`),
  ];
  if (listProblems.length > 0) out.push('### The lists', '', ...listProblems, '');

  out.push('## How to reproduce', '');
  out.push(
    'With the OASIS test cases in `../shared/kmip-testcases` (or `--cases DIR`):',
    '',
    '```sh',
    'npm run conformance                                      # replay every case against a kmipd started on a fresh data folder',
    'npm run conformance -- --json results.json --record      # and record new passes in conformance/passing.json',
    `${REGENERATE} -- --results results.json  # regenerate this statement and the README table`,
    `${REGENERATE} -- --check                 # exit 1 when they are out of date (CI)`,
    '```',
    '',
    'The statement is computed from the case files, `conformance/passing.json` and `conformance/skips.json`, without a server, so it is the same on every machine; it carries no date.',
    '',
  );
  return `${out.join('\n').trimEnd()}\n`;
}

/** The README block, markers included. */
export function renderReadmeBlock(statement: Statement): string {
  const out: string[] = [BLOCK_START];
  out.push(`<!-- Generated by \`${REGENERATE}\` (conformance/statement.ts): do not edit by hand. -->`, '');
  const fully = statement.profiles.filter((p) => fullyPassing(statement, p));
  const { mandatory: m, optional: o } = statement.totals;
  out.push(
    `${m.passed + o.passed} of ${m.total + o.total} cases pass (${m.passed} of ${m.total} mandatory); ` +
      `every mandatory case of ${list(fully)} passes in every version. ` +
      `The conformance statement, with every exception and its reason: [docs/conformance.md](docs/conformance.md).`,
    '',
  );
  out.push(
    ...table(
      ['Server profile', ...statement.versions],
      ['l', ...statement.versions.map((): 'r' => 'r')],
      statement.profiles
        .filter((p) => statement.rows.some((r) => r.profile === p && r.mandatory.total > 0))
        .map((profile) => [
          label(profile),
          ...statement.versions.map((version) => {
            const row = rowOf(statement, version, profile);
            if (row === undefined || row.mandatory.total === 0) return '';
            return `${fraction(row.mandatory)}${row.mandatory.skipped > 0 ? ` (${row.mandatory.skipped} skipped)` : ''}`;
          }),
        ]),
    ),
    '',
  );
  const notes = [`Mandatory cases passing/total per KMIP Profiles version; optional cases: ${o.passed} of ${o.total} pass.`, ...protocolNotes(statement)];
  for (const profile of statement.profiles) {
    const why = NOT_CLAIMED[profile];
    if (why !== undefined && statement.rows.some((r) => r.profile === profile)) notes.push(`${profile} is not claimed: ${why}.`);
  }
  out.push(notes.join(' '), BLOCK_END);
  return out.join('\n');
}

/** `readme` with its block (markers included) replaced by `block`. */
export function replaceBlock(readme: string, block: string): string {
  const start = readme.indexOf(BLOCK_START);
  const end = readme.indexOf(BLOCK_END);
  if (start < 0 || end < start) throw new Error(`README.md has no "${BLOCK_START}" ... "${BLOCK_END}" block`);
  if (readme.indexOf(BLOCK_START, start + 1) >= 0 || readme.indexOf(BLOCK_END, end + 1) >= 0) throw new Error('README.md has the conformance markers more than once');
  return `${readme.slice(0, start)}${block}${readme.slice(end + BLOCK_END.length)}`;
}

// ---- files ----

export interface StatementFiles {
  readonly casesDir: string;
  readonly passingFile: string;
  readonly skipsFile: string;
  readonly docsFile: string;
  readonly readmeFile: string;
  readonly packageFile: string;
  /** A `--json` run: the reasons of the cases that do not pass. */
  readonly resultsFile?: string;
  /** The protocol versions the server speaks (default: lib/protocol/versions.ts). */
  readonly protocolVersions?: readonly string[];
}

export const DEFAULT_FILES: StatementFiles = {
  casesDir: DEFAULT_CASES_DIR,
  passingFile: DEFAULT_PASSING_FILE,
  skipsFile: DEFAULT_SKIPS_FILE,
  docsFile: DEFAULT_DOCS_FILE,
  readmeFile: DEFAULT_README_FILE,
  packageFile: DEFAULT_PACKAGE_FILE,
};

export interface Outputs {
  readonly statement: Statement;
  /** The whole of docs/conformance.md. */
  readonly docs: string;
  /** The whole of README.md, block replaced. */
  readonly readme: string;
}

async function readProduct(file: string): Promise<Product> {
  const data: unknown = JSON.parse(await readFile(file, 'utf8'));
  if (!isRecord(data) || typeof data['name'] !== 'string' || typeof data['version'] !== 'string') throw new Error(`${file}: no name and version`);
  const description = data['description'];
  return { name: data['name'], version: data['version'], ...(typeof description === 'string' ? { description } : {}) };
}

async function readIfPresent(file: string): Promise<string | undefined> {
  return existsSync(file) ? readFile(file, 'utf8') : undefined;
}

/** What both files should hold. */
export async function buildOutputs(files: StatementFiles): Promise<Outputs> {
  if (!existsSync(files.casesDir) || !statSync(files.casesDir).isDirectory()) throw new Error(`${files.casesDir} is not a folder of test cases`);
  const cases = findCases(files.casesDir);
  if (cases.length === 0) throw new Error(`no test case under ${files.casesDir}`);
  const currentDocs = await readIfPresent(files.docsFile);
  const readme = await readIfPresent(files.readmeFile);
  if (readme === undefined) throw new Error(`${files.readmeFile} not found`);
  // Reasons: the given run first, then what the current statement says.
  const reasons = currentDocs !== undefined ? parseReasons(currentDocs) : new Map<string, string>();
  if (files.resultsFile !== undefined) {
    for (const [file, reason] of reasonsFromResults(JSON.parse(await readFile(files.resultsFile, 'utf8')))) reasons.set(file, reason);
  }
  const statement = computeStatement({
    cases,
    passing: await readPassing(files.passingFile),
    skips: await readSkips(files.skipsFile),
    product: await readProduct(files.packageFile),
    protocolVersions: files.protocolVersions ?? SUPPORTED_VERSIONS,
    reasons,
  });
  return { statement, docs: renderStatement(statement), readme: replaceBlock(readme, renderReadmeBlock(statement)) };
}

/** The files (as given) that differ from what would be written; empty when both are current. */
export async function staleFiles(files: StatementFiles): Promise<string[]> {
  const outputs = await buildOutputs(files);
  const stale: string[] = [];
  if ((await readIfPresent(files.docsFile)) !== outputs.docs) stale.push(files.docsFile);
  if ((await readIfPresent(files.readmeFile)) !== outputs.readme) stale.push(files.readmeFile);
  return stale;
}

export async function writeOutputs(files: StatementFiles): Promise<Outputs> {
  const outputs = await buildOutputs(files);
  await writeFile(files.docsFile, outputs.docs);
  await writeFile(files.readmeFile, outputs.readme);
  return outputs;
}

function relative(file: string): string {
  return path.relative(process.cwd(), file) || file;
}

async function main(argv: string[]): Promise<number> {
  const args = await yargs(argv)
    .scriptName('statement')
    .usage('$0 [options]: write docs/conformance.md and the README conformance table from passing.json and skips.json')
    .option('cases', { type: 'string', default: DEFAULT_CASES_DIR, describe: 'folder of XML test cases (searched recursively)' })
    .option('results', { type: 'string', describe: 'a `npm run conformance -- --json FILE` run: the reasons of the cases that do not pass' })
    .option('passing', { type: 'string', default: DEFAULT_PASSING_FILE, describe: 'list of cases recorded as passing' })
    .option('skips', { type: 'string', default: DEFAULT_SKIPS_FILE, describe: 'skip list (case file -> reason)' })
    .option('check', { type: 'boolean', default: false, describe: 'write nothing; exit 1 when docs/conformance.md or the README block is out of date' })
    .strict()
    .help()
    .fail((message: string | undefined, error: Error | undefined) => {
      process.stderr.write(`statement: ${message ?? error?.message ?? 'bad arguments'}\nRun with --help for the options.\n`);
      process.exit(2);
    })
    .parseAsync();
  const files: StatementFiles = {
    ...DEFAULT_FILES,
    casesDir: path.resolve(args.cases),
    passingFile: path.resolve(args.passing),
    skipsFile: path.resolve(args.skips),
    ...(args.results !== undefined ? { resultsFile: path.resolve(args.results) } : {}),
  };
  if (args.check) {
    const stale = await staleFiles(files);
    if (stale.length === 0) return 0;
    process.stderr.write(`statement: ${stale.map(relative).join(' and ')} ${stale.length === 1 ? 'is' : 'are'} out of date with conformance/passing.json and skips.json: run \`${REGENERATE}\`\n`);
    return 1;
  }
  const { statement } = await writeOutputs(files);
  const { mandatory: m, optional: o } = statement.totals;
  process.stdout.write(`wrote ${relative(files.docsFile)} and the conformance block of ${relative(files.readmeFile)}: ${m.passed + o.passed} of ${m.total + o.total} cases pass.\n`);
  return 0;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(hideBin(process.argv)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`statement: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(2);
    },
  );
}
