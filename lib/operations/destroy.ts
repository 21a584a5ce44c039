/**
 * Destroy (KMIP 2.1 section 6.1.15): the key material is removed for good; the object's
 * attributes stay, in state Destroyed (or Destroyed Compromised).
 */
import { Enum, Tag } from '../../ttlv/index.js';
import * as lifecycle from '../lifecycle/index.js';
import { withAttribute } from '../objects/managed.js';
import { dateTime, text } from '../protocol/build.js';
import { changed, commit, loadObject, optionalRequestId, stateOf, withState } from './common.js';
import { operation } from './types.js';
import { destroyInHsm, isResident } from './hsm-resident.js';

export const destroy = operation<{ id: string | undefined }>({
  code: Enum.Operation.Destroy,
  since: '1.0',
  decode: (payload) => ({ id: optionalRequestId(payload) }),
  handle: async (ctx, request) => {
    const obj = await loadObject(ctx, request.id);
    const state = lifecycle.apply(stateOf(obj), 'destroy');
    // A key held in the HSM: its token object goes first, so that success means the value is gone.
    if (isResident(obj.body)) await destroyInHsm(ctx, obj);
    const destroyed = { ...withAttribute(withState(obj, state), 'Destroy Date', dateTime(Tag.DestroyDate, ctx.now)), body: undefined };
    await commit(ctx, { update: [changed(ctx, destroyed)] });
    return [text(Tag.UniqueIdentifier, obj.id)];
  },
});
