/**
 * Add, Modify, Delete and Set Attribute (KMIP 2.1 sections 6.1.2, 6.1.34, 6.1.13, 6.1.51;
 * 1.4 sections 4.14-4.16). KMIP 1.x names an instance by Attribute Index, KMIP 2.x by its
 * current value; both end up as "the n-th instance of this attribute".
 */
import { Enum, Tag, itemsEqual } from '../../ttlv/index.js';
import type { TtlvItem } from '../../ttlv/index.js';
import {
  attributeByName,
  attributeReferenceToName,
  checkClientAdd,
  checkClientDelete,
  checkClientModify,
  checkClientSet,
  fromAttributeHolder,
  fromV1Attribute,
  toV1Attribute,
} from '../attributes/index.js';
import type { AttributeInstance, ObjectFacts } from '../attributes/index.js';
import { KmipError } from '../errors.js';
import { checkQuantumSafe } from '../objects/quantum-safe.js';
import type { ManagedObject } from '../objects/types.js';
import { text } from '../protocol/build.js';
import type { Fields } from '../protocol/fields.js';
import { isV2 } from '../protocol/versions.js';
import { changed, checkUniqueValues, commit, loadObject, optionalRequestId } from './common.js';
import { operation } from './types.js';
import type { OperationContext } from './types.js';

/** Which instance a request means: by 1.x index, by 2.x current value, or (none) the only one. */
type Which = { index: number } | { value: TtlvItem } | undefined;

interface AttributeChange {
  id: string | undefined;
  instance: AttributeInstance;
  which: Which;
}

/**
 * The object as it will be after a change of `changedName`: a Name stays unique (2.1
 * section 4.32), a Quantum Safe flag is one the object can meet (4.45).
 */
async function checkChanged(ctx: OperationContext, obj: ManagedObject, changedName: string, attributes: readonly AttributeInstance[]): Promise<void> {
  if (changedName === 'Quantum Safe') checkQuantumSafe(attributes);
  if (attributeByName(changedName)?.unique === true) await checkUniqueValues(ctx, { id: obj.id, owner: obj.owner, attributes });
}

function facts(ctx: OperationContext, obj: ManagedObject): ObjectFacts {
  return { objectType: obj.objectType, attributes: obj.attributes, now: ctx.now };
}

/** Position in `obj.attributes` of the instance `which` designates; KmipError when there is none. */
function locateInstance(obj: ManagedObject, name: string, which: Which): number {
  const positions = obj.attributes.flatMap((a, i) => (a.name === name ? [i] : []));
  let found: number | undefined;
  if (which === undefined) {
    if (positions.length > 1) throw new KmipError('MultiValuedAttribute', `${name} has ${positions.length} instances; say which one`);
    found = positions[0];
  } else if ('index' in which) {
    found = positions[which.index];
  } else {
    found = positions.find((p) => itemsEqual((obj.attributes[p] as AttributeInstance).value, which.value));
  }
  if (found === undefined) throw new KmipError('AttributeInstanceNotFound', `the object has no such instance of ${name}`);
  return found;
}

/** 1.x: the index of an instance among those of its attribute. */
function indexAmong(attributes: readonly AttributeInstance[], position: number): number {
  const name = (attributes[position] as AttributeInstance).name;
  return attributes.slice(0, position).filter((a) => a.name === name).length;
}

/** The 1.x response item for an instance: its Attribute with an index when not 0. */
function v1Echo(ctx: OperationContext, instance: AttributeInstance, index: number): TtlvItem {
  return toV1Attribute(instance, ctx.version, index === 0 ? undefined : index);
}

function decodeChange(payload: Fields, ctx: OperationContext): AttributeChange {
  if (isV2(ctx.version)) {
    const current = payload.optional(Tag.CurrentAttribute);
    return {
      id: optionalRequestId(payload),
      instance: fromAttributeHolder(payload.required(Tag.NewAttribute), { version: ctx.version }),
      which: current === undefined ? undefined : { value: fromAttributeHolder(current, { version: ctx.version, purpose: 'locate' }).value },
    };
  }
  const { instance, index } = fromV1Attribute(payload.required(Tag.Attribute), { version: ctx.version });
  return { id: optionalRequestId(payload), instance, which: index === undefined ? undefined : { index } };
}

