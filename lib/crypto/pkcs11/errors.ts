/**
 * Errors of the PKCS#11 key-encryption key. They are KekErrors, so everything that already
 * reports a KEK problem (the CLI, the store) reports these too; `reason` says what went wrong
 * with the module, the token or the key.
 */
import { KekError } from '../kek.js';
import type { KekErrorCode } from '../kek.js';

export type Pkcs11FailureReason =
  | 'MODULE_LOAD_FAILED' // the PKCS#11 library could not be loaded or initialised
  | 'TOKEN_NOT_FOUND' // no initialised token has the label
  | 'TOKEN_AMBIGUOUS' // several tokens have the label
  | 'PIN_INCORRECT'
  | 'PIN_LOCKED'
  | 'KEY_NOT_FOUND' // no secret key with the label, and `create` was not asked
  | 'KEY_EXISTS' // `create` was asked but a key with the label exists
  | 'KEY_AMBIGUOUS' // several secret keys have the label
  | 'KEY_UNSUITABLE' // not AES-256, cannot encrypt/decrypt, or its value can leave the token
  | 'DEVICE_ERROR' // any other failure reported by the module
  | 'QUEUE_FULL' // too many wrap/unwrap requests of this KEK in flight
  | 'CLOSED' // the KEK was closed
  | 'WORKER_FAILED'; // the worker thread serving the module stopped

/** Every HSM failure carries one code, KEK_HSM_FAILED; `reason` is the precise cause. */
const PKCS11_CODE: KekErrorCode = 'KEK_HSM_FAILED';

export class Pkcs11KekError extends KekError {
  constructor(
    readonly reason: Pkcs11FailureReason,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(PKCS11_CODE, message, options);
  }
}

/** The CKR_* name in an error thrown by pkcs11js ("CKR_PIN_INCORRECT"), if there is one. */
export function ckrName(error: unknown): string | undefined {
  if (!(error instanceof Error)) return undefined;
  return /^CKR_[A-Z0-9_]+/.exec(error.message)?.[0];
}
