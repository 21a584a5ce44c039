/**
 * `npm run conformance -- [--cases DIR] [--server HOST:PORT] [--json FILE] [--filter GLOB]`
 *
 * Replays every OASIS KMIP XML test case in DIR against a kmipd it starts on a fresh data
 * folder (or against --server), prints a pass table per version and profile and every
 * failure's first difference, and exits non-zero when a case recorded as passing fails.
 */
import { existsSync, statSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { findCases, globMatcher } from './cases.js';
import { KmipConnection } from '../lib/client/index.js';
import { DEFAULT_CORRECTIONS_FILE, readCorrections } from './corrections.js';
import { launchKmipd, projectRoot } from './launch.js';
import type { KmipdBuild, LaunchedServer } from './launch.js';
import { DEFAULT_PASSING_FILE, DEFAULT_SKIPS_FILE, planRecord, readPassing, readSkips, writePassing } from './lists.js';
import { buildReport, formatReport, reportJson } from './report.js';
import { runSuite } from './runner.js';
import type { CaseResult, FreshTarget, Target } from './runner.js';
import { createSoftHsmToken } from '../test/support/softhsm.js';

/** Exit codes: 0 nothing unexpected failed; 1 a regression (or --record refused); 2 the run could not happen. */
const EXIT_REGRESSION = 1;
const EXIT_USAGE = 2;

class UsageError extends Error {}

const DEFAULT_CASES = path.resolve(projectRoot, '..', 'shared', 'kmip-testcases');

async function main(argv: string[]): Promise<number> {
  const args = await yargs(argv)
    .scriptName('conformance')
    .usage('$0 [options]: replay the OASIS KMIP XML test cases against kmipd')
    .option('cases', { type: 'string', default: DEFAULT_CASES, describe: 'folder of XML test cases (searched recursively)' })
    .option('server', { type: 'string', describe: 'HOST:PORT of a running server (default: start kmipd on a fresh data folder)' })
    .option('cert', { type: 'string', describe: 'client certificate (PEM), with --server' })
    .option('key', { type: 'string', describe: 'client private key (PEM), with --server' })
    .option('ca', { type: 'string', describe: 'CA certificate of the server (PEM), with --server' })
    .option('servername', { type: 'string', describe: 'name to check in the server certificate, with --server' })
    .option('https', { type: 'string', describe: 'HOST:PORT of the server\'s KMIP over HTTPS (POST /kmip), with --server: the MSGENC cases are replayed there in their encoding' })
    .option('filter', { type: 'string', array: true, describe: 'only cases whose path (or file name) matches this glob; repeatable' })
    .option('json', { type: 'string', describe: 'also write the results to this file as JSON' })
    .option('concurrency', { type: 'number', default: defaultConcurrency(), describe: 'case families replayed in parallel' })
    .option('timeout', { type: 'number', default: 15, describe: 'seconds to wait for each response' })
    .option('record', { type: 'boolean', default: false, describe: 'add the cases that pass to the passing list' })
    .option('allow-shrink', { type: 'boolean', default: false, describe: 'with --record: drop recorded cases that no longer pass' })
    .option('skips', { type: 'string', default: DEFAULT_SKIPS_FILE, describe: 'skip list (case file -> reason)' })
    .option('corrections', { type: 'string', default: DEFAULT_CORRECTIONS_FILE, describe: 'local corrections of errata in the case files' })
    .option('passing', { type: 'string', default: DEFAULT_PASSING_FILE, describe: 'list of cases recorded as passing' })
    .option('cleanup', { type: 'boolean', default: true, describe: 'revoke and destroy the objects of a failed case (--no-cleanup to keep them)' })
    .option('built', { type: 'boolean', default: false, describe: 'start dist/server/cli.js instead of server/cli.ts' })
    .option('verbose', { type: 'boolean', default: false, describe: 'print request, expected and actual XML of failing steps' })
    .check((a) => {
      if (a.server !== undefined && (a.cert === undefined || a.key === undefined || a.ca === undefined)) throw new Error('--server needs --cert, --key and --ca');
      if (a.server === undefined && (a.cert !== undefined || a.key !== undefined || a.ca !== undefined)) throw new Error('--cert, --key and --ca go with --server');
      if (a.server === undefined && a.https !== undefined) throw new Error('--https goes with --server');
      if (!Number.isInteger(a.concurrency) || a.concurrency < 1) throw new Error('--concurrency must be a positive integer');
      if (!(a.timeout > 0)) throw new Error('--timeout must be positive');
      if (a['allow-shrink'] && !a.record) throw new Error('--allow-shrink goes with --record');
      return true;
    })
    .strict()
    .help()
    .fail((message: string | undefined, error: Error | undefined) => {
      // Usage errors exit with 2, like every run that could not happen.
      process.stderr.write(`conformance: ${message ?? error?.message ?? 'bad arguments'}\nRun with --help for the options.\n`);
      process.exit(EXIT_USAGE);
    })
    .parseAsync();

  const casesDir = path.resolve(args.cases);
  if (!existsSync(casesDir) || !statSync(casesDir).isDirectory()) throw new UsageError(`${casesDir} is not a folder of test cases`);
  const all = findCases(casesDir);
  const matches = args.filter && args.filter.length > 0 ? globMatcher(args.filter) : () => true;
  const cases = all.filter((c) => matches(c.file));
  if (cases.length === 0) throw new UsageError(`no test case${args.filter ? ` matching ${args.filter.join(', ')}` : ''} under ${casesDir}`);
  const skips = await readSkips(path.resolve(args.skips));
  const passingFile = path.resolve(args.passing);
  const passing = await readPassing(passingFile);
  const corrections = await readCorrections(path.resolve(args.corrections));

  const servers = new Set<LaunchedServer>();
  const stopAll = async (): Promise<void> => {
    await Promise.all([...servers].map((s) => s.stop()));
    servers.clear();
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    void stopAll().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const build: KmipdBuild = args.built ? 'built' : 'source';
  const launch = async (): Promise<LaunchedServer> => {
    const server = await launchKmipd({ build });
    servers.add(server);
    return server;
  };
  // PKCS11 cases: a kmipd of their own with a throwaway SoftHSM2 token (its PKCS#11 module
  // answers C_GetInfo), removed when it stops.
  const launchWithHsm = async (): Promise<LaunchedServer> => {
    const token = await createSoftHsmToken({ label: 'kmipd-conformance' });
    try {
      const pinFile = path.join(token.dir, 'pin');
      await writeFile(pinFile, `${token.pin}\n`, { mode: 0o600 });
      const args = ['--pkcs11-module', token.module, '--pkcs11-token-label', token.tokenLabel, '--pkcs11-pin-file', pinFile];
      const server = await launchKmipd({ build, args, env: { SOFTHSM2_CONF: token.confPath } });
      const withToken: LaunchedServer = {
        ...server,
        stop: async () => {
          await server.stop();
          await token.cleanup();
        },
      };
      servers.add(withToken);
      return withToken;
    } catch (error) {
      await token.cleanup();
      throw error;
    }
  };

  let target: Target;
  let fresh: (() => Promise<FreshTarget>) | undefined;
  let hsm: (() => Promise<FreshTarget>) | undefined;
  const header: string[] = [`KMIP conformance: ${cases.length} of ${all.length} cases from ${casesDir}${args.filter ? ` (filter ${args.filter.join(', ')})` : ''}`];
  const needsFresh = cases.some((c) => c.freshServer);
  if (args.server !== undefined) {
    const { host, port } = parseServer(args.server);
    const [cert, key, ca] = await Promise.all([args.cert, args.key, args.ca].map((file) => readFile(path.resolve(file ?? ''))));
    target = {
      host,
      port,
      tls: { cert: cert as Buffer, key: key as Buffer, ca: ca as Buffer, ...(args.servername !== undefined ? { servername: args.servername } : {}) },
      description: `${host}:${port} (--server)`,
      ...(args.https === undefined ? {} : { https: parseServer(args.https) }),
    };
    header.push(`Server: ${target.description}`);
    if (needsFresh) header.push('Empty store: TL-* cases assume an empty server; with --server they run in order on that server, which must hold none of their objects.');
  } else {
    const shared = await launch();
    target = { host: shared.host, port: shared.port, tls: shared.tls, description: `kmipd ${shared.host}:${shared.port} (${build}, new data folder)`, ...httpsOf(shared) };
    fresh = async () => {
      const server = await launch();
      return {
        target: { host: server.host, port: server.port, tls: server.tls, description: `kmipd ${server.host}:${server.port} (empty store)`, ...httpsOf(server) },
        stop: async () => {
          servers.delete(server);
          await server.stop();
        },
      };
    };
    header.push(`Server: ${target.description}`);
    if (needsFresh) header.push('Empty store: TL-* cases run on a kmipd of their own per version folder, started on an empty data folder.');
    hsm = async () => {
      const server = await launchWithHsm();
      return {
        target: { host: server.host, port: server.port, tls: server.tls, description: `kmipd ${server.host}:${server.port} (SoftHSM2 token)`, ...httpsOf(server) },
        stop: async () => {
          servers.delete(server);
          await server.stop();
        },
      };
    };
    if (cases.some((c) => c.needsHsm === true)) header.push('HSM: PKCS11-* cases run on a kmipd of their own configured with a new SoftHSM2 token (softhsm2 must be installed).');
  }
  header.push(`Order: cases of one family (SASED-M-1, -2, -3 of every version) run in order on one server; ${args.concurrency} families at a time, one connection per case.`);
  if (args.cleanup) header.push('Clean-up (8.4.2): after a failed case, the objects it created are revoked and destroyed, so that later cases do not find them.');
  if (cases.some((c) => c.profile === 'MSGENC')) {
    header.push(
      target.https === undefined
        ? 'MSGENC-* cases are replayed over binary TTLV on the TLS port: no KMIP over HTTPS endpoint was given (--https).'
        : `MSGENC-* cases are replayed over KMIP over HTTPS (POST https://${target.https.host}:${target.https.port}/kmip) in their encoding: MSGENC-HTTPS in TTLV, MSGENC-XML in KMIP XML, MSGENC-JSON in KMIP JSON.`,
    );
  }

  // One connection first: a wrong certificate or port is one clear error, not a failure per case.
  try {
    await (await KmipConnection.connect(target.host, target.port, { ...target.tls, connectTimeoutMs: 10_000 })).close();
  } catch (error) {
    await stopAll();
    throw new UsageError(`cannot reach ${target.description}: ${error instanceof Error ? error.message : String(error)}`);
  }

  const progress = process.stderr.isTTY ? new ProgressBar(cases.length) : undefined;
  let results: CaseResult[];
  try {
    results = await runSuite({
      cases,
      target,
      ...(fresh ? { fresh } : {}),
      ...(hsm ? { hsm } : {}),
      prepare: (c, text) => corrections.apply(c.file, text),
      concurrency: args.concurrency,
      timeoutMs: args.timeout * 1000,
      cleanup: args.cleanup,
      onResult: (result) => progress?.add(skips.has(result.case.file) ? 'skip' : result.status),
    });
  } finally {
    progress?.clear();
    await stopAll();
  }

  for (const { correction, replacements, files } of corrections.usage()) {
    header.push(
      replacements > 0
        ? `Correction (${files} files, ${replacements} places, ${correction.files}): ${correction.why}`
        : `Correction not used (stale, or its files were filtered out): ${correction.files} /${correction.find}/: ${correction.why}`,
    );
  }
  const report = buildReport(results, skips, passing, new Set(all.map((c) => c.file)));
  process.stdout.write(formatReport(report, { header, results, verbose: args.verbose }));
  if (args.json !== undefined) await writeFile(path.resolve(args.json), reportJson(report));

  let exit = report.regressions.length > 0 ? EXIT_REGRESSION : 0;
  if (args.record) {
    const ran = new Map(results.map((r) => [r.case.file, r.status === 'pass']));
    const plan = planRecord(passing, ran, skips);
    if (plan.dropped.length > 0 && !args['allow-shrink']) {
      process.stdout.write(`\n--record refused: ${plan.dropped.length} recorded case(s) no longer pass (use --allow-shrink to drop them):\n${plan.dropped.map((f) => `  ${f}\n`).join('')}`);
      exit = EXIT_REGRESSION;
    } else {
      await writePassing(passingFile, plan.list);
      process.stdout.write(`\nRecorded ${plan.list.length} passing case(s) in ${path.relative(process.cwd(), passingFile) || passingFile}: ${plan.added.length} added, ${plan.dropped.length} dropped.\n`);
      if (plan.added.length > 0 || plan.dropped.length > 0) {
        // docs/conformance.md and the README table are computed from passing.json: CI checks they follow it.
        process.stdout.write(`Update the conformance statement: npm run conformance:statement${args.json !== undefined ? ` -- --results ${args.json}` : ''}\n`);
      }
    }
  }
  return exit;
}

function httpsOf(server: LaunchedServer): Pick<Target, 'https'> {
  return server.httpsPort === undefined ? {} : { https: { host: server.host, port: server.httpsPort } };
}

function parseServer(text: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):([0-9]+)$/.exec(text);
  const host = match?.[1] ?? match?.[2];
  const port = Number(match?.[3]);
  if (host === undefined || !Number.isInteger(port) || port < 1 || port > 65535) throw new UsageError(`--server ${text}: expected HOST:PORT`);
  return { host, port };
}

function defaultConcurrency(): number {
  return Math.max(2, Math.min(8, os.availableParallelism() * 2));
}

/** One line on stderr, redrawn at most ten times a second. */
class ProgressBar {
  private readonly counts = { pass: 0, fail: 0, skip: 0 };
  private last = 0;

  constructor(private readonly total: number) {}

  add(status: 'pass' | 'fail' | 'skip'): void {
    this.counts[status] += 1;
    const now = Date.now();
    if (now - this.last < 100 && this.finished() < this.total) return;
    this.last = now;
    const width = 30;
    const filled = Math.round((this.finished() / this.total) * width);
    process.stderr.write(`\r[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${this.finished()}/${this.total}  pass ${this.counts.pass}  fail ${this.counts.fail}  skip ${this.counts.skip}`);
  }

  clear(): void {
    process.stderr.write('\r\u001b[K');
  }

  private finished(): number {
    return this.counts.pass + this.counts.fail + this.counts.skip;
  }
}

main(hideBin(process.argv)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`conformance: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(EXIT_USAGE);
  },
);
