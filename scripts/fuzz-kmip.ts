/**
 * Fuzzing kmipd over real connections (issue 7, Reliability): mutated valid requests and
 * random bytes, sent over many mutual-TLS connections to a real kmipd process. The server
 * must answer every message with a KMIP response or close that connection, never crash
 * nor hang, and a separate well-behaved client must be served throughout (checked every
 * `checkEvery` messages).
 *
 * Message i is a pure function of (seed, i), so any message can be replayed alone:
 * `npm run fuzz -- --seed S --replay I` prints it and the server's answer.
 */
import { connect as tlsConnect } from 'node:tls';
import type { TLSSocket } from 'node:tls';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Enum, Tag, TtlvFramer, decodeTtlv } from '../ttlv/index.js';
import { connect } from './bench-client.js';
import type { BenchConnection, ClientTls, Target } from './bench-client.js';
import {
  activateRequest,
  batchGetRequest,
  createAes256,
  destroyRequest,
  encryptGcm,
  getRequest,
  locateByName,
  registerSecretData,
  requestMessage,
  resultStatuses,
} from './bench-messages.js';
import { startKmipd } from './bench-process.js';
import type { ServerProcess } from './bench-process.js';
import { clientTls } from './bench-seed.js';

// ---------------------------------------------------------------------------------------
// Messages

/** mulberry32: a small, fast, seedable generator (the fuzz needs replay, not cryptography). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const fixed = (length: number, fill: number): Buffer => Buffer.alloc(length, fill);
const queryOperations = requestMessage([{ operation: Enum.Operation.Query, payload: [{ tag: Tag.QueryFunction, type: 'Enumeration', value: Enum.QueryFunction.QueryOperations }] }]);
const discover = requestMessage([{ operation: Enum.Operation.DiscoverVersions, payload: [] }]);

/** Valid requests of many shapes; `id` names a real key so that mutations reach deep code. */
export function corpus(id: string): Buffer[] {
  return [
    discover,
    queryOperations,
    createAes256(),
    createAes256('fuzz-name'),
    getRequest(id),
    getRequest('no-such-object'),
    batchGetRequest(id, 3),
    activateRequest(id),
    destroyRequest('no-such-object'),
    locateByName('fuzz-name'),
    registerSecretData(fixed(96, 0x5a)),
    registerSecretData(fixed(32, 0x11), 'fuzz-secret'),
    encryptGcm(id, fixed(64, 0x33), fixed(12, 0x01)),
  ];
}

export type Mutation = 'bits' | 'bytes' | 'length' | 'type' | 'truncate' | 'insert' | 'splice' | 'random-body' | 'random-stream' | 'valid';

export interface FuzzMessage {
  readonly bytes: Buffer;
  readonly mutation: Mutation;
  /** False when the outer header no longer matches the bytes: the sender ends its side after it. */
  readonly framed: boolean;
}

