/**
 * The wire shapes of attributes and the canonical model (`AttributeInstance`).
 *
 * KMIP 1.x (1.4 sections 2.1.1 and 2.1.8): `Attribute { Attribute Name, Attribute Index?,
 * Attribute Value }`, where a structured value (Name) is an Attribute Value structure
 * holding the attribute's fields, gathered in Template-Attribute, Common/Private Key/Public
 * Key Template-Attribute (`Name*` referencing Templates, `Attribute*`).
 *
 * KMIP 2.x (2.1 sections 5.1-5.7): `Attributes`, `Common Attributes`, `Private Key
 * Attributes`, `Public Key Attributes` hold each attribute under its own tag, and vendor
 * attributes as `Attribute { Vendor Identification, Attribute Name, Attribute Value }`;
 * `New Attribute` and `Current Attribute` hold one attribute; `Attribute Reference` is an
 * Enumeration whose value is the attribute's tag, or a structure
 * `{ Vendor Identification, Attribute Name }` for a vendor attribute.
 */
import { Tag, registry } from '../../ttlv/index.js';
import type { StructureItem, TtlvItem } from '../../ttlv/index.js';
import { KmipError } from '../errors.js';
import { checkSingleValued } from './rules.js';
import { attributeByName, attributeByTag, isCustomName, splitCustomName } from './table.js';
import type { AttributeDef } from './table.js';
import type { AttributeInstance } from './types.js';
import { canonicalValue, visibleIn } from './values.js';
import type { Purpose } from './values.js';

type KmipVersion = registry.KmipVersion;

export interface ReadOptions {
  /** The request's protocol version: attributes that version does not define are refused. */
  readonly version?: KmipVersion;
  /** 'set' (default) or 'locate'; see Purpose. */
  readonly purpose?: Purpose;
  /** The object type, when known, for rules that depend on it (Digital Signature Algorithm). */
  readonly objectType?: number;
}

/** 2.1 section 4.60: Vendor Identification is limited to [A-Za-z0-9_.]. */
const VENDOR_IDENTIFICATION = /^[A-Za-z0-9_.]+$/;
/** 1.4 section 3.39: custom attribute names start "x-" or "y-". */
const V1_CUSTOM = /^[xy]-/;

function label(tag: number): string {
  return registry.tagByValue(tag)?.xmlName ?? registry.tagHex(tag);
}

function invalidField(message: string): KmipError {
  return new KmipError('InvalidField', message);
}

function expectStructure(item: TtlvItem, what: string): StructureItem {
  if (item.type !== 'Structure') throw invalidField(`${what} must be a Structure, not ${item.type}`);
  return item;
}

/** The children of a structure by tag; `allowed` lists the tags that may appear, each at most once. */
function childrenOf(item: StructureItem, allowed: readonly number[]): Map<number, TtlvItem> {
  const found = new Map<number, TtlvItem>();
  for (const child of item.value) {
    if (!allowed.includes(child.tag)) throw invalidField(`${label(child.tag)} is not a field of ${label(item.tag)}`);
    if (found.has(child.tag)) throw invalidField(`${label(item.tag)}/${label(child.tag)} may appear only once`);
    found.set(child.tag, child);
  }
  return found;
}

function textOf(item: TtlvItem | undefined, path: string): string {
  if (item === undefined) throw invalidField(`${path} is required`);
  if (item.type !== 'TextString') throw invalidField(`${path} must be a TextString, not ${item.type}`);
  return item.value;
}

/** Refuses an attribute the request's version does not define. */
function checkVersion(def: AttributeDef, options: ReadOptions): void {
  const { version } = options;
  if (version !== undefined && !registry.definedIn(def, version)) {
    throw new KmipError('InvalidAttribute', `${def.name} is not an attribute in KMIP ${version}`);
  }
}

function unknownAttribute(name: string): KmipError {
  // 2.1 Result Reason "Invalid Attribute"; the protocol layer answers Invalid Field to 1.x.
  return new KmipError('InvalidAttribute', `${JSON.stringify(name)} is not a KMIP attribute name nor a custom "x-"/"y-" name`);
}

/** A KMIP 1.x attribute name: a specification name or an "x-"/"y-" custom name. */
export function attributeByV1Name(name: string): AttributeDef {
  const def = attributeByName(name);
  if (def === undefined || (def.custom && !V1_CUSTOM.test(name))) throw unknownAttribute(name);
  return def;
}

