/**
 * Create Key Pair (KMIP 2.1 section 6.1.9, 1.4 section 4.2): an RSA or EC key pair generated
 * by the server, stored as a Private Key and a Public Key that link to each other (Public
 * Key Link / Private Key Link) and are committed together. The ID Placeholder becomes the
 * Private Key's identifier.
 */
import { Enum, Tag, itemsEqual } from '../../ttlv/index.js';
import type { TtlvItem } from '../../ttlv/index.js';
import type { AttributeInstance } from '../attributes/index.js';
import { DEFAULT_PUBLIC_EXPONENT, curveByCode, curveByLength, defaultFormat, formatsFor, generateKeyPair, keyFamily } from '../crypto/index.js';
import type { KeyFamily, KeyPair, KeyPairSpec } from '../crypto/index.js';
import { KmipError } from '../errors.js';
import { asymmetricKey } from '../objects/asymmetric.js';
import type { KeySide } from '../objects/asymmetric.js';
import { newManagedObject } from '../objects/new.js';
import { checkQuantumSafe } from '../objects/quantum-safe.js';
import type { ManagedObject } from '../objects/types.js';
import { enumeration, struct, text } from '../protocol/build.js';
import { Fields } from '../protocol/fields.js';
import { isV2 } from '../protocol/versions.js';
import { advance, checkProtectionStorage, checkUniqueValues, commit, serverPolicy } from './common.js';
import { overlay, requestedIn, withTemplates } from './request-attributes.js';
import type { RequestedAttributes } from './request-attributes.js';
import { checkRequestedRng } from './server-rng.js';
import { operation } from './types.js';
import type { OperationContext } from './types.js';

const T = Enum.ObjectType;

interface HalfRequest {
  readonly common: RequestedAttributes;
  readonly own: RequestedAttributes;
}

const HOLDERS = {
  v1: { common: Tag.CommonTemplateAttribute, private: Tag.PrivateKeyTemplateAttribute, public: Tag.PublicKeyTemplateAttribute },
  v2: { common: Tag.CommonAttributes, private: Tag.PrivateKeyAttributes, public: Tag.PublicKeyAttributes },
} as const;

/** 2.1 table 191: attributes both keys SHALL share. */
const SHARED = ['Cryptographic Algorithm', 'Cryptographic Length', 'Cryptographic Domain Parameters', 'Cryptographic Parameters'];

export const createKeyPair = operation<PairRequest>({
  code: Enum.Operation.CreateKeyPair,
  since: '1.0',
  decode: (payload, ctx) => decodePairAttributes(ctx, payload),
  handle: async (ctx, request) => {
    const { privateAttributes, publicAttributes } = await pairAttributes(ctx, request);
    checkShared(privateAttributes, publicAttributes);
    const algorithm = leaf(privateAttributes, 'Cryptographic Algorithm');
    if (algorithm === undefined) throw new KmipError('InvalidField', 'Create Key Pair needs a Cryptographic Algorithm attribute');
    const family = keyFamily(algorithm);
    if (family === undefined) throw new KmipError('InvalidField', 'Create Key Pair makes RSA and EC (ECDSA, ECDH) key pairs; give one of those as the Cryptographic Algorithm');
    const privateFormat = requestedFormat(privateAttributes, family, 'private');
    const publicFormat = requestedFormat(publicAttributes, family, 'public');
    const pair = await generateKeyPair(pairSpec(family, privateAttributes));

    const [privateKey, publicKey] = pairObjects(ctx, {
      owner: ctx.identity.name,
      algorithm,
      pair,
      private: { attributes: privateAttributes, format: privateFormat },
      public: { attributes: publicAttributes, format: publicFormat },
    });
    await checkUniqueValues(ctx, privateKey);
    await checkUniqueValues(ctx, publicKey);
    await commit(ctx, { create: [privateKey, publicKey] });
    ctx.idPlaceholder = privateKey.id;
    ctx.log.info('key pair created', { operation: 'CreateKeyPair', privateKey: privateKey.id, publicKey: publicKey.id, algorithm: family });
    return pairResponse(privateKey, publicKey);
  },
});

