/**
 * Import (KMIP 2.1 section 6.1.25, 1.4 section 4.41): store an object exported from another
 * server under the Unique Identifier it had there, with the attributes it had there ("all
 * attributes MUST be set to the supplied values rather than any server generated values").
 *
 * A wrapped key is stored as given, unless Key Wrap Type is Not Wrapped: then the server
 * unwraps it with keys it holds for the object's owner, or fails (lib/operations/key-wrapping.ts).
 * An existing object is replaced only when Replace Existing is True, and only by its owner
 * or an administrator; it keeps its owner.
 */
import { Enum, Tag, decodeTtlv, encodeTtlv } from '../../ttlv/index.js';
import type { TtlvItem } from '../../ttlv/index.js';
import { enumerationDefinedIn, fromV1Attributes, fromV2Attributes } from '../attributes/index.js';
import type { AttributeInstance } from '../attributes/index.js';
import { KmipError } from '../errors.js';
import { withAttribute } from '../objects/managed.js';
import { newManagedObject } from '../objects/new.js';
import { checkQuantumSafe } from '../objects/quantum-safe.js';
import { OBJECT_KINDS, objectStructure, objectTypeName } from '../objects/structures.js';
import type { Fields } from '../protocol/fields.js';
import { isV2 } from '../protocol/versions.js';
import { text } from '../protocol/build.js';
import { advance, checkUniqueValues, commit, requireAccess, serverPolicy } from './common.js';
import { unwrapObject } from './key-wrapping.js';
import { operation } from './types.js';
import type { OperationContext } from './types.js';

interface ImportRequest {
  readonly id: string;
  readonly objectType: number;
  readonly replace: boolean;
  readonly wrapType: number | undefined;
  readonly attributes: AttributeInstance[];
  readonly body: TtlvItem;
}

/** Longest Unique Identifier accepted from a client; kmipd's own are 36 characters. */
const MAX_ID_LENGTH = 1024;

/** States an object with its key material can be in (Destroyed ones have none). */
const STATES_WITH_MATERIAL: ReadonlySet<number> = new Set([Enum.State.PreActive, Enum.State.Active, Enum.State.Deactivated, Enum.State.Compromised]);

export const importOperation = operation<ImportRequest>({
  code: Enum.Operation.Import,
  since: '1.4',
  decode: (payload, ctx) => {
    const id = payload.text(Tag.UniqueIdentifier);
    if (id.length === 0 || id.length > MAX_ID_LENGTH) throw new KmipError('InvalidField', `an imported Unique Identifier is 1 to ${MAX_ID_LENGTH} characters, not ${id.length}`);
    const objectType = importedType(payload, ctx);
    const structure = objectStructure(payload, objectType);
    const attributes = importedAttributes(payload, ctx, objectType);
    checkIdentity(attributes, id, objectType);
    return {
      id,
      objectType,
      replace: payload.optionalBoolean(Tag.ReplaceExisting) ?? false,
      wrapType: payload.optionalEnumeration(Tag.KeyWrapType),
      attributes,
      // A copy: Byte Strings of the request view the network buffer (STYLE.md).
      body: decodeTtlv(encodeTtlv(structure)),
    };
  },
  handle: async (ctx, request) => {
    const existing = await ctx.store.load(request.id);
    if (existing !== undefined) {
      await requireAccess(ctx, existing, 'owner');
      if (!request.replace) throw new KmipError('ObjectAlreadyExists', `object ${request.id} exists: set Replace Existing to replace it`);
    }
    const owner = existing?.owner ?? ctx.identity.name;
    const body = request.wrapType === Enum.KeyWrapType.NotWrapped ? await unwrapObject(ctx, { id: request.id, owner }, request.objectType, request.body, 'required') : request.body;
    const state = request.attributes.find((a) => a.name === 'State')?.value;
    const created = newManagedObject({
      id: request.id,
      objectType: request.objectType,
      owner,
      body,
      clientAttributes: request.attributes.filter((a) => a.name !== 'State'),
      now: ctx.now,
      policy: serverPolicy(ctx, 'registered'),
    });
    const imported = advance({ ...(state === undefined ? created : withAttribute(created, 'State', state)), revision: (existing?.revision ?? 0) + 1 }, ctx.now);
    checkQuantumSafe(imported.attributes);
    await checkUniqueValues(ctx, imported);
    try {
      await commit(ctx, existing === undefined ? { create: [imported] } : { update: [imported] });
    } catch (error) {
      // Another request imported or created the same identifier meanwhile.
      if (existing === undefined && (await ctx.store.loadMetadata(request.id)) !== undefined) {
        throw new KmipError('ObjectAlreadyExists', `object ${request.id} was created by another request meanwhile`);
      }
      throw error;
    }
    ctx.idPlaceholder = request.id;
    ctx.log.info('object imported', { operation: 'Import', id: request.id, objectType: request.objectType, replaced: existing !== undefined });
    return [text(Tag.UniqueIdentifier, request.id)];
  },
});

/** The Object Type: given (required in 2.x), or in 1.4 the type whose structure the payload holds. */
function importedType(payload: Fields, ctx: OperationContext): number {
  const given = payload.optionalEnumeration(Tag.ObjectType);
  if (given === undefined && isV2(ctx.version)) throw new KmipError('InvalidField', 'RequestPayload/ObjectType is required');
  const objectType = given ?? [...OBJECT_KINDS].find(([, kind]) => payload.has(kind.tag))?.[0];
  if (objectType === undefined) throw new KmipError('InvalidField', 'the Import payload holds no object');
  if (!enumerationDefinedIn(Tag.ObjectType, objectType, ctx.version)) {
    throw new KmipError('InvalidObjectType', `Object Type ${objectTypeName(objectType)} does not exist in KMIP ${ctx.version}`);
  }
  if (objectType === Enum.ObjectType.Template) throw new KmipError('InvalidObjectType', 'Templates (deprecated since KMIP 1.3) are not imported: register them');
  return objectType;
}

/** Every attribute of the object as it was, server-set ones included (1.4 section 4.41). */
function importedAttributes(payload: Fields, ctx: OperationContext, objectType: number): AttributeInstance[] {
  const options = { version: ctx.version, objectType };
  const attributes = isV2(ctx.version) ? fromV2Attributes(payload.required(Tag.Attributes), options) : fromV1Attributes(payload.all(Tag.Attribute), options);
  const state = attributes.find((a) => a.name === 'State')?.value;
  if (state?.type === 'Enumeration' && !STATES_WITH_MATERIAL.has(state.value)) {
    throw new KmipError('InvalidAttributeValue', 'an imported object with its key material cannot be Destroyed: import it in the state it had before');
  }
  return attributes;
}

/** Unique Identifier and Object Type attributes, when given, say what the request says. */
function checkIdentity(attributes: readonly AttributeInstance[], id: string, objectType: number): void {
  for (const { name, value } of attributes) {
    if (name === 'Unique Identifier' && value.type === 'TextString' && value.value !== id) {
      throw new KmipError('InvalidAttributeValue', `the Unique Identifier attribute ${JSON.stringify(value.value)} differs from the request's ${JSON.stringify(id)}`);
    }
    if (name === 'Object Type' && value.type === 'Enumeration' && value.value !== objectType) {
      throw new KmipError('InvalidAttributeValue', `the Object Type attribute ${objectTypeName(value.value)} differs from the request's ${objectTypeName(objectType)}`);
    }
  }
}
