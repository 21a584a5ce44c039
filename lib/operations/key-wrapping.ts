/**
 * Returning a key wrapped (KMIP 2.1 sections 3.3 and 7.18, 1.4 sections 2.1.5 and 2.1.6):
 * the Key Value of the object's Key Block is encrypted under a wrapping key the client
 * names, and the Key Block says how in its Key Wrapping Data. kmipd wraps with AES keys,
 * in NIST Key Wrap (RFC 3394) or AES Key Wrap with Padding (RFC 5649).
 */
import { Enum, Tag, encodeTtlv } from '../../ttlv/index.js';
import type { KmipVersion, TtlvItem } from '../../ttlv/index.js';
import { attributeReferenceToName } from '../attributes/index.js';
import { wrapKey } from '../crypto/index.js';
import { KmipError } from '../errors.js';
import { instances } from '../objects/managed.js';
import type { ManagedObject } from '../objects/types.js';
import { keyBlockOf } from '../objects/structures.js';
import { bytes, enumeration, struct, text } from '../protocol/build.js';
import { Fields } from '../protocol/fields.js';
import { isV2 } from '../protocol/versions.js';
import { attributesFor } from './get-attributes.js';
import { isKeyPairHalf } from './key-pair-use.js';
import { chargeUsage, objectForUse, symmetricKeyOf } from './key-use.js';
import type { KeyInUse } from './key-use.js';
import type { OperationContext } from './types.js';

/** A Key Wrapping Specification as the request gave it. */
export interface WrappingSpec {
  readonly method: number;
  /** Encryption Key Information: the wrapping key and, optionally, the parameters to use. */
  readonly encryptionKey: { readonly id: string; readonly params: TtlvItem | undefined } | undefined;
  readonly macKey: boolean;
  /** Attributes to wrap with the key material (1.4 section 2.1.6 "Attribute Name"). */
  readonly attributeNames: readonly string[];
  readonly encoding: number | undefined;
}

export function decodeWrappingSpec(item: TtlvItem, version: KmipVersion): WrappingSpec {
  const spec = Fields.of(item, 'KeyWrappingSpecification');
  const encryption = spec.optionalStruct(Tag.EncryptionKeyInformation);
  return {
    method: spec.enumeration(Tag.WrappingMethod),
    encryptionKey: encryption === undefined ? undefined : { id: encryption.text(Tag.UniqueIdentifier), params: encryption.optional(Tag.CryptographicParameters) },
    macKey: spec.has(Tag.MACSignatureKeyInformation),
    attributeNames: spec.all(Tag.AttributeName).map((name) => attributeReferenceToName(name, { version })),
    encoding: spec.optionalEnumeration(Tag.EncodingOption),
  };
}

/**
 * The object structure `body` with its Key Value wrapped as `spec` asks. The wrapping key
 * must be the caller's, Active, with Wrap Key in its usage mask; the ID Placeholder stays
 * the object being wrapped.
 */
export async function wrapObject(ctx: OperationContext, obj: ManagedObject, body: TtlvItem, spec: WrappingSpec): Promise<TtlvItem> {
  const view = keyBlockOf(body);
  if (view === undefined) throw new KmipError('InvalidObjectType', `object ${obj.id} has no Key Block: only keys and secret data can be returned wrapped`);
  if (view.wrapped) throw new KmipError('FeatureNotSupported', `object ${obj.id} is stored wrapped already; this server does not wrap it again`);
  if (spec.method !== Enum.WrappingMethod.Encrypt || spec.macKey) {
    throw new KmipError('FeatureNotSupported', 'this server wraps with Wrapping Method Encrypt only, without a MAC/Signature Key');
  }
  if (spec.encryptionKey === undefined) throw new KmipError('InvalidField', 'Wrapping Method Encrypt needs Encryption Key Information');
  const noEncoding = spec.encoding === Enum.EncodingOption.NoEncoding;
  if (noEncoding && spec.attributeNames.length > 0) {
    // 1.4 section 2.1.6: "If No Encoding is specified, then the Key Value SHALL NOT contain any attributes".
    throw new KmipError('EncodingOptionError', 'attributes cannot be wrapped with Encoding Option No Encoding');
  }

  const key = await wrappingKey(ctx, spec.encryptionKey.id);
  const plain = noEncoding ? rawMaterial(obj, body) : encodeTtlv(keyValueToWrap(ctx.version, obj, body, spec.attributeNames));
  try {
    const { params, mode } = wrappingParameters(key.obj, spec.encryptionKey.params);
    const wrapped = wrapKey(key.key, mode, plain);
    await chargeUsage(ctx, key, plain.length);
    const wrappingData = struct(Tag.KeyWrappingData, [
      enumeration(Tag.WrappingMethod, spec.method),
      struct(Tag.EncryptionKeyInformation, [text(Tag.UniqueIdentifier, key.obj.id), params]),
      spec.encoding === undefined ? undefined : enumeration(Tag.EncodingOption, spec.encoding),
    ]);
    return withWrappedKeyValue(body, wrapped, wrappingData);
  } finally {
    key.key.fill(0);
    plain.fill(0);
  }
}

