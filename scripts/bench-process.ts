/**
 * The servers a benchmark runs against, each in its own process so that its CPU and memory
 * can be read from /proc: kmipd (built, or through tsx), PyKMIP's server (Debian
 * python3-pykmip, under /usr/bin/python3) and a bare Node TLS echo server. Every child runs
 * in its own process group and is killed as a group, so no forked worker outlives the run.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, openSync, closeSync, readFileSync, readdirSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { projectRoot } from '../test/support/paths.js';
import { ensureBuilt } from '../test/server/built.js';

export interface ServerProcess {
  readonly pid: number;
  readonly host: string;
  readonly port: number;
  /** Kill the whole process group: SIGTERM, then SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no free port');
  return address.port;
}

function groupKiller(child: ChildProcess): (graceMs?: number) => Promise<void> {
  const signal = (name: NodeJS.Signals): void => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, name);
    } catch {
      // the group is gone already
    }
  };
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  // A benchmark interrupted with Ctrl-C must not leave servers behind.
  const onExit = (): void => signal('SIGKILL');
  process.once('exit', onExit);
  return async (graceMs = 5000) => {
    signal('SIGTERM');
    const timer = setTimeout(() => signal('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
    // PyKMIP's forks may outlive their parent: the group goes in any case.
    signal('SIGKILL');
    process.off('exit', onExit);
  };
}

async function waitForPort(port: number, child: ChildProcess, what: string, timeoutMs: number, log?: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${what} exited with code ${child.exitCode}${log === undefined ? '' : `; see ${log}`}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    await sleep(100);
  }
  throw new Error(`${what} did not listen on ${port} within ${timeoutMs} ms`);
}

let built: Promise<void> | undefined;

export interface KmipdOptions {
  readonly dir: string;
  readonly workers: number;
  readonly logLevel: string;
  /** Run the TypeScript sources through tsx instead of the build in dist/. */
  readonly tsx: boolean;
  readonly extraArgs?: readonly string[];
  /** Where its log lines go; `<dir>/bench-kmipd.log` by default. */
  readonly logFile?: string;
}

/** Start `kmipd serve` on a free port, its log lines to a file. */
export async function startKmipd(options: KmipdOptions): Promise<ServerProcess> {
  let command: string[];
  if (options.tsx) {
    command = ['--import', 'tsx', join(projectRoot, 'server', 'cli.ts')];
  } else {
    // Once per process: the sources may change under a long run (other work in the tree).
    built ??= ensureBuilt();
    await built;
    command = [join(projectRoot, 'dist', 'server', 'cli.js')];
  }
  const port = await freePort();
  await mkdir(options.dir, { recursive: true });
  const logPath = options.logFile ?? join(options.dir, 'bench-kmipd.log');
  const out = openSync(logPath, 'w');
  const args = [...command, 'serve', '--dir', options.dir, '--host', '127.0.0.1', '--port', String(port), '--workers', String(options.workers), '--log-level', options.logLevel, ...(options.extraArgs ?? [])];
  const child = spawn(process.execPath, args, { stdio: ['ignore', out, out], detached: true, cwd: projectRoot });
  closeSync(out);
  const stop = groupKiller(child);
  try {
    await waitForPort(port, child, 'kmipd', 60_000, logPath);
    // With workers, the port opens with the first one: wait for the primary's `listening`
    // (an info line: at a quieter log level the open port has to do).
    if (options.workers !== 1 && (options.logLevel === 'info' || options.logLevel === 'debug')) await waitForLine(logPath, '"msg":"listening"', child, 60_000);
  } catch (error) {
    await stop(0);
    throw error;
  }
  return { pid: child.pid ?? 0, host: '127.0.0.1', port, stop };
}

async function waitForLine(path: string, needle: string, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (existsSync(path) && readFileSync(path, 'utf8').includes(needle)) return;
    if (child.exitCode !== null) throw new Error(`the server exited with code ${child.exitCode}; see ${path}`);
    await sleep(100);
  }
  throw new Error(`no ${needle} in ${path} after ${timeoutMs} ms`);
}

export const PYKMIP_SERVER = '/usr/bin/pykmip-server';

export interface PykmipOptions {
  readonly dir: string;
  /** PEM files: the server certificate and key, and the CA of client certificates. */
  readonly cert: string;
  readonly key: string;
  readonly ca: string;
  readonly database: string;
}