// ---------------------------------------------------------------------------------------
// KMIP 1.x

export interface V1Attribute {
  readonly instance: AttributeInstance;
  /** The Attribute Index, when the client gave one (absent means 0, 1.4 section 2.1.1). */
  readonly index?: number;
}

/** One 1.x `Attribute` structure as an instance. */
export function fromV1Attribute(item: TtlvItem, options: ReadOptions = {}): V1Attribute {
  const attribute = expectStructure(item, 'Attribute');
  if (attribute.tag !== Tag.Attribute) throw invalidField(`expected an Attribute, not ${label(attribute.tag)}`);
  const fields = childrenOf(attribute, [Tag.AttributeName, Tag.AttributeIndex, Tag.AttributeValue]);
  const name = textOf(fields.get(Tag.AttributeName), 'Attribute/AttributeName');
  const def = attributeByV1Name(name);
  checkVersion(def, options);
  const value = fields.get(Tag.AttributeValue);
  if (value === undefined) throw invalidField(`Attribute ${JSON.stringify(name)} has no AttributeValue`);
  const instance = { name: def.name, value: canonicalValue(def, value, options.purpose ?? 'set') };
  const index = fields.get(Tag.AttributeIndex);
  if (index === undefined) return { instance };
  if (index.type !== 'Integer' || index.value < 0) throw invalidField('Attribute/AttributeIndex must be a non-negative Integer');
  return { instance, index: index.value };
}

/** Attribute items given directly in a payload (1.x Locate), checked as one set. */
export function fromV1Attributes(items: readonly TtlvItem[], options: ReadOptions = {}): AttributeInstance[] {
  const instances = items.map((item) => fromV1Attribute(item, options).instance);
  if ((options.purpose ?? 'set') === 'set') checkSingleValued(instances, options.objectType);
  return instances;
}

/** A 1.x Template-Attribute's parts: the Templates it names, and its own attributes. */
export interface TemplateAttributeParts {
  /** Name Values of the Template objects named by `Name` items, in order (1.4 section 2.1.8). */
  readonly templates: readonly string[];
  readonly instances: AttributeInstance[];
}

/**
 * A 1.x Template-Attribute (or Common / Private Key / Public Key Template-Attribute): the
 * Templates named by its top-level `Name` items (deprecated since KMIP 1.3, gone from 2.0),
 * and its Attribute items as instances. The caller looks the Templates up.
 */
export function splitTemplateAttribute(item: TtlvItem, options: ReadOptions = {}): TemplateAttributeParts {
  const template = expectStructure(item, label(item.tag));
  const attributes: TtlvItem[] = [];
  const templates: string[] = [];
  for (const child of template.value) {
    if (child.tag === Tag.Name) {
      const name = canonicalValue(attributeByV1Name('Name'), child, 'set');
      const value = name.type === 'Structure' ? name.value.find((field) => field.tag === Tag.NameValue) : undefined;
      templates.push(textOf(value, `${label(template.tag)}/Name/NameValue`));
    } else if (child.tag === Tag.Attribute) {
      attributes.push(child);
    } else {
      throw invalidField(`${label(child.tag)} is not a field of ${label(template.tag)}`);
    }
  }
  return { templates, instances: fromV1Attributes(attributes, options) };
}

/**
 * A 1.x Template-Attribute's attributes, for an operation that takes no Template: naming
 * one is 1.4 section 11.2's "Templates that do not exist are given in request", Item Not Found.
 */
export function fromTemplateAttribute(item: TtlvItem, options: ReadOptions = {}): AttributeInstance[] {
  const { templates, instances } = splitTemplateAttribute(item, options);
  if (templates.length > 0) {
    throw new KmipError('ItemNotFound', `${label(item.tag)} names a Template; this operation takes no Templates (deprecated since KMIP 1.3), give the attributes instead`);
  }
  return instances;
}

/** One instance as a 1.x `Attribute`. The caller has checked `visibleIn(instance, version)`. */
export function toV1Attribute(instance: AttributeInstance, version: KmipVersion, index?: number): StructureItem {
  if (!visibleIn(instance, version)) throw new Error(`attribute ${instance.name} may not be sent to a KMIP ${version} client`);
  const value: TtlvItem = { ...instance.value, tag: Tag.AttributeValue };
  return {
    tag: Tag.Attribute,
    type: 'Structure',
    value: [
      { tag: Tag.AttributeName, type: 'TextString', value: instance.name },
      ...(index === undefined ? [] : [{ tag: Tag.AttributeIndex, type: 'Integer', value: index } as const]),
      value,
    ],
  };
}

