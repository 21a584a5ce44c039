/**
 * Typed attributes in and out. In: an object keyed by attribute (`cryptographicAlgorithm:
 * 'AES'`, `name: 'backup-key'`, `cryptographicUsageMask: ['Encrypt', 'Decrypt']`), sent in
 * the shape of the negotiated version (1.x Attribute name/value, 2.x tagged items). Out:
 * the same keys, multi-valued attributes as lists, plus every instance as raw TTLV.
 * Names and rules come from the one attribute table (lib/attributes) and the registry.
 */
import { Enum, Mask, Tag, registry } from '../../ttlv/index.js';
import type { KmipVersion, StructureItem, TtlvItem } from '../../ttlv/index.js';
import { attributeByName, attributeByTag, splitCustomName, toV1Attribute, toV2Attribute } from '../attributes/index.js';
import type { AttributeDef, AttributeInstance } from '../attributes/index.js';
import { badResponse, invalidArgument } from './errors.js';
import { fromItem, keyOfTag, tagOfKey, toItem } from './values.js';
import type { KmipStruct, KmipValue } from './values.js';

export type { AttributeInstance };

export type ObjectTypeName = keyof typeof Enum.ObjectType;
export type AlgorithmName = keyof typeof Enum.CryptographicAlgorithm;
export type StateName = keyof typeof Enum.State;
export type UsageName = keyof typeof Mask.CryptographicUsageMask;
export type NameTypeName = keyof typeof Enum.NameType;
export type LinkTypeName = keyof typeof Enum.LinkType;

// Type aliases, not interfaces: they must fit the index signature of Attributes.
export type NameValue = {
  readonly nameValue: string;
  readonly nameType?: NameTypeName;
};

export type LinkValue = {
  readonly linkType: LinkTypeName;
  readonly linkedObjectIdentifier: string;
};

type OneOrMore<T> = T | readonly T[];

/**
 * Attributes to send. The common ones are typed; any other attribute of the registry goes
 * under its key (`contactInformation`, `x-Department`) as a plain value or raw TtlvItem.
 */
export interface Attributes {
  readonly cryptographicAlgorithm?: AlgorithmName | number;
  readonly cryptographicLength?: number;
  readonly cryptographicUsageMask?: readonly UsageName[] | number;
  /** A string is a Name of type Uninterpreted Text String. */
  readonly name?: OneOrMore<string | NameValue>;
  readonly objectGroup?: OneOrMore<string>;
  readonly objectType?: ObjectTypeName | number;
  readonly state?: StateName | number;
  readonly activationDate?: Date;
  readonly deactivationDate?: Date;
  readonly processStartDate?: Date;
  readonly protectStopDate?: Date;
  readonly contactInformation?: string;
  readonly link?: OneOrMore<LinkValue>;
  readonly [attribute: string]: KmipValue | undefined;
}

/** Attributes read from the server: multi-valued ones as lists. */
export interface AttributeSet {
  readonly uniqueIdentifier?: string;
  readonly objectType?: ObjectTypeName;
  readonly cryptographicAlgorithm?: AlgorithmName;
  readonly cryptographicLength?: number;
  readonly cryptographicUsageMask?: UsageName[];
  readonly name?: { nameValue: string; nameType: NameTypeName }[];
  readonly objectGroup?: string[];
  readonly state?: StateName;
  readonly initialDate?: Date;
  readonly activationDate?: Date;
  readonly deactivationDate?: Date;
  readonly lastChangeDate?: Date;
  readonly link?: { linkType: LinkTypeName; linkedObjectIdentifier: string }[];
  readonly [attribute: string]: KmipValue | undefined;
}

/** The table's definition for an attribute key (`cryptographicLength`, `x-Department`). */
export function attributeDef(key: string): AttributeDef {
  const custom = splitCustomName(key);
  const def = custom === undefined ? attributeByTag(tagOfKey(key)) : attributeByName(key);
  if (def === undefined) throw invalidArgument(`${JSON.stringify(key)} is not an attribute`);
  return def;
}

