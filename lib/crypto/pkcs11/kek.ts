/**
 * A key-encryption key that never leaves an HSM (DESIGN.md decision 3): an AES-256 secret
 * key in a PKCS#11 token, found by label. Values are wrapped in exactly the RFC 5649 format
 * of FileKek, computed with AES-ECB on the token (see rfc5649.ts), so a store does not care
 * which kind of KEK wrapped it.
 *
 * PKCS#11 calls block, so they all run in one worker thread per module (worker.ts); this
 * side only posts messages. The worker is shared by every KEK of the process that uses the
 * same module, because a PKCS#11 library's state (initialisation, logins) is per process.
 */
import { createRequire } from 'node:module';
import { resolve as resolvePath } from 'node:path';
import { pathToFileURL } from 'node:url';
import { inspect } from 'node:util';
import { Worker } from 'node:worker_threads';
import { KekError } from '../kek.js';
import type { KeyEncryptionKey } from '../kek.js';
import { Pkcs11KekError } from './errors.js';
import type { OpenedKek, OperationName, Operations, Reply, WireError, WorkerConfig } from './protocol.js';
import { checkUnwrapInput, checkWrapInput } from './rfc5649.js';

export interface Pkcs11KekOptions {
  /** Path of the PKCS#11 library, e.g. /usr/lib/softhsm/libsofthsm2.so. */
  readonly module: string;
  /** The token's label (CKA_LABEL of the token, at most 32 bytes); slot numbers are not stable. */
  readonly tokenLabel: string;
  /** The user PIN. */
  readonly pin: string;
  /** CKA_LABEL of the KEK object. */
  readonly keyLabel: string;
  /** Generate the KEK in the token (for `kmipd init`); refused when the label is taken. */
  readonly create?: boolean;
  /**
   * Accept a key whose value can leave the token (CKA_EXTRACTABLE true or CKA_SENSITIVE
   * false). Off by default; tests use it to compare with a software wrap of the same key.
   */
  readonly allowExtractable?: boolean;
  /** Wrap and unwrap requests of this KEK in flight at once; more are refused (QUEUE_FULL). */
  readonly maxPending?: number;
}

export const DEFAULT_MAX_PENDING = 1024;

/** What the KEK is, for logs and `kmipd` status output. Nothing secret. */
export type Pkcs11KekInfo = Omit<OpenedKek, 'id'>;

export class Pkcs11Kek implements KeyEncryptionKey {
  readonly id: string;
  readonly info: Pkcs11KekInfo;
  readonly #host: WorkerHost;
  readonly #handle: number;
  readonly #maxPending: number;
  #inFlight = 0;
  #drained: (() => void)[] = [];
  #closing: Promise<void> | undefined;

  /** Use openPkcs11Kek. */
  constructor(host: WorkerHost, handle: number, opened: OpenedKek, maxPending: number) {
    const { id, ...info } = opened;
    this.id = id;
    this.info = info;
    this.#host = host;
    this.#handle = handle;
    this.#maxPending = maxPending;
  }

  async wrap(plain: Buffer): Promise<Buffer> {
    checkWrapInput(plain.length);
    this.#admit();
    // A copy in an ArrayBuffer of its own, handed over to the worker (which zeroes it).
    const data = new Uint8Array(plain);
    try {
      const wrapped = await this.#track(this.#host.call('wrap', { handle: this.#handle, data }, [data.buffer]));
      return Buffer.from(wrapped.buffer, wrapped.byteOffset, wrapped.byteLength);
    } catch (error) {
      data.fill(0); // still ours if it was never handed over (a detached copy is already empty)
      throw error;
    }
  }

  async unwrap(wrapped: Buffer): Promise<Buffer> {
    checkUnwrapInput(wrapped.length);
    this.#admit();
    const data = new Uint8Array(wrapped);
    try {
      const plain = await this.#track(this.#host.call('unwrap', { handle: this.#handle, data }, [data.buffer]));
      return Buffer.from(plain.buffer, plain.byteOffset, plain.byteLength);
    } catch (error) {
      if (error instanceof KekError && error.code === 'KEK_UNWRAP_FAILED') {
        throw new KekError('KEK_UNWRAP_FAILED', `${error.message} (KEK ${this.id})`, { cause: error });
      }
      throw error;
    }
  }