export interface WriteOptions {
  /**
   * Give each instance an Attribute Index: its position among the instances of the same
   * attribute in the list. Without it, no index is sent (meaning 0, 1.4 section 2.1.1).
   */
  readonly withIndex?: boolean;
}

/**
 * Instances as a 1.x structure of Attribute items under `tag` (Template-Attribute, Private
 * Key Template-Attribute, ...), leaving out what `version` does not define.
 */
export function toTemplateAttribute(
  instances: readonly AttributeInstance[],
  tag: number,
  version: KmipVersion,
  options: WriteOptions = {},
): StructureItem {
  return { tag, type: 'Structure', value: toV1AttributeList(instances, version, options) };
}

/** Instances as a list of 1.x Attribute items (Get Attributes response), leaving out what `version` does not define. */
export function toV1AttributeList(instances: readonly AttributeInstance[], version: KmipVersion, options: WriteOptions = {}): StructureItem[] {
  const counts = new Map<string, number>();
  const items: StructureItem[] = [];
  for (const instance of instances) {
    const index = counts.get(instance.name) ?? 0;
    counts.set(instance.name, index + 1);
    if (!visibleIn(instance, version)) continue;
    items.push(toV1Attribute(instance, version, options.withIndex === true ? index : undefined));
  }
  return items;
}

// ---------------------------------------------------------------------------------------
// KMIP 2.x

/** One item of a 2.x Attributes structure (an attribute under its own tag, or a vendor Attribute). */
export function fromV2Attribute(item: TtlvItem, options: ReadOptions = {}): AttributeInstance {
  const purpose = options.purpose ?? 'set';
  if (item.tag === Tag.Attribute) return fromVendorAttribute(expectStructure(item, 'Attribute'), options);
  const def = attributeByTag(item.tag);
  if (def === undefined) throw new KmipError('InvalidAttribute', `${label(item.tag)} is not an attribute`);
  checkVersion(def, options);
  return { name: def.name, value: canonicalValue(def, item, purpose) };
}

function fromVendorAttribute(item: StructureItem, options: ReadOptions): AttributeInstance {
  const fields = childrenOf(item, [Tag.VendorIdentification, Tag.AttributeName, Tag.AttributeValue]);
  const name = vendorName(fields);
  const def = attributeByName(name);
  if (def === undefined || !def.custom) throw new KmipError('InvalidAttribute', `vendor attribute ${JSON.stringify(name)} is not valid`);
  checkVersion(def, options);
  const value = fields.get(Tag.AttributeValue);
  if (value === undefined) throw invalidField(`vendor attribute ${JSON.stringify(name)} has no AttributeValue`);
  return { name: def.name, value: canonicalValue(def, value, options.purpose ?? 'set') };
}

/** "x" and "ID" -> "x-ID": 1.x's custom attribute and 2.x's vendor attribute are one attribute. */
function vendorName(fields: Map<number, TtlvItem>): string {
  const vendor = textOf(fields.get(Tag.VendorIdentification), 'Attribute/VendorIdentification');
  const attributeName = textOf(fields.get(Tag.AttributeName), 'Attribute/AttributeName');
  if (!VENDOR_IDENTIFICATION.test(vendor)) {
    throw invalidField(`Vendor Identification ${JSON.stringify(vendor)} may hold only letters, digits, "_" and "."`);
  }
  if (attributeName === '') throw invalidField('Attribute Name of a vendor attribute may not be empty');
  return `${vendor}-${attributeName}`;
}

/** A 2.x Attributes, Common Attributes, Private Key Attributes or Public Key Attributes structure as instances. */
export function fromV2Attributes(item: TtlvItem, options: ReadOptions = {}): AttributeInstance[] {
  const attributes = expectStructure(item, label(item.tag));
  const instances = attributes.value.map((child) => fromV2Attribute(child, options));
  if ((options.purpose ?? 'set') === 'set') checkSingleValued(instances, options.objectType);
  return instances;
}

