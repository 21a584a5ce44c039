/**
 * A pool of persistent KMIP connections to one server: up to `maxConnections` TLS
 * connections opened on demand, each carrying up to `maxPipelined` requests at once;
 * beyond that, requests wait in a bounded queue. A connection that fails is dropped and a
 * new one is opened for the next request; a connection idle for `idleTimeoutMs` is closed.
 */
import type { TtlvItem } from '../../ttlv/index.js';
import { KmipConnection, abortError } from './connection.js';
import type { ConnectionOptions } from './connection.js';
import { KmipClientError } from './errors.js';

export interface PoolOptions extends Omit<ConnectionOptions, 'signal'> {
  readonly host: string;
  readonly port: number;
  /** Connections kept open at most. Default 4. */
  readonly maxConnections?: number;
  /** Requests in flight on one connection at most (KMIP answers them in order). Default 8. */
  readonly maxPipelined?: number;
  /** Requests waiting for a connection at most; beyond, QUEUE_FULL. Default 1,000. */
  readonly maxQueued?: number;
  /** A connection with nothing in flight for this long is closed; 0 keeps it. Default 60 s. */
  readonly idleTimeoutMs?: number;
}

export interface PoolSendOptions {
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
  /**
   * The request changes nothing on the server, so it is sent once more on a new connection
   * when its connection closed before the answer (a server closing an idle connection).
   */
  readonly idempotent?: boolean;
}

interface Waiter {
  grant(connection: KmipConnection): void;
  reject(error: Error): void;
}

const RETRY_CONNECT_AFTER_MS = 1_000;

export const POOL_DEFAULTS = { maxConnections: 4, maxPipelined: 8, maxQueued: 1_000, idleTimeoutMs: 60_000 } as const;

export class ConnectionPool {
  private readonly connections = new Set<KmipConnection>();
  /** Slots handed to requests not yet written, per connection. */
  private readonly reserved = new Map<KmipConnection, number>();
  private connecting = 0;
  private readonly queue: Waiter[] = [];
  private readonly idleTimer: NodeJS.Timeout | undefined;
  private closed: KmipClientError | undefined;
  /** No new connection before this time (ms since the epoch), after a failed connect. */
  private retryAt = 0;
  private readonly limits: { maxConnections: number; maxPipelined: number; maxQueued: number; idleTimeoutMs: number };

  constructor(private readonly options: PoolOptions) {
    this.limits = {
      maxConnections: positive(options.maxConnections ?? POOL_DEFAULTS.maxConnections, 'maxConnections'),
      maxPipelined: positive(options.maxPipelined ?? POOL_DEFAULTS.maxPipelined, 'maxPipelined'),
      maxQueued: positive(options.maxQueued ?? POOL_DEFAULTS.maxQueued, 'maxQueued'),
      idleTimeoutMs: options.idleTimeoutMs ?? POOL_DEFAULTS.idleTimeoutMs,
    };
    if (this.limits.idleTimeoutMs > 0) {
      this.idleTimer = setInterval(() => this.closeIdle(), Math.max(50, Math.floor(this.limits.idleTimeoutMs / 2)));
      this.idleTimer.unref();
    }
  }

  /** Open connections now (and how many are being opened). */
  get size(): number {
    return this.connections.size;
  }

  /** Requests waiting for a connection. */
  get queued(): number {
    return this.queue.length;
  }

  /** Send one message on some connection and return the decoded answer. */
  async send(message: TtlvItem, options: PoolSendOptions = {}): Promise<TtlvItem> {
    try {
      return await this.sendOnce(message, options);
    } catch (error) {
      const retry = options.idempotent === true && error instanceof KmipClientError && error.code === 'CLOSED' && !this.closed;
      if (!retry) throw error;
      return await this.sendOnce(message, options);
    }
  }

  private async sendOnce(message: TtlvItem, options: PoolSendOptions): Promise<TtlvItem> {
    const connection = await this.acquire(options.signal);
    // send() writes before its first await: the reserved slot becomes an in-flight one.
    const answer = connection.send(message, options);
    this.release(connection);
    try {
      return await answer;
    } catch (error) {
      throw this.explain(error, connection);
    } finally {
      this.dispatch();
    }
  }

  /**
   * With TLS 1.3 the client finishes its handshake before the server has checked the
   * client certificate: a refusal shows up as a connection closed before any answer.
   */
  private explain(error: unknown, connection: KmipConnection): unknown {
    if (!(error instanceof KmipClientError) || error.code !== 'CLOSED' || connection.answered > 0 || this.closed) return error;
    const reason = error.message.replace(/^connection error: /, '');
    return new KmipClientError('CLOSED', `${this.options.host}:${this.options.port} closed the connection before answering: ${reason} (does the server trust the client certificate?)`, { cause: error });
  }

  private reserve(connection: KmipConnection): KmipConnection {
    this.reserved.set(connection, (this.reserved.get(connection) ?? 0) + 1);
    return connection;
  }

  private release(connection: KmipConnection): void {
    const left = (this.reserved.get(connection) ?? 1) - 1;
    if (left > 0) this.reserved.set(connection, left);
    else this.reserved.delete(connection);
  }

  private load(connection: KmipConnection): number {
    return connection.inFlight + (this.reserved.get(connection) ?? 0);
  }

