/**
 * Register (KMIP 2.1 section 6.1.43, 1.4 section 4.3): store an object the client supplies,
 * of any managed object type, KMIP 1.x Templates included. A wrapped key is unwrapped when
 * its wrapping keys are the caller's on this server (lib/operations/key-wrapping.ts).
 */
import { Enum, Tag, decodeTtlv, encodeTtlv } from '../../ttlv/index.js';
import type { TtlvItem } from '../../ttlv/index.js';
import { checkClientTemplate, enumerationDefinedIn, fromV1Attributes, toTemplateAttribute } from '../attributes/index.js';
import { KmipError } from '../errors.js';
import { newManagedObject } from '../objects/new.js';
import { checkQuantumSafe } from '../objects/quantum-safe.js';
import { objectStructure, objectTypeName } from '../objects/structures.js';
import { text } from '../protocol/build.js';
import type { Fields } from '../protocol/fields.js';
import { advance, checkUniqueValues, commit, serverPolicy } from './common.js';
import { unwrapObject } from './key-wrapping.js';
import { requestedAttributes, withTemplates } from './request-attributes.js';
import type { RequestedAttributes } from './request-attributes.js';
import { operation } from './types.js';
import type { OperationContext } from './types.js';

interface RegisterRequest {
  objectType: number;
  body: TtlvItem;
  attributes: RequestedAttributes;
}

export const register = operation<RegisterRequest>({
  code: Enum.Operation.Register,
  since: '1.0',
  decode: (payload, ctx) => {
    const objectType = payload.enumeration(Tag.ObjectType);
    if (!enumerationDefinedIn(Tag.ObjectType, objectType, ctx.version)) {
      throw new KmipError('InvalidObjectType', `Object Type ${objectTypeName(objectType)} does not exist in KMIP ${ctx.version}`);
    }
    return { objectType, body: objectBody(ctx, payload, objectType), attributes: requestedAttributes(ctx, payload, objectType) };
  },
  handle: async (ctx, request) => {
    const id = ctx.store.newId();
    const attributes = await withTemplates(ctx, request.attributes, request.objectType);
    // A Template is no cryptographic object: no lease, no storage protection of its own.
    const policy = request.objectType === Enum.ObjectType.Template ? [] : serverPolicy(ctx, 'registered');
    // A key wrapped under keys its owner holds here is stored unwrapped, so the server can use
    // it; wrapped under keys of its own, it is stored as given (2.1 section 3.3).
    const body = await unwrapObject(ctx, { id, owner: ctx.identity.name }, request.objectType, request.body, 'when-held');
    const obj = advance(
      newManagedObject({ id, objectType: request.objectType, owner: ctx.identity.name, body, clientAttributes: attributes, now: ctx.now, policy }),
      ctx.now,
    );
    checkQuantumSafe(obj.attributes);
    await checkUniqueValues(ctx, obj);
    await commit(ctx, { create: [obj] });
    ctx.idPlaceholder = id;
    ctx.log.info('object registered', { operation: 'Register', id, objectType: request.objectType });
    return [text(Tag.UniqueIdentifier, id)];
  },
});

/** The object to store, copied out of the request (its Byte Strings view the network buffer, STYLE.md). */
function objectBody(ctx: OperationContext, payload: Fields, objectType: number): TtlvItem {
  const structure = objectStructure(payload, objectType);
  if (objectType !== Enum.ObjectType.Template) return decodeTtlv(encodeTtlv(structure));
  // 1.4 section 2.2.6: a Template holds attributes a client may set on a new object; kept in canonical form.
  const instances = fromV1Attributes(structure.value, { version: ctx.version });
  checkClientTemplate(instances);
  return toTemplateAttribute(instances, Tag.Template, ctx.version);
}