export const addAttribute = operation<AttributeChange>({
  code: Enum.Operation.AddAttribute,
  since: '1.0',
  decode: decodeChange,
  handle: async (ctx, request) => {
    const obj = await loadObject(ctx, request.id);
    checkClientAdd(request.instance, facts(ctx, obj));
    const attributes = [...obj.attributes, request.instance];
    await checkChanged(ctx, obj, request.instance.name, attributes);
    await commit(ctx, { update: [changed(ctx, { ...obj, attributes })] });
    const out: TtlvItem[] = [text(Tag.UniqueIdentifier, obj.id)];
    if (!isV2(ctx.version)) out.push(v1Echo(ctx, request.instance, indexAmong(attributes, attributes.length - 1)));
    return out;
  },
});

export const modifyAttribute = operation<AttributeChange>({
  code: Enum.Operation.ModifyAttribute,
  since: '1.0',
  decode: decodeChange,
  handle: async (ctx, request) => {
    const obj = await loadObject(ctx, request.id);
    const name = request.instance.name;
    checkClientModify(name, facts(ctx, obj));
    // 1.x without an index means index 0 (1.4 section 2.1.1).
    const which: Which = request.which ?? (isV2(ctx.version) ? undefined : { index: 0 });
    const position = locateInstance(obj, name, which);
    const attributes = obj.attributes.map((a, i) => (i === position ? request.instance : a));
    await checkChanged(ctx, obj, name, attributes);
    await commit(ctx, { update: [changed(ctx, { ...obj, attributes })] });
    const out: TtlvItem[] = [text(Tag.UniqueIdentifier, obj.id)];
    if (!isV2(ctx.version)) out.push(v1Echo(ctx, request.instance, indexAmong(attributes, position)));
    return out;
  },
});

export const setAttribute = operation<AttributeChange>({
  code: Enum.Operation.SetAttribute,
  since: '2.0',
  decode: decodeChange,
  handle: async (ctx, request) => {
    const obj = await loadObject(ctx, request.id);
    checkClientSet(request.instance, facts(ctx, obj));
    const at = obj.attributes.findIndex((a) => a.name === request.instance.name);
    const attributes = at < 0 ? [...obj.attributes, request.instance] : obj.attributes.map((a, i) => (i === at ? request.instance : a));
    await checkChanged(ctx, obj, request.instance.name, attributes);
    await commit(ctx, { update: [changed(ctx, { ...obj, attributes })] });
    return [text(Tag.UniqueIdentifier, obj.id)];
  },
});

interface DeleteRequest {
  id: string | undefined;
  name: string;
  which: Which;
  /** 2.x Attribute Reference: every instance goes. */
  all: boolean;
}

export const deleteAttribute = operation<DeleteRequest>({
  code: Enum.Operation.DeleteAttribute,
  since: '1.0',
  decode: (payload, ctx) => {
    const id = optionalRequestId(payload);
    if (!isV2(ctx.version)) {
      const name = attributeReferenceToName(payload.required(Tag.AttributeName), { version: ctx.version });
      return { id, name, which: { index: payload.optionalInteger(Tag.AttributeIndex) ?? 0 }, all: false };
    }
    const current = payload.optional(Tag.CurrentAttribute);
    if (current !== undefined) {
      const instance = fromAttributeHolder(current, { version: ctx.version, purpose: 'locate' });
      return { id, name: instance.name, which: { value: instance.value }, all: false };
    }
    const name = attributeReferenceToName(payload.required(Tag.AttributeReference), { version: ctx.version });
    return { id, name, which: undefined, all: true };
  },
  handle: async (ctx, request) => {
    const obj = await loadObject(ctx, request.id);
    checkClientDelete(request.name, facts(ctx, obj));
    let attributes: AttributeInstance[];
    let removed: { instance: AttributeInstance; index: number } | undefined;
    if (request.all) {
      attributes = obj.attributes.filter((a) => a.name !== request.name);
    } else {
      const position = locateInstance(obj, request.name, request.which);
      removed = { instance: obj.attributes[position] as AttributeInstance, index: indexAmong(obj.attributes, position) };
      attributes = obj.attributes.filter((_, i) => i !== position);
    }
    await commit(ctx, { update: [changed(ctx, { ...obj, attributes })] });
    const out: TtlvItem[] = [text(Tag.UniqueIdentifier, obj.id)];
    if (!isV2(ctx.version) && removed !== undefined) out.push(v1Echo(ctx, removed.instance, removed.index));
    return out;
  },
});
