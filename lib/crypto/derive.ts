/**
 * Key derivation for Derive Key (KMIP 2.1 section 6.1.14 and 7.12, 1.4 section 4.6): the
 * functions behind each Derivation Method, on plain bytes. The operation decides which
 * objects give the key and the data; this file only computes.
 *
 * - PBKDF2 (RFC 8018 / RFC 2898): the base object is the password; Salt and Iteration
 *   Count are required; the PRF is HMAC with the Hashing Algorithm (HMAC-SHA-1, PKCS#5's
 *   default PRF, when none is named).
 * - HKDF (RFC 5869): the base object is the input key material, Salt the salt, Derivation
 *   Data the info; SHA-256 unless a Hashing Algorithm is named (2.1 section 7.12).
 * - HMAC: the Derivation Data MAC'd under the base key; the key's own HMAC algorithm names
 *   the hash (section 7.12: "the attributes of the derivation key provide enough
 *   information about the PRF"), else the Hashing Algorithm, else SHA-256.
 * - HASH: a hash of the Derivation Data, or of the base key when no data is given.
 * - ENCRYPT: the Derivation Data encrypted under the base key with the Cryptographic
 *   Parameters; an all-zero IV when none is given ("an empty IV is assumed").
 * - NIST SP 800-108 counter, feedback and double-pipeline modes with an HMAC or CMAC-AES
 *   PRF. Derivation Data is the Fixed Input Data (Label || 0x00 || Context, section 7.12),
 *   used as given; the counter is 32 bits, big-endian, before the fixed data in counter
 *   mode and after the chaining value in the other two.
 * - AWS Signature Version 4: the signing key from the secret, Date, Region and Service.
 */
import { createHash, createHmac, pbkdf2 } from 'node:crypto';
import { Enum } from '../../ttlv/index.js';
import { KmipError } from '../errors.js';
import { cipherSpec, encrypt } from './cipher.js';
import type { CipherParameters } from './cipher.js';
import { aesCmac, hashName } from './mac.js';
import { cryptoThreads } from './thread-pool.js';

const A = Enum.CryptographicAlgorithm;
const H = Enum.HashingAlgorithm;
const D = Enum.DerivationMethod;

/** Largest derived object: 8192 bits covers several keys and IVs in one Secret Data. */
export const MAX_DERIVED_BYTES = 1024;
/** PBKDF2 iterations run on node's thread pool; beyond this one request would hold a thread for seconds. */
export const MAX_PBKDF2_ITERATIONS = 5_000_000;

const HMAC_HASH_BY_ALGORITHM = new Map<number, number>([
  [A.HMAC_SHA1, H.SHA_1],
  [A.HMAC_SHA224, H.SHA_224],
  [A.HMAC_SHA256, H.SHA_256],
  [A.HMAC_SHA384, H.SHA_384],
  [A.HMAC_SHA512, H.SHA_512],
  [A.HMAC_MD5, H.MD5],
  [A.HMAC_SHA3_224, H.SHA3_224],
  [A.HMAC_SHA3_256, H.SHA3_256],
  [A.HMAC_SHA3_384, H.SHA3_384],
  [A.HMAC_SHA3_512, H.SHA3_512],
]);

/** What the Derivation Parameters' Cryptographic Parameters say (2.1 section 7.12). */
export interface DerivationCryptoParameters {
  readonly hash: number | undefined;
  readonly algorithm: number | undefined;
  readonly mode: number | undefined;
  readonly padding: number | undefined;
}

export interface DerivationInput {
  readonly method: number;
  /** The base object's bytes: key, password or input key material. */
  readonly key: Buffer;
  /** The base object's Cryptographic Algorithm, when it has one. */
  readonly keyAlgorithm: number | undefined;
  /** Derivation Data items, in order (the AWS method takes three). */
  readonly data: readonly Buffer[];
  readonly salt: Buffer | undefined;
  readonly iterations: number | undefined;
  readonly iv: Buffer | undefined;
  readonly params: DerivationCryptoParameters;
  /** Length of the derived object in bytes. */
  readonly length: number;
}

/** The derived bytes, exactly `input.length` of them; the caller wipes them when done. */
export async function deriveBytes(input: DerivationInput): Promise<Buffer> {
  if (!Number.isInteger(input.length) || input.length < 1 || input.length > MAX_DERIVED_BYTES) {
    throw new KmipError('InvalidField', `a derived object is 1 to ${MAX_DERIVED_BYTES} bytes (${MAX_DERIVED_BYTES * 8} bits), not ${input.length} bytes`);
  }
  switch (input.method) {
    case D.PBKDF2:
      return pbkdf2Derive(input);
    case D.HKDF:
      return hkdf(prfHash(input.params, undefined, H.SHA_256), input.key, input.salt ?? Buffer.alloc(0), optionalData(input, 'HKDF'), input.length);
    case D.HMAC:
      return hmacDerive(input);
    case D.HASH:
      return hashDerive(input);
    case D.ENCRYPT:
      return encryptDerive(input);
    case D.NIST800_108_C:
    case D.NIST800_108_F:
    case D.NIST800_108_DPI:
      return sp800108(input.method, prfOf(input), requiredData(input, 'NIST SP 800-108 derivation'), input.iv ?? Buffer.alloc(0), input.length);
    case D.AWSSignatureVersion4:
      return awsSigningKey(input);
    case D.AsymmetricKey:
      throw new KmipError('FeatureNotSupported', 'Derivation Method Asymmetric Key (key agreement) is not offered by this server');
    default:
      throw new KmipError('InvalidField', `Derivation Method 0x${input.method.toString(16)} is not one this server knows`);
  }
}

