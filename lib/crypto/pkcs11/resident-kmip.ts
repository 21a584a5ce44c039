/**
 * KMIP's view of keys held in the HSM: which new keys go there, and how a request's
 * Cryptographic Parameters become a PKCS#11 mechanism. The same rules as the software path
 * (cipher.ts) wherever the token can follow them: the IV is the client's, or random when the
 * client gives none or asks for Random IV; PKCS#5 padding only when asked for; a GCM tag of
 * 16 bytes unless Tag Length says otherwise.
 */
import { randomBytes } from 'node:crypto';
import { Enum } from '../../../ttlv/index.js';
import type { AttributeInstance } from '../../attributes/types.js';
import { KmipError } from '../../errors.js';
import { algorithmName } from '../symmetric.js';
import type { CipherParameters } from '../cipher.js';
import type { ResidentKeyType, ResidentMechanism } from './protocol.js';

const A = Enum.CryptographicAlgorithm;
const M = Enum.BlockCipherMode;
const P = Enum.PaddingMethod;

const HMAC_MECHANISMS = new Map<number, 'SHA_1_HMAC' | 'SHA224_HMAC' | 'SHA256_HMAC' | 'SHA384_HMAC' | 'SHA512_HMAC'>([
  [A.HMAC_SHA1, 'SHA_1_HMAC'],
  [A.HMAC_SHA224, 'SHA224_HMAC'],
  [A.HMAC_SHA256, 'SHA256_HMAC'],
  [A.HMAC_SHA384, 'SHA384_HMAC'],
  [A.HMAC_SHA512, 'SHA512_HMAC'],
]);

/**
 * With hsmResidentKeys `sensitive`: a new key is generated in the HSM when the client asks
 * for Sensitive true or Extractable false (its value must not leave in clear, or at all).
 */
export function wantsResident(policy: 'off' | 'sensitive' | undefined, attributes: readonly AttributeInstance[]): boolean {
  if (policy !== 'sensitive') return false;
  const flag = (name: string): boolean | undefined => {
    const value = attributes.find((a) => a.name === name)?.value;
    return value?.type === 'Boolean' ? value.value : undefined;
  };
  return flag('Sensitive') === true || flag('Extractable') === false;
}

/** The token key type and size for a KMIP algorithm and length; AES and HMAC-SHA* keys only. */
export function residentKeySpec(algorithm: number, bits: number): { keyType: ResidentKeyType; bytes: number } {
  if (algorithm === A.AES) {
    if (bits !== 128 && bits !== 192 && bits !== 256) throw new KmipError('InvalidField', `an AES key is 128, 192 or 256 bits, not ${bits}`);
    return { keyType: 'AES', bytes: bits / 8 };
  }
  if (HMAC_MECHANISMS.has(algorithm)) {
    if (bits % 8 !== 0 || bits < 64 || bits > 4096) throw new KmipError('InvalidField', `an HMAC key held in the HSM is 64 to 4096 bits in whole bytes, not ${bits}`);
    return { keyType: 'GENERIC_SECRET', bytes: bits / 8 };
  }
  throw new KmipError('FeatureNotSupported', `${algorithmName(algorithm)} keys cannot be held in the HSM: AES and HMAC-SHA1/224/256/384/512 keys can`);
}

export interface HsmEncryption {
  readonly mechanism: ResidentMechanism;
  /** The IV the server chose, to return to the client. */
  readonly generatedIv: Buffer | undefined;
  /** GCM: the tag's length in bytes, split off the token's output. */
  readonly tagBytes: number | undefined;
}

/** The mechanism for encrypting with an AES key held in the HSM. */
export function hsmEncryption(params: CipherParameters, iv: Buffer | undefined, aad: Buffer | undefined, data: Buffer): HsmEncryption {
  const mode = modeOf(params);
  if (mode === M.ECB) {
    checkBlocks(params, data);
    return { mechanism: { name: 'AES_ECB' }, generatedIv: undefined, tagBytes: undefined };
  }
  const { chosen, generated } = chooseIv(params, iv, mode === M.GCM ? 12 : 16);
  if (mode === M.CBC) {
    if (!padded(params)) checkBlocks(params, data);
    return { mechanism: { name: padded(params) ? 'AES_CBC_PAD' : 'AES_CBC', iv: checkIv(chosen, 16) }, generatedIv: generated ? chosen : undefined, tagBytes: undefined };
  }
  const tagBytes = tagLength(params.tagLength ?? 16);
  return { mechanism: { name: 'AES_GCM', iv: chosen, aad: aad ?? Buffer.alloc(0), tagBits: tagBytes * 8 }, generatedIv: generated ? chosen : undefined, tagBytes };
}

