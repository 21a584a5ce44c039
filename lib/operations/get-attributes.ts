/**
 * Get Attributes (KMIP 2.1 section 6.1.20, 1.4 section 4.12): the named attributes of an
 * object, or all of them, in the shape of the request's version.
 */
import { Enum, Tag } from '../../ttlv/index.js';
import type { TtlvItem } from '../../ttlv/index.js';
import { attributeReferenceToName, toV1AttributeList, toV2Attributes, visibleIn } from '../attributes/index.js';
import type { AttributeInstance } from '../attributes/index.js';
import { text } from '../protocol/build.js';
import { isV2 } from '../protocol/versions.js';
import { loadObject, optionalRequestId } from './common.js';
import { operation } from './types.js';

export const getAttributes = operation<{ id: string | undefined; names: string[] | undefined }>({
  code: Enum.Operation.GetAttributes,
  since: '1.0',
  decode: (payload, ctx) => {
    const references = payload.item.value.filter((item) => item.tag === Tag.AttributeName || item.tag === Tag.AttributeReference);
    return {
      id: optionalRequestId(payload),
      // No reference at all means every attribute (2.1 section 6.1.20).
      names: references.length === 0 ? undefined : references.map((item) => attributeReferenceToName(item, { version: ctx.version })),
    };
  },
  handle: async (ctx, request) => {
    const obj = await loadObject(ctx, request.id);
    const wanted = request.names === undefined ? undefined : new Set(request.names);
    const selected = obj.attributes.filter((a) => wanted === undefined || wanted.has(a.name));
    return [text(Tag.UniqueIdentifier, obj.id), ...attributesFor(ctx.version, selected)];
  },
});

/** Attributes as the version's response shape: 1.x Attribute items, or one 2.x Attributes structure. */
export function attributesFor(version: Parameters<typeof visibleIn>[1], instances: readonly AttributeInstance[]): TtlvItem[] {
  if (isV2(version)) return [toV2Attributes(instances, Tag.Attributes, version)];
  return withIndexWhereNeeded(instances, version);
}

/** 1.x: an Attribute Index only on second and later instances (an absent index means 0). */
function withIndexWhereNeeded(instances: readonly AttributeInstance[], version: Parameters<typeof visibleIn>[1]): TtlvItem[] {
  const indexed = toV1AttributeList(instances, version, { withIndex: true });
  return indexed.map((item) => ({
    ...item,
    value: item.value.filter((field) => !(field.tag === Tag.AttributeIndex && field.type === 'Integer' && field.value === 0)),
  }));
}
