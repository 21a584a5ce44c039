/**
 * Tampering with an audit trail directly in its database, as someone with write access to
 * the file or the PostgreSQL schema would: the scenarios the verifier must catch, written
 * once for both back ends. SQL uses $1-style parameters (rewritten to ? for SQLite).
 */
import { recordHash } from '../../lib/audit/index.js';
import type { BreakKind, StoredRecord } from '../../lib/audit/index.js';

/** A direct connection to the database holding the trail. */
export interface RawDb {
  run(sql: string, params?: readonly (string | number | null)[]): Promise<void>;
  /** Every record, in sequence order. */
  records(): Promise<StoredRecord[]>;
}

export interface Scenario {
  readonly name: string;
  /** What the verifier must say: the record it names and the kind of break. */
  readonly expected: { readonly seq: number; readonly kind: BreakKind };
  tamper(db: RawDb): Promise<void>;
}

const INSERT = `INSERT INTO audit_log (seq, time, identity, peer, correlation, client_correlation, item, operation, objects, status, reason, message, prev_hash, hash)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`;

const values = (r: StoredRecord): (string | number | null)[] => [
  r.seq, r.time, r.identity, r.peer, r.correlation, r.clientCorrelation, r.item, r.operation, r.objectsJson, r.status, r.reason, r.message, r.prevHash, r.hash,
];

async function recordAt(db: RawDb, seq: number): Promise<StoredRecord> {
  const record = (await db.records()).find((r) => r.seq === seq);
  if (record === undefined) throw new Error(`test trail has no record ${seq}`);
  return record;
}

/** Move every record numbered `from` or more by `by` (PRIMARY KEY-safe: through negative numbers). */
async function renumber(db: RawDb, from: number, by: number): Promise<void> {
  await db.run('UPDATE audit_log SET seq = -(seq + $1) WHERE seq >= $2', [by, from]);
  await db.run('UPDATE audit_log SET seq = -seq WHERE seq < 0');
}

async function swap(db: RawDb, a: number, b: number): Promise<void> {
  await db.run('UPDATE audit_log SET seq = -1 WHERE seq = $1', [a]);
  await db.run('UPDATE audit_log SET seq = $1 WHERE seq = $2', [a, b]);
  await db.run('UPDATE audit_log SET seq = $1 WHERE seq = -1', [b]);
}

/** A record an attacker who knows the format makes: right hash, linked to `prev`. */
function forged(prev: StoredRecord, seq: number): StoredRecord {
  const draft: StoredRecord = { ...prev, seq, operation: 'Get', identity: 'admin', status: 'Success', reason: null, message: null, prevHash: prev.hash, hash: '' };
  return { ...draft, hash: recordHash(draft) };
}

/** Scenarios for a trail of `count` records (at least 8). */
export function scenarios(count: number): Scenario[] {
  if (count < 8) throw new Error('the tamper scenarios need a trail of 8 records or more');
  return [
    {
      name: 'fields of record 4 edited (who, and the result)',
      expected: { seq: 4, kind: 'edited' },
      tamper: (db) => db.run("UPDATE audit_log SET status = 'Success', reason = NULL, identity = 'somebody else' WHERE seq = 4"),
    },
    {
      name: 'record 4 edited and its own hash recomputed',
      expected: { seq: 4, kind: 'edited' },
      async tamper(db) {
        const edited = { ...(await recordAt(db, 4)), peer: '10.0.0.1:1' };
        await db.run('UPDATE audit_log SET peer = $1, hash = $2 WHERE seq = 4', [edited.peer, recordHash(edited)]);
      },
    },
    {
      name: 'record 5 deleted',
      expected: { seq: 5, kind: 'deleted' },
      tamper: (db) => db.run('DELETE FROM audit_log WHERE seq = 5'),
    },
    {
      name: 'record 5 deleted and the later records renumbered to close the gap',
      expected: { seq: 5, kind: 'deleted' },
      async tamper(db) {
        await db.run('DELETE FROM audit_log WHERE seq = 5');
        await renumber(db, 6, -1);
      },
    },
    {
      name: 'the last record deleted',
      expected: { seq: count, kind: 'deleted' },
      tamper: (db) => db.run('DELETE FROM audit_log WHERE seq = $1', [count]),
    },
    {
      name: 'records 3 and 4 reordered',
      expected: { seq: 3, kind: 'reordered' },
      tamper: (db) => swap(db, 3, 4),
    },
    {
      name: 'records 2 and 6 reordered',
      expected: { seq: 2, kind: 'reordered' },
      tamper: (db) => swap(db, 2, 6),
    },
    {
      name: 'a forged record (right hash, right link) inserted as record 5, the later ones renumbered',
      expected: { seq: 5, kind: 'inserted' },
      async tamper(db) {
        const fake = forged(await recordAt(db, 4), 5);
        await renumber(db, 5, 1);
        await db.run(INSERT, values(fake));
      },
    },
    {
      name: 'a crude record (copied, hash not recomputed) inserted as record 5, the later ones renumbered',
      expected: { seq: 5, kind: 'inserted' },
      async tamper(db) {
        const copy = { ...(await recordAt(db, 2)), seq: 5 };
        await renumber(db, 5, 1);
        await db.run(INSERT, values(copy));
      },
    },
    {
      name: 'a forged record appended after the last one (the head not moved)',
      expected: { seq: count + 1, kind: 'inserted' },
      async tamper(db) {
        await db.run(INSERT, values(forged(await recordAt(db, count), count + 1)));
      },
    },
  ];
}

/** The statement with `?` in place of each `$n`, and the parameters in the order the `?` appear. */
export function sqliteParams(sql: string, params: readonly (string | number | null)[]): { sql: string; params: (string | number | null)[] } {
  const ordered: (string | number | null)[] = [];
  const text = sql.replace(/\$(\d+)/g, (_, n: string) => {
    ordered.push(params[Number(n) - 1] ?? null);
    return '?';
  });
  return { sql: text, params: ordered };
}
