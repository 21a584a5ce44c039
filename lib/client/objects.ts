/**
 * Managed objects in and out: what Register takes (keys, certificates, secret data,
 * opaque objects, or any object as raw TTLV) and what Get gives back, with key material
 * held in KeyMaterial (redacted when printed or logged).
 */
import { Enum, Tag } from '../../ttlv/index.js';
import type { KmipVersion, StructureItem, TtlvItem } from '../../ttlv/index.js';
import { KeyMaterial } from '../crypto/index.js';
import type { AlgorithmName, ObjectTypeName } from './attributes.js';
import { badResponse, invalidArgument } from './errors.js';
import { enumValue, enumXmlName } from './names.js';
import { bytes, child, enumeration, int, optionalChild, struct } from './ttlv.js';
import { fromItem, keyOfTag, toItem } from './values.js';
import type { KmipStruct } from './values.js';

export type KeyFormatName = keyof typeof Enum.KeyFormatType;
export type SecretDataTypeName = keyof typeof Enum.SecretDataType;
export type CertificateTypeName = keyof typeof Enum.CertificateType;

export interface SymmetricKeyInput {
  readonly type: 'SymmetricKey';
  readonly material: Uint8Array;
  readonly algorithm: AlgorithmName | number;
  /** Bits; the material's length by default. */
  readonly length?: number;
  /** Raw (default) or TransparentSymmetricKey. */
  readonly format?: 'Raw' | 'TransparentSymmetricKey';
}

export interface AsymmetricKeyInput {
  readonly type: 'PrivateKey' | 'PublicKey';
  /** DER bytes in `format`. */
  readonly material: Uint8Array;
  /** PKCS8 / PKCS1 for private keys, X509 (SubjectPublicKeyInfo) / PKCS1 for public keys. */
  readonly format: KeyFormatName;
  readonly algorithm: AlgorithmName | number;
  /** Bits (RSA modulus, EC field size). */
  readonly length: number;
}

export interface CertificateInput {
  readonly type: 'Certificate';
  /** DER bytes. */
  readonly value: Uint8Array;
  readonly certificateType?: CertificateTypeName;
}

export interface SecretDataInput {
  readonly type: 'SecretData';
  readonly material: Uint8Array;
  readonly secretDataType?: SecretDataTypeName | number;
}

export interface OpaqueObjectInput {
  readonly type: 'OpaqueObject';
  readonly value: Uint8Array;
  /** An Opaque Data Type value; the registry names none, so vendors pick numbers (default 0x80000000). */
  readonly opaqueDataType?: number;
}

/** Any object as the TTLV the specification gives it (a Split Key, a PGP Key, ...). */
export interface RawObjectInput {
  readonly type: ObjectTypeName;
  readonly raw: StructureItem;
}

export type ManagedObjectInput = SymmetricKeyInput | AsymmetricKeyInput | CertificateInput | SecretDataInput | OpaqueObjectInput | RawObjectInput;

function keyBlock(format: number, material: TtlvItem, algorithm: number | undefined, length: number | undefined): StructureItem {
  return struct(Tag.KeyBlock, [
    enumeration(Tag.KeyFormatType, format),
    struct(Tag.KeyValue, [material]),
    algorithm === undefined ? undefined : enumeration(Tag.CryptographicAlgorithm, algorithm),
    length === undefined ? undefined : int(Tag.CryptographicLength, length),
  ]);
}

const algorithmOf = (input: AlgorithmName | number, version: KmipVersion): number =>
  typeof input === 'number' ? input : enumValue(Tag.CryptographicAlgorithm, input, 'algorithm', version);

