/**
 * Signatures (KMIP 2.1 sections 6.1.55 and 6.1.56): which scheme the Cryptographic
 * Parameters and the key select (RSA PKCS#1 v1.5 or PSS, ECDSA, EdDSA), over data given
 * whole or in parts, or over a digest the client computed. ECDSA signatures are DER (X9.62);
 * EdDSA signatures are RFC 8032's bytes (64 for Ed25519, 114 for Ed448).
 */
import { createHash, createSign, createVerify, sign as nodeSign, verify as nodeVerify } from 'node:crypto';
import type { Hash, KeyObject } from 'node:crypto';
import { Enum } from '../../ttlv/index.js';
import { KmipError } from '../errors.js';
import { curveOfKey, enumName, familyOfKey, okpCurveOfKey } from './asymmetric.js';
import type { Curve, KeyFamily } from './asymmetric.js';
import { hashInfo, rsaSignDigest, rsaVerifyDigest } from './rsa.js';
import type { RsaSignatureScheme } from './rsa.js';

const H = Enum.HashingAlgorithm;
const P = Enum.PaddingMethod;
const DSA = Enum.DigitalSignatureAlgorithm;

export type SignatureScheme = RsaSignatureScheme | { readonly kind: 'ecdsa'; readonly hash: number } | { readonly kind: 'eddsa' };

/**
 * PureEdDSA (RFC 8032) signs the whole message in one pass: data given in parts is gathered
 * until the Final Indicator, up to this many bytes.
 */
export const EDDSA_MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

/** What a request (over the key's Cryptographic Parameters) says about a signature. */
export interface SignatureParameters {
  readonly digitalSignatureAlgorithm: number | undefined;
  readonly padding: number | undefined;
  readonly hash: number | undefined;
  readonly mgfHash: number | undefined;
  readonly saltLength: number | undefined;
  readonly trailerField: number | undefined;
}

const RSA_PKCS1_BY_DSA = new Map<number, number>([
  [DSA.MD5WithRSAEncryption, H.MD5],
  [DSA.SHA_1WithRSAEncryption, H.SHA_1],
  [DSA.SHA_224WithRSAEncryption, H.SHA_224],
  [DSA.SHA_256WithRSAEncryption, H.SHA_256],
  [DSA.SHA_384WithRSAEncryption, H.SHA_384],
  [DSA.SHA_512WithRSAEncryption, H.SHA_512],
  [DSA.SHA3_256WithRSAEncryption, H.SHA3_256],
  [DSA.SHA3_384WithRSAEncryption, H.SHA3_384],
  [DSA.SHA3_512WithRSAEncryption, H.SHA3_512],
]);

const ECDSA_BY_DSA = new Map<number, number>([
  [DSA.ECDSAWithSHA_1, H.SHA_1],
  [DSA.ECDSAWithSHA224, H.SHA_224],
  [DSA.ECDSAWithSHA256, H.SHA_256],
  [DSA.ECDSAWithSHA384, H.SHA_384],
  [DSA.ECDSAWithSHA512, H.SHA_512],
]);

/**
 * The signature scheme for `key`: the Digital Signature Algorithm when given, otherwise the
 * Padding Method (RSA: PKCS#1 v1.5 unless PSS) and the Hashing Algorithm, which 2.1 section
 * 6.1.55 requires of RSA ("the algorithm requires parameters"). ECDSA takes the hash that
 * matches its curve's strength when none is named. The key decides the algorithm: a
 * Cryptographic Algorithm or Padding Method in the parameters that does not fit it is not
 * used (the OASIS case CS-AC-M-3-ECC-13 verifies ECDSA signatures asking for RSA-PSS).
 */
