/**
 * Multi-part cryptographic operations (KMIP 2.1 section 6.1.17: Init Indicator, Correlation
 * Value, Final Indicator): the cipher state between requests, bounded in number and time so
 * that abandoned streams cannot exhaust memory.
 */
import { randomBytes } from 'node:crypto';
import { KmipError } from '../errors.js';

export interface Stream<S> {
  readonly owner: string;
  readonly objectId: string;
  readonly state: S;
}

interface Entry {
  readonly stream: Stream<unknown>;
  readonly kind: string;
  expires: number;
}

export interface StreamLimits {
  /** Streams open at once, over all clients. */
  readonly maxStreams: number;
  /** A stream not continued within this time is dropped. */
  readonly idleMs: number;
}

export const DEFAULT_STREAM_LIMITS: StreamLimits = { maxStreams: 1024, idleMs: 5 * 60 * 1000 };

export class StreamTable {
  readonly #entries = new Map<string, Entry>();

  constructor(
    private readonly limits: StreamLimits = DEFAULT_STREAM_LIMITS,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Keep a stream; the Correlation Value that names it. */
  open<S>(kind: string, stream: Stream<S>): Buffer {
    this.sweep();
    if (this.#entries.size >= this.limits.maxStreams) {
      throw new KmipError('ServerLimitExceeded', `too many multi-part operations in progress (${this.limits.maxStreams}); finish or abandon some`);
    }
    const correlation = randomBytes(16);
    this.#entries.set(correlation.toString('hex'), { stream, kind, expires: this.clock() + this.limits.idleMs });
    return correlation;
  }

  /** The stream a Correlation Value names, for this caller and object; it stays open. */
  continue<S>(kind: string, correlation: Uint8Array, owner: string, objectId: string): Stream<S> {
    this.sweep();
    const entry = this.#entries.get(Buffer.from(correlation).toString('hex'));
    // Another identity's stream is reported exactly like a missing one.
    if (entry === undefined || entry.kind !== kind || entry.stream.owner !== owner || entry.stream.objectId !== objectId) {
      throw new KmipError('InvalidCorrelationValue', 'no multi-part operation in progress has this Correlation Value');
    }
    entry.expires = this.clock() + this.limits.idleMs;
    return entry.stream as Stream<S>;
  }

  close(correlation: Uint8Array): void {
    this.#entries.delete(Buffer.from(correlation).toString('hex'));
  }

  get size(): number {
    return this.#entries.size;
  }

  private sweep(): void {
    const now = this.clock();
    for (const [key, entry] of this.#entries) if (entry.expires <= now) this.#entries.delete(key);
  }
}
