/**
 * Plain JavaScript values for TTLV items, in both directions, driven by the registry:
 * a key is a tag's XML name with a lower-case first letter (`cryptographicAlgorithm`,
 * `blockCipherMode`); enumerations are their XML names ('AES', 'GCM'), masks lists of bit
 * names, Date Times Dates, Byte Strings Uint8Arrays, structures objects. Any value may also
 * be a raw TtlvItem, sent as it is under the key's tag (the escape hatch).
 */
import { Tag, isItemTypeName, registry } from '../../ttlv/index.js';
import type { KmipVersion, LeafTypeName, TtlvItem } from '../../ttlv/index.js';
import { attributeByTag, fieldOf } from '../attributes/index.js';
import type { AttributeDef } from '../attributes/index.js';
import { invalidArgument } from './errors.js';
import { enumValue, enumXmlName, maskBits, maskValue } from './names.js';

export type KmipValue = string | number | bigint | boolean | Date | Uint8Array | TtlvItem | KmipStruct | readonly KmipValue[];
export interface KmipStruct {
  readonly [field: string]: KmipValue | undefined;
}

export function isTtlvItem(value: unknown): value is TtlvItem {
  if (typeof value !== 'object' || value === null || value instanceof Uint8Array || value instanceof Date || Array.isArray(value)) return false;
  const candidate = value as { tag?: unknown; type?: unknown };
  return typeof candidate.tag === 'number' && typeof candidate.type === 'string' && isItemTypeName(candidate.type) && 'value' in value;
}

/** `cryptographicAlgorithm` from CryptographicAlgorithm, `macData` from MACData, `ivCounterNonce` from IVCounterNonce. */
const camel = (xmlName: string): string => xmlName.replace(/^[A-Z]+(?=[A-Z][a-z]|[0-9]|$)|^[A-Z]/, (head) => head.toLowerCase());

let keyIndex: Map<string, number> | undefined;

/** The tag of a key: `cryptographicAlgorithm`, `CryptographicAlgorithm` or `Cryptographic Algorithm`. */
export function tagOfKey(key: string): number {
  keyIndex ??= new Map(registry.TAGS.map((tag) => [camel(tag.xmlName), tag.value]));
  const tag = keyIndex.get(key) ?? registry.tagByName(key)?.value;
  if (tag === undefined) throw invalidArgument(`${JSON.stringify(key)} is not a KMIP tag name`);
  return tag;
}

/** The key of a tag (see tagOfKey); the hex of an unknown tag. */
export function keyOfTag(tag: number): string {
  const xml = registry.tagByValue(tag)?.xmlName;
  return xml === undefined ? registry.tagHex(tag) : camel(xml);
}

/** Item types the registry cannot tell from a JavaScript number or bigint. */
const NUMBER_TYPES: ReadonlyMap<number, LeafTypeName> = new Map([
  [Tag.Offset, 'Interval'],
  [Tag.LeaseTime, 'Interval'],
  [Tag.UsageLimitsCount, 'LongInteger'],
  [Tag.UsageLimitsTotal, 'LongInteger'],
]);

/** The item type of a tag, when the attribute table (or the list above) says it. */
function knownType(tag: number, parent: AttributeDef | undefined): LeafTypeName | undefined {
  const field = parent === undefined ? undefined : fieldOf(parent, tag);
  if (field !== undefined) return field.types[0];
  const type = attributeByTag(tag)?.type;
  if (type !== undefined && type !== 'Any' && type !== 'Structure') return type;
  return NUMBER_TYPES.get(tag);
}

/** One item under `tag` from a plain value; `label` names the value in errors. */
export function toItem(tag: number, value: KmipValue, version: KmipVersion, label = keyOfTag(tag), parent?: AttributeDef): TtlvItem {
  if (isTtlvItem(value)) return { ...value, tag } as TtlvItem;
  const type = knownType(tag, parent);
  if (value instanceof Date) {
    const ms = BigInt(value.getTime());
    return type === 'DateTimeExtended' ? { tag, type, value: ms * 1000n } : { tag, type: 'DateTime', value: ms / 1000n };
  }
  if (value instanceof Uint8Array) return { tag, type: 'ByteString', value };
  if (typeof value === 'boolean') return { tag, type: 'Boolean', value };
  if (typeof value === 'bigint') return { tag, type: type === 'BigInteger' ? 'BigInteger' : 'LongInteger', value };
  if (typeof value === 'string') {
    // A Unique Identifier is text; its 2.x enumeration form (ID Placeholder, ...) goes as a number or raw item.
    if (tag === Tag.UniqueIdentifier) return { tag, type: 'TextString', value };
    if (registry.enumForTag(tag) !== undefined) return { tag, type: 'Enumeration', value: enumValue(tag, value, label, version) };
    if (registry.maskForTag(tag) !== undefined) return { tag, type: 'Integer', value: maskValue(tag, [value], label) };
    return { tag, type: 'TextString', value };
  }
  if (typeof value === 'number') {
    if (registry.enumForTag(tag) !== undefined) return { tag, type: 'Enumeration', value };
    if (type === 'LongInteger') return { tag, type, value: BigInt(value) };
    if (type === 'Interval') return { tag, type, value };
    if (!Number.isInteger(value)) throw invalidArgument(`${label} must be an integer, not ${value}`);
    return { tag, type: 'Integer', value };
  }
  if (Array.isArray(value)) {
    if (registry.maskForTag(tag) !== undefined && value.every((v): v is string => typeof v === 'string')) {
      return { tag, type: 'Integer', value: maskValue(tag, value, label) };
    }
    throw invalidArgument(`${label} takes one value, not a list`);
  }
  const struct = value as KmipStruct;
  const def = parent ?? attributeByTag(tag);
  const children: TtlvItem[] = [];
  for (const [key, field] of Object.entries(struct)) {
    if (field === undefined) continue;
    const fieldTag = tagOfKey(key);
    const fieldLabel = `${label}.${key}`;
    const list = Array.isArray(field) && registry.maskForTag(fieldTag) === undefined ? (field as readonly KmipValue[]) : [field];
    for (const one of list) children.push(toItem(fieldTag, one, version, fieldLabel, def));
  }
  return { tag, type: 'Structure', value: children };
}

/** A plain value from an item (the inverse of toItem). */
export function fromItem(item: TtlvItem, version?: KmipVersion): KmipValue {
  switch (item.type) {
    case 'Structure': {
      const out: Record<string, KmipValue> = {};
      for (const child of item.value) {
        const key = keyOfTag(child.tag);
        const value = fromItem(child, version);
        const before = out[key];
        // A field that repeats becomes a list.
        out[key] = before === undefined ? value : Array.isArray(before) ? [...(before as KmipValue[]), value] : [before, value];
      }
      return out;
    }
    case 'Enumeration':
      return registry.enumForTag(item.tag) === undefined ? item.value : enumXmlName(item.tag, item.value, version);
    case 'Integer':
      return registry.maskForTag(item.tag) === undefined ? item.value : maskBits(item.tag, item.value);
    case 'DateTime':
      return new Date(Number(item.value) * 1000);
    case 'DateTimeExtended':
      return new Date(Number(item.value / 1000n));
    case 'ByteString':
      return Buffer.from(item.value);
    default:
      return item.value;
  }
}
