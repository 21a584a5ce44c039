/**
 * The built kmipd (`dist/server/cli.js`) run as a separate process, for the tests that need
 * the real thing: build dist/ when it is stale, run a command, serve and read the log lines.
 */
import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { projectRoot } from '../support/paths.js';
import { removeDir, tempDir } from './helpers.js';

const run = promisify(execFile);
const CLI = join(projectRoot, 'dist', 'server', 'cli.js');
const SOURCES = ['ttlv', 'lib', 'server', 'certs'];

async function newestSource(dir: string): Promise<number> {
  let newest = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, await newestSource(path));
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts')) newest = Math.max(newest, (await stat(path)).mtimeMs);
  }
  return newest;
}

async function builtAt(): Promise<number> {
  return stat(CLI).then(
    (s) => s.mtimeMs,
    () => 0,
  );
}

/** Build dist/ when it is missing or older than the sources. */
export async function ensureBuilt(): Promise<void> {
  const sources = Math.max(...(await Promise.all(SOURCES.map((dir) => newestSource(join(projectRoot, dir))))));
  if ((await builtAt()) > sources) return;
  let output = '';
  try {
    // The package's own build: tsc, then the bins made executable (npx kmip runs them as files).
    await run('npm', ['run', '--silent', 'build'], { cwd: projectRoot });
  } catch (error) {
    // tsc still writes its output on type errors; those are `npm run typecheck`'s to report.
    output = String((error as { stdout?: string }).stdout ?? error);
  }
  if ((await builtAt()) <= sources) throw new Error(`the build did not produce a fresh ${CLI}:\n${output}`);
}

export function kmipd(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return run(process.execPath, [CLI, ...args], { env: { ...process.env, ...env } }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (error: { code?: number; stdout?: string; stderr?: string }) => ({ code: error.code ?? -1, stdout: error.stdout ?? '', stderr: error.stderr ?? '' }),
  );
}

export interface Served {
  readonly child: ChildProcess;
  readonly port: number;
  readonly lines: Record<string, unknown>[];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves with the first log line whose msg is `msg`. */
  line(msg: string, timeoutMs?: number): Promise<Record<string, unknown>>;
}

export async function serve(args: string[], options: { cwd?: string; env?: Record<string, string> } = {}): Promise<Served> {
  const child = spawn(process.execPath, [CLI, 'serve', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    env: { ...process.env, ...options.env },
  });
  const lines: Record<string, unknown>[] = [];
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const waiters = new Set<() => void>();
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (text) => {
    lines.push(JSON.parse(text) as Record<string, unknown>);
    for (const wake of waiters) wake();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  let gone = false;
  void exited.then(() => {
    gone = true;
    for (const wake of waiters) wake();
  });
  const line = (msg: string, timeoutMs = 15_000): Promise<Record<string, unknown>> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => done(new Error(`no "${msg}" line after ${timeoutMs} ms; stderr: ${stderr}`)), timeoutMs);
      const check = (): void => {
        const found = lines.find((l) => l.msg === msg);
        if (found !== undefined) done(undefined, found);
        else if (gone) done(new Error(`kmipd exited before logging "${msg}"; stderr: ${stderr}`));
      };
      const done = (error: Error | undefined, found?: Record<string, unknown>): void => {
        clearTimeout(timer);
        waiters.delete(check);
        if (found !== undefined) resolve(found);
        else reject(error);
      };
      waiters.add(check);
      check();
    });
  const listening = await line('listening').catch((error: unknown) => {
    child.kill('SIGKILL');
    throw error;
  });
  return { child, port: listening.port as number, lines, exited, line };
}

/**
 * Mocha hooks for tests of the built process: build dist/ once, a fresh temporary folder for
 * each test (`parent`), and every server started through `serve` killed and its folder
 * removed after the test.
 */
export function builtProcessFixture(prefix: string): { readonly parent: string; serve: typeof serve } {
  let parent = '';
  let started: Served[] = [];
  before(async function () {
    this.timeout(180_000);
    await ensureBuilt();
  });
  beforeEach(async function () {
    parent = await tempDir(prefix);
  });
  afterEach(async function () {
    for (const running of started) {
      if (running.child.exitCode !== null || running.child.signalCode !== null) continue;
      running.child.kill('SIGKILL');
      await running.exited;
    }
    started = [];
    await removeDir(parent);
  });
  return {
    get parent(): string {
      return parent;
    },
    serve: async (args, options) => {
      const running = await serve(args, options);
      started.push(running);
      return running;
    },
  };
}