/** Start PyKMIP's server (its own process group; it forks). */
export async function startPykmip(options: PykmipOptions): Promise<ServerProcess> {
  if (!existsSync(PYKMIP_SERVER)) throw new Error(`${PYKMIP_SERVER} is missing: apt-get install python3-pykmip`);
  const port = await freePort();
  const policies = join(options.dir, 'policies');
  await mkdir(policies, { recursive: true });
  const config = [
    '[server]',
    'hostname=127.0.0.1',
    `port=${port}`,
    `certificate_path=${options.cert}`,
    `key_path=${options.key}`,
    `ca_path=${options.ca}`,
    'auth_suite=TLS1.2',
    `policy_path=${policies}`,
    'enable_tls_client_auth=True',
    `database_path=${options.database}`,
    '',
  ].join('\n');
  const configPath = join(options.dir, 'pykmip-server.conf');
  await writeFile(configPath, config);
  const logPath = join(options.dir, 'pykmip-server.log');
  const child = spawn('/usr/bin/python3', [PYKMIP_SERVER, '-f', configPath, '-l', logPath], { stdio: 'ignore', detached: true });
  const stop = groupKiller(child);
  try {
    await waitForPort(port, child, 'pykmip-server', 60_000, logPath);
  } catch (error) {
    await stop(0);
    throw error;
  }
  return { pid: child.pid ?? 0, host: '127.0.0.1', port, stop: (graceMs = 1000) => stop(graceMs) };
}

/** Start the TLS echo server (scripts/bench-echo.ts) with the server certificate of a kmipd data folder. */
export async function startEcho(certsDir: string): Promise<ServerProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(projectRoot, 'scripts', 'bench-echo.ts'), certsDir], {
    stdio: ['ignore', 'pipe', 'inherit'],
    detached: true,
    cwd: projectRoot,
  });
  const stop = groupKiller(child);
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the echo server did not start')), 30_000);
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).once('line', (line) => {
      clearTimeout(timer);
      resolve(Number(line));
    });
    child.once('exit', (code) => reject(new Error(`the echo server exited with code ${String(code)}`)));
  });
  return { pid: child.pid ?? 0, host: '127.0.0.1', port, stop };
}

// ---------------------------------------------------------------------------------------
// CPU and memory from /proc

const TICKS_PER_SECOND = 100;

interface ProcSample {
  /** user + system CPU seconds of the process and all its descendants. */
  readonly cpuSeconds: number;
  /** Resident memory of the process and its descendants, bytes. */
  readonly rssBytes: number;
}

function statOf(pid: number): { ppid: number; ticks: number } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name is in parentheses and may hold spaces: fields start after the last ')'.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(fields[1]), ticks: Number(fields[11]) + Number(fields[12]) };
  } catch {
    return undefined;
  }
}

function rssOf(pid: number): number {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** The process and its descendants. */
function tree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    const stat = statOf(pid);
    if (stat === undefined) continue;
    const list = children.get(stat.ppid) ?? [];
    list.push(pid);
    children.set(stat.ppid, list);
  }
  const pids = [root];
  for (let i = 0; i < pids.length; i++) pids.push(...(children.get(pids[i] ?? -1) ?? []));
  return pids;
}

export function sampleProcess(root: number): ProcSample {
  let ticks = 0;
  let rss = 0;
  for (const pid of tree(root)) {
    ticks += statOf(pid)?.ticks ?? 0;
    rss += rssOf(pid);
  }
  return { cpuSeconds: ticks / TICKS_PER_SECOND, rssBytes: rss };
}

export interface ResourceUse {
  /** CPU time over wall time: 100 is one core busy. */
  readonly cpuPercent: number;
  readonly peakRssBytes: number;
}

/** Watch a server process (and its workers) while `work` runs. */
export async function watchResources<T>(root: number | undefined, work: () => Promise<T>): Promise<{ result: T; use: ResourceUse | undefined }> {
  if (root === undefined || !existsSync(`/proc/${root}`)) return { result: await work(), use: undefined };
  const first = sampleProcess(root);
  const started = process.hrtime.bigint();
  let peak = first.rssBytes;
  const timer = setInterval(() => {
    peak = Math.max(peak, sampleProcess(root).rssBytes);
  }, 250);
  try {
    const result = await work();
    const last = sampleProcess(root);
    peak = Math.max(peak, last.rssBytes);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    return { result, use: { cpuPercent: ((last.cpuSeconds - first.cpuSeconds) / seconds) * 100, peakRssBytes: peak } };
  } finally {
    clearInterval(timer);
  }
}
