/** The key-encryption key in an HSM, over PKCS#11 (graphene-pk11, served by a worker thread). */
export { DEFAULT_MAX_PENDING, Pkcs11Kek, openPkcs11Kek } from './kek.js';
export type { Pkcs11KekInfo, Pkcs11KekOptions } from './kek.js';
export { Pkcs11KekError } from './errors.js';
export type { Pkcs11FailureReason } from './errors.js';
