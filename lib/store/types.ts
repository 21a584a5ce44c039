import type { AuditEntry, ChainHead, StoredRecord } from '../audit/record.js';
import type { ManagedObject } from '../objects/types.js';
import type { KekRecord } from '../crypto/index.js';

/**
 * The key store. Every back end (SQLite, PostgreSQL) passes the same store test suite.
 *
 * Changes are committed as one unit with `commit`: an operation reads what it needs, works
 * out its changes, and commits them atomically; a promise that resolves means the change
 * is durable (decision 4 in DESIGN.md). Key material (`ManagedObject.body`) is stored only
 * wrapped under the key-encryption key.
 */
export interface Store {
  /** The object, or undefined when no object has this identifier. */
  load(id: string): Promise<ManagedObject | undefined>;
  /**
   * The object without its body (nothing is unwrapped): for Locate, which reads attributes
   * of many objects. Its type has no `body`, so it cannot be committed back by mistake.
   */
  loadMetadata(id: string): Promise<ObjectMetadata | undefined>;
  /** Apply all changes in one transaction, or none. */
  commit(changes: Changes): Promise<void>;
  /** Identifiers of candidate objects for Locate, in creation order (oldest first). */
  locate(query: LocateQuery): Promise<string[]>;
  /** A new unique identifier (not yet used by any object). */
  newId(): string;
  close(): Promise<void>;
  // Grants (lib/auth): who else may do what with an object or an Object Group.
  /**
   * Store grants durably; a grant already stored (same key and permission) is kept as it is.
   * `audit` entries are appended to the hash chain in the same transaction (as Changes.audit).
   */
  addGrants(grants: readonly GrantRecord[], audit?: readonly AuditEntry[]): Promise<void>;
  /** Remove the grants that match every condition of the filter, with `audit` in the same transaction; how many were removed. */
  removeGrants(filter: GrantFilter, audit?: readonly AuditEntry[]): Promise<number>;
  /** The grants that match every condition of the filter, oldest first. */
  findGrants(filter: GrantFilter): Promise<GrantRecord[]>;
  /** Objects by type and State, from the indexes without loading any (the `kmipd_objects` metric). */
  countByState?(): Promise<ObjectCount[]>;
}

/** How many objects have one Object Type and one State. */
export interface ObjectCount {
  readonly objectType: number;
  /** The State enumeration value; undefined for objects without a State (Opaque Objects in 1.x). */
  readonly state: number | undefined;
  readonly count: number;
}

/**
 * One permission given to one grantee on one target. A group grant (`targetKind` `group`,
 * target an Object Group name) covers the objects of that group owned by `scopeOwner`, or
 * every object of the group when `scopeOwner` is null (a grant made by an administrator).
 */
export interface GrantRecord {
  readonly targetKind: 'object' | 'group';
  /** The object's Unique Identifier, or the Object Group. */
  readonly target: string;
  readonly scopeOwner: string | null;
  readonly granteeKind: 'identity' | 'group';
  readonly grantee: string;
  readonly permission: string;
  readonly grantedBy: string;
  /** When it was granted, ms since the epoch. */
  readonly created: number;
}

/** Conditions on grants, all of which must hold; an empty filter matches every grant. */
export interface GrantFilter {
  readonly targetKind?: 'object' | 'group';
  readonly target?: string;
  /** Only group grants of this scope (null: the administrators' grants, of every owner). */
  readonly scopeOwner?: string | null;
  readonly granteeKind?: 'identity' | 'group';
  readonly grantee?: string;
  readonly permissions?: readonly string[];
  /** Grants to this identity, or to any of these identity groups. */
  readonly principal?: { readonly identity: string; readonly groups: readonly string[] };
}

export type ObjectMetadata = Omit<ManagedObject, 'body'> & {
  /** Whether the object still holds its body (false once destroyed). */
  readonly hasBody: boolean;
};

