/**
 * One KMIP connection over mutually authenticated TLS: messages written in order, each
 * response matched to its request by position (KMIP answers the requests of a connection
 * in the order they came, so several may be in flight: pipelining). The pool
 * (./pool.ts) keeps several of these; tests and the conformance runner use one directly.
 */
import tls from 'node:tls';
import { TtlvFramer, decodeTtlv, encodeTtlv, DEFAULT_MAX_MESSAGE_SIZE } from '../../ttlv/index.js';
import type { TtlvItem } from '../../ttlv/index.js';
import { KmipClientError } from './errors.js';

export interface ClientTlsOptions {
  /** Client certificate (PEM). */
  readonly cert: string | Buffer;
  /** Its private key (PEM). */
  readonly key: string | Buffer;
  /** CA certificate(s) the server's chain must lead to (PEM). */
  readonly ca: string | Buffer;
  /** Name checked against the server certificate; the host by default. */
  readonly servername?: string;
}

export interface ConnectionOptions extends ClientTlsOptions {
  /** Time allowed for TCP connect plus TLS handshake, in ms. Default 10 s. */
  readonly connectTimeoutMs?: number;
  /** Time allowed for each response, in ms. Default 30 s. */
  readonly requestTimeoutMs?: number;
  /** Largest response accepted, in bytes. */
  readonly maxMessageSize?: number;
  /** Cancels the connect. */
  readonly signal?: AbortSignal;
}

export interface SendOptions {
  readonly timeoutMs?: number;
  /** Cancels the wait; the answer, when it comes, is read and dropped so the stream stays in step. */
  readonly signal?: AbortSignal;
}

interface Pending {
  resolve(frame: Buffer): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
  /** The caller gave up (abort); its answer is read and dropped. */
  dropped: boolean;
  cleanup(): void;
}

export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

export const abortError = (signal: AbortSignal): KmipClientError =>
  new KmipClientError('ABORTED', `the request was cancelled${signal.reason instanceof Error ? `: ${signal.reason.message}` : ''}`, { cause: signal.reason });

export class KmipConnection {
  private readonly framer: TtlvFramer;
  private readonly pending: Pending[] = [];
  private failure: KmipClientError | undefined;
  private readonly closeListeners: ((error: KmipClientError) => void)[] = [];
  /** When the last answer arrived or the last request left (ms since the epoch). */
  lastActivity = Date.now();
  /** Answers received so far. */
  answered = 0;

  private constructor(
    private readonly socket: tls.TLSSocket,
    private readonly requestTimeoutMs: number,
    maxMessageSize: number,
  ) {
    this.framer = new TtlvFramer({ maxMessageSize });
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('error', (error) => this.fail(new KmipClientError('CLOSED', `connection error: ${error.message}`, { cause: error })));
    socket.on('close', () => this.fail(new KmipClientError('CLOSED', 'the server closed the connection')));
  }

  /** Connect and complete the TLS handshake (the server certificate is always verified). */
  static connect(host: string, port: number, options: ConnectionOptions): Promise<KmipConnection> {
    const connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(abortError(signal));
    return new Promise((resolve, reject) => {
      const socket = tls.connect({
        host,
        port,
        cert: options.cert,
        key: options.key,
        ca: options.ca,
        minVersion: 'TLSv1.2',
        rejectUnauthorized: true,
        ...(options.servername !== undefined ? { servername: options.servername } : {}),
      });
      const settle = (error?: KmipClientError): void => {
        clearTimeout(timer);
        socket.off('error', onError);
        signal?.removeEventListener('abort', onAbort);
        if (error === undefined) return;
        socket.destroy();
        reject(error);
      };
      const timer = setTimeout(() => settle(new KmipClientError('CONNECT_TIMEOUT', `no TLS session with ${host}:${port} after ${connectTimeoutMs} ms`)), connectTimeoutMs);
      const onError = (error: Error): void => settle(new KmipClientError('CONNECT_FAILED', `cannot connect to ${host}:${port}: ${error.message}`, { cause: error }));
      const onAbort = (): void => settle(abortError(signal as AbortSignal));
      socket.once('error', onError);
      signal?.addEventListener('abort', onAbort, { once: true });
      socket.once('secureConnect', () => {
        settle();
        socket.setNoDelay(true);
        resolve(new KmipConnection(socket, options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS, options.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE));
      });
    });
  }

