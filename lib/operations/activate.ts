/** Activate (KMIP 2.1 section 6.1.1): Pre-Active to Active, Activation Date now. */
import { Enum, Tag } from '../../ttlv/index.js';
import * as lifecycle from '../lifecycle/index.js';
import { withAttribute } from '../objects/managed.js';
import { dateTime, text } from '../protocol/build.js';
import { changed, commit, loadObject, optionalRequestId, stateOf, withState } from './common.js';
import { operation } from './types.js';

export const activate = operation<{ id: string | undefined }>({
  code: Enum.Operation.Activate,
  since: '1.0',
  decode: (payload) => ({ id: optionalRequestId(payload) }),
  handle: async (ctx, request) => {
    const obj = await loadObject(ctx, request.id);
    const state = lifecycle.apply(stateOf(obj), 'activate');
    const updated = changed(ctx, withAttribute(withState(obj, state), 'Activation Date', dateTime(Tag.ActivationDate, ctx.now)));
    await commit(ctx, { update: [updated] });
    return [text(Tag.UniqueIdentifier, obj.id)];
  },
});
