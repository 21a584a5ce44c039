/**
 * One measurement: prepare a workload on a server, open the connections, drive the load
 * while watching the server's CPU and memory, close. Shared by `npm run bench` and
 * `npm run bench:compare`.
 */
import { connect } from './bench-client.js';
import type { Target } from './bench-client.js';
import { openConnections, runLoad, shapeOf } from './bench-load.js';
import type { LoadOptions, LoadResult, Operation, Shape, Workload } from './bench-load.js';
import { watchResources } from './bench-process.js';
import type { ResourceUse } from './bench-process.js';

export interface Measurement extends LoadResult {
  readonly cpuPercent?: number;
  readonly peakRssMb?: number;
}

export interface Measured {
  readonly measurement: Measurement;
  /** The sizes of the operation's round trips (for the echo ceiling). */
  readonly shape: Shape;
}

/** Measure `workload` (or the prepared `operation`) against `target`; `pid` is the server's process, when known. */
export async function measure(target: Target, pid: number | undefined, workload: Workload | Operation, options: LoadOptions): Promise<Measured> {
  const setup = await connect(target, { requestTimeoutMs: 120_000 });
  let operation: Operation;
  let shape: Shape;
  try {
    operation = typeof workload === 'function' ? workload : await workload.prepare(setup);
    shape = await shapeOf(operation, setup);
  } finally {
    await setup.close();
  }
  const connections = await openConnections(target, options.connections);
  let watched: { result: LoadResult; use: ResourceUse | undefined };
  try {
    watched = await watchResources(pid, () => runLoad(connections, operation, options));
  } finally {
    await Promise.all(connections.map((c) => c.close()));
  }
  const { result, use } = watched;
  return {
    shape,
    measurement: {
      ...result,
      ...(use === undefined ? {} : { cpuPercent: use.cpuPercent, peakRssMb: use.peakRssBytes / (1024 * 1024) }),
    },
  };
}

const fixed = (n: number | undefined, digits: number): string => (n === undefined || Number.isNaN(n) ? '-' : n.toFixed(digits));

export const TABLE_HEADER = `${'workload'.padEnd(20)} ${'conns'.padStart(5)} ${'ops/s'.padStart(9)} ${'p50 ms'.padStart(8)} ${'p90 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'CPU %'.padStart(6)} ${'RSS MB'.padStart(7)} ${'errors'.padStart(6)}`;

export function tableRow(name: string, connections: number, m: Measurement): string {
  return [
    name.padEnd(20),
    String(connections).padStart(5),
    fixed(m.opsPerSecond, 0).padStart(9),
    fixed(m.p50Ms, 2).padStart(8),
    fixed(m.p90Ms, 2).padStart(8),
    fixed(m.p99Ms, 2).padStart(8),
    fixed(m.cpuPercent, 0).padStart(6),
    fixed(m.peakRssMb, 0).padStart(7),
    String(m.errors).padStart(6),
  ].join(' ');
}
