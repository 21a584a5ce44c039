/**
 * RSA (RFC 8017) around node's raw RSA operation: signatures of a digest with EMSA-PKCS1-v1_5
 * or EMSA-PSS, and encryption with EME-OAEP or PKCS#1 v1.5. node offers neither a Mask
 * Generator hash other than the message hash nor signing a digest the client computed, so
 * the PSS and OAEP encodings are done here; OAEP with one hash is left to OpenSSL.
 */
import { constants, createHash, privateDecrypt, privateEncrypt, publicDecrypt, publicEncrypt, randomBytes, timingSafeEqual } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { Enum } from '../../ttlv/index.js';
import { KmipError } from '../errors.js';
import { enumName, familyOfKey, keyBits } from './asymmetric.js';
import { hashName } from './mac.js';

const H = Enum.HashingAlgorithm;
const P = Enum.PaddingMethod;

export type RsaSignatureScheme =
  | { readonly kind: 'pkcs1'; readonly hash: number }
  | { readonly kind: 'pss'; readonly hash: number; readonly mgfHash: number; readonly saltLength: number | undefined };

// ---------------------------------------------------------------------------------------
// Hashes

export interface HashInfo {
  readonly name: string;
  readonly bytes: number;
  /** The AlgorithmIdentifier OID of DigestInfo (RFC 8017 section 9.2, note 1). */
  readonly oid: string;
}

const HASHES = new Map<number, HashInfo>([
  [H.MD5, { name: 'md5', bytes: 16, oid: '1.2.840.113549.2.5' }],
  [H.SHA_1, { name: 'sha1', bytes: 20, oid: '1.3.14.3.2.26' }],
  [H.SHA_224, { name: 'sha224', bytes: 28, oid: '2.16.840.1.101.3.4.2.4' }],
  [H.SHA_256, { name: 'sha256', bytes: 32, oid: '2.16.840.1.101.3.4.2.1' }],
  [H.SHA_384, { name: 'sha384', bytes: 48, oid: '2.16.840.1.101.3.4.2.2' }],
  [H.SHA_512, { name: 'sha512', bytes: 64, oid: '2.16.840.1.101.3.4.2.3' }],
  [H.SHA_512_224, { name: 'sha512-224', bytes: 28, oid: '2.16.840.1.101.3.4.2.5' }],
  [H.SHA_512_256, { name: 'sha512-256', bytes: 32, oid: '2.16.840.1.101.3.4.2.6' }],
  [H.SHA3_224, { name: 'sha3-224', bytes: 28, oid: '2.16.840.1.101.3.4.2.7' }],
  [H.SHA3_256, { name: 'sha3-256', bytes: 32, oid: '2.16.840.1.101.3.4.2.8' }],
  [H.SHA3_384, { name: 'sha3-384', bytes: 48, oid: '2.16.840.1.101.3.4.2.9' }],
  [H.SHA3_512, { name: 'sha3-512', bytes: 64, oid: '2.16.840.1.101.3.4.2.10' }],
]);

export function hashInfo(algorithm: number): HashInfo {
  const info = HASHES.get(algorithm);
  if (info === undefined) {
    hashName(algorithm); // throws Feature Not Supported with the hash's number
    throw new KmipError('FeatureNotSupported', `Hashing Algorithm ${enumName(H, algorithm)} cannot be used with RSA`);
  }
  return info;
}

function hash(algorithm: number, ...parts: Uint8Array[]): Buffer {
  const h = createHash(hashInfo(algorithm).name);
  for (const part of parts) h.update(part);
  return h.digest();
}

/** MGF1 (RFC 8017 appendix B.2.1). */
function mgf1(seed: Buffer, length: number, algorithm: number): Buffer {
  const blocks: Buffer[] = [];
  const counter = Buffer.alloc(4);
  for (let i = 0, made = 0; made < length; i++) {
    counter.writeUInt32BE(i, 0);
    const block = hash(algorithm, seed, counter);
    blocks.push(block);
    made += block.length;
  }
  return Buffer.concat(blocks).subarray(0, length);
}

function xorInto(target: Buffer, mask: Buffer): void {
  for (let i = 0; i < target.length; i++) target.writeUInt8(target.readUInt8(i) ^ mask.readUInt8(i), i);
}