/** One instance in the 2.x shape. The caller has checked `visibleIn(instance, version)`. */
export function toV2Attribute(instance: AttributeInstance, version: KmipVersion): TtlvItem {
  if (!visibleIn(instance, version)) throw new Error(`attribute ${instance.name} may not be sent to a KMIP ${version} client`);
  const custom = splitCustomName(instance.name);
  if (custom === undefined) return instance.value;
  return {
    tag: Tag.Attribute,
    type: 'Structure',
    value: [
      { tag: Tag.VendorIdentification, type: 'TextString', value: custom.vendor },
      { tag: Tag.AttributeName, type: 'TextString', value: custom.attributeName },
      { ...instance.value, tag: Tag.AttributeValue },
    ],
  };
}

/** Instances as a 2.x structure under `tag` (Attributes, Common Attributes, ...), leaving out what `version` does not define. */
export function toV2Attributes(instances: readonly AttributeInstance[], tag: number, version: KmipVersion): StructureItem {
  return {
    tag,
    type: 'Structure',
    value: instances.filter((instance) => visibleIn(instance, version)).map((instance) => toV2Attribute(instance, version)),
  };
}

/** The one attribute of a 2.x New Attribute or Current Attribute. */
export function fromAttributeHolder(item: TtlvItem, options: ReadOptions = {}): AttributeInstance {
  const holder = expectStructure(item, label(item.tag));
  const [only, ...rest] = holder.value;
  if (only === undefined || rest.length > 0) {
    throw invalidField(`${label(holder.tag)} must hold exactly one attribute, not ${holder.value.length}`);
  }
  return fromV2Attribute(only, options);
}

/** One instance as a 2.x New Attribute / Current Attribute under `tag`. */
export function toAttributeHolder(instance: AttributeInstance, tag: number, version: KmipVersion): StructureItem {
  return { tag, type: 'Structure', value: [toV2Attribute(instance, version)] };
}

// ---------------------------------------------------------------------------------------
// Attribute references (Get Attributes, Get Attribute List, Delete Attribute, ...)

/**
 * The attribute name an attribute reference designates:
 * - 2.x Attribute Reference as an Enumeration: the attribute's tag;
 * - 2.x Attribute Reference as a structure: Vendor Identification + Attribute Name;
 * - 1.x Attribute Name (Text String): the attribute's name.
 * Anything that is not an attribute is Invalid Attribute (2.1 section 6.1.20.1).
 */
export function attributeReferenceToName(item: TtlvItem, options: Pick<ReadOptions, 'version'> = {}): string {
  let def: AttributeDef | undefined;
  if (item.tag === Tag.AttributeName) {
    def = attributeByV1Name(textOf(item, 'AttributeName'));
  } else if (item.tag === Tag.AttributeReference && item.type === 'Enumeration') {
    def = attributeByTag(item.value);
    if (def === undefined) throw new KmipError('InvalidAttribute', `${label(item.value)} is not an attribute`);
  } else if (item.tag === Tag.AttributeReference && item.type === 'Structure') {
    const name = vendorName(childrenOf(item, [Tag.VendorIdentification, Tag.AttributeName]));
    def = attributeByName(name);
    if (def === undefined || !def.custom) throw new KmipError('InvalidAttribute', `${JSON.stringify(name)} is not a vendor attribute`);
  } else {
    throw invalidField(`${label(item.tag)} (${item.type}) is not an attribute reference`);
  }
  checkVersion(def, options);
  return def.name;
}

/**
 * How a client speaking `version` refers to an attribute: a 1.x Attribute Name, or a 2.x
 * Attribute Reference (Get Attribute List responses). Undefined when `version` cannot name
 * it (a 2.x-only attribute to a 1.x client, a non-"x"/"y" vendor attribute to 1.x).
 */
export function nameToAttributeReference(name: string, version: KmipVersion): TtlvItem | undefined {
  const def = attributeByName(name);
  if (def === undefined || !registry.definedIn(def, version)) return undefined;
  if (version.startsWith('1.')) {
    if (def.custom && !isCustomName(name, version)) return undefined;
    return { tag: Tag.AttributeName, type: 'TextString', value: def.name };
  }
  const custom = splitCustomName(def.name);
  if (custom === undefined) return { tag: Tag.AttributeReference, type: 'Enumeration', value: def.tag };
  return {
    tag: Tag.AttributeReference,
    type: 'Structure',
    value: [
      { tag: Tag.VendorIdentification, type: 'TextString', value: custom.vendor },
      { tag: Tag.AttributeName, type: 'TextString', value: custom.attributeName },
    ],
  };
}
