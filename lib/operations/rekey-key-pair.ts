/**
 * Re-key Key Pair (KMIP 2.1 section 6.1.47, 1.4 section 4.5): a replacement for an existing
 * key pair, generated fresh with the same algorithm and size, taking over the attributes
 * and names of the old keys (2.1 table 309). Each old key links to its replacement, each new
 * key to the key it replaces and to its new partner; all four changes commit together. The
 * server's automatic rotation of key pairs (rotation.ts) comes through replaceKeyPair too.
 */
import { Enum, Tag } from '../../ttlv/index.js';
import type { TtlvItem } from '../../ttlv/index.js';
import type { AttributeInstance } from '../attributes/index.js';
import { defaultFormat, formatsFor, generateKeyPair, pairSpecOf } from '../crypto/index.js';
import type { KeyFamily } from '../crypto/index.js';
import { KmipError } from '../errors.js';
import { keyObjectOf } from '../objects/asymmetric.js';
import type { KeySide } from '../objects/asymmetric.js';
import { bool } from '../protocol/build.js';
import { instances, leafValue, withAttribute } from '../objects/managed.js';
import { keyBlockOf } from '../objects/structures.js';
import type { ManagedObject } from '../objects/types.js';
import { advance, changed, checkUniqueValues, commit, loadObject } from './common.js';
import { decodePairAttributes, link, pairAttributes, pairObjects, pairResponse, requestedFormat } from './create-key-pair.js';
import type { PairRequest } from './create-key-pair.js';
import { NOT_COPIED, ROTATION_STATE, deactivatedAt, replacementDates, rotationAttributes, usageLimits } from './rekey.js';
import type { Replacement } from './rekey.js';
import { operation } from './types.js';
import type { OperationContext } from './types.js';

interface ReKeyKeyPairRequest extends PairRequest {
  readonly id: string | undefined;
  readonly offset: number | undefined;
}

const T = Enum.ObjectType;

export const reKeyKeyPair = operation<ReKeyKeyPairRequest>({
  code: Enum.Operation.ReKeyKeyPair,
  since: '1.1',
  decode: (payload, ctx) => ({
    ...decodePairAttributes(ctx, payload),
    id: payload.optionalText(Tag.PrivateKeyUniqueIdentifier),
    offset: payload.optionalValue(Tag.Offset, 'Interval'),
  }),
  handle: async (ctx, request) => {
    const oldPrivate = await existingKey(ctx, request.id, T.PrivateKey);
    const { privateAttributes, publicAttributes } = await pairAttributes(ctx, request);
    const { privateKey, publicKey } = await replaceKeyPair(ctx, oldPrivate, { privateAttributes, publicAttributes, offset: request.offset });
    ctx.idPlaceholder = privateKey.id;
    ctx.log.info('key pair re-keyed', { operation: 'ReKeyKeyPair', privateKey: privateKey.id, publicKey: publicKey.id, replaced: oldPrivate.id });
    return pairResponse(privateKey, publicKey);
  },
});

/** What a pair's replacement is made with: each key's requested attributes, the Offset, and what becomes of the old keys. */
export interface PairReplacement extends Pick<Replacement, 'offset' | 'retireOld'> {
  readonly privateAttributes: readonly AttributeInstance[];
  readonly publicAttributes: readonly AttributeInstance[];
}

/**
 * The Re-key Key Pair of `oldPrivate` (loaded, dates applied) and its Public Key: a fresh pair
 * committed together with both old keys' changes. For keys in a rotation set, as Re-key does
 * (rekey.ts), the new keys are the next Rotate Generation and Rotate Latest.
 */
