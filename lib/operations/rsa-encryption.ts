/**
 * Encrypt and Decrypt with a key pair (KMIP 2.1 sections 6.1.17 and 6.1.11): RSA with OAEP
 * or PKCS#1 v1.5 padding, encrypting with the Public Key and decrypting with the Private
 * Key, in one request.
 */
import { Tag } from '../../ttlv/index.js';
import type { TtlvItem } from '../../ttlv/index.js';
import { familyOfKey, rsaDecrypt, rsaEncrypt, rsaEncryptionScheme } from '../crypto/index.js';
import { KmipError } from '../errors.js';
import { bytes, text } from '../protocol/build.js';
import { keyPairHalf, rsaEncryptionParameters } from './key-pair-use.js';
import { chargeUsage } from './key-use.js';
import type { ObjectInUse } from './key-use.js';
import type { OperationContext } from './types.js';

/** The fields of an Encrypt or Decrypt request that RSA uses. */
export interface RsaRequest {
  readonly params: TtlvItem | undefined;
  readonly data: Buffer;
  readonly correlation: Buffer | undefined;
  readonly init: boolean;
  readonly final: boolean;
}

function requireSinglePart(request: RsaRequest, operation: string): void {
  if (request.correlation !== undefined || (request.init && !request.final)) {
    throw new KmipError('FeatureNotSupported', `${operation} with an RSA key is single-part: send the whole data in one request`);
  }
}

function requireRsa(family: string, operation: string): void {
  if (family !== 'RSA') throw new KmipError('FeatureNotSupported', `${operation} with an ${family} key is not offered: only RSA keys encrypt`);
}

export async function encryptWithPublicKey(ctx: OperationContext, use: ObjectInUse, request: RsaRequest): Promise<TtlvItem[]> {
  const key = keyPairHalf(use, 'public', 'Encrypt');
  requireRsa(familyOfKey(key), 'Encrypt');
  requireSinglePart(request, 'Encrypt');
  const scheme = rsaEncryptionScheme(rsaEncryptionParameters(request.params, use));
  await chargeUsage(ctx, use, request.data.length);
  return [text(Tag.UniqueIdentifier, use.obj.id), bytes(Tag.Data, rsaEncrypt(key, scheme, request.data))];
}

export function decryptWithPrivateKey(use: ObjectInUse, request: RsaRequest): TtlvItem[] {
  const key = keyPairHalf(use, 'private', 'Decrypt');
  requireRsa(familyOfKey(key), 'Decrypt');
  requireSinglePart(request, 'Decrypt');
  const scheme = rsaEncryptionScheme(rsaEncryptionParameters(request.params, use));
  return [text(Tag.UniqueIdentifier, use.obj.id), bytes(Tag.Data, rsaDecrypt(key, scheme, request.data))];
}