export function signatureScheme(key: KeyObject, params: SignatureParameters): SignatureScheme {
  const family = familyOfKey(key);
  if (family === 'EdDSA') return eddsaScheme(key, params);
  if (family === 'XDH') throw new KmipError('BadCryptographicParameters', `${okpCurveOfKey(key)?.type ?? 'XDH'} keys agree on secrets (RFC 7748); they cannot sign: use an Ed25519 or Ed448 key`);
  const dsa = params.digitalSignatureAlgorithm;
  if (dsa !== undefined) {
    const rsaHash = RSA_PKCS1_BY_DSA.get(dsa);
    const ecHash = ECDSA_BY_DSA.get(dsa);
    const wanted: KeyFamily | undefined = rsaHash !== undefined || dsa === DSA.RSASSA_PSS ? 'RSA' : ecHash !== undefined ? 'EC' : undefined;
    if (wanted === undefined) throw new KmipError('UnsupportedCryptographicParameters', `Digital Signature Algorithm ${enumName(DSA, dsa)} is not supported`);
    if (wanted !== family) throw new KmipError('BadCryptographicParameters', `Digital Signature Algorithm ${enumName(DSA, dsa)} needs an ${wanted} key, not an ${family} key`);
    if (rsaHash !== undefined) return { kind: 'pkcs1', hash: rsaHash };
    if (ecHash !== undefined) return { kind: 'ecdsa', hash: ecHash };
    return pssScheme(params);
  }
  if (family === 'EC') return { kind: 'ecdsa', hash: params.hash === undefined ? curveHash(curveOfKey(key)) : requiredHash(params.hash, 'ECDSA') };
  if (params.padding === P.PSS) return pssScheme(params);
  if (params.padding === undefined || params.padding === P.PKCS1V1_5) return { kind: 'pkcs1', hash: requiredHash(params.hash, 'an RSA signature') };
  throw new KmipError('BadCryptographicParameters', `Padding Method ${enumName(P, params.padding)} is not a signature padding: use PKCS1 v1.5 or PSS`);
}

/**
 * EdDSA: PureEdDSA over the message (RFC 8032 sections 5.1 and 5.2). KMIP has no Digital
 * Signature Algorithm value for it, so none may be named; a Hashing Algorithm, when given,
 * must be the one the scheme uses inside (SHA-512 for Ed25519).
 */
function eddsaScheme(key: KeyObject, params: SignatureParameters): SignatureScheme {
  const curve = okpCurveOfKey(key);
  const name = curve?.type === 'ed448' ? 'Ed448' : 'Ed25519';
  if (params.digitalSignatureAlgorithm !== undefined) {
    throw new KmipError('BadCryptographicParameters', `Digital Signature Algorithm ${enumName(DSA, params.digitalSignatureAlgorithm)} does not apply to an ${name} key: leave it out`);
  }
  // KMIP has no SHAKE256 Hashing Algorithm: an Ed448 request names none.
  const inner = name === 'Ed448' ? undefined : H.SHA_512;
  if (params.hash !== undefined && params.hash !== inner) {
    throw new KmipError('BadCryptographicParameters', `${name} hashes with ${name === 'Ed448' ? 'SHAKE256' : 'SHA-512'} (RFC 8032); Hashing Algorithm ${enumName(H, params.hash)} cannot be used`);
  }
  return { kind: 'eddsa' };
}

/** The SHA-2 hash of a curve's security strength (NIST SP 800-57 part 1, table 3). */
function curveHash(curve: Curve): number {
  if (curve.bits > 384) return H.SHA_512;
  if (curve.bits > 256) return H.SHA_384;
  return H.SHA_256;
}

function requiredHash(value: number | undefined, what: string): number {
  if (value === undefined) throw new KmipError('BadCryptographicParameters', `${what} needs a Hashing Algorithm (or a Digital Signature Algorithm) in the Cryptographic Parameters`);
  hashInfo(value);
  return value;
}

/**
 * PSS: the MGF1 hash defaults to the message hash, not to SHA-1 as 2.1 table 59 says, because
 * that is what clients send (the OASIS CS-AC-M-2 signature verifies only so). Salt Length
 * defaults to the hash length when signing and is recovered when verifying.
 */
function pssScheme(params: SignatureParameters): SignatureScheme {
  const h = requiredHash(params.hash, 'RSASSA-PSS');
  if (params.trailerField !== undefined && params.trailerField !== 1) {
    throw new KmipError('UnsupportedCryptographicParameters', `Trailer Field ${params.trailerField} is not supported: only the one-byte 0xBC trailer`);
  }
  const mgfHash = params.mgfHash ?? h;
  hashInfo(mgfHash);
  if (params.saltLength !== undefined && (!Number.isInteger(params.saltLength) || params.saltLength < 0)) {
    throw new KmipError('BadCryptographicParameters', `Salt Length ${params.saltLength} is not valid`);
  }
  return { kind: 'pss', hash: h, mgfHash, saltLength: params.saltLength };
}

/** A signature being computed over data given in parts (Init Indicator ... Final Indicator). */
export interface SignatureStream {
  update(data: Buffer): void;
}

export interface Signer extends SignatureStream {
  final(key: KeyObject): Buffer;
}

