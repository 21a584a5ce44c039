/**
 * The PKCS#11 worker thread: every call into the module happens here, because each one
 * blocks. Requests come from lib/crypto/pkcs11/kek.ts (see protocol.ts). Wraps and unwraps
 * in flight advance together: each round is one AES-ECB call on the token carrying the next
 * block of every job, and the thread yields between slices so new requests join the batch.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { MessagePort } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { KekError } from '../kek.js';
import { Pkcs11KekError } from './errors.js';
import type { Operations, OperationName, Reply, Request, WireError, WorkerConfig } from './protocol.js';
import { BLOCK, UnwrapJob, WrapJob } from './rfc5649.js';
import type { BlockJob } from './rfc5649.js';
import { TokenService } from './token.js';
import { ResidentSessions, isResidentRequest } from './resident-token.js';
import type { EcbChannel, TokenKek } from './token.js';

/** Longest run of rounds before the thread looks at its message queue again. */
const SLICE_MS = 5;

if (parentPort === null) throw new Error('lib/crypto/pkcs11/worker runs only as a worker thread');
const port: MessagePort = parentPort;
const config = readConfig(workerData);

interface QueuedJob {
  readonly requestId: number;
  readonly job: BlockJob;
}

/** The jobs of one KEK in one direction, advanced one block each per round. */
class Pipe {
  #jobs: QueuedJob[] = [];

  constructor(private readonly channel: EcbChannel) {}

  get busy(): boolean {
    return this.#jobs.length > 0;
  }

  add(requestId: number, job: BlockJob): void {
    this.#jobs.push({ requestId, job });
  }

  round(): void {
    const jobs = this.#jobs;
    const input = Buffer.alloc(BLOCK * jobs.length);
    jobs.forEach(({ job }, k) => job.nextInput(input, BLOCK * k));
    let output: Buffer;
    try {
      output = this.channel.run(input);
    } catch (error) {
      this.failAll(error);
      return;
    } finally {
      input.fill(0);
    }
    const remaining: QueuedJob[] = [];
    jobs.forEach((queued, k) => {
      queued.job.takeOutput(output, BLOCK * k);
      if (queued.job.done) finish(queued);
      else remaining.push(queued);
    });
    output.fill(0);
    this.#jobs = remaining;
  }

  failAll(error: unknown): void {
    for (const { requestId, job } of this.#jobs) {
      job.wipe();
      replyError(requestId, error);
    }
    this.#jobs = [];
  }
}

interface OpenKek {
  readonly token: TokenKek;
  readonly wraps: Pipe;
  readonly unwraps: Pipe;
}

let service: TokenService | undefined;
const keks = new Map<number, OpenKek>();
const residents = new ResidentSessions();
let nextHandle = 1;
let pumping = false;

port.on('message', (request: Request) => {
  try {
    handle(request);
  } catch (error) {
    replyError(request.id, error);
  }
});

function handle(request: Request): void {
  if (isResidentRequest(request)) {
    // Keys held in the HSM and the module's information (resident-token.ts).
    service ??= TokenService.load(config.modulePath);
    const outcome = residents.run(service, request);
    if ('value' in outcome && outcome.value instanceof Uint8Array && outcome.value.buffer instanceof ArrayBuffer) {
      port.postMessage({ id: request.id, ok: true, result: outcome }, [outcome.value.buffer]);
    } else {
      port.postMessage({ id: request.id, ok: true, result: outcome });
    }
    return;
  }
  switch (request.op) {
    case 'open': {
      service ??= TokenService.load(config.modulePath);
      const token = service.open(request);
      const handle = nextHandle;
      nextHandle += 1;
      keks.set(handle, { token, wraps: new Pipe(token.encrypt), unwraps: new Pipe(token.decrypt) });
      reply<'open'>(request.id, { handle, opened: token.opened });
      return;
    }
    case 'wrap': {
      const kek = lookup(request.handle);
      try {
        kek.wraps.add(request.id, new WrapJob(request.data));
      } finally {
        request.data.fill(0); // the job holds its own copy of the plaintext
      }
      schedule();
      return;
    }
    case 'unwrap': {
      lookup(request.handle).unwraps.add(request.id, new UnwrapJob(request.data));
      schedule();
      return;
    }
    case 'close': {
      const kek = keks.get(request.handle);
      if (kek !== undefined) {
        keks.delete(request.handle);
        closeKek(kek);
      }
      reply<'close'>(request.id, null);
      return;
    }
    case 'shutdown': {
      residents.closeAll(service);
      for (const kek of keks.values()) closeKek(kek);
      keks.clear();
      service?.finalize();
      service = undefined;
      reply<'shutdown'>(request.id, null);
      return;
    }
  }
}

function lookup(handle: number): OpenKek {
  const kek = keks.get(handle);
  if (kek === undefined) throw new Pkcs11KekError('CLOSED', 'the PKCS#11 KEK is closed');
  return kek;
}

function closeKek(kek: OpenKek): void {
  const closed = new Pkcs11KekError('CLOSED', 'the PKCS#11 KEK was closed while the request was in flight');
  kek.wraps.failAll(closed);
  kek.unwraps.failAll(closed);
  service?.close(kek.token);
}

function schedule(): void {
  if (pumping) return;
  pumping = true;
  setImmediate(pump);
}

/** Run rounds for up to SLICE_MS, then let queued messages in and continue. */
function pump(): void {
  const until = performance.now() + SLICE_MS;
  for (;;) {
    let worked = false;
    for (const kek of keks.values()) {
      if (kek.wraps.busy) {
        kek.wraps.round();
        worked = true;
      }
      if (kek.unwraps.busy) {
        kek.unwraps.round();
        worked = true;
      }
    }
    if (!worked) {
      pumping = false;
      return;
    }
    if (performance.now() >= until) break;
  }
  setImmediate(pump);
}

function finish({ requestId, job }: QueuedJob): void {
  try {
    reply<'wrap' | 'unwrap'>(requestId, job.result());
  } catch (error) {
    replyError(requestId, error);
  }
}

function reply<K extends OperationName>(id: number, result: Operations[K]['result']): void {
  const message: Reply = { id, ok: true, result };
  const transfer = result instanceof Uint8Array && result.buffer instanceof ArrayBuffer ? [result.buffer] : [];
  port.postMessage(message, transfer);
}

function replyError(id: number, error: unknown): void {
  const message: Reply = { id, ok: false, error: toWire(error) };
  port.postMessage(message);
}

function toWire(error: unknown): WireError {
  if (error instanceof Pkcs11KekError) return { kind: 'pkcs11', reason: error.reason, message: error.message };
  if (error instanceof KekError) return { kind: 'kek', code: error.code, message: error.message };
  const detail = error instanceof Error ? error.message : String(error);
  return { kind: 'pkcs11', reason: 'DEVICE_ERROR', message: `PKCS#11 worker: ${detail}` };
}

function readConfig(data: unknown): WorkerConfig {
  if (typeof data === 'object' && data !== null && 'modulePath' in data && typeof data.modulePath === 'string') {
    return { modulePath: data.modulePath };
  }
  throw new Error('the PKCS#11 worker needs workerData { modulePath }');
}
