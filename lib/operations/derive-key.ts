/**
 * Derive Key (KMIP 2.1 section 6.1.14, 1.4 section 4.6): a new Symmetric Key or Secret Data
 * computed from objects the server holds. Every base object must be the caller's, in a
 * state that allows protecting new data, and carry Derive Key in its Cryptographic Usage
 * Mask. The first Unique Identifier names the derivation key (or password, or input key
 * material); a second one, a Secret Data object, may give the Derivation Data instead of the
 * request (section 7.12). The new object links to its bases (Derivation Base Object), each
 * base to it (Derived Key), committed together with what the derivation takes out of each
 * base's Usage Limits (one use, or under the Byte unit the bytes derived).
 */
import { Enum, Tag } from '../../ttlv/index.js';
import type { TtlvItem } from '../../ttlv/index.js';
import type { AttributeInstance } from '../attributes/index.js';
import { symmetricKeySize } from '../crypto/index.js';
import { deriveBytes } from '../crypto/derive.js';
import type { DerivationCryptoParameters } from '../crypto/derive.js';
import { KmipError } from '../errors.js';
import { leafValue } from '../objects/managed.js';
import { newManagedObject } from '../objects/new.js';
import type { ManagedObject } from '../objects/types.js';
import { checkQuantumSafe } from '../objects/quantum-safe.js';
import { keyBlockOf, objectTypeName, rawKeyBytes, symmetricKey } from '../objects/structures.js';
import { bytes, enumeration, int, struct, text } from '../protocol/build.js';
import { Fields } from '../protocol/fields.js';
import { advance, changed, checkUniqueValues, commit, serverPolicy } from './common.js';
import { objectForUse, usageCharged } from './key-use.js';
import type { ObjectInUse } from './key-use.js';
import { requestedAttributes, withTemplates } from './request-attributes.js';
import type { RequestedAttributes } from './request-attributes.js';
import { operation } from './types.js';
import type { OperationContext } from './types.js';

const T = Enum.ObjectType;

interface DeriveKeyRequest {
  objectType: number;
  ids: string[];
  method: number;
  params: DerivationParameters;
  requested: RequestedAttributes;
}

interface DerivationParameters {
  crypto: DerivationCryptoParameters;
  iv: Buffer | undefined;
  data: Buffer[];
  salt: Buffer | undefined;
  iterations: number | undefined;
}

/** A base key and, at most, one Secret Data object giving the Derivation Data. */
const MAX_BASE_OBJECTS = 2;

export const deriveKey = operation<DeriveKeyRequest>({
  code: Enum.Operation.DeriveKey,
  since: '1.0',
  decode: (payload, ctx) => {
    const objectType = payload.enumeration(Tag.ObjectType);
    if (objectType !== T.SymmetricKey && objectType !== T.SecretData) {
      throw new KmipError('InvalidObjectType', `Derive Key makes a Symmetric Key or Secret Data, not a ${objectTypeName(objectType)}`);
    }
    // "The current value of the ID Placeholder SHALL NOT be used in place of a Unique Identifier in this operation."
    const ids = payload.values(Tag.UniqueIdentifier, 'TextString');
    if (ids.length === 0) throw new KmipError('InvalidField', 'Derive Key needs the Unique Identifier of the object to derive from');
    if (ids.length > MAX_BASE_OBJECTS) throw new KmipError('InvalidField', `Derive Key takes a base object and at most one Secret Data object giving the Derivation Data, not ${ids.length} objects`);
    if (new Set(ids).size !== ids.length) throw new KmipError('InvalidField', 'the same Unique Identifier is given twice');
    return {
      objectType,
      ids,
      method: payload.enumeration(Tag.DerivationMethod),
      params: derivationParameters(payload.struct(Tag.DerivationParameters)),
      requested: requestedAttributes(ctx, payload, objectType),
    };
  },
  handle: async (ctx, request) => {
    const attributes = await withTemplates(ctx, request.requested, request.objectType);
    const bits = integerAttribute(attributes, 'Cryptographic Length');
    if (bits === undefined) throw new KmipError('InvalidField', 'Derive Key needs the Cryptographic Length of the new object');
    const algorithm = integerAttribute(attributes, 'Cryptographic Algorithm');
    if (request.objectType === T.SymmetricKey && algorithm === undefined) throw new KmipError('InvalidField', 'Derive Key needs the Cryptographic Algorithm of the new Symmetric Key');
    const length = algorithm !== undefined && request.objectType === T.SymmetricKey ? symmetricKeySize(algorithm, bits) : secretDataBytes(bits);

    const bases = await baseObjects(ctx, request.ids);
    const [base, dataObject] = bases;
    if (base === undefined) throw new KmipError('InvalidField', 'Derive Key needs a base object');
    let data = request.params.data;
    if (dataObject !== undefined) {
      if (dataObject.obj.objectType !== T.SecretData) throw new KmipError('InvalidObjectType', `the second object, ${dataObject.obj.id}, gives Derivation Data and must be Secret Data`);
      if (data.length > 0) throw new KmipError('InvalidField', 'the Derivation Data is given twice: in the Derivation Parameters and as a Secret Data object (2.1 section 7.12)');
      data = [materialOf(dataObject)];
    }
    const charged = bases.map((b) => chargedForDerivation(b, length));
    const key = materialOf(base);
    let derived: Buffer | undefined;
    try {
      derived = await deriveBytes({
        method: request.method,
        key,
        keyAlgorithm: keyBlockOf(base.body)?.algorithm ?? leafValue(base.obj, 'Cryptographic Algorithm', 'Enumeration'),
        data,
        salt: request.params.salt,
        iterations: request.params.iterations,
        iv: request.params.iv,
        params: request.params.crypto,
        length,
      });
      const id = ctx.store.newId();
      const body = request.objectType === T.SymmetricKey && algorithm !== undefined ? symmetricKey(algorithm, bits, Buffer.from(derived)) : secretData(bits, derived);
      const links: AttributeInstance[] = bases.map((b) => ({ name: 'Link', value: link(Enum.LinkType.DerivationBaseObjectLink, b.obj.id) }));
      const obj = advance(
        newManagedObject({
          id,
          objectType: request.objectType,
          owner: ctx.identity.name,
          body,
          clientAttributes: [...attributes, ...links],
          now: ctx.now,
          policy: serverPolicy(ctx, 'registered'),
        }),
        ctx.now,
      );
      checkQuantumSafe(obj.attributes);
      await checkUniqueValues(ctx, obj);
      const updated = charged.map((b) => changed(ctx, { ...b, attributes: [...b.attributes, { name: 'Link', value: link(Enum.LinkType.DerivedKeyLink, id) }] }));
      await commit(ctx, { create: [obj], update: updated });
      ctx.idPlaceholder = id;
      ctx.log.info('key derived', { operation: 'DeriveKey', id, objectType: request.objectType, method: request.method, from: request.ids });
      return [text(Tag.UniqueIdentifier, id)];
    } finally {
      key.fill(0);
      for (const d of data) d.fill(0);
      derived?.fill(0);
    }
  },
});