/** The attributes of a Create Key Pair or Re-key Key Pair request, per key (1.x or 2.x shapes). */
export interface PairRequest {
  readonly private: HalfRequest;
  readonly public: HalfRequest;
}

export function decodePairAttributes(ctx: OperationContext, payload: Fields): PairRequest {
  checkStorageMasks(payload);
  const holders = isV2(ctx.version) ? HOLDERS.v2 : HOLDERS.v1;
  const half = (tag: number, objectType: number): HalfRequest => ({
    common: requestedIn(ctx, payload.optional(holders.common), objectType),
    own: requestedIn(ctx, payload.optional(tag), objectType),
  });
  return { private: half(holders.private, T.PrivateKey), public: half(holders.public, T.PublicKey) };
}

/** Each key's attributes, its own over the common ones, Templates resolved; a Random Number Generator asked for checked. */
export async function pairAttributes(ctx: OperationContext, request: PairRequest): Promise<{ privateAttributes: AttributeInstance[]; publicAttributes: AttributeInstance[] }> {
  const privateAttributes = await attributesOf(ctx, request.private, T.PrivateKey);
  const publicAttributes = await attributesOf(ctx, request.public, T.PublicKey);
  checkRequestedRng(privateAttributes);
  checkRequestedRng(publicAttributes);
  return { privateAttributes, publicAttributes };
}

interface HalfSpec {
  readonly attributes: readonly AttributeInstance[];
  readonly format: number;
}

export interface PairSpec {
  readonly owner: string;
  readonly algorithm: number;
  readonly pair: KeyPair;
  readonly private: HalfSpec;
  readonly public: HalfSpec;
}

/**
 * The two new objects of a generated pair, each with a Link to the other (2.1 section
 * 6.1.9: Public Key Link on the Private Key, Private Key Link on the Public Key), checked
 * for Quantum Safe and for a Name they would share.
 */
export function pairObjects(ctx: OperationContext, spec: PairSpec): [ManagedObject, ManagedObject] {
  const privateId = ctx.store.newId();
  const publicId = ctx.store.newId();
  const build = (id: string, side: KeySide, half: HalfSpec, linkType: number, linked: string): ManagedObject =>
    advance(
      newManagedObject({
        id,
        objectType: side === 'private' ? T.PrivateKey : T.PublicKey,
        owner: spec.owner,
        body: asymmetricKey(side, spec.algorithm, side === 'private' ? spec.pair.privateKey : spec.pair.publicKey, half.format),
        clientAttributes: [...half.attributes, { name: 'Link', value: link(linkType, linked) }],
        now: ctx.now,
        policy: serverPolicy(ctx, 'generated'),
      }),
      ctx.now,
    );
  const privateKey = build(privateId, 'private', spec.private, Enum.LinkType.PublicKeyLink, publicId);
  const publicKey = build(publicId, 'public', spec.public, Enum.LinkType.PrivateKeyLink, privateId);
  checkQuantumSafe(privateKey.attributes);
  checkQuantumSafe(publicKey.attributes);
  checkDistinctNames(privateKey, publicKey);
  return [privateKey, publicKey];
}

export function pairResponse(privateKey: ManagedObject, publicKey: ManagedObject): TtlvItem[] {
  return [text(Tag.PrivateKeyUniqueIdentifier, privateKey.id), text(Tag.PublicKeyUniqueIdentifier, publicKey.id)];
}

/**
 * The attributes of one key: its own over the common ones (1.4 section 4.2: each holder's
 * explicit attributes over its Templates', the key's over the common), multi-valued ones
 * the union of all.
 */
async function attributesOf(ctx: OperationContext, half: HalfRequest, objectType: number): Promise<AttributeInstance[]> {
  const common = await withTemplates(ctx, half.common, objectType);
  const own = await withTemplates(ctx, half.own, objectType);
  return overlay(common, own, objectType);
}

function checkShared(privateAttributes: readonly AttributeInstance[], publicAttributes: readonly AttributeInstance[]): void {
  for (const name of SHARED) {
    const a = privateAttributes.filter((i) => i.name === name);
    const b = publicAttributes.filter((i) => i.name === name);
    const same = a.length === b.length && a.every((instance) => b.some((other) => itemsEqual(instance.value, other.value)));
    if (!same) throw new KmipError('InvalidField', `${name} must be the same for the Private Key and the Public Key (2.1 table 191): give it in the common attributes`);
  }
}

