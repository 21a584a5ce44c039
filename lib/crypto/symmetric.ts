/**
 * Symmetric key generation: which algorithms and lengths kmipd creates keys for, and the
 * key bytes for each. Creating a key only needs good random bytes of the right size, so
 * kmipd creates keys for every symmetric algorithm KMIP names whose key sizes are fixed by
 * its standard, even those node:crypto cannot compute with (Encrypt/Decrypt say so).
 */
import { randomBytes } from 'node:crypto';
import { Enum } from '../../ttlv/index.js';
import { KmipError } from '../errors.js';

const A = Enum.CryptographicAlgorithm;

interface SymmetricAlgorithm {
  /** Accepted Cryptographic Length values, in bits. */
  readonly lengths: (bits: number) => boolean;
  /** Key material size in bytes for a Cryptographic Length. */
  readonly keyBytes: (bits: number) => number;
  /** DES keys carry odd parity in the low bit of each byte (FIPS 46-3). */
  readonly desParity?: boolean;
  readonly name: string;
}

const oneOf =
  (...allowed: number[]) =>
  (bits: number): boolean =>
    allowed.includes(bits);
const bytesOf = (bits: number): number => bits / 8;
/** HMAC keys take any whole number of bytes from 8 to 512 (RFC 2104 allows any length; below 64 bits is refused as too weak). */
const hmacLengths = (bits: number): boolean => bits % 8 === 0 && bits >= 64 && bits <= 4096;

export const SYMMETRIC_ALGORITHMS: ReadonlyMap<number, SymmetricAlgorithm> = new Map<number, SymmetricAlgorithm>([
  [A.AES, { name: 'AES', lengths: oneOf(128, 192, 256), keyBytes: bytesOf }],
  // 3DES: 112-bit keys are two DES keys (16 bytes), 168-bit keys three (24 bytes); 192 counts the parity bits.
  [A.DES3, { name: '3DES', lengths: oneOf(112, 128, 168, 192), keyBytes: (bits) => (bits <= 128 ? 16 : 24), desParity: true }],
  [A.DES, { name: 'DES', lengths: oneOf(56, 64), keyBytes: () => 8, desParity: true }],
  [A.Camellia, { name: 'Camellia', lengths: oneOf(128, 192, 256), keyBytes: bytesOf }],
  [A.ARIA, { name: 'ARIA', lengths: oneOf(128, 192, 256), keyBytes: bytesOf }],
  [A.SEED, { name: 'SEED', lengths: oneOf(128), keyBytes: bytesOf }],
  [A.SM4, { name: 'SM4', lengths: oneOf(128), keyBytes: bytesOf }],
  [A.ChaCha20, { name: 'ChaCha20', lengths: oneOf(256), keyBytes: bytesOf }],
  [A.ChaCha20Poly1305, { name: 'ChaCha20-Poly1305', lengths: oneOf(256), keyBytes: bytesOf }],
  [A.Poly1305, { name: 'Poly1305', lengths: oneOf(256), keyBytes: bytesOf }],
  [A.Twofish, { name: 'Twofish', lengths: oneOf(128, 192, 256), keyBytes: bytesOf }],
  [A.Blowfish, { name: 'Blowfish', lengths: (bits) => bits % 8 === 0 && bits >= 32 && bits <= 448, keyBytes: bytesOf }],
  [A.CAST5, { name: 'CAST5', lengths: (bits) => bits % 8 === 0 && bits >= 40 && bits <= 128, keyBytes: bytesOf }],
  [A.IDEA, { name: 'IDEA', lengths: oneOf(128), keyBytes: bytesOf }],
  [A.SKIPJACK, { name: 'SKIPJACK', lengths: oneOf(80), keyBytes: bytesOf }],
  [A.RC4, { name: 'RC4', lengths: (bits) => bits % 8 === 0 && bits >= 40 && bits <= 2048, keyBytes: bytesOf }],
  ...(['HMAC_SHA1', 'HMAC_SHA224', 'HMAC_SHA256', 'HMAC_SHA384', 'HMAC_SHA512', 'HMAC_MD5', 'HMAC_SHA3_224', 'HMAC_SHA3_256', 'HMAC_SHA3_384', 'HMAC_SHA3_512'] as const)
    .filter((name) => name in A)
    .map((name): [number, SymmetricAlgorithm] => [A[name], { name: name.replace(/_/g, '-'), lengths: hmacLengths, keyBytes: bytesOf }]),
]);

export function isSymmetricAlgorithm(algorithm: number): boolean {
  return SYMMETRIC_ALGORITHMS.has(algorithm);
}

/** Check an algorithm and length for a new symmetric key; the key size in bytes. */
export function symmetricKeySize(algorithm: number, bits: number): number {
  const def = SYMMETRIC_ALGORITHMS.get(algorithm);
  if (def === undefined) {
    throw new KmipError('InvalidField', `Cryptographic Algorithm ${algorithmName(algorithm)} is not a symmetric algorithm kmipd creates keys for`);
  }
  if (!Number.isInteger(bits) || !def.lengths(bits)) {
    throw new KmipError('InvalidField', `Cryptographic Length ${bits} is not valid for ${def.name}`);
  }
  return def.keyBytes(bits);
}

/** Fresh key material for a symmetric key. The caller owns the buffer and wipes it when done. */
export function generateSymmetricKey(algorithm: number, bits: number): Buffer {
  const key = randomBytes(symmetricKeySize(algorithm, bits));
  if (SYMMETRIC_ALGORITHMS.get(algorithm)?.desParity) setOddParity(key);
  return key;
}

function setOddParity(key: Buffer): void {
  for (let i = 0; i < key.length; i++) {
    const byte = key.readUInt8(i) & 0xfe;
    let ones = 0;
    for (let b = byte; b !== 0; b >>= 1) ones += b & 1;
    key.writeUInt8(ones % 2 === 0 ? byte | 1 : byte, i);
  }
}

export function algorithmName(algorithm: number): string {
  const entry = Object.entries(A).find(([, value]) => value === algorithm);
  return entry ? entry[0] : `0x${algorithm.toString(16).padStart(8, '0')}`;
}
