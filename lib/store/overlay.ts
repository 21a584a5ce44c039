/**
 * A store that holds a batch's changes back: what the operations of one request commit is
 * kept in memory, read back by the later operations of the same request, and then written
 * to the underlying store in one transaction (`flush`) or dropped (`discard`). It serves
 * Batch Error Continuation Option Undo (KMIP 2.1 section 11.5, 1.4 section 9.1.3.2.30): "If
 * any operation in the request fails, then the server SHALL undo all the previous operations".
 */
import type { AuditEntry } from '../audit/record.js';
import type { ManagedObject } from '../objects/types.js';
import { StoreConflictError } from './types.js';
import type { Changes, GrantFilter, GrantRecord, LocateQuery, ObjectMetadata, Store, UniqueClaim } from './types.js';

export class OverlayStore implements Store {
  /** Objects created in the batch, latest version. */
  readonly #created = new Map<string, ManagedObject>();
  /** Objects of the underlying store changed in the batch: latest version, and the revision they had. */
  readonly #updated = new Map<string, { object: ManagedObject; baseRevision: number }>();
  /** Audit entries committed in the batch, written with its changes or dropped with them. */
  readonly #audit: AuditEntry[] = [];
  /** Unique values claimed in the batch, checked by the underlying store when it is written. */
  readonly #claims: UniqueClaim[] = [];

  constructor(private readonly base: Store) {}

  async load(id: string): Promise<ManagedObject | undefined> {
    return this.#pending(id) ?? (await this.base.load(id));
  }

  async loadMetadata(id: string): Promise<ObjectMetadata | undefined> {
    const pending = this.#pending(id);
    if (pending === undefined) return this.base.loadMetadata(id);
    const { body, ...metadata } = pending;
    return { ...metadata, hasBody: body !== undefined };
  }

  async commit(changes: Changes): Promise<void> {
    for (const object of changes.create ?? []) {
      if (this.#pending(object.id) !== undefined) throw new Error(`object ${object.id} already exists`);
      this.#created.set(object.id, object);
    }
    for (const object of changes.update ?? []) {
      const current = await this.load(object.id);
      if (current === undefined || current.revision !== object.revision - 1) {
        throw new StoreConflictError(`object ${object.id} changed since it was read`);
      }
      if (this.#created.has(object.id)) this.#created.set(object.id, object);
      else this.#updated.set(object.id, { object, baseRevision: this.#updated.get(object.id)?.baseRevision ?? current.revision });
    }
    this.#audit.push(...(changes.audit ?? []));
    this.#claims.push(...(changes.unique ?? []));
  }

  /**
   * The underlying store's candidates, and the objects the batch holds of the owner and type
   * asked for (the caller matches their attributes exactly, as it does every candidate).
   */
  async locate(query: LocateQuery): Promise<string[]> {
    const found = await this.base.locate(query);
    const held = [...this.#updated.values()].map(({ object }) => object).concat([...this.#created.values()]);
    const extra = held
      .filter((object) => (query.owner === undefined || object.owner === query.owner) && (query.objectType === undefined || object.objectType === query.objectType))
      // Held objects are shown to their owner; one it may see through a grant is found in the underlying store.
      .filter((object) => query.visibleTo === undefined || object.owner === query.visibleTo.identity)
      .map((object) => object.id)
      .filter((id) => !found.includes(id));
    return [...found, ...extra];
  }

  newId(): string {
    return this.base.newId();
  }

  /** Grant changes are not held back: the grant operations refuse to run in an Undo batch. */
  async addGrants(_grants: readonly GrantRecord[]): Promise<void> {
    throw new Error('grants cannot be changed inside a batch that may be undone');
  }

  async removeGrants(_filter: GrantFilter): Promise<number> {
    throw new Error('grants cannot be changed inside a batch that may be undone');
  }

  findGrants(filter: GrantFilter): Promise<GrantRecord[]> {
    return this.base.findGrants(filter);
  }

  /** The underlying store is not this overlay's to close. */
  async close(): Promise<void> {}

  /**
   * Write every held change to the underlying store in one commit: each changed object as
   * one update from the revision it had, each new object at revision 1 in its latest form,
   * the held audit entries and then `audit` (the batch's own records).
   */
  async flush(audit: readonly AuditEntry[] = []): Promise<void> {
    const create = [...this.#created.values()].map((object) => ({ ...object, revision: 1 }));
    const update = [...this.#updated.values()].map(({ object, baseRevision }) => ({ ...object, revision: baseRevision + 1 }));
    const entries = [...this.#audit, ...audit];
    const unique = [...this.#claims];
    this.discard();
    await this.base.commit({ create, update, audit: entries, ...(unique.length === 0 ? {} : { unique }) });
  }

  /** Forget every held change. */
  discard(): void {
    this.#created.clear();
    this.#updated.clear();
    this.#audit.length = 0;
    this.#claims.length = 0;
  }

  #pending(id: string): ManagedObject | undefined {
    return this.#created.get(id) ?? this.#updated.get(id)?.object;
  }
}
