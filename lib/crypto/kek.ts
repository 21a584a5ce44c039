/**
 * Key material as its own type, and the key-encryption key (KEK) that wraps everything the
 * store keeps (DESIGN.md decision 3): AES key wrap with padding, RFC 5649.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { open } from 'node:fs/promises';
import { dirname } from 'node:path';
import { inspect } from 'node:util';

export type KekErrorCode =
  | 'KEK_FILE_EXISTS' // createKekFile would overwrite a file
  | 'KEK_FILE_MODE' // the KEK file is readable or writable by group or others
  | 'KEK_FILE_INVALID' // not a regular file, or not exactly 32 bytes
  | 'KEK_WRAP_INPUT' // nothing to wrap, or a wrapped value of impossible length
  | 'KEK_UNWRAP_FAILED' // integrity check failed: wrong KEK, or the wrapped bytes were changed
  | 'KEK_MISMATCH' // the value was wrapped under another KEK than the one at hand
  | 'KEK_UNKNOWN' // no KEK with this id can be found (a key file missing, an HSM key deleted)
  | 'KEK_RETIRED' // the store no longer accepts values wrapped under this KEK (it was rotated out)
  | 'KEK_HSM_FAILED'; // the HSM (PKCS#11 module, token or key) failed; Pkcs11KekError.reason says how

export class KekError extends Error {
  override readonly name = 'KekError';
  constructor(
    readonly code: KekErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

// ---------------------------------------------------------------------------------------
// Key material

/**
 * Secret bytes that never print themselves: JSON, String(), template strings and
 * util.inspect all show `KeyMaterial<n bytes>`. The instance owns its buffer; `wipe()`
 * zeroes it, and any later use of `bytes` throws.
 */
export class KeyMaterial {
  readonly #bytes: Buffer;
  #wiped = false;

  /** Takes ownership of `bytes` (no copy): the caller must not keep using the buffer. */
  constructor(bytes: Buffer) {
    this.#bytes = bytes;
  }

  /** A KeyMaterial over a copy of `bytes`, for bytes that are a view into something else. */
  static copyOf(bytes: Uint8Array): KeyMaterial {
    return new KeyMaterial(Buffer.from(bytes));
  }

  static random(length: number): KeyMaterial {
    return new KeyMaterial(randomBytes(length));
  }

  get bytes(): Buffer {
    if (this.#wiped) throw new Error('KeyMaterial used after wipe()');
    return this.#bytes;
  }

  get length(): number {
    return this.#bytes.length;
  }

  get wiped(): boolean {
    return this.#wiped;
  }

  /** Overwrite the bytes with zeros; the material is unusable afterwards. */
  wipe(): void {
    this.#bytes.fill(0);
    this.#wiped = true;
  }

  toString(): string {
    return `KeyMaterial<${this.#bytes.length} bytes${this.#wiped ? ', wiped' : ''}>`;
  }

  toJSON(): string {
    return this.toString();
  }

  [Symbol.toPrimitive](): string {
    return this.toString();
  }

  [inspect.custom](): string {
    return this.toString();
  }
}

// ---------------------------------------------------------------------------------------
// AES key wrap with padding (RFC 5649)

/** RFC 5649 section 3: the 32-bit Alternative Initial Value constant; the length follows. */
const RFC5649_AIV = Buffer.from('a65959a6', 'hex');

function wrapCipher(kek: Buffer): 'id-aes128-wrap-pad' | 'id-aes192-wrap-pad' | 'id-aes256-wrap-pad' {
  switch (kek.length) {
    case 16:
      return 'id-aes128-wrap-pad';
    case 24:
      return 'id-aes192-wrap-pad';
    case 32:
      return 'id-aes256-wrap-pad';
    default:
      throw new KekError('KEK_FILE_INVALID', `an AES key-wrapping key is 16, 24 or 32 bytes, not ${kek.length}`);
  }
}

/** Wrap `plain` (1 byte or more) under an AES key of 128, 192 or 256 bits (RFC 5649). */
export function aesKeyWrapPad(kek: Buffer, plain: Uint8Array): Buffer {
  // OpenSSL returns an empty result for empty input; RFC 5649 requires at least one octet.
  if (plain.length === 0) throw new KekError('KEK_WRAP_INPUT', 'cannot wrap an empty value');
  const cipher = createCipheriv(wrapCipher(kek), kek, RFC5649_AIV);
  return Buffer.concat([cipher.update(plain), cipher.final()]);
}

/** Unwrap and check integrity (RFC 5649 section 4.2); throws KEK_UNWRAP_FAILED on any mismatch. */
export function aesKeyUnwrapPad(kek: Buffer, wrapped: Uint8Array): Buffer {
  if (wrapped.length < 16 || wrapped.length % 8 !== 0) {
    throw new KekError('KEK_WRAP_INPUT', `a wrapped value is a multiple of 8 bytes and at least 16, not ${wrapped.length}`);
  }
  const decipher = createDecipheriv(wrapCipher(kek), kek, RFC5649_AIV);
  try {
    return Buffer.concat([decipher.update(wrapped), decipher.final()]);
  } catch (cause) {
    // OpenSSL reports a failed integrity check as "unsupported state": say what it means.
    throw new KekError('KEK_UNWRAP_FAILED', 'key unwrap failed the RFC 5649 integrity check: wrong KEK, or the wrapped bytes were changed', { cause });
  }
}

// ---------------------------------------------------------------------------------------
// The key-encryption key

/**
 * Wraps what the store keeps. Asynchronous because a KEK may live in an HSM served by a
 * worker thread. `id` names the KEK (not secret), so stored values record what wrapped them.
 */
export interface KeyEncryptionKey {
  readonly id: string;
  wrap(plain: Buffer): Promise<Buffer>;
  unwrap(wrapped: Buffer): Promise<Buffer>;
}

export const KEK_SIZE = 32;
const FINGERPRINT_LABEL = 'kmipd KEK fingerprint v1\0';

/** First 8 bytes of SHA-256(label || key), hex: identifies a KEK without revealing it. */
export function kekFingerprint(key: KeyMaterial): string {
  return createHash('sha256').update(FINGERPRINT_LABEL).update(key.bytes).digest().subarray(0, 8).toString('hex');
}

/** An AES-256 KEK held in memory, loaded from a file created by `kmipd init`. */
export class FileKek implements KeyEncryptionKey {
  readonly id: string;
  readonly #key: KeyMaterial;

