/**
 * Create Split Key and Join Split Key (KMIP 2.1 sections 6.1.10 and 6.1.27, 1.4 sections
 * 4.38 and 4.39). Create Split Key splits a new key, or one the caller holds, into Split Key
 * objects (XOR, or Shamir sharing over GF(2^8), GF(2^16) or a prime field; lib/crypto/shamir.ts)
 * and registers every part at once; Join Split Key rebuilds the key from at least Split Key
 * Threshold parts as a new Symmetric Key or Secret Data.
 *
 * Links: each part points to the next and previous part (Next / Previous Link), and, when an
 * existing key was split, to it (Parent Link), which points back to every part (Child Link).
 */
import { randomBytes } from 'node:crypto';
import { Enum, Tag } from '../../ttlv/index.js';
import type { TtlvItem } from '../../ttlv/index.js';
import type { AttributeInstance } from '../attributes/index.js';
import { SYMMETRIC_ALGORITHMS, generateSymmetricKey, symmetricKeySize } from '../crypto/index.js';
import { joinSecret, splitSecret } from '../crypto/shamir.js';
import type { Share, SplitMethod, SplitSpec } from '../crypto/shamir.js';
import { KmipError } from '../errors.js';
import * as lifecycle from '../lifecycle/index.js';
import { leafValue } from '../objects/managed.js';
import { newManagedObject } from '../objects/new.js';
import type { ManagedObject } from '../objects/types.js';
import { checkQuantumSafe } from '../objects/quantum-safe.js';
import { keyBlockOf, objectTypeName, rawKeyBytes, symmetricKey } from '../objects/structures.js';
import { bytes, enumeration, int, struct, text } from '../protocol/build.js';
import { requireOnline } from './archive.js';
import { advance, changed, checkUniqueValues, commit, loadObject, serverPolicy, stateOf } from './common.js';
import { requestedAttributes, withTemplates } from './request-attributes.js';
import type { RequestedAttributes } from './request-attributes.js';
import { checkRequestedRng } from './server-rng.js';
import { operation } from './types.js';
import type { OperationContext } from './types.js';

const T = Enum.ObjectType;
const S = Enum.SplitKeyMethod;

const METHODS = new Map<number, SplitMethod>([
  [S.XOR, 'xor'],
  [S.PolynomialSharingGF2_8, 'gf256'],
  [S.PolynomialSharingGF2_16, 'gf65536'],
  [S.PolynomialSharingPrimeField, 'prime'],
]);

/** What a split is, as every part records it. */
interface SplitFields {
  readonly method: number;
  readonly parts: number;
  readonly threshold: number;
  readonly prime: bigint | undefined;
}

interface CreateSplitKeyRequest {
  /** The type of the key split: Symmetric Key, Secret Data, or Split Key (a new Symmetric Key, or whichever the Unique Identifier names). */
  objectType: number;
  id: string | undefined;
  split: SplitFields;
  requested: RequestedAttributes;
}

interface JoinSplitKeyRequest {
  objectType: number;
  ids: string[];
  secretDataType: number | undefined;
  requested: RequestedAttributes;
}

/** The key to split, whether generated here or held already. */
interface Secret {
  readonly material: Buffer;
  readonly algorithm: number | undefined;
  readonly bits: number;
  readonly original: ManagedObject | undefined;
}

