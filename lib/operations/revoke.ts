/**
 * Revoke (KMIP 2.1 section 6.1.44): a compromise reason moves the object to Compromised and
 * records when; any other reason deactivates it.
 */
import { Enum, Tag } from '../../ttlv/index.js';
import { KmipError } from '../errors.js';
import * as lifecycle from '../lifecycle/index.js';
import { leafValue, withAttribute } from '../objects/managed.js';
import { dateTime, enumeration, struct, text } from '../protocol/build.js';
import { changed, commit, loadObject, optionalRequestId, stateOf, withState } from './common.js';
import { operation } from './types.js';

interface RevokeRequest {
  id: string | undefined;
  reasonCode: number;
  message: string | undefined;
  compromiseOccurrence: bigint | undefined;
}

const COMPROMISE: ReadonlySet<number> = new Set([Enum.RevocationReasonCode.KeyCompromise, Enum.RevocationReasonCode.CACompromise]);

export const revoke = operation<RevokeRequest>({
  code: Enum.Operation.Revoke,
  since: '1.0',
  decode: (payload) => {
    const reason = payload.struct(Tag.RevocationReason);
    return {
      id: optionalRequestId(payload),
      reasonCode: reason.enumeration(Tag.RevocationReasonCode),
      message: reason.optionalText(Tag.RevocationMessage),
      compromiseOccurrence: payload.optionalValue(Tag.CompromiseOccurrenceDate, 'DateTime'),
    };
  },
  handle: async (ctx, request) => {
    const obj = await loadObject(ctx, request.id);
    if (obj.objectType === Enum.ObjectType.Template) throw new KmipError('IllegalOperation', 'a Template cannot be revoked');
    const compromise = COMPROMISE.has(request.reasonCode);
    const state = lifecycle.apply(stateOf(obj), compromise ? 'compromise' : 'deactivate');
    let updated = withState(obj, state);
    updated = withAttribute(
      updated,
      'Revocation Reason',
      struct(Tag.RevocationReason, [
        enumeration(Tag.RevocationReasonCode, request.reasonCode),
        request.message === undefined ? undefined : text(Tag.RevocationMessage, request.message),
      ]),
    );
    if (compromise) {
      // 6.1.44: without a Compromise Occurrence Date, the Initial Date is the safe assumption.
      const occurred = request.compromiseOccurrence ?? leafValue(obj, 'Initial Date', 'DateTime') ?? ctx.now;
      updated = withAttribute(updated, 'Compromise Occurrence Date', dateTime(Tag.CompromiseOccurrenceDate, occurred));
      updated = withAttribute(updated, 'Compromise Date', dateTime(Tag.CompromiseDate, ctx.now));
    } else if (stateOf(obj) !== state) {
      updated = withAttribute(updated, 'Deactivation Date', dateTime(Tag.DeactivationDate, ctx.now));
    }
    await commit(ctx, { update: [changed(ctx, updated)] });
    return [text(Tag.UniqueIdentifier, obj.id)];
  },
});
