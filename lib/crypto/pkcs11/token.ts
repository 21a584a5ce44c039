/**
 * The PKCS#11 side of the HSM key-encryption key, through graphene-pk11. Runs only in the
 * worker thread (every call blocks). One module per worker: a PKCS#11 library's state is
 * per process, so C_Finalize in one thread would end every other thread's sessions.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import * as graphene from 'graphene-pk11';
import type { Module, SecretKey, Session, Slot } from 'graphene-pk11';
import { Pkcs11KekError, ckrName } from './errors.js';
import type { ModuleInfo, OpenRequest, OpenedKek } from './protocol.js';
import { BLOCK } from './rfc5649.js';

const { KeyGenMechanism, KeyType, MechanismEnum, Module: ModuleClass, ObjectClass, SessionFlag, TokenFlag } = graphene;

const SESSION_FLAGS = SessionFlag.RW_SESSION | SessionFlag.SERIAL_SESSION;
const KEK_BYTES = 32;
/** Encrypted under the KEK, this block names it (`id`) without revealing anything of it. */
const ID_BLOCK = Buffer.from('kmipd-kek-id-v1\0', 'latin1');

/** A PKCS#11 failure as a Pkcs11KekError with `what` saying which call and why. */
export function deviceError(what: string, error: unknown): Pkcs11KekError {
  const ckr = ckrName(error) ?? (error instanceof Error ? error.message : String(error));
  return new Pkcs11KekError('DEVICE_ERROR', `${what} failed: ${ckr}`, { cause: error });
}

/**
 * One direction of AES-ECB under the KEK, kept open across calls (C_*Init once, then one
 * C_*Update per batch of blocks). It needs a session of its own: SoftHSM allows one active
 * operation per session.
 */
export class EcbChannel {
  #active = false;

  constructor(
    private readonly session: Session,
    private readonly key: SecretKey,
    private readonly direction: 'encrypt' | 'decrypt',
  ) {}

  run(blocks: Buffer): Buffer {
    const { lib, handle } = this.session;
    const mechanism = { mechanism: MechanismEnum.AES_ECB };
    const out = Buffer.alloc(blocks.length);
    try {
      if (!this.#active) {
        if (this.direction === 'encrypt') lib.C_EncryptInit(handle, mechanism, this.key.handle);
        else lib.C_DecryptInit(handle, mechanism, this.key.handle);
        this.#active = true;
      }
      const result = this.direction === 'encrypt' ? lib.C_EncryptUpdate(handle, blocks, out) : lib.C_DecryptUpdate(handle, blocks, out);
      if (result.length !== blocks.length) {
        throw new Error(`AES-ECB returned ${result.length} bytes for ${blocks.length}`);
      }
      return result;
    } catch (error) {
      // An error other than a short buffer ends the operation (PKCS#11 section 5.2).
      this.#active = false;
      out.fill(0);
      throw deviceError(`AES-ECB ${this.direction} on the token`, error);
    }
  }

  /** End the operation, if one is open; errors are moot because the session closes next. */
  end(): void {
    if (!this.#active) return;
    this.#active = false;
    const { lib, handle } = this.session;
    try {
      if (this.direction === 'encrypt') lib.C_EncryptFinal(handle, Buffer.alloc(BLOCK));
      else lib.C_DecryptFinal(handle, Buffer.alloc(BLOCK));
    } catch {
      // Nothing to do: C_CloseSession ends the operation anyway.
    }
  }
}

/** A KEK opened in the token: two sessions, one per ECB direction. */
export interface TokenKek {
  readonly opened: OpenedKek;
  readonly slotKey: string;
  readonly encrypt: EcbChannel;
  readonly decrypt: EcbChannel;
  readonly sessions: readonly Session[];
}

interface Login {
  readonly pin: string;
  users: number;
}

/** The loaded module, and which tokens this worker is logged in to. */
export class TokenService {
  readonly #module: Module;
  readonly #modulePath: string;
  readonly #logins = new Map<string, Login>();