export const createSplitKey = operation<CreateSplitKeyRequest>({
  code: Enum.Operation.CreateSplitKey,
  since: '1.2',
  decode: (payload, ctx) => {
    const objectType = payload.enumeration(Tag.ObjectType);
    if (objectType !== T.SymmetricKey && objectType !== T.SecretData && objectType !== T.SplitKey) {
      throw new KmipError('InvalidObjectType', `Create Split Key splits Symmetric Keys and Secret Data, not a ${objectTypeName(objectType)}`);
    }
    return {
      objectType,
      id: payload.optionalText(Tag.UniqueIdentifier),
      split: {
        method: payload.enumeration(Tag.SplitKeyMethod),
        parts: payload.value(Tag.SplitKeyParts, 'Integer'),
        threshold: payload.value(Tag.SplitKeyThreshold, 'Integer'),
        prime: payload.optionalValue(Tag.PrimeFieldSize, 'BigInteger'),
      },
      requested: requestedAttributes(ctx, payload, T.SplitKey),
    };
  },
  handle: async (ctx, request) => {
    const attributes = await withTemplates(ctx, request.requested, T.SplitKey);
    const secret = request.id === undefined ? newSecret(request.objectType === T.SplitKey ? T.SymmetricKey : request.objectType, attributes) : await heldSecret(ctx, request.id, request.objectType);
    try {
      const shares = splitSecret(splitSpec(request.split), secret.material);
      const ids = shares.map(() => ctx.store.newId());
      const parts = shares.map((share, i) => {
        const links = [
          ...(secret.original === undefined ? [] : [link(Enum.LinkType.ParentLink, secret.original.id)]),
          ...(i > 0 ? [link(Enum.LinkType.PreviousLink, ids[i - 1] ?? '')] : []),
          ...(i < ids.length - 1 ? [link(Enum.LinkType.NextLink, ids[i + 1] ?? '')] : []),
        ].map((value): AttributeInstance => ({ name: 'Link', value }));
        return advance(
          newManagedObject({
            id: ids[i] ?? '',
            objectType: T.SplitKey,
            owner: ctx.identity.name,
            body: splitKeyBody(request.split, share, secret),
            clientAttributes: [...attributes, ...links],
            now: ctx.now,
            policy: serverPolicy(ctx, secret.original === undefined ? 'generated' : 'registered'),
          }),
          ctx.now,
        );
      });
      for (const part of parts) {
        checkQuantumSafe(part.attributes);
        await checkUniqueValues(ctx, part);
      }
      const original = secret.original;
      const update =
        original === undefined ? [] : [changed(ctx, { ...original, attributes: [...original.attributes, ...ids.map((id) => ({ name: 'Link', value: link(Enum.LinkType.ChildLink, id) }))] })];
      await commit(ctx, { create: parts, update });
      for (const share of shares) share.bytes.fill(0);
      // "The ID Placeholder value SHALL be set to the Unique Identifier of the split whose Key Part Identifier is 1."
      ctx.idPlaceholder = ids[0];
      ctx.log.info('split key created', { operation: 'CreateSplitKey', ids, of: original?.id, parts: request.split.parts, threshold: request.split.threshold });
      return ids.map((id) => text(Tag.UniqueIdentifier, id));
    } finally {
      secret.material.fill(0);
    }
  },
});

export const joinSplitKey = operation<JoinSplitKeyRequest>({
  code: Enum.Operation.JoinSplitKey,
  since: '1.2',
  decode: (payload, ctx) => {
    const objectType = payload.enumeration(Tag.ObjectType);
    if (objectType !== T.SymmetricKey && objectType !== T.SecretData) {
      throw new KmipError('InvalidObjectType', `Join Split Key forms a Symmetric Key or Secret Data, not a ${objectTypeName(objectType)}`);
    }
    const ids = payload.values(Tag.UniqueIdentifier, 'TextString');
    if (ids.length === 0) throw new KmipError('InvalidField', 'Join Split Key needs the Unique Identifiers of the parts to join');
    if (new Set(ids).size !== ids.length) throw new KmipError('InvalidField', 'the same Unique Identifier is given twice');
    return { objectType, ids, secretDataType: payload.optionalEnumeration(Tag.SecretDataType), requested: requestedAttributes(ctx, payload, objectType) };
  },
  handle: async (ctx, request) => {
    const attributes = await withTemplates(ctx, request.requested, request.objectType);
    const parts: PartView[] = [];
    for (const id of request.ids) parts.push(partView(await usablePart(ctx, id)));
    const [first] = parts;
    if (first === undefined) throw new KmipError('InvalidField', 'Join Split Key needs parts to join');
    for (const part of parts) {
      if (!sameSplit(first, part)) throw new KmipError('InvalidField', `object ${part.id} is not a part of the same split as ${first.id}: its split fields or key differ`);
    }
    const algorithm = request.objectType === T.SymmetricKey ? (first.algorithm ?? integerAttribute(attributes, 'Cryptographic Algorithm')) : undefined;
    if (request.objectType === T.SymmetricKey && algorithm === undefined) throw new KmipError('InvalidField', 'the parts name no Cryptographic Algorithm: give it in the attributes');
    const bits = first.bits;
    if (bits === undefined) throw new KmipError('InvalidField', `object ${first.id} has no Cryptographic Length to join to`);
    const size = request.objectType === T.SymmetricKey && algorithm !== undefined && SYMMETRIC_ALGORITHMS.has(algorithm) ? symmetricKeySize(algorithm, bits) : Math.ceil(bits / 8);
    const secret = joinSecret(splitSpec(first.split), parts.map((p) => p.share), size);
    try {
      const id = ctx.store.newId();
      const body =
        request.objectType === T.SymmetricKey && algorithm !== undefined ? symmetricKey(algorithm, bits, Buffer.from(secret)) : secretData(request.secretDataType, bits, secret);
      const obj = advance(
        newManagedObject({ id, objectType: request.objectType, owner: ctx.identity.name, body, clientAttributes: attributes, now: ctx.now, policy: serverPolicy(ctx, 'registered') }),
        ctx.now,
      );
      checkQuantumSafe(obj.attributes);
      await checkUniqueValues(ctx, obj);
      await commit(ctx, { create: [obj] });
      ctx.idPlaceholder = id;
      ctx.log.info('split key joined', { operation: 'JoinSplitKey', id, parts: request.ids });
      return [text(Tag.UniqueIdentifier, id)];
    } finally {
      secret.fill(0);
      for (const part of parts) part.share.bytes.fill(0);
    }
  },
});