export interface Verifier extends SignatureStream {
  final(key: KeyObject, signature: Buffer): boolean;
}

/** The message of an EdDSA signature, gathered part by part up to EDDSA_MAX_MESSAGE_BYTES. */
class MessageParts {
  readonly #parts: Buffer[] = [];
  #size = 0;

  add(data: Buffer): void {
    if (this.#size + data.length > EDDSA_MAX_MESSAGE_BYTES) {
      throw new KmipError('ServerLimitExceeded', `an EdDSA signature covers at most ${EDDSA_MAX_MESSAGE_BYTES} bytes of data given in parts`);
    }
    this.#parts.push(Buffer.from(data));
    this.#size += data.length;
  }

  whole(): Buffer {
    return Buffer.concat(this.#parts, this.#size);
  }
}

export function startSign(scheme: SignatureScheme): Signer {
  if (scheme.kind === 'eddsa') {
    const message = new MessageParts();
    return {
      update: (data) => message.add(data),
      final: (key) => {
        try {
          return nodeSign(null, message.whole(), key);
        } catch {
          throw new KmipError('CryptographicFailure', 'the EdDSA signature could not be computed with this key');
        }
      },
    };
  }
  if (scheme.kind === 'ecdsa') {
    const signer = createSign(hashInfo(scheme.hash).name);
    return { update: (data) => void signer.update(data), final: (key) => finishEcdsa(() => signer.sign({ key, dsaEncoding: 'der' })) };
  }
  const h: Hash = createHash(hashInfo(scheme.hash).name);
  return { update: (data) => void h.update(data), final: (key) => rsaSignDigest(key, scheme, h.digest()) };
}

export function startVerify(scheme: SignatureScheme): Verifier {
  if (scheme.kind === 'eddsa') {
    const message = new MessageParts();
    return {
      update: (data) => message.add(data),
      final: (key, signature) => {
        try {
          return nodeVerify(null, message.whole(), key, signature);
        } catch {
          return false;
        }
      },
    };
  }
  if (scheme.kind === 'ecdsa') {
    const verifier = createVerify(hashInfo(scheme.hash).name);
    return {
      update: (data) => void verifier.update(data),
      final: (key, signature) => {
        try {
          return verifier.verify({ key, dsaEncoding: 'der' }, signature);
        } catch {
          return false;
        }
      },
    };
  }
  const h: Hash = createHash(hashInfo(scheme.hash).name);
  return { update: (data) => void h.update(data), final: (key, signature) => rsaVerifyDigest(key, scheme, h.digest(), signature) };
}

function finishEcdsa(run: () => Buffer): Buffer {
  try {
    return run();
  } catch {
    throw new KmipError('CryptographicFailure', 'the ECDSA signature could not be computed with this key');
  }
}

export function sign(key: KeyObject, scheme: SignatureScheme, data: Buffer): Buffer {
  const signer = startSign(scheme);
  signer.update(data);
  return signer.final(key);
}

export function verify(key: KeyObject, scheme: SignatureScheme, data: Buffer, signature: Buffer): boolean {
  const verifier = startVerify(scheme);
  verifier.update(data);
  return verifier.final(key, signature);
}

/** A signature of Digested Data, the digest the client computed. */
export function signDigest(key: KeyObject, scheme: SignatureScheme, digest: Buffer): Buffer {
  return rsaSignDigest(key, digestScheme(scheme, digest), digest);
}

/** Whether `signature` is a signature of Digested Data. */
export function verifyDigest(key: KeyObject, scheme: SignatureScheme, digest: Buffer, signature: Buffer): boolean {
  return rsaVerifyDigest(key, digestScheme(scheme, digest), digest, signature);
}

/** node's ECDSA always hashes what it signs, and PureEdDSA signs messages: only RSA signs a digest given. */
function digestScheme(scheme: SignatureScheme, digest: Buffer): RsaSignatureScheme {
  if (scheme.kind === 'ecdsa') throw new KmipError('FeatureNotSupported', 'ECDSA over Digested Data is not offered: send the Data itself');
  if (scheme.kind === 'eddsa') throw new KmipError('FeatureNotSupported', 'EdDSA signs the message itself (PureEdDSA, RFC 8032); HashEdDSA over Digested Data is not offered: send the Data');
  const { name, bytes } = hashInfo(scheme.hash);
  if (digest.length !== bytes) throw new KmipError('InvalidField', `Digested Data is ${digest.length} bytes; a ${name} digest is ${bytes}`);
  return scheme;
}