  constructor(key: KeyMaterial) {
    if (key.length !== KEK_SIZE) throw new KekError('KEK_FILE_INVALID', `a KEK is ${KEK_SIZE} bytes, not ${key.length}`);
    this.#key = key;
    this.id = kekFingerprint(key);
  }

  async wrap(plain: Buffer): Promise<Buffer> {
    return aesKeyWrapPad(this.#key.bytes, plain);
  }

  async unwrap(wrapped: Buffer): Promise<Buffer> {
    try {
      return aesKeyUnwrapPad(this.#key.bytes, wrapped);
    } catch (error) {
      if (error instanceof KekError && error.code === 'KEK_UNWRAP_FAILED') {
        throw new KekError('KEK_UNWRAP_FAILED', `${error.message} (KEK ${this.id})`, { cause: error });
      }
      throw error;
    }
  }

  /** Zero the key in memory; the KEK cannot be used afterwards. */
  wipe(): void {
    this.#key.wipe();
  }

  toString(): string {
    return `FileKek<${this.id}>`;
  }

  toJSON(): string {
    return this.toString();
  }

  [inspect.custom](): string {
    return this.toString();
  }
}

/**
 * Create a new KEK file: 32 random bytes, mode 0600 whatever the umask, created exclusively
 * (an existing file is never overwritten: losing a KEK loses every key wrapped under it).
 */
export async function createKekFile(path: string): Promise<FileKek> {
  const key = KeyMaterial.random(KEK_SIZE);
  let handle;
  try {
    handle = await open(path, 'wx', 0o600);
  } catch (error) {
    key.wipe();
    if (isErrnoCode(error, 'EEXIST')) {
      throw new KekError('KEK_FILE_EXISTS', `KEK file ${path} already exists: refusing to overwrite it`, { cause: error });
    }
    throw error;
  }
  try {
    await handle.chmod(0o600);
    await handle.writeFile(key.bytes);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await syncDirectory(dirname(path));
  return new FileKek(key);
}

/** Load a KEK file; refuses a file that group or others may read or write. */
export async function loadKekFile(path: string): Promise<FileKek> {
  const handle = await open(path, 'r');
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw new KekError('KEK_FILE_INVALID', `KEK file ${path} is not a regular file`);
    const mode = stat.mode & 0o777;
    if ((mode & 0o077) !== 0) {
      throw new KekError(
        'KEK_FILE_MODE',
        `KEK file ${path} has mode ${mode.toString(8).padStart(4, '0')}, so other users may read it: run \`chmod 600 ${path}\``,
      );
    }
    if (stat.size !== KEK_SIZE) {
      throw new KekError('KEK_FILE_INVALID', `KEK file ${path} holds ${stat.size} bytes, a KEK is ${KEK_SIZE}`);
    }
    const bytes = Buffer.alloc(KEK_SIZE);
    const { bytesRead } = await handle.read(bytes, 0, KEK_SIZE, 0);
    if (bytesRead !== KEK_SIZE) {
      bytes.fill(0);
      throw new KekError('KEK_FILE_INVALID', `KEK file ${path}: read ${bytesRead} bytes, a KEK is ${KEK_SIZE}`);
    }
    return new FileKek(new KeyMaterial(bytes));
  } finally {
    await handle.close();
  }
}

/** Make a new directory entry durable (Linux: fsync of the directory). Best effort elsewhere. */
async function syncDirectory(path: string): Promise<void> {
  try {
    const dir = await open(path, 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  } catch {
    // Some platforms cannot open or fsync a directory; the file itself is already synced.
  }
}

function isErrnoCode(error: unknown, code: string): boolean {
  return error instanceof Error && (error as NodeJS.ErrnoException).code === code;
}