/** The instances of typed attributes, checked against what `version` defines. */
export function toInstances(attributes: Attributes, version: KmipVersion): AttributeInstance[] {
  const instances: AttributeInstance[] = [];
  for (const [key, value] of Object.entries(attributes)) {
    if (value === undefined) continue;
    const def = attributeDef(key);
    if (!registry.definedIn(def, version)) throw invalidArgument(`${def.name} is not an attribute in KMIP ${version}`);
    const list = Array.isArray(value) && def.multi && !isMaskList(def, value) ? (value as readonly KmipValue[]) : [value];
    for (const one of list) instances.push({ name: def.name, value: toItem(def.tag, shorthand(def, one), version, key) });
  }
  return instances;
}

const isMaskList = (def: AttributeDef, value: readonly unknown[]): boolean => registry.maskForTag(def.tag) !== undefined && value.every((v) => typeof v === 'string');

/** A Name given as a plain string. */
function shorthand(def: AttributeDef, value: KmipValue): KmipValue {
  if (def.tag === Tag.Name && typeof value === 'string') return { nameValue: value, nameType: 'UninterpretedTextString' };
  return value;
}

/** One instance in the shape of `version`: a 1.x Attribute, or the 2.x item. */
export function wireAttribute(instance: AttributeInstance, version: KmipVersion): TtlvItem {
  return version.startsWith('1.') ? toV1Attribute(instance, version) : toV2Attribute(instance, version);
}

/**
 * The attributes of a Create, Register, Locate, ... in the shape of `version`:
 * 2.x `Attributes` (or `v2Tag`), 1.x `Template-Attribute` (or `v1Tag`; null for Attribute
 * items given directly in the payload, as 1.x Locate takes them).
 */
export function attributesShape(instances: readonly AttributeInstance[], version: KmipVersion, tags: { v1: number | null; v2: number }): TtlvItem[] {
  if (!version.startsWith('1.')) return [{ tag: tags.v2, type: 'Structure', value: instances.map((i) => toV2Attribute(i, version)) }];
  const items = instances.map((i) => toV1Attribute(i, version));
  return tags.v1 === null ? items : [{ tag: tags.v1, type: 'Structure', value: items }];
}

/** Instances from a response: 1.x Attribute items, or the children of a 2.x Attributes structure. */
export function readInstances(items: readonly TtlvItem[]): AttributeInstance[] {
  return items.map((item) => (item.tag === Tag.Attribute && item.type === 'Structure' ? fromAttributeStructure(item) : fromTagged(item)));
}

function fromTagged(item: TtlvItem): AttributeInstance {
  return { name: attributeByTag(item.tag)?.name ?? keyOfTag(item.tag), value: item };
}

/** 1.x Attribute{Name, Index?, Value}, or a 2.x vendor Attribute{Vendor Identification, Name, Value}. */
function fromAttributeStructure(item: StructureItem): AttributeInstance {
  const text = (tag: number): string | undefined => {
    const found = item.value.find((c) => c.tag === tag);
    return found?.type === 'TextString' ? found.value : undefined;
  };
  const name = text(Tag.AttributeName);
  const value = item.value.find((c) => c.tag === Tag.AttributeValue);
  if (name === undefined || value === undefined) throw badResponse('an Attribute in the answer lacks its Attribute Name or Attribute Value');
  const vendor = text(Tag.VendorIdentification);
  const fullName = vendor === undefined || vendor === '' ? name : `${vendor}-${name}`;
  const def = attributeByName(fullName);
  // A 1.x value carries the Attribute Value tag: give it the attribute's own.
  return { name: def?.name ?? fullName, value: def === undefined || def.custom ? value : ({ ...value, tag: def.tag } as TtlvItem) };
}

/** Typed attributes from instances: keys as in Attributes, multi-valued attributes as lists. */
export function toAttributeSet(instances: readonly AttributeInstance[], version?: KmipVersion): AttributeSet {
  const out: Record<string, KmipValue> = {};
  for (const instance of instances) {
    const def = attributeByName(instance.name);
    const key = def === undefined || def.custom ? instance.name : keyOfTag(def.tag);
    const value = fromItem(instance.value, version);
    if (def?.multi === true) out[key] = [...((out[key] as KmipValue[] | undefined) ?? []), value];
    else out[key] = value;
  }
  return out as AttributeSet;
}

export type { KmipStruct, KmipValue };