export interface Changes {
  /** New objects: revision 1 is stored. */
  readonly create?: readonly ManagedObject[];
  /**
   * Changed objects: each must still be at `revision - 1` in the store, or the commit fails
   * with a StoreConflictError and nothing is written.
   */
  readonly update?: readonly ManagedObject[];
  /**
   * Audit entries to append to the hash chain in the same transaction (lib/audit): numbered
   * and chained by the store under its lock on the chain head. A commit holding only audit
   * entries is a transaction too.
   */
  readonly audit?: readonly AuditEntry[];
  /**
   * How durable a commit holding only audit entries is when its promise resolves; a commit
   * with objects is always synced to disk whatever this says. Default `fsync`.
   */
  readonly auditDurability?: AuditDurability;
  /**
   * Called once the changes are written and visible to later reads and commits, possibly
   * before they are durable: a caller holding a lock across its check and its commit
   * (lib/operations/common.ts `commit`) releases it there, so that the next commits join the
   * same sync (group commit). The commit's promise still resolves only once the changes are
   * durable, and rejects if they are not. A store that writes and syncs in one step calls
   * nothing; the caller then waits for the promise. A store may write a commit that passes
   * this at once instead of grouping it with later ones (SQLite's 'deferred' grouping holds
   * commits back until the running sync ends): pass it only when something waits on it.
   */
  readonly written?: () => void;
  /**
   * Values that objects of this commit take and that must be unique among their owner's
   * objects with key material (a Name: KMIP 2.1 section 4.32). The store checks them inside
   * its write transaction, where no other connection, process or node can commit meanwhile,
   * and refuses the whole commit with a UniqueValueError when another such object holds one
   * (objects of the commit itself do not count: they give up or take values together).
   */
  readonly unique?: readonly UniqueClaim[];
}

/** A value an object is to hold alone among its owner's objects: an attribute's index row (see IndexKeys). */
export interface UniqueClaim {
  readonly owner: string;
  /** The attribute name, as its index rows are named. */
  readonly name: string;
  readonly key: string;
}

/**
 * `fsync`: synced to disk (SQLite synchronous=FULL, PostgreSQL synchronous_commit on).
 * `process`: written to the database, visible to every reader and kept through a crash of
 * kmipd, but not yet synced: an OS crash or power loss (and on PostgreSQL a crash of the
 * database server) can lose the last such commits. The next synced commit syncs them too
 * (SQLite's WAL and PostgreSQL's WAL are each one log, flushed in order), so what survives
 * is always a prefix of the chain and it verifies.
 */
export type AuditDurability = 'fsync' | 'process';

/**
 * What the store narrows by, using its indexes. The caller applies the exact KMIP match
 * (ranges, masks, structure equality) to the candidates; the store must never leave out an
 * object that satisfies all conditions.
 */
export interface LocateQuery {
  /** Only objects owned by this identity; undefined for all (administrators). */
  readonly owner?: string;
  /**
   * Only objects this principal may see: owned by the identity, or covered by a grant (of
   * any permission) to the identity or one of its groups, on the object or on an Object
   * Group the object has (index key of 'Object Group' = the group name).
   */
  readonly visibleTo?: { readonly identity: string; readonly groups: readonly string[] };
  readonly objectType?: number;
  /** Each condition: the object has an instance of `name` whose index key equals `key`. */
  readonly equals?: readonly { readonly name: string; readonly key: string }[];
  /** Each condition: the object has an instance of `name` (any value). */
  readonly has?: readonly string[];
  /** At most this many, the first in creation order (the caller asks again without it when they were not enough). */
  readonly limit?: number;
}

export class StoreConflictError extends Error {
  override readonly name = 'StoreConflictError';
}

/** A commit refused because another object holds a value it claims (Changes.unique). */
export class UniqueValueError extends Error {
  override readonly name = 'UniqueValueError';

  constructor(
    readonly claim: UniqueClaim,
    readonly holder: string,
  ) {
    super(`${claim.name} ${JSON.stringify(claim.key)} is held by object ${holder} of the same owner`);
  }
}

// ---------------------------------------------------------------------------------------
// Maintenance: KEK rotation, backup and restore, the scheduler (both back ends)

/** One stored row exactly as kept: attributes encoded, body still wrapped. For backup and restore. */
export interface StoredRow {
  readonly id: string;
  readonly objectType: number;
  readonly owner: string;
  readonly revision: number;
  /** TTLV: Attributes { Attribute { Attribute Name, <value> } ... } (codec.ts). */
  readonly attributes: Buffer;
  /** Wrapped under the KEK `kekId`; null once destroyed. */
  readonly body: Buffer | null;
  readonly kekId: string | null;
  /** ms since the epoch. */
  readonly created: number;
  readonly updated: number;
}