export async function replaceKeyPair(ctx: OperationContext, oldPrivate: ManagedObject, replacement: PairReplacement): Promise<{ privateKey: ManagedObject; publicKey: ManagedObject }> {
  const livePrivate = liveKey(oldPrivate, T.PrivateKey);
  const oldPublic = await existingKey(ctx, partnerOf(livePrivate), T.PublicKey);
  const algorithm = keyBlockOf(livePrivate.body)?.algorithm;
  if (algorithm === undefined) throw new KmipError('InvalidField', `private key ${livePrivate.id} has no Cryptographic Algorithm in its Key Block`);
  const spec = pairSpecOf(keyObjectOf('private', livePrivate.body));
  const pair = await generateKeyPair(spec);

  const replacementAttributes = (old: ManagedObject, requested: readonly AttributeInstance[]): AttributeInstance[] => {
    const rotation = rotationAttributes(old, ctx.now);
    const overridden = new Set(requested.map((a) => a.name));
    const inherited = old.attributes.filter((a) => !NOT_COPIED.has(a.name) && !overridden.has(a.name) && (rotation === undefined || !ROTATION_STATE.has(a.name)));
    const replaced = { name: 'Link', value: link(Enum.LinkType.ReplacedObjectLink, old.id) };
    return [...inherited, ...requested, ...replacementDates(old, replacement.offset, ctx.now), ...usageLimits(old), ...(rotation?.replacement ?? []), replaced];
  };
  const [newPrivate, newPublic] = pairObjects(ctx, {
    owner: livePrivate.owner,
    algorithm,
    pair,
    private: { attributes: replacementAttributes(livePrivate, replacement.privateAttributes), format: keptFormat(livePrivate, replacement.privateAttributes, spec.family, 'private') },
    public: { attributes: replacementAttributes(oldPublic, replacement.publicAttributes), format: keptFormat(oldPublic, replacement.publicAttributes, spec.family, 'public') },
  });
  // The replacements take over the names; each old key points to its replacement, leaves its
  // rotation set's latest place, and (automatic rotation's policy) deactivates with it.
  const retire = (old: ManagedObject, fresh: ManagedObject): ManagedObject => {
    let retiring: ManagedObject = withAttribute({ ...old, attributes: [...old.attributes, { name: 'Link', value: link(Enum.LinkType.ReplacementObjectLink, fresh.id) }] }, 'Name');
    if (rotationAttributes(old, ctx.now) !== undefined) retiring = withAttribute(retiring, 'Rotate Latest', bool(Tag.RotateLatest, false));
    if (replacement.retireOld === 'deactivate') {
      const activation = leafValue(fresh, 'Activation Date', 'DateTime') ?? ctx.now;
      retiring = advance(deactivatedAt(retiring, activation > ctx.now ? activation : ctx.now), ctx.now);
    }
    return changed(ctx, retiring);
  };
  const released = [livePrivate.id, oldPublic.id];
  await checkUniqueValues(ctx, newPrivate, released);
  await checkUniqueValues(ctx, newPublic, released);
  await commit(ctx, { create: [newPrivate, newPublic], update: [retire(livePrivate, newPrivate), retire(oldPublic, newPublic)] });
  return { privateKey: newPrivate, publicKey: newPublic };
}

/** A stored key whose material is still there. */
type LiveKey = ManagedObject & { readonly body: TtlvItem };

async function existingKey(ctx: OperationContext, id: string | undefined, objectType: number): Promise<LiveKey> {
  return liveKey(await loadObject(ctx, id), objectType);
}

function liveKey(obj: ManagedObject, objectType: number): LiveKey {
  if (obj.objectType !== objectType) {
    throw new KmipError('InvalidObjectType', `Re-key Key Pair takes the Private Key of a pair; object ${obj.id} is not ${objectType === T.PrivateKey ? 'a Private Key' : 'the Public Key of one'}`);
  }
  const body = obj.body;
  if (body === undefined) throw new KmipError('KeyValueNotPresent', `object ${obj.id} has been destroyed: its key pair cannot be re-keyed`);
  return { ...obj, body };
}

/** The Public Key a Private Key links to (2.1 section 6.1.9). */
function partnerOf(privateKey: ManagedObject): string {
  for (const value of instances(privateKey, 'Link')) {
    if (value.type !== 'Structure') continue;
    const type = value.value.find((f) => f.tag === Tag.LinkType);
    const target = value.value.find((f) => f.tag === Tag.LinkedObjectIdentifier);
    if (type?.type === 'Enumeration' && type.value === Enum.LinkType.PublicKeyLink && target?.type === 'TextString') return target.value;
  }
  throw new KmipError('ItemNotFound', `private key ${privateKey.id} has no Public Key Link: there is no pair to re-key`);
}

/** The old key's Key Format Type, unless the request asks for another (2.x Key Format Type attribute). */
function keptFormat(old: LiveKey, requested: readonly AttributeInstance[], family: KeyFamily, side: KeySide): number {
  if (requested.some((a) => a.name === 'Key Format Type')) return requestedFormat(requested, family, side);
  const stored = keyBlockOf(old.body)?.formatType;
  return stored !== undefined && formatsFor(family, side).includes(stored) ? stored : defaultFormat(family, side);
}