  private constructor(module: Module, modulePath: string) {
    this.#module = module;
    this.#modulePath = modulePath;
  }

  static load(modulePath: string): TokenService {
    let module: Module;
    try {
      module = ModuleClass.load(modulePath);
      module.initialize();
    } catch (error) {
      const detail = error instanceof Error ? error.message : String(error);
      throw new Pkcs11KekError('MODULE_LOAD_FAILED', `cannot load the PKCS#11 module ${modulePath}: ${detail}`, { cause: error });
    }
    return new TokenService(module, modulePath);
  }

  open(request: OpenRequest): TokenKek {
    const slot = this.#findToken(request.tokenLabel);
    const token = slot.getToken();
    const slotKey = slot.handle.toString('hex');
    const sessions: Session[] = [];
    let loggedIn = false;
    try {
      const control = slot.open(SESSION_FLAGS);
      sessions.push(control);
      const second = slot.open(SESSION_FLAGS);
      sessions.push(second);
      this.#login(control, slotKey, request.tokenLabel, request.pin);
      loggedIn = true;
      const { key, created } = this.#findOrCreateKey(control, request);
      const info = checkKey(key, request);
      const encrypt = new EcbChannel(control, key, 'encrypt');
      const decrypt = new EcbChannel(second, key, 'decrypt');
      const idBlock = encrypt.run(ID_BLOCK);
      if (!decrypt.run(idBlock).equals(ID_BLOCK)) {
        throw new Pkcs11KekError('KEY_UNSUITABLE', `key "${request.keyLabel}" does not decrypt what it encrypts: the token is faulty`);
      }
      return {
        slotKey,
        encrypt,
        decrypt,
        sessions,
        opened: {
          id: `pkcs11:${idBlock.subarray(0, 8).toString('hex')}`,
          created,
          token: { label: token.label, serial: token.serialNumber.trim(), manufacturer: token.manufacturerID.trim(), model: token.model.trim() },
          key: { label: request.keyLabel, ...info },
        },
      };
    } catch (error) {
      if (loggedIn) this.#logout(slotKey, sessions[0]);
      for (const session of sessions) closeQuietly(session);
      throw error instanceof Pkcs11KekError ? error : deviceError(`opening key "${request.keyLabel}" on token "${request.tokenLabel}"`, error);
    }
  }

  close(kek: TokenKek): void {
    kek.encrypt.end();
    kek.decrypt.end();
    this.#logout(kek.slotKey, kek.sessions[0]);
    for (const session of kek.sessions) closeQuietly(session);
  }

  /**
   * A session on the token for keys held in the HSM (resident-token.ts), logged in with the
   * same per-token bookkeeping as the KEKs: PKCS#11 login state is per process.
   */
  openSession(tokenLabel: string, pin: string): { readonly session: Session; readonly slotKey: string; readonly token: OpenedKek['token'] } {
    const slot = this.#findToken(tokenLabel);
    const token = slot.getToken();
    const slotKey = slot.handle.toString('hex');
    let session: Session | undefined;
    try {
      session = slot.open(SESSION_FLAGS);
      this.#login(session, slotKey, tokenLabel, pin);
      return { session, slotKey, token: { label: token.label, serial: token.serialNumber.trim(), manufacturer: token.manufacturerID.trim(), model: token.model.trim() } };
    } catch (error) {
      if (session !== undefined) closeQuietly(session);
      throw error instanceof Pkcs11KekError ? error : deviceError(`opening a session on token "${tokenLabel}"`, error);
    }
  }

  closeSession(slotKey: string, session: Session): void {
    this.#logout(slotKey, session);
    closeQuietly(session);
  }

  /** C_GetInfo of the module: what the KMIP PKCS#11 operation reports (lib/operations/pkcs11.ts). */
  info(): ModuleInfo {
    try {
      const info = this.#module.lib.C_GetInfo();
      return {
        cryptokiVersion: [info.cryptokiVersion.major, info.cryptokiVersion.minor],
        manufacturerID: info.manufacturerID,
        flags: info.flags,
        libraryDescription: info.libraryDescription,
        libraryVersion: [info.libraryVersion.major, info.libraryVersion.minor],
      };
    } catch (error) {
      throw deviceError(`C_GetInfo of ${this.#modulePath}`, error);
    }
  }