/** The wrapping key in use for Wrap Key; errors name it as the wrapping object (2.x reasons). */
async function wrappingKey(ctx: OperationContext, id: string): Promise<KeyInUse> {
  const placeholder = ctx.idPlaceholder;
  try {
    const use = await objectForUse(ctx, id, 'WrapKey');
    if (isKeyPairHalf(use)) throw new KmipError('FeatureNotSupported', `object ${id} is a key pair half: this server wraps with AES keys only`);
    const key = symmetricKeyOf(use);
    if (key.algorithm !== Enum.CryptographicAlgorithm.AES) {
      key.key.fill(0);
      throw new KmipError('FeatureNotSupported', `object ${id} is not an AES key: this server wraps with AES keys only`);
    }
    return key;
  } catch (error) {
    throw asWrappingError(error);
  } finally {
    ctx.idPlaceholder = placeholder;
  }
}

/** KMIP 2.0 names what is wrong with the wrapping key apart from the object asked for. */
function asWrappingError(error: unknown): unknown {
  if (!(error instanceof KmipError)) return error;
  if (error.reason === 'ItemNotFound') return new KmipError('WrappingObjectNotFound', `wrapping key: ${error.message}`);
  if (error.reason === 'ObjectDestroyed') return new KmipError('WrappingObjectDestroyed', `wrapping key: ${error.message}`);
  if (error.reason === 'ObjectArchived') return new KmipError('WrappingObjectArchived', `wrapping key: ${error.message}`);
  return error;
}

/**
 * 2.1 section 7.18: parameters in the request must match one of the wrapping key's
 * Cryptographic Parameters; without them the first one applies; a key without any, or
 * with none that matches, is an error. A match agrees on every field the request gives.
 */
function wrappingParameters(key: ManagedObject, given: TtlvItem | undefined): { params: TtlvItem; mode: number } {
  const own = instances(key, 'Cryptographic Parameters');
  const chosen = given === undefined ? own[0] : own.find((candidate) => agrees(given, candidate));
  if (chosen === undefined) {
    throw new KmipError(
      'BadCryptographicParameters',
      own.length === 0
        ? `wrapping key ${key.id} has no Cryptographic Parameters attribute to say how it wraps`
        : `the Cryptographic Parameters given match none of wrapping key ${key.id}'s`,
    );
  }
  const mode = Fields.of(chosen, 'CryptographicParameters').optionalEnumeration(Tag.BlockCipherMode);
  if (mode === undefined) throw new KmipError('BadCryptographicParameters', `wrapping key ${key.id}'s Cryptographic Parameters name no Block Cipher Mode`);
  return { params: given ?? chosen, mode };
}

/** Every field of `given` is in `candidate` with the same value. */
function agrees(given: TtlvItem, candidate: TtlvItem): boolean {
  if (given.type !== 'Structure' || candidate.type !== 'Structure') return false;
  return given.value.every((field) =>
    candidate.value.some((other) => other.tag === field.tag && other.type === field.type && Buffer.from(encodeTtlv(other)).equals(encodeTtlv(field))),
  );
}

/** No Encoding: the Byte String Key Material alone (1.4 section 2.1.5). */
function rawMaterial(obj: ManagedObject, body: TtlvItem): Buffer {
  const material = keyBlockOf(body)?.material;
  if (material?.type !== 'ByteString') {
    throw new KmipError('EncodingOptionError', `object ${obj.id}'s Key Material is a structure: it can only be wrapped TTLV-encoded`);
  }
  return Buffer.from(material.value);
}

/** The Key Value structure to encode and wrap: as stored, with the attributes asked for in the version's shape. */
function keyValueToWrap(version: KmipVersion, obj: ManagedObject, body: TtlvItem, names: readonly string[]): TtlvItem {
  const keyValue = keyValueOf(body);
  if (names.length === 0) return keyValue;
  const wanted = new Set(names);
  const added = attributesFor(version, obj.attributes.filter((a) => wanted.has(a.name)));
  const children = keyValue.type === 'Structure' ? keyValue.value : [];
  if (!isV2(version)) return struct(Tag.KeyValue, [...children, ...added]);
  // 2.x: one Attributes structure inside the Key Value (2.1 section 2.1.4).
  const attributes = [...children, ...added].filter((child) => child.tag === Tag.Attributes).flatMap((child) => (child.type === 'Structure' ? child.value : []));
  return struct(Tag.KeyValue, [...children.filter((child) => child.tag !== Tag.Attributes), struct(Tag.Attributes, attributes)]);
}

function keyValueOf(body: TtlvItem): TtlvItem {
  const block = body.type === 'Structure' ? body.value.find((child) => child.tag === Tag.KeyBlock) : undefined;
  const value = block?.type === 'Structure' ? block.value.find((child) => child.tag === Tag.KeyValue) : undefined;
  if (value === undefined) throw new KmipError('KeyValueNotPresent', 'the Key Block has no Key Value');
  return value;
}

/** `body` with the Key Value replaced by the wrapped bytes and the Key Wrapping Data added at the end of the Key Block. */
function withWrappedKeyValue(body: TtlvItem, wrapped: Buffer, wrappingData: TtlvItem): TtlvItem {
  if (body.type !== 'Structure') return body;
  return {
    ...body,
    value: body.value.map((child) => {
      if (child.tag !== Tag.KeyBlock || child.type !== 'Structure') return child;
      const fields = child.value.map((field) => (field.tag === Tag.KeyValue ? bytes(Tag.KeyValue, wrapped) : field));
      return { ...child, value: [...fields, wrappingData] };
    }),
  };
}
