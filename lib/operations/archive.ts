/**
 * Archive and Recover (KMIP 2.1 sections 6.1.4 and 6.1.42). An archived object keeps its
 * Archive Date and is offline: Locate finds it only with the Archival Storage mask, and it
 * must be recovered before use.
 */
import { Enum, Tag } from '../../ttlv/index.js';
import { KmipError } from '../errors.js';
import { first, withAttribute } from '../objects/managed.js';
import type { ManagedObject } from '../objects/types.js';
import { dateTime, text } from '../protocol/build.js';
import { changed, commit, loadObject, optionalRequestId } from './common.js';
import { operation } from './types.js';

export function isArchived(obj: ManagedObject): boolean {
  return first(obj, 'Archive Date') !== undefined;
}

export const archive = operation<{ id: string | undefined }>({
  code: Enum.Operation.Archive,
  since: '1.0',
  decode: (payload) => ({ id: optionalRequestId(payload) }),
  handle: async (ctx, request) => {
    const obj = await loadObject(ctx, request.id);
    if (!isArchived(obj)) {
      await commit(ctx, { update: [changed(ctx, withAttribute(obj, 'Archive Date', dateTime(Tag.ArchiveDate, ctx.now)))] });
    }
    return [text(Tag.UniqueIdentifier, obj.id)];
  },
});

export const recover = operation<{ id: string | undefined }>({
  code: Enum.Operation.Recover,
  since: '1.0',
  decode: (payload) => ({ id: optionalRequestId(payload) }),
  handle: async (ctx, request) => {
    const obj = await loadObject(ctx, request.id);
    if (isArchived(obj)) await commit(ctx, { update: [changed(ctx, withAttribute(obj, 'Archive Date'))] });
    return [text(Tag.UniqueIdentifier, obj.id)];
  },
});

/** Refuse to use an archived object until it is recovered. */
export function requireOnline(obj: ManagedObject): void {
  if (isArchived(obj)) throw new KmipError('ObjectArchived', `object ${obj.id} is archived; Recover it first`);
}
