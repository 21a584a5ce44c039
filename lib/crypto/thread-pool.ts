/**
 * Long cryptographic jobs on libuv's thread pool take turns, so that they never hold every
 * thread of it. node runs RSA key generation (seconds for a large modulus), scrypt and
 * PBKDF2 on that pool, and the same few threads (UV_THREADPOOL_SIZE, 4 by default) run the
 * file system calls, among them the fdatasync that makes each commit durable (see
 * lib/store/sqlite.ts #syncWal). Measured before this gate: with six RSA-8192 key pairs being
 * made, an AES Create from another client waited 34 s for a thread to sync its commit; every
 * write of every client did, and so did password checks.
 *
 * The gate lets at most the pool's size minus RESERVED_THREADS such jobs run at once (never
 * fewer than one); the others wait in arrival order. Raising UV_THREADPOOL_SIZE in kmipd's
 * environment raises the number of RSA key pairs made at once.
 */

/** Threads of the pool left for the file system whatever the cryptographic load. */
export const RESERVED_THREADS = 2;

/** libuv's default and bounds for UV_THREADPOOL_SIZE. */
const DEFAULT_POOL_SIZE = 4;
const MAX_POOL_SIZE = 1024;

/** The jobs allowed at once for a pool of the size the environment variable gives (read as libuv does). */
export function threadSlots(poolSizeText: string | undefined): number {
  const parsed = poolSizeText === undefined ? Number.NaN : Number.parseInt(poolSizeText, 10);
  const size = Number.isNaN(parsed) || parsed <= 0 ? DEFAULT_POOL_SIZE : Math.min(parsed, MAX_POOL_SIZE);
  return Math.max(1, size - RESERVED_THREADS);
}

/** At most `slots` jobs at once; the others start in the order they came. */
export class ThreadGate {
  readonly slots: number;
  #running = 0;
  readonly #waiting: (() => void)[] = [];

  constructor(slots: number) {
    if (!Number.isSafeInteger(slots) || slots < 1) throw new TypeError(`a thread gate needs at least one slot, not ${String(slots)}`);
    this.slots = slots;
  }

  get running(): number {
    return this.#running;
  }

  get waiting(): number {
    return this.#waiting.length;
  }

  async run<T>(job: () => Promise<T>): Promise<T> {
    if (this.#running >= this.slots) await new Promise<void>((resolve) => this.#waiting.push(resolve));
    else this.#running += 1;
    try {
      return await job();
    } finally {
      // The slot passes straight to the next waiter, so a newcomer never overtakes it.
      const next = this.#waiting.shift();
      if (next === undefined) this.#running -= 1;
      else next();
    }
  }
}

/** The gate of this process's long thread-pool jobs: RSA key generation, scrypt, PBKDF2. */
export const cryptoThreads = new ThreadGate(threadSlots(process.env.UV_THREADPOOL_SIZE));