/** The object's Object Type and its structure, as Register and Import carry them. */
export function objectItems(input: ManagedObjectInput, version: KmipVersion): { objectType: number; object: StructureItem } {
  if ('raw' in input) return { objectType: Enum.ObjectType[input.type], object: input.raw };
  if (!('material' in input) && !('value' in input)) throw invalidArgument('give an object as { type, material | value } or { type, raw }');
  switch (input.type) {
    case 'SymmetricKey': {
      const transparent = input.format === 'TransparentSymmetricKey';
      const material = transparent ? struct(Tag.KeyMaterial, [bytes(Tag.Key, input.material)]) : bytes(Tag.KeyMaterial, input.material);
      const format = transparent ? Enum.KeyFormatType.TransparentSymmetricKey : Enum.KeyFormatType.Raw;
      const block = keyBlock(format, material, algorithmOf(input.algorithm, version), input.length ?? input.material.length * 8);
      return { objectType: Enum.ObjectType.SymmetricKey, object: struct(Tag.SymmetricKey, [block]) };
    }
    case 'PrivateKey':
    case 'PublicKey': {
      const format = enumValue(Tag.KeyFormatType, input.format, 'format', version);
      const block = keyBlock(format, bytes(Tag.KeyMaterial, input.material), algorithmOf(input.algorithm, version), input.length);
      return { objectType: Enum.ObjectType[input.type], object: struct(input.type === 'PrivateKey' ? Tag.PrivateKey : Tag.PublicKey, [block]) };
    }
    case 'Certificate': {
      const type = enumValue(Tag.CertificateType, input.certificateType ?? 'X_509', 'certificateType', version);
      return { objectType: Enum.ObjectType.Certificate, object: struct(Tag.Certificate, [enumeration(Tag.CertificateType, type), bytes(Tag.CertificateValue, input.value)]) };
    }
    case 'SecretData': {
      const given = input.secretDataType ?? 'Password';
      const type = typeof given === 'number' ? given : enumValue(Tag.SecretDataType, given, 'secretDataType', version);
      const block = keyBlock(Enum.KeyFormatType.Opaque, bytes(Tag.KeyMaterial, input.material), undefined, undefined);
      return { objectType: Enum.ObjectType.SecretData, object: struct(Tag.SecretData, [enumeration(Tag.SecretDataType, type), block]) };
    }
    case 'OpaqueObject': {
      const object = struct(Tag.OpaqueObject, [enumeration(Tag.OpaqueDataType, input.opaqueDataType ?? 0x80000000), bytes(Tag.OpaqueDataValue, input.value)]);
      return { objectType: Enum.ObjectType.OpaqueObject, object };
    }
  }
}

/** An object as Get (or Export) returns it. */
export interface ManagedObject {
  readonly objectType: ObjectTypeName;
  /** The Key Format Type of a key block ('Raw', 'PKCS8', ...); undefined for certificates and opaque objects. */
  readonly keyFormatType: KeyFormatName | undefined;
  /**
   * The bytes: key material in a byte format (or the whole wrapped key block), a
   * certificate's or opaque object's value. Undefined for structured (transparent) formats.
   */
  readonly material: KeyMaterial | undefined;
  /** The fields of a structured key format (Transparent RSA Private Key: modulus, ...), secret ones as KeyMaterial. */
  readonly fields: ReadonlyMap<string, KeyMaterial | bigint | string | number> | undefined;
  readonly cryptographicAlgorithm: AlgorithmName | undefined;
  readonly cryptographicLength: number | undefined;
  /** Key Wrapping Data when the key came wrapped. */
  readonly keyWrappingData: KmipStruct | undefined;
  /** The object's TTLV, for anything else. */
  readonly raw: StructureItem;
  /** Overwrite every secret byte with zeros. */
  wipe(): void;
}

/** Values of objects without a Key Block (2.1 section 2.2). */
const VALUE_TAGS = [Tag.CertificateValue, Tag.OpaqueDataValue, Tag.CertificateRequestValue] as const;