  /**
   * Refuse new requests, let those in flight finish, then close the sessions (logging out
   * when no other KEK of this process uses the token) and, with the last KEK of the module,
   * finalise the module and end the worker. Calling it again returns the same promise.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    if (this.#inFlight > 0) await new Promise<void>((resolve) => this.#drained.push(resolve));
    try {
      // A worker that already died holds nothing of this KEK any more.
      if (!this.#host.failed) await this.#host.call('close', { handle: this.#handle });
    } finally {
      await releaseHost(this.#host);
    }
  }

  #admit(): void {
    if (this.#closing !== undefined) throw new Pkcs11KekError('CLOSED', `the PKCS#11 KEK ${this.id} is closed`);
    if (this.#inFlight >= this.#maxPending) {
      throw new Pkcs11KekError('QUEUE_FULL', `the PKCS#11 KEK ${this.id} already has ${this.#inFlight} requests in flight (maxPending ${this.#maxPending})`);
    }
  }

  async #track<T>(request: Promise<T>): Promise<T> {
    this.#inFlight += 1;
    try {
      return await request;
    } finally {
      this.#inFlight -= 1;
      if (this.#inFlight === 0) for (const resolve of this.#drained.splice(0)) resolve();
    }
  }

  toString(): string {
    return `Pkcs11Kek<${this.id} key "${this.info.key.label}" on token "${this.info.token.label}">`;
  }

  toJSON(): string {
    return this.toString();
  }

  [inspect.custom](): string {
    return this.toString();
  }
}

/** Open the KEK labelled `keyLabel` in the token labelled `tokenLabel`, or create it (`create`). */
export async function openPkcs11Kek(options: Pkcs11KekOptions): Promise<Pkcs11Kek> {
  const maxPending = options.maxPending ?? DEFAULT_MAX_PENDING;
  checkOptions(options, maxPending);
  const host = await acquireHost(resolvePath(options.module));
  try {
    const { handle, opened } = await host.call('open', {
      tokenLabel: options.tokenLabel,
      pin: options.pin,
      keyLabel: options.keyLabel,
      create: options.create ?? false,
      allowExtractable: options.allowExtractable ?? false,
    });
    return new Pkcs11Kek(host, handle, opened, maxPending);
  } catch (error) {
    await releaseHost(host);
    throw error;
  }
}

function checkOptions(options: Pkcs11KekOptions, maxPending: number): void {
  const problems: string[] = [];
  if (options.module.length === 0) problems.push('module (the PKCS#11 library path) is empty');
  if (options.tokenLabel.length === 0) problems.push('tokenLabel is empty');
  if (Buffer.byteLength(options.tokenLabel, 'utf8') > 32) problems.push('tokenLabel is longer than 32 bytes, the most a PKCS#11 token label holds');
  if (options.keyLabel.length === 0) problems.push('keyLabel is empty');
  if (options.pin.length === 0) problems.push('pin is empty');
  if (!Number.isSafeInteger(maxPending) || maxPending < 1) problems.push(`maxPending must be a positive integer, not ${maxPending}`);
  if (problems.length > 0) throw new TypeError(`openPkcs11Kek: ${problems.join('; ')}`);
}

// ---------------------------------------------------------------------------------------
// The worker thread, one per module path

interface Pending {
  // Method syntax: each pending call resolves with the result type of its own operation.
  resolve(value: Operations[OperationName]['result']): void;
  reject(error: Error): void;
}

/**
 * The worker's source sits beside this file: worker.js once built. Under tsx (tests, dev)
 * it is worker.ts, and a worker inherits no loader (nor, on Node 20, applies `--import`
 * from execArgv), so a bootstrap registers tsx in the thread first, through tsx's ESM API:
 * its CommonJS build and its `--import` entry both fail to register inside a worker.
 */
function startWorker(workerData: WorkerConfig): Worker {
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./worker.js', import.meta.url), { workerData });
  // Path of tsx 4's `tsx/esm/api` import entry, found from its package.json (createRequire
  // because tsx may run this file as CommonJS, without import.meta.resolve).
  const tsxApi = new URL('./dist/esm/api/index.mjs', pathToFileURL(createRequire(import.meta.url).resolve('tsx/package.json'))).href;
  const entry = new URL('./worker.ts', import.meta.url).href;
  const bootstrap = `import(${JSON.stringify(tsxApi)}).then(({ register }) => { register(); return import(${JSON.stringify(entry)}); });`;
  return new Worker(bootstrap, { eval: true, workerData });
}

class WorkerHost {
  readonly modulePath: string;
  readonly #worker: Worker;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #failure: Pkcs11KekError | undefined;
  #stopping = false;
  refs = 0;

