/**
 * Obtain Lease (KMIP 2.1 section 6.1.35): how long the client may cache and use the object
 * before asking again. The object's Lease Time attribute sets it; without one the lease is
 * 0, which the specification defines as no limit.
 */
import { Enum, Tag } from '../../ttlv/index.js';
import { KmipError } from '../errors.js';
import { leafValue } from '../objects/managed.js';
import { dateTime, interval, text } from '../protocol/build.js';
import { loadObject, optionalRequestId } from './common.js';
import { operation } from './types.js';

export const obtainLease = operation<{ id: string | undefined }>({
  code: Enum.Operation.ObtainLease,
  since: '1.0',
  decode: (payload) => ({ id: optionalRequestId(payload) }),
  handle: async (ctx, request) => {
    const obj = await loadObject(ctx, request.id);
    if (obj.body === undefined) throw new KmipError('ItemNotFound', `object ${obj.id} has been destroyed: no lease is issued`);
    const lease = leafValue(obj, 'Lease Time', 'Interval') ?? 0;
    const lastChange = leafValue(obj, 'Last Change Date', 'DateTime') ?? leafValue(obj, 'Initial Date', 'DateTime') ?? ctx.now;
    return [text(Tag.UniqueIdentifier, obj.id), interval(Tag.LeaseTime, lease), dateTime(Tag.LastChangeDate, lastChange)];
  },
});