function derivationParameters(fields: Fields): DerivationParameters {
  const crypto = fields.optionalStruct(Tag.CryptographicParameters);
  const copy = (value: Uint8Array | undefined): Buffer | undefined => (value === undefined ? undefined : Buffer.from(value));
  return {
    crypto: {
      hash: crypto?.optionalEnumeration(Tag.HashingAlgorithm),
      algorithm: crypto?.optionalEnumeration(Tag.CryptographicAlgorithm),
      mode: crypto?.optionalEnumeration(Tag.BlockCipherMode),
      padding: crypto?.optionalEnumeration(Tag.PaddingMethod),
    },
    iv: copy(fields.optionalValue(Tag.InitializationVector, 'ByteString')),
    data: fields.values(Tag.DerivationData, 'ByteString').map((d) => Buffer.from(d)),
    salt: copy(fields.optionalValue(Tag.Salt, 'ByteString')),
    iterations: fields.optionalInteger(Tag.IterationCount),
  };
}

/** Each object named, checked for Derive Key (state, dates, usage mask) and of a type that holds derivable bytes. */
async function baseObjects(ctx: OperationContext, ids: readonly string[]): Promise<ObjectInUse[]> {
  const out: ObjectInUse[] = [];
  for (const id of ids) {
    const use = await objectForUse(ctx, id, 'DeriveKey');
    if (use.obj.objectType !== T.SymmetricKey && use.obj.objectType !== T.SecretData) {
      throw new KmipError('InvalidObjectType', `object ${use.obj.id} is a ${objectTypeName(use.obj.objectType)}: keys are derived from Symmetric Keys and Secret Data`);
    }
    out.push(use);
  }
  return out;
}

/**
 * The base object with this derivation taken out of its Usage Limits, checked before any
 * work and committed with the derived object, so a refused or failed derivation charges
 * nothing and two derivations racing for the last use cannot both commit (the update is
 * conditional on the revision read). KMIP counts Usage Limits for "applying protection"
 * (2.1 section 4.59, 1.4 section 3.21) and names Derive Key among the protecting usages
 * without saying what a derivation counts: under the Object unit a derivation is one use
 * (it makes one object); under the Byte unit it counts the bytes of key material derived,
 * as wrapping counts the bytes of the key it protects.
 */
function chargedForDerivation(use: ObjectInUse, derivedBytes: number): ManagedObject {
  return usageCharged(use.obj, derivedBytes) ?? use.obj;
}

/** A copy of the object's plain bytes; Key Value Not Present when it holds none in clear. */
function materialOf(use: ObjectInUse): Buffer {
  const material = rawKeyBytes(use.body);
  if (material === undefined) throw new KmipError('KeyValueNotPresent', `object ${use.obj.id} holds no plain key material to derive from`);
  return Buffer.from(material);
}

/** Secret Data of type Seed: derived bytes for the client to split into keys and IVs (2.1 section 6.1.14). */
function secretData(bits: number, material: Buffer): TtlvItem {
  return struct(Tag.SecretData, [
    enumeration(Tag.SecretDataType, Enum.SecretDataType.Seed),
    struct(Tag.KeyBlock, [
      enumeration(Tag.KeyFormatType, Enum.KeyFormatType.Opaque),
      struct(Tag.KeyValue, [bytes(Tag.KeyMaterial, Buffer.from(material))]),
      int(Tag.CryptographicLength, bits),
    ]),
  ]);
}

function secretDataBytes(bits: number): number {
  if (!Number.isInteger(bits) || bits <= 0 || bits % 8 !== 0) throw new KmipError('InvalidField', `Cryptographic Length ${bits} is not a whole, positive number of bytes`);
  return bits / 8;
}

function link(type: number, id: string): TtlvItem {
  return struct(Tag.Link, [enumeration(Tag.LinkType, type), text(Tag.LinkedObjectIdentifier, id)]);
}

function integerAttribute(attributes: readonly AttributeInstance[], name: string): number | undefined {
  const value = attributes.find((a) => a.name === name)?.value;
  return value?.type === 'Enumeration' || value?.type === 'Integer' ? value.value : undefined;
}
