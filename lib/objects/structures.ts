/**
 * Managed object structures (KMIP 2.1 section 2, 1.4 section 2.2): which structure each
 * Object Type travels in, the checks a registered object must pass, and Key Block access.
 */
import { Enum, Tag, registry } from '../../ttlv/index.js';
import type { StructureItem, TtlvItem } from '../../ttlv/index.js';
import { KmipError } from '../errors.js';
import { bytes, enumeration, int, struct } from '../protocol/build.js';
import { Fields } from '../protocol/fields.js';

const T = Enum.ObjectType;

interface ObjectKind {
  /** The tag of the object's structure in Register/Get payloads. */
  readonly tag: number;
  /** Whether the structure holds a Key Block. */
  readonly keyBlock: boolean;
}

export const OBJECT_KINDS: ReadonlyMap<number, ObjectKind> = new Map([
  [T.Certificate, { tag: Tag.Certificate, keyBlock: false }],
  [T.SymmetricKey, { tag: Tag.SymmetricKey, keyBlock: true }],
  [T.PublicKey, { tag: Tag.PublicKey, keyBlock: true }],
  [T.PrivateKey, { tag: Tag.PrivateKey, keyBlock: true }],
  [T.SplitKey, { tag: Tag.SplitKey, keyBlock: true }],
  [T.SecretData, { tag: Tag.SecretData, keyBlock: true }],
  [T.OpaqueObject, { tag: Tag.OpaqueObject, keyBlock: false }],
  [T.PGPKey, { tag: Tag.PGPKey, keyBlock: true }],
  [T.CertificateRequest, { tag: Tag.CertificateRequest, keyBlock: false }],
  // KMIP 1.x only (1.4 section 2.2.6): a named set of attributes for new objects.
  [T.Template, { tag: Tag.Template, keyBlock: false }],
]);

export function objectTypeName(type: number): string {
  const entry = Object.entries(T).find(([, value]) => value === type);
  return entry ? entry[0] : `0x${type.toString(16).padStart(8, '0')}`;
}

/** The object structure in a Register payload, checked against the Object Type. */
export function objectStructure(payload: Fields, objectType: number): StructureItem {
  const kind = OBJECT_KINDS.get(objectType);
  if (kind === undefined) throw new KmipError('InvalidObjectType', `Object Type ${objectTypeName(objectType)} cannot be registered with kmipd`);
  const item = payload.item.value.find((child) => child.tag === kind.tag);
  if (item === undefined || item.type !== 'Structure') {
    throw new KmipError('InvalidField', `a Register of a ${objectTypeName(objectType)} needs a ${registry.tagByValue(kind.tag)?.xmlName ?? 'object'} structure`);
  }
  checkStructure(objectType, Fields.of(item));
  return item;
}

function checkStructure(objectType: number, fields: Fields): void {
  const kind = OBJECT_KINDS.get(objectType);
  if (kind?.keyBlock) {
    const block = fields.struct(Tag.KeyBlock);
    block.enumeration(Tag.KeyFormatType);
    const value = block.optional(Tag.KeyValue);
    if (value === undefined) throw new KmipError('InvalidField', 'the Key Block has no Key Value');
    if (value.type === 'Structure') {
      const material = Fields.of(value).required(Tag.KeyMaterial);
      if (material.type !== 'ByteString' && material.type !== 'Structure') {
        throw new KmipError('InvalidField', `Key Material must be a Byte String or a Structure, not ${material.type}`);
      }
    } else if (value.type !== 'ByteString') {
      throw new KmipError('InvalidField', `Key Value must be a Structure or, wrapped, a Byte String; not ${value.type}`);
    }
    if (objectType === T.SecretData) fields.enumeration(Tag.SecretDataType);
    return;
  }
  switch (objectType) {
    case T.Certificate:
      fields.enumeration(Tag.CertificateType);
      fields.value(Tag.CertificateValue, 'ByteString');
      return;
    case T.OpaqueObject:
      fields.enumeration(Tag.OpaqueDataType);
      fields.value(Tag.OpaqueDataValue, 'ByteString');
      return;
    case T.CertificateRequest:
      fields.enumeration(Tag.CertificateRequestType);
      fields.value(Tag.CertificateRequestValue, 'ByteString');
      return;
    case T.Template:
      // 1.4 table 50: "Attribute: Yes. MAY be repeated"; the attributes are checked with the request's version.
      if (fields.all(Tag.Attribute).length === 0) throw new KmipError('InvalidField', 'a Template holds at least one Attribute');
      if (fields.item.value.some((child) => child.tag !== Tag.Attribute)) throw new KmipError('InvalidField', 'a Template holds only Attribute items');
      return;
  }
}

