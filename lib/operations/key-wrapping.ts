/**
 * Keys wrapped for transport (KMIP 2.1 sections 3.3 and 7.18, 1.4 sections 2.1.5 and 2.1.6).
 *
 * Wrapping (Get, Export with a Key Wrapping Specification): the Key Value of the object's
 * Key Block is encrypted, MACed or signed, or encrypted then MACed/signed, under keys the
 * client names, and the Key Block says how in its Key Wrapping Data. Encryption: AES key wrap
 * (RFC 3394, RFC 5649), AES-GCM (IV in IV/Counter/Nonce, tag after the ciphertext), RSA-OAEP
 * and RSA PKCS#1 v1.5 with a Public Key. MAC/sign: HMAC or CMAC with a symmetric key, or a
 * signature with a Private Key, over the Key Value Byte String as it leaves (the ciphertext
 * when encrypting first); the result goes in MAC/Signature.
 *
 * Unwrapping (Register, Import, Get with Key Wrap Type Not Wrapped): the reverse, when the
 * keys the Key Wrapping Data names are held here: verify, then decrypt. RSA PKCS#1 v1.5 is
 * never opened (a padding oracle, see lib/crypto/wrapping.ts).
 *
 * Every key used must belong to the owner of the key being wrapped (a key is never handed
 * to another identity's wrapping key), be in a state that allows the use, and carry Wrap
 * Key (Unwrap Key to unwrap) in its Cryptographic Usage Mask; all of it is checked before
 * any key material is touched.
 */
import { createPublicKey } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { Enum, Tag, decodeTtlv, encodeTtlv } from '../../ttlv/index.js';
import type { KmipVersion, TtlvItem } from '../../ttlv/index.js';
import { attributeReferenceToName } from '../attributes/index.js';
import { familyOfKey, mac, macMatches, rsaEncryptionScheme, sign, signatureScheme, verify } from '../crypto/index.js';
import type { SignatureScheme } from '../crypto/index.js';
import { assertUnwrappable, gcmCipher, openKeyValue, sealKeyValue } from '../crypto/wrapping.js';
import type { WrappingCipher } from '../crypto/wrapping.js';
import { KmipError } from '../errors.js';
import { instances } from '../objects/managed.js';
import type { ManagedObject } from '../objects/types.js';
import { keyBlockOf, objectStructure, objectTypeName } from '../objects/structures.js';
import { bytes, enumeration, struct, text } from '../protocol/build.js';
import { Fields } from '../protocol/fields.js';
import { isV2 } from '../protocol/versions.js';
import { attributesFor } from './get-attributes.js';
import { keyPairHalf, rsaEncryptionParameters, signatureParameters } from './key-pair-use.js';
import { chargeUsage, objectForUse, symmetricKeyOf } from './key-use.js';
import type { ObjectInUse, Usage } from './key-use.js';
import type { OperationContext } from './types.js';

const W = Enum.WrappingMethod;
const M = Enum.BlockCipherMode;
const T = Enum.ObjectType;

/** Encryption Key Information or MAC/Signature Key Information: a key and, optionally, its parameters. */
export interface KeyInformation {
  readonly id: string;
  readonly params: TtlvItem | undefined;
}

/** A Key Wrapping Specification as the request gave it. */
export interface WrappingSpec {
  readonly method: number;
  readonly encryptionKey: KeyInformation | undefined;
  readonly macKey: KeyInformation | undefined;
  /** Attributes to wrap with the key material (1.4 section 2.1.6 "Attribute Name"). */
  readonly attributeNames: readonly string[];
  readonly encoding: number | undefined;
}

export function decodeWrappingSpec(item: TtlvItem, version: KmipVersion): WrappingSpec {
  const spec = Fields.of(item, 'KeyWrappingSpecification');
  return {
    method: spec.enumeration(Tag.WrappingMethod),
    encryptionKey: keyInformation(spec.optionalStruct(Tag.EncryptionKeyInformation)),
    macKey: keyInformation(spec.optionalStruct(Tag.MACSignatureKeyInformation)),
    attributeNames: spec.all(Tag.AttributeName).map((name) => attributeReferenceToName(name, { version })),
    encoding: spec.optionalEnumeration(Tag.EncodingOption),
  };
}

