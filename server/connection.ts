/**
 * One authenticated KMIP connection: bytes to whole messages (the framer), messages to the
 * service one at a time, answers written in request order.
 */
import type { TLSSocket } from 'node:tls';
import { TtlvError } from '../ttlv/index.js';
import type { TtlvFramer } from '../ttlv/index.js';
import type { Logger } from '../lib/log.js';
import type { KmipService, Session } from '../lib/service.js';

export interface ConnectionOptions {
  readonly service: KmipService;
  readonly framer: TtlvFramer;
  /** Requests held at once (queued and in progress); at this many, reading stops. */
  readonly maxPending: number;
  readonly idleTimeoutMs: number;
  /** Time from a request's first byte to its last; slower senders are answered and closed. */
  readonly requestTimeoutMs: number;
  /** Carries the connection's id, peer and identity. */
  readonly log: Logger;
}

/** After we end our side, how long the peer has to end its own before the socket is dropped. */
const LINGER_MS = 2000;

export class KmipConnection {
  /** Resolves when the socket has closed. */
  readonly closed: Promise<void>;
  readonly peer: string;
  /** Whole requests not yet handled; a TtlvError marks where the stream became unreadable. */
  private readonly queue: (Buffer | TtlvError)[] = [];
  private pumping = false;
  private inFlight = false;
  /** False once the peer has ended, the stream failed, or the connection is shutting down: later bytes are discarded. */
  private reading = true;
  private peerEnded = false;
  private shutdownReason: string | undefined;
  private ending = false;
  private closeReason: string | undefined;
  private answered = 0;
  /** Runs while part of a request is buffered (a slow sender's bytes reset the idle timer). */
  private requestTimer: NodeJS.Timeout | undefined;
  private readonly openedAt = Date.now();

  constructor(
    readonly socket: TLSSocket,
    readonly session: Session,
    private readonly options: ConnectionOptions,
  ) {
    this.peer = session.peer;
    const { log } = options;
    this.closed = new Promise<void>((resolve) => {
      socket.once('close', () => {
        this.clearRequestTimer();
        log.info('connection closed', { requests: this.answered, durationMs: Date.now() - this.openedAt, reason: this.closeReason ?? 'closed by the peer' });
        resolve();
      });
    });
    socket.setTimeout(options.idleTimeoutMs);
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('end', () => {
      this.peerEnded = true;
      this.reading = false;
      this.finishIfDone();
    });
    socket.on('timeout', () => this.onIdle());
    socket.on('error', (error: Error & { code?: string }) => {
      // Resets and broken pipes are the peer's doing: not worth more than debug.
      this.closeReason ??= `socket error: ${error.code ?? error.message}`;
      log.debug('connection error', { error: error.message, ...(error.code === undefined ? {} : { code: error.code }) });
    });
  }

  /** Stop reading, answer the requests already received, then close. */
  shutdown(reason: string): void {
    if (this.shutdownReason !== undefined || this.ending) return;
    this.shutdownReason = reason;
    this.stopReading();
    this.finishIfDone();
  }

  destroy(): void {
    this.closeReason ??= 'dropped';
    this.socket.destroy();
  }

  private get pending(): number {
    return this.queue.length + (this.inFlight ? 1 : 0);
  }

  private receive(chunk: Buffer): void {
    if (!this.reading) return;
    const { messages: frames, error: failure } = this.options.framer.read(chunk);
    this.watchPartialRequest(failure === undefined && this.options.framer.buffered > 0);
    if (failure !== undefined) {
      // Whole messages before the bad bytes are answered first, then the error, then the close.
      this.options.log.info('unframeable stream', { reason: failure.message });
      this.stopReading();
      this.queue.push(...frames, failure);
      void this.pump();
      return;
    }
    if (frames.length === 0) return;
    // Frames may view `chunk`; a socket never reuses the memory of a chunk it has emitted.
    this.queue.push(...frames);
    if (this.pending >= this.options.maxPending && !this.socket.isPaused()) {
      this.options.log.debug('backpressure: reading paused', { pending: this.pending });
      this.socket.pause();
    }
    void this.pump();
  }

