/**
 * Using one half of a key pair: the key an operation needs from a Private Key or Public Key
 * object in use, and the Cryptographic Parameters of signatures and RSA encryption (the
 * request's over the key's, field by field, as for ciphers).
 */
import type { KeyObject } from 'node:crypto';
import { Tag } from '../../ttlv/index.js';
import type { TtlvItem } from '../../ttlv/index.js';
import type { RsaEncryptionParameters, SignatureParameters } from '../crypto/index.js';
import { KmipError } from '../errors.js';
import { keyObjectOf, sideOf } from '../objects/asymmetric.js';
import type { KeySide } from '../objects/asymmetric.js';
import { objectTypeName } from '../objects/structures.js';
import { Fields } from '../protocol/fields.js';
import type { ObjectInUse } from './key-use.js';

const SIDE_NAMES: Record<KeySide, string> = { private: 'Private Key', public: 'Public Key' };

/** Whether the object in use is a Private Key or a Public Key. */
export function isKeyPairHalf(use: ObjectInUse): boolean {
  return sideOf(use.obj.objectType) !== undefined;
}

/** The key of a Private Key (`side` 'private') or Public Key object; Invalid Object Type for any other. */
export function keyPairHalf(use: ObjectInUse, side: KeySide, operation: string): KeyObject {
  if (sideOf(use.obj.objectType) !== side) {
    throw new KmipError('InvalidObjectType', `${operation} uses a ${SIDE_NAMES[side]}; object ${use.obj.id} is a ${objectTypeName(use.obj.objectType)}`);
  }
  return keyObjectOf(side, use.body);
}

type Picker = <T>(read: (fields: Fields) => T | undefined) => T | undefined;

function picker(request: TtlvItem | undefined, use: ObjectInUse): Picker {
  const given = request === undefined ? undefined : Fields.of(request, 'CryptographicParameters');
  return (read) => (given ? read(given) : undefined) ?? (use.defaults ? read(use.defaults) : undefined);
}

export function signatureParameters(request: TtlvItem | undefined, use: ObjectInUse): SignatureParameters {
  const pick = picker(request, use);
  return {
    digitalSignatureAlgorithm: pick((f) => f.optionalEnumeration(Tag.DigitalSignatureAlgorithm)),
    padding: pick((f) => f.optionalEnumeration(Tag.PaddingMethod)),
    hash: pick((f) => f.optionalEnumeration(Tag.HashingAlgorithm)),
    mgfHash: pick((f) => f.optionalEnumeration(Tag.MaskGeneratorHashingAlgorithm)),
    saltLength: pick((f) => f.optionalInteger(Tag.SaltLength)),
    trailerField: pick((f) => f.optionalInteger(Tag.TrailerField)),
  };
}

export function rsaEncryptionParameters(request: TtlvItem | undefined, use: ObjectInUse): RsaEncryptionParameters {
  const pick = picker(request, use);
  const pSource = pick((f) => f.optionalValue(Tag.PSource, 'ByteString'));
  return {
    padding: pick((f) => f.optionalEnumeration(Tag.PaddingMethod)),
    hash: pick((f) => f.optionalEnumeration(Tag.HashingAlgorithm)),
    mgfHash: pick((f) => f.optionalEnumeration(Tag.MaskGeneratorHashingAlgorithm)),
    pSource: pSource === undefined ? undefined : Buffer.from(pSource),
  };
}
