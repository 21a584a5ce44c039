/**
 * Several operations in one request message (2.1 section 8; 1.4 section 7). An item that
 * leaves its identifier out works on the object an earlier item returned (the ID
 * Placeholder), so `create` then `activate()` then `get()` is one round trip. What the
 * server does after a failed item is the Batch Error Continuation Option: Stop (default),
 * Continue, or Undo (nothing is kept unless every item succeeds).
 */
import type { BatchErrorContinuation } from './message.js';
import type { OperationRequest } from './requests.js';

export interface BatchOptions {
  readonly errorContinuation?: BatchErrorContinuation;
  /** Ask the server to run the items in order (Batch Order Option). */
  readonly batchOrder?: boolean;
}

export type BatchOutcome<T = unknown> = { readonly status: 'fulfilled'; readonly value: T } | { readonly status: 'rejected'; readonly reason: Error };

export interface CallOptions {
  /** Cancels the wait for the answer. */
  readonly signal?: AbortSignal;
  /** Time allowed for the answer, in ms (the client's requestTimeoutMs by default). */
  readonly timeoutMs?: number;
}

interface Entry {
  readonly request: OperationRequest<unknown>;
  resolve(value: unknown): void;
  reject(error: Error): void;
}

/** How a batch reaches the server: KmipClient.runBatch. */
export type BatchRunner = (requests: readonly OperationRequest<unknown>[], options: BatchOptions & CallOptions) => Promise<BatchOutcome[]>;

export class Batch {
  private readonly entries: Entry[] = [];
  private sent = false;

  constructor(
    private readonly runner: BatchRunner,
    private readonly options: BatchOptions = {},
  ) {}

  /**
   * Add an operation (see `requests`); the promise settles when the batch's answer
   * arrives. A rejection nobody awaits is not reported as unhandled: `send()` returns it too.
   */
  add<T>(request: OperationRequest<T>): Promise<T> {
    if (this.sent) throw new Error('this batch was sent already: start a new one');
    const promise = new Promise<T>((resolve, reject) => {
      this.entries.push({ request, resolve: resolve as (value: unknown) => void, reject });
    });
    promise.catch(() => undefined);
    return promise;
  }

  get size(): number {
    return this.entries.length;
  }

  /** Send every item in one message; the outcome of each, in order. */
  async send(options: CallOptions = {}): Promise<BatchOutcome[]> {
    if (this.sent) throw new Error('this batch was sent already: start a new one');
    if (this.entries.length === 0) throw new Error('the batch is empty: add operations first');
    this.sent = true;
    let outcomes: BatchOutcome[];
    try {
      outcomes = await this.runner(
        this.entries.map((entry) => entry.request),
        { ...this.options, ...options },
      );
    } catch (error) {
      for (const entry of this.entries) entry.reject(error as Error);
      throw error;
    }
    outcomes.forEach((outcome, i) => {
      const entry = this.entries[i];
      if (entry === undefined) return;
      if (outcome.status === 'fulfilled') entry.resolve(outcome.value);
      else entry.reject(outcome.reason);
    });
    return outcomes;
  }
}