/** DER of DigestInfo { AlgorithmIdentifier { oid, NULL }, OCTET STRING digest } (RFC 8017 section 9.2 step 2). */
function digestInfo(algorithm: number, digest: Buffer): Buffer {
  const oid = derOid(hashInfo(algorithm).oid);
  const algorithmId = der(0x30, Buffer.concat([oid, Buffer.of(0x05, 0x00)]));
  return der(0x30, Buffer.concat([algorithmId, der(0x04, digest)]));
}

function der(tag: number, content: Buffer): Buffer {
  // DigestInfo values are far below 128 bytes: the short length form is enough.
  if (content.length > 127) throw new Error('DER content too long for the short length form');
  return Buffer.concat([Buffer.of(tag, content.length), content]);
}

function derOid(dotted: string): Buffer {
  const [first = 0, second = 0, ...rest] = dotted.split('.').map(Number);
  const bytes: number[] = [first * 40 + second];
  for (const arc of rest) {
    const groups: number[] = [];
    let value = arc;
    do {
      groups.unshift(value & 0x7f);
      value = Math.floor(value / 128);
    } while (value > 0);
    groups.forEach((group, i) => bytes.push(i < groups.length - 1 ? group | 0x80 : group));
  }
  return der(0x06, Buffer.from(bytes));
}

// ---------------------------------------------------------------------------------------
// Raw RSA (RFC 8017 sections 5.1 and 5.2), with OpenSSL's blinding

function modulusBytes(key: KeyObject): number {
  return Math.ceil(keyBits(key) / 8);
}

function rsaPrivate(key: KeyObject, block: Buffer): Buffer {
  return privateDecrypt({ key, padding: constants.RSA_NO_PADDING }, block);
}

function rsaPublic(key: KeyObject, block: Buffer): Buffer | undefined {
  try {
    return publicEncrypt({ key, padding: constants.RSA_NO_PADDING }, block);
  } catch {
    return undefined; // the value is not below the modulus: not a signature of this key
  }
}

// ---------------------------------------------------------------------------------------
// Signatures of a digest

/** An RSA signature of a digest (RFC 8017 sections 8.1.1 and 8.2.1). */
export function rsaSignDigest(key: KeyObject, scheme: RsaSignatureScheme, digest: Buffer): Buffer {
  requireRsa(key);
  if (scheme.kind === 'pkcs1') {
    // EMSA-PKCS1-v1_5 (RFC 8017 section 9.2): OpenSSL pads DigestInfo as block type 1.
    return privateEncrypt({ key, padding: constants.RSA_PKCS1_PADDING }, digestInfo(scheme.hash, digest));
  }
  const bits = keyBits(key);
  const em = pssEncode(digest, bits - 1, scheme);
  return rsaPrivate(key, leftPad(em, modulusBytes(key)));
}

/** Whether `signature` is an RSA signature of the digest (RFC 8017 sections 8.1.2 and 8.2.2). */
export function rsaVerifyDigest(key: KeyObject, scheme: RsaSignatureScheme, digest: Buffer, signature: Buffer): boolean {
  requireRsa(key);
  const k = modulusBytes(key);
  if (signature.length !== k) return false;
  if (scheme.kind === 'pkcs1') {
    let recovered: Buffer;
    try {
      recovered = publicDecrypt({ key, padding: constants.RSA_PKCS1_PADDING }, signature);
    } catch {
      return false;
    }
    const expected = digestInfo(scheme.hash, digest);
    return recovered.length === expected.length && timingSafeEqual(recovered, expected);
  }
  const m = rsaPublic(key, signature);
  if (m === undefined) return false;
  const emBits = keyBits(key) - 1;
  const emLen = Math.ceil(emBits / 8);
  // The integer fits emLen bytes: every byte before them must be zero (RFC 8017 section 8.1.2 step 2c).
  if (m.subarray(0, m.length - emLen).some((byte) => byte !== 0)) return false;
  return pssVerify(digest, m.subarray(m.length - emLen), emBits, scheme);
}

function requireRsa(key: KeyObject): void {
  if (familyOfKey(key) !== 'RSA') throw new KmipError('BadCryptographicParameters', 'this scheme needs an RSA key');
}

function leftPad(bytes: Buffer, size: number): Buffer {
  return bytes.length >= size ? bytes : Buffer.concat([Buffer.alloc(size - bytes.length), bytes]);
}

type PssScheme = Extract<RsaSignatureScheme, { kind: 'pss' }>;

