/**
 * One budget of request bytes for the whole process, shared by the TLS port and the HTTPS
 * binding (setting maxBufferedBytes).
 *
 * Each connection is bounded on its own (maxMessageSize, maxPendingRequestsPerConnection),
 * but a thousand connections each holding sixteen 1 MiB requests would be 16 GiB. A reader
 * takes the bytes of a request from this budget before it reads them, and gives them back
 * once the request is answered or dropped. When the budget is spent, readers wait their
 * turn (first come, first served) with their sockets paused: backpressure, not a refusal.
 *
 * Bytes are taken for a whole message before its body is read, so a partly read message
 * never waits on the budget: it completes (or meets the request timeout) and its bytes come
 * back. Waiting on bytes that only another waiter could release would be a deadlock.
 */

/** A read-only view of the budget, for metrics and for whoever runs the server. */
export interface BudgetView {
  /** The most request bytes held at once (setting maxBufferedBytes). */
  readonly limit: number;
  /** Request bytes held now, by every connection together. */
  readonly held: number;
  /** The most ever held at once since the process started; never above `limit`. */
  readonly peak: number;
  /** Readers waiting for bytes now (their sockets paused). */
  readonly waiting: number;
  /** Times a reader had to wait, since the process started. */
  readonly waits: number;
}

/** A reader's place in the queue: cancel it when the reader goes away before its turn. */
export interface BudgetWait {
  cancel(): void;
}

interface Waiter {
  readonly bytes: number;
  readonly granted: () => void;
}

export class ByteBudget implements BudgetView {
  #held = 0;
  #peak = 0;
  #waits = 0;
  readonly #queue: Waiter[] = [];

  constructor(readonly limit: number) {
    if (!Number.isSafeInteger(limit) || limit < 1) throw new RangeError(`a byte budget must be a positive whole number, not ${limit}`);
  }

  get held(): number {
    return this.#held;
  }

  get peak(): number {
    return this.#peak;
  }

  get waiting(): number {
    return this.#queue.length;
  }

  get waits(): number {
    return this.#waits;
  }

  /** Take `bytes` now if they fit and nobody waits before us; false otherwise (nothing taken). */
  tryTake(bytes: number): boolean {
    this.#check(bytes);
    if (this.#queue.length > 0 || this.#held + bytes > this.limit) return false;
    this.#add(bytes);
    return true;
  }

  /**
   * Take `bytes` as soon as they fit, after the readers already waiting; `granted` runs once
   * they are taken (never synchronously within this call).
   */
  wait(bytes: number, granted: () => void): BudgetWait {
    this.#check(bytes);
    const waiter: Waiter = { bytes, granted };
    this.#queue.push(waiter);
    this.#waits++;
    queueMicrotask(() => this.#grant());
    return {
      cancel: () => {
        const at = this.#queue.indexOf(waiter);
        if (at < 0) return;
        this.#queue.splice(at, 1);
        // The first in line may have been the one that did not fit.
        if (at === 0) this.#grant();
      },
    };
  }

  /** Take `bytes` now if they fit, else wait for them; resolves once taken, rejects with `signal`'s reason. */
  take(bytes: number, signal?: AbortSignal): Promise<void> {
    if (this.tryTake(bytes)) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted === true) return reject(signal.reason);
      const onAbort = (): void => {
        ticket.cancel();
        reject(signal?.reason);
      };
      const ticket = this.wait(bytes, () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      });
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Give back bytes taken earlier; the readers waiting get them in turn. */
  release(bytes: number): void {
    if (!Number.isSafeInteger(bytes) || bytes < 0 || bytes > this.#held) {
      throw new RangeError(`released ${bytes} bytes of a budget that holds ${this.#held}`);
    }
    this.#held -= bytes;
    this.#grant();
  }

  #check(bytes: number): void {
    // maxBufferedBytes is checked against maxMessageSize at start: more than the whole budget would wait forever.
    if (!Number.isSafeInteger(bytes) || bytes < 0 || bytes > this.limit) {
      throw new RangeError(`cannot take ${bytes} bytes of a budget of ${this.limit}`);
    }
  }

  #add(bytes: number): void {
    this.#held += bytes;
    if (this.#held > this.#peak) this.#peak = this.#held;
  }

  /** Hand bytes to the waiting readers in order, while the first in line fits. */
  #grant(): void {
    const granted: Waiter[] = [];
    for (let next = this.#queue[0]; next !== undefined && this.#held + next.bytes <= this.limit; next = this.#queue[0]) {
      this.#queue.shift();
      this.#add(next.bytes);
      granted.push(next);
    }
    // Callbacks run once the budget is consistent: one may take or release bytes itself.
    for (const waiter of granted) waiter.granted();
  }
}