function keyInformation(fields: Fields | undefined): KeyInformation | undefined {
  if (fields === undefined) return undefined;
  const params = fields.optional(Tag.CryptographicParameters);
  if (params !== undefined) Fields.of(params, `${fields.path}/CryptographicParameters`);
  return { id: fields.text(Tag.UniqueIdentifier), params };
}

/** Whether the wrapping encrypts the Key Value (MAC/sign alone leaves it readable). */
export function encrypts(spec: Pick<WrappingSpec, 'method'>): boolean {
  return spec.method === W.Encrypt || spec.method === W.EncryptThenMACSign;
}

/** Which keys a Wrapping Method uses; the methods kmipd does not offer are refused here. */
function keysOf(method: number): { encrypt: boolean; authenticate: boolean } {
  switch (method) {
    case W.Encrypt:
      return { encrypt: true, authenticate: false };
    case W.MACSign:
      return { encrypt: false, authenticate: true };
    case W.EncryptThenMACSign:
      return { encrypt: true, authenticate: true };
    case W.MACSignThenEncrypt:
      throw new KmipError('FeatureNotSupported', 'Wrapping Method MAC/sign then encrypt is not offered: use Encrypt then MAC/sign');
    case W.TR_31:
      throw new KmipError('FeatureNotSupported', 'Wrapping Method TR-31 is not offered: use Encrypt, MAC/sign or Encrypt then MAC/sign');
    default:
      throw new KmipError('FeatureNotSupported', `Wrapping Method 0x${method.toString(16).padStart(8, '0')} is not offered: use Encrypt, MAC/sign or Encrypt then MAC/sign`);
  }
}

/** The Key Information a Wrapping Method needs is there, and nothing it would not use. */
function checkKeyInformation(method: number, encryption: KeyInformation | undefined, authentication: KeyInformation | undefined): { encrypt: boolean; authenticate: boolean } {
  const needs = keysOf(method);
  if (needs.encrypt && encryption === undefined) throw new KmipError('InvalidField', 'this Wrapping Method encrypts: it needs Encryption Key Information');
  if (needs.authenticate && authentication === undefined) throw new KmipError('InvalidField', 'this Wrapping Method MACs or signs: it needs MAC/Signature Key Information');
  if (!needs.encrypt && encryption !== undefined) throw new KmipError('InvalidField', 'Wrapping Method MAC/sign does not encrypt: Encryption Key Information has no use');
  if (!needs.authenticate && authentication !== undefined) throw new KmipError('InvalidField', 'Wrapping Method Encrypt does not MAC or sign: MAC/Signature Key Information has no use (use Encrypt then MAC/sign)');
  if (encryption !== undefined && encryption.id === authentication?.id) {
    // One key for two algorithms voids the security argument of both (SP 800-57 part 1, section 5.2).
    throw new KmipError('InvalidField', `key ${encryption.id} cannot both encrypt and MAC/sign the same Key Value: name two keys`);
  }
  return needs;
}

// ---------------------------------------------------------------------------------------
// Wrapping

/**
 * The object structure `body` with its Key Value wrapped as `spec` asks. The ID Placeholder
 * stays the object being wrapped.
 */
