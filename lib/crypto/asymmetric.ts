/**
 * Asymmetric keys with node:crypto: RSA and EC key pairs, Edwards (Ed25519, Ed448) and
 * Montgomery (X25519, X448) key pairs, and their KMIP key formats (KMIP 2.1 section 3, 1.4
 * section 2.2: Raw, PKCS#1, PKCS#8, X.509 SubjectPublicKeyInfo, SEC1 EC Private Key,
 * Transparent RSA and EC keys). Signatures are in signature.ts, RSA encryption and the RSA
 * encodings in rsa.ts.
 */
import { ECDH, createECDH, createPrivateKey, createPublicKey, generateKeyPair as nodeGenerateKeyPair } from 'node:crypto';
import type { JsonWebKey, KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { Enum } from '../../ttlv/index.js';
import { KmipError } from '../errors.js';
import { cryptoThreads } from './thread-pool.js';

const A = Enum.CryptographicAlgorithm;
const F = Enum.KeyFormatType;
const C = Enum.RecommendedCurve;

// ---------------------------------------------------------------------------------------
// Key families and curves

/**
 * RSA, EC over the NIST and SEC curves, EdDSA (RFC 8032: Ed25519, Ed448) and XDH (RFC
 * 7748: X25519, X448, the Diffie-Hellman functions on the Montgomery curves).
 */
export type KeyFamily = 'RSA' | 'EC' | 'EdDSA' | 'XDH';

/**
 * The family of keys a KMIP Cryptographic Algorithm names; undefined for symmetric ones.
 * ECDH on CURVE25519 or CURVE448 is XDH: the caller decides that from the curve (okpCurve).
 */
export function keyFamily(algorithm: number): KeyFamily | undefined {
  if (algorithm === A.RSA) return 'RSA';
  if (algorithm === A.EC || algorithm === A.ECDSA || algorithm === A.ECDH || algorithm === A.ECMQV) return 'EC';
  if (algorithm === A.Ed25519 || algorithm === A.Ed448) return 'EdDSA';
  return undefined;
}

/** An Edwards or Montgomery curve: node's "OKP" (octet key pair) keys, RFC 8037. */
export interface OkpCurve {
  /** node's asymmetricKeyType. */
  readonly type: 'ed25519' | 'ed448' | 'x25519' | 'x448';
  readonly family: 'EdDSA' | 'XDH';
  /** Recommended Curve enumeration value (2.x): CURVE25519 or CURVE448 for both uses of a curve. */
  readonly code: number;
  /** Cryptographic Algorithm of a key generated on it: Ed25519 / Ed448, or ECDH. */
  readonly algorithm: number;
  /** Cryptographic Length: the bit size of the curve's field (2^255 - 19, 2^448 - 2^224 - 1). */
  readonly bits: number;
  /** Bytes of the private key and of the public key (RFC 8032 section 5, RFC 7748 section 5). */
  readonly privateBytes: number;
  readonly publicBytes: number;
  /** The last byte of the algorithm's OID, 1.3.101.x (RFC 8410 section 3). */
  readonly oidArc: number;
}

export const OKP_CURVES: readonly OkpCurve[] = [
  { type: 'ed25519', family: 'EdDSA', code: C.CURVE25519, algorithm: A.Ed25519, bits: 255, privateBytes: 32, publicBytes: 32, oidArc: 112 },
  { type: 'ed448', family: 'EdDSA', code: C.CURVE448, algorithm: A.Ed448, bits: 448, privateBytes: 57, publicBytes: 57, oidArc: 113 },
  { type: 'x25519', family: 'XDH', code: C.CURVE25519, algorithm: A.ECDH, bits: 255, privateBytes: 32, publicBytes: 32, oidArc: 110 },
  { type: 'x448', family: 'XDH', code: C.CURVE448, algorithm: A.ECDH, bits: 448, privateBytes: 56, publicBytes: 56, oidArc: 111 },
];

/** Whether a Recommended Curve is an Edwards/Montgomery one (CURVE25519, CURVE448). */
export function isOkpCurveCode(code: number): boolean {
  return code === C.CURVE25519 || code === C.CURVE448;
}

/**
 * The curve of a key from its Cryptographic Algorithm and Recommended Curve: Ed25519 / Ed448
 * name their curve; ECDH or EC on CURVE25519 / CURVE448 is X25519 / X448 (RFC 7748 calls
 * the Montgomery curves "curve25519" and "curve448"). Undefined when neither says so.
 */
export function okpCurve(algorithm: number | undefined, curveCode: number | undefined): OkpCurve | undefined {
  const byType = (type: OkpCurve['type']): OkpCurve => OKP_CURVES.find((c) => c.type === type) as OkpCurve;
  if (algorithm === A.Ed25519 || algorithm === A.Ed448) {
    const curve = byType(algorithm === A.Ed25519 ? 'ed25519' : 'ed448');
    if (curveCode !== undefined && curveCode !== curve.code) {
      throw new KmipError('InvalidField', `Cryptographic Algorithm ${enumName(A, algorithm)} is on ${enumName(C, curve.code)}, not ${enumName(C, curveCode)}`);
    }
    return curve;
  }
  if (curveCode === undefined || !isOkpCurveCode(curveCode)) return undefined;
  if (algorithm === A.ECDSA) {
    throw new KmipError('InvalidField', `ECDSA is not defined on ${enumName(C, curveCode)}: use Cryptographic Algorithm ${curveCode === C.CURVE25519 ? 'Ed25519' : 'Ed448'} for signatures`);
  }
  return byType(curveCode === C.CURVE25519 ? 'x25519' : 'x448');
}

/** The Edwards/Montgomery curve of a node key; undefined for RSA and EC keys. */
export function okpCurveOfKey(key: KeyObject): OkpCurve | undefined {
  return OKP_CURVES.find((c) => c.type === key.asymmetricKeyType);
}

export interface Curve {
  /** Recommended Curve enumeration value. */
  readonly code: number;
  /** OpenSSL's name, as node reports it in asymmetricKeyDetails. */
  readonly name: string;
  /** JWK "crv", the form node imports EC keys from parts in. */
  readonly jwk: string;
  /** Cryptographic Length: the bit length of the group order (2.1 section 6.1.9). */
  readonly bits: number;
}

/** The curves node can import from their parts (JWK); P-224 and the binary curves are not among them. */
export const CURVES: readonly Curve[] = [
  { code: C.P_256, name: 'prime256v1', jwk: 'P-256', bits: 256 },
  { code: C.P_384, name: 'secp384r1', jwk: 'P-384', bits: 384 },
  { code: C.P_521, name: 'secp521r1', jwk: 'P-521', bits: 521 },
  { code: C.SECP256K1, name: 'secp256k1', jwk: 'secp256k1', bits: 256 },
];

export function curveByCode(code: number): Curve {
  const curve = CURVES.find((c) => c.code === code);
  if (curve === undefined) throw new KmipError('FeatureNotSupported', `Recommended Curve ${enumName(C, code)} is not supported: use P-256, P-384, P-521 or secp256k1`);
  return curve;
}

/** The NIST curve of a Cryptographic Length, when a request names no curve. */
export function curveByLength(bits: number): Curve {
  const curve = CURVES.find((c) => c.bits === bits && c.jwk.startsWith('P-'));
  if (curve === undefined) throw new KmipError('InvalidField', `Cryptographic Length ${bits} names no supported curve: EC keys are 256, 384 or 521 bits`);
  return curve;
}

export function curveOfKey(key: KeyObject): Curve {
  const name = key.asymmetricKeyDetails?.namedCurve;
  const curve = CURVES.find((c) => c.name === name);
  if (curve === undefined) throw new KmipError('FeatureNotSupported', `EC keys on curve ${name ?? '(unnamed)'} are not supported`);
  return curve;
}

export function familyOfKey(key: KeyObject): KeyFamily {
  if (key.asymmetricKeyType === 'rsa') return 'RSA';
  if (key.asymmetricKeyType === 'ec') return 'EC';
  const okp = okpCurveOfKey(key);
  if (okp !== undefined) return okp.family;
  throw new KmipError('FeatureNotSupported', `${key.asymmetricKeyType ?? 'unknown'} keys are not supported`);
}

/** Cryptographic Length of a key: the modulus bits of RSA, the order bits of an EC curve. */
export function keyBits(key: KeyObject): number {
  const okp = okpCurveOfKey(key);
  if (okp !== undefined) return okp.bits;
  if (familyOfKey(key) === 'EC') return curveOfKey(key).bits;
  const bits = key.asymmetricKeyDetails?.modulusLength;
  if (bits === undefined) throw new KmipError('CryptographicFailure', 'the RSA key has no modulus length');
  return bits;
}

// ---------------------------------------------------------------------------------------
// Generation

export type KeyPairSpec =
  | { readonly family: 'RSA'; readonly bits: number; readonly publicExponent: number }
  | { readonly family: 'EC'; readonly curve: Curve }
  | { readonly family: 'EdDSA' | 'XDH'; readonly curve: OkpCurve };

export interface KeyPair {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
}

export const RSA_MIN_BITS = 1024;
export const RSA_MAX_BITS = 8192;
export const DEFAULT_PUBLIC_EXPONENT = 65537;

const generate = promisify(nodeGenerateKeyPair);

/**
 * A fresh key pair. RSA generation takes seconds for large moduli: it runs on the thread pool,
 * in turn with the other long jobs there, so that commits still find a thread to sync on.
 */
export async function generateKeyPair(spec: KeyPairSpec): Promise<KeyPair> {
  if (spec.family === 'EC') return generate('ec', { namedCurve: spec.curve.name });
  if (spec.family !== 'RSA') return generateOkp(spec.curve.type);
  if (!Number.isInteger(spec.bits) || spec.bits < RSA_MIN_BITS || spec.bits > RSA_MAX_BITS || spec.bits % 8 !== 0) {
    throw new KmipError('InvalidField', `Cryptographic Length ${spec.bits} is not valid for RSA: ${RSA_MIN_BITS} to ${RSA_MAX_BITS} bits, a multiple of 8`);
  }
  const e = spec.publicExponent;
  if (!Number.isSafeInteger(e) || e < 3 || e % 2 === 0 || e > 0xffffffff) {
    throw new KmipError('InvalidField', `public exponent ${e} is not valid: an odd number from 3 to 2^32-1`);
  }
  return cryptoThreads.run(() => generate('rsa', { modulusLength: spec.bits, publicExponent: e }));
}

/** Edwards and Montgomery key pairs are quick to make; node still does it on its thread pool. */
function generateOkp(type: OkpCurve['type']): Promise<KeyPair> {
  switch (type) {
    case 'ed25519':
      return generate('ed25519', undefined);
    case 'ed448':
      return generate('ed448', undefined);
    case 'x25519':
      return generate('x25519', undefined);
    case 'x448':
      return generate('x448', undefined);
  }
}

/** The spec of a pair like `key`'s: same modulus size and public exponent, or same curve (Re-key Key Pair). */
export function pairSpecOf(key: KeyObject): KeyPairSpec {
  const okp = okpCurveOfKey(key);
  if (okp !== undefined) return { family: okp.family, curve: okp };
  if (familyOfKey(key) === 'EC') return { family: 'EC', curve: curveOfKey(key) };
  const exponent = key.asymmetricKeyDetails?.publicExponent;
  return { family: 'RSA', bits: keyBits(key), publicExponent: exponent === undefined ? DEFAULT_PUBLIC_EXPONENT : Number(exponent) };
}

// ---------------------------------------------------------------------------------------
// Key formats

/** Transparent RSA Public Key (2.1 section 3.8). */
export interface TransparentRsaPublicKey {
  readonly kind: 'rsa-public';
  readonly modulus: bigint;
  readonly publicExponent: bigint;
}

/** Transparent RSA Private Key (2.1 section 3.7): Modulus and one of d, (p, q) or (dP, dQ). */
export interface TransparentRsaPrivateKey {
  readonly kind: 'rsa-private';
  readonly modulus: bigint;
  readonly publicExponent?: bigint;
  readonly privateExponent?: bigint;
  readonly p?: bigint;
  readonly q?: bigint;
  readonly primeExponentP?: bigint;
  readonly primeExponentQ?: bigint;
  readonly crtCoefficient?: bigint;
}

/** Transparent EC Private Key (2.1 section 3.11; ECDSA/ECDH/ECMQV in 1.x). */
export interface TransparentEcPrivateKey {
  readonly kind: 'ec-private';
  readonly curve: number;
  readonly d: bigint;
}

/** Transparent EC Public Key (2.1 section 3.12): Q as an uncompressed or compressed point. */
export interface TransparentEcPublicKey {
  readonly kind: 'ec-public';
  readonly curve: number;
  readonly q: Buffer;
}

export type TransparentKey = TransparentRsaPublicKey | TransparentRsaPrivateKey | TransparentEcPrivateKey | TransparentEcPublicKey;

/** Key material in a KMIP format: DER bytes, or the parts of a transparent key. */
export type EncodedKey = Buffer | TransparentKey;

const PRIVATE_TRANSPARENT_EC = new Set<number>([F.TransparentECPrivateKey, F.TransparentECDSAPrivateKey, F.TransparentECDHPrivateKey, F.TransparentECMQVPrivateKey]);
const PUBLIC_TRANSPARENT_EC = new Set<number>([F.TransparentECPublicKey, F.TransparentECDSAPublicKey, F.TransparentECDHPublicKey, F.TransparentECMQVPublicKey]);

export function isTransparentEcFormat(format: number): boolean {
  return PRIVATE_TRANSPARENT_EC.has(format) || PUBLIC_TRANSPARENT_EC.has(format);
}

/** The DER type node reads a private key format as. */
function privateDerType(format: number): 'pkcs1' | 'pkcs8' | 'sec1' | undefined {
  if (format === F.PKCS_1) return 'pkcs1';
  if (format === F.PKCS_8) return 'pkcs8';
  if (format === F.ECPrivateKey) return 'sec1';
  return undefined;
}

/** The DER type node reads a public key format as; KMIP's X.509 is SubjectPublicKeyInfo. */
function publicDerType(format: number): 'pkcs1' | 'spki' | undefined {
  if (format === F.PKCS_1) return 'pkcs1';
  if (format === F.X_509) return 'spki';
  return undefined;
}

function formatNotSupported(format: number, what: string): KmipError {
  return new KmipError('KeyFormatTypeNotSupported', `Key Format Type ${enumName(F, format)} does not hold ${what}`);
}

function badKey(what: string): KmipError {
  return new KmipError('InvalidField', `the key material is not a valid ${what}`);
}

/**
 * A private key from its KMIP encoding. `algorithm` is the Key Block's Cryptographic
 * Algorithm: Raw and Transparent EC keys of CURVE25519 / CURVE448 need it to tell Ed25519
 * from X25519 (Ed448 from X448).
 */
export function importPrivateKey(format: number, material: EncodedKey, algorithm?: number): KeyObject {
  const okp = okpImport('private', format, material, algorithm);
  if (okp !== undefined) return okp;
  if (Buffer.isBuffer(material)) {
    const type = privateDerType(format);
    if (type === undefined) throw formatNotSupported(format, 'a private key as bytes');
    try {
      return createPrivateKey({ key: material, format: 'der', type });
    } catch {
      throw badKey(`${enumName(F, format)} private key`);
    }
  }
  if (material.kind === 'rsa-private' && format === F.TransparentRSAPrivateKey) return importJwk(rsaPrivateJwk(material), 'private');
  if (material.kind === 'ec-private' && PRIVATE_TRANSPARENT_EC.has(format)) return importJwk(ecPrivateJwk(material), 'private');
  throw formatNotSupported(format, 'this private key');
}

/** A public key from its KMIP encoding (`algorithm` as for importPrivateKey). */
export function importPublicKey(format: number, material: EncodedKey, algorithm?: number): KeyObject {
  const okp = okpImport('public', format, material, algorithm);
  if (okp !== undefined) return okp;
  if (Buffer.isBuffer(material)) {
    const type = publicDerType(format);
    if (type === undefined) throw formatNotSupported(format, 'a public key as bytes');
    try {
      return createPublicKey({ key: material, format: 'der', type });
    } catch {
      throw badKey(`${enumName(F, format)} public key`);
    }
  }
  if (material.kind === 'rsa-public' && format === F.TransparentRSAPublicKey) {
    return importJwk({ kty: 'RSA', n: b64(material.modulus), e: b64(material.publicExponent) }, 'public');
  }
  if (material.kind === 'ec-public' && PUBLIC_TRANSPARENT_EC.has(format)) return importJwk(ecPublicJwk(material), 'public');
  throw formatNotSupported(format, 'this public key');
}

function importJwk(jwk: JsonWebKey, side: 'private' | 'public'): KeyObject {
  try {
    return side === 'private' ? createPrivateKey({ key: jwk, format: 'jwk' }) : createPublicKey({ key: jwk, format: 'jwk' });
  } catch {
    throw badKey(`transparent ${side} key`);
  }
}

/** The key in a KMIP format; Key Format Type Not Supported when the format cannot hold it. */
export function exportKey(key: KeyObject, format: number): EncodedKey {
  const side = key.type === 'private' ? 'private' : 'public';
  const okp = okpCurveOfKey(key);
  if (okp !== undefined) return exportOkp(key, okp, side, format);
  const family = familyOfKey(key);
  const type = side === 'private' ? privateDerType(format) : publicDerType(format);
  if (type === 'pkcs1' && family !== 'RSA') throw formatNotSupported(format, `an ${family} key`);
  if (type === 'sec1' && family !== 'EC') throw formatNotSupported(format, `an ${family} key`);
  if (type === 'spki') return key.export({ format: 'der', type });
  if (type !== undefined) return side === 'private' ? key.export({ format: 'der', type }) : key.export({ format: 'der', type: 'pkcs1' });
  const jwk = key.export({ format: 'jwk' });
  if (family === 'RSA' && side === 'public' && format === F.TransparentRSAPublicKey) {
    return { kind: 'rsa-public', modulus: fromB64(jwk.n), publicExponent: fromB64(jwk.e) };
  }
  if (family === 'RSA' && side === 'private' && format === F.TransparentRSAPrivateKey) {
    return {
      kind: 'rsa-private',
      modulus: fromB64(jwk.n),
      publicExponent: fromB64(jwk.e),
      privateExponent: fromB64(jwk.d),
      p: fromB64(jwk.p),
      q: fromB64(jwk.q),
      primeExponentP: fromB64(jwk.dp),
      primeExponentQ: fromB64(jwk.dq),
      crtCoefficient: fromB64(jwk.qi),
    };
  }
  if (family === 'EC' && side === 'private' && PRIVATE_TRANSPARENT_EC.has(format)) {
    return { kind: 'ec-private', curve: curveOfKey(key).code, d: fromB64(jwk.d) };
  }
  if (family === 'EC' && side === 'public' && PUBLIC_TRANSPARENT_EC.has(format)) {
    return { kind: 'ec-public', curve: curveOfKey(key).code, q: Buffer.concat([Buffer.of(4), fromB64Bytes(jwk.x), fromB64Bytes(jwk.y)]) };
  }
  throw formatNotSupported(format, `an ${family} ${side} key`);
}

/** The formats a key of this family and side can be served in. */
export function formatsFor(family: KeyFamily, side: 'private' | 'public'): readonly number[] {
  if (family === 'EdDSA' || family === 'XDH') return side === 'private' ? [F.Raw, F.PKCS_8, F.TransparentECPrivateKey] : [F.Raw, F.X_509, F.TransparentECPublicKey];
  if (family === 'RSA') return side === 'private' ? [F.PKCS_1, F.PKCS_8, F.TransparentRSAPrivateKey] : [F.PKCS_1, F.X_509, F.TransparentRSAPublicKey];
  return side === 'private' ? [F.PKCS_8, F.ECPrivateKey, ...PRIVATE_TRANSPARENT_EC] : [F.X_509, ...PUBLIC_TRANSPARENT_EC];
}

/** The format a server stores a generated key in (2.1 section 4.26, table 81). */
export function defaultFormat(family: KeyFamily, side: 'private' | 'public'): number {
  if (family === 'RSA') return F.PKCS_1;
  // Edwards and Montgomery keys: the RFC 8410 encodings every library reads.
  if (family === 'EdDSA' || family === 'XDH') return side === 'private' ? F.PKCS_8 : F.X_509;
  return side === 'private' ? F.TransparentECPrivateKey : F.TransparentECPublicKey;
}

function rsaPrivateJwk(key: TransparentRsaPrivateKey): JsonWebKey {
  const n = key.modulus;
  let { p, q } = key;
  const e = key.publicExponent;
  if (e === undefined) throw new KmipError('FeatureNotSupported', 'a Transparent RSA Private Key without its Public Exponent cannot be used');
  let d = key.privateExponent;
  if ((p === undefined || q === undefined) && d !== undefined) [p, q] = factorModulus(n, e, d);
  if (p === undefined || q === undefined || p * q !== n) throw badKey('Transparent RSA Private Key: its primes do not match the Modulus');
  // FIPS 186-4 appendix B.3.1: d is the inverse of e modulo lambda(n) = lcm(p - 1, q - 1).
  const lambda = ((p - 1n) * (q - 1n)) / gcd(p - 1n, q - 1n);
  d ??= modInverse(e, lambda);
  return {
    kty: 'RSA',
    n: b64(n),
    e: b64(e),
    d: b64(d),
    p: b64(p),
    q: b64(q),
    dp: b64(key.primeExponentP ?? d % (p - 1n)),
    dq: b64(key.primeExponentQ ?? d % (q - 1n)),
    qi: b64(key.crtCoefficient ?? modInverse(q, p)),
  };
}

/**
 * The primes of n from (n, e, d): k = d*e - 1 is a multiple of lambda(n), so for a random g
 * some g^(k/2^i) is a non-trivial square root of 1, whose gcd with n is a prime
 * (RFC 8017 has no such step; NIST SP 800-56B Rev. 2 appendix C.2 describes the method).
 */
function factorModulus(n: bigint, e: bigint, d: bigint): [bigint, bigint] {
  const k = d * e - 1n;
  if (k <= 0n || k % 2n !== 0n) throw badKey('Transparent RSA Private Key: its exponents do not match');
  let r = k;
  let t = 0;
  while (r % 2n === 0n) {
    r /= 2n;
    t++;
  }
  for (let g = 2n; g < 200n; g++) {
    let x = modPow(g, r, n);
    if (x === 1n || x === n - 1n) continue;
    for (let i = 0; i < t; i++) {
      const y = (x * x) % n;
      if (y === 1n) {
        const p = gcd(x - 1n, n);
        // PKCS#1 keys conventionally list the larger prime first.
        if (p > 1n && p < n) return p > n / p ? [p, n / p] : [n / p, p];
      }
      if (y === n - 1n) break;
      x = y;
    }
  }
  throw badKey('Transparent RSA Private Key: its modulus cannot be factored from its exponents');
}

function ecPrivateJwk(key: TransparentEcPrivateKey): JsonWebKey {
  const curve = curveByCode(key.curve);
  const size = Math.ceil(curve.bits / 8);
  const d = toBytes(key.d, size);
  let point: Buffer;
  try {
    const ecdh = createECDH(curve.name);
    ecdh.setPrivateKey(d);
    point = ecdh.getPublicKey();
  } catch {
    throw badKey(`Transparent EC Private Key on ${curve.jwk}`);
  }
  return { kty: 'EC', crv: curve.jwk, x: point.subarray(1, 1 + size).toString('base64url'), y: point.subarray(1 + size).toString('base64url'), d: d.toString('base64url') };
}

function ecPublicJwk(key: TransparentEcPublicKey): JsonWebKey {
  const curve = curveByCode(key.curve);
  const size = Math.ceil(curve.bits / 8);
  let point: Buffer | string;
  try {
    // A compressed point (0x02/0x03) is expanded; an uncompressed one comes back as it is.
    point = ECDH.convertKey(key.q, curve.name, undefined, undefined, 'uncompressed');
  } catch {
    throw badKey(`Transparent EC Public Key on ${curve.jwk}`);
  }
  if (!Buffer.isBuffer(point) || point.length !== 1 + 2 * size) throw badKey(`Transparent EC Public Key on ${curve.jwk}`);
  return { kty: 'EC', crv: curve.jwk, x: point.subarray(1, 1 + size).toString('base64url'), y: point.subarray(1 + size).toString('base64url') };
}

// ---------------------------------------------------------------------------------------
// Edwards and Montgomery keys (RFC 8410 encodings; node reads and writes them as OKP keys)

/**
 * The key when `material` is an Edwards or Montgomery key: PKCS#8 / SPKI DER with its RFC
 * 8410 OID, Raw bytes (RFC 8032 / RFC 7748 encodings), or Transparent EC with Recommended
 * Curve CURVE25519 / CURVE448, whose D is the private key's bytes read as a big-endian
 * integer and whose Q String is the public key's bytes. Undefined for other keys.
 */
function okpImport(side: 'private' | 'public', format: number, material: EncodedKey, algorithm: number | undefined): KeyObject | undefined {
  if (Buffer.isBuffer(material)) {
    if (format === F.Raw) {
      const curve = okpCurve(algorithm, undefined) ?? rawMontgomery(algorithm, material.length, side);
      if (curve === undefined) throw formatNotSupported(format, `a ${side} key of Cryptographic Algorithm ${algorithm === undefined ? '(none)' : enumName(A, algorithm)}`);
      return okpFromRaw(curve, side, material);
    }
    // PKCS#8 and SPKI name their algorithm: node reads them with the other DER keys.
    return undefined;
  }
  if (material.kind !== 'ec-private' && material.kind !== 'ec-public') return undefined;
  if (!isOkpCurveCode(material.curve)) return undefined;
  const curve = okpCurve(algorithm === A.Ed25519 || algorithm === A.Ed448 ? algorithm : undefined, material.curve);
  if (curve === undefined) return undefined;
  if (material.kind === 'ec-private') {
    if (side !== 'private' || !PRIVATE_TRANSPARENT_EC.has(format)) throw formatNotSupported(format, 'this key');
    return okpFromRaw(curve, side, toBytes(material.d, curve.privateBytes));
  }
  if (side !== 'public' || !PUBLIC_TRANSPARENT_EC.has(format)) throw formatNotSupported(format, 'this key');
  return okpFromRaw(curve, side, material.q);
}

/** Raw bytes of an ECDH (or EC) key: X25519 or X448 by their length. */
function rawMontgomery(algorithm: number | undefined, length: number, side: 'private' | 'public'): OkpCurve | undefined {
  if (algorithm !== A.ECDH && algorithm !== A.EC) return undefined;
  return OKP_CURVES.find((c) => c.family === 'XDH' && (side === 'private' ? c.privateBytes : c.publicBytes) === length);
}

/** A key from its raw bytes, through the fixed RFC 8410 DER around them. */
function okpFromRaw(curve: OkpCurve, side: 'private' | 'public', raw: Buffer): KeyObject {
  const size = side === 'private' ? curve.privateBytes : curve.publicBytes;
  if (raw.length !== size) throw badKey(`${curve.type} ${side} key: it must be ${size} bytes, not ${raw.length}`);
  const algorithmId = Buffer.from([0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, curve.oidArc]);
  try {
    if (side === 'private') {
      // OneAsymmetricKey v1: version 0, AlgorithmIdentifier, OCTET STRING { OCTET STRING raw }.
      const inner = Buffer.concat([Buffer.from([0x02, 0x01, 0x00]), algorithmId, Buffer.from([0x04, size + 2, 0x04, size]), raw]);
      return createPrivateKey({ key: Buffer.concat([Buffer.from([0x30, inner.length]), inner]), format: 'der', type: 'pkcs8' });
    }
    const inner = Buffer.concat([algorithmId, Buffer.from([0x03, size + 1, 0x00]), raw]);
    return createPublicKey({ key: Buffer.concat([Buffer.from([0x30, inner.length]), inner]), format: 'der', type: 'spki' });
  } catch {
    throw badKey(`${curve.type} ${side} key`);
  }
}

function exportOkp(key: KeyObject, curve: OkpCurve, side: 'private' | 'public', format: number): EncodedKey {
  if (side === 'private' && format === F.PKCS_8) return key.export({ format: 'der', type: 'pkcs8' });
  if (side === 'public' && format === F.X_509) return key.export({ format: 'der', type: 'spki' });
  const jwk = key.export({ format: 'jwk' });
  const raw = fromB64Bytes(side === 'private' ? jwk.d : jwk.x);
  if (format === F.Raw) return raw;
  if (side === 'private' && PRIVATE_TRANSPARENT_EC.has(format)) return { kind: 'ec-private', curve: curve.code, d: fromBytes(raw) };
  if (side === 'public' && PUBLIC_TRANSPARENT_EC.has(format)) return { kind: 'ec-public', curve: curve.code, q: raw };
  throw formatNotSupported(format, `an ${curve.type} ${side} key`);
}

// ---------------------------------------------------------------------------------------
// Big integers

function b64(value: bigint): string {
  return toBytes(value).toString('base64url');
}

function fromB64(value: string | undefined): bigint {
  return fromBytes(fromB64Bytes(value));
}

function fromB64Bytes(value: string | undefined): Buffer {
  if (value === undefined) throw new KmipError('CryptographicFailure', 'the key lacks a part node was expected to export');
  return Buffer.from(value, 'base64url');
}

/** Unsigned big-endian bytes of a non-negative integer, left-padded to `size` when given. */
export function toBytes(value: bigint, size = 0): Buffer {
  if (value < 0n) throw badKey('key: a negative integer');
  let hex = value.toString(16);
  if (hex.length % 2 === 1) hex = `0${hex}`;
  const bytes = Buffer.from(hex, 'hex');
  if (size === 0 || bytes.length === size) return bytes;
  if (bytes.length > size) throw badKey(`key: an integer longer than ${size} bytes`);
  return Buffer.concat([Buffer.alloc(size - bytes.length), bytes]);
}

export function fromBytes(bytes: Uint8Array): bigint {
  return bytes.length === 0 ? 0n : BigInt(`0x${Buffer.from(bytes).toString('hex')}`);
}

function modPow(base: bigint, exponent: bigint, modulus: bigint): bigint {
  let result = 1n;
  let b = base % modulus;
  for (let e = exponent; e > 0n; e >>= 1n) {
    if (e & 1n) result = (result * b) % modulus;
    b = (b * b) % modulus;
  }
  return result;
}

function gcd(a: bigint, b: bigint): bigint {
  let [x, y] = [a < 0n ? -a : a, b];
  while (y !== 0n) [x, y] = [y, x % y];
  return x;
}

function modInverse(a: bigint, m: bigint): bigint {
  let [oldR, r] = [((a % m) + m) % m, m];
  let [oldS, s] = [1n, 0n];
  while (r !== 0n) {
    const quotient = oldR / r;
    [oldR, r] = [r, oldR - quotient * r];
    [oldS, s] = [s, oldS - quotient * s];
  }
  if (oldR !== 1n) throw badKey('Transparent RSA Private Key: its exponent has no inverse');
  return ((oldS % m) + m) % m;
}

/** The name of an enumeration value, for messages. */
export function enumName(values: Record<string, number>, value: number): string {
  return Object.entries(values).find(([, v]) => v === value)?.[0] ?? `0x${value.toString(16).padStart(8, '0')}`;
}
