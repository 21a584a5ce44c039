/**
 * MACs and digests: HMAC over any hash node:crypto offers, CMAC with AES (RFC 4493, built
 * on AES-ECB because node exposes no CMAC), and plain hashes.
 */
import { createCipheriv, createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { Enum } from '../../ttlv/index.js';
import { KmipError } from '../errors.js';
import { algorithmName } from './symmetric.js';

const A = Enum.CryptographicAlgorithm;
const H = Enum.HashingAlgorithm;

const HMAC_HASHES = new Map<number, string>([
  [A.HMAC_SHA1, 'sha1'],
  [A.HMAC_SHA224, 'sha224'],
  [A.HMAC_SHA256, 'sha256'],
  [A.HMAC_SHA384, 'sha384'],
  [A.HMAC_SHA512, 'sha512'],
  [A.HMAC_MD5, 'md5'],
  [A.HMAC_SHA3_224, 'sha3-224'],
  [A.HMAC_SHA3_256, 'sha3-256'],
  [A.HMAC_SHA3_384, 'sha3-384'],
  [A.HMAC_SHA3_512, 'sha3-512'],
]);

const HASHES = new Map<number, string>([
  [H.MD5, 'md5'],
  [H.SHA_1, 'sha1'],
  [H.SHA_224, 'sha224'],
  [H.SHA_256, 'sha256'],
  [H.SHA_384, 'sha384'],
  [H.SHA_512, 'sha512'],
  [H.SHA_512_224, 'sha512-224'],
  [H.SHA_512_256, 'sha512-256'],
  [H.SHA3_224, 'sha3-224'],
  [H.SHA3_256, 'sha3-256'],
  [H.SHA3_384, 'sha3-384'],
  [H.SHA3_512, 'sha3-512'],
]);

export function hashName(algorithm: number): string {
  const name = HASHES.get(algorithm);
  if (name === undefined) throw new KmipError('FeatureNotSupported', `Hashing Algorithm 0x${algorithm.toString(16)} is not supported`);
  return name;
}

export function digest(algorithm: number, data: Buffer): Buffer {
  return createHash(hashName(algorithm)).update(data).digest();
}

/** The MAC of `data` under `key`, with an HMAC algorithm, or CMAC for an AES key. */
export function mac(algorithm: number, mode: number | undefined, key: Buffer, data: Buffer): Buffer {
  const hash = HMAC_HASHES.get(algorithm);
  if (hash !== undefined) return createHmac(hash, key).update(data).digest();
  if (algorithm === A.AES && (mode === undefined || mode === Enum.BlockCipherMode.CMAC)) return aesCmac(key, data);
  throw new KmipError('FeatureNotSupported', `${algorithmName(algorithm)} cannot compute a MAC on this server`);
}

/** Constant-time comparison of a computed MAC with the one given. */
export function macMatches(expected: Buffer, given: Buffer): boolean {
  return expected.length === given.length && timingSafeEqual(expected, given);
}

/** RFC 4493 section 2.4: AES-CMAC. */
export function aesCmac(key: Buffer, message: Buffer): Buffer {
  const encryptBlock = (block: Buffer): Buffer => {
    const cipher = createCipheriv(`aes-${key.length * 8}-ecb`, key, null);
    cipher.setAutoPadding(false);
    return Buffer.concat([cipher.update(block), cipher.final()]);
  };
  const [k1, k2] = subkeys(encryptBlock(Buffer.alloc(16)));
  const blocks = Math.max(1, Math.ceil(message.length / 16));
  const complete = message.length > 0 && message.length % 16 === 0;
  const last = Buffer.alloc(16);
  message.copy(last, 0, (blocks - 1) * 16);
  if (!complete) last.writeUInt8(0x80, message.length - (blocks - 1) * 16);
  xorInto(last, complete ? k1 : k2);
  let x: Buffer = Buffer.alloc(16);
  for (let i = 0; i < blocks - 1; i++) x = encryptBlock(xor(x, message.subarray(i * 16, i * 16 + 16)));
  return encryptBlock(xor(x, last));
}

function subkeys(l: Buffer): [Buffer, Buffer] {
  const k1 = shiftLeft(l);
  if ((l.readUInt8(0) & 0x80) !== 0) k1.writeUInt8(k1.readUInt8(15) ^ 0x87, 15);
  const k2 = shiftLeft(k1);
  if ((k1.readUInt8(0) & 0x80) !== 0) k2.writeUInt8(k2.readUInt8(15) ^ 0x87, 15);
  return [k1, k2];
}

function shiftLeft(block: Buffer): Buffer {
  const out = Buffer.alloc(16);
  for (let i = 0; i < 16; i++) {
    const next = i < 15 ? block.readUInt8(i + 1) >> 7 : 0;
    out.writeUInt8(((block.readUInt8(i) << 1) | next) & 0xff, i);
  }
  return out;
}

function xor(a: Buffer, b: Buffer): Buffer {
  const out = Buffer.alloc(16);
  for (let i = 0; i < 16; i++) out.writeUInt8(a.readUInt8(i) ^ b.readUInt8(i), i);
  return out;
}

function xorInto(target: Buffer, other: Buffer): void {
  for (let i = 0; i < 16; i++) target.writeUInt8(target.readUInt8(i) ^ other.readUInt8(i), i);
}