export async function wrapObject(ctx: OperationContext, obj: ManagedObject, body: TtlvItem, spec: WrappingSpec): Promise<TtlvItem> {
  const view = keyBlockOf(body);
  if (view === undefined) throw new KmipError('InvalidObjectType', `object ${obj.id} has no Key Block: only keys and secret data can be returned wrapped`);
  if (view.wrapped) throw new KmipError('FeatureNotSupported', `object ${obj.id} is stored wrapped already; this server does not wrap it again`);
  const needs = checkKeyInformation(spec.method, spec.encryptionKey, spec.macKey);
  const noEncoding = spec.encoding === Enum.EncodingOption.NoEncoding;
  if (noEncoding && spec.attributeNames.length > 0) {
    // 1.4 section 2.1.6: "If No Encoding is specified, then the Key Value SHALL NOT contain any attributes".
    throw new KmipError('EncodingOptionError', 'attributes cannot be wrapped with Encoding Option No Encoding');
  }

  // Every key is checked (owner, state, usage, parameters) before the object's material is read.
  let encryption: EncryptionKey | undefined;
  let authentication: AuthenticationKey | undefined;
  let plain: Buffer | undefined;
  try {
    encryption = needs.encrypt && spec.encryptionKey !== undefined ? await encryptionKeyFor(ctx, obj, spec.encryptionKey, 'wrap') : undefined;
    authentication = needs.authenticate && spec.macKey !== undefined ? await authenticationKeyFor(ctx, obj, spec.macKey, 'wrap') : undefined;
    plain = noEncoding ? rawMaterial(obj, body) : encodeTtlv(keyValueToWrap(ctx.version, obj, body, spec.attributeNames));
    const sealed = encryption === undefined ? { wrapped: Buffer.from(plain), iv: undefined } : sealKeyValue(encryption.cipher, encryption.key, plain);
    const signature = authentication === undefined ? undefined : authenticate(authentication, sealed.wrapped);
    if (encryption !== undefined) await chargeUsage(ctx, encryption.use, plain.length);
    if (authentication !== undefined) await chargeUsage(ctx, authentication.use, sealed.wrapped.length);
    const wrappingData = struct(Tag.KeyWrappingData, [
      enumeration(Tag.WrappingMethod, spec.method),
      encryption === undefined ? undefined : struct(Tag.EncryptionKeyInformation, [text(Tag.UniqueIdentifier, encryption.named), encryption.params]),
      authentication === undefined ? undefined : struct(Tag.MACSignatureKeyInformation, [text(Tag.UniqueIdentifier, authentication.named), authentication.params]),
      signature === undefined ? undefined : bytes(Tag.MACSignature, signature),
      sealed.iv === undefined ? undefined : bytes(Tag.IVCounterNonce, sealed.iv),
      spec.encoding === undefined ? undefined : enumeration(Tag.EncodingOption, spec.encoding),
    ]);
    return withKeyValue(body, bytes(Tag.KeyValue, sealed.wrapped), wrappingData);
  } finally {
    encryption?.wipe();
    authentication?.wipe();
    plain?.fill(0);
  }
}

/** A key checked for its part in wrapping or unwrapping, with its material and parameters. */
interface LoadedKey {
  /** The object whose material is used (an RSA Private Key found through a Public Key's link, when unwrapping). */
  readonly use: ObjectInUse;
  /** The Unique Identifier the Key Information names, which the Key Wrapping Data repeats. */
  readonly named: string;
  /** The Cryptographic Parameters that apply. */
  readonly params: TtlvItem;
  wipe(): void;
}

interface EncryptionKey extends LoadedKey {
  readonly cipher: WrappingCipher;
  readonly key: Buffer | KeyObject;
}

type Authenticator =
  | { readonly kind: 'mac'; readonly algorithm: number; readonly mode: number | undefined; readonly key: Buffer }
  | { readonly kind: 'signature'; readonly scheme: SignatureScheme; readonly key: KeyObject };

interface AuthenticationKey extends LoadedKey {
  readonly authenticator: Authenticator;
}

type Direction = 'wrap' | 'unwrap';

const USAGE: Record<Direction, Usage> = { wrap: 'WrapKey', unwrap: 'UnwrapKey' };

/**
 * The encryption key of a Key Information: an AES key (either way), an RSA Public Key to
 * wrap, and to unwrap the RSA Private Key (named itself, or through the Public Key it was
 * wrapped for).
 */