function splitSpec(split: SplitFields): SplitSpec {
  const method = METHODS.get(split.method);
  if (method === undefined) throw new KmipError('InvalidField', `Split Key Method 0x${split.method.toString(16)} is not one this server knows`);
  return { method, parts: split.parts, threshold: split.threshold, prime: split.prime };
}

/** A fresh key from the attributes: Algorithm and Length for a Symmetric Key, Length for Secret Data. */
function newSecret(objectType: number, attributes: readonly AttributeInstance[]): Secret {
  const bits = integerAttribute(attributes, 'Cryptographic Length');
  if (bits === undefined) throw new KmipError('InvalidField', 'Create Split Key needs the Cryptographic Length of the key to make (or the Unique Identifier of one to split)');
  checkRequestedRng(attributes);
  if (objectType === T.SymmetricKey) {
    const algorithm = integerAttribute(attributes, 'Cryptographic Algorithm');
    if (algorithm === undefined) throw new KmipError('InvalidField', 'Create Split Key needs the Cryptographic Algorithm of the key to make');
    return { material: generateSymmetricKey(algorithm, bits), algorithm, bits, original: undefined };
  }
  if (!Number.isInteger(bits) || bits <= 0 || bits % 8 !== 0 || bits > 8192) throw new KmipError('InvalidField', `Cryptographic Length ${bits} is not a whole number of bytes from 8 to 8192 bits`);
  return { material: randomBytes(bits / 8), algorithm: undefined, bits, original: undefined };
}

/**
 * A key the caller holds, to split. Splitting hands its material out in parts: it must be
 * extractable, hold plain material, and be neither destroyed nor compromised.
 */
async function heldSecret(ctx: OperationContext, id: string, objectType: number): Promise<Secret> {
  const obj = await loadObject(ctx, id);
  if (obj.body === undefined) throw new KmipError('ObjectDestroyed', `object ${obj.id} has been destroyed`);
  requireOnline(obj);
  if (obj.objectType !== T.SymmetricKey && obj.objectType !== T.SecretData) throw new KmipError('InvalidObjectType', `object ${obj.id} is a ${objectTypeName(obj.objectType)}: kmipd splits Symmetric Keys and Secret Data`);
  if (objectType !== T.SplitKey && obj.objectType !== objectType) throw new KmipError('InvalidObjectType', `object ${obj.id} is a ${objectTypeName(obj.objectType)}, not the ${objectTypeName(objectType)} the request names`);
  const state = stateOf(obj);
  if (state === lifecycle.State.Compromised) throw new KmipError('WrongKeyLifecycleState', `object ${obj.id} is Compromised: it is not split`);
  if (leafValue(obj, 'Extractable', 'Boolean') === false) throw new KmipError('PermissionDenied', `object ${obj.id} is not Extractable: its material may not leave the server, in parts or whole`);
  const material = rawKeyBytes(obj.body);
  const block = keyBlockOf(obj.body);
  if (material === undefined || block === undefined) throw new KmipError('KeyValueNotPresent', `object ${obj.id} holds no plain key material to split`);
  const bits = block.length ?? leafValue(obj, 'Cryptographic Length', 'Integer') ?? material.length * 8;
  return { material: Buffer.from(material), algorithm: block.algorithm ?? leafValue(obj, 'Cryptographic Algorithm', 'Enumeration'), bits, original: obj };
}

