/**
 * Symmetric encryption and decryption with node:crypto, driven by KMIP Cryptographic
 * Parameters (KMIP 2.1 section 4.16): the algorithm and key come from the key, the mode,
 * padding, IV and tag length from the request or the key's Cryptographic Parameters.
 */
import { createCipheriv, createDecipheriv, getCiphers, randomBytes } from 'node:crypto';
import type { Cipher, CipherGCM, CipherGCMTypes, Decipher, DecipherGCM } from 'node:crypto';
import { Enum } from '../../ttlv/index.js';
import { KmipError } from '../errors.js';
import { algorithmName } from './symmetric.js';

const A = Enum.CryptographicAlgorithm;
const M = Enum.BlockCipherMode;
const P = Enum.PaddingMethod;

export interface CipherParameters {
  readonly algorithm: number;
  readonly mode: number | undefined;
  readonly padding: number | undefined;
  /** Tag length in bytes for authenticated modes. */
  readonly tagLength: number | undefined;
  readonly randomIv: boolean | undefined;
  /** IV length in bits (KMIP's IV Length). */
  readonly ivLength: number | undefined;
}

export interface CipherSpec {
  /** The node:crypto cipher name. */
  readonly name: string;
  /** IV size in bytes; 0 when the mode takes none. */
  readonly ivBytes: number;
  readonly blockBytes: number;
  readonly aead: boolean;
  /** Whether PKCS#5 padding applies (block modes ECB and CBC). */
  readonly padded: boolean;
  /** XTS (IEEE 1619): one data unit of a block or more, in one call; no multi-part operation. */
  readonly wholeUnit: boolean;
}

const AVAILABLE = new Set(getCiphers());

const MODE_NAMES = new Map<number, string>([
  [M.CBC, 'cbc'],
  [M.ECB, 'ecb'],
  [M.CFB, 'cfb'],
  [M.OFB, 'ofb'],
  [M.CTR, 'ctr'],
  [M.GCM, 'gcm'],
  [M.CCM, 'ccm'],
]);

/** The node cipher for a key and its parameters; Feature Not Supported names what is missing. */
export function cipherSpec(params: CipherParameters, keyBytes: number): CipherSpec {
  const { algorithm } = params;
  if (algorithm === A.ChaCha20) return { name: 'chacha20', ivBytes: 16, blockBytes: 1, aead: false, padded: false, wholeUnit: false };
  if (algorithm === A.ChaCha20Poly1305) return { name: 'chacha20-poly1305', ivBytes: 12, blockBytes: 1, aead: true, padded: false, wholeUnit: false };
  // AEAD in KMIP 2.x names the algorithm's own authenticated mode; for AES that is GCM.
  const mode = params.mode === M.AEAD ? M.GCM : (params.mode ?? M.CBC);
  if (mode === M.XTS) return xtsSpec(algorithm, keyBytes);
  const family = familyName(algorithm, keyBytes);
  const modeName = MODE_NAMES.get(mode);
  if (modeName === undefined) throw new KmipError('FeatureNotSupported', `Block Cipher Mode ${enumName(Enum.BlockCipherMode, mode)} is not supported for encryption`);
  const name = `${family}-${modeName}`;
  if (!AVAILABLE.has(name)) throw new KmipError('FeatureNotSupported', `${algorithmName(algorithm)} in ${modeName.toUpperCase()} mode is not available on this server`);
  const blockBytes = algorithm === A.DES3 ? 8 : 16;
  const aead = mode === M.GCM || mode === M.CCM;
  const ivBytes = mode === M.ECB ? 0 : aead ? 12 : blockBytes;
  return { name, ivBytes, blockBytes, aead, padded: mode === M.ECB || mode === M.CBC, wholeUnit: false };
}

/**
 * XTS-AES (IEEE 1619, KMIP 1.4 Block Cipher Mode XTS): the key is the two AES keys side by
 * side, so a 256-bit XTS key is XTS-AES-128; the IV/Counter/Nonce is the 16-byte tweak.
 */
function xtsSpec(algorithm: number, keyBytes: number): CipherSpec {
  if (algorithm !== A.AES) throw new KmipError('FeatureNotSupported', `XTS mode is offered with AES keys only, not ${algorithmName(algorithm)}`);
  if (keyBytes !== 32 && keyBytes !== 64) throw new KmipError('InvalidField', `an XTS-AES key is 256 or 512 bits (two AES keys), not ${keyBytes * 8}`);
  return { name: `aes-${keyBytes * 4}-xts`, ivBytes: 16, blockBytes: 16, aead: false, padded: false, wholeUnit: true };
}