// ---------------------------------------------------------------------------------------
// Parameters

/** The hash of an HMAC-based PRF: the Hashing Algorithm, an HMAC Cryptographic Algorithm, the key's HMAC algorithm, else `fallback`. */
function prfHash(params: DerivationCryptoParameters, keyAlgorithm: number | undefined, fallback: number): number {
  const fromParams = params.algorithm === undefined ? undefined : HMAC_HASH_BY_ALGORITHM.get(params.algorithm);
  const fromKey = keyAlgorithm === undefined ? undefined : HMAC_HASH_BY_ALGORITHM.get(keyAlgorithm);
  const hash = params.hash ?? fromParams ?? fromKey ?? fallback;
  hashName(hash);
  return hash;
}

function hashBytes(hash: number): number {
  return createHash(hashName(hash)).digest().length;
}

function optionalData(input: DerivationInput, method: string): Buffer {
  if (input.data.length > 1) throw new KmipError('InvalidField', `${method} takes one Derivation Data, not ${input.data.length}`);
  return input.data[0] ?? Buffer.alloc(0);
}

function requiredData(input: DerivationInput, method: string): Buffer {
  if (input.data.length !== 1) throw new KmipError('InvalidField', `${method} needs one Derivation Data (or a Secret Data object giving it), not ${input.data.length}`);
  return input.data[0] ?? Buffer.alloc(0);
}

function checkLength(input: DerivationInput, available: number, method: string): void {
  // 2.1 section 6.1.14: "If the specified length exceeds the output of the derivation method, then the server SHALL return an error."
  if (input.length > available) {
    throw new KmipError('InvalidField', `${method} gives ${available * 8} bits; ${input.length * 8} were asked for`);
  }
}

// ---------------------------------------------------------------------------------------
// Methods

async function pbkdf2Derive(input: DerivationInput): Promise<Buffer> {
  if (input.salt === undefined) throw new KmipError('InvalidField', 'PBKDF2 needs a Salt in the Derivation Parameters');
  const iterations = input.iterations;
  if (iterations === undefined) throw new KmipError('InvalidField', 'PBKDF2 needs an Iteration Count in the Derivation Parameters');
  if (!Number.isInteger(iterations) || iterations < 1 || iterations > MAX_PBKDF2_ITERATIONS) {
    throw new KmipError('InvalidField', `Iteration Count ${iterations} is out of range: 1 to ${MAX_PBKDF2_ITERATIONS}`);
  }
  if (input.data.length > 0) throw new KmipError('InvalidField', 'PBKDF2 takes no Derivation Data: the password is the base object, the salt the Salt');
  return pbkdf2Bytes(prfHash(input.params, undefined, H.SHA_1), input.key, input.salt, iterations, input.length);
}

/** PBKDF2 with HMAC over `hash` (RFC 8018 section 5.2), on the thread pool in turn with its other long jobs. */
export function pbkdf2Bytes(hash: number, password: Buffer, salt: Buffer, iterations: number, length: number): Promise<Buffer> {
  const name = hashName(hash);
  return cryptoThreads.run(
    () =>
      new Promise((resolve, reject) => {
        pbkdf2(password, salt, iterations, length, name, (error, derived) => {
          if (error) reject(new KmipError('CryptographicFailure', `PBKDF2 failed: ${error.message}`));
          else resolve(derived);
        });
      }),
  );
}

/** RFC 5869: HKDF-Extract then HKDF-Expand. */
export function hkdf(hash: number, ikm: Buffer, salt: Buffer, info: Buffer, length: number): Buffer {
  const name = hashName(hash);
  const size = hashBytes(hash);
  if (length > 255 * size) throw new KmipError('InvalidField', `HKDF with this hash gives at most ${255 * size * 8} bits; ${length * 8} were asked for`);
  // Section 2.2: a missing salt is a string of HashLen zeros.
  const prk = createHmac(name, salt.length === 0 ? Buffer.alloc(size) : salt).update(ikm).digest();
  const blocks: Buffer[] = [];
  let previous = Buffer.alloc(0);
  for (let i = 1; blocks.length * size < length; i++) {
    previous = createHmac(name, prk).update(previous).update(info).update(Buffer.from([i])).digest();
    blocks.push(previous);
  }
  prk.fill(0);
  return take(blocks, length);
}

function hmacDerive(input: DerivationInput): Buffer {
  const keyHash = input.keyAlgorithm === undefined ? undefined : HMAC_HASH_BY_ALGORITHM.get(input.keyAlgorithm);
  const hash = keyHash ?? prfHash(input.params, undefined, H.SHA_256);
  checkLength(input, hashBytes(hash), 'HMAC derivation');
  return take([createHmac(hashName(hash), input.key).update(requiredData(input, 'HMAC derivation')).digest()], input.length);
}

