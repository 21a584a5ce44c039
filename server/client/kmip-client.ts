/**
 * A minimal KMIP client over mutually authenticated TLS: one connection, messages sent in
 * order, each response matched to its request by position (KMIP answers requests on a
 * connection in the order they came). Used by the `kmip` command, the conformance runner and the project's
 * integration tests.
 */
import tls from 'node:tls';
import { TtlvFramer, decodeTtlv, encodeTtlv, DEFAULT_MAX_MESSAGE_SIZE } from '../../ttlv/index.js';
import type { TtlvItem } from '../../ttlv/index.js';

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

export interface ClientOptions extends ClientTlsOptions {
  /** Time allowed for TCP connect plus TLS handshake, in ms. Default 10 s. */
  readonly connectTimeoutMs?: number;
  /** Time allowed for each response, in ms. Default 30 s. */
  readonly requestTimeoutMs?: number;
  /** Largest response accepted, in bytes. */
  readonly maxMessageSize?: number;
}

export type KmipClientErrorCode = 'CONNECT_FAILED' | 'CONNECT_TIMEOUT' | 'TIMEOUT' | 'CLOSED' | 'BAD_RESPONSE';

/** Every failure of the client, with a stable code. */
export class KmipClientError extends Error {
  override readonly name = 'KmipClientError';
  constructor(
    readonly code: KmipClientErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

interface Pending {
  resolve(frame: Buffer): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

export class KmipClient {
  private readonly framer: TtlvFramer;
  private readonly pending: Pending[] = [];
  private failure: KmipClientError | undefined;

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
  static connect(host: string, port: number, options: ClientOptions): Promise<KmipClient> {
    const connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
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
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new KmipClientError('CONNECT_TIMEOUT', `no TLS session with ${host}:${port} after ${connectTimeoutMs} ms`));
      }, connectTimeoutMs);
      const onError = (error: Error): void => {
        clearTimeout(timer);
        socket.destroy();
        reject(new KmipClientError('CONNECT_FAILED', `cannot connect to ${host}:${port}: ${error.message}`, { cause: error }));
      };
      socket.once('error', onError);
      socket.once('secureConnect', () => {
        clearTimeout(timer);
        socket.off('error', onError);
        socket.setNoDelay(true);
        resolve(new KmipClient(socket, options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS, options.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE));
      });
    });
  }

  /** Send one message and return the decoded response. */
  async send(message: TtlvItem, options: { timeoutMs?: number } = {}): Promise<TtlvItem> {
    const frame = await this.exchange(encodeTtlv(message), options);
    try {
      return decodeTtlv(frame);
    } catch (error) {
      throw new KmipClientError('BAD_RESPONSE', `undecodable response: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
  }

  /**
   * Write raw bytes and return the next whole response frame, undecoded (for tests that
   * send malformed messages). A timeout leaves the stream out of step, so it closes the
   * connection.
   */
  exchange(bytes: Uint8Array, options: { timeoutMs?: number } = {}): Promise<Buffer> {
    if (this.failure) return Promise.reject(this.failure);
    const timeoutMs = options.timeoutMs ?? this.requestTimeoutMs;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.fail(new KmipClientError('TIMEOUT', `no response within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.push({ resolve, reject, timer });
      this.socket.write(bytes);
    });
  }

  /** True until the connection fails or is closed. */
  get open(): boolean {
    return this.failure === undefined;
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
    for (const frame of frames) {
      const next = this.pending.shift();
      if (!next) {
        this.fail(new KmipClientError('BAD_RESPONSE', 'the server sent a message nobody asked for'));
        return;
      }
      clearTimeout(next.timer);
      // The framer may return a view of its internal chunk: copy what outlives this call.
      next.resolve(Buffer.from(frame));
    }
  }

  private fail(error: KmipClientError): void {
    if (!this.failure) this.failure = error;
    for (const pending of this.pending.splice(0)) {
      clearTimeout(pending.timer);
      pending.reject(error);
    }
    this.socket.destroy();
  }
}