  finalize(): void {
    try {
      this.#module.finalize();
    } catch {
      // Already finalised, or the module is gone: nothing is left to release.
    }
  }

  #findToken(label: string): Slot {
    let slots;
    try {
      slots = this.#module.getSlots(true);
    } catch (error) {
      throw deviceError(`listing the slots of ${this.#modulePath}`, error);
    }
    const matches: Slot[] = [];
    const seen: string[] = [];
    for (let i = 0; i < slots.length; i += 1) {
      const slot = slots.items(i);
      const token = slot.getToken();
      if ((token.flags & TokenFlag.TOKEN_INITIALIZED) === 0) continue;
      seen.push(`"${token.label}"`);
      if (token.label === label) matches.push(slot);
    }
    const [slot, ...others] = matches;
    if (slot === undefined) {
      const present = seen.length === 0 ? 'it has no initialised token' : `its tokens are ${seen.join(', ')}`;
      throw new Pkcs11KekError('TOKEN_NOT_FOUND', `no PKCS#11 token labelled "${label}" in ${this.#modulePath}: ${present}`);
    }
    if (others.length > 0) {
      throw new Pkcs11KekError('TOKEN_AMBIGUOUS', `${matches.length} PKCS#11 tokens are labelled "${label}" in ${this.#modulePath}: give each token a unique label`);
    }
    return slot;
  }

  /**
   * Log in once per token: PKCS#11 login state belongs to the process, not the session, so a
   * second KEK on a logged-in token gets CKR_USER_ALREADY_LOGGED_IN whatever PIN it gives.
   * Its PIN is then compared with the one that logged in.
   */
  #login(session: Session, slotKey: string, tokenLabel: string, pin: string): void {
    const known = this.#logins.get(slotKey);
    if (known !== undefined) {
      if (!samePin(known.pin, pin)) {
        throw new Pkcs11KekError('PIN_INCORRECT', `login to PKCS#11 token "${tokenLabel}" failed: the user PIN is incorrect`);
      }
      known.users += 1;
      return;
    }
    try {
      session.login(pin);
    } catch (error) {
      const ckr = ckrName(error);
      if (ckr === 'CKR_USER_ALREADY_LOGGED_IN') {
        // Left over from a worker that died (this worker has no record of it): log out,
        // then check this PIN for real.
        try {
          session.logout();
          session.login(pin);
        } catch (retry) {
          throw loginError(tokenLabel, retry);
        }
      } else {
        throw loginError(tokenLabel, error);
      }
    }
    this.#logins.set(slotKey, { pin, users: 1 });
  }

  #logout(slotKey: string, session: Session | undefined): void {
    const known = this.#logins.get(slotKey);
    if (known === undefined) return;
    known.users -= 1;
    if (known.users > 0) return;
    this.#logins.delete(slotKey);
    try {
      session?.logout();
    } catch {
      // Closing the token's last session logs out too.
    }
  }

  #findOrCreateKey(session: Session, request: OpenRequest): { key: SecretKey; created: boolean } {
    const found = findKeys(session, request.keyLabel);
    if (request.create) {
      if (found.length > 0) {
        throw new Pkcs11KekError(
          'KEY_EXISTS',
          `token "${request.tokenLabel}" already holds a secret key labelled "${request.keyLabel}": refusing to create a second one (a KEK label must name one key)`,
        );
      }
      return { key: generateKek(session, request.keyLabel), created: true };
    }
    const [key, ...others] = found;
    if (key === undefined) {
      throw new Pkcs11KekError(
        'KEY_NOT_FOUND',
        `token "${request.tokenLabel}" holds no secret key labelled "${request.keyLabel}": create the KEK first (kmipd init with the HSM settings)`,
      );
    }
    if (others.length > 0) {
      throw new Pkcs11KekError('KEY_AMBIGUOUS', `token "${request.tokenLabel}" holds ${found.length} secret keys labelled "${request.keyLabel}": a KEK label must name one key`);
    }
    return { key, created: false };
  }
}