async function encryptionKeyFor(ctx: OperationContext, owned: Pick<ManagedObject, 'id' | 'owner'>, info: KeyInformation, direction: Direction): Promise<EncryptionKey> {
  const { named, use } = await workingKey(ctx, owned, info.id, direction, direction === 'unwrap');
  const params = parametersFor(named, info.params, direction);
  const fields = Fields.of(params, 'CryptographicParameters');
  if (use.obj.objectType === T.SymmetricKey) {
    const { key, algorithm } = symmetricKeyOf(use);
    try {
      if (algorithm !== Enum.CryptographicAlgorithm.AES) throw new KmipError('FeatureNotSupported', `object ${use.obj.id} is not an AES key: keys are wrapped with AES or RSA keys`);
      return { use, named: info.id, params, cipher: symmetricCipher(use.obj, fields), key, wipe: () => key.fill(0) };
    } catch (error) {
      key.fill(0);
      throw error;
    }
  }
  if (use.obj.objectType === T.PublicKey || use.obj.objectType === T.PrivateKey) {
    const side = direction === 'wrap' ? 'public' : 'private';
    const key = keyPairHalf(use, side, direction === 'wrap' ? 'Encrypting a key for transport' : 'Unwrapping');
    const family = familyOfKey(key);
    if (family !== 'RSA') throw new KmipError('FeatureNotSupported', `object ${use.obj.id} is an ${family} key: keys are wrapped with AES or RSA keys`);
    const cipher: WrappingCipher = { kind: 'rsa', scheme: rsaEncryptionScheme(rsaEncryptionParameters(params, use)) };
    return { use, named: info.id, params, cipher, key, wipe: () => undefined };
  }
  throw new KmipError('InvalidObjectType', `object ${use.obj.id} is a ${objectTypeName(use.obj.objectType)}: keys are wrapped with a Symmetric Key or a Public Key`);
}

/** AES key wrap (RFC 3394 / RFC 5649) or AES-GCM, as the Block Cipher Mode says. */
function symmetricCipher(key: ManagedObject, params: Fields): WrappingCipher {
  const mode = params.optionalEnumeration(Tag.BlockCipherMode);
  if (mode === undefined) throw new KmipError('BadCryptographicParameters', `wrapping key ${key.id}'s Cryptographic Parameters name no Block Cipher Mode`);
  if (mode === M.NISTKeyWrap || mode === M.AESKeyWrapPadding) return { kind: 'aes-key-wrap', mode };
  if (mode === M.GCM || mode === M.AEAD) return gcmCipher(params.optionalInteger(Tag.IVLength), params.optionalInteger(Tag.TagLength));
  throw new KmipError('FeatureNotSupported', `Block Cipher Mode 0x${mode.toString(16).padStart(8, '0')} cannot wrap keys: use NISTKeyWrap, AESKeyWrapPadding or GCM`);
}

/**
 * The MAC/signature key of a Key Information: a symmetric key computes or checks a MAC
 * (HMAC, or CMAC with AES); a Private Key signs, and its public half verifies. A Public Key
 * named to sign stands for its Private Key (1.4 section 2.1.5, table 11).
 */
async function authenticationKeyFor(ctx: OperationContext, owned: Pick<ManagedObject, 'id' | 'owner'>, info: KeyInformation, direction: Direction): Promise<AuthenticationKey> {
  const { named, use } = await workingKey(ctx, owned, info.id, direction, direction === 'wrap');
  const params = parametersFor(named, info.params, direction);
  if (use.obj.objectType === T.SymmetricKey) {
    const { key, algorithm } = symmetricKeyOf(use);
    const mode = Fields.of(params, 'CryptographicParameters').optionalEnumeration(Tag.BlockCipherMode);
    return { use, named: info.id, params, authenticator: { kind: 'mac', algorithm, mode, key }, wipe: () => key.fill(0) };
  }
  if (use.obj.objectType === T.PrivateKey || use.obj.objectType === T.PublicKey) {
    const key =
      use.obj.objectType === T.PrivateKey
        ? direction === 'wrap'
          ? keyPairHalf(use, 'private', 'Signing a wrapped key')
          : createPublicKey(keyPairHalf(use, 'private', 'Verifying a wrapped key'))
        : keyPairHalf(use, 'public', 'Verifying a wrapped key');
    const scheme = signatureScheme(key, signatureParameters(params, use));
    return { use, named: info.id, params, authenticator: { kind: 'signature', scheme, key }, wipe: () => undefined };
  }
  throw new KmipError('InvalidObjectType', `object ${use.obj.id} is a ${objectTypeName(use.obj.objectType)}: a wrapped key is MACed with a symmetric key or signed with a Private Key`);
}