/** What the Key Block of a stored object says. */
export interface KeyBlockView {
  readonly formatType: number;
  readonly algorithm: number | undefined;
  readonly length: number | undefined;
  /** The Key Material item (Byte String or transparent Structure); undefined when wrapped. */
  readonly material: TtlvItem | undefined;
  readonly wrapped: boolean;
}

export function keyBlockOf(body: TtlvItem): KeyBlockView | undefined {
  if (body.type !== 'Structure') return undefined;
  const blockItem = body.value.find((child) => child.tag === Tag.KeyBlock);
  if (blockItem === undefined || blockItem.type !== 'Structure') return undefined;
  const block = Fields.of(blockItem);
  const value = block.optional(Tag.KeyValue);
  return {
    formatType: block.enumeration(Tag.KeyFormatType),
    algorithm: block.optionalEnumeration(Tag.CryptographicAlgorithm),
    length: block.optionalInteger(Tag.CryptographicLength),
    material: value?.type === 'Structure' ? Fields.of(value).optional(Tag.KeyMaterial) : undefined,
    wrapped: block.has(Tag.KeyWrappingData) || value?.type === 'ByteString',
  };
}

/** A Symmetric Key structure holding raw key bytes (KMIP 2.1 section 2.2.8). */
export function symmetricKey(algorithm: number, bits: number, material: Uint8Array): TtlvItem {
  return struct(Tag.SymmetricKey, [
    struct(Tag.KeyBlock, [
      enumeration(Tag.KeyFormatType, Enum.KeyFormatType.Raw),
      struct(Tag.KeyValue, [bytes(Tag.KeyMaterial, material)]),
      enumeration(Tag.CryptographicAlgorithm, algorithm),
      int(Tag.CryptographicLength, bits),
    ]),
  ]);
}

/** The object's raw key bytes when its Key Block holds them in clear as a Byte String. */
export function rawKeyBytes(body: TtlvItem): Uint8Array | undefined {
  return rawKeyBytesOf(keyBlockOf(body));
}

/** rawKeyBytes of a Key Block already read (keyBlockOf). */
export function rawKeyBytesOf(view: KeyBlockView | undefined): Uint8Array | undefined {
  if (view === undefined || view.wrapped) return undefined;
  if (view.material?.type === 'ByteString') return view.material.value;
  // Transparent Symmetric Key: the bytes sit in its Key field.
  if (view.material?.type === 'Structure') {
    const key = view.material.value.find((child) => child.tag === Tag.Key);
    if (key?.type === 'ByteString') return key.value;
  }
  return undefined;
}

/** A copy of a Key Block structure with new Key Material in `format`. */
export function replaceKeyMaterial(body: TtlvItem, format: number, material: TtlvItem): TtlvItem {
  if (body.type !== 'Structure') return body;
  return {
    ...body,
    value: body.value.map((child) => {
      if (child.tag !== Tag.KeyBlock || child.type !== 'Structure') return child;
      return {
        ...child,
        value: child.value.map((field) => {
          if (field.tag === Tag.KeyFormatType) return enumeration(Tag.KeyFormatType, format);
          if (field.tag === Tag.KeyValue && field.type === 'Structure') {
            return { ...field, value: field.value.map((part) => (part.tag === Tag.KeyMaterial ? material : part)) };
          }
          return field;
        }),
      };
    }),
  };
}