/** EMSA-PSS-ENCODE (RFC 8017 section 9.1.1). */
function pssEncode(mHash: Buffer, emBits: number, scheme: PssScheme): Buffer {
  const hLen = hashInfo(scheme.hash).bytes;
  const emLen = Math.ceil(emBits / 8);
  const sLen = scheme.saltLength ?? hLen;
  if (emLen < hLen + sLen + 2) {
    throw new KmipError('BadCryptographicParameters', `Salt Length ${sLen} is too long for this key and hash: at most ${emLen - hLen - 2}`);
  }
  const salt = randomBytes(sLen);
  const h = hash(scheme.hash, Buffer.alloc(8), mHash, salt);
  const db = Buffer.concat([Buffer.alloc(emLen - sLen - hLen - 2), Buffer.of(0x01), salt]);
  xorInto(db, mgf1(h, db.length, scheme.mgfHash));
  db.writeUInt8(db.readUInt8(0) & (0xff >> (8 * emLen - emBits)), 0);
  return Buffer.concat([db, h, Buffer.of(0xbc)]);
}

/** EMSA-PSS-VERIFY (RFC 8017 section 9.1.2); an unknown Salt Length is read from the encoding. */
function pssVerify(mHash: Buffer, em: Buffer, emBits: number, scheme: PssScheme): boolean {
  const hLen = hashInfo(scheme.hash).bytes;
  const emLen = em.length;
  if (emLen < hLen + 2 || em.readUInt8(emLen - 1) !== 0xbc) return false;
  const topBits = 8 * emLen - emBits;
  if ((em.readUInt8(0) & ~(0xff >> topBits) & 0xff) !== 0) return false;
  const db = Buffer.from(em.subarray(0, emLen - hLen - 1));
  const h = em.subarray(emLen - hLen - 1, emLen - 1);
  xorInto(db, mgf1(Buffer.from(h), db.length, scheme.mgfHash));
  db.writeUInt8(db.readUInt8(0) & (0xff >> topBits), 0);
  const separator = db.indexOf(0x01);
  if (separator < 0 || db.subarray(0, separator).some((byte) => byte !== 0)) return false;
  const salt = db.subarray(separator + 1);
  if (scheme.saltLength !== undefined && salt.length !== scheme.saltLength) return false;
  const expected = hash(scheme.hash, Buffer.alloc(8), mHash, salt);
  return timingSafeEqual(expected, h);
}

// ---------------------------------------------------------------------------------------
// Encryption

export type RsaEncryptionScheme =
  | { readonly kind: 'oaep'; readonly hash: number; readonly mgfHash: number; readonly label: Buffer }
  | { readonly kind: 'pkcs1' };

export interface RsaEncryptionParameters {
  readonly padding: number | undefined;
  readonly hash: number | undefined;
  readonly mgfHash: number | undefined;
  readonly pSource: Buffer | undefined;
}

/**
 * OAEP (its hash defaults to SHA-1, PKCS#1's default; its MGF1 hash to the OAEP hash, as for
 * PSS) or PKCS#1 v1.5. RSA encryption needs a Padding Method: without one there is no safe
 * default to guess.
 */
export function rsaEncryptionScheme(params: RsaEncryptionParameters): RsaEncryptionScheme {
  if (params.padding === P.OAEP) {
    const h = params.hash ?? H.SHA_1;
    hashInfo(h);
    const mgfHash = params.mgfHash ?? h;
    hashInfo(mgfHash);
    return { kind: 'oaep', hash: h, mgfHash, label: params.pSource ?? Buffer.alloc(0) };
  }
  if (params.padding === P.PKCS1V1_5) return { kind: 'pkcs1' };
  if (params.padding === undefined) {
    throw new KmipError('BadCryptographicParameters', 'RSA encryption needs a Padding Method (OAEP or PKCS1 v1.5) in the Cryptographic Parameters');
  }
  throw new KmipError('UnsupportedCryptographicParameters', `Padding Method ${enumName(P, params.padding)} is not supported for RSA encryption: use OAEP or PKCS1 v1.5`);
}

