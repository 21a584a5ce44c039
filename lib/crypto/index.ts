/** Cryptography: key material, the key-encryption key, and (later) the crypto providers. */
export { KeyMaterial, FileKek, KekError, KEK_SIZE, aesKeyWrapPad, aesKeyUnwrapPad, createKekFile, kekFingerprint, loadKekFile } from './kek.js';
export type { KeyEncryptionKey, KekErrorCode } from './kek.js';
export { KekRing, kekFor, wrapWithId } from './kek-ring.js';
export type { KekKind, KekLoader, KekRecord, KekState, LoadedKek } from './kek-ring.js';
export { DEFAULT_MAX_PENDING as PKCS11_DEFAULT_MAX_PENDING, Pkcs11Kek, Pkcs11KekError, openPkcs11Kek, type Pkcs11FailureReason, type Pkcs11KekInfo, type Pkcs11KekOptions } from './pkcs11/index.js';
export { SYMMETRIC_ALGORITHMS, algorithmName, generateSymmetricKey, isSymmetricAlgorithm, symmetricKeySize } from './symmetric.js';
export { StreamTable, DEFAULT_STREAM_LIMITS } from './streams.js';
export type { Stream, StreamLimits } from './streams.js';
export { cipherSpec, decrypt, encrypt, setTag, startDecrypt, startEncrypt, finish, unwrapKey, wrapKey } from './cipher.js';
export type { CipherParameters, CipherSpec, DecryptInput, EncryptInput, EncryptOutput } from './cipher.js';
export { aesCmac, digest, hashName, mac, macMatches } from './mac.js';
export {
  CURVES,
  DEFAULT_PUBLIC_EXPONENT,
  OKP_CURVES,
  isOkpCurveCode,
  okpCurve,
  okpCurveOfKey,
  RSA_MAX_BITS,
  RSA_MIN_BITS,
  curveByCode,
  curveByLength,
  defaultFormat,
  exportKey,
  familyOfKey,
  formatsFor,
  generateKeyPair,
  importPrivateKey,
  importPublicKey,
  keyBits,
  keyFamily,
  pairSpecOf,
} from './asymmetric.js';
export type { Curve, EncodedKey, KeyFamily, KeyPair, KeyPairSpec, OkpCurve, TransparentKey } from './asymmetric.js';
export { rsaDecrypt, rsaEncrypt, rsaEncryptionScheme } from './rsa.js';
export type { RsaEncryptionParameters, RsaEncryptionScheme, RsaSignatureScheme } from './rsa.js';
export { sign, signDigest, signatureScheme, startSign, startVerify, verify, verifyDigest } from './signature.js';
export type { SignatureParameters, SignatureScheme, Signer, Verifier } from './signature.js';