/** Message `index` of the run with `seed`. */
export function fuzzMessage(seed: number, index: number, messages: readonly Buffer[]): FuzzMessage {
  const random = prng((seed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0);
  const int = (n: number): number => Math.floor(random() * n);
  const pick = <T>(list: readonly T[]): T => list[int(list.length)] as T;
  const base = Buffer.from(pick(messages));
  // The framer reads a structure's length rounded up to 8 bytes: send that many.
  const reframe = (body: Buffer): Buffer => {
    const out = Buffer.concat([base.subarray(0, 8), body, Buffer.alloc((8 - (body.length % 8)) % 8)]);
    out.writeUInt32BE(body.length, 4);
    return out;
  };
  const roll = random();
  // Most mutations keep the outer frame valid, so the decoder and the handlers see them;
  // a few break the frame, and the server has to give up on that connection.
  if (roll < 0.02) return { bytes: base, mutation: 'valid', framed: true };
  if (roll < 0.27) {
    const out = Buffer.from(base);
    for (let n = 1 + int(8); n > 0; n--) {
      const at = 8 + int(out.length - 8);
      out[at] = (out[at] ?? 0) ^ (1 << int(8));
    }
    return { bytes: out, mutation: 'bits', framed: true };
  }
  if (roll < 0.42) {
    const out = Buffer.from(base);
    const interesting = [0x00, 0xff, 0x7f, 0x80, 0x01, 0x42, 0x08];
    for (let n = 1 + int(4); n > 0; n--) out[8 + int(out.length - 8)] = pick(interesting);
    return { bytes: out, mutation: 'bytes', framed: true };
  }
  if (roll < 0.57) {
    // An inner item's length: items start on 8-byte boundaries, the length 4 bytes in.
    const out = Buffer.from(base);
    const at = 8 * (1 + int((out.length - 8) / 8)) + 4;
    if (at + 4 <= out.length) out.writeUInt32BE(pick([0, 1, 7, 8, 9, 0x7fffffff, 0xffffffff, int(out.length * 2), int(0x10000)]), at);
    return { bytes: out, mutation: 'length', framed: true };
  }
  if (roll < 0.67) {
    const out = Buffer.from(base);
    const at = 8 * (1 + int((out.length - 8) / 8)) + 3;
    if (at < out.length) out[at] = int(16);
    return { bytes: out, mutation: 'type', framed: true };
  }
  if (roll < 0.75) return { bytes: reframe(base.subarray(8, 8 + int(base.length - 8))), mutation: 'truncate', framed: true };
  if (roll < 0.83) {
    const at = 8 + int(base.length - 8);
    const extra = Buffer.from(Array.from({ length: 1 + int(40) }, () => int(256)));
    return { bytes: reframe(Buffer.concat([base.subarray(8, at), extra, base.subarray(at)])), mutation: 'insert', framed: true };
  }
  if (roll < 0.91) {
    const other = pick(messages);
    const cut = 8 + int(base.length - 8);
    const from = 8 + int(other.length - 8);
    return { bytes: reframe(Buffer.concat([base.subarray(8, cut), other.subarray(from)])), mutation: 'splice', framed: true };
  }
  if (roll < 0.97) {
    const body = Buffer.from(Array.from({ length: int(300) }, () => int(256)));
    return { bytes: reframe(body), mutation: 'random-body', framed: true };
  }
  // Bytes with no valid frame at all (a random header, a truncated message, noise).
  const noise = Buffer.from(Array.from({ length: 1 + int(200) }, () => int(256)));
  return { bytes: noise, mutation: 'random-stream', framed: false };
}

// ---------------------------------------------------------------------------------------
// A raw connection: one message at a time, its answer or the close

type Outcome = 'answered' | 'closed';

class FuzzConnection {
  private readonly framer = new TtlvFramer({ maxMessageSize: 64 * 1024 * 1024 });
  private waiting: { resolve(outcome: { outcome: Outcome; frame?: Buffer }): void } | undefined;
  private closed = false;

  private constructor(private readonly socket: TLSSocket) {
    socket.on('data', (chunk: Buffer) => {
      let frames: Buffer[];
      try {
        frames = this.framer.push(chunk);
      } catch {
        frames = [];
        this.socket.destroy();
      }
      for (const frame of frames) {
        const waiting = this.waiting;
        this.waiting = undefined;
        waiting?.resolve({ outcome: 'answered', frame: Buffer.from(frame) });
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.closed = true;
      const waiting = this.waiting;
      this.waiting = undefined;
      waiting?.resolve({ outcome: 'closed' });
    });
  }

  static open(target: Target): Promise<FuzzConnection> {
    return new Promise((resolve, reject) => {
      const socket = tlsConnect({ host: target.host, port: target.port, cert: target.tls.cert, key: target.tls.key, ca: target.tls.ca });
      socket.once('secureConnect', () => {
        socket.setNoDelay(true);
        resolve(new FuzzConnection(socket));
      });
      socket.once('error', reject);
    });
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  /** Send one message; its answer, or the close, within `timeoutMs` (else: a hang). */
  exchange(message: FuzzMessage, timeoutMs: number): Promise<{ outcome: Outcome | 'hang'; frame?: Buffer }> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiting = undefined;
        resolve({ outcome: 'hang' });
      }, timeoutMs);
      this.waiting = {
        resolve: (result) => {
          clearTimeout(timer);
          resolve(result);
        },
      };
      this.socket.write(message.bytes);
      // Bytes that frame nothing: end our side, so the server sees that no more are coming.
      if (!message.framed) this.socket.end();
    });
  }

  destroy(): void {
    this.socket.destroy();
  }
}

