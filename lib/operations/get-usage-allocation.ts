/**
 * Get Usage Allocation (KMIP 2.1 section 6.1.23): reserve a number of uses of a key against
 * its Usage Limits. The remaining count is decremented atomically with the answer.
 */
import { Enum, Tag } from '../../ttlv/index.js';
import { KmipError } from '../errors.js';
import { first, withAttribute } from '../objects/managed.js';
import { long, struct, text } from '../protocol/build.js';
import { Fields } from '../protocol/fields.js';
import { changed, commit, loadObject, optionalRequestId } from './common.js';
import { operation } from './types.js';

export const getUsageAllocation = operation<{ id: string | undefined; count: bigint | undefined }>({
  code: Enum.Operation.GetUsageAllocation,
  since: '1.0',
  decode: (payload) => {
    const count = payload.optionalValue(Tag.UsageLimitsCount, 'LongInteger');
    if (count !== undefined && count <= 0n) throw new KmipError('InvalidField', 'Usage Limits Count must be positive');
    return { id: optionalRequestId(payload), count };
  },
  handle: async (ctx, request) => {
    const obj = await loadObject(ctx, request.id);
    if (obj.body === undefined) throw new KmipError('ItemNotFound', `object ${obj.id} has been destroyed`);
    const limits = first(obj, 'Usage Limits');
    if (limits === undefined || request.count === undefined) return [text(Tag.UniqueIdentifier, obj.id)];
    const fields = Fields.of(limits, 'UsageLimits');
    const remaining = fields.optionalValue(Tag.UsageLimitsCount, 'LongInteger') ?? fields.value(Tag.UsageLimitsTotal, 'LongInteger');
    if (remaining < request.count) {
      throw new KmipError('UsageLimitExceeded', `object ${obj.id} has ${remaining} uses left; ${request.count} were asked for`);
    }
    // Field order of 1.4 section 3.21: Total, Count, Unit.
    const updated = struct(Tag.UsageLimits, [
      fields.optional(Tag.UsageLimitsTotal),
      long(Tag.UsageLimitsCount, remaining - request.count),
      fields.optional(Tag.UsageLimitsUnit),
    ]);
    await commit(ctx, { update: [changed(ctx, withAttribute(obj, 'Usage Limits', updated))] });
    return [text(Tag.UniqueIdentifier, obj.id)];
  },
});
