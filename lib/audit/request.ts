/**
 * The audit of one request message: an entry per batch item. An item that changes objects
 * gets its entry inside the commit of that change (`auditCommits` adds it), so the change and
 * its record are one transaction; every other item (a Get, a Locate, a failure) gets its
 * entry written after the batch, before the answer is sent (see AuditWriter).
 */
import { randomUUID } from 'node:crypto';
import { Tag } from '../../ttlv/index.js';
import type { TtlvItem } from '../../ttlv/index.js';
import type { Changes, GrantFilter, GrantRecord, Store } from '../store/types.js';
import { storeMember } from '../store/members.js';
import type { AuditEntry } from './record.js';

/** Who sent the request and how the server names it. */
export interface AuditedRequest {
  readonly identity: string;
  readonly peer: string;
  readonly correlation: string;
  readonly clientCorrelation?: string | undefined;
}

/** An item's result as the response states it. */
export interface ItemOutcome {
  readonly status: string;
  readonly reason?: string | undefined;
  readonly message?: string | undefined;
  readonly payload?: readonly TtlvItem[] | undefined;
}

/** The final entry of an item, and whether it is already written with the item's change. */
export interface ItemRecord {
  readonly entry: AuditEntry;
  readonly written: boolean;
}

/** Fields whose values name objects; nothing else of a payload is ever read. */
const IDENTIFIER_TAGS: ReadonlySet<number> = new Set([Tag.UniqueIdentifier, Tag.PrivateKeyUniqueIdentifier, Tag.PublicKeyUniqueIdentifier]);

/** The object identifiers among a payload's top-level fields (Text String form only). */
export function identifiersIn(items: readonly TtlvItem[] | undefined): string[] {
  const ids: string[] = [];
  for (const item of items ?? []) {
    if (IDENTIFIER_TAGS.has(item.tag) && item.type === 'TextString') ids.push(item.value);
  }
  return ids;
}

interface CurrentItem {
  readonly item: number;
  readonly operation: string;
  readonly requested: readonly string[];
  committed: boolean;
}

export class RequestAudit {
  readonly #request: AuditedRequest;
  readonly #now: () => Date;
  #current: CurrentItem | undefined;
  readonly #records: ItemRecord[] = [];

  constructor(request: AuditedRequest, now: () => Date = () => new Date()) {
    this.#request = request;
    this.#now = now;
  }

  /** The one entry of a request refused before its batch items could be read. */
  refused(reason: string, message: string): AuditEntry {
    return this.#entry({ item: null, operation: null, objects: [], status: 'OperationFailed', reason, message });
  }

  /** Item `item` (from 1) starts; `payload` is its Request Payload, read only for identifiers. */
  begin(item: number, operation: string, payload: TtlvItem | undefined): void {
    const requested = payload?.type === 'Structure' ? identifiersIn(payload.value) : [];
    this.#current = { item, operation, requested, committed: false };
  }

  /**
   * The entry to commit with the current item's change: it succeeded as far as the change
   * goes. Should the item fail after it, `finish` records the failure too.
   */
  forChange(changes: Changes, objects: readonly string[] = []): AuditEntry {
    const current = this.#current;
    if (current === undefined) throw new Error('a change was committed outside a batch item');
    const named = [...current.requested];
    for (const object of changes.create ?? []) named.push(object.id);
    for (const object of changes.update ?? []) named.push(object.id);
    named.push(...objects);
    return this.#entry({ item: current.item, operation: current.operation, objects: named, status: 'Success', reason: null, message: null });
  }

  /** The change (and with it the entry of `forChange`) is committed. */
  changeCommitted(): void {
    if (this.#current !== undefined) this.#current.committed = true;
  }

  /** The current item ended with `outcome`. */
  finish(outcome: ItemOutcome): void {
    const current = this.#current;
    if (current === undefined) throw new Error('finish without begin');
    this.#current = undefined;
    const entry = this.#entry({
      item: current.item,
      operation: current.operation,
      objects: [...current.requested, ...identifiersIn(outcome.payload)],
      status: outcome.status,
      reason: outcome.reason ?? null,
      message: outcome.message ?? null,
    });
    this.#records.push({ entry, written: current.committed && outcome.status === 'Success' });
  }

  /** Every finished item's final entry, in item order. */
  get records(): readonly ItemRecord[] {
    return this.#records;
  }

  /** The entries still to write: items without a change, and items that failed after one. */
  unwritten(): AuditEntry[] {
    return this.#records.filter((record) => !record.written).map((record) => record.entry);
  }

  #entry(what: Pick<AuditEntry, 'item' | 'operation' | 'objects' | 'status' | 'reason' | 'message'>): AuditEntry {
    return {
      time: this.#now().toISOString(),
      identity: this.#request.identity,
      peer: this.#request.peer,
      correlation: this.#request.correlation,
      clientCorrelation: this.#request.clientCorrelation ?? null,
      // Field by field: an object spread after other properties takes V8's slow path, once per operation.
      item: what.item,
      operation: what.operation,
      objects: what.objects,
      status: what.status,
      reason: what.reason,
      message: what.message,
    };
  }
}

/**
 * `store` with every commit (and every grant change) carrying the current item's entry. A
 * Proxy rather than a class, so every other method of the store (whatever the back end
 * adds) passes through unchanged.
 */
export function auditCommits(store: Store, audit: RequestAudit): Store {
  const commit = async (changes: Changes): Promise<void> => {
    const entry = audit.forChange(changes);
    // Object.assign, not a spread followed by `audit`: V8 builds that on a slow path, ~1.5 us a commit.
    await store.commit(Object.assign({}, changes, { audit: changes.audit === undefined ? [entry] : [...changes.audit, entry] }));
    audit.changeCommitted();
  };
  const addGrants = async (grants: readonly GrantRecord[], entries: readonly AuditEntry[] = []): Promise<void> => {
    const objects = grants.filter((grant) => grant.targetKind === 'object').map((grant) => grant.target);
    await store.addGrants(grants, [...entries, audit.forChange({}, objects)]);
    audit.changeCommitted();
  };
  const removeGrants = async (filter: GrantFilter, entries: readonly AuditEntry[] = []): Promise<number> => {
    const objects = filter.targetKind === 'object' && filter.target !== undefined ? [filter.target] : [];
    const removed = await store.removeGrants(filter, [...entries, audit.forChange({}, objects)]);
    audit.changeCommitted();
    return removed;
  };
  const wrapped: Partial<Record<PropertyKey, unknown>> = { commit, addGrants, removeGrants };
  return new Proxy(store, {
    get(target, property) {
      if (property in wrapped) return wrapped[property];
      return storeMember(target, property);
    },
  });
}

/**
 * `store` for work the server does on its own (the scheduler's date-driven changes and
 * automatic rotations): each commit carries a record of `operation` by `identity`, from
 * peer `kmipd`, in the transaction of the change. One correlation value per call.
 */
export function auditSystemCommits(store: Store, identity: string, operation: string): Store {
  const audit = new RequestAudit({ identity, peer: 'kmipd', correlation: randomUUID() });
  audit.begin(1, operation, undefined);
  return auditCommits(store, audit);
}
