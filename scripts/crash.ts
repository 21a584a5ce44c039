/**
 * The crash test (issue 7, Reliability): writers Register and Create keys under load
 * against a real kmipd process (SQLite), the process group is killed with SIGKILL at a
 * random moment, kmipd is restarted on the same data folder, and every object whose
 * creation was acknowledged must exist with the same key material. Repeated `cycles` times;
 * at the end every object acknowledged in any cycle is read once more.
 *
 * Used by test/reliability/crash.test.ts and `npm run crash-test -- --cycles 20`.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from './bench-client.js';
import type { BenchConnection, Target } from './bench-client.js';
import { createAes256, expectSuccess, getRequest, keyMaterial, registerSecretData, uniqueIdentifier } from './bench-messages.js';
import { startKmipd } from './bench-process.js';
import type { ServerProcess } from './bench-process.js';
import { clientTls } from './bench-seed.js';

export interface CrashOptions {
  readonly cycles: number;
  /** Concurrent writer connections. */
  readonly writers: number;
  /** The kill comes at a random moment between these, after the writers start (ms). */
  readonly minLoadMs: number;
  readonly maxLoadMs: number;
  /** Run kmipd from the sources (tsx) rather than dist/. */
  readonly tsx: boolean;
  /** kmipd processes (cluster workers share the SQLite file); default 1. */
  readonly workers?: number;
  readonly say?: (line: string) => void;
  /** Keep the data folder (for a look after a failure). */
  readonly keep?: boolean;
}

export interface CrashReport {
  readonly cycles: number;
  /** Objects whose creation the server acknowledged. */
  readonly acknowledged: number;
  /** Of those, objects whose key material the test knew before the kill (all Registers, Creates read back). */
  readonly withKnownMaterial: number;
  /** Requests in flight when the server died (their outcome is unknown, either is correct). */
  readonly inFlightAtKill: number;
  /** Acknowledged objects missing after a restart. */
  readonly lost: readonly string[];
  /** Objects whose key material changed. */
  readonly changed: readonly string[];
  readonly dir: string;
}

interface Written {
  readonly id: string;
  /** Undefined when the kill came between Create's answer and the Get that read the material. */
  material: Buffer | undefined;
  /** Whether the writer knew the material before the kill (a Register, or a Create read back). */
  knownAtWrite: boolean;
}

export async function runCrashTest(options: CrashOptions): Promise<CrashReport> {
  const say = options.say ?? ((): void => undefined);
  const work = await mkdtemp(join(tmpdir(), 'kmipd-crash-'));
  const dir = join(work, 'data');
  const written: Written[] = [];
  const lost: string[] = [];
  const changed: string[] = [];
  let inFlightAtKill = 0;
  let verifiedUpTo = 0;
  const start = (): Promise<ServerProcess> => startKmipd({ dir, workers: options.workers ?? 1, logLevel: 'warn', tsx: options.tsx, logFile: join(work, 'kmipd.log') });

  try {
    for (let cycle = 1; cycle <= options.cycles; cycle++) {
      const server = await start();
      const target: Target = { host: server.host, port: server.port, tls: await clientTls(dir) };
      // What the previous kill left: everything acknowledged before it is there, unchanged.
      await verify(target, written.slice(verifiedUpTo), lost, changed);
      verifiedUpTo = written.length;

      const before = written.length;
      const connections = await Promise.all(Array.from({ length: options.writers }, () => connect(target)));
      let killed = false;
      const writers = connections.map((connection, i) => writeUntilKilled(connection, i % 2 === 0 ? 'register' : 'create', written, () => killed));
      const loadMs = options.minLoadMs + Math.random() * (options.maxLoadMs - options.minLoadMs);
      await new Promise((resolve) => setTimeout(resolve, loadMs));
      killed = true;
      await killGroup(server);
      const outcomes = await Promise.all(writers);
      inFlightAtKill += outcomes.filter((o) => o === 'in flight').length;
      for (const connection of connections) connection.destroy();
      say(`cycle ${cycle}: killed after ${loadMs.toFixed(0)} ms, ${written.length - before} objects acknowledged in this cycle (${written.length} in all)`);
    }
    const server = await start();
    try {
      const target: Target = { host: server.host, port: server.port, tls: await clientTls(dir) };
      lost.length = 0;
      changed.length = 0;
      await verify(target, written, lost, changed);
    } finally {
      await server.stop();
    }
  } finally {
    if (options.keep !== true) await rm(work, { recursive: true, force: true });
  }
  return {
    cycles: options.cycles,
    acknowledged: written.length,
    withKnownMaterial: written.filter((w) => w.knownAtWrite).length,
    inFlightAtKill,
    lost,
    changed,
    dir,
  };
}

async function killGroup(server: ServerProcess): Promise<void> {
  try {
    process.kill(-server.pid, 'SIGKILL');
  } catch {
    // already gone
  }
  await server.stop(0);
}

/** Write until the connection dies; says whether a request was in flight when it did. */
async function writeUntilKilled(connection: BenchConnection, kind: 'register' | 'create', written: Written[], killed: () => boolean): Promise<'in flight' | 'idle'> {
  for (;;) {
    if (killed()) return 'idle';
    try {
      if (kind === 'register') {
        const material = randomBytes(32);
        const response = await connection.call(registerSecretData(material));
        expectSuccess(response, 'Register');
        written.push({ id: identifier(response), material, knownAtWrite: true });
      } else {
        const response = await connection.call(createAes256());
        expectSuccess(response, 'Create');
        const entry: Written = { id: identifier(response), material: undefined, knownAtWrite: false };
        written.push(entry);
        const got = await connection.call(getRequest(entry.id));
        expectSuccess(got, 'Get');
        entry.material = keyMaterial(got);
        entry.knownAtWrite = entry.material !== undefined;
      }
    } catch (error) {
      if (!connection.open) return 'in flight';
      throw error;
    }
  }
}

function identifier(response: Buffer): string {
  const id = uniqueIdentifier(response);
  if (id === undefined) throw new Error('an acknowledged creation without a Unique Identifier');
  return id;
}

async function verify(target: Target, objects: readonly Written[], lost: string[], changed: string[]): Promise<void> {
  if (objects.length === 0) return;
  const connections = await Promise.all(Array.from({ length: 8 }, () => connect(target)));
  let next = 0;
  try {
    await Promise.all(
      connections.map(async (connection) => {
        for (let i = next++; i < objects.length; i = next++) {
          const object = objects[i] as Written;
          const response = await connection.call(getRequest(object.id));
          try {
            expectSuccess(response, 'Get');
          } catch {
            lost.push(object.id);
            continue;
          }
          const material = keyMaterial(response);
          if (material === undefined || (object.material !== undefined && !material.equals(object.material))) changed.push(object.id);
          object.material ??= material;
        }
      }),
    );
  } finally {
    await Promise.all(connections.map((c) => c.close()));
  }
}
