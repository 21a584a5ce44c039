/** Get Attribute List (KMIP 2.1 section 6.1.21, 1.4 section 4.13): the names of an object's attributes. */
import { Enum, Tag } from '../../ttlv/index.js';
import type { TtlvItem } from '../../ttlv/index.js';
import { nameToAttributeReference, visibleIn } from '../attributes/index.js';
import { text } from '../protocol/build.js';
import { loadObject, optionalRequestId } from './common.js';
import { operation } from './types.js';

export const getAttributeList = operation<{ id: string | undefined }>({
  code: Enum.Operation.GetAttributeList,
  since: '1.0',
  decode: (payload) => ({ id: optionalRequestId(payload) }),
  handle: async (ctx, request) => {
    const obj = await loadObject(ctx, request.id);
    const names = [...new Set(obj.attributes.filter((a) => visibleIn(a, ctx.version)).map((a) => a.name))];
    const references = names.map((name) => nameToAttributeReference(name, ctx.version)).filter((r): r is TtlvItem => r !== undefined);
    return [text(Tag.UniqueIdentifier, obj.id), ...references];
  },
});
