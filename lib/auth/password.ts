/**
 * Password hashes for the KMIP Username and Password Credential: scrypt (RFC 7914) from
 * node:crypto, run on libuv's thread pool so that the event loop keeps serving. Each hash
 * carries its own random salt and cost parameters, so the cost can be raised later without
 * invalidating the hashes already stored. The text form is the PHC string format:
 *
 *   $scrypt$ln=15,r=8,p=1$<salt>$<hash>     (base64 without padding; N = 2^ln)
 */
import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { cryptoThreads } from '../crypto/thread-pool.js';

export interface ScryptParams {
  /** log2 of N, the CPU and memory cost. */
  readonly logN: number;
  /** Block size. */
  readonly r: number;
  /** Parallelism. */
  readonly p: number;
}

/** N = 32768, r = 8, p = 1: 32 MiB and some 50–100 ms a verification on a server core. */
export const DEFAULT_SCRYPT: ScryptParams = { logN: 15, r: 8, p: 1 };

const SALT_BYTES = 16;
const HASH_BYTES = 32;

/**
 * What a stored hash may ask for. A users file edited by hand (or by an attacker who can
 * write it but should not take the server down) cannot make one verification allocate more
 * than 256 MiB.
 */
const MAX_MEMORY = 256 * 1024 * 1024;
const BOUNDS = { logN: [10, 22], r: [1, 32], p: [1, 16] } as const;

export class PasswordHashError extends Error {
  override readonly name = 'PasswordHashError';
}

export interface PasswordHash {
  readonly params: ScryptParams;
  readonly salt: Buffer;
  readonly hash: Buffer;
}

/** Memory scrypt needs for these parameters (RFC 7914: 128 * N * r, plus 128 * r * p). */
function memoryFor(params: ScryptParams): number {
  return 128 * 2 ** params.logN * params.r + 128 * params.r * params.p;
}

function checkParams(params: ScryptParams): ScryptParams {
  for (const key of ['logN', 'r', 'p'] as const) {
    const [min, max] = BOUNDS[key];
    const value = params[key];
    if (!Number.isSafeInteger(value) || value < min || value > max) {
      throw new PasswordHashError(`scrypt ${key === 'logN' ? 'ln' : key}=${value} is outside ${min}–${max}`);
    }
  }
  if (memoryFor(params) > MAX_MEMORY) throw new PasswordHashError(`scrypt ln=${params.logN},r=${params.r} needs more than ${MAX_MEMORY / 1024 / 1024} MiB`);
  return params;
}

const BASE64 = /^[A-Za-z0-9+/]+$/;

/** Read a stored hash; throws PasswordHashError saying what is wrong with it. */
export function parsePasswordHash(text: string): PasswordHash {
  const parts = text.split('$');
  if (parts.length !== 5 || parts[0] !== '' || parts[1] !== 'scrypt') throw new PasswordHashError('not an scrypt hash of the form $scrypt$ln=..,r=..,p=..$SALT$HASH');
  const [, , paramText = '', saltText = '', hashText = ''] = parts;
  const fields = new Map(paramText.split(',').map((pair) => pair.split('=') as [string, string | undefined]));
  const number = (key: string): number => {
    const value = fields.get(key);
    if (value === undefined || !/^\d{1,3}$/.test(value)) throw new PasswordHashError(`scrypt parameter ${key} is missing or not a number`);
    return Number(value);
  };
  if (fields.size !== 3) throw new PasswordHashError('scrypt parameters must be exactly ln, r and p');
  const params = checkParams({ logN: number('ln'), r: number('r'), p: number('p') });
  if (!BASE64.test(saltText) || !BASE64.test(hashText)) throw new PasswordHashError('the salt and hash must be base64 without padding');
  const salt = Buffer.from(saltText, 'base64');
  const hash = Buffer.from(hashText, 'base64');
  if (salt.length < 8) throw new PasswordHashError('the salt is shorter than 8 bytes');
  if (hash.length < 16 || hash.length > 64) throw new PasswordHashError('the hash must be 16 to 64 bytes');
  return { params, salt, hash };
}

export function formatPasswordHash({ params, salt, hash }: PasswordHash): string {
  const b64 = (bytes: Buffer): string => bytes.toString('base64').replace(/=+$/, '');
  return `$scrypt$ln=${params.logN},r=${params.r},p=${params.p}$${b64(salt)}$${b64(hash)}`;
}

/** Passwords are compared as UTF-8 of their NFC form, so one typed on another system still matches. */
function passwordBytes(password: string): Buffer {
  return Buffer.from(password.normalize('NFC'), 'utf8');
}

/** On the thread pool, taking turns with the other long jobs there (lib/crypto/thread-pool.ts). */
function derive(password: string, salt: Buffer, params: ScryptParams, length: number): Promise<Buffer> {
  return cryptoThreads.run(
    () =>
      new Promise((resolve, reject) => {
        scrypt(passwordBytes(password), salt, length, { N: 2 ** params.logN, r: params.r, p: params.p, maxmem: memoryFor(params) + 1024 * 1024 }, (error, key) => {
          if (error) reject(error);
          else resolve(key);
        });
      }),
  );
}

/** A new hash of `password` with a random salt. */
export async function hashPassword(password: string, params: ScryptParams = DEFAULT_SCRYPT): Promise<string> {
  checkParams(params);
  const salt = randomBytes(SALT_BYTES);
  return formatPasswordHash({ params, salt, hash: await derive(password, salt, params, HASH_BYTES) });
}

/** Whether `password` is the one `stored` was made from; compared in constant time. */
export async function verifyPassword(password: string, stored: PasswordHash | string): Promise<boolean> {
  const { params, salt, hash } = typeof stored === 'string' ? parsePasswordHash(stored) : stored;
  const candidate = await derive(password, salt, params, hash.length);
  return timingSafeEqual(candidate, hash);
}