/**
 * 2.1 section 6.1.9: the Common, Private and Public Protection Storage Masks, each a list of
 * alternatives the server must be able to meet for the key(s) it applies to.
 */
function checkStorageMasks(payload: Fields): void {
  const check = (tag: number, reason: 'PrivateProtectionStorageUnavailable' | 'PublicProtectionStorageUnavailable' | undefined): void => {
    try {
      checkProtectionStorage(payload, tag);
    } catch (error) {
      if (reason !== undefined && error instanceof KmipError && error.reason === 'ProtectionStorageUnavailable') throw new KmipError(reason, error.message);
      throw error;
    }
  };
  check(Tag.CommonProtectionStorageMasks, undefined);
  check(Tag.PrivateProtectionStorageMasks, 'PrivateProtectionStorageUnavailable');
  check(Tag.PublicProtectionStorageMasks, 'PublicProtectionStorageUnavailable');
}

/** RSA: Cryptographic Length bits, public exponent 65537. EC: the Recommended Curve of the domain parameters, or the NIST curve of the length. */
function pairSpec(family: KeyFamily, attributes: readonly AttributeInstance[]): KeyPairSpec {
  const length = leaf(attributes, 'Cryptographic Length');
  if (family === 'RSA') {
    if (length === undefined) throw new KmipError('InvalidField', 'Create Key Pair of RSA keys needs a Cryptographic Length attribute (the modulus size in bits)');
    return { family, bits: length, publicExponent: DEFAULT_PUBLIC_EXPONENT };
  }
  const domain = attributes.find((a) => a.name === 'Cryptographic Domain Parameters')?.value;
  const curveCode = domain === undefined ? undefined : Fields.of(domain, 'CryptographicDomainParameters').optionalEnumeration(Tag.RecommendedCurve);
  if (curveCode === undefined && length === undefined) {
    throw new KmipError('InvalidField', 'Create Key Pair of EC keys needs a Recommended Curve (Cryptographic Domain Parameters) or a Cryptographic Length');
  }
  const curve = curveCode !== undefined ? curveByCode(curveCode) : curveByLength(length ?? 0);
  if (length !== undefined && length !== curve.bits) {
    throw new KmipError('InvalidField', `Cryptographic Length ${length} does not match curve ${curve.jwk} (${curve.bits} bits)`);
  }
  return { family, curve };
}

/** A Key Format Type the client asked for (2.x attribute), or the default of 2.1 table 81. */
export function requestedFormat(attributes: readonly AttributeInstance[], family: KeyFamily, side: KeySide): number {
  const format = leaf(attributes, 'Key Format Type');
  if (format === undefined) return defaultFormat(family, side);
  if (!formatsFor(family, side).includes(format)) {
    throw new KmipError('KeyFormatTypeNotSupported', `an ${family} ${side} key cannot be kept in Key Format Type 0x${format.toString(16).padStart(8, '0')}`);
  }
  return format;
}

/** The two keys may not share a Name: names are unique on the server (2.1 section 4.32). */
function checkDistinctNames(a: ManagedObject, b: ManagedObject): void {
  const names = (obj: ManagedObject): TtlvItem[] => obj.attributes.filter((i) => i.name === 'Name').map((i) => i.value);
  const shared = names(a).find((name) => names(b).some((other) => itemsEqual(name, other)));
  if (shared !== undefined) {
    throw new KmipError('NonUniqueNameAttribute', 'the Private Key and the Public Key would have the same Name; names are unique on this server: give each key its own');
  }
}

export function link(type: number, id: string): TtlvItem {
  return struct(Tag.Link, [enumeration(Tag.LinkType, type), text(Tag.LinkedObjectIdentifier, id)]);
}

function leaf(attributes: readonly AttributeInstance[], name: string): number | undefined {
  const value = attributes.find((a) => a.name === name)?.value;
  return value?.type === 'Enumeration' || value?.type === 'Integer' ? value.value : undefined;
}
