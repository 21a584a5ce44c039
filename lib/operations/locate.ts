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
      equals: filter.equals.filter((c) => !NOT_INDEXED.has(c.name)),
      has: filter.has.filter((name) => !NOT_INDEXED.has(name)),
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
    let found: string[];
    if (counts) {
      found = await matching(await ctx.store.locate(query), Infinity);
    } else {
      // A page's worth of candidates first (and some for those that will not match): the
      // store does not read a million identifiers to answer a page of a thousand.
      const first = await ctx.store.locate({ ...query, limit: firstCandidates(end) });
      found = await matching(first, end);
      if (found.length < end && first.length === firstCandidates(end)) {
        const seen = new Set(first);
        const rest = (await ctx.store.locate(query)).filter((id) => !seen.has(id));
        found = [...found, ...(await matching(rest, end - found.length))];
      }
    }
    const page = found.slice(offset, end);
    if (page[0] !== undefined) ctx.idPlaceholder = page[0];
    const out: TtlvItem[] = [];
    if (counts) out.push(int(Tag.LocatedItems, found.length));
    for (const id of page) out.push(text(Tag.UniqueIdentifier, id));
    return out;
  },
});

/** Whether the object lies in a storage the mask asks for: on-line, archived, destroyed. */
function inStorage(obj: ObjectMetadata, mask: number, wantsDestroyed: boolean): boolean {
  if (DESTROYED_STATES.has(stateOf(obj)) || !obj.hasBody) return wantsDestroyed;
  const archived = leafValue(obj, 'Archive Date', 'DateTime') !== undefined;
  return archived ? (mask & S.ArchivalStorage) !== 0 : (mask & S.OnLineStorage) !== 0;
}
