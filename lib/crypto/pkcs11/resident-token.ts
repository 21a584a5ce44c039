/**
 * Keys held inside the HSM, on the worker side (runs only in worker.ts): generation of a
 * non-extractable secret key in the token, single-part encryption, decryption and MAC with
 * it, its attributes, and its destruction. The key's value never leaves the token.
 *
 * A key is a token object whose CKA_LABEL and CKA_ID are the managed object's Unique
 * Identifier; its handle is remembered per session after the first search (a search costs
 * more as the token fills up).
 */
import * as graphene from 'graphene-pk11';
import type { MechanismType, SecretKey, Session } from 'graphene-pk11';
import { KmipError } from '../../errors.js';
import { ckrName } from './errors.js';
import { Pkcs11KekError } from './errors.js';
import { deviceError } from './token.js';
import type { TokenService } from './token.js';
import type { Operations, Request, ResidentKeyAttributes, ResidentKeyType, ResidentMechanism, ResidentOperationName, ResidentOutcome } from './protocol.js';

const { AesCbcParams, AesGcmParams, KeyGenMechanism, KeyType, ObjectClass } = graphene;

/** A logged-in session and the resident keys found in it so far. */
export class ResidentSession {
  readonly #keys = new Map<string, SecretKey>();

  constructor(
    readonly session: Session,
    readonly slotKey: string,
  ) {}

  generate(label: string, keyType: ResidentKeyType, bytes: number): void {
    if (this.#find(label) !== undefined) {
      throw new KmipError('GeneralFailure', `the HSM already holds a key labelled "${label}": refusing to make a second one`);
    }
    const aes = keyType === 'AES';
    try {
      const key = this.session.generateKey(aes ? KeyGenMechanism.AES : KeyGenMechanism.GENERIC_SECRET, {
        class: ObjectClass.SECRET_KEY,
        keyType: aes ? KeyType.AES : KeyType.GENERIC_SECRET,
        valueLen: bytes,
        label,
        id: Buffer.from(label, 'utf8'),
        token: true,
        private: true,
        sensitive: true,
        extractable: false,
        modifiable: false,
        encrypt: aes,
        decrypt: aes,
        sign: true,
        verify: true,
        wrap: false,
        unwrap: false,
        derive: false,
      });
      this.#keys.set(label, key);
    } catch (error) {
      throw deviceError(`generating the resident key "${label}"`, error);
    }
  }

  encrypt(label: string, mechanism: ResidentMechanism, data: Uint8Array): Buffer {
    const key = this.#require(label);
    // Room for a padding block and a 16-byte tag.
    const out = Buffer.alloc(data.length + 32);
    try {
      return this.session.createCipher(mechanismOf(mechanism), key).once(Buffer.from(data), out);
    } catch (error) {
      throw cryptoError('encryption', label, error);
    }
  }

  decrypt(label: string, mechanism: ResidentMechanism, data: Uint8Array): Buffer {
    const key = this.#require(label);
    const out = Buffer.alloc(data.length + 16);
    try {
      return this.session.createDecipher(mechanismOf(mechanism), key).once(Buffer.from(data), out);
    } catch (error) {
      // SoftHSM2 reports a GCM tag that does not match as CKR_GENERAL_ERROR (or FUNCTION_FAILED).
      const ckr = ckrName(error);
      if (mechanism.name === 'AES_GCM' && (ckr === 'CKR_GENERAL_ERROR' || ckr === 'CKR_FUNCTION_FAILED')) {
        throw new KmipError('CryptographicFailure', `authentication failed: the tag does not match the data (HSM key ${label}, ${ckr})`);
      }
      throw cryptoError('decryption', label, error);
    }
  }

  sign(label: string, mechanism: ResidentMechanism, data: Uint8Array): Buffer {
    const key = this.#require(label);
    try {
      return this.session.createSign(mechanismOf(mechanism), key).once(Buffer.from(data));
    } catch (error) {
      throw cryptoError('MAC', label, error);
    }
  }

  /** Destroy every token key with the label; how many there were. */
  destroy(label: string): number {
    this.#keys.delete(label);
    try {
      return this.session.destroy({ class: ObjectClass.SECRET_KEY, token: true, label });
    } catch (error) {
      throw deviceError(`destroying the resident key "${label}"`, error);
    }
  }

  attributes(label: string): ResidentKeyAttributes | null {
    const key = this.#find(label);
    if (key === undefined) return null;
    try {
      const attrs: Record<string, unknown> = key.getAttribute({ extractable: null, sensitive: null, token: null, keyType: null, valueLen: null });
      return {
        extractable: attrs['extractable'] === true,
        sensitive: attrs['sensitive'] === true,
        token: attrs['token'] === true,
        keyType: attrs['keyType'] === KeyType.AES ? 'AES' : attrs['keyType'] === KeyType.GENERIC_SECRET ? 'GENERIC_SECRET' : String(attrs['keyType']),
        bytes: typeof attrs['valueLen'] === 'number' ? attrs['valueLen'] : 0,
      };
    } catch (error) {
      throw deviceError(`reading the attributes of the resident key "${label}"`, error);
    }
  }

