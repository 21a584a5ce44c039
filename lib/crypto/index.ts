/** Cryptography: key material, the key-encryption key, and (later) the crypto providers. */
export { KeyMaterial, FileKek, KekError, KEK_SIZE, aesKeyWrapPad, aesKeyUnwrapPad, createKekFile, kekFingerprint, loadKekFile } from './kek.js';
export type { KeyEncryptionKey, KekErrorCode } from './kek.js';
export { SYMMETRIC_ALGORITHMS, algorithmName, generateSymmetricKey, isSymmetricAlgorithm, symmetricKeySize } from './symmetric.js';
