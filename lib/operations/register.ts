/**
 * Register (KMIP 2.1 section 6.1.43, 1.4 section 4.3): store an object the client supplies,
 * of any managed object type.
 */
import { Enum, Tag, decodeTtlv, encodeTtlv } from '../../ttlv/index.js';
import type { TtlvItem } from '../../ttlv/index.js';
import type { AttributeInstance } from '../attributes/index.js';
import { newManagedObject } from '../objects/new.js';
import { objectStructure } from '../objects/structures.js';
import { enumeration, text } from '../protocol/build.js';
import { advance, commit } from './common.js';
import { creationAttributes } from './request-attributes.js';
import { operation } from './types.js';

interface RegisterRequest {
  objectType: number;
  body: TtlvItem;
  attributes: AttributeInstance[];
}

export const register = operation<RegisterRequest>({
  code: Enum.Operation.Register,
  since: '1.0',
  decode: (payload, ctx) => {
    const objectType = payload.enumeration(Tag.ObjectType);
    // A copy: the request's Byte Strings are views into the network buffer (STYLE.md).
    const body = decodeTtlv(encodeTtlv(objectStructure(payload, objectType)));
    return { objectType, body, attributes: creationAttributes(ctx, payload, objectType) };
  },
  handle: async (ctx, request) => {
    const id = ctx.store.newId();
    const obj = advance(
      newManagedObject({ id, objectType: request.objectType, owner: ctx.identity.name, body: request.body, clientAttributes: request.attributes, now: ctx.now }),
      ctx.now,
    );
    await commit(ctx, { create: [obj] });
    ctx.idPlaceholder = id;
    ctx.log.info('object registered', { operation: 'Register', id, objectType: request.objectType });
    return [text(Tag.UniqueIdentifier, id)];
  },
});
