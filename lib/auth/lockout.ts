/**
 * Lockout after failed logins, against online password guessing: a user name that fails
 * `failures` verifications in a row is refused for a while, without a verification, whoever
 * asks; so is a client certificate identity that fails `sourceFailures` times, whatever
 * names it tries (one certificate guessing many users' passwords). Each further lockout of
 * the same name lasts twice as long, up to a maximum; a quiet window forgets it all.
 *
 * The counts live in this process's memory, bounded: the least recently failed entries go
 * first, so a flood of random user names cannot make the tables grow without limit.
 */
import { createHash } from 'node:crypto';

export interface LockoutPolicy {
  /** Failed logins of one user name in a row that lock it out; 0: never. */
  readonly failures: number;
  /** Failed logins through one certificate identity that lock it out; 0: never. */
  readonly sourceFailures: number;
  /** The first lockout; each further one in a row lasts twice as long. */
  readonly lockoutMs: number;
  readonly maxLockoutMs: number;
  /** A name with no failure (and no lockout ending) for this long starts again from nothing. */
  readonly windowMs: number;
  /** Entries kept per table (user names, certificate identities). */
  readonly maxEntries: number;
}

export type LockoutScope = 'user' | 'identity';

/** A refusal or a new lockout: which table, and for how long. */
export interface Lockout {
  readonly scope: LockoutScope;
  readonly ms: number;
  /** Lockouts of this name in a row, this one included. */
  readonly count: number;
}

interface Streak {
  failures: number;
  lockouts: number;
  lastFailureAt: number;
  lockedUntil: number;
}

/** One table: failures and lockouts by key, oldest failure first. */
export class FailureTable {
  readonly #streaks = new Map<string, Streak>();

  constructor(
    private readonly threshold: number,
    private readonly policy: LockoutPolicy,
  ) {}

  get size(): number {
    return this.#streaks.size;
  }

  /** Milliseconds this key stays locked out; 0 when it may try. */
  lockedFor(key: string, now: number): { ms: number; count: number } {
    const streak = this.#current(key, now);
    if (streak === undefined || streak.lockedUntil <= now) return { ms: 0, count: 0 };
    return { ms: streak.lockedUntil - now, count: streak.lockouts };
  }

  /** Count a failure; returns the lockout it starts, if it starts one. */
  fail(key: string, now: number): { ms: number; count: number } | undefined {
    if (this.threshold === 0) return undefined;
    const streak = this.#current(key, now) ?? { failures: 0, lockouts: 0, lastFailureAt: now, lockedUntil: 0 };
    streak.failures++;
    streak.lastFailureAt = now;
    let started: { ms: number; count: number } | undefined;
    if (streak.failures >= this.threshold) {
      streak.failures = 0;
      streak.lockouts++;
      // 2^30 times any lockout is past every maximum a setting allows.
      const ms = Math.min(this.policy.maxLockoutMs, this.policy.lockoutMs * 2 ** Math.min(streak.lockouts - 1, 30));
      streak.lockedUntil = now + ms;
      started = { ms, count: streak.lockouts };
    }
    // Most recently failed last: the first key of the map is the one to evict.
    this.#streaks.delete(key);
    this.#streaks.set(key, streak);
    if (this.#streaks.size > this.policy.maxEntries) {
      const oldest = this.#streaks.keys().next().value;
      if (oldest !== undefined) this.#streaks.delete(oldest);
    }
    return started;
  }

  forget(key: string): void {
    this.#streaks.delete(key);
  }

  /** The key's streak, unless a quiet window has passed since its last failure or lockout. */
  #current(key: string, now: number): Streak | undefined {
    const streak = this.#streaks.get(key);
    if (streak === undefined) return undefined;
    if (now - Math.max(streak.lastFailureAt, streak.lockedUntil) < this.policy.windowMs) return streak;
    this.#streaks.delete(key);
    return undefined;
  }
}

/** Names longer than this are kept as a hash: a request may send a user name of a megabyte. */
const KEPT_NAME_LENGTH = 64;

function tableKey(name: string): string {
  return name.length <= KEPT_NAME_LENGTH ? `=${name}` : `#${createHash('sha256').update(name).digest('base64')}`;
}

/**
 * The two tables of a server's logins. A success clears the user's count, not the
 * certificate's: otherwise one known password would clear a certificate's guesses at the
 * others.
 */
export class LoginLockout {
  readonly users: FailureTable;
  readonly identities: FailureTable;

  constructor(
    policy: LockoutPolicy,
    private readonly now: () => number = Date.now,
  ) {
    this.users = new FailureTable(policy.failures, policy);
    this.identities = new FailureTable(policy.sourceFailures, policy);
  }

  /** The lockout that refuses this login now, if any (the user's first). */
  refusal(username: string, identity: string): Lockout | undefined {
    const now = this.now();
    const user = this.users.lockedFor(tableKey(username), now);
    if (user.ms > 0) return { scope: 'user', ...user };
    const source = this.identities.lockedFor(tableKey(identity), now);
    if (source.ms > 0) return { scope: 'identity', ...source };
    return undefined;
  }

  /** Count a failed login; returns the lockouts it starts. */
  failed(username: string, identity: string): Lockout[] {
    const now = this.now();
    const started: Lockout[] = [];
    const user = this.users.fail(tableKey(username), now);
    if (user !== undefined) started.push({ scope: 'user', ...user });
    const source = this.identities.fail(tableKey(identity), now);
    if (source !== undefined) started.push({ scope: 'identity', ...source });
    return started;
  }

  succeeded(username: string): void {
    this.users.forget(tableKey(username));
  }
}