  /** Open one connection now (to fail early on bad settings); it stays in the pool. */
  async warmUp(signal?: AbortSignal): Promise<void> {
    if (this.connections.size > 0) return;
    await this.open(signal);
  }

  /** Stop taking requests, let those in flight finish, close every connection. */
  async close(): Promise<void> {
    this.shutdown(new KmipClientError('CLOSED', 'the client is closed'));
    await Promise.all([...this.connections].map(async (connection) => {
      await drained(connection);
      await connection.close();
    }));
  }

  /** Drop every connection at once; requests in flight fail with CLOSED. */
  destroy(): void {
    this.shutdown(new KmipClientError('CLOSED', 'the client was destroyed'));
    for (const connection of this.connections) connection.destroy();
  }

  private shutdown(error: KmipClientError): void {
    if (this.closed) return;
    this.closed = error;
    if (this.idleTimer) clearInterval(this.idleTimer);
    for (const waiter of this.queue.splice(0)) waiter.reject(error);
  }

  /** A connection with room for one more request, opening one when allowed. */
  private acquire(signal: AbortSignal | undefined): Promise<KmipConnection> {
    if (this.closed) return Promise.reject(this.closed);
    if (signal?.aborted) return Promise.reject(abortError(signal));
    const ready = this.pick(true);
    if (ready) return Promise.resolve(this.reserve(ready));
    if (this.queue.length >= this.limits.maxQueued) {
      return Promise.reject(new KmipClientError('QUEUE_FULL', `${this.queue.length} requests already wait for a connection to ${this.options.host}:${this.options.port}`));
    }
    return new Promise((resolve, reject) => {
      const onAbort = (): void => {
        const at = this.queue.indexOf(waiter);
        if (at >= 0) this.queue.splice(at, 1);
        reject(abortError(signal as AbortSignal));
      };
      const waiter: Waiter = {
        grant: (connection) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(this.reserve(connection));
        },
        reject: (error) => {
          signal?.removeEventListener('abort', onAbort);
          reject(error);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.queue.push(waiter);
      this.dispatch();
    });
  }

  /**
   * An idle connection first; else, when a new one may be opened, none (so the caller
   * waits for it and the load spreads); else the least busy one with room to pipeline.
   */
  private pick(spread: boolean): KmipConnection | undefined {
    let best: KmipConnection | undefined;
    for (const connection of this.connections) {
      if (!connection.open) continue;
      const load = this.load(connection);
      if (load === 0) return connection;
      if (load < this.limits.maxPipelined && (best === undefined || load < this.load(best))) best = connection;
    }
    if (spread && this.openable() > 0) return undefined;
    return best;
  }

  /**
   * How many more connections may be opened now: none for a second after a failed connect
   * while other connections can serve (with none, each request tries to connect).
   */
  private openable(): number {
    const serving = this.connections.size + this.connecting > 0;
    if (serving && Date.now() < this.retryAt) return 0;
    return this.limits.maxConnections - this.connections.size - this.connecting;
  }

  /** Hand free slots to waiting requests, and open connections for those left waiting. */
  private dispatch(): void {
    while (this.queue.length > 0) {
      const connection = this.pick(true);
      if (connection === undefined) break;
      (this.queue.shift() as Waiter).grant(connection);
    }
    // A connection being opened will serve one of the waiting requests.
    const wanted = Math.min(this.queue.length - this.connecting, this.openable());
    for (let i = 0; i < wanted; i++) this.open().catch(() => undefined);
  }

  private async open(signal?: AbortSignal): Promise<KmipConnection> {
    this.connecting++;
    let connection: KmipConnection;
    try {
      connection = await KmipConnection.connect(this.options.host, this.options.port, { ...this.options, ...(signal === undefined ? {} : { signal }) });
    } catch (error) {
      this.connecting--;
      this.retryAt = Date.now() + RETRY_CONNECT_AFTER_MS;
      // Nobody else can serve the waiting requests: they fail with the reason.
      if (this.connections.size === 0 && this.connecting === 0) for (const waiter of this.queue.splice(0)) waiter.reject(error as Error);
      else setTimeout(() => this.dispatch(), RETRY_CONNECT_AFTER_MS).unref();
      throw error;
    }
    this.connecting--;
    if (this.closed) {
      await connection.close();
      throw this.closed;
    }
    this.connections.add(connection);
    connection.onClose(() => {
      this.connections.delete(connection);
      this.reserved.delete(connection);
      this.dispatch();
    });
    this.dispatch();
    return connection;
  }

  private closeIdle(): void {
    const now = Date.now();
    for (const connection of this.connections) {
      if (this.load(connection) === 0 && now - connection.lastActivity >= this.limits.idleTimeoutMs) {
        this.connections.delete(connection);
        connection.close().catch(() => undefined);
      }
    }
  }
}

function positive(value: number, name: string): number {
  if (!Number.isInteger(value) || value < 1) throw new KmipClientError('INVALID_ARGUMENT', `${name} must be a positive integer, not ${value}`);
  return value;
}

/** Resolves once nothing is in flight on the connection (or it closed). */
async function drained(connection: KmipConnection): Promise<void> {
  while (connection.open && connection.inFlight > 0) await new Promise((resolve) => setTimeout(resolve, 10));
}
