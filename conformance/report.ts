/**
 * The results of a run: one row per version and profile with passed, failed and skipped
 * counts, then skips with their reasons, unexpected passes, and every failure with its
 * step and first difference; and the same as JSON.
 */
import { toXml } from '../ttlv/index.js';
import type { TemplateItem } from '../ttlv/index.js';
import { compareRows } from './cases.js';
import type { Difference } from './compare.js';
import type { SkipList } from './lists.js';
import type { CaseResult } from './runner.js';

export type Status = 'pass' | 'fail' | 'skip';

export interface ReportedCase {
  readonly file: string;
  readonly version: string;
  readonly profile: string;
  readonly status: Status;
  readonly reason?: string;
  readonly step?: number;
  readonly difference?: string;
  /** A skipped case that passed: its skip should go. */
  readonly unexpectedPass?: boolean;
  /** Recorded in passing.json and did not pass. */
  readonly regression?: boolean;
  /** Passed, but not yet recorded in passing.json. */
  readonly newPass?: boolean;
  /** Differences that do not fail the case (Result Reason of an expected failure). */
  readonly advisories?: string[];
}

export interface Row {
  readonly version: string;
  readonly profile: string;
  passed: number;
  failed: number;
  skipped: number;
}

export interface Report {
  readonly cases: ReportedCase[];
  readonly rows: Row[];
  readonly totals: Row;
  readonly regressions: ReportedCase[];
  readonly unexpectedPasses: ReportedCase[];
  readonly newPasses: ReportedCase[];
  /** Skip entries naming no case that was found. */
  readonly staleSkips: string[];
}

export function formatDifference(difference: Difference): string {
  return `${difference.path}: expected ${difference.expected}, actual ${difference.actual}`;
}

export function buildReport(results: readonly CaseResult[], skips: SkipList, passing: readonly string[], allFiles: ReadonlySet<string>): Report {
  const recorded = new Set(passing);
  const cases = results.map((result): ReportedCase => {
    const file = result.case.file;
    const skip = skips.get(file);
    const passed = result.status === 'pass';
    // Every case that did not pass says why: the skip's reason, what went wrong, or the first difference.
    const reason = skip ?? (passed ? undefined : (result.reason ?? (result.difference ? formatDifference(result.difference) : 'failed')));
    const failure: Partial<ReportedCase> = passed
      ? {}
      : {
          ...(result.step !== undefined ? { step: result.step } : {}),
          ...(result.difference ? { difference: formatDifference(result.difference) } : {}),
        };
    const advisories = result.advisories.map(({ step, difference }) => `step ${step}: ${formatDifference(difference)}`);
    return {
      file,
      version: result.case.version,
      profile: result.case.profile,
      status: skip !== undefined ? 'skip' : passed ? 'pass' : 'fail',
      ...(reason !== undefined ? { reason } : {}),
      ...failure,
      ...(skip !== undefined && passed ? { unexpectedPass: true } : {}),
      ...(recorded.has(file) && !passed ? { regression: true } : {}),
      ...(passed && skip === undefined && !recorded.has(file) ? { newPass: true } : {}),
      ...(advisories.length > 0 ? { advisories } : {}),
    };
  });

  const byRow = new Map<string, Row>();
  for (const c of cases) {
    const key = `${c.version}\u0000${c.profile}`;
    const row = byRow.get(key) ?? { version: c.version, profile: c.profile, passed: 0, failed: 0, skipped: 0 };
    if (c.status === 'pass') row.passed += 1;
    else if (c.status === 'fail') row.failed += 1;
    else row.skipped += 1;
    byRow.set(key, row);
  }
  const rows = [...byRow.values()].sort(compareRows);
  const totals: Row = { version: 'total', profile: '', passed: 0, failed: 0, skipped: 0 };
  for (const row of rows) {
    totals.passed += row.passed;
    totals.failed += row.failed;
    totals.skipped += row.skipped;
  }
  return {
    cases,
    rows,
    totals,
    regressions: cases.filter((c) => c.regression),
    unexpectedPasses: cases.filter((c) => c.unexpectedPass),
    newPasses: cases.filter((c) => c.newPass),
    staleSkips: [...skips.keys()].filter((file) => !allFiles.has(file)),
  };
}

export interface FormatOptions {
  /** Lines printed above the table: what ran against what. */
  readonly header: readonly string[];
  /** The raw results, for --verbose. */
  readonly results?: readonly CaseResult[];
  readonly verbose?: boolean;
}

