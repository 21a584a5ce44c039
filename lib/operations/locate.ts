/**
 * Locate (KMIP 2.1 section 6.1.28, 1.4 section 4.9): the objects whose attributes match
 * every attribute of the request, among those the caller may use. The store narrows the
 * candidates with its attribute index; the exact KMIP match runs on those candidates.
 */
import { Enum, Mask, Tag } from '../../ttlv/index.js';
import type { TtlvItem } from '../../ttlv/index.js';
import { compileLocateFilter, fromV1Attributes, fromV2Attributes } from '../attributes/index.js';
import type { AttributeInstance } from '../attributes/index.js';
import { KmipError } from '../errors.js';
import { leafValue } from '../objects/managed.js';
import { int, text } from '../protocol/build.js';
import { atLeast, isV2 } from '../protocol/versions.js';
import type { LocateQuery, ObjectMetadata } from '../store/types.js';
import { principalOf } from '../auth/identity.js';
import { advance, stateOf, yieldToEventLoop } from './common.js';
import { operation } from './types.js';

interface LocateRequest {
  maximumItems: number | undefined;
  offsetItems: number | undefined;
  storageStatusMask: number;
  groupMember: number | undefined;
  filters: AttributeInstance[];
}

const S = Mask.StorageStatusMask;
const DESTROYED_STATES: ReadonlySet<number> = new Set([Enum.State.Destroyed, Enum.State.DestroyedCompromised]);
/** Candidates read between two turns of the event loop (about a millisecond of work). */
const CANDIDATES_PER_TURN = 256;

/** Candidates asked of the store first for a page ending at `end`. */
function firstCandidates(end: number): number {
  return end * 2 + 16;
}

/**
 * Index conditions a Locate hands to the store at most. Each is a subquery of the store's SQL;
 * thousands of them (a request may carry as many attributes as fit in a message) exceeded
 * SQLite's expression depth and failed the Locate. The candidates only have to include every
 * match: the request's every attribute is matched on them anyway.
 */
const MAX_INDEX_CONDITIONS = 16;

/** The index conditions for the store: values first (they narrow most), then presences, MAX_INDEX_CONDITIONS in all. */
function indexConditions(equals: readonly { readonly name: string; readonly key: string }[], has: readonly string[]): Pick<LocateQuery, 'equals' | 'has'> {
  const keptEquals = equals.slice(0, MAX_INDEX_CONDITIONS);
  return { equals: keptEquals, has: has.slice(0, MAX_INDEX_CONDITIONS - keptEquals.length) };
}

/** State changes with dates (Activation, Deactivation): it is matched on the current value, not the index. */
const NOT_INDEXED = new Set(['State']);

