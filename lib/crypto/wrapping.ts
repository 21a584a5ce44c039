/**
 * The cryptography of KMIP key wrapping (2.1 section 3.3, 1.4 section 2.1.5): sealing a Key
 * Value for transport and opening it again, and the MAC or signature over a wrapped Key
 * Value. Which key and which parameters apply is decided by lib/operations/key-wrapping.ts;
 * this file only computes.
 *
 * - AES key wrap: NIST Key Wrap (RFC 3394) and AES Key Wrap with Padding (RFC 5649).
 * - AES-GCM: a fresh random IV, carried in the Key Wrapping Data's IV/Counter/Nonce; the
 *   authentication tag is appended to the ciphertext in the Key Value Byte String.
 * - RSA: OAEP (any hash, MGF1 hash of its own) and PKCS#1 v1.5, sealing with a public key.
 *   Opening PKCS#1 v1.5 is refused: a server that says whether a client's ciphertext had
 *   valid padding is a decryption oracle (Bleichenbacher; the Marvin timing attack,
 *   CVE-2023-46809, for which node refuses the operation outright).
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { KmipError } from '../errors.js';
import { keyBits } from './asymmetric.js';
import { unwrapKey, wrapKey } from './cipher.js';
import { hashInfo, rsaDecrypt, rsaEncrypt } from './rsa.js';
import type { RsaEncryptionScheme } from './rsa.js';

/** How the Key Value is encrypted. */
export type WrappingCipher =
  | { readonly kind: 'aes-key-wrap'; readonly mode: number }
  | { readonly kind: 'aes-gcm'; readonly ivBytes: number; readonly tagBytes: number }
  | { readonly kind: 'rsa'; readonly scheme: RsaEncryptionScheme };

/** A sealed Key Value: the Key Value Byte String, and the IV when the cipher takes one. */
export interface SealedKeyValue {
  readonly wrapped: Buffer;
  readonly iv: Buffer | undefined;
}

/** GCM defaults: the 96-bit IV SP 800-38D recommends, and the full 128-bit tag. */
export const GCM_DEFAULT_IV_BYTES = 12;
export const GCM_DEFAULT_TAG_BYTES = 16;

/**
 * The AES-GCM cipher for IV Length (bits) and Tag Length (bytes) as Cryptographic
 * Parameters give them. A random IV shorter than 96 bits, or a tag shorter than 96 bits,
 * weakens the wrapping (SP 800-38D sections 5.2.1.2 and 8.2.2): refused.
 */
export function gcmCipher(ivLengthBits: number | undefined, tagLengthBytes: number | undefined): WrappingCipher {
  const ivBits = ivLengthBits ?? GCM_DEFAULT_IV_BYTES * 8;
  if (!Number.isInteger(ivBits) || ivBits % 8 !== 0 || ivBits < 96 || ivBits > 1024) {
    throw new KmipError('BadCryptographicParameters', `IV Length ${ivBits} bits cannot be used for AES-GCM key wrapping: give a multiple of 8 from 96 to 1024 (96 recommended)`);
  }
  const tagBytes = tagLengthBytes ?? GCM_DEFAULT_TAG_BYTES;
  if (!Number.isInteger(tagBytes) || tagBytes < 12 || tagBytes > 16) {
    throw new KmipError('BadCryptographicParameters', `Tag Length ${tagBytes} bytes cannot be used for AES-GCM key wrapping: give 12 to 16 (16 recommended)`);
  }
  return { kind: 'aes-gcm', ivBytes: ivBits / 8, tagBytes };
}

/** The most bytes `cipher` can seal under an RSA key of `bits`; undefined for AES ciphers (no practical limit). */
export function rsaCapacity(cipher: WrappingCipher, bits: number): number | undefined {
  if (cipher.kind !== 'rsa') return undefined;
  const k = Math.ceil(bits / 8);
  return cipher.scheme.kind === 'pkcs1' ? k - 11 : k - 2 * hashInfo(cipher.scheme.hash).bytes - 2;
}