/**
 * What an export yields, from one snapshot: KEK records, rows (creation order), grants (oldest
 * first), audit records exactly as stored (by number) and the audit chain head.
 */
export type ExportItem =
  | StoredRow
  | { readonly kek: KekRecord }
  | { readonly grant: GrantRecord }
  | { readonly audit: StoredRecord }
  | { readonly auditHead: ChainHead };

/** What an import takes: an export's items but the KEK records (given apart, written last). */
export type ImportItem = Exclude<ExportItem, { readonly kek: KekRecord }>;

export interface ImportOptions {
  /** Delete every object and grant first (and the audit trail, with `restoreAudit`). */
  readonly replace?: boolean;
  /**
   * The items carry an audit trail: the store's records and head become exactly those given
   * (an import without this keeps the store's own trail). Refused over a non-empty trail
   * unless `replace`.
   */
  readonly restoreAudit?: boolean;
  /** Appended to the chain last, in the import's transaction: the record of the import itself. */
  readonly appendAudit?: readonly AuditEntry[];
}

/** A stored body and the KEK that wrapped it. */
export interface WrappedBody {
  readonly id: string;
  readonly body: Buffer;
  readonly kekId: string;
}

/**
 * What the operational commands need beside the Store: KEK bookkeeping and re-wrapping
 * (`kmipd kek`), a consistent export and an import (`kmipd backup`, `kmipd restore`), due
 * objects by date and a lock that one node at a time holds (the scheduler).
 */
export interface MaintenanceStore extends Store {
  /** The KEKs this store knows, oldest first. */
  keks(): Promise<KekRecord[]>;
  /** Objects per KEK id that wrapped their body (the key null: destroyed objects). */
  kekUsage(): Promise<Map<string | null, number>>;
  /**
   * Start a rotation, atomically: the active KEK becomes retiring and `next` active. From
   * then on the store refuses to write a body wrapped under a KEK that is not active (a
   * writer that has not seen the change re-reads the list and wraps again).
   */
  beginKekRotation(next: Pick<KekRecord, 'id' | 'kind' | 'ref'>): Promise<void>;
  /** Bodies wrapped under `kekId`, by identifier, after `afterId`. */
  wrappedWith(kekId: string, afterId: string | undefined, limit: number): Promise<WrappedBody[]>;
  /**
   * Replace one wrapped body by the same content wrapped under another KEK, only if the row
   * still holds `from` (a concurrent update wins). The revision does not change.
   */
  rewrapBody(from: WrappedBody, to: { readonly body: Buffer; readonly kekId: string }): Promise<boolean>;
  /** Mark a retiring KEK retired, only if no stored body refers to it any more. */
  retireKek(id: string): Promise<boolean>;
  /** Change the `ref` of a KEK (its key file was renamed). */
  setKekRef(id: string, ref: string): Promise<void>;
  /** Every KEK record, row, grant and audit record, from one consistent snapshot (writers carry on). */
  exportRows(): AsyncIterable<ExportItem>;
  /** Whether the store holds no object. */
  isEmpty(): Promise<boolean>;
  /**
   * Write an export's items and KEK records, in one transaction, into a store without objects
   * (or, with `replace`, after deleting them). Index rows are computed anew. Returns how many
   * objects were written.
   */
  importRows(keks: readonly KekRecord[], items: AsyncIterable<ImportItem>, options?: ImportOptions): Promise<number>;
  /** Identifiers of objects with an index row `name` whose key is at most `upTo`, in key order. */
  indexRange(name: string, upTo: string, limit: number): Promise<string[]>;
  /**
   * Recompute every object's index rows named `name` with the store's index keys, `limit`
   * objects per call, resumably: the progress commits with each page, so work stopped midway
   * resumes where it stopped. `version` names the computation; a new one starts again from the
   * first object. Returns the objects this call covered and whether all are done at `version`.
   */
  refreshIndex(name: string, version: number, limit: number): Promise<{ readonly objects: number; readonly done: boolean }>;
  /**
   * Run `work` while holding the named lock that one process of all those sharing this
   * store can hold at a time; false (and `work` not run) when another holds it.
   */
  exclusively(name: string, work: () => Promise<void>): Promise<boolean>;
}

export function isMaintenanceStore(store: Store): store is MaintenanceStore {
  return typeof (store as Partial<MaintenanceStore>).exportRows === 'function' && typeof (store as Partial<MaintenanceStore>).indexRange === 'function';
}
