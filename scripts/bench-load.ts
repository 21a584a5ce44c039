/**
 * The workloads of `npm run bench` and `npm run bench:compare`, and the loop that drives
 * one: N persistent connections, each with `pipeline` operations in flight, for a fixed
 * time after a warm-up; every operation's latency is kept for the percentiles.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { connect } from './bench-client.js';
import type { BenchConnection, Target } from './bench-client.js';
import {
  activateRequest,
  batchGetRequest,
  createAes256,
  destroyRequest,
  encryptGcm,
  expectSuccess,
  getRequest,
  locateByName,
  registerSecretData,
  uniqueIdentifier,
  uniqueIdentifiers,
} from './bench-messages.js';
import { seedPrefix } from './bench-seed.js';

/** One operation of a workload, on one connection. */
export type Operation = (connection: BenchConnection) => Promise<void>;

export interface Workload {
  readonly name: string;
  readonly describe: string;
  /** Objects named `${seedPrefix(population)}<i>` that must exist (Locate). */
  readonly population?: number;
  /** Make what the operation needs (a key to Get, an active key to encrypt with). */
  prepare(setup: BenchConnection): Promise<Operation>;
}

async function createKey(setup: BenchConnection, activate = false): Promise<string> {
  const response = await setup.call(createAes256());
  expectSuccess(response, 'Create');
  const id = uniqueIdentifier(response);
  if (id === undefined) throw new Error('Create returned no Unique Identifier');
  if (activate) expectSuccess(await setup.call(activateRequest(id)), 'Activate');
  return id;
}

function locateAmong(population: number, name: string): Workload {
  return {
    name,
    describe: `Locate by Name among ${population.toLocaleString('en')} objects`,
    population,
    prepare: async () => async (connection) => {
      const wanted = `${seedPrefix(population)}${randomInt(population)}`;
      const response = await connection.call(locateByName(wanted));
      expectSuccess(response, 'Locate');
      const found = uniqueIdentifiers(response).length;
      if (found !== 1) throw new Error(`Locate of ${wanted} found ${found} objects, not 1`);
    },
  };
}

export const WORKLOADS: readonly Workload[] = [
  {
    name: 'get',
    describe: 'Get of one AES-256 key',
    prepare: async (setup) => {
      const request = getRequest(await createKey(setup));
      return async (connection) => expectSuccess(await connection.call(request), 'Get');
    },
  },
  {
    name: 'create',
    describe: 'Create of an AES-256 key',
    prepare: async () => {
      const request = createAes256();
      return async (connection) => expectSuccess(await connection.call(request), 'Create');
    },
  },
  {
    name: 'create-get-destroy',
    describe: 'Create, Get and Destroy of an AES-256 key (three round trips, one operation)',
    prepare: async () => {
      const create = createAes256();
      return async (connection) => {
        const response = await connection.call(create);
        expectSuccess(response, 'Create');
        const id = uniqueIdentifier(response) ?? '';
        expectSuccess(await connection.call(getRequest(id)), 'Get');
        expectSuccess(await connection.call(destroyRequest(id)), 'Destroy');
      };
    },
  },
  {
    name: 'register-secret',
    describe: 'Register of 96 bytes of Secret Data',
    prepare: async () => async (connection) => expectSuccess(await connection.call(registerSecretData(randomBytes(96))), 'Register'),
  },
  locateAmong(100_000, 'locate-100k'),
  locateAmong(1_000_000, 'locate-1m'),
  {
    name: 'encrypt-gcm',
    describe: 'Encrypt of 64 bytes with AES-256-GCM',
    prepare: async (setup) => {
      const id = await createKey(setup, true);
      const data = randomBytes(64);
      return async (connection) => expectSuccess(await connection.call(encryptGcm(id, data)), 'Encrypt');
    },
  },
  {
    name: 'batch-get-10',
    describe: 'One message of 10 Gets (one operation)',
    prepare: async (setup) => {
      const request = batchGetRequest(await createKey(setup), 10);
      return async (connection) => expectSuccess(await connection.call(request), 'Get batch', 10);
    },
  },
];