  private watchPartialRequest(partial: boolean): void {
    if (!partial) return this.clearRequestTimer();
    if (this.requestTimer !== undefined) return;
    this.requestTimer = setTimeout(() => this.onRequestTimeout(), this.options.requestTimeoutMs);
    this.requestTimer.unref();
  }

  private clearRequestTimer(): void {
    if (this.requestTimer !== undefined) clearTimeout(this.requestTimer);
    this.requestTimer = undefined;
  }

  private onRequestTimeout(): void {
    this.requestTimer = undefined;
    if (!this.reading || this.options.framer.buffered === 0) return;
    // Paused by backpressure: the bytes wait on us, not on the client.
    if (this.socket.isPaused()) return this.watchPartialRequest(true);
    const { requestTimeoutMs } = this.options;
    this.options.log.info('request timeout', { requestTimeoutMs, buffered: this.options.framer.buffered });
    this.closeReason ??= 'request timeout';
    this.stopReading();
    this.queue.push(new TtlvError('TRUNCATED', `the request did not arrive in full within ${requestTimeoutMs / 1000} s of its first byte`));
    void this.pump();
  }

  /** Later bytes are read and dropped, so that the peer's end of stream is still seen. */
  private stopReading(): void {
    this.reading = false;
    if (this.socket.isPaused()) this.socket.resume();
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      for (let next = this.queue.shift(); next !== undefined; next = this.queue.shift()) {
        if (this.socket.destroyed) {
          this.queue.length = 0;
          break;
        }
        if (next instanceof TtlvError) {
          // The stream cannot be re-synchronised (DESIGN.md decision 5): answer, then close this connection only.
          this.queue.length = 0;
          // On record before the answer, like every request (the service never rejects here).
          await this.options.service.recordRefusal?.(this.session, next);
          await this.write(this.options.service.unframeable(next));
          this.end('unframeable stream');
          break;
        }
        this.inFlight = true;
        const response = await this.options.service.handle(next, this.session);
        await this.write(response);
        this.answered++;
        this.inFlight = false;
        if (this.reading && this.socket.isPaused() && this.pending < this.options.maxPending) this.socket.resume();
      }
    } catch (error) {
      // The service never rejects; if a wrapper does, this connection cannot keep its order.
      this.options.log.error('connection failed', { error });
      this.closeReason ??= 'internal error';
      this.socket.destroy();
    } finally {
      this.inFlight = false;
      this.pumping = false;
    }
    this.finishIfDone();
  }

  private write(bytes: Buffer): Promise<void> {
    const { socket } = this;
    if (socket.destroyed || !socket.writable) return Promise.resolve();
    if (socket.write(bytes)) return Promise.resolve();
    // The peer is not reading its answers: handle nothing more until they drain.
    return new Promise<void>((resolve) => {
      const done = (): void => {
        socket.off('drain', done);
        socket.off('close', done);
        resolve();
      };
      socket.on('drain', done);
      socket.on('close', done);
    });
  }

  private finishIfDone(): void {
    if (this.pumping || this.queue.length > 0 || this.ending) return;
    if (this.peerEnded) this.end('closed by the peer');
    else if (this.shutdownReason !== undefined) this.end(this.shutdownReason);
  }

  private onIdle(): void {
    if (this.pending > 0 || this.pumping || this.ending) return;
    this.options.log.info('idle timeout', { idleTimeoutMs: this.options.idleTimeoutMs });
    this.stopReading();
    this.end('idle timeout');
  }

  private end(reason: string): void {
    if (this.ending) return;
    this.ending = true;
    this.closeReason ??= reason;
    this.socket.end();
    const linger = setTimeout(() => this.socket.destroy(), LINGER_MS);
    linger.unref();
    this.socket.once('close', () => clearTimeout(linger));
  }
}