  /** Send one message and return the decoded response. */
  async send(message: TtlvItem, options: SendOptions = {}): Promise<TtlvItem> {
    const frame = await this.exchange(encodeTtlv(message), options);
    try {
      return decodeTtlv(frame);
    } catch (error) {
      throw new KmipClientError('BAD_RESPONSE', `undecodable response: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
  }

  /**
   * Write raw bytes and return the next whole response frame, undecoded (for tests that
   * send malformed messages). A timeout means the server may never answer, so it closes
   * the connection; a cancellation leaves it open.
   */
  exchange(bytes: Uint8Array, options: SendOptions = {}): Promise<Buffer> {
    if (this.failure) return Promise.reject(this.failure);
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(abortError(signal));
    const timeoutMs = options.timeoutMs ?? this.requestTimeoutMs;
    return new Promise((resolve, reject) => {
      const onAbort = (): void => {
        entry.dropped = true;
        clearTimeout(entry.timer);
        reject(abortError(signal as AbortSignal));
      };
      const entry: Pending = {
        resolve,
        reject,
        dropped: false,
        timer: setTimeout(() => this.fail(new KmipClientError('TIMEOUT', `no response within ${timeoutMs} ms`)), timeoutMs),
        cleanup: () => signal?.removeEventListener('abort', onAbort),
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.pending.push(entry);
      this.lastActivity = Date.now();
      this.socket.write(bytes);
    });
  }

  /** True until the connection fails or is closed. */
  get open(): boolean {
    return this.failure === undefined;
  }

  /** Requests written whose answers have not come yet (including cancelled ones). */
  get inFlight(): number {
    return this.pending.length;
  }

  /** Called once when the connection fails or closes, with the reason. */
  onClose(listener: (error: KmipClientError) => void): void {
    if (this.failure) listener(this.failure);
    else this.closeListeners.push(listener);
  }

  /** Close gracefully: end the TLS session and wait for the socket to close. */
  async close(): Promise<void> {
    if (this.socket.destroyed) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.socket.destroy();
        resolve();
      }, 2_000);
      this.socket.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      this.socket.end();
    });
  }

  /** Drop the connection at once; pending requests fail with CLOSED. */
  destroy(): void {
    this.fail(new KmipClientError('CLOSED', 'the client closed the connection'));
  }

  private receive(chunk: Buffer): void {
    let frames: Buffer[];
    try {
      frames = this.framer.push(chunk);
    } catch (error) {
      this.fail(new KmipClientError('BAD_RESPONSE', `unreadable response stream: ${error instanceof Error ? error.message : String(error)}`, { cause: error }));
      return;
    }
    this.lastActivity = Date.now();
    for (const frame of frames) {
      const next = this.pending.shift();
      if (!next) {
        this.fail(new KmipClientError('BAD_RESPONSE', 'the server sent a message nobody asked for'));
        return;
      }
      clearTimeout(next.timer);
      next.cleanup();
      this.answered++;
      // The framer may return a view of its internal chunk: copy what outlives this call.
      if (!next.dropped) next.resolve(Buffer.from(frame));
    }
  }

  private fail(error: KmipClientError): void {
    if (this.failure) return;
    this.failure = error;
    for (const pending of this.pending.splice(0)) {
      clearTimeout(pending.timer);
      pending.cleanup();
      if (!pending.dropped) pending.reject(error);
    }
    this.socket.destroy();
    for (const listener of this.closeListeners.splice(0)) listener(error);
  }
}
