/**
 * One authenticated KMIP connection: bytes to whole messages (the framer), messages to the
 * service one at a time, answers written in request order.
 *
 * Every request byte read is taken from the process's budget first (server/budget.ts): the
 * whole message once its header is known (the header alone when it comes in pieces), given
 * back when the request is answered or dropped. Reading stops, the unread bytes left in the
 * socket, whenever the budget or the connection's queue is full.
 */
import type { TLSSocket } from 'node:tls';
import { TtlvError } from '../ttlv/index.js';
import type { TtlvFramer } from '../ttlv/index.js';
import type { Logger } from '../lib/log.js';
import type { KmipService, Session } from '../lib/service.js';
import type { BudgetWait, ByteBudget } from './budget.js';

export interface ConnectionOptions {
  readonly service: KmipService;
  readonly framer: TtlvFramer;
  /** Requests held at once (queued and in progress); at this many, reading stops. */
  readonly maxPending: number;
  readonly idleTimeoutMs: number;
  /** Time from a request's first byte to its last; slower senders are answered and closed. */
  readonly requestTimeoutMs: number;
  /** Request bytes held by every connection together (the HTTPS binding's included). */
  readonly budget: ByteBudget;
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
  /** Budget bytes taken for the message being received: its header, then all of it. */
  private claimed = 0;
  /** In line for budget bytes; reading is paused meanwhile. */
  private budgetWait: BudgetWait | undefined;
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
        this.giveBackAll();
        log.info('connection closed', { requests: this.answered, durationMs: Date.now() - this.openedAt, reason: this.closeReason ?? 'closed by the peer' });
        resolve();
      });
    });
    socket.setTimeout(options.idleTimeoutMs);
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('end', () => {
      this.peerEnded = true;
      this.stopReading();
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

  /** Feed the framer one message (or its header) at a time, each paid for before it is read. */
  private receive(chunk: Buffer): void {
    if (!this.reading) return;
    const { framer } = this.options;
    let rest = chunk;
    let received = false;
    while (this.reading && rest.length > 0) {
      if (this.pending >= this.options.maxPending) {
        this.options.log.debug('backpressure: reading paused', { pending: this.pending });
        this.hold(rest);
        break;
      }
      const taken = framer.needed(rest);
      const wanted = framer.buffered + taken;
      if (!this.claim(wanted)) {
        this.options.log.debug('request byte budget spent: reading paused', { wanted, held: this.options.budget.held });
        this.hold(rest);
        break;
      }
      const { messages: frames, error: failure } = framer.read(rest.subarray(0, taken));
      rest = rest.subarray(taken);
      for (const frame of frames) this.accept(frame, chunk);
      received ||= frames.length > 0;
      if (failure !== undefined) {
        // Whole messages before the bad bytes are answered first, then the error, then the close.
        this.options.log.info('unframeable stream', { reason: failure.message });
        this.stopReading();
        this.queue.push(failure);
        received = true;
      }
    }
    if (this.reading && this.pending >= this.options.maxPending && !this.socket.isPaused()) {
      this.options.log.debug('backpressure: reading paused', { pending: this.pending });
      this.socket.pause();
    }
    this.watchPartialRequest(this.reading && framer.buffered > 0);
    if (received) void this.pump();
  }

  /** A whole request, queued; its budget bytes move with it from the partial message. */
  private accept(frame: Buffer, chunk: Buffer): void {
    this.claimed -= frame.length;
    // Frames may view `chunk` (a socket never reuses the memory of a chunk it has emitted);
    // one that shares it with other bytes is copied, so it keeps alive no more than it is counted for.
    this.queue.push(frame.buffer === chunk.buffer && frame.length < chunk.length ? Buffer.from(frame) : frame);
  }

  /**
   * Hold budget bytes for the first `wanted` bytes of the message being received; false when
   * they are not to be had now, and the connection is in line for them.
   */
  private claim(wanted: number): boolean {
    const { budget } = this.options;
    if (this.claimed >= wanted) return true;
    if (budget.tryTake(wanted - this.claimed)) {
      this.claimed = wanted;
      return true;
    }
    // A reader in line holds nothing: what it held could be what the first in line waits for.
    this.releaseClaim();
    this.budgetWait = budget.wait(wanted, () => {
      this.budgetWait = undefined;
      this.claimed = wanted;
      // The time in line was ours, not the sender's: its request timeout starts again.
      this.clearRequestTimer();
      this.watchPartialRequest(this.options.framer.buffered > 0);
      this.resumeReading();
    });
    return false;
  }

  /** Stop reading; the bytes not consumed go back to the socket, which stops reading its peer once its own buffer is full. */
  private hold(rest: Buffer): void {
    this.socket.pause();
    if (rest.length > 0) this.socket.unshift(rest);
  }

  /** Read again, unless the connection still waits for the budget or for its queue to shrink. */
  private resumeReading(): void {
    if (!this.reading || this.budgetWait !== undefined || this.pending >= this.options.maxPending) return;
    if (this.socket.isPaused()) this.socket.resume();
  }

  private releaseClaim(): void {
    if (this.claimed > 0) this.options.budget.release(this.claimed);
    this.claimed = 0;
  }

  /** Drop the requests not yet handled, and their budget bytes. */
  private dropQueue(): void {
    for (const entry of this.queue.splice(0)) if (Buffer.isBuffer(entry)) this.options.budget.release(entry.length);
  }

  /** Everything this connection holds goes back to the budget (the request being handled, when it is done). */
  private giveBackAll(): void {
    this.budgetWait?.cancel();
    this.budgetWait = undefined;
    this.releaseClaim();
    this.dropQueue();
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

  /** Later bytes are read and dropped, so that the peer's end of stream is still seen; a partial message is dropped now. */
  private stopReading(): void {
    this.reading = false;
    this.budgetWait?.cancel();
    this.budgetWait = undefined;
    this.releaseClaim();
    if (this.socket.isPaused()) this.socket.resume();
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      for (let next = this.queue.shift(); next !== undefined; next = this.queue.shift()) {
        if (this.socket.destroyed) {
          if (Buffer.isBuffer(next)) this.options.budget.release(next.length);
          this.dropQueue();
          break;
        }
        if (next instanceof TtlvError) {
          // The stream cannot be re-synchronised (DESIGN.md decision 5): answer, then close this connection only.
          this.dropQueue();
          // On record before the answer, like every request (the service never rejects here).
          await this.options.service.recordRefusal?.(this.session, next);
          await this.write(this.options.service.unframeable(next));
          this.end('unframeable stream');
          break;
        }
        this.inFlight = true;
        let response: Buffer;
        try {
          response = await this.options.service.handle(next, this.session);
        } finally {
          // The request's bytes are no longer needed once its answer is made.
          this.options.budget.release(next.length);
        }
        // Waited for only when the socket's buffer is full: a promise and a turn saved per answer otherwise.
        const drained = this.write(response);
        if (drained !== undefined) await drained;
        this.answered++;
        this.inFlight = false;
        this.resumeReading();
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

  /** Undefined once written; a promise that resolves when the peer has read enough (or the socket closed). */
  private write(bytes: Buffer): Promise<void> | undefined {
    const { socket } = this;
    if (socket.destroyed || !socket.writable) return undefined;
    if (socket.write(bytes)) return undefined;
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
    // Waiting for the budget is waiting on us, not idling.
    if (this.pending > 0 || this.pumping || this.ending || this.budgetWait !== undefined) return;
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
