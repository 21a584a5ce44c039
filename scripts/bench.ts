/**
 * `npm run bench -- [--server HOST:PORT] [--connections N] [--seconds S] [--workload W]
 *                   [--pipeline N] [--workers N] [--json FILE]`
 *
 * A load generator over kmipd's own KMIP client: real TLS with the administrator's client
 * certificate, persistent connections, optionally several requests in flight on each. For
 * every workload it prints operations per second, latency percentiles and, when it started
 * the server itself, the server's CPU (100 % is one core) and peak resident memory.
 *
 * Without --server it starts `kmipd serve` (the build in dist/, or the sources with --tsx)
 * on a new data folder, and for the Locate workloads on a cached data folder seeded with
 * 100,000 or 1,000,000 named keys (scripts/bench-seed.ts), read once into the page cache
 * first: the figures are a running server's, not those of its first minutes after a boot.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { readFile } from 'node:fs/promises';
import type { Target } from './bench-client.js';
import { WORKLOADS, workloadsNamed } from './bench-load.js';
import type { LoadOptions, Workload } from './bench-load.js';
import { startKmipd } from './bench-process.js';
import type { ServerProcess } from './bench-process.js';
import { TABLE_HEADER, measure, tableRow } from './bench-run.js';
import type { Measurement } from './bench-run.js';
import { clientTls, seedOverWire, seededDataDir } from './bench-seed.js';

const USAGE = `usage: npm run bench -- [options]
  --server HOST:PORT   a running KMIP server (default: start kmipd here)
  --dir DIR            its data folder, for the admin client certificate (default ./kmipd-data)
  --cert --key --ca    or the client certificate, its key and the CA, as PEM files
  --connections N      persistent TLS connections (default 16)
  --pipeline N         requests in flight on each connection (default 1)
  --seconds S          measured seconds per workload (default 5), after a warm-up
  --workload W         ${WORKLOADS.map((w) => w.name).join(', ')}; a comma list, or all (default)
  --workers N          kmipd processes when started here (default 1)
  --log-level LEVEL    kmipd's log level when started here (default info)
  --tsx                run kmipd from the TypeScript sources instead of dist/
  --json FILE          also write the figures as JSON`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      server: { type: 'string' },
      dir: { type: 'string' },
      cert: { type: 'string' },
      key: { type: 'string' },
      ca: { type: 'string' },
      connections: { type: 'string', default: '16' },
      pipeline: { type: 'string', default: '1' },
      seconds: { type: 'string', default: '5' },
      workload: { type: 'string', default: 'all' },
      workers: { type: 'string', default: '1' },
      'log-level': { type: 'string', default: 'info' },
      tsx: { type: 'boolean', default: false },
      json: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const count = (name: string, text: string, min: number): number => {
    const n = Number(text);
    if (!Number.isFinite(n) || n < min) throw new Error(`--${name} must be a number of at least ${min}, not ${text}`);
    return n;
  };
  const load: LoadOptions = {
    connections: count('connections', values.connections, 1),
    pipeline: count('pipeline', values.pipeline, 1),
    seconds: count('seconds', values.seconds, 0.1),
    warmupSeconds: Math.min(2, count('seconds', values.seconds, 0.1) / 5),
  };
  const workloads = workloadsNamed(values.workload);
  const say = (line: string): void => console.log(line);
  const results: { name: string; connections: number; pipeline: number; measurement: Measurement }[] = [];
  const report = (workload: Workload, measurement: Measurement): void => {
    results.push({ name: workload.name, connections: load.connections, pipeline: load.pipeline, measurement });
    console.log(tableRow(workload.name, load.connections, measurement));
    if (measurement.firstError !== undefined) console.log(`  first error: ${measurement.firstError}`);
  };

  console.log(`kmipd benchmark: node ${process.version}, ${load.connections} connections, pipeline ${load.pipeline}, ${load.seconds} s per workload`);
  if (values.server !== undefined) {
    const target = await externalTarget(values.server, values);
    console.log(`server ${target.host}:${target.port} (its CPU and memory are not watched)`);
    console.log(TABLE_HEADER);
    for (const workload of workloads) {
      if (workload.population !== undefined) await seedOverWire(target, workload.population, say);
      report(workload, (await measure(target, undefined, workload, load)).measurement);
    }
  } else {
    const workers = count('workers', values.workers, 0);
    const work = await mkdtemp(join(tmpdir(), 'kmipd-bench-'));
    const start = (dir: string, logFile: string): Promise<ServerProcess> =>
      startKmipd({ dir, workers, logLevel: values['log-level'], tsx: values.tsx, logFile });
    let main: ServerProcess | undefined;
    try {
      console.log(`kmipd started here: --workers ${workers}, log level ${values['log-level']}, SQLite (synchronous=FULL), file KEK${values.tsx ? ', from the sources (tsx)' : ''}`);
      let headerShown = false;
      for (const workload of workloads) {
        if (workload.population !== undefined) {
          const dir = await seededDataDir(workload.population, say);
          const server = await start(dir, join(work, `kmipd-${workload.name}.log`));
          try {
            if (!headerShown) console.log(TABLE_HEADER);
            headerShown = true;
            const target = { host: server.host, port: server.port, tls: await clientTls(dir) };
            report(workload, (await measure(target, server.pid, workload, load)).measurement);
          } finally {
            await server.stop();
          }
          continue;
        }
        main ??= await start(join(work, 'data'), join(work, 'kmipd.log'));
        if (!headerShown) console.log(TABLE_HEADER);
        headerShown = true;
        const target = { host: main.host, port: main.port, tls: await clientTls(join(work, 'data')) };
        report(workload, (await measure(target, main.pid, workload, load)).measurement);
      }
    } finally {
      await main?.stop();
      await rm(work, { recursive: true, force: true });
    }
  }
  if (values.json !== undefined) {
    await writeFile(values.json, `${JSON.stringify({ node: process.version, workloads: results.map((r) => ({ name: r.name, connections: r.connections, pipeline: r.pipeline, ...r.measurement })) }, null, 2)}\n`);
    console.log(`figures written to ${values.json}`);
  }
}

async function externalTarget(server: string, flags: { dir?: string | undefined; cert?: string | undefined; key?: string | undefined; ca?: string | undefined }): Promise<Target> {
  const match = /^(.+):(\d+)$/.exec(server);
  if (match === null) throw new Error(`--server ${server} is not HOST:PORT`);
  const [, host = '', port = ''] = match;
  const dir = flags.dir ?? './kmipd-data';
  const tls =
    flags.cert !== undefined && flags.key !== undefined && flags.ca !== undefined
      ? { cert: await readFile(flags.cert), key: await readFile(flags.key), ca: await readFile(flags.ca) }
      : await clientTls(dir);
  return { host: host.replace(/^\[(.*)\]$/, '$1'), port: Number(port), tls };
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