/** The MAC or signature of `data`. */
function authenticate(key: AuthenticationKey, data: Buffer): Buffer {
  const a = key.authenticator;
  return a.kind === 'mac' ? mac(a.algorithm, a.mode, a.key, data) : sign(a.key, a.scheme, data);
}

/** Whether `given` is the MAC or signature of `data` (constant time for MACs). */
function authentic(key: AuthenticationKey, data: Buffer, given: Buffer): boolean {
  const a = key.authenticator;
  return a.kind === 'mac' ? macMatches(mac(a.algorithm, a.mode, a.key, data), given) : verify(a.key, a.scheme, data, given);
}

/**
 * The object `id` for wrapping or unwrapping `owned`: not `owned` itself, the same owner's,
 * and usable for Wrap Key (Unwrap Key) now. Errors name it as the wrapping object (2.x
 * reasons); the ID Placeholder is left as it was.
 */
async function keyObjectFor(ctx: OperationContext, owned: Pick<ManagedObject, 'id' | 'owner'>, id: string, direction: Direction): Promise<ObjectInUse> {
  if (id === owned.id) {
    throw new KmipError('InvalidField', `object ${id} cannot be wrapped with itself: it would only open with the key it hides`);
  }
  const placeholder = ctx.idPlaceholder;
  try {
    const use = await objectForUse(ctx, id, USAGE[direction]);
    if (use.obj.owner !== owned.owner) {
      throw new KmipError('PermissionDenied', `wrapping key ${id} belongs to another identity than object ${owned.id}: a key is only wrapped with its own owner's keys`);
    }
    return use;
  } catch (error) {
    throw asWrappingError(error);
  } finally {
    ctx.idPlaceholder = placeholder;
  }
}

/**
 * The key that does the work for Key Information naming `id`, and the object named (whose
 * Cryptographic Parameters apply). With `followPublic`, a Public Key named only says whose
 * key pair it is (the recipient of an RSA-wrapped key, the signer of a signed one): its
 * Private Key, through the Private Key Link, does the work and is the one checked for the
 * usage; the Public Key itself must only be the same owner's.
 */
async function workingKey(
  ctx: OperationContext,
  owned: Pick<ManagedObject, 'id' | 'owner'>,
  id: string,
  direction: Direction,
  followPublic: boolean,
): Promise<{ named: Pick<ManagedObject, 'id' | 'attributes'>; use: ObjectInUse }> {
  const found = followPublic && id !== owned.id ? await ctx.store.loadMetadata(id) : undefined;
  if (found === undefined || found.objectType !== T.PublicKey || !found.hasBody || found.owner !== owned.owner) {
    const use = await keyObjectFor(ctx, owned, id, direction);
    return { named: use.obj, use };
  }
  const linked = linkedId(found, Enum.LinkType.PrivateKeyLink);
  if (linked === undefined) {
    throw new KmipError('WrappingObjectNotFound', `wrapping key ${id} is a Public Key with no Private Key Link: this server does not hold its private half`);
  }
  return { named: found, use: await keyObjectFor(ctx, owned, linked, direction) };
}

