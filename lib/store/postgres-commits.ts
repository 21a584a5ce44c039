/**
 * Group commit for the PostgreSQL store. A commit with audit records moves the chain head,
 * one row whose lock is held until COMMIT returns, WAL flush included: with a transaction
 * per commit, the audited commits of every node queued on that row one flush at a time.
 * Here the synced commits that arrive while this node's transaction runs wait, and the next
 * transaction writes them together: a SAVEPOINT each (a failing one is rolled back alone and
 * only its caller gets the error), then one chain-head update for the records of all the
 * others and one COMMIT (one WAL flush). Each caller's promise settles only once that COMMIT
 * has answered, so nothing is acknowledged before it is durable; a failed COMMIT fails all.
 * What a commit's write returns (the PostgreSQL store: its object count deltas) reaches
 * `beforeCommit` only if its savepoint was kept, so a commit rolled back alone leaves no trace.
 */
import type { Pool, PoolClient, QueryResult } from 'pg';
import type { AuditEntry } from '../audit/record.js';

/**
 * Most commits in one transaction. Each savepoint that writes gets a subtransaction id, and
 * PostgreSQL keeps 64 per backend in shared memory: past that, every other session's
 * snapshot is marked overflowed and visibility checks read pg_subtrans from disk.
 */
export const MAX_GROUP_COMMITS = 64;

/** Most bytes of rows (bodies, attributes, index keys) in one transaction, besides its first commit. */
export const MAX_GROUP_BYTES = 4 * 1024 * 1024;

/** One caller's commit as the group writes it. */
export interface GroupedCommit<R> {
  /** The rows to write (nothing for a commit of audit records alone). */
  readonly rows: R | undefined;
  readonly audit: readonly AuditEntry[];
  /** Size of the rows, for MAX_GROUP_BYTES. */
  readonly bytes: number;
  /** Identifiers of the objects it updates (their rows are locked first, see `lock`). */
  readonly updates: readonly string[];
  /** Keys of the unique values it claims (locked first of all, see `lockClaims`). */
  readonly claims: readonly string[];
}

export interface CommitGroupsOptions<R, W> {
  readonly pool: Pool;
  /**
   * Locks the rows of the objects a group updates, in identifier order, before any commit
   * of it writes: the commits run in arrival order, and two nodes' groups that update the
   * same objects in different orders would otherwise deadlock.
   */
  readonly lock: (client: PoolClient, ids: readonly string[]) => Promise<void>;
  /**
   * Takes the transaction's locks on the unique values a group claims, in one order for
   * every node, before its row locks: a node checking a claim then sees whatever another
   * node that claimed it committed (the check runs in `write`).
   */
  readonly lockClaims: (client: PoolClient, keys: readonly string[]) => Promise<void>;
  /** Writes one commit's rows in the open transaction; throws to refuse it (a conflict...). */
  readonly write: (client: PoolClient, rows: R) => Promise<W>;
  /**
   * Given what `write` returned for each commit kept: statements without parameters, sent
   * with the COMMIT in one round trip (after `appendAudit`), or undefined.
   */
  readonly beforeCommit: (written: readonly W[]) => string | undefined;
  /** Appends the group's records to the chain in the open transaction, last (the head row lock). */
  readonly appendAudit: (client: PoolClient, entries: readonly AuditEntry[]) => Promise<void>;
}

interface Waiting<R> {
  readonly commit: GroupedCommit<R>;
  resolve(): void;
  reject(error: Error): void;
}

export class CommitGroups<R, W> {
  readonly #options: CommitGroupsOptions<R, W>;
  #queue: Waiting<R>[] = [];
  /** The loop writing groups, while there are commits waiting. */
  #running: Promise<void> | undefined;
  /** Transactions committed and the commits they held, for tests and benchmarks. */
  readonly stats = { transactions: 0, commits: 0 };

  constructor(options: CommitGroupsOptions<R, W>) {
    this.#options = options;
  }