function findKeys(session: Session, label: string): SecretKey[] {
  const keys: SecretKey[] = [];
  try {
    const found = session.find({ class: ObjectClass.SECRET_KEY, token: true, label });
    for (let i = 0; i < found.length; i += 1) keys.push(found.items(i).toType<SecretKey>());
  } catch (error) {
    throw deviceError(`searching for key "${label}"`, error);
  }
  return keys;
}

/** AES-256, generated inside the token; its value can never be read or exported. */
function generateKek(session: Session, label: string): SecretKey {
  try {
    return session.generateKey(KeyGenMechanism.AES, {
      class: ObjectClass.SECRET_KEY,
      keyType: KeyType.AES,
      valueLen: KEK_BYTES,
      label,
      // A random CKA_ID: two KEKs made with one label on two tokens stay distinguishable.
      id: randomBytes(16),
      token: true,
      private: true,
      sensitive: true,
      extractable: false,
      encrypt: true,
      decrypt: true,
      wrap: false,
      unwrap: false,
      sign: false,
      verify: false,
      derive: false,
    });
  } catch (error) {
    throw deviceError(`generating key "${label}"`, error);
  }
}

/** The key must be AES-256 and usable for ECB both ways; its value must not be able to leave. */
function checkKey(key: SecretKey, request: OpenRequest): { extractable: boolean; sensitive: boolean } {
  const attrs: Record<string, unknown> = key.getAttribute({ keyType: null, valueLen: null, encrypt: null, decrypt: null, extractable: null, sensitive: null });
  const problems: string[] = [];
  if (attrs['keyType'] !== KeyType.AES) problems.push('it is not an AES key');
  if (attrs['valueLen'] !== KEK_BYTES) problems.push(`it is ${String(attrs['valueLen'])} bytes, not ${KEK_BYTES}`);
  if (attrs['encrypt'] !== true || attrs['decrypt'] !== true) problems.push('it lacks CKA_ENCRYPT or CKA_DECRYPT');
  const extractable = attrs['extractable'] !== false;
  const sensitive = attrs['sensitive'] === true;
  if (!request.allowExtractable && (extractable || !sensitive)) {
    problems.push('its value can leave the token (CKA_EXTRACTABLE true or CKA_SENSITIVE false)');
  }
  if (problems.length > 0) {
    throw new Pkcs11KekError('KEY_UNSUITABLE', `key "${request.keyLabel}" on token "${request.tokenLabel}" cannot be the KEK: ${problems.join('; ')}`);
  }
  return { extractable, sensitive };
}

function loginError(tokenLabel: string, error: unknown): Pkcs11KekError {
  const ckr = ckrName(error);
  const what = `login to PKCS#11 token "${tokenLabel}"`;
  switch (ckr) {
    case 'CKR_PIN_INCORRECT':
      return new Pkcs11KekError('PIN_INCORRECT', `${what} failed: the user PIN is incorrect`, { cause: error });
    case 'CKR_PIN_LOCKED':
      return new Pkcs11KekError('PIN_LOCKED', `${what} failed: the user PIN is locked (the security officer must reset it)`, { cause: error });
    case 'CKR_USER_PIN_NOT_INITIALIZED':
      return new Pkcs11KekError('PIN_INCORRECT', `${what} failed: the token has no user PIN yet`, { cause: error });
    default:
      return deviceError(what, error);
  }
}

function samePin(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  const same = x.length === y.length && timingSafeEqual(x, y);
  x.fill(0);
  y.fill(0);
  return same;
}

function closeQuietly(session: Session): void {
  try {
    session.close();
  } catch {
    // Already closed, or the module was finalised.
  }
}