export const locate = operation<LocateRequest>({
  code: Enum.Operation.Locate,
  since: '1.0',
  decode: (payload, ctx) => {
    const maximumItems = payload.optionalInteger(Tag.MaximumItems);
    const offsetItems = payload.optionalInteger(Tag.OffsetItems);
    if (maximumItems !== undefined && maximumItems < 0) throw new KmipError('InvalidField', 'Maximum Items may not be negative');
    if (offsetItems !== undefined && offsetItems < 0) throw new KmipError('InvalidField', 'Offset Items may not be negative');
    const attributes = isV2(ctx.version)
      ? fromV2Attributes(payload.optional(Tag.Attributes) ?? { tag: Tag.Attributes, type: 'Structure', value: [] }, { version: ctx.version, purpose: 'locate' })
      : fromV1Attributes(payload.all(Tag.Attribute), { version: ctx.version, purpose: 'locate' });
    return {
      maximumItems,
      offsetItems,
      storageStatusMask: payload.optionalInteger(Tag.StorageStatusMask) ?? S.OnLineStorage,
      groupMember: payload.optionalEnumeration(Tag.ObjectGroupMember),
      filters: attributes,
    };
  },
  handle: async (ctx, request) => {
    const filter = compileLocateFilter(request.filters);
    const objectType = request.filters.find((f) => f.name === 'Object Type')?.value;
    const query: LocateQuery = {
      // Only what the caller may use: owned, granted (to it or its groups), or everything for an administrator.
      ...(ctx.identity.admin ? {} : { visibleTo: principalOf(ctx.identity) }),
      ...(objectType?.type === 'Enumeration' ? { objectType: objectType.value } : {}),
      ...indexConditions(
        filter.equals.filter((c) => !NOT_INDEXED.has(c.name)),
        filter.has.filter((name) => !NOT_INDEXED.has(name)),
      ),
    };
    // Asking for a destroyed State is asking for destroyed objects (1.x has no Destroyed Storage bit).
    const wantsDestroyed =
      (request.storageStatusMask & S.DestroyedStorage) !== 0 ||
      request.filters.some((f) => f.name === 'State' && f.value.type === 'Enumeration' && DESTROYED_STATES.has(f.value.value));
    const offset = request.offsetItems ?? 0;
    const limit = Math.min(request.maximumItems ?? ctx.limits.locateMaxItems, ctx.limits.locateMaxItems);
    const end = request.groupMember === Enum.ObjectGroupMember.GroupMemberDefault ? offset + 1 : offset + limit;
    // Located Items only when the client pages (no OASIS case expects it otherwise); 1.3 defined it.
    const counts = (request.maximumItems !== undefined || request.offsetItems !== undefined) && atLeast(ctx.version, '1.3');
    const scanLimit = ctx.limits.locateMaxScan;
    const countLimit = Math.min(ctx.limits.locateMaxCount, scanLimit);
    const matching = async (candidates: readonly string[], wanted: number): Promise<string[]> => {
      const found: string[] = [];
      for (const [index, id] of candidates.entries()) {
        // Without a count to give, the matches past the page change nothing: stop there.
        if (found.length >= wanted) break;
        // A Locate that narrows little reads many objects: let other requests in between.
        if (index > 0 && index % CANDIDATES_PER_TURN === 0) await yieldToEventLoop();
        const meta = await ctx.store.loadMetadata(id);
        if (meta === undefined) continue; // removed since the index was read
        const current = advance(meta, ctx.now);
        if (!inStorage(current, request.storageStatusMask, wantsDestroyed)) continue;
        if (request.groupMember !== undefined && leafValue(current, 'Fresh', 'Boolean') === false) continue;
        if (filter.matches(current.attributes)) found.push(id);
      }
      return found;
    };
    // The store returns at most `limit` candidates, in the order of their creation; one more
    // than a bound says there are more than it.
    const candidates = async (limit: number): Promise<string[]> => ctx.store.locate({ ...query, limit });
    /**
     * The matches up to `end`, from `first` (the first `asked` candidates, or fewer when there
     * are no more) and then the candidates after them, never more than locateMaxScan in all.
     */
    const pageFrom = async (first: readonly string[], asked: number): Promise<string[]> => {
      const found = await matching(first.slice(0, scanLimit), end);
      if (found.length >= end || first.length < asked) return found;
      if (first.length > scanLimit) throw scanExceeded(scanLimit);
      const seen = new Set(first);
      const all = await candidates(scanLimit + 1);
      const rest = all.slice(0, scanLimit).filter((id) => !seen.has(id));
      const more = await matching(rest, end - found.length);
      if (found.length + more.length < end && all.length > scanLimit) throw scanExceeded(scanLimit);
      return [...found, ...more];
    };
    let found: string[];
    let located: number | undefined;
    if (counts) {
      // A count means matching every candidate: only while there are few of them.
      const all = await candidates(countLimit + 1);
      if (all.length <= countLimit) {
        found = await matching(all, Infinity);
        located = found.length;
      } else {
        found = await pageFrom(all, countLimit + 1);
      }
    } else {
      // A page's worth of candidates first (and some for those that will not match): the
      // store does not read a million identifiers to answer a page of a thousand.
      const asked = Math.min(firstCandidates(end), scanLimit + 1);
      found = await pageFrom(await candidates(asked), asked);
    }
    const page = found.slice(offset, end);
    if (page[0] !== undefined) ctx.idPlaceholder = page[0];
    const out: TtlvItem[] = [];
    if (located !== undefined) out.push(int(Tag.LocatedItems, located));
    for (const id of page) out.push(text(Tag.UniqueIdentifier, id));
    return out;
  },
});

function scanExceeded(scanLimit: number): KmipError {
  return new KmipError(
    'ServerLimitExceeded',
    `this Locate would examine more than ${scanLimit} candidate objects (locateMaxScan): narrow it by an indexed attribute (Name, Object Group, Cryptographic Algorithm, a link, a custom attribute) or by Object Type, page it with a smaller Offset Items, or raise locateMaxScan`,
  );
}

/** Whether the object lies in a storage the mask asks for: on-line, archived, destroyed. */
function inStorage(obj: ObjectMetadata, mask: number, wantsDestroyed: boolean): boolean {
  if (DESTROYED_STATES.has(stateOf(obj)) || !obj.hasBody) return wantsDestroyed;
  const archived = leafValue(obj, 'Archive Date', 'DateTime') !== undefined;
  return archived ? (mask & S.ArchivalStorage) !== 0 : (mask & S.OnLineStorage) !== 0;
}
