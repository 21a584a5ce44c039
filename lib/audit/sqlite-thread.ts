/**
 * The host side of the SQLite audit thread (lib/audit/sqlite-worker.ts): one request at a
 * time is enough, because AuditWriter already sends one group per transaction. The thread
 * starts on the first append and keeps the process alive only while an append is in flight.
 */
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { AuditChainError } from './record.js';
import type { AuditDurability } from '../store/types.js';
import type { AuditEntry } from './record.js';
import type { AuditThreadConfig, AuditThreadReply, AuditThreadRequest } from './sqlite-worker.js';

interface Pending {
  resolve(): void;
  reject(error: Error): void;
}

/**
 * The worker's source sits beside this file: sqlite-worker.js once built. Under tsx (tests,
 * dev) it is sqlite-worker.ts, and a worker inherits no loader, so a bootstrap registers
 * tsx in the thread first (as lib/crypto/pkcs11/kek.ts does for its worker).
 */
function startWorker(workerData: AuditThreadConfig): Worker {
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./sqlite-worker.js', import.meta.url), { workerData });
  const tsxApi = new URL('./dist/esm/api/index.mjs', pathToFileURL(createRequire(import.meta.url).resolve('tsx/package.json'))).href;
  const entry = new URL('./sqlite-worker.ts', import.meta.url).href;
  const bootstrap = `import(${JSON.stringify(tsxApi)}).then(({ register }) => { register(); return import(${JSON.stringify(entry)}); });`;
  return new Worker(bootstrap, { eval: true, workerData });
}

export class SqliteAuditThread {
  readonly #config: AuditThreadConfig;
  #worker: Worker | undefined;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #closed = false;

  constructor(config: AuditThreadConfig) {
    this.#config = config;
  }

  /** Resolves once the entries are committed by the thread, synced or not as `durability` says (sqlite-worker.ts). */
  append(entries: readonly AuditEntry[], durability: AuditDurability = 'fsync'): Promise<void> {
    if (this.#closed) return Promise.reject(new AuditChainError('the audit thread is closed'));
    return this.#call((id) => ({ id, entries, durability }));
  }

  /** A passive checkpoint of the WAL on the thread's connection (syncs there, never on the caller's thread). Never rejects. */
  checkpoint(): void {
    if (this.#closed) return;
    this.#call((id) => ({ id, checkpoint: 'PASSIVE' })).catch(() => undefined);
  }

  /**
   * Checkpoint the whole WAL and truncate it, on the thread's connection; resolves when done
   * or given up (another connection kept writing past the busy timeout). Never rejects.
   */
  async truncateWal(): Promise<void> {
    if (this.#closed) return;
    await this.#call((id) => ({ id, checkpoint: 'TRUNCATE' })).catch(() => undefined);
  }

  /** Waits for appends in flight (messages are handled in order), then ends the thread. Never rejects. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const worker = this.#worker;
    if (worker === undefined) return;
    try {
      await this.#call((id) => ({ id, close: true }));
    } catch {
      // A thread that already failed has nothing left to close.
    } finally {
      await worker.terminate();
    }
  }

  #call(request: (id: number) => AuditThreadRequest): Promise<void> {
    const worker = this.#worker ?? this.#start();
    const id = this.#nextId;
    this.#nextId += 1;
    return new Promise<void>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      if (this.#pending.size === 1) worker.ref();
      worker.postMessage(request(id));
    });
  }

  #start(): Worker {
    const worker = startWorker(this.#config);
    worker.unref();
    worker.on('message', (reply: AuditThreadReply) => this.#settle(reply));
    const fail = (error: Error): void => {
      // The next append starts a new thread; those in flight fail (their requests answer so).
      if (this.#worker === worker) this.#worker = undefined;
      for (const pending of this.#pending.values()) pending.reject(error);
      this.#pending.clear();
    };
    worker.on('error', (error) => fail(new AuditChainError(`the audit thread failed: ${error.message}`, { cause: error })));
    worker.on('exit', (code) => {
      if (!this.#closed) fail(new AuditChainError(`the audit thread exited (code ${code})`));
    });
    this.#worker = worker;
    return worker;
  }

  #settle(reply: AuditThreadReply): void {
    const pending = this.#pending.get(reply.id);
    if (pending === undefined) return;
    this.#pending.delete(reply.id);
    if (this.#pending.size === 0) this.#worker?.unref();
    if (reply.ok) pending.resolve();
    else pending.reject(new AuditChainError(`the audit record could not be written: ${reply.message}`));
  }
}