/** XTS takes at least one block (IEEE 1619 section 5.3.1). */
function checkUnit(spec: CipherSpec, data: Buffer): void {
  if (spec.wholeUnit && data.length < spec.blockBytes) {
    throw new KmipError('InvalidField', `XTS encrypts a data unit of ${spec.blockBytes} bytes or more, not ${data.length}`);
  }
}

function refuseParts(spec: CipherSpec): void {
  if (spec.wholeUnit) throw new KmipError('FeatureNotSupported', 'XTS takes a data unit in one request: multi-part encryption and decryption are not offered');
  if (isCcm(spec)) throw new KmipError('FeatureNotSupported', 'CCM authenticates the message length before the message: multi-part encryption and decryption are not offered');
}

function isCcm(spec: CipherSpec): boolean {
  return spec.name.endsWith('-ccm');
}

/** CCM's first block holds the message length (SP 800-38C A.2.1): node needs it before the AAD. */
function setAad(cipher: CipherGCM | DecipherGCM, spec: CipherSpec, aad: Buffer, dataLength: number | undefined): void {
  if (isCcm(spec)) fits(() => cipher.setAAD(aad, { plaintextLength: dataLength ?? 0 }));
  else cipher.setAAD(aad);
}

function familyName(algorithm: number, keyBytes: number): string {
  switch (algorithm) {
    case A.AES:
      return `aes-${keyBytes * 8}`;
    case A.Camellia:
      return `camellia-${keyBytes * 8}`;
    case A.ARIA:
      return `aria-${keyBytes * 8}`;
    case A.DES3:
      return keyBytes === 16 ? 'des-ede' : 'des-ede3';
    case A.SM4:
      return 'sm4';
    default:
      throw new KmipError('FeatureNotSupported', `${algorithmName(algorithm)} keys cannot be used to encrypt on this server`);
  }
}

function enumName(values: Record<string, number>, value: number): string {
  return Object.entries(values).find(([, v]) => v === value)?.[0] ?? `0x${value.toString(16)}`;
}

/**
 * PKCS#5 padding only when asked for (the OASIS cases encrypt whole blocks in ECB with no
 * Padding Method and expect no padding); it applies to the block modes ECB and CBC.
 */
function usePadding(spec: CipherSpec, padding: number | undefined): boolean {
  if (padding === undefined || padding === P.None) return false;
  if (padding === P.PKCS5) return spec.padded;
  throw new KmipError('FeatureNotSupported', `Padding Method ${enumName(Enum.PaddingMethod, padding)} is not supported for encryption`);
}

export interface EncryptInput {
  readonly key: Buffer;
  readonly params: CipherParameters;
  readonly data: Buffer;
  readonly iv: Buffer | undefined;
  readonly aad: Buffer | undefined;
}

export interface EncryptOutput {
  readonly data: Buffer;
  /** The IV the server chose, to return to the client (undefined when the client gave it). */
  readonly generatedIv: Buffer | undefined;
  readonly tag: Buffer | undefined;
}

/**
 * OpenSSL's ChaCha20 takes 16 bytes: a 32-bit little-endian block counter, then a 96-bit
 * nonce. KMIP clients send the RFC 8439 12-byte nonce or the original 8-byte one (whose
 * counter is 64 bits); both start at block 0.
 */
function chachaIv(nonce: Buffer): Buffer {
  if (nonce.length === 16) return nonce;
  if (nonce.length === 12) return Buffer.concat([Buffer.alloc(4), nonce]);
  if (nonce.length === 8) return Buffer.concat([Buffer.alloc(8), nonce]);
  throw new KmipError('InvalidField', `a ChaCha20 nonce is 8, 12 or 16 bytes, not ${nonce.length}`);
}

/** The IV for an encryption: the client's, or a random one when allowed or needed. */
function chooseIv(spec: CipherSpec, params: CipherParameters, given: Buffer | undefined): { iv: Buffer | undefined; generated: boolean } {
  if (spec.ivBytes === 0) return { iv: undefined, generated: false };
  if (given !== undefined && params.randomIv !== true) return { iv: given, generated: false };
  const bytes = params.ivLength !== undefined ? params.ivLength / 8 : spec.ivBytes;
  return { iv: randomBytes(bytes), generated: true };
}

/** Authenticated modes always have an IV by the time a cipher is made (chooseIv / the caller's check). */
function required(iv: Buffer | undefined): Buffer {
  if (iv === undefined) throw new KmipError('MissingInitializationVector', 'this mode needs an IV/Counter/Nonce');
  return iv;
}