function hashDerive(input: DerivationInput): Buffer {
  if (input.params.hash === undefined) throw new KmipError('InvalidField', 'HASH derivation needs a Hashing Algorithm in the Cryptographic Parameters (2.1 section 7.12)');
  const name = hashName(input.params.hash);
  // Section 7.12: a hash over "either a derivation key or derivation data".
  const source = input.data.length === 0 ? input.key : optionalData(input, 'HASH derivation');
  const out = createHash(name).update(source).digest();
  checkLength(input, out.length, 'HASH derivation');
  return take([out], input.length);
}

function encryptDerive(input: DerivationInput): Buffer {
  const algorithm = input.params.algorithm ?? input.keyAlgorithm;
  if (algorithm === undefined) throw new KmipError('InvalidField', 'ENCRYPT derivation needs the base key\'s Cryptographic Algorithm');
  const params: CipherParameters = { algorithm, mode: input.params.mode, padding: input.params.padding, tagLength: undefined, randomIv: false, ivLength: undefined };
  const spec = cipherSpec(params, input.key.length);
  const iv = spec.ivBytes === 0 ? undefined : (input.iv ?? Buffer.alloc(spec.ivBytes));
  const out = encrypt({ key: input.key, params, data: requiredData(input, 'ENCRYPT derivation'), iv, aad: undefined }).data;
  checkLength(input, out.length, 'ENCRYPT derivation of this Derivation Data');
  return take([out], input.length);
}

/** A pseudorandom function keyed for SP 800-108, and its output size. */
export interface Prf {
  readonly size: number;
  readonly name: string;
  run(message: Buffer): Buffer;
}

/** CMAC-AES when the parameters (or an AES base key without a hash) say so, otherwise HMAC. */
function prfOf(input: DerivationInput): Prf {
  const { params, keyAlgorithm } = input;
  const cmac = params.mode === Enum.BlockCipherMode.CMAC || params.algorithm === A.AES || (params.hash === undefined && params.algorithm === undefined && keyAlgorithm === A.AES);
  if (cmac) return cmacPrf(input.key);
  return hmacPrf(prfHash(params, keyAlgorithm, H.SHA_256), input.key);
}

export function hmacPrf(hash: number, key: Buffer): Prf {
  const name = hashName(hash);
  return { size: hashBytes(hash), name: `HMAC-${name}`, run: (message) => createHmac(name, key).update(message).digest() };
}

export function cmacPrf(key: Buffer): Prf {
  if (key.length !== 16 && key.length !== 24 && key.length !== 32) {
    throw new KmipError('InvalidField', `a CMAC-AES key is 128, 192 or 256 bits, not ${key.length * 8}`);
  }
  return { size: 16, name: 'CMAC-AES', run: (message) => aesCmac(key, message) };
}

/** NIST SP 800-108r1 sections 4.1-4.3 with a 32-bit counter; `iv` is feedback mode's K(0). */
export function sp800108(method: number, prf: Prf, fixed: Buffer, iv: Buffer, length: number): Buffer {
  const n = Math.ceil(length / prf.size);
  const counter = (i: number): Buffer => {
    const c = Buffer.alloc(4);
    c.writeUInt32BE(i);
    return c;
  };
  const blocks: Buffer[] = [];
  let chain = method === D.NIST800_108_F ? iv : fixed;
  for (let i = 1; i <= n; i++) {
    if (method === D.NIST800_108_C) {
      blocks.push(prf.run(Buffer.concat([counter(i), fixed])));
    } else if (method === D.NIST800_108_F) {
      chain = prf.run(Buffer.concat([chain, counter(i), fixed]));
      blocks.push(chain);
    } else {
      chain = prf.run(chain);
      blocks.push(prf.run(Buffer.concat([chain, counter(i), fixed])));
    }
  }
  return take(blocks, length);
}

/** AWS Signature Version 4 signing key: HMAC-SHA256 chained over Date, Region, Service and "aws4_request". */
function awsSigningKey(input: DerivationInput): Buffer {
  if (input.data.length !== 3) throw new KmipError('InvalidField', `AWS Signature Version 4 derivation takes three Derivation Data (Date, Region, Service), not ${input.data.length}`);
  checkLength(input, 32, 'AWS Signature Version 4 derivation');
  let key = Buffer.concat([Buffer.from('AWS4'), input.key]);
  for (const part of [...input.data, Buffer.from('aws4_request')]) {
    const next = createHmac('sha256', key).update(part).digest();
    key.fill(0);
    key = next;
  }
  return take([key], input.length);
}

/** The first `length` bytes of the blocks, in a buffer of its own; the blocks are wiped. */
function take(blocks: Buffer[], length: number): Buffer {
  const all = Buffer.concat(blocks);
  const out = Buffer.from(all.subarray(0, length));
  all.fill(0);
  for (const block of blocks) block.fill(0);
  return out;
}