export function formatReport(report: Report, options: FormatOptions): string {
  const out: string[] = [...options.header, ''];
  const table = [['version', 'profile', 'passed', 'failed', 'skipped'], ...report.rows.map(cells), cells(report.totals)];
  const widths = [0, 1, 2, 3, 4].map((col) => Math.max(...table.map((line) => (line[col] ?? '').length)));
  const renderLine = (line: string[]): string =>
    line
      .map((cell, col) => (col < 2 ? cell.padEnd(widths[col] ?? 0) : cell.padStart(widths[col] ?? 0)))
      .join('  ')
      .trimEnd();
  table.forEach((line, i) => {
    if (i === table.length - 1) out.push(widths.map((w) => '-'.repeat(w)).join('  '));
    out.push(renderLine(line));
  });

  const skipped = report.cases.filter((c) => c.status === 'skip');
  if (skipped.length > 0) {
    out.push('', `Skipped (${skipped.length}, from the skip list):`);
    for (const c of skipped) out.push(`  ${c.file}${c.unexpectedPass ? ' [PASSES]' : ''}: ${c.reason ?? ''}`);
  }
  if (report.staleSkips.length > 0) {
    out.push('', `Skip entries that name no case found (${report.staleSkips.length}):`);
    for (const file of report.staleSkips) out.push(`  ${file}`);
  }
  if (report.unexpectedPasses.length > 0) {
    out.push('', `Unexpected passes (${report.unexpectedPasses.length}): these skipped cases pass; remove them from the skip list:`);
    for (const c of report.unexpectedPasses) out.push(`  ${c.file}`);
  }

  const failures = report.cases.filter((c) => c.status === 'fail');
  if (failures.length > 0) {
    out.push('', `Failures (${failures.length}):`);
    const raw = new Map((options.results ?? []).map((r) => [r.case.file, r]));
    for (const c of failures) {
      const where = c.step !== undefined ? ` step ${c.step}` : '';
      out.push(`  ${c.regression ? 'REGRESSION ' : ''}${c.file}${where}: ${c.reason ?? 'failed'}`);
      const result = raw.get(c.file);
      if (options.verbose && result?.detail) out.push(...stepDetail(result.detail.request, result.detail.expected, result.detail.actual));
    }
  }
  if (options.verbose) {
    const advised = report.cases.filter((c) => c.advisories !== undefined);
    if (advised.length > 0) {
      out.push('', 'Advisories (not failures):');
      for (const c of advised) for (const line of c.advisories ?? []) out.push(`  ${c.file} ${line}`);
    }
  }
  const advisedPasses = report.cases.filter((c) => c.status === 'pass' && c.advisories !== undefined).length;
  if (advisedPasses > 0) {
    out.push('', `${count(advisedPasses, 'passing case has', 'passing cases have')} advisories (a Result Reason that differs where a failure was expected)${options.verbose ? '' : ': --verbose lists them'}.`);
  }
  if (report.newPasses.length > 0) {
    out.push('', `${count(report.newPasses.length, 'passing case is', 'passing cases are')} not recorded in passing.json: run with --record to keep them passing.`);
  }
  if (report.regressions.length > 0) {
    out.push('', `REGRESSIONS (${report.regressions.length}): recorded as passing, now failing:`);
    for (const c of report.regressions) out.push(`  ${c.file}`);
  }
  const t = report.totals;
  out.push('', `${count(t.passed + t.failed + t.skipped, 'case', 'cases')}: ${t.passed} passed, ${t.failed} failed, ${t.skipped} skipped; ${count(report.regressions.length, 'regression', 'regressions')}.`);
  return `${out.join('\n')}\n`;
}

function count(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

function cells(row: Row): string[] {
  return [row.version, row.profile, String(row.passed), String(row.failed), String(row.skipped)];
}

function stepDetail(request: TemplateItem, expected: TemplateItem, actual: TemplateItem | undefined): string[] {
  const block = (title: string, item: TemplateItem | undefined): string[] => [
    `    ${title}:`,
    ...(item === undefined ? ['      (none)'] : toXml(item).split('\n').map((line) => `      ${line}`)),
  ];
  return [...block('request', request), ...block('expected', expected), ...block('actual', actual)];
}

/** `{"cases":[{file, version, profile, status, reason, step, difference}, ...]}` plus the counts. */
export function reportJson(report: Report): string {
  return `${JSON.stringify({ cases: report.cases, rows: report.rows, totals: report.totals, regressions: report.regressions.map((c) => c.file) }, null, 2)}\n`;
}
