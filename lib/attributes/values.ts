/**
 * Attribute values: checking a value a client sent against the table, and deciding whether
 * a value may be sent to a client speaking a given protocol version.
 */
import { registry } from '../../ttlv/index.js';
import type { TtlvItem } from '../../ttlv/index.js';
import { KmipError } from '../errors.js';
import { attributeByName, fieldOf } from './table.js';
import type { AttributeDef } from './table.js';
import type { AttributeInstance } from './types.js';

type KmipVersion = registry.KmipVersion;

/**
 * What a set of attributes is for. 'set' (Create, Register, Add Attribute, ...): values are
 * complete and single-valued attributes appear once. 'locate' (Locate, Check): a structure
 * may give only some of its fields and a date attribute may appear twice (a range).
 */
export type Purpose = 'set' | 'locate';

/** Enumeration values from 0x80000000 up are vendor extensions (KMIP 2.1 section 11). */
const EXTENSION_ENUM = 0x80000000;

function tagLabel(tag: number): string {
  return registry.tagByValue(tag)?.name ?? registry.tagHex(tag);
}

function badValue(def: AttributeDef, detail: string): KmipError {
  return new KmipError('InvalidAttributeValue', `${def.name}: ${detail}`);
}

/**
 * The canonical form of a value received for `def`: the attribute's own tag (Attribute
 * Value for custom attributes), checked against the table, with every Byte String copied
 * so that the instance does not view the request's buffer.
 */
export function canonicalValue(def: AttributeDef, item: TtlvItem, purpose: Purpose): TtlvItem {
  if (def.type === 'Any') {
    // 1.4 section 3.39: a custom attribute structure SHALL NOT include sub-structures.
    if (item.type === 'Structure' && item.value.some((child) => child.type === 'Structure')) {
      throw badValue(def, 'a custom attribute structure may not hold structures');
    }
    return copyItem(item, def.tag);
  }
  if (item.type !== def.type) {
    throw badValue(def, `the value must be a ${def.type}, not a ${item.type}`);
  }
  if (item.type === 'Structure') checkFields(def, item.value, purpose);
  else checkEnumeration(def, def.tag, item); // a 1.x value arrives under the Attribute Value tag
  return copyItem(item, def.tag);
}

function checkFields(def: AttributeDef, children: readonly TtlvItem[], purpose: Purpose): void {
  const seen = new Set<number>();
  for (const child of children) {
    const field = fieldOf(def, child.tag);
    if (field === undefined) throw badValue(def, `${tagLabel(child.tag)} is not one of its fields`);
    if (child.type === 'Structure' || !field.types.includes(child.type)) {
      throw badValue(def, `${field.name} must be a ${field.types.join(' or ')}, not a ${child.type}`);
    }
    if (seen.has(child.tag) && !field.repeated) throw badValue(def, `${field.name} may appear only once`);
    seen.add(child.tag);
    checkEnumeration(def, child.tag, child);
  }
  if (purpose === 'locate') return; // Locate: "all of the structure fields are not REQUIRED"
  for (const field of def.fields ?? []) {
    if (field.required && !seen.has(field.tag)) throw badValue(def, `${field.name} is required`);
  }
}

function checkEnumeration(def: AttributeDef, tag: number, item: TtlvItem): void {
  if (item.type !== 'Enumeration' || item.value >= EXTENSION_ENUM) return;
  const enumeration = registry.enumForTag(tag);
  // An enumeration the registry lists without values (Opaque Data Type) has only extensions.
  if (enumeration === undefined || enumeration.values.length === 0) return;
  if (!enumeration.values.some((entry) => entry.value === item.value)) {
    throw badValue(def, `0x${item.value.toString(16).toUpperCase().padStart(8, '0')} is not a ${enumeration.name} value`);
  }
}

/** A deep copy of `item` under `tag`, with Byte Strings copied out of any shared buffer. */
export function copyItem(item: TtlvItem, tag: number = item.tag): TtlvItem {
  switch (item.type) {
    case 'Structure':
      return { tag, type: 'Structure', value: item.value.map((child) => copyItem(child)) };
    case 'ByteString':
      return { tag, type: 'ByteString', value: Uint8Array.from(item.value) };
    default:
      return { ...item, tag };
  }
}

// ---------------------------------------------------------------------------------------
// Versions

/**
 * Whether an instance may be sent to a client speaking `version`: the version defines the
 * attribute, every tag inside its value, and every enumeration value in it (a KMIP 2.x-only
 * Object Type or Link Type is never sent to a 1.x client). DESIGN.md decision 1.
 */
export function visibleIn(instance: AttributeInstance, version: KmipVersion): boolean {
  const def = attributeByName(instance.name);
  if (def === undefined || !registry.definedIn(def, version)) return false;
  if (def.custom && isV1(version) && !/^[xy]-/.test(instance.name)) return false;
  return valueDefinedIn(instance.value, version);
}

/** The instances a client speaking `version` may see, in order. */
export function visibleInstances(instances: readonly AttributeInstance[], version: KmipVersion): AttributeInstance[] {
  return instances.filter((instance) => visibleIn(instance, version));
}

function isV1(version: KmipVersion): boolean {
  return version.startsWith('1.');
}

function valueDefinedIn(item: TtlvItem, version: KmipVersion): boolean {
  // KMIP 2.0 added the Date-Time Extended item type (2.1 section 9.1.1.2).
  if (item.type === 'DateTimeExtended' && isV1(version)) return false;
  const tag = registry.tagByValue(item.tag);
  // Tags the registry does not know (the extension range of a custom value) are the client's own.
  if (tag !== undefined && !registry.definedIn(tag, version)) return false;
  if (item.type === 'Structure') return item.value.every((child) => valueDefinedIn(child, version));
  if (item.type === 'Enumeration') return enumerationDefinedIn(item.tag, item.value, version);
  return true;
}

/** Whether `version` defines this value of the enumeration an item with `tag` holds. */
export function enumerationDefinedIn(tag: number, value: number, version: KmipVersion): boolean {
  if (value >= EXTENSION_ENUM) return true;
  const enumeration = registry.enumForTag(tag);
  if (enumeration === undefined || enumeration.values.length === 0) return true;
  return enumeration.values.some((entry) => entry.value === value && registry.definedIn(entry, version));
}
