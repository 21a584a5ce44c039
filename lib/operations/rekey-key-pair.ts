/**
 * Re-key Key Pair (KMIP 2.1 section 6.1.47, 1.4 section 4.5): a replacement for an existing
 * key pair, generated fresh with the same algorithm and size, taking over the attributes
 * and names of the old keys (2.1 table 309). Each old key links to its replacement, each new
 * key to the key it replaces and to its new partner; all four changes commit together.
 */
import { Enum, Tag } from '../../ttlv/index.js';
import type { TtlvItem } from '../../ttlv/index.js';
import type { AttributeInstance } from '../attributes/index.js';
import { defaultFormat, formatsFor, generateKeyPair, pairSpecOf } from '../crypto/index.js';
import type { KeyFamily } from '../crypto/index.js';
import { KmipError } from '../errors.js';
import { keyObjectOf } from '../objects/asymmetric.js';
import type { KeySide } from '../objects/asymmetric.js';
import { instances, withAttribute } from '../objects/managed.js';
import { keyBlockOf } from '../objects/structures.js';
import type { ManagedObject } from '../objects/types.js';
import { changed, checkUniqueValues, commit, loadObject } from './common.js';
import { decodePairAttributes, link, pairAttributes, pairObjects, pairResponse, requestedFormat } from './create-key-pair.js';
import type { PairRequest } from './create-key-pair.js';
import { NOT_COPIED, replacementDates, usageLimits } from './rekey.js';
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
    const oldPublic = await existingKey(ctx, partnerOf(oldPrivate), T.PublicKey);
    const { privateAttributes, publicAttributes } = await pairAttributes(ctx, request);
    const algorithm = keyBlockOf(oldPrivate.body)?.algorithm;
    if (algorithm === undefined) throw new KmipError('InvalidField', `private key ${oldPrivate.id} has no Cryptographic Algorithm in its Key Block`);
    const spec = pairSpecOf(keyObjectOf('private', oldPrivate.body));
    const pair = await generateKeyPair(spec);

    const replacementAttributes = (old: ManagedObject, requested: readonly AttributeInstance[]): AttributeInstance[] => {
      const overridden = new Set(requested.map((a) => a.name));
      const inherited = old.attributes.filter((a) => !NOT_COPIED.has(a.name) && !overridden.has(a.name));
      const replaced = { name: 'Link', value: link(Enum.LinkType.ReplacedObjectLink, old.id) };
      return [...inherited, ...requested, ...replacementDates(old, request.offset, ctx.now), ...usageLimits(old), replaced];
    };
    const [newPrivate, newPublic] = pairObjects(ctx, {
      owner: oldPrivate.owner,
      algorithm,
      pair,
      private: { attributes: replacementAttributes(oldPrivate, privateAttributes), format: keptFormat(oldPrivate, privateAttributes, spec.family, 'private') },
      public: { attributes: replacementAttributes(oldPublic, publicAttributes), format: keptFormat(oldPublic, publicAttributes, spec.family, 'public') },
    });
    // The replacements take over the names; each old key points to its replacement.
    const retire = (old: ManagedObject, replacement: ManagedObject): ManagedObject =>
      changed(ctx, withAttribute({ ...old, attributes: [...old.attributes, { name: 'Link', value: link(Enum.LinkType.ReplacementObjectLink, replacement.id) }] }, 'Name'));
    const released = [oldPrivate.id, oldPublic.id];
    await checkUniqueValues(ctx, newPrivate, released);
    await checkUniqueValues(ctx, newPublic, released);
    await commit(ctx, { create: [newPrivate, newPublic], update: [retire(oldPrivate, newPrivate), retire(oldPublic, newPublic)] });
    ctx.idPlaceholder = newPrivate.id;
    ctx.log.info('key pair re-keyed', { operation: 'ReKeyKeyPair', privateKey: newPrivate.id, publicKey: newPublic.id, replaced: oldPrivate.id });
    return pairResponse(newPrivate, newPublic);
  },
});

/** A stored key whose material is still there. */
type LiveKey = ManagedObject & { readonly body: TtlvItem };

async function existingKey(ctx: OperationContext, id: string | undefined, objectType: number): Promise<LiveKey> {
  const obj = await loadObject(ctx, id);
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