  constructor(modulePath: string) {
    this.modulePath = modulePath;
    this.#worker = startWorker({ modulePath });
    // Referenced only while requests are in flight: an idle KEK never keeps the process alive.
    this.#worker.unref();
    this.#worker.on('message', (reply: Reply) => this.#settle(reply));
    this.#worker.on('error', (error) => this.#fail(`the PKCS#11 worker for ${modulePath} failed: ${error.message}`, error));
    this.#worker.on('messageerror', (error) => this.#fail(`the PKCS#11 worker for ${modulePath} sent an unreadable message`, error));
    this.#worker.on('exit', (code) => {
      if (!this.#stopping) this.#fail(`the PKCS#11 worker for ${modulePath} exited (code ${code})`);
    });
  }

  get failed(): boolean {
    return this.#failure !== undefined;
  }

  call<K extends OperationName>(op: K, args: Operations[K]['request'], transfer: ArrayBuffer[] = []): Promise<Operations[K]['result']> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    const id = this.#nextId;
    this.#nextId += 1;
    return new Promise<Operations[K]['result']>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      if (this.#pending.size === 1) this.#worker.ref();
      this.#worker.postMessage({ id, op, ...args }, transfer);
    });
  }

  /** Finalise the module and end the thread. */
  async stop(): Promise<void> {
    if (this.#failure === undefined) {
      try {
        await this.call('shutdown', {});
      } catch {
        // The thread is ended below whatever happened.
      }
    }
    this.#stopping = true;
    await this.#worker.terminate();
  }

  #settle(reply: Reply): void {
    const pending = this.#pending.get(reply.id);
    if (pending === undefined) return;
    this.#pending.delete(reply.id);
    if (this.#pending.size === 0) this.#worker.unref();
    if (reply.ok) pending.resolve(reply.result);
    else pending.reject(fromWire(reply.error));
  }

  #fail(message: string, cause?: unknown): void {
    if (this.#failure !== undefined) return;
    this.#failure = new Pkcs11KekError('WORKER_FAILED', message, { cause });
    for (const pending of this.#pending.values()) pending.reject(this.#failure);
    this.#pending.clear();
    this.#worker.unref();
  }
}

function fromWire(error: WireError): KekError {
  return error.kind === 'kek' ? new KekError(error.code, error.message) : new Pkcs11KekError(error.reason, error.message);
}

const hosts = new Map<string, WorkerHost>();
let hostLock: Promise<unknown> = Promise.resolve();

/**
 * Starting and stopping workers one at a time: a new worker must not initialise the module
 * while the previous one is finalising it (both act on the same process-wide state).
 */
function serialized<T>(task: () => Promise<T>): Promise<T> {
  const run = hostLock.then(task);
  hostLock = run.catch(() => undefined);
  return run;
}

function acquireHost(modulePath: string): Promise<WorkerHost> {
  return serialized(async () => {
    let host = hosts.get(modulePath);
    if (host === undefined || host.failed) {
      host = new WorkerHost(modulePath);
      hosts.set(modulePath, host);
    }
    host.refs += 1;
    return host;
  });
}

function releaseHost(host: WorkerHost): Promise<void> {
  return serialized(async () => {
    host.refs -= 1;
    if (host.refs > 0) return;
    if (hosts.get(host.modulePath) === host) hosts.delete(host.modulePath);
    await host.stop();
  });
}

/** For the other users of the module's worker (resident.ts): the same one worker per module. */
export { acquireHost, releaseHost };
export type { WorkerHost };
