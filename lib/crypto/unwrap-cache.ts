/**
 * A bounded cache of unwrapped key material in front of a key-encryption key (issue 6: "Cache
 * unwrapped hot keys in memory with a bound"). With an HSM KEK every load of a key is a round
 * trip to the PKCS#11 worker; with the file KEK it is an RFC 5649 unwrap, which OpenSSL runs
 * one 64-bit block at a time in software AES (~30 us for a 120-byte body, issue 7). A hot key
 * is unwrapped once and then served from memory.
 *
 * An entry is keyed by the SHA-256 of the wrapped bytes under this one KEK. RFC 5649 unwrap is
 * a function of (KEK, wrapped bytes), so an entry can never be stale: a Re-key or any change
 * of the material stores other wrapped bytes (another key), and a destroyed object has no
 * wrapped bytes left to look up. Entries also expire `ttlMs` after their last use, and a timer
 * zeroes them then even if the cache is not used again, so that the material of a destroyed
 * key does not linger in memory. Evicted material is zeroed; callers always get a copy of
 * their own, which they may wipe.
 */
import { createHash } from 'node:crypto';
import { inspect } from 'node:util';
import type { KeyEncryptionKey } from './kek.js';

export interface UnwrapCacheLimits {
  /** Entries held at most; 0 disables the cache. */
  readonly maxEntries: number;
  /** Bytes of unwrapped material held at most; 0 disables the cache. */
  readonly maxBytes: number;
  /** An entry not used for this long is dropped (and zeroed); 0: no expiry. */
  readonly ttlMs: number;
}

export const DEFAULT_UNWRAP_CACHE: UnwrapCacheLimits = { maxEntries: 10_000, maxBytes: 64 * 1024 * 1024, ttlMs: 5 * 60 * 1000 };

export interface UnwrapCacheStats {
  readonly hits: number;
  readonly misses: number;
  readonly evictions: number;
  readonly entries: number;
  readonly bytes: number;
}

interface Entry {
  readonly plain: Buffer;
  expires: number;
}

/** The KEK `inner` with a bounded cache of what it unwrapped (and wrapped). Same `id`. */
export class CachingKek implements KeyEncryptionKey {
  readonly inner: KeyEncryptionKey;
  readonly #limits: UnwrapCacheLimits;
  readonly #clock: () => number;
  /** In least-recently-used order: a Map iterates in insertion order, a hit re-inserts. */
  readonly #entries = new Map<string, Entry>();
  /** Concurrent misses of one value share one unwrap. */
  readonly #inFlight = new Map<string, Promise<Buffer>>();
  #bytes = 0;
  /** Set for the expiry of the least recently used entry while the cache holds any. */
  #sweepTimer: NodeJS.Timeout | undefined;
  #hits = 0;
  #misses = 0;
  #evictions = 0;

  constructor(inner: KeyEncryptionKey, limits: UnwrapCacheLimits = DEFAULT_UNWRAP_CACHE, clock: () => number = Date.now) {
    for (const [name, value] of Object.entries(limits)) {
      if (!Number.isSafeInteger(value) || value < 0) throw new TypeError(`unwrap cache: ${name} must be a whole number >= 0, not ${String(value)}`);
    }
    this.inner = inner;
    this.#limits = limits;
    this.#clock = clock;
  }

  get id(): string {
    return this.inner.id;
  }

  get enabled(): boolean {
    return this.#limits.maxEntries > 0 && this.#limits.maxBytes > 0;
  }

  get stats(): UnwrapCacheStats {
    return { hits: this.#hits, misses: this.#misses, evictions: this.#evictions, entries: this.#entries.size, bytes: this.#bytes };
  }

  /** Wrap through the KEK; what was just wrapped is the likeliest next unwrap (a new key is used at once). */
  async wrap(plain: Buffer): Promise<Buffer> {
    const wrapped = await this.inner.wrap(plain);
    if (this.enabled) this.#put(digestOf(wrapped), Buffer.from(plain));
    return wrapped;
  }

  async unwrap(wrapped: Buffer): Promise<Buffer> {
    if (!this.enabled) return this.inner.unwrap(wrapped);
    const key = digestOf(wrapped);
    const held = this.#get(key);
    if (held !== undefined) {
      this.#hits += 1;
      return Buffer.from(held);
    }
    this.#misses += 1;
    let pending = this.#inFlight.get(key);
    if (pending === undefined) {
      pending = this.#load(key, wrapped);
      this.#inFlight.set(key, pending);
    }
    return Buffer.from(await pending);
  }

  /** Zero and drop every entry (when the KEK closes). */
  clear(): void {
    for (const entry of this.#entries.values()) entry.plain.fill(0);
    this.#entries.clear();
    this.#bytes = 0;
    clearTimeout(this.#sweepTimer);
    this.#sweepTimer = undefined;
  }

  async #load(key: string, wrapped: Buffer): Promise<Buffer> {
    try {
      const plain = await this.inner.unwrap(wrapped);
      // The cache keeps its own copy and every waiter takes another (in the microtasks that
      // run when this resolves, all before the next macrotask): then this one is zeroed.
      this.#put(key, Buffer.from(plain));
      setImmediate(() => plain.fill(0));
      return plain;
    } finally {
      this.#inFlight.delete(key);
    }
  }

  #get(key: string): Buffer | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    const now = this.#clock();
    if (this.#limits.ttlMs > 0 && entry.expires <= now) {
      this.#drop(key, entry);
      return undefined;
    }
    this.#entries.delete(key);
    entry.expires = now + this.#limits.ttlMs;
    this.#entries.set(key, entry);
    return entry.plain;
  }

  #put(key: string, plain: Buffer): void {
    if (plain.length > this.#limits.maxBytes) {
      plain.fill(0);
      return;
    }
    const old = this.#entries.get(key);
    if (old !== undefined) this.#drop(key, old);
    this.#entries.set(key, { plain, expires: this.#clock() + this.#limits.ttlMs });
    this.#bytes += plain.length;
    this.#sweep();
    for (const [oldest, entry] of this.#entries) {
      if (this.#entries.size <= this.#limits.maxEntries && this.#bytes <= this.#limits.maxBytes) break;
      this.#drop(oldest, entry);
      this.#evictions += 1;
    }
    this.#scheduleSweep();
  }

  /** Sweep when the least recently used entry expires; the timer never keeps the process alive. */
  #scheduleSweep(): void {
    if (this.#limits.ttlMs === 0 || this.#sweepTimer !== undefined) return;
    const oldest = this.#entries.values().next();
    if (oldest.done === true) return;
    this.#sweepTimer = setTimeout(() => {
      this.#sweepTimer = undefined;
      this.#sweep();
      this.#scheduleSweep();
    }, Math.max(0, oldest.value.expires - this.#clock()));
    this.#sweepTimer.unref();
  }

  /** Expired entries sit at the front (least recently used first): drop them from there. */
  #sweep(): void {
    if (this.#limits.ttlMs === 0) return;
    const now = this.#clock();
    for (const [key, entry] of this.#entries) {
      if (entry.expires > now) break;
      this.#drop(key, entry);
    }
  }

  #drop(key: string, entry: Entry): void {
    this.#entries.delete(key);
    this.#bytes -= entry.plain.length;
    entry.plain.fill(0);
  }

  toString(): string {
    return `CachingKek<${this.inner.id}, ${this.#entries.size} cached>`;
  }

  toJSON(): string {
    return this.toString();
  }

  [inspect.custom](): string {
    return this.toString();
  }
}

function digestOf(wrapped: Buffer): string {
  return createHash('sha256').update(wrapped).digest('base64');
}