/** The mechanism and token input for decrypting with an AES key held in the HSM (GCM: data then tag). */
export function hsmDecryption(params: CipherParameters, iv: Buffer | undefined, aad: Buffer | undefined, tag: Buffer | undefined, data: Buffer): { mechanism: ResidentMechanism; input: Buffer } {
  const mode = modeOf(params);
  if (mode === M.ECB) {
    checkBlocks(params, data);
    return { mechanism: { name: 'AES_ECB' }, input: data };
  }
  if (iv === undefined) throw new KmipError('MissingInitializationVector', 'this mode needs the IV/Counter/Nonce the data was encrypted with');
  if (mode === M.CBC) {
    if (data.length % 16 !== 0) throw new KmipError('CryptographicFailure', 'the data is not a whole number of blocks or its padding is wrong');
    return { mechanism: { name: padded(params) ? 'AES_CBC_PAD' : 'AES_CBC', iv: checkIv(iv, 16) }, input: data };
  }
  if (tag === undefined) throw new KmipError('InvalidField', 'authenticated decryption needs the Authenticated Encryption Tag');
  const bytes = tagLength(tag.length);
  return { mechanism: { name: 'AES_GCM', iv, aad: aad ?? Buffer.alloc(0), tagBits: bytes * 8 }, input: Buffer.concat([data, tag]) };
}

/** The MAC mechanism: CMAC for an AES key, the request's (or key's) HMAC for an HMAC key. */
export function hsmMac(params: CipherParameters, keyAlgorithm: number): ResidentMechanism {
  if (keyAlgorithm === A.AES) {
    if (params.algorithm === A.AES && (params.mode === undefined || params.mode === M.CMAC)) return { name: 'AES_CMAC' };
    throw new KmipError('FeatureNotSupported', `an AES key held in the HSM makes CMACs, not ${algorithmName(params.algorithm)} MACs`);
  }
  const name = HMAC_MECHANISMS.get(params.algorithm);
  if (name === undefined || !HMAC_MECHANISMS.has(keyAlgorithm)) {
    throw new KmipError('FeatureNotSupported', `${algorithmName(params.algorithm)} cannot compute a MAC with a ${algorithmName(keyAlgorithm)} key held in the HSM`);
  }
  return { name };
}

function modeOf(params: CipherParameters): number {
  if (params.algorithm !== A.AES) {
    throw new KmipError('FeatureNotSupported', `a key held in the HSM encrypts with AES only, not ${algorithmName(params.algorithm)}`);
  }
  const mode = params.mode === M.AEAD ? M.GCM : (params.mode ?? M.CBC);
  if (mode !== M.ECB && mode !== M.CBC && mode !== M.GCM) {
    const name = Object.entries(M).find(([, v]) => v === mode)?.[0] ?? `0x${mode.toString(16)}`;
    throw new KmipError('FeatureNotSupported', `Block Cipher Mode ${name} is not offered with a key held in the HSM: CBC, ECB and GCM are`);
  }
  return mode;
}

function padded(params: CipherParameters): boolean {
  if (params.padding === undefined || params.padding === P.None) return false;
  if (params.padding === P.PKCS5 && modeOf(params) === M.CBC) return true;
  throw new KmipError('FeatureNotSupported', 'with a key held in the HSM, PKCS#5 padding is offered in CBC mode only');
}

function checkBlocks(params: CipherParameters, data: Buffer): void {
  if (params.padding !== undefined && params.padding !== P.None && modeOf(params) === M.ECB) padded(params);
  if (data.length % 16 !== 0) throw new KmipError('CryptographicFailure', 'the data is not a whole number of blocks or its padding is wrong');
}

function chooseIv(params: CipherParameters, given: Buffer | undefined, defaultBytes: number): { chosen: Buffer; generated: boolean } {
  if (given !== undefined && params.randomIv !== true) return { chosen: given, generated: false };
  const bytes = params.ivLength !== undefined ? params.ivLength / 8 : defaultBytes;
  if (!Number.isInteger(bytes) || bytes < 1 || bytes > 256) throw new KmipError('InvalidField', `an IV Length of ${String(params.ivLength)} bits is not valid`);
  return { chosen: randomBytes(bytes), generated: true };
}

function checkIv(iv: Buffer, bytes: number): Buffer {
  if (iv.length !== bytes) throw new KmipError('InvalidField', `the IV of AES-CBC is ${bytes} bytes, not ${iv.length}`);
  return iv;
}

function tagLength(bytes: number): number {
  if (!Number.isInteger(bytes) || bytes < 4 || bytes > 16) {
    throw new KmipError('InvalidField', `a tag of ${bytes} bytes is not valid: authenticated encryption tags are 4 to 16 bytes`);
  }
  return bytes;
}
