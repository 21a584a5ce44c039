/**
 * `npm run bench:compare -- [--json FILE] [--connections N] [--seconds S] [--workload W]`
 *
 * The benchmark workloads, in one run on this machine, against kmipd, against PyKMIP's
 * server (Debian python3-pykmip, the same certificates) and against a bare Node TLS echo
 * server that exchanges messages of the same sizes as kmipd did (the ceiling of TLS and
 * Node alone). Prints kmipd/PyKMIP and kmipd/echo per workload. PyKMIP's Locate reads every
 * object of its database in Python on each request, so its Locate runs only up to
 * --pykmip-max-population objects (default 100,000); larger ones are reported as not run.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseArgs } from 'node:util';
import { projectRoot } from '../test/support/paths.js';
import type { Target } from './bench-client.js';
import { WORKLOADS, echoOperation, workloadsNamed } from './bench-load.js';
import type { LoadOptions, Workload } from './bench-load.js';
import { startEcho, startKmipd, startPykmip } from './bench-process.js';
import type { ServerProcess } from './bench-process.js';
import { TABLE_HEADER, measure, tableRow } from './bench-run.js';
import type { Measured, Measurement } from './bench-run.js';
import { SEED_VERSION, clientTls, seedPrefix, seededDataDir } from './bench-seed.js';

const run = promisify(execFile);

interface Row {
  readonly name: string;
  readonly connections: number;
  readonly kmipd: Measurement;
  readonly pykmip?: Measurement;
  readonly pykmipSkipped?: string;
  readonly echo: Measurement;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      json: { type: 'string' },
      connections: { type: 'string', default: '16' },
      seconds: { type: 'string', default: '5' },
      workload: { type: 'string', default: 'all' },
      workers: { type: 'string', default: '1' },
      'log-level': { type: 'string', default: 'info' },
      'pykmip-max-population': { type: 'string', default: '100000' },
      tsx: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(`usage: npm run bench:compare -- [--json FILE] [--connections N] [--seconds S] [--workload ${WORKLOADS.map((w) => w.name).join('|')}|all]
  [--workers N] [--log-level LEVEL] [--pykmip-max-population N] [--tsx]`);
    return;
  }
  const seconds = Number(values.seconds);
  const load: LoadOptions = { connections: Number(values.connections), pipeline: 1, seconds, warmupSeconds: Math.min(2, seconds / 5) };
  const pykmipMax = Number(values['pykmip-max-population']);
  const workers = Number(values.workers);
  const workloads = workloadsNamed(values.workload);
  const say = (line: string): void => console.log(line);

  const work = await mkdtemp(join(tmpdir(), 'kmipd-compare-'));
  const dataDir = join(work, 'kmipd');
  const started: ServerProcess[] = [];
  const rows: Row[] = [];
  try {
    const kmipd = await startKmipd({ dir: dataDir, workers, logLevel: values['log-level'], tsx: values.tsx, logFile: join(work, 'kmipd.log') });
    started.push(kmipd);
    const certs = join(dataDir, 'certs');
    const tls = await clientTls(dataDir);
    const echo = await startEcho(certs);
    started.push(echo);
    const pykmipFiles = { cert: join(certs, 'server.pem'), key: join(certs, 'server-key.pem'), ca: join(certs, 'ca.pem') };
    await mkdir(join(work, 'pykmip'));
    const pykmip = await startPykmip({ dir: join(work, 'pykmip'), ...pykmipFiles, database: join(work, 'pykmip', 'pykmip.db') });
    started.push(pykmip);
    const at = (server: ServerProcess): Target => ({ host: server.host, port: server.port, tls });

    console.log(`kmipd vs PyKMIP 0.10 vs a Node TLS echo server: node ${process.version}, ${load.connections} connections, ${seconds} s per figure, kmipd --workers ${workers}, log level ${values['log-level']}`);
    console.log('(one machine for all: client, servers; read the ratios more than the absolute figures)');
    for (const workload of workloads) {
      console.log(`\n${workload.name}: ${workload.describe}`);
      console.log(TABLE_HEADER);
      const show = (who: string, m: Measurement): void => {
        console.log(tableRow(who, load.connections, m));
        if (m.firstError !== undefined) console.log(`  first error: ${m.firstError}`);
      };
      let kmipdResult: Measured;
      let pykmipResult: Measurement | undefined;
      let skipped: string | undefined;
      if (workload.population === undefined) {
        kmipdResult = await measure(at(kmipd), kmipd.pid, workload, load);
        show('kmipd', kmipdResult.measurement);
        try {
          pykmipResult = (await measure(at(pykmip), pykmip.pid, workload, load)).measurement;
          show('pykmip', pykmipResult);
        } catch (error) {
          skipped = `failed: ${(error as Error).message}`;
          console.log(`pykmip: ${skipped}`);
        }
      } else {
        kmipdResult = await onSeededKmipd(workload, workers, values['log-level'], values.tsx, work, load, say);
        show('kmipd', kmipdResult.measurement);
        if (workload.population > pykmipMax) {
          skipped = `PyKMIP's Locate reads all ${workload.population.toLocaleString('en')} objects in Python on every request; raise --pykmip-max-population to run it`;
          console.log(`pykmip: not run (${skipped})`);
        } else {
          try {
            pykmipResult = await onSeededPykmip(workload, work, pykmipFiles, tls, load, say);
            show('pykmip', pykmipResult);
          } catch (error) {
            skipped = `failed: ${(error as Error).message}`;
            console.log(`pykmip: ${skipped}`);
          }
        }
      }
      const echoResult = (await measure(at(echo), echo.pid, echoOperation(kmipdResult.shape), load)).measurement;
      show('echo', echoResult);
      const row: Row = {
        name: workload.name,
        connections: load.connections,
        kmipd: kmipdResult.measurement,
        ...(pykmipResult === undefined ? {} : { pykmip: pykmipResult }),
        ...(skipped === undefined ? {} : { pykmipSkipped: skipped }),
        echo: echoResult,
      };
      rows.push(row);
      console.log(`ratio kmipd/pykmip ${ratio(row.kmipd, row.pykmip)}   kmipd/echo ${ratio(row.kmipd, row.echo)}`);
    }
  } finally {
    await Promise.all(started.map((server) => server.stop()));
    await rm(work, { recursive: true, force: true });
  }

  console.log('\nsummary');
  console.log(`${'workload'.padEnd(20)} ${'kmipd ops/s'.padStart(12)} ${'pykmip ops/s'.padStart(13)} ${'echo ops/s'.padStart(11)} ${'vs pykmip'.padStart(10)} ${'vs echo'.padStart(8)} ${'p99 ms'.padStart(8)} ${'RSS MB'.padStart(7)}`);
  for (const row of rows) {
    console.log(
      [
        row.name.padEnd(20),
        row.kmipd.opsPerSecond.toFixed(0).padStart(12),
        (row.pykmip?.opsPerSecond.toFixed(1) ?? (row.pykmipSkipped?.startsWith('failed') === true ? 'failed' : 'not run')).padStart(13),
        row.echo.opsPerSecond.toFixed(0).padStart(11),
        ratio(row.kmipd, row.pykmip).padStart(10),
        ratio(row.kmipd, row.echo).padStart(8),
        row.kmipd.p99Ms.toFixed(2).padStart(8),
        (row.kmipd.peakRssMb?.toFixed(0) ?? '-').padStart(7),
      ].join(' '),
    );
  }
  if (values.json !== undefined) {
    const workloadsJson = rows.map((row) => ({
      name: row.name,
      connections: row.connections,
      kmipd_ops_s: round(row.kmipd.opsPerSecond),
      pykmip_ops_s: row.pykmip === undefined ? null : round(row.pykmip.opsPerSecond),
      echo_ops_s: round(row.echo.opsPerSecond),
      ratio_vs_pykmip: row.pykmip === undefined || row.pykmip.opsPerSecond === 0 ? null : round(row.kmipd.opsPerSecond / row.pykmip.opsPerSecond),
      ratio_vs_echo: round(row.kmipd.opsPerSecond / row.echo.opsPerSecond),
      p99_ms: round(row.kmipd.p99Ms),
      p50_ms: round(row.kmipd.p50Ms),
      kmipd_cpu_percent: row.kmipd.cpuPercent === undefined ? null : round(row.kmipd.cpuPercent),
      kmipd_rss_mb: row.kmipd.peakRssMb === undefined ? null : round(row.kmipd.peakRssMb),
      pykmip_p99_ms: row.pykmip === undefined ? null : round(row.pykmip.p99Ms),
      kmipd_errors: row.kmipd.errors,
      pykmip_errors: row.pykmip?.errors ?? null,
      ...(row.pykmipSkipped === undefined ? {} : { pykmip_not_run: row.pykmipSkipped }),
    }));
    await writeFile(values.json, `${JSON.stringify({ node: process.version, seconds, workers, workloads: workloadsJson }, null, 2)}\n`);
    console.log(`figures written to ${values.json}`);
  }
}

const round = (n: number): number => Math.round(n * 100) / 100;

function ratio(a: Measurement, b: Measurement | undefined): string {
  if (b === undefined || b.opsPerSecond === 0) return 'n/a';
  return `${(a.opsPerSecond / b.opsPerSecond).toFixed(a.opsPerSecond / b.opsPerSecond >= 10 ? 0 : 2)}x`;
}

async function onSeededKmipd(workload: Workload, workers: number, logLevel: string, tsx: boolean, work: string, load: LoadOptions, say: (line: string) => void): Promise<Measured> {
  const population = workload.population ?? 0;
  const dir = await seededDataDir(population, say);
  const server = await startKmipd({ dir, workers, logLevel, tsx, logFile: join(work, `kmipd-${workload.name}.log`) });
  try {
    return await measure({ host: server.host, port: server.port, tls: await clientTls(dir) }, server.pid, workload, load);
  } finally {
    await server.stop();
  }
}

/** PyKMIP's database with the population, cached beside kmipd's seeded folders. */
async function onSeededPykmip(
  workload: Workload,
  work: string,
  files: { cert: string; key: string; ca: string },
  tls: Target['tls'],
  load: LoadOptions,
  say: (line: string) => void,
): Promise<Measurement> {
  const population = workload.population ?? 0;
  const cache = join(tmpdir(), 'kmipd-bench-cache', `pykmip-v${SEED_VERSION}-${population}`);
  const database = join(cache, 'pykmip.db');
  const marker = join(cache, 'seeded');
  if (!existsSync(marker)) {
    await rm(cache, { recursive: true, force: true });
    await mkdir(cache, { recursive: true });
    say(`seeding PyKMIP's database with ${population.toLocaleString('en')} objects (once; cached)`);
    await run('/usr/bin/python3', [join(projectRoot, 'scripts', 'bench-pykmip-seed.py'), database, String(population), seedPrefix(population), 'admin'], { maxBuffer: 1 << 20 });
    await writeFile(marker, '');
  }
  const dir = join(work, `pykmip-${workload.name}`);
  await mkdir(dir);
  const server = await startPykmip({ dir, ...files, database });
  try {
    return (await measure({ host: server.host, port: server.port, tls }, server.pid, workload, load)).measurement;
  } finally {
    await server.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : error);
  process.exitCode = 1;
});