// ---------------------------------------------------------------------------------------
// The run

export interface FuzzOptions {
  readonly messages: number;
  readonly seed: number;
  readonly connections: number;
  /** Check the well-behaved client after every this many messages. */
  readonly checkEvery: number;
  /** An answer later than this is a hang. */
  readonly hangMs: number;
  readonly tsx: boolean;
  readonly say?: (line: string) => void;
  /** Progress lines every this many messages (0: none). */
  readonly progressEvery?: number;
  /** Only these message indexes (replay). */
  readonly only?: readonly number[];
}

export interface FuzzReport {
  readonly messages: number;
  readonly seconds: number;
  readonly answered: number;
  /** Answers whose every batch item failed (a KMIP error), among `answered`. */
  readonly kmipErrors: number;
  /** Answers with the General Failure reason: a handler threw something unexpected. */
  readonly generalFailures: number;
  readonly generalFailureSamples: readonly number[];
  readonly closed: number;
  readonly hangs: readonly number[];
  /** Answers that are not a decodable Response Message. */
  readonly badAnswers: readonly number[];
  readonly healthChecks: number;
  readonly healthFailures: readonly string[];
  /** Set when the server process died. */
  readonly serverExit?: string;
  /** Log lines of level error the server wrote. */
  readonly serverErrors: number;
  readonly byMutation: Readonly<Record<string, number>>;
}

const GENERAL_FAILURE = Enum.ResultReason.GeneralFailure;