export function rsaEncrypt(key: KeyObject, scheme: RsaEncryptionScheme, data: Buffer): Buffer {
  requireRsa(key);
  const k = modulusBytes(key);
  if (scheme.kind === 'pkcs1') {
    if (data.length > k - 11) throw new KmipError('InvalidField', `the data is ${data.length} bytes; PKCS#1 v1.5 with this key encrypts at most ${k - 11}`);
    return publicEncrypt({ key, padding: constants.RSA_PKCS1_PADDING }, data);
  }
  const hLen = hashInfo(scheme.hash).bytes;
  if (data.length > k - 2 * hLen - 2) throw new KmipError('InvalidField', `the data is ${data.length} bytes; OAEP with this key and hash encrypts at most ${k - 2 * hLen - 2}`);
  if (scheme.mgfHash === scheme.hash) {
    return publicEncrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hashInfo(scheme.hash).name, oaepLabel: scheme.label }, data);
  }
  const encoded = oaepEncode(data, k, scheme);
  const out = rsaPublic(key, encoded);
  if (out === undefined) throw new KmipError('CryptographicFailure', 'RSA encryption failed');
  return out;
}

export function rsaDecrypt(key: KeyObject, scheme: RsaEncryptionScheme, data: Buffer): Buffer {
  requireRsa(key);
  const failure = new KmipError('CryptographicFailure', 'the data could not be decrypted with this key and these parameters');
  if (scheme.kind === 'pkcs1') {
    // node refuses PKCS#1 v1.5 decryption (CVE-2023-46809, the Marvin timing attack).
    throw new KmipError('UnsupportedCryptographicParameters', 'PKCS#1 v1.5 decryption is not offered (it leaks through timing, CVE-2023-46809): use OAEP');
  }
  const k = modulusBytes(key);
  if (data.length !== k) throw failure;
  if (scheme.mgfHash === scheme.hash) {
    try {
      return privateDecrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hashInfo(scheme.hash).name, oaepLabel: scheme.label }, data);
    } catch {
      throw failure;
    }
  }
  let em: Buffer;
  try {
    em = leftPad(rsaPrivate(key, data), k);
  } catch {
    throw failure;
  }
  const message = oaepDecode(em, scheme);
  em.fill(0);
  if (message === undefined) throw failure;
  return message;
}

type OaepScheme = Extract<RsaEncryptionScheme, { kind: 'oaep' }>;

/** EME-OAEP encoding (RFC 8017 section 7.1.1 step 2). */
function oaepEncode(message: Buffer, k: number, scheme: OaepScheme): Buffer {
  const hLen = hashInfo(scheme.hash).bytes;
  const db = Buffer.concat([hash(scheme.hash, scheme.label), Buffer.alloc(k - message.length - 2 * hLen - 2), Buffer.of(0x01), message]);
  const seed = randomBytes(hLen);
  xorInto(db, mgf1(seed, db.length, scheme.mgfHash));
  xorInto(seed, mgf1(db, hLen, scheme.mgfHash));
  return Buffer.concat([Buffer.of(0), seed, db]);
}

/**
 * EME-OAEP decoding (RFC 8017 section 7.1.2 step 3). Every check runs whatever the earlier
 * ones found, and all failures look the same, so that a client learns nothing about which
 * failed (Manger's attack).
 */
function oaepDecode(em: Buffer, scheme: OaepScheme): Buffer | undefined {
  const hLen = hashInfo(scheme.hash).bytes;
  if (em.length < 2 * hLen + 2) return undefined;
  const seed = Buffer.from(em.subarray(1, 1 + hLen));
  const db = Buffer.from(em.subarray(1 + hLen));
  xorInto(seed, mgf1(db, hLen, scheme.mgfHash));
  xorInto(db, mgf1(seed, db.length, scheme.mgfHash));
  let bad = em.readUInt8(0);
  const lHash = hash(scheme.hash, scheme.label);
  for (let i = 0; i < hLen; i++) bad |= db.readUInt8(i) ^ lHash.readUInt8(i);
  // Find the 0x01 separator after the zero padding without stopping early.
  let found = 0;
  let index = 0;
  for (let i = hLen; i < db.length; i++) {
    const byte = db.readUInt8(i);
    const isOne = byte === 1 ? 1 : 0;
    const isZero = byte === 0 ? 1 : 0;
    const searching = found ^ 1;
    index = (isOne & searching) === 1 ? i : index;
    // Before the separator, only zero bytes may appear.
    bad |= searching & ((isOne | isZero) ^ 1);
    found |= isOne;
  }
  bad |= found ^ 1;
  return bad === 0 ? Buffer.from(db.subarray(index + 1)) : undefined;
}