/** Seal `plain` under `key`: a Buffer for the AES ciphers, an RSA public KeyObject for RSA. */
export function sealKeyValue(cipher: WrappingCipher, key: Buffer | KeyObject, plain: Buffer): SealedKeyValue {
  if (plain.length === 0) throw new KmipError('InvalidField', 'there is nothing to wrap');
  switch (cipher.kind) {
    case 'aes-key-wrap':
      return { wrapped: wrapKey(secret(key), cipher.mode, plain), iv: undefined };
    case 'aes-gcm': {
      const aes = secret(key);
      const iv = randomBytes(cipher.ivBytes);
      const gcm = createCipheriv(gcmName(aes), aes, iv, { authTagLength: cipher.tagBytes });
      const wrapped = Buffer.concat([gcm.update(plain), gcm.final(), gcm.getAuthTag()]);
      return { wrapped, iv };
    }
    case 'rsa': {
      const publicKey = asymmetric(key);
      const capacity = rsaCapacity(cipher, keyBits(publicKey)) ?? 0;
      if (plain.length > capacity) {
        throw new KmipError(
          'InvalidField',
          `the Key Value to wrap is ${plain.length} bytes; a ${keyBits(publicKey)}-bit RSA key with ${cipher.scheme.kind === 'pkcs1' ? 'PKCS#1 v1.5' : 'OAEP'} wraps at most ${Math.max(capacity, 0)}: wrap it with an AES key (AES Key Wrap Padding), or use a larger RSA key`,
        );
      }
      return { wrapped: rsaEncrypt(publicKey, cipher.scheme, plain), iv: undefined };
    }
  }
}

/** The plain Key Value bytes `wrapped` holds; Cryptographic Failure when it does not open under `key`. */
export function openKeyValue(cipher: WrappingCipher, key: Buffer | KeyObject, wrapped: Buffer, iv: Buffer | undefined): Buffer {
  switch (cipher.kind) {
    case 'aes-key-wrap':
      return unwrapKey(secret(key), cipher.mode, wrapped);
    case 'aes-gcm': {
      const aes = secret(key);
      if (iv === undefined || iv.length === 0) throw new KmipError('MissingInitializationVector', 'an AES-GCM wrapped Key Value needs the IV/Counter/Nonce of its Key Wrapping Data');
      if (wrapped.length <= cipher.tagBytes) {
        throw new KmipError('CryptographicFailure', `an AES-GCM wrapped Key Value is its ciphertext and a ${cipher.tagBytes}-byte tag; ${wrapped.length} bytes is too short`);
      }
      const body = wrapped.subarray(0, wrapped.length - cipher.tagBytes);
      const gcm = createDecipheriv(gcmName(aes), aes, iv, { authTagLength: cipher.tagBytes });
      gcm.setAuthTag(wrapped.subarray(wrapped.length - cipher.tagBytes));
      try {
        return Buffer.concat([gcm.update(body), gcm.final()]);
      } catch {
        throw new KmipError('CryptographicFailure', 'the AES-GCM wrapped Key Value does not authenticate under this key: wrong key, IV or tag length, or the bytes were changed');
      }
    }
    case 'rsa':
      assertUnwrappable(cipher);
      return rsaDecrypt(asymmetric(key), cipher.scheme, wrapped);
  }
}

/**
 * Refuses to open what only a decryption oracle would open: RSA PKCS#1 v1.5. Whether a
 * client's ciphertext has valid padding leaks through the answer or its timing, enough to
 * decrypt any other PKCS#1 v1.5 ciphertext of the key (Bleichenbacher 1998; the Marvin
 * attack, CVE-2023-46809, after which node refuses PKCS#1 v1.5 decryption altogether).
 */
export function assertUnwrappable(cipher: WrappingCipher): void {
  if (cipher.kind === 'rsa' && cipher.scheme.kind === 'pkcs1') {
    throw new KmipError(
      'UnsupportedCryptographicParameters',
      'keys wrapped with RSA PKCS#1 v1.5 are not unwrapped: opening them would make the server a decryption oracle for the RSA key (Bleichenbacher, CVE-2023-46809); wrap with RSA-OAEP or an AES key instead',
    );
  }
}

function secret(key: Buffer | KeyObject): Buffer {
  if (!Buffer.isBuffer(key)) throw new KmipError('InvalidObjectType', 'this wrapping cipher takes a symmetric key');
  if (key.length !== 16 && key.length !== 24 && key.length !== 32) {
    throw new KmipError('InvalidField', `an AES wrapping key is 16, 24 or 32 bytes, not ${key.length}`);
  }
  return key;
}

function asymmetric(key: Buffer | KeyObject): KeyObject {
  if (Buffer.isBuffer(key)) throw new KmipError('InvalidObjectType', 'RSA wrapping takes a Public Key (to wrap) or a Private Key (to unwrap)');
  return key;
}

function gcmName(key: Buffer): 'aes-128-gcm' | 'aes-192-gcm' | 'aes-256-gcm' {
  return key.length === 16 ? 'aes-128-gcm' : key.length === 24 ? 'aes-192-gcm' : 'aes-256-gcm';
}

