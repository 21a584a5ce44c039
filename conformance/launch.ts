/**
 * Starting a kmipd of our own to replay against:
 *
 *   KMIPD_INTEROP_TESTING=true kmipd serve --dir DIR --port 0 --host 127.0.0.1 --https true --https-port 0
 *
 * initialises DIR on first start (DIR/certs/ca.pem, admin.pem, admin-key.pem, ...) and
 * prints JSON log lines on stdout, one of which is
 * `{"msg":"listening","host":"127.0.0.1","port":NNNNN,"httpsPort":MMMMM,...}`: that line gives
 * the ports (KMIP over TLS, and KMIP over HTTPS for the MSGENC cases).
 * SIGTERM stops it. KMIPD_INTEROP_TESTING offers the Interop operation the 2.x cases begin
 * and end with, which KMIP 2.1 section 6.1.26 forbids in a production server.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { ClientTlsOptions } from '../lib/client/index.js';

/** The repository root (this file is conformance/launch.ts). */
export const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export type KmipdBuild = 'source' | 'built';

export interface LaunchOptions {
  /** Data folder; a new temporary one (removed on stop) when absent. */
  readonly dir?: string;
  /** Run server/cli.ts through tsx ('source', the default) or dist/server/cli.js ('built'). */
  readonly build?: KmipdBuild;
  /** Another command in place of kmipd (its arguments follow: serve --dir ...). */
  readonly command?: readonly string[];
  readonly host?: string;
  /** Time allowed until the "listening" line, ms. Default 60 s. */
  readonly startTimeoutMs?: number;
  /** Every line the server prints, stdout and stderr. */
  readonly onLog?: (line: string) => void;
  /** More `serve` arguments (the PKCS#11 settings of an HSM for the PKCS11 cases). */
  readonly args?: readonly string[];
  /** More environment variables (SOFTHSM2_CONF of a SoftHSM2 token). */
  readonly env?: NodeJS.ProcessEnv;
}

export interface LaunchedServer {
  readonly host: string;
  readonly port: number;
  /** KMIP over HTTPS, when the server said it listens there. */
  readonly httpsPort: number | undefined;
  readonly dir: string;
  /** The admin client certificate and the CA from DIR/certs. */
  readonly tls: ClientTlsOptions;
  /** SIGTERM, then SIGKILL after 10 s; removes a temporary data folder. */
  stop(): Promise<void>;
}

const LOG_TAIL = 40;

export function kmipdCommand(build: KmipdBuild = 'source'): string[] {
  if (build === 'built') return [process.execPath, path.join(projectRoot, 'dist', 'server', 'cli.js')];
  return [process.execPath, '--import', 'tsx', path.join(projectRoot, 'server', 'cli.ts')];
}

export async function launchKmipd(options: LaunchOptions = {}): Promise<LaunchedServer> {
  const host = options.host ?? '127.0.0.1';
  const temporary = options.dir === undefined;
  const dir = options.dir ?? (await mkdtemp(path.join(tmpdir(), 'kmipd-conformance-')));
  const [command, ...prefix] = options.command ?? kmipdCommand(options.build);
  if (command === undefined) throw new Error('no kmipd command');
  const entry = prefix[prefix.length - 1];
  if (options.command === undefined && entry !== undefined && !existsSync(entry)) throw new Error(`${entry} does not exist${options.build === 'built' ? ' (run npm run build)' : ''}`);

  const child = spawn(command, [...prefix, 'serve', '--dir', dir, '--port', '0', '--host', host, '--https', 'true', '--https-port', '0', ...(options.args ?? [])], {
    cwd: projectRoot,
    env: { ...process.env, ...options.env, KMIPD_INTEROP_TESTING: 'true' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const tail: string[] = [];
  const log = (line: string): void => {
    tail.push(line);
    if (tail.length > LOG_TAIL) tail.shift();
    options.onLog?.(line);
  };
  // 'close', not 'exit': by then the output has been read, so an error can quote it.
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  createInterface({ input: child.stderr as NodeJS.ReadableStream }).on('line', log);

  const stop = async (): Promise<void> => {
    await terminate(child, exited);
    if (temporary) await rm(dir, { recursive: true, force: true });
  };

  let port: number;
  let httpsPort: number | undefined;
  try {
    ({ port, httpsPort } = await waitForListening(child, exited, log, options.startTimeoutMs ?? 60_000));
  } catch (error) {
    await stop();
    const output = tail.length > 0 ? `\n${tail.map((line) => `  | ${line}`).join('\n')}` : '';
    throw new Error(`kmipd did not start: ${error instanceof Error ? error.message : String(error)}${output}`);
  }

  try {
    const certs = path.join(dir, 'certs');
    const [ca, cert, key] = await Promise.all(['ca.pem', 'admin.pem', 'admin-key.pem'].map((name) => readFile(path.join(certs, name))));
    return { host, port, httpsPort, dir, tls: { ca: ca as Buffer, cert: cert as Buffer, key: key as Buffer }, stop };
  } catch (error) {
    await stop();
    throw new Error(`kmipd started but its certificates are not readable: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** The ports of the first `{"msg":"listening","port":N}` line on stdout. */
function waitForListening(child: ChildProcess, exited: Promise<number | null>, log: (line: string) => void, timeoutMs: number): Promise<{ port: number; httpsPort: number | undefined }> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const settle = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      fn();
    };
    const timer = setTimeout(() => settle(() => reject(new Error(`no "listening" log line within ${timeoutMs} ms`))), timeoutMs);
    void exited.then((code) => settle(() => reject(new Error(`it exited with code ${String(code)}`))));
    child.once('error', (error) => settle(() => reject(error)));
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      log(line);
      const port = listeningPort(line);
      if (port !== undefined) settle(() => resolve({ port, httpsPort: listeningPort(line, 'httpsPort') }));
    });
  });
}

/** The port (or another field: `httpsPort`) of a `{"msg":"listening",...,"port":N}` log line. */
export function listeningPort(line: string, field = 'port'): number | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const record: unknown = JSON.parse(line);
    if (typeof record !== 'object' || record === null) return undefined;
    const { msg, [field]: port } = record as Record<string, unknown>;
    return msg === 'listening' && typeof port === 'number' && Number.isInteger(port) && port > 0 ? port : undefined;
  } catch {
    return undefined;
  }
}

async function terminate(child: ChildProcess, exited: Promise<number | null>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}
