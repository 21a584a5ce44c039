/**
 * Check (KMIP 2.1 section 6.1.7, 1.4 section 4.10): would the object allow this use? The
 * client names a usage mask, a number of uses and/or a lease time; the server answers
 * success, or fails with the reason the first unmet condition gives.
 */
import { Enum, Tag } from '../../ttlv/index.js';
import { KmipError } from '../errors.js';
import { first, leafValue } from '../objects/managed.js';
import { text } from '../protocol/build.js';
import { Fields } from '../protocol/fields.js';
import { loadObject, optionalRequestId } from './common.js';
import { operation } from './types.js';

interface CheckRequest {
  id: string | undefined;
  usageCount: bigint | undefined;
  usageMask: number | undefined;
  leaseTime: number | undefined;
}

export const check = operation<CheckRequest>({
  code: Enum.Operation.Check,
  since: '1.0',
  decode: (payload) => ({
    id: optionalRequestId(payload),
    usageCount: payload.optionalValue(Tag.UsageLimitsCount, 'LongInteger'),
    usageMask: payload.optionalInteger(Tag.CryptographicUsageMask),
    leaseTime: payload.optionalValue(Tag.LeaseTime, 'Interval'),
  }),
  handle: async (ctx, request) => {
    const obj = await loadObject(ctx, request.id);
    if (obj.body === undefined) throw new KmipError('ItemNotFound', `object ${obj.id} has been destroyed`);
    if (request.usageMask !== undefined) {
      const allowed = leafValue(obj, 'Cryptographic Usage Mask', 'Integer') ?? 0;
      if ((allowed & request.usageMask) !== request.usageMask) {
        throw new KmipError('IncompatibleCryptographicUsageMask', `object ${obj.id} does not allow every usage asked for (its mask is ${allowed})`);
      }
    }
    if (request.usageCount !== undefined) {
      const limits = first(obj, 'Usage Limits');
      // An object stored before its count was set at creation has the total left.
      const fields = limits === undefined ? undefined : Fields.of(limits);
      const remaining = fields?.optionalValue(Tag.UsageLimitsCount, 'LongInteger') ?? fields?.optionalValue(Tag.UsageLimitsTotal, 'LongInteger');
      if (remaining !== undefined && remaining < request.usageCount) {
        throw new KmipError('UsageLimitExceeded', `object ${obj.id} has ${remaining} uses left`);
      }
    }
    if (request.leaseTime !== undefined) {
      const lease = leafValue(obj, 'Lease Time', 'Interval');
      if (lease !== undefined && lease !== 0 && request.leaseTime > lease) {
        throw new KmipError('PermissionDenied', `object ${obj.id} grants leases of at most ${lease} seconds`);
      }
    }
    return [text(Tag.UniqueIdentifier, obj.id)];
  },
});