function linkedId(obj: Pick<ManagedObject, 'attributes'>, linkType: number): string | undefined {
  for (const link of instances(obj, 'Link')) {
    const fields = Fields.of(link, 'Link');
    if (fields.optionalEnumeration(Tag.LinkType) === linkType) return fields.optionalText(Tag.LinkedObjectIdentifier);
  }
  return undefined;
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
 * The Cryptographic Parameters of a key's part. Wrapping (2.1 section 7.18): parameters in
 * the request must match one of the key's Cryptographic Parameters; without them the first
 * one applies; a key without any, or with none that matches, is an error. A match agrees on
 * every field the request gives, and the matching instance applies whole. Unwrapping: the parameters the Key Wrapping Data records,
 * else the key's first.
 */
function parametersFor(key: Pick<ManagedObject, 'id' | 'attributes'>, given: TtlvItem | undefined, direction: Direction): TtlvItem {
  const own = instances(key, 'Cryptographic Parameters');
  if (direction === 'unwrap') {
    const chosen = given ?? own[0];
    if (chosen === undefined) {
      throw new KmipError('BadCryptographicParameters', `the Key Wrapping Data gives no Cryptographic Parameters and key ${key.id} has none to say how it wrapped`);
    }
    return chosen;
  }
  const chosen = given === undefined ? own[0] : own.find((candidate) => agrees(given, candidate));
  if (chosen === undefined) {
    throw new KmipError(
      'BadCryptographicParameters',
      own.length === 0
        ? `wrapping key ${key.id} has no Cryptographic Parameters attribute to say how it wraps`
        : `the Cryptographic Parameters given match none of wrapping key ${key.id}'s`,
    );
  }
  // The whole matching instance: the Key Wrapping Data then says everything that was used.
  return chosen;
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

function keyBlockFields(body: TtlvItem): Fields {
  const block = body.type === 'Structure' ? body.value.find((child) => child.tag === Tag.KeyBlock) : undefined;
  return Fields.of(block, 'KeyBlock');
}

function keyValueOf(body: TtlvItem): TtlvItem {
  const value = keyBlockFields(body).optional(Tag.KeyValue);
  if (value === undefined) throw new KmipError('KeyValueNotPresent', 'the Key Block has no Key Value');
  return value;
}

/** `body` with a new Key Value, and the Key Wrapping Data (when given) at the end of the Key Block instead of any earlier one. */
function withKeyValue(body: TtlvItem, keyValue: TtlvItem, wrappingData: TtlvItem | undefined): TtlvItem {
  if (body.type !== 'Structure') return body;
  return {
    ...body,
    value: body.value.map((child) => {
      if (child.tag !== Tag.KeyBlock || child.type !== 'Structure') return child;
      const fields = child.value.filter((field) => field.tag !== Tag.KeyWrappingData).map((field) => (field.tag === Tag.KeyValue ? keyValue : field));
      return { ...child, value: wrappingData === undefined ? fields : [...fields, wrappingData] };
    }),
  };
}

// ---------------------------------------------------------------------------------------
// Unwrapping

/**
 * When to unwrap a wrapped object that arrives: `required` (Import and Get with Key Wrap
 * Type Not Wrapped: 2.1 section 6.1.25, "return an error if the wrapping key is not
 * available"), or `when-held` (Register: when every key the Key Wrapping Data names is a
 * key of the new object's owner on this server; otherwise the object is kept as given,
 * since its wrapping keys are the client's own).
 */
export type UnwrapPolicy = 'required' | 'when-held';

/** What a Key Wrapping Data says. */
interface WrappingData {
  readonly method: number;
  readonly encryptionKey: KeyInformation | undefined;
  readonly macKey: KeyInformation | undefined;
  readonly signature: Buffer | undefined;
  readonly iv: Buffer | undefined;
  readonly encoding: number | undefined;
}

function decodeWrappingData(fields: Fields): WrappingData {
  const signature = fields.optionalValue(Tag.MACSignature, 'ByteString');
  const iv = fields.optionalValue(Tag.IVCounterNonce, 'ByteString');
  return {
    method: fields.enumeration(Tag.WrappingMethod),
    encryptionKey: keyInformation(fields.optionalStruct(Tag.EncryptionKeyInformation)),
    macKey: keyInformation(fields.optionalStruct(Tag.MACSignatureKeyInformation)),
    signature: signature === undefined ? undefined : Buffer.from(signature),
    iv: iv === undefined ? undefined : Buffer.from(iv),
    encoding: fields.optionalEnumeration(Tag.EncodingOption),
  };
}

/**
 * The object structure `body` (of `objectType`, for `owner`) with its Key Value unwrapped:
 * the MAC or signature verified first, then the Key Value decrypted. `body` itself when it
 * is not wrapped, or (`when-held`) when its wrapping keys are not held here. The unwrapped
 * Key Value keeps its Key Material only: attributes wrapped with it were for the transport
 * and were checked with it; the object's attributes are those of the request.
 */
export async function unwrapObject(ctx: OperationContext, owned: Pick<ManagedObject, 'id' | 'owner'>, objectType: number, body: TtlvItem, policy: UnwrapPolicy): Promise<TtlvItem> {
  const view = keyBlockOf(body);
  if (view === undefined || !view.wrapped) return body;
  const block = keyBlockFields(body);
  const dataFields = block.optionalStruct(Tag.KeyWrappingData);
  if (dataFields === undefined) {
    if (policy === 'when-held') return body;
    throw new KmipError('InvalidField', 'the Key Value is a Byte String without Key Wrapping Data: nothing says how to unwrap it');
  }
  const data = decodeWrappingData(dataFields);
  if (policy === 'when-held' && !(await allHeld(ctx, owned.owner, data))) return body;
  const needs = checkKeyInformation(data.method, data.encryptionKey, data.macKey);
  if (needs.authenticate && data.signature === undefined) throw new KmipError('InvalidField', 'this Wrapping Method MACs or signs, but the Key Wrapping Data has no MAC/Signature');

  const encryption = needs.encrypt && data.encryptionKey !== undefined ? await encryptionKeyFor(ctx, owned, data.encryptionKey, 'unwrap') : undefined;
  try {
    // Refused before any other work: see lib/crypto/wrapping.ts.
    if (encryption !== undefined) assertUnwrappable(encryption.cipher);
    const authentication = needs.authenticate && data.macKey !== undefined ? await authenticationKeyFor(ctx, owned, data.macKey, 'unwrap') : undefined;
    const wrapped = wrappedBytes(block);
    try {
      if (authentication !== undefined && data.signature !== undefined && !authentic(authentication, wrapped, data.signature)) {
        throw new KmipError('CryptographicFailure', `the MAC/Signature of the wrapped Key Value does not verify under key ${authentication.named}: wrong key, or the bytes were changed`);
      }
    } finally {
      authentication?.wipe();
    }
    const plain = encryption === undefined ? Buffer.from(wrapped) : openKeyValue(encryption.cipher, encryption.key, wrapped, data.iv);
    try {
      const unwrapped = withKeyValue(body, plainKeyValue(plain, data.encoding), undefined);
      // The opened structure is checked like any registered one.
      objectStructure(Fields.of(struct(Tag.RequestPayload, [unwrapped])), objectType);
      return unwrapped;
    } finally {
      plain.fill(0);
    }
  } finally {
    encryption?.wipe();
  }
}

/** Whether every key the Key Wrapping Data names is an object of `owner` here (without revealing others' objects). */
async function allHeld(ctx: OperationContext, owner: string, data: WrappingData): Promise<boolean> {
  const ids = [data.encryptionKey?.id, data.macKey?.id].filter((id): id is string => id !== undefined);
  if (ids.length === 0) return false;
  for (const id of ids) {
    const found = await ctx.store.loadMetadata(id);
    if (found === undefined || found.owner !== owner) return false;
  }
  return true;
}

function wrappedBytes(block: Fields): Buffer {
  const value = block.optional(Tag.KeyValue);
  if (value?.type !== 'ByteString') throw new KmipError('InvalidField', 'a wrapped Key Value is a Byte String');
  return Buffer.from(value.value);
}

/** The Key Value structure the unwrapped bytes hold: TTLV-encoded, or the Key Material bytes alone (No Encoding). */
function plainKeyValue(plain: Buffer, encoding: number | undefined): TtlvItem {
  if (encoding === Enum.EncodingOption.NoEncoding) return struct(Tag.KeyValue, [bytes(Tag.KeyMaterial, Buffer.from(plain))]);
  let decoded: TtlvItem;
  try {
    // A copy: `plain` is wiped, the structure is kept.
    decoded = decodeTtlv(Buffer.from(plain));
  } catch {
    throw new KmipError('EncodingOptionError', 'the unwrapped Key Value is not TTLV-encoded: if only the Key Material was wrapped, the Key Wrapping Data must say Encoding Option No Encoding');
  }
  if (decoded.tag !== Tag.KeyValue || decoded.type !== 'Structure') {
    throw new KmipError('EncodingOptionError', 'the unwrapped bytes are TTLV but not a Key Value structure');
  }
  const material = Fields.of(decoded, 'KeyValue').required(Tag.KeyMaterial);
  return struct(Tag.KeyValue, [material]);
}

