/**
 * Public and Private Key structures (KMIP 2.1 sections 2.2.3 and 2.2.4): their Key Block
 * as a node KeyObject and back, in any Key Format Type the key's family allows (2.1
 * section 3: PKCS#1 / PKCS#8 / X.509 / EC Private Key bytes, Transparent RSA and EC keys).
 */
import type { KeyObject } from 'node:crypto';
import { Enum, Tag } from '../../ttlv/index.js';
import type { KmipVersion, TtlvItem } from '../../ttlv/index.js';
import { exportKey, importPrivateKey, importPublicKey, keyBits } from '../crypto/index.js';
import type { EncodedKey } from '../crypto/index.js';
import { KmipError } from '../errors.js';
import { bytes, enumeration, int, struct } from '../protocol/build.js';
import { Fields } from '../protocol/fields.js';
import { atLeast } from '../protocol/versions.js';
import { keyBlockOf, replaceKeyMaterial } from './structures.js';

const T = Enum.ObjectType;
const F = Enum.KeyFormatType;

export type KeySide = 'private' | 'public';

/** Which half of a key pair an object is; undefined for other objects. */
export function sideOf(objectType: number): KeySide | undefined {
  if (objectType === T.PrivateKey) return 'private';
  if (objectType === T.PublicKey) return 'public';
  return undefined;
}

/** Which half of a key pair an object structure holds; undefined for other structures. */
export function sideOfStructure(body: TtlvItem): KeySide | undefined {
  if (body.tag === Tag.PrivateKey) return 'private';
  if (body.tag === Tag.PublicKey) return 'public';
  return undefined;
}

/**
 * KMIP 1.0-1.2 know EC keys only as Transparent ECDSA / ECDH / ECMQV keys (1.3 added
 * Transparent EC): the format to serve a stored key in to a client of `version`, when it
 * differs from the stored one.
 */
export function formatForVersion(body: TtlvItem, version: KmipVersion): number | undefined {
  const view = keyBlockOf(body);
  if (view === undefined || atLeast(version, '1.3')) return undefined;
  const ecdh = view.algorithm === Enum.CryptographicAlgorithm.ECDH;
  const ecmqv = view.algorithm === Enum.CryptographicAlgorithm.ECMQV;
  if (view.formatType === F.TransparentECPrivateKey) return ecdh ? F.TransparentECDHPrivateKey : ecmqv ? F.TransparentECMQVPrivateKey : F.TransparentECDSAPrivateKey;
  if (view.formatType === F.TransparentECPublicKey) return ecdh ? F.TransparentECDHPublicKey : ecmqv ? F.TransparentECMQVPublicKey : F.TransparentECDSAPublicKey;
  return undefined;
}

/** A Private Key or Public Key structure holding `key` in `format`. */
export function asymmetricKey(side: KeySide, algorithm: number, key: KeyObject, format: number): TtlvItem {
  return struct(side === 'private' ? Tag.PrivateKey : Tag.PublicKey, [
    struct(Tag.KeyBlock, [
      enumeration(Tag.KeyFormatType, format),
      struct(Tag.KeyValue, [keyMaterialItem(exportKey(key, format))]),
      enumeration(Tag.CryptographicAlgorithm, algorithm),
      int(Tag.CryptographicLength, keyBits(key)),
    ]),
  ]);
}

/** The key a Private Key or Public Key structure holds, for computing with it. */
export function keyObjectOf(side: KeySide, body: TtlvItem): KeyObject {
  const view = keyBlockOf(body);
  if (view === undefined) throw new KmipError('InvalidObjectType', 'the object holds no Key Block');
  if (view.wrapped || view.material === undefined) throw new KmipError('KeyValueNotPresent', 'the key material is wrapped or absent: it cannot be used here');
  const encoded = encodedKeyOf(view.material);
  return side === 'private' ? importPrivateKey(view.formatType, encoded, view.algorithm) : importPublicKey(view.formatType, encoded, view.algorithm);
}

