/**
 * Running the real `kmip` command in a child process (node with the tsx loader, the way the
 * package's bin runs it), against a real kmipd started in the test process on a free port,
 * with a profile file that names its address and the data folder's admin certificates.
 */
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { expect } from 'chai';
import { jsonLogger } from '../../lib/log.js';
import { configWith, startServer } from '../../server/index.js';
import type { RunningServer } from '../../server/index.js';
import { LogCapture, removeDir, tempDir } from '../server/helpers.js';
import { projectRoot } from '../support/paths.js';

const CLI = path.join(projectRoot, 'server', 'kmip-cli.ts');
/** The tsx loader by path, so the command also runs from a folder outside the project. */
const TSX = import.meta.resolve('tsx');

export interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** The parent's KMIP_*, KMIPD_* and XDG_CONFIG_HOME must not leak into the command under test. */
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) if (!/^KMIPD?_/.test(name) && name !== 'XDG_CONFIG_HOME') env[name] = value;
  return { ...env, ...extra };
}

/** Asynchronous, so the server in this process keeps answering while the command runs. */
export function kmipIn(cwd: string, args: readonly string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', TSX, CLI, ...args], { cwd, env: cleanEnv(env), timeout: 30_000 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1, stdout, stderr });
    });
  });
}

export const lines = (text: string): string[] => text.split('\n').filter((line) => line !== '');

/** One kmipd for a test file and `kmip` bound to it through a profile file. */
export interface CliServer {
  readonly parent: string;
  readonly dataDir: string;
  readonly server: RunningServer;
  /** The profile file (paths relative to its folder, as users write them). */
  readonly profile: string;
  /** Variables every run gets: an XDG_CONFIG_HOME with no default profile. */
  readonly env: Record<string, string>;
  /** kmip --profile PROFILE ARGS. */
  kmip(...args: string[]): Promise<Run>;
  /** Exit code 0 (else the test fails showing stderr): its stdout. */
  ok(...args: string[]): Promise<string>;
  /** kmip --json ARGS, parsed. */
  json<T>(...args: string[]): Promise<T>;
  close(): Promise<void>;
}

export async function startCliServer(prefix: string): Promise<CliServer> {
  const parent = await tempDir(prefix);
  const dataDir = path.join(parent, 'data');
  const server = await startServer(configWith({ dir: dataDir, host: '127.0.0.1', port: 0 }), { log: jsonLogger(new LogCapture(), 'info') });
  const profileDir = path.join(parent, 'config', 'kmip');
  await mkdir(profileDir, { recursive: true });
  const profile = path.join(profileDir, 'profile.json');
  const certs = path.relative(profileDir, path.join(dataDir, 'certs'));
  await writeFile(profile, JSON.stringify({ host: '127.0.0.1', port: server.port, cert: `${certs}/admin.pem`, key: `${certs}/admin-key.pem`, ca: `${certs}/ca.pem` }));
  const env = { XDG_CONFIG_HOME: path.join(parent, 'elsewhere') };
  const kmip = (...args: string[]): Promise<Run> => kmipIn(parent, ['--profile', profile, ...args], env);
  const ok = async (...args: string[]): Promise<string> => {
    const result = await kmip(...args);
    expect(result.code, `kmip ${args.join(' ')}: ${result.stderr}`).to.equal(0);
    return result.stdout;
  };
  return {
    parent,
    dataDir,
    server,
    profile,
    env,
    kmip,
    ok,
    json: async <T>(...args: string[]): Promise<T> => JSON.parse(await ok('--json', ...args)) as T,
    close: async () => {
      await server.close();
      await removeDir(parent);
    },
  };
}