  #require(label: string): SecretKey {
    const key = this.#find(label);
    if (key === undefined) {
      throw new KmipError('ItemNotFound', `the HSM holds no key labelled "${label}": the object's key material is gone from the token`);
    }
    return key;
  }

  #find(label: string): SecretKey | undefined {
    const known = this.#keys.get(label);
    if (known !== undefined) return known;
    let found;
    try {
      found = this.session.find({ class: ObjectClass.SECRET_KEY, token: true, label, id: Buffer.from(label, 'utf8') });
    } catch (error) {
      throw deviceError(`searching for the resident key "${label}"`, error);
    }
    if (found.length > 1) throw new KmipError('GeneralFailure', `the HSM holds ${found.length} keys labelled "${label}"`);
    if (found.length === 0) return undefined;
    const key = found.items(0).toType<SecretKey>();
    this.#keys.set(label, key);
    return key;
  }
}

function mechanismOf(mechanism: ResidentMechanism): MechanismType {
  switch (mechanism.name) {
    case 'AES_CBC':
    case 'AES_CBC_PAD':
      return { name: mechanism.name, params: new AesCbcParams(Buffer.from(mechanism.iv)) };
    case 'AES_GCM':
      return { name: 'AES_GCM', params: new AesGcmParams(Buffer.from(mechanism.iv), Buffer.from(mechanism.aad), mechanism.tagBits) };
    default:
      return mechanism.name;
  }
}

/**
 * What the token refused, as the KMIP answer: a failed tag or bad padding is a Cryptographic
 * Failure, input of a length the mode cannot take an Invalid Field; anything else a device error.
 */
function cryptoError(what: string, label: string, error: unknown): Error {
  const ckr = ckrName(error);
  switch (ckr) {
    case 'CKR_ENCRYPTED_DATA_INVALID':
    case 'CKR_SIGNATURE_INVALID':
      return new KmipError('CryptographicFailure', `${what} with the HSM key ${label} failed: the data or its authentication tag is not valid (${ckr})`);
    case 'CKR_DATA_LEN_RANGE':
    case 'CKR_ENCRYPTED_DATA_LEN_RANGE':
      return new KmipError('InvalidField', `${what} with the HSM key ${label}: the data length does not fit the mode (${ckr})`);
    case 'CKR_MECHANISM_INVALID':
    case 'CKR_MECHANISM_PARAM_INVALID':
    case 'CKR_KEY_TYPE_INCONSISTENT':
    case 'CKR_KEY_FUNCTION_NOT_PERMITTED':
      return new KmipError('FeatureNotSupported', `${what} with the HSM key ${label}: the token refuses these parameters (${ckr})`);
    default:
      return deviceError(`${what} with the resident key "${label}"`, error);
  }
}

type ResidentRequest = Extract<Request, { op: ResidentOperationName }>;

/** What any resident operation may give back. */
export type ResidentValue = { [K in ResidentOperationName]: Operations[K]['result'] extends ResidentOutcome<infer V> ? V : never }[ResidentOperationName];

export function isResidentRequest(request: Request): request is ResidentRequest {
  return RESIDENT_OPERATIONS.has(request.op);
}

const RESIDENT_OPERATIONS: ReadonlySet<string> = new Set<ResidentOperationName>([
  'residentOpen', 'residentGenerate', 'residentEncrypt', 'residentDecrypt', 'residentSign', 'residentDestroy', 'residentAttributes', 'residentClose', 'moduleInfo',
]);

/** The resident-key sessions of the worker, by handle. */
export class ResidentSessions {
  readonly #sessions = new Map<number, ResidentSession>();
  #next = 1;

  /**
   * Run one request. A KmipError (a refusal the client must hear: no such key, a failed tag)
   * comes back as an outcome; anything else is thrown, for the worker to report as an error.
   */
  run(service: TokenService, request: ResidentRequest): ResidentOutcome<ResidentValue> {
    try {
      return { value: this.#run(service, request) };
    } catch (error) {
      if (error instanceof KmipError) return { refused: { reason: error.reason, message: error.message } };
      throw error;
    }
  }

  /** Log out and close every session (before the module is finalised). */
  closeAll(service: TokenService | undefined): void {
    for (const session of this.#sessions.values()) service?.closeSession(session.slotKey, session.session);
    this.#sessions.clear();
  }

  #run(service: TokenService, request: ResidentRequest): ResidentValue {
    switch (request.op) {
      case 'moduleInfo':
        return service.info();
      case 'residentOpen': {
        const { session, slotKey, token } = service.openSession(request.tokenLabel, request.pin);
        const handle = this.#next;
        this.#next += 1;
        this.#sessions.set(handle, new ResidentSession(session, slotKey));
        return { handle, token };
      }
      case 'residentClose': {
        const session = this.#sessions.get(request.handle);
        this.#sessions.delete(request.handle);
        if (session !== undefined) service.closeSession(session.slotKey, session.session);
        return null;
      }
      case 'residentGenerate':
        this.#session(request.handle).generate(request.label, request.keyType, request.bytes);
        return null;
      case 'residentEncrypt':
        return this.#session(request.handle).encrypt(request.label, request.mechanism, request.data);
      case 'residentDecrypt':
        return this.#session(request.handle).decrypt(request.label, request.mechanism, request.data);
      case 'residentSign':
        return this.#session(request.handle).sign(request.label, request.mechanism, request.data);
      case 'residentDestroy':
        return this.#session(request.handle).destroy(request.label);
      case 'residentAttributes':
        return this.#session(request.handle).attributes(request.label);
    }
  }

  #session(handle: number): ResidentSession {
    const session = this.#sessions.get(handle);
    if (session === undefined) throw new Pkcs11KekError('CLOSED', 'the HSM session for resident keys is closed');
    return session;
  }
}
