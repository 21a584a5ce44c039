/** What the `kmip` command reads out of response payloads, in both 1.x and 2.x shapes. */
import { KeyMaterial } from '../../lib/crypto/index.js';
import { SECRET_TAGS, Tag, formatItem, registry } from '../../ttlv/index.js';
import type { KmipVersion, StructureItem, TtlvItem } from '../../ttlv/index.js';
import { BadResponseError } from './errors.js';
import { enumName } from './names.js';
import { child, children, optionalChild } from './ttlv.js';

export const uniqueIdentifier = (payload: StructureItem): string => child(payload, Tag.UniqueIdentifier, 'TextString').value;

export const uniqueIdentifiers = (payload: StructureItem): string[] => children(payload, Tag.UniqueIdentifier, 'TextString').map((item) => item.value);

/** "2.1", "2.0", ... as a Discover Versions payload lists them. */
export function protocolVersions(payload: StructureItem): string[] {
  return children(payload, Tag.ProtocolVersion, 'Structure').map(
    (pv) => `${child(pv, Tag.ProtocolVersionMajor, 'Integer').value}.${child(pv, Tag.ProtocolVersionMinor, 'Integer').value}`,
  );
}

export interface QueryAnswer {
  readonly operations: string[];
  readonly objectTypes: string[];
  readonly vendor: string | undefined;
  readonly serverInformation: Record<string, string>;
}

export function queryAnswer(payload: StructureItem, version: KmipVersion): QueryAnswer {
  const info = optionalChild(payload, Tag.ServerInformation, 'Structure');
  return {
    operations: children(payload, Tag.Operation, 'Enumeration').map((op) => enumName(Tag.Operation, op.value, version)),
    objectTypes: children(payload, Tag.ObjectType, 'Enumeration').map((type) => enumName(Tag.ObjectType, type.value, version)),
    vendor: optionalChild(payload, Tag.VendorIdentification, 'TextString')?.value,
    serverInformation: Object.fromEntries((info?.value ?? []).map((item) => [attributeName(item.tag), describeValue(item, version)])),
  };
}

export interface RetrievedObject {
  readonly uniqueIdentifier: string;
  readonly objectType: string;
  /** Absent for objects without a Key Block. */
  readonly keyFormat: string | undefined;
  /** The bytes, or for a structured key format (Transparent RSA, EC, ...) its fields by name. */
  readonly material: KeyMaterial | Map<string, KeyMaterial>;
}

/** Values of objects without a Key Block (2.1 section 2.2). */
const VALUE_TAGS = [Tag.CertificateValue, Tag.OpaqueDataValue, Tag.CertificateRequestValue] as const;

/** The object of a Get payload: Object Type, Unique Identifier, then the object itself. */
export function retrievedObject(payload: StructureItem, version: KmipVersion): RetrievedObject {
  const objectType = child(payload, Tag.ObjectType, 'Enumeration');
  const object = payload.value.find((item) => item.type === 'Structure');
  if (object === undefined || object.type !== 'Structure') throw new BadResponseError('the Get answer holds no object');
  const keyBlock = optionalChild(object, Tag.KeyBlock, 'Structure');
  const base = { uniqueIdentifier: uniqueIdentifier(payload), objectType: enumName(Tag.ObjectType, objectType.value, version) };
  if (keyBlock === undefined) {
    const value = VALUE_TAGS.map((tag) => optionalChild(object, tag, 'ByteString')).find((item) => item !== undefined);
    if (value === undefined) throw new BadResponseError(`the ${base.objectType} holds no value`);
    return { ...base, keyFormat: undefined, material: KeyMaterial.copyOf(value.value) };
  }
  const format = child(keyBlock, Tag.KeyFormatType, 'Enumeration');
  const keyValue = optionalChild(keyBlock, Tag.KeyValue, 'Structure');
  // A wrapped key (Key Wrapping Data) carries its Key Value as a Byte String.
  const material = keyValue === undefined ? child(keyBlock, Tag.KeyValue, 'ByteString') : keyValue.value.find((item) => item.tag === Tag.KeyMaterial);
  if (material === undefined) throw new BadResponseError('the Key Value holds no Key Material');
  return { ...base, keyFormat: enumName(Tag.KeyFormatType, format.value, version), material: materialOf(material) };
}