function splitKeyBody(split: SplitFields, share: Share, secret: Secret): TtlvItem {
  return struct(Tag.SplitKey, [
    int(Tag.SplitKeyParts, split.parts),
    int(Tag.KeyPartIdentifier, share.id),
    int(Tag.SplitKeyThreshold, split.threshold),
    enumeration(Tag.SplitKeyMethod, split.method),
    split.prime === undefined ? undefined : { tag: Tag.PrimeFieldSize, type: 'BigInteger', value: split.prime },
    struct(Tag.KeyBlock, [
      enumeration(Tag.KeyFormatType, Enum.KeyFormatType.Raw),
      struct(Tag.KeyValue, [bytes(Tag.KeyMaterial, Buffer.from(share.bytes))]),
      secret.algorithm === undefined ? undefined : enumeration(Tag.CryptographicAlgorithm, secret.algorithm),
      int(Tag.CryptographicLength, secret.bits),
    ]),
  ]);
}

/** A part named for joining: the caller's, online, with material, not compromised. */
async function usablePart(ctx: OperationContext, id: string): Promise<ManagedObject> {
  const obj = await loadObject(ctx, id);
  if (obj.objectType !== T.SplitKey) throw new KmipError('InvalidObjectType', `object ${obj.id} is a ${objectTypeName(obj.objectType)}, not a Split Key`);
  if (obj.body === undefined) throw new KmipError('ObjectDestroyed', `object ${obj.id} has been destroyed`);
  requireOnline(obj);
  if (stateOf(obj) === lifecycle.State.Compromised) throw new KmipError('WrongKeyLifecycleState', `part ${obj.id} is Compromised: it is not joined`);
  return obj;
}

interface PartView {
  readonly id: string;
  readonly split: SplitFields;
  readonly share: Share;
  readonly algorithm: number | undefined;
  readonly bits: number | undefined;
}

function partView(obj: ManagedObject): PartView {
  const body = obj.body;
  if (body?.type !== 'Structure') throw new KmipError('KeyValueNotPresent', `object ${obj.id} holds no split key`);
  const field = (tag: number): TtlvItem | undefined => body.value.find((c) => c.tag === tag);
  const integer = (tag: number): number => {
    const item = field(tag);
    if (item?.type !== 'Integer') throw new KmipError('InvalidField', `split key ${obj.id} lacks its ${tag === Tag.SplitKeyParts ? 'Split Key Parts' : tag === Tag.SplitKeyThreshold ? 'Split Key Threshold' : 'Key Part Identifier'}`);
    return item.value;
  };
  const method = field(Tag.SplitKeyMethod);
  const prime = field(Tag.PrimeFieldSize);
  const material = rawKeyBytes(body);
  const block = keyBlockOf(body);
  if (method?.type !== 'Enumeration') throw new KmipError('InvalidField', `split key ${obj.id} lacks its Split Key Method`);
  if (material === undefined) throw new KmipError('KeyValueNotPresent', `split key ${obj.id} holds no plain key material`);
  return {
    id: obj.id,
    split: { method: method.value, parts: integer(Tag.SplitKeyParts), threshold: integer(Tag.SplitKeyThreshold), prime: prime?.type === 'BigInteger' ? prime.value : undefined },
    share: { id: integer(Tag.KeyPartIdentifier), bytes: Buffer.from(material) },
    algorithm: block?.algorithm ?? leafValue(obj, 'Cryptographic Algorithm', 'Enumeration'),
    bits: block?.length ?? leafValue(obj, 'Cryptographic Length', 'Integer'),
  };
}

function sameSplit(a: PartView, b: PartView): boolean {
  return (
    a.split.method === b.split.method &&
    a.split.parts === b.split.parts &&
    a.split.threshold === b.split.threshold &&
    a.split.prime === b.split.prime &&
    a.algorithm === b.algorithm &&
    a.bits === b.bits &&
    a.share.bytes.length === b.share.bytes.length
  );
}

function secretData(type: number | undefined, bits: number, material: Buffer): TtlvItem {
  return struct(Tag.SecretData, [
    enumeration(Tag.SecretDataType, type ?? Enum.SecretDataType.Seed),
    struct(Tag.KeyBlock, [
      enumeration(Tag.KeyFormatType, Enum.KeyFormatType.Opaque),
      struct(Tag.KeyValue, [bytes(Tag.KeyMaterial, Buffer.from(material))]),
      int(Tag.CryptographicLength, bits),
    ]),
  ]);
}

function link(type: number, id: string): TtlvItem {
  return struct(Tag.Link, [enumeration(Tag.LinkType, type), text(Tag.LinkedObjectIdentifier, id)]);
}

function integerAttribute(attributes: readonly AttributeInstance[], name: string): number | undefined {
  const value = attributes.find((a) => a.name === name)?.value;
  return value?.type === 'Enumeration' || value?.type === 'Integer' ? value.value : undefined;
}