/** The structure with its Key Material re-encoded in `format`. */
export function inKeyFormat(side: KeySide, body: TtlvItem, format: number): TtlvItem {
  const key = keyObjectOf(side, body);
  return replaceKeyMaterial(body, format, keyMaterialItem(exportKey(key, format)));
}

const big = (tag: number, value: bigint): TtlvItem => ({ tag, type: 'BigInteger', value });

/** Key Material for an encoded key: a Byte String, or the transparent structure (2.1 sections 3.7, 3.8, 3.11, 3.12). */
export function keyMaterialItem(encoded: EncodedKey): TtlvItem {
  if (Buffer.isBuffer(encoded)) return bytes(Tag.KeyMaterial, encoded);
  switch (encoded.kind) {
    case 'rsa-public':
      return struct(Tag.KeyMaterial, [big(Tag.Modulus, encoded.modulus), big(Tag.PublicExponent, encoded.publicExponent)]);
    case 'rsa-private': {
      const optional = (tag: number, value: bigint | undefined): TtlvItem | undefined => (value === undefined ? undefined : big(tag, value));
      return struct(Tag.KeyMaterial, [
        big(Tag.Modulus, encoded.modulus),
        optional(Tag.PrivateExponent, encoded.privateExponent),
        optional(Tag.PublicExponent, encoded.publicExponent),
        optional(Tag.P, encoded.p),
        optional(Tag.Q, encoded.q),
        optional(Tag.PrimeExponentP, encoded.primeExponentP),
        optional(Tag.PrimeExponentQ, encoded.primeExponentQ),
        optional(Tag.CRTCoefficient, encoded.crtCoefficient),
      ]);
    }
    case 'ec-private':
      return struct(Tag.KeyMaterial, [enumeration(Tag.RecommendedCurve, encoded.curve), big(Tag.D, encoded.d)]);
    case 'ec-public':
      return struct(Tag.KeyMaterial, [enumeration(Tag.RecommendedCurve, encoded.curve), bytes(Tag.QString, encoded.q)]);
  }
}

/** The encoded key of a Key Material item: its bytes, or the parts of a transparent structure. */
export function encodedKeyOf(material: TtlvItem): EncodedKey {
  if (material.type === 'ByteString') return Buffer.from(material.value);
  const fields = Fields.of(material, 'KeyMaterial');
  const optionalBig = (tag: number): bigint | undefined => fields.optionalValue(tag, 'BigInteger');
  if (fields.has(Tag.RecommendedCurve)) {
    const curve = fields.enumeration(Tag.RecommendedCurve);
    if (fields.has(Tag.D)) return { kind: 'ec-private', curve, d: fields.value(Tag.D, 'BigInteger') };
    return { kind: 'ec-public', curve, q: Buffer.from(fields.value(Tag.QString, 'ByteString')) };
  }
  const modulus = fields.value(Tag.Modulus, 'BigInteger');
  const isPrivate = [Tag.PrivateExponent, Tag.P, Tag.Q, Tag.PrimeExponentP, Tag.PrimeExponentQ, Tag.CRTCoefficient].some((tag) => fields.has(tag));
  if (!isPrivate) return { kind: 'rsa-public', modulus, publicExponent: fields.value(Tag.PublicExponent, 'BigInteger') };
  const parts = {
    publicExponent: optionalBig(Tag.PublicExponent),
    privateExponent: optionalBig(Tag.PrivateExponent),
    p: optionalBig(Tag.P),
    q: optionalBig(Tag.Q),
    primeExponentP: optionalBig(Tag.PrimeExponentP),
    primeExponentQ: optionalBig(Tag.PrimeExponentQ),
    crtCoefficient: optionalBig(Tag.CRTCoefficient),
  };
  // exactOptionalPropertyTypes: leave absent parts out rather than set them to undefined.
  const present = Object.fromEntries(Object.entries(parts).filter(([, value]) => value !== undefined)) as Partial<Record<keyof typeof parts, bigint>>;
  return { kind: 'rsa-private', modulus, ...present };
}