function tagBytes(params: CipherParameters): number {
  const length = params.tagLength ?? 16;
  checkTagLength(length);
  return length;
}

function checkTagLength(length: number): void {
  if (!Number.isInteger(length) || length < 4 || length > 16) {
    throw new KmipError('InvalidField', `a tag of ${length} bytes is not valid: authenticated encryption tags are 4 to 16 bytes`);
  }
}

/** node refuses a key, IV or tag of the wrong size with a plain Error: that is the client's Invalid Field. */
function fits<T>(make: () => T): T {
  try {
    return make();
  } catch (error) {
    if (error instanceof KmipError) throw error;
    throw new KmipError('InvalidField', `the key, IV or tag does not fit this cipher: ${error instanceof Error ? error.message : String(error)}`);
  }
}

export function setTag(decipher: Decipher, tag: Buffer): void {
  checkTagLength(tag.length);
  fits(() => (decipher as DecipherGCM).setAuthTag(tag));
}

/** A cipher for a multi-part encryption (Init Indicator). */
export function startEncrypt(input: Omit<EncryptInput, 'data'>): { cipher: Cipher; spec: CipherSpec; generatedIv: Buffer | undefined } {
  refuseParts(cipherSpec(input.params, input.key.length));
  return openEncrypt(input);
}

function openEncrypt(input: Omit<EncryptInput, 'data'>, dataLength?: number): { cipher: Cipher; spec: CipherSpec; generatedIv: Buffer | undefined } {
  const spec = cipherSpec(input.params, input.key.length);
  const { iv, generated } = chooseIv(spec, input.params, input.iv);
  const cipher: Cipher = fits(() =>
    spec.aead
      ? // The GCM overload's name type stands for every AEAD cipher node has (GCM, CCM, ChaCha20-Poly1305).
        createCipheriv(spec.name as CipherGCMTypes, input.key, required(iv), { authTagLength: tagBytes(input.params) })
      : createCipheriv(spec.name, input.key, spec.name === 'chacha20' && iv !== undefined ? chachaIv(iv) : (iv ?? null)),
  );
  if (spec.aead && input.aad !== undefined) setAad(cipher as CipherGCM, spec, input.aad, dataLength);
  cipher.setAutoPadding(usePadding(spec, input.params.padding));
  return { cipher, spec, generatedIv: generated ? iv : undefined };
}

export function encrypt(input: EncryptInput): EncryptOutput {
  const { cipher, spec, generatedIv } = openEncrypt(input, input.data.length);
  checkUnit(spec, input.data);
  const data = Buffer.concat([cipher.update(input.data), finish(() => cipher.final(), spec)]);
  return { data, generatedIv, tag: spec.aead ? (cipher as CipherGCM).getAuthTag() : undefined };
}

export interface DecryptInput {
  readonly key: Buffer;
  readonly params: CipherParameters;
  readonly data: Buffer;
  readonly iv: Buffer | undefined;
  readonly aad: Buffer | undefined;
  /** Required for authenticated modes; a multi-part decryption gives it with the last part. */
  readonly tag: Buffer | undefined;
}

/** A decipher for a multi-part decryption (Init Indicator). */
export function startDecrypt(input: Omit<DecryptInput, 'data'>): { decipher: Decipher; spec: CipherSpec } {
  refuseParts(cipherSpec(input.params, input.key.length));
  return openDecrypt(input);
}

function openDecrypt(input: Omit<DecryptInput, 'data'>, dataLength?: number): { decipher: Decipher; spec: CipherSpec } {
  const spec = cipherSpec(input.params, input.key.length);
  if (spec.ivBytes > 0 && input.iv === undefined) {
    throw new KmipError('MissingInitializationVector', 'this mode needs the IV/Counter/Nonce the data was encrypted with');
  }
  if (spec.aead && input.tag !== undefined) checkTagLength(input.tag.length);
  const decipher: Decipher = fits(() =>
    spec.aead
      ? createDecipheriv(spec.name as CipherGCMTypes, input.key, required(input.iv), { authTagLength: input.tag?.length ?? tagBytes(input.params) })
      : createDecipheriv(spec.name, input.key, spec.name === 'chacha20' && input.iv !== undefined ? chachaIv(input.iv) : (input.iv ?? null)),
  );
  if (spec.aead) {
    // In a multi-part decryption the tag comes with the last part: setAuthTag before final().
    if (input.tag !== undefined) setTag(decipher, input.tag);
    if (input.aad !== undefined) setAad(decipher as DecipherGCM, spec, input.aad, dataLength);
  }
  decipher.setAutoPadding(usePadding(spec, input.params.padding));
  return { decipher, spec };
}