function materialOf(item: TtlvItem): KeyMaterial | Map<string, KeyMaterial> {
  if (item.type === 'ByteString') return KeyMaterial.copyOf(item.value);
  if (item.type !== 'Structure') throw new BadResponseError(`Key Material is a ${item.type}`);
  // Transparent Symmetric Key: one Key field is the key itself.
  const key = optionalChild(item, Tag.Key, 'ByteString');
  if (key !== undefined && item.value.length === 1) return KeyMaterial.copyOf(key.value);
  const fields = new Map<string, KeyMaterial>();
  for (const field of item.value) {
    if (field.type === 'ByteString') fields.set(attributeName(field.tag), KeyMaterial.copyOf(field.value));
    else if (field.type === 'BigInteger') fields.set(attributeName(field.tag), new KeyMaterial(bigIntBytes(field.value)));
  }
  return fields;
}

function bigIntBytes(value: bigint): Buffer {
  const hex = value.toString(16);
  return Buffer.from(hex.length % 2 === 0 ? hex : `0${hex}`, 'hex');
}

export interface NamedAttribute {
  readonly name: string;
  /** The value under the attribute's own tag (1.x Attribute Values are re-tagged by name). */
  readonly value: TtlvItem;
}

/** The attributes of a Get Attributes payload: 1.x Attribute structures, or 2.x one Attributes structure. */
export function attributesOf(payload: StructureItem): NamedAttribute[] {
  const v2 = optionalChild(payload, Tag.Attributes, 'Structure');
  if (v2 !== undefined) return v2.value.map(v2Attribute);
  return children(payload, Tag.Attribute, 'Structure').map(v1Attribute);
}

function v1Attribute(attribute: StructureItem): NamedAttribute {
  const name = child(attribute, Tag.AttributeName, 'TextString').value;
  const value = attribute.value.find((item) => item.tag === Tag.AttributeValue);
  if (value === undefined) throw new BadResponseError(`attribute ${name} has no Attribute Value`);
  // The value's own tag lets the registry name its enumerations and masks.
  const tag = registry.tagByName(name)?.value;
  return { name, value: tag === undefined ? value : ({ ...value, tag } as TtlvItem) };
}

function v2Attribute(item: TtlvItem): NamedAttribute {
  if (item.tag !== Tag.Attribute || item.type !== 'Structure') return { name: attributeName(item.tag), value: item };
  // A custom attribute: Attribute{Vendor Identification, Attribute Name, Attribute Value}.
  const vendor = optionalChild(item, Tag.VendorIdentification, 'TextString')?.value;
  const name = child(item, Tag.AttributeName, 'TextString').value;
  const value = item.value.find((c) => c.tag === Tag.AttributeValue) ?? item;
  return { name: vendor === undefined || vendor === '' ? name : `${vendor}:${name}`, value };
}

/** "Cryptographic Algorithm" for its tag, or the tag in hex. */
export function attributeName(tag: number): string {
  return registry.tagByValue(tag)?.name ?? registry.tagHex(tag);
}

/**
 * One line for a value: leaves as the codec's pretty printer writes them (enumeration and
 * mask names, ISO dates, secrets redacted), structures as `Field=value, Field{...}`.
 */
export function describeValue(item: TtlvItem, version: KmipVersion, nested = false): string {
  if (item.type === 'Structure') {
    return item.value.map((c) => (c.type === 'Structure' ? `${xmlName(c.tag)}{${describeValue(c, version, true)}}` : `${xmlName(c.tag)}=${describeValue(c, version, true)}`)).join(', ');
  }
  if (item.type === 'TextString' && !nested) return item.value;
  // formatItem writes "<Name>: <Type> <value>" for a leaf at depth 0.
  const line = formatItem(item, { version, redact: SECRET_TAGS });
  const marker = `: ${item.type} `;
  const at = line.indexOf(marker);
  return at < 0 ? line : line.slice(at + marker.length);
}

const xmlName = (tag: number): string => registry.tagByValue(tag)?.xmlName ?? registry.tagHex(tag);