export function workloadsNamed(list: string): Workload[] {
  if (list === 'all') return [...WORKLOADS];
  return list.split(',').map((name) => {
    const found = WORKLOADS.find((w) => w.name === name.trim());
    if (found === undefined) throw new Error(`unknown workload ${name}: one of ${WORKLOADS.map((w) => w.name).join(', ')}, or all`);
    return found;
  });
}

// ---------------------------------------------------------------------------------------
// The same message sizes against the echo server

/** Request and response sizes of each round trip of one operation. */
export type Shape = readonly (readonly [request: number, response: number])[];

/** Run the operation once on a recording connection: the sizes of its round trips. */
export async function shapeOf(operation: Operation, connection: BenchConnection): Promise<Shape> {
  const shape: [number, number][] = [];
  const recording: BenchConnection = {
    call: async (request, timeoutMs) => {
      const response = await connection.call(request, timeoutMs);
      shape.push([request.length, response.length]);
      return response;
    },
    get open() {
      return connection.open;
    },
    close: () => connection.close(),
    destroy: () => connection.destroy(),
  };
  await operation(recording);
  return shape;
}

/** The echo server's operation: the same round trips, with the same sizes each way. */
export function echoOperation(shape: Shape): Operation {
  const frames = shape.map(([request, response]) => {
    const frame = Buffer.alloc(Math.max(12, request));
    frame.writeUInt32BE(0x42007801, 0);
    frame.writeUInt32BE(frame.length - 8, 4);
    frame.writeUInt32BE(response, 8);
    return { frame, response };
  });
  return async (connection) => {
    for (const { frame, response } of frames) {
      const answer = await connection.call(frame);
      if (answer.length !== Math.max(8, response)) throw new Error(`echo answered ${answer.length} bytes, not ${response}`);
    }
  };
}

// ---------------------------------------------------------------------------------------
// The loop

export interface LoadOptions {
  readonly connections: number;
  readonly seconds: number;
  /** Operations in flight on each connection. */
  readonly pipeline: number;
  readonly warmupSeconds: number;
}

export interface LoadResult {
  readonly operations: number;
  readonly seconds: number;
  readonly opsPerSecond: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly errors: number;
  readonly firstError?: string;
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

export async function openConnections(target: Target, count: number): Promise<BenchConnection[]> {
  const connections: BenchConnection[] = [];
  // A few handshakes at a time: a burst of hundreds can overrun a small server's backlog.
  for (let i = 0; i < count; i += 16) {
    connections.push(...(await Promise.all(Array.from({ length: Math.min(16, count - i) }, () => connect(target, { requestTimeoutMs: 120_000 })))));
  }
  return connections;
}

/** Drive `operation` on `connections` (already open) for the warm-up and then the measured time. */
export async function runLoad(connections: readonly BenchConnection[], operation: Operation, options: LoadOptions): Promise<LoadResult> {
  const latencies: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  const start = performance.now();
  const measureFrom = start + options.warmupSeconds * 1000;
  const stopAt = measureFrom + options.seconds * 1000;
  let lastCompletion = measureFrom;

  const loop = async (connection: BenchConnection): Promise<void> => {
    while (connection.open) {
      const began = performance.now();
      if (began >= stopAt) return;
      try {
        await operation(connection);
      } catch (error) {
        errors++;
        firstError ??= error instanceof Error ? error.message : String(error);
        if (!connection.open) return;
        continue;
      }
      const ended = performance.now();
      if (ended >= measureFrom) {
        latencies.push(ended - began);
        lastCompletion = Math.max(lastCompletion, ended);
      }
    }
  };
  await Promise.all(connections.flatMap((connection) => Array.from({ length: options.pipeline }, () => loop(connection))));
  const seconds = Math.max(lastCompletion, stopAt) === stopAt ? options.seconds : (lastCompletion - measureFrom) / 1000;
  const sorted = Float64Array.from(latencies).sort();
  return {
    operations: sorted.length,
    seconds,
    opsPerSecond: sorted.length / seconds,
    p50Ms: percentile(sorted, 50),
    p90Ms: percentile(sorted, 90),
    p99Ms: percentile(sorted, 99),
    maxMs: sorted.length === 0 ? Number.NaN : (sorted[sorted.length - 1] ?? Number.NaN),
    errors,
    ...(firstError === undefined ? {} : { firstError }),
  };
}
