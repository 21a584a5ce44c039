import type { ManagedObject } from '../objects/types.js';

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
}

/**
 * What the store narrows by, using its indexes. The caller applies the exact KMIP match
 * (ranges, masks, structure equality) to the candidates; the store must never leave out an
 * object that satisfies all conditions.
 */
export interface LocateQuery {
  /** Only objects owned by this identity; undefined for all (administrators). */
  readonly owner?: string;
  readonly objectType?: number;
  /** Each condition: the object has an instance of `name` whose index key equals `key`. */
  readonly equals?: readonly { readonly name: string; readonly key: string }[];
  /** Each condition: the object has an instance of `name` (any value). */
  readonly has?: readonly string[];
}

export class StoreConflictError extends Error {
  override readonly name = 'StoreConflictError';
}
