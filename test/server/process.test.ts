/**
 * The built kmipd (`dist/server/cli.js`) as a separate process: what `npm start` runs. This
 * guards against start-up failures that running the sources under tsx would hide
 * (TOOLCHAIN.md: ESM import shapes that type-check and then throw in real Node).
 */
import { expect } from 'chai';
import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdir, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { projectRoot } from '../support/paths.js';
import { TestClient, discoverVersions, eventually, listedVersions, pkiFiles, removeDir, tempDir } from './helpers.js';

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
async function ensureBuilt(): Promise<void> {
  const sources = Math.max(...(await Promise.all(SOURCES.map((dir) => newestSource(join(projectRoot, dir))))));
  if ((await builtAt()) > sources) return;
  let output = '';
  try {
    await run(process.execPath, [join(projectRoot, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'], { cwd: projectRoot });
  } catch (error) {
    // tsc still writes its output on type errors; those are `npm run typecheck`'s to report.
    output = String((error as { stdout?: string }).stdout ?? error);
  }
  if ((await builtAt()) <= sources) throw new Error(`the build did not produce a fresh ${CLI}:\n${output}`);
}

function kmipd(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return run(process.execPath, [CLI, ...args], { env: { ...process.env, ...env } }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (error: { code?: number; stdout?: string; stderr?: string }) => ({ code: error.code ?? -1, stdout: error.stdout ?? '', stderr: error.stderr ?? '' }),
  );
}

interface Served {
  readonly child: ChildProcess;
  readonly port: number;
  readonly lines: Record<string, unknown>[];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves with the first log line whose msg is `msg`. */
  line(msg: string, timeoutMs?: number): Promise<Record<string, unknown>>;
}

async function serve(args: string[], options: { cwd?: string; env?: Record<string, string> } = {}): Promise<Served> {
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

describe('server: the built kmipd process', function () {
  this.timeout(60_000);
  let parent: string;
  let running: Served | undefined;

  before(async function () {
    this.timeout(180_000);
    await ensureBuilt();
  });

  beforeEach(async function () {
    parent = await tempDir('process');
  });

  afterEach(async function () {
    if (running !== undefined && running.child.exitCode === null && running.child.signalCode === null) {
      running.child.kill('SIGKILL');
      await running.exited;
    }
    running = undefined;
    await removeDir(parent);
  });

  it('kmipd init creates the data folder; a second init exits 2 and says the folder is initialised', async function () {
    const dir = join(parent, 'data');
    const first = await kmipd(['init', '--dir', dir]);
    expect(first.code, first.stderr).to.equal(0);
    expect(first.stdout).to.include(`initialised ${dir}`);
    expect((await readdir(dir)).sort()).to.deep.equal(['certs', 'kek.key', 'kmipd.db']);
    const second = await kmipd(['init', '--dir', dir]);
    expect(second.code).to.equal(2);
    expect(second.stderr).to.match(/^kmipd: .* is already initialised .*refusing to overwrite it/);
  });

  it('serve on an empty folder initialises it, answers DiscoverVersions over mutual TLS, and exits 0 on SIGTERM', async function () {
    const dir = join(parent, 'data');
    await mkdir(dir);
    running = await serve(['--dir', dir, '--port', '0']);
    expect(running.lines.map((l) => l.msg)).to.deep.equal(['data folder initialised', 'listening']);
    const listening = await running.line('listening');
    expect(Object.keys(listening)).to.deep.equal(['time', 'level', 'msg', 'host', 'port', 'dir']);
    expect(listening).to.include({ level: 'info', host: '127.0.0.1', dir });
    expect(running.port).to.be.a('number').above(0);

    const client = await TestClient.connect(running.port, pkiFiles(dir));
    expect(listedVersions(await client.call(discoverVersions()))).to.deep.equal(['2.1', '2.0', '1.4', '1.3', '1.2', '1.1', '1.0']);

    running.child.kill('SIGTERM');
    expect(await running.exited).to.deep.equal({ code: 0, signal: null });
    await client.closed;
    expect(running.lines.map((l) => l.msg)).to.include.members(['stopping', 'connection closed', 'stopped']);
  });

  it('serve with no --dir (what `npm start` runs) initialises and serves ./kmipd-data in the working directory', async function () {
    running = await serve([], { cwd: parent, env: { KMIPD_PORT: '0' } });
    const dir = join(parent, 'kmipd-data');
    expect((await running.line('listening')).dir).to.equal(dir);
    const client = await TestClient.connect(running.port, pkiFiles(dir));
    expect(listedVersions(await client.call(discoverVersions(['1.4'])))).to.deep.equal(['1.4']);
    running.child.kill('SIGTERM');
    expect((await running.exited).code).to.equal(0);
  });

  it('kmipd certs client bob issues a certificate the running server accepts as bob', async function () {
    const dir = join(parent, 'data');
    expect((await kmipd(['init', '--dir', dir])).code).to.equal(0);
    const issued = await kmipd(['certs', 'client', 'bob'], { KMIPD_DIR: dir });
    expect(issued.code, issued.stderr).to.equal(0);
    expect(issued.stdout).to.include(join(dir, 'certs', 'bob.pem'));
    running = await serve(['--dir', dir, '--port', '0']);
    const client = await TestClient.connect(running.port, pkiFiles(dir, 'bob'));
    await client.call(discoverVersions());
    expect((await running.line('connection opened')).identity).to.equal('bob');
    running.child.kill('SIGINT');
    expect((await running.exited).code).to.equal(0);
  });

  it('serve with invalid settings exits 2, lists every problem, and leaves the data folder alone', async function () {
    const dir = join(parent, 'data');
    const result = await kmipd(['serve', '--dir', dir, '--port', 'http'], { KMIPD_MAX_CONNECTIONS: '0' });
    expect(result.code).to.equal(2);
    expect(result.stderr).to.include('--port: "http" is not a whole number from 0 to 65535');
    expect(result.stderr).to.include('KMIPD_MAX_CONNECTIONS: "0" is not a whole number from 1 to 1000000');
    expect(await readdir(parent)).to.deep.equal([]);
  });

  it('a second signal exits at once, without waiting for connections to finish', async function () {
    const dir = join(parent, 'data');
    running = await serve(['--dir', dir, '--port', '0']);
    const client = await TestClient.connect(running.port, pkiFiles(dir));
    await client.call(discoverVersions());
    // A client with an answer it has not read never sees the server's end of stream, so it
    // never closes its side, and the server waits for it.
    client.socket.pause();
    client.send(discoverVersions());
    await eventually(() => client.socket.readableLength > 0, 5000, 'the unread answer');
    running.child.kill('SIGTERM');
    await running.line('stopping');
    running.child.kill('SIGTERM');
    const exit = await running.exited;
    expect(exit.code, JSON.stringify(running.lines)).to.equal(143);
    expect(running.lines.map((l) => l.msg)).to.include('second signal: exiting without finishing');
    client.destroy();
  });
});