  /** Resolves once the commit is durable; rejects with its own error, or with the group's when the transaction failed. */
  commit(commit: GroupedCommit<R>): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ commit, resolve, reject });
      this.#running ??= this.#drain();
    });
  }

  /** Resolves when no commit waits or is being written. */
  async settled(): Promise<void> {
    while (this.#running !== undefined) await this.#running;
  }

  async #drain(): Promise<void> {
    while (this.#queue.length > 0) await this.#writeGroup();
    this.#running = undefined;
  }

  /** The next group: the oldest commits, up to the bounds (always at least one). */
  #take(): Waiting<R>[] {
    let bytes = 0;
    let taken = 0;
    while (taken < this.#queue.length && taken < MAX_GROUP_COMMITS) {
      const size = (this.#queue[taken] as Waiting<R>).commit.bytes;
      if (taken > 0 && bytes + size > MAX_GROUP_BYTES) break;
      bytes += size;
      taken += 1;
    }
    return this.#queue.splice(0, taken);
  }

  async #writeGroup(): Promise<void> {
    let client: PoolClient;
    try {
      client = await this.#options.pool.connect();
    } catch (error) {
      for (const waiting of this.#take()) waiting.reject(asError(error));
      return;
    }
    /** Taken and not settled yet: what a failure of the transaction fails. */
    const open = new Set<Waiting<R>>();
    let taken = false;
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      // Taken once the transaction is open: commits that came while it opened join it.
      const group = this.#take();
      taken = true;
      for (const waiting of group) open.add(waiting);
      const claims = [...new Set(group.flatMap((waiting) => waiting.commit.claims))];
      if (claims.length > 0) await this.#options.lockClaims(client, claims);
      // A lone commit needs neither: its failure is the transaction's, and it updates its rows in order.
      const savepoints = group.length > 1;
      if (savepoints) {
        const ids = [...new Set(group.flatMap((waiting) => waiting.commit.updates))];
        if (ids.length > 0) await this.#options.lock(client, ids);
      }
      const written: W[] = [];
      for (const waiting of group) {
        const { rows } = waiting.commit;
        if (rows === undefined) continue;
        if (savepoints) await client.query('SAVEPOINT grouped_commit');
        try {
          // Only once its savepoint is kept: what a refused commit wrote is rolled back with it.
          written.push(await this.#options.write(client, rows));
        } catch (error) {
          if (!savepoints) throw error;
          // The latest savepoint of that name: this commit's (each nests in the one before).
          await client.query('ROLLBACK TO SAVEPOINT grouped_commit');
          open.delete(waiting);
          waiting.reject(asError(error));
        }
      }
      const kept = group.filter((waiting) => open.has(waiting));
      if (kept.length === 0) {
        await client.query('ROLLBACK');
        return;
      }
      await this.#options.appendAudit(client, kept.flatMap((waiting) => waiting.commit.audit));
      const last = written.length > 0 ? this.#options.beforeCommit(written) : undefined;
      // Several statements answer with one result each; the COMMIT's is the last.
      const answer: QueryResult | QueryResult[] = await client.query(last === undefined ? 'COMMIT' : `${last}; COMMIT`);
      const result = Array.isArray(answer) ? answer[answer.length - 1] : answer;
      // PostgreSQL answers COMMIT of a failed transaction with a ROLLBACK, not an error.
      if (result?.command !== 'COMMIT') throw new Error(`PostgreSQL rolled the transaction back (${result.command}): none of its ${kept.length} commits was kept`);
      this.stats.transactions += 1;
      this.stats.commits += kept.length;
      open.clear();
      for (const waiting of kept) waiting.resolve();
    } catch (error) {
      try {
        await client.query('ROLLBACK');
      } catch (rollbackError) {
        broken = asError(rollbackError);
      }
      // Nothing of the transaction was kept: every commit of it not refused on its own fails with it.
      const failed = taken ? [...open] : this.#take();
      for (const waiting of failed) waiting.reject(asError(error));
    } finally {
      client.release(broken);
    }
  }
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