export async function runFuzz(options: FuzzOptions): Promise<FuzzReport> {
  const say = options.say ?? ((): void => undefined);
  const work = await mkdtemp(join(tmpdir(), 'kmipd-fuzz-'));
  const dir = join(work, 'data');
  const logFile = join(work, 'kmipd.log');
  let server: ServerProcess | undefined;
  let serverExit: string | undefined;
  try {
    server = await startKmipd({ dir, workers: 1, logLevel: 'warn', tsx: options.tsx, logFile });
    const tls: ClientTls = await clientTls(dir);
    const target: Target = { host: server.host, port: server.port, tls };
    const healthy: BenchConnection = await connect(target, { requestTimeoutMs: 5000 });
    const keyResponse = await healthy.call(createAes256());
    const keyId = /[0-9a-f-]{36}/.exec(keyResponse.toString('latin1'))?.[0] ?? 'missing';
    await healthy.call(activateRequest(keyId));
    const messages = corpus(keyId);

    const indexes = options.only ?? Array.from({ length: options.messages }, (_, i) => i);
    let next = 0;
    let answered = 0;
    let kmipErrors = 0;
    let generalFailures = 0;
    let closed = 0;
    const generalFailureSamples: number[] = [];
    const hangs: number[] = [];
    const badAnswers: number[] = [];
    const healthFailures: string[] = [];
    const byMutation: Record<string, number> = {};
    let healthChecks = 0;
    let nextCheck = options.checkEvery;
    let checking: Promise<void> = Promise.resolve();
    const started = Date.now();
    const alive = (): boolean => {
      const pid = server?.pid;
      if (pid === undefined) return false;
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };

    const check = async (): Promise<void> => {
      healthChecks++;
      try {
        const response = await healthy.call(discover, 5000);
        if (resultStatuses(response)[0] !== Enum.ResultStatus.Success) healthFailures.push(`check ${healthChecks}: DiscoverVersions failed`);
      } catch (error) {
        healthFailures.push(`check ${healthChecks}: ${(error as Error).message}`);
      }
    };

    const worker = async (): Promise<void> => {
      let connection: FuzzConnection | undefined;
      for (let position = next++; position < indexes.length; position = next++) {
        if (healthFailures.length > 0 || hangs.length > 0 || serverExit !== undefined) return;
        const index = indexes[position] ?? 0;
        if (connection === undefined || !connection.isOpen) connection = await FuzzConnection.open(target);
        const message = fuzzMessage(options.seed, index, messages);
        byMutation[message.mutation] = (byMutation[message.mutation] ?? 0) + 1;
        const result = await connection.exchange(message, options.hangMs);
        if (result.outcome === 'hang') {
          hangs.push(index);
          connection.destroy();
          connection = undefined;
        } else if (result.outcome === 'closed') {
          closed++;
          connection = undefined;
        } else {
          answered++;
          classify(result.frame as Buffer, index);
          // The connection is left open after an answer; bytes that framed nothing close it.
          if (!message.framed) {
            connection.destroy();
            connection = undefined;
          }
        }
        if (options.only !== undefined) say(`message ${index} (${message.mutation}, ${message.bytes.length} bytes): ${message.bytes.toString('hex')}\n  -> ${result.outcome}${result.frame === undefined ? '' : `: ${result.frame.toString('hex')}`}`);
        const done = answered + closed + hangs.length;
        if (done >= nextCheck) {
          nextCheck += options.checkEvery;
          checking = checking.then(check);
          if (!alive()) serverExit = 'the server process is gone';
        }
        if (options.progressEvery !== undefined && options.progressEvery > 0 && done % options.progressEvery === 0) {
          const seconds = (Date.now() - started) / 1000;
          say(`  ${done.toLocaleString('en')} messages, ${(done / seconds).toFixed(0)}/s: ${answered} answered (${generalFailures} General Failure), ${closed} closed, ${healthChecks} health checks`);
        }
      }
      connection?.destroy();
    };

    const classify = (frame: Buffer, index: number): void => {
      try {
        const response = decodeTtlv(frame);
        if (response.tag !== Tag.ResponseMessage || response.type !== 'Structure') throw new Error('not a Response Message');
      } catch {
        badAnswers.push(index);
        return;
      }
      const statuses = resultStatuses(frame);
      if (statuses.length > 0 && statuses.every((s) => s !== Enum.ResultStatus.Success)) kmipErrors++;
      if (reasons(frame).includes(GENERAL_FAILURE)) {
        generalFailures++;
        if (generalFailureSamples.length < 20) generalFailureSamples.push(index);
      }
    };

    await Promise.all(Array.from({ length: options.connections }, () => worker()));
    await checking;
    await check();
    await healthy.close();
    if (!alive()) serverExit ??= 'the server process is gone';
    const log = await readFile(logFile, 'utf8').catch(() => '');
    const serverErrors = log.split('\n').filter((line) => line.includes('"level":"error"')).length;
    return {
      messages: answered + closed + hangs.length,
      seconds: (Date.now() - started) / 1000,
      answered,
      kmipErrors,
      generalFailures,
      generalFailureSamples,
      closed,
      hangs,
      badAnswers,
      healthChecks,
      healthFailures,
      ...(serverExit === undefined ? {} : { serverExit }),
      serverErrors,
      byMutation,
    };
  } finally {
    await server?.stop();
    await rm(work, { recursive: true, force: true });
  }
}

/** Every Result Reason in a response. */
function reasons(frame: Buffer): number[] {
  const found: number[] = [];
  const header = Buffer.from([(Tag.ResultReason >> 16) & 0xff, (Tag.ResultReason >> 8) & 0xff, Tag.ResultReason & 0xff, 0x05]);
  for (let at = frame.indexOf(header); at >= 0 && at + 12 <= frame.length; at = frame.indexOf(header, at + 4)) found.push(frame.readUInt32BE(at + 8));
  return found;
}