export function decrypt(input: DecryptInput): Buffer {
  const { decipher, spec } = openDecrypt(input, input.data.length);
  checkUnit(spec, input.data);
  if (spec.aead && input.tag === undefined) throw new KmipError('InvalidField', 'authenticated decryption needs the Authenticated Encryption Tag');
  return Buffer.concat([finishUpdate(() => decipher.update(input.data)), finish(() => decipher.final(), spec)]);
}

function finishUpdate(run: () => Buffer): Buffer {
  try {
    return run();
  } catch {
    throw new KmipError('CryptographicFailure', 'the data could not be processed with this key and these parameters');
  }
}

/** node throws plain errors for a bad tag, bad padding or a partial block: those are KMIP Cryptographic Failures. */
export function finish(run: () => Buffer, spec: CipherSpec): Buffer {
  try {
    return run();
  } catch {
    throw new KmipError(
      'CryptographicFailure',
      spec.aead ? 'authentication failed: the tag does not match the data' : 'the data is not a whole number of blocks or its padding is wrong',
    );
  }
}

// ---------------------------------------------------------------------------------------
// Key wrapping (Get with a Key Wrapping Specification)

/** The initial value of RFC 3394 section 2.2.3.1, and RFC 5649's alternative one (section 3), which node takes as the IV. */
const RFC3394_IV = Buffer.from('a6a6a6a6a6a6a6a6', 'hex');
const RFC5649_AIV = Buffer.from('a65959a6', 'hex');

/**
 * The node cipher for AES key wrap under a key of `keyBytes`: Block Cipher Mode NIST Key
 * Wrap is RFC 3394 (SP 800-38F KW), AES Key Wrap Padding is RFC 5649 (KWP).
 */
function keyWrapCipher(mode: number, keyBytes: number): { name: string; iv: Buffer } {
  if (keyBytes !== 16 && keyBytes !== 24 && keyBytes !== 32) {
    throw new KmipError('InvalidField', `an AES wrapping key is 16, 24 or 32 bytes, not ${keyBytes}`);
  }
  const bits = keyBytes * 8;
  if (mode === M.NISTKeyWrap) return { name: `id-aes${bits}-wrap`, iv: RFC3394_IV };
  if (mode === M.AESKeyWrapPadding) return { name: `id-aes${bits}-wrap-pad`, iv: RFC5649_AIV };
  throw new KmipError('FeatureNotSupported', `Block Cipher Mode ${enumName(Enum.BlockCipherMode, mode)} cannot wrap keys on this server: use NISTKeyWrap or AESKeyWrapPadding`);
}

/** `plain` wrapped under the AES key `kek` in `mode` (NIST Key Wrap or AES Key Wrap Padding). */
export function wrapKey(kek: Buffer, mode: number, plain: Buffer): Buffer {
  // RFC 3394 section 2: n >= 2 blocks of 64 bits; RFC 5649 takes any length from one byte.
  if (mode === M.NISTKeyWrap && (plain.length < 16 || plain.length % 8 !== 0)) {
    throw new KmipError('BadCryptographicParameters', `NIST Key Wrap takes whole 8-byte blocks, 16 bytes or more, not ${plain.length} bytes: use AESKeyWrapPadding`);
  }
  if (plain.length === 0) throw new KmipError('InvalidField', 'there is nothing to wrap');
  const { name, iv } = keyWrapCipher(mode, kek.length);
  const cipher = createCipheriv(name, kek, iv);
  return Buffer.concat([cipher.update(plain), cipher.final()]);
}

/** The key bytes `wrapped` holds; Cryptographic Failure when the integrity check fails. */
export function unwrapKey(kek: Buffer, mode: number, wrapped: Buffer): Buffer {
  const { name, iv } = keyWrapCipher(mode, kek.length);
  if (wrapped.length < 16 || wrapped.length % 8 !== 0) {
    throw new KmipError('CryptographicFailure', `a wrapped key is whole 8-byte blocks, 16 bytes or more, not ${wrapped.length} bytes`);
  }
  const decipher = createDecipheriv(name, kek, iv);
  try {
    return Buffer.concat([decipher.update(wrapped), decipher.final()]);
  } catch {
    throw new KmipError('CryptographicFailure', 'the wrapped key does not unwrap under this key: wrong key, or the bytes were changed');
  }
}
