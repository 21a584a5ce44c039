/**
 * Group commit for audit entries that come with no change (a Get, a Locate, a failure): each
 * must be durable before its answer goes out, but one transaction (one fsync) per request
 * would cap reads at the disk's sync rate. Entries from every request that reaches this
 * point in the same turn of the event loop, or while a write is in flight, go into the next
 * transaction together; each caller's promise settles when the transaction holding its
 * entries has committed (or failed).
 */
import type { AuditEntry } from './record.js';

export interface AuditWriterOptions {
  /** Writes entries in one transaction; resolves once they are durable. */
  readonly commit: (entries: readonly AuditEntry[]) => Promise<void>;
  /** Most entries in one transaction (a bound on its size); default 1000. */
  readonly maxEntries?: number;
}

interface Waiter {
  readonly entries: readonly AuditEntry[];
  resolve(): void;
  reject(error: unknown): void;
}

export class AuditWriter {
  readonly #commit: (entries: readonly AuditEntry[]) => Promise<void>;
  readonly #maxEntries: number;
  #waiting: Waiter[] = [];
  #scheduled = false;
  #writing = false;
  /** Transactions and entries written, for metrics and benchmarks. */
  readonly stats = { transactions: 0, entries: 0 };

  constructor(options: AuditWriterOptions) {
    this.#commit = options.commit;
    this.#maxEntries = Math.max(1, options.maxEntries ?? 1000);
  }

  /** Resolves when `entries` are committed. */
  write(entries: readonly AuditEntry[]): Promise<void> {
    if (entries.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.#waiting.push({ entries, resolve, reject });
      this.#schedule();
    });
  }

  #schedule(): void {
    if (this.#scheduled || this.#writing) return;
    this.#scheduled = true;
    // After the current I/O phase: the other requests that arrived with this one join it.
    setImmediate(() => {
      this.#scheduled = false;
      void this.#drain();
    });
  }

  async #drain(): Promise<void> {
    this.#writing = true;
    try {
      while (this.#waiting.length > 0) {
        const group = this.#take();
        const entries = group.flatMap((waiter) => waiter.entries);
        try {
          await this.#commit(entries);
          this.stats.transactions += 1;
          this.stats.entries += entries.length;
          for (const waiter of group) waiter.resolve();
        } catch (error) {
          for (const waiter of group) waiter.reject(error);
        }
      }
    } finally {
      this.#writing = false;
    }
  }

  /** The next group: whole requests, up to maxEntries (always at least one request). */
  #take(): Waiter[] {
    let count = 0;
    let taken = 0;
    while (taken < this.#waiting.length) {
      const size = (this.#waiting[taken] as Waiter).entries.length;
      if (taken > 0 && count + size > this.#maxEntries) break;
      count += size;
      taken += 1;
    }
    return this.#waiting.splice(0, taken);
  }
}