/** The object of a Get payload: Object Type, Unique Identifier, then the object's structure. */
export function readObject(payload: StructureItem, version: KmipVersion): ManagedObject {
  const objectType = enumXmlName(Tag.ObjectType, child(payload, Tag.ObjectType, 'Enumeration').value, version) as ObjectTypeName;
  const object = payload.value.find((item): item is StructureItem => item.type === 'Structure' && item.tag !== Tag.Attributes);
  if (object === undefined) throw badResponse('the answer holds no object');
  const keyBlock = optionalChild(object, Tag.KeyBlock, 'Structure');
  const wipeAll = (material: KeyMaterial | undefined, fields: ReadonlyMap<string, unknown> | undefined) => (): void => {
    material?.wipe();
    for (const field of fields?.values() ?? []) if (field instanceof KeyMaterial) field.wipe();
  };
  if (keyBlock === undefined) {
    const value = VALUE_TAGS.map((tag) => optionalChild(object, tag, 'ByteString')).find((item) => item !== undefined);
    const material = value === undefined ? undefined : KeyMaterial.copyOf(value.value);
    return { objectType, keyFormatType: undefined, material, fields: undefined, cryptographicAlgorithm: undefined, cryptographicLength: undefined, keyWrappingData: undefined, raw: object, wipe: wipeAll(material, undefined) };
  }
  const format = enumXmlName(Tag.KeyFormatType, child(keyBlock, Tag.KeyFormatType, 'Enumeration').value, version) as KeyFormatName;
  const algorithm = optionalChild(keyBlock, Tag.CryptographicAlgorithm, 'Enumeration')?.value;
  const wrapping = optionalChild(keyBlock, Tag.KeyWrappingData, 'Structure');
  const keyValue = keyBlock.value.find((item) => item.tag === Tag.KeyValue);
  if (keyValue === undefined) throw badResponse('the Key Block holds no Key Value');
  let material: KeyMaterial | undefined;
  let fields: Map<string, KeyMaterial | bigint | string | number> | undefined;
  // A wrapped key (Key Wrapping Data) carries its Key Value as a Byte String.
  if (keyValue.type === 'ByteString') material = KeyMaterial.copyOf(keyValue.value);
  else if (keyValue.type === 'Structure') {
    const keyMaterial = keyValue.value.find((item) => item.tag === Tag.KeyMaterial);
    if (keyMaterial?.type === 'ByteString') material = KeyMaterial.copyOf(keyMaterial.value);
    else if (keyMaterial?.type === 'Structure') {
      // Transparent Symmetric Key: its one Key field is the key itself.
      const key = optionalChild(keyMaterial, Tag.Key, 'ByteString');
      if (key !== undefined && keyMaterial.value.length === 1) material = KeyMaterial.copyOf(key.value);
      else fields = transparentFields(keyMaterial, version);
    } else throw badResponse('the Key Value holds no Key Material');
  }
  return {
    objectType,
    keyFormatType: format,
    material,
    fields,
    cryptographicAlgorithm: algorithm === undefined ? undefined : (enumXmlName(Tag.CryptographicAlgorithm, algorithm, version) as AlgorithmName),
    cryptographicLength: optionalChild(keyBlock, Tag.CryptographicLength, 'Integer')?.value,
    keyWrappingData: wrapping === undefined ? undefined : (fromItem(wrapping, version) as KmipStruct),
    raw: object,
    wipe: wipeAll(material, fields),
  };
}

function transparentFields(item: StructureItem, version: KmipVersion): Map<string, KeyMaterial | bigint | string | number> {
  const fields = new Map<string, KeyMaterial | bigint | string | number>();
  for (const field of item.value) {
    const key = keyOfTag(field.tag);
    if (field.type === 'ByteString') fields.set(key, KeyMaterial.copyOf(field.value));
    else if (field.type === 'BigInteger') fields.set(key, field.value);
    else if (field.type === 'Enumeration') fields.set(key, enumXmlName(field.tag, field.value, version));
    else if (field.type === 'Integer') fields.set(key, field.value);
  }
  return fields;
}

/** A Key Wrapping Specification (Get, Export) from its plain form. */
export function wrappingSpecification(spec: KmipStruct, version: KmipVersion): TtlvItem {
  return toItem(Tag.KeyWrappingSpecification, spec, version, 'keyWrappingSpecification');
}
