/**
 * Secret splitting for Create Split Key and Join Split Key (KMIP 1.4 section 2.2.5, 2.1
 * section 13.1): XOR, and Shamir's polynomial sharing [w1979] over GF(2^8), GF(2^16) and a
 * prime field. Share i is the polynomial evaluated at x = i (the Key Part Identifier).
 *
 * - GF(2^8) is the AES field, x^8 + x^4 + x^3 + x + 1 (FIPS 197; 1.4 section 2.2.5).
 * - GF(2^16) is GF(2^8)[y]/(y^2 + y + m), m = {3A}; an element is the byte pair (u, v) for
 *   uy + v, and a secret is shared piecewise, two bytes at a time. (The product formula
 *   printed in the specification swaps m in its constant term; its inverse formula, used
 *   here to check, fixes y^2 = y + m.)
 * - Prime field: the secret is a big-endian integer below the prime; shares are big-endian
 *   integers of the prime's byte length.
 */
import { checkPrimeSync, randomBytes } from 'node:crypto';
import { KmipError } from '../errors.js';

/** The most parts kmipd makes of one key: GF(2^8) has 255 non-zero evaluation points. */
export const MAX_SPLIT_KEY_PARTS = 255;
/** Largest Prime Field Size, in bits: a 4096-bit secret and a little room. */
export const MAX_PRIME_BITS = 4160;

export type SplitMethod = 'xor' | 'gf256' | 'gf65536' | 'prime';

export interface Share {
  /** The Key Part Identifier, 1 to parts. */
  readonly id: number;
  readonly bytes: Buffer;
}

// ---------------------------------------------------------------------------------------
// GF(2^8)

const EXP = new Uint8Array(512);
const LOG = new Uint8Array(256);
{
  // 3 generates the multiplicative group of the AES field.
  let x = 1;
  for (let i = 0; i < 255; i++) {
    EXP[i] = x;
    LOG[x] = i;
    x ^= xtime(x);
  }
  for (let i = 255; i < 512; i++) EXP[i] = EXP[i - 255] ?? 0;
}

function xtime(a: number): number {
  return ((a << 1) ^ (a & 0x80 ? 0x1b : 0)) & 0xff;
}

export function gfMul(a: number, b: number): number {
  if (a === 0 || b === 0) return 0;
  return EXP[(LOG[a] ?? 0) + (LOG[b] ?? 0)] ?? 0;
}

export function gfInv(a: number): number {
  if (a === 0) throw new RangeError('0 has no inverse');
  return EXP[255 - (LOG[a] ?? 0)] ?? 0;
}

// ---------------------------------------------------------------------------------------
// GF(2^16) = GF(2^8)[y]/(y^2 + y + m)

const M = 0x3a;
/** An element uy + v as the 16-bit number (u << 8) | v. */
type Gf16 = number;

export function gf16Mul(a: Gf16, b: Gf16): Gf16 {
  const r = a >> 8;
  const s = a & 0xff;
  const u = b >> 8;
  const v = b & 0xff;
  const ru = gfMul(r, u);
  const sv = gfMul(s, v);
  const high = gfMul(r ^ s, u ^ v) ^ sv;
  const low = gfMul(ru, M) ^ sv;
  return (high << 8) | low;
}

export function gf16Inv(a: Gf16): Gf16 {
  const u = a >> 8;
  const v = a & 0xff;
  const d = gfMul(u ^ v, v) ^ gfMul(M, gfMul(u, u));
  const dInv = gfInv(d);
  return (gfMul(u, dInv) << 8) | gfMul(u ^ v, dInv);
}

// ---------------------------------------------------------------------------------------
// One field, one interface

interface Field<E> {
  readonly zero: E;
  add(a: E, b: E): E;
  sub(a: E, b: E): E;
  mul(a: E, b: E): E;
  inv(a: E): E;
  point(id: number): E;
  random(): E;
}

const GF256: Field<number> = {
  zero: 0,
  add: (a, b) => a ^ b,
  sub: (a, b) => a ^ b,
  mul: gfMul,
  inv: gfInv,
  point: (id) => id,
  random: () => randomBytes(1).readUInt8(0),
};

const GF65536: Field<number> = {
  zero: 0,
  add: (a, b) => a ^ b,
  sub: (a, b) => a ^ b,
  mul: gf16Mul,
  inv: gf16Inv,
  point: (id) => id,
  random: () => randomBytes(2).readUInt16BE(0),
};

function primeField(p: bigint): Field<bigint> {
  const mod = (a: bigint): bigint => ((a % p) + p) % p;
  const bytes = byteLength(p);
  return {
    zero: 0n,
    add: (a, b) => mod(a + b),
    sub: (a, b) => mod(a - b),
    mul: (a, b) => mod(a * b),
    inv: (a) => power(mod(a), p - 2n, p),
    point: (id) => BigInt(id),
    // 64 bits more than the prime before reducing: the bias is below 2^-64.
    random: () => toBigInt(randomBytes(bytes + 8)) % p,
  };
}

function power(base: bigint, exponent: bigint, modulus: bigint): bigint {
  let result = 1n;
  let b = base % modulus;
  let e = exponent;
  while (e > 0n) {
    if (e & 1n) result = (result * b) % modulus;
    b = (b * b) % modulus;
    e >>= 1n;
  }
  return result;
}

/** f(x) for the polynomial with coefficients `c` (c[0] the secret). */
function evaluate<E>(field: Field<E>, c: readonly E[], x: E): E {
  let y = field.zero;
  for (let i = c.length - 1; i >= 0; i--) y = field.add(field.mul(y, x), c[i] ?? field.zero);
  return y;
}

/** f(0) from t points (Lagrange interpolation). */
function interpolate<E>(field: Field<E>, points: readonly { x: E; y: E }[]): E {
  let secret = field.zero;
  for (const [j, pj] of points.entries()) {
    let num: E | undefined;
    let den: E | undefined;
    for (const [m, pm] of points.entries()) {
      if (m === j) continue;
      num = num === undefined ? pm.x : field.mul(num, pm.x);
      const diff = field.sub(pm.x, pj.x);
      den = den === undefined ? diff : field.mul(den, diff);
    }
    const basis = num === undefined || den === undefined ? undefined : field.mul(num, field.inv(den));
    secret = field.add(secret, basis === undefined ? pj.y : field.mul(pj.y, basis));
  }
  return secret;
}

function shareElements<E>(field: Field<E>, secret: E, parts: number, threshold: number): E[] {
  const coefficients = [secret, ...Array.from({ length: threshold - 1 }, () => field.random())];
  return Array.from({ length: parts }, (_, i) => evaluate(field, coefficients, field.point(i + 1)));
}

// ---------------------------------------------------------------------------------------
// Splitting and joining secrets

export interface SplitSpec {
  readonly method: SplitMethod;
  readonly parts: number;
  readonly threshold: number;
  /** Polynomial Sharing Prime Field only. */
  readonly prime?: bigint | undefined;
}

/** Checks a split's numbers; Invalid Field with the reason. */
export function checkSplitSpec(spec: SplitSpec, secretBytes: number): void {
  const { parts, threshold } = spec;
  if (!Number.isInteger(parts) || parts < 2 || parts > MAX_SPLIT_KEY_PARTS) {
    throw new KmipError('InvalidField', `Split Key Parts is 2 to ${MAX_SPLIT_KEY_PARTS}, not ${parts}`);
  }
  if (!Number.isInteger(threshold) || threshold < 2 || threshold > parts) {
    throw new KmipError('InvalidField', `Split Key Threshold is 2 to Split Key Parts (${parts}), not ${threshold}: a threshold of 1 would make every part a copy of the key`);
  }
  // 2.1 section 13.1: with XOR, "the number of split keys is Split Key Parts (identical to Split Key Threshold)".
  if (spec.method === 'xor' && threshold !== parts) {
    throw new KmipError('InvalidField', `XOR splitting needs every part: Split Key Threshold must equal Split Key Parts (${parts}), not ${threshold}`);
  }
  if (secretBytes < 1) throw new KmipError('InvalidField', 'there is no key material to split');
  if (spec.method === 'gf65536' && secretBytes % 2 !== 0) {
    throw new KmipError('InvalidField', `Polynomial Sharing GF(2^16) shares 16-bit pieces; a ${secretBytes * 8}-bit secret is not a whole number of them`);
  }
  if (spec.method === 'prime') checkPrime(spec.prime, secretBytes);
}

function checkPrime(prime: bigint | undefined, secretBytes: number): asserts prime is bigint {
  if (prime === undefined) throw new KmipError('InvalidField', 'Polynomial Sharing Prime Field needs a Prime Field Size');
  const bits = prime.toString(2).length;
  if (prime < 3n || bits > MAX_PRIME_BITS) throw new KmipError('InvalidField', `Prime Field Size must be a prime of 2 to ${MAX_PRIME_BITS} bits`);
  // Section 13.1: "a prime bigger than 2^L", so that every secret of L bits is a field element.
  if (prime <= 1n << BigInt(secretBytes * 8)) {
    throw new KmipError('InvalidField', `Prime Field Size must be larger than 2^${secretBytes * 8} to share a ${secretBytes * 8}-bit secret`);
  }
  if (!checkPrimeSync(prime, { checks: 32 })) throw new KmipError('InvalidField', 'Prime Field Size is not a prime');
}

/** The shares of `secret`, Key Part Identifiers 1 to parts. */
export function splitSecret(spec: SplitSpec, secret: Buffer): Share[] {
  checkSplitSpec(spec, secret.length);
  const ids = Array.from({ length: spec.parts }, (_, i) => i + 1);
  switch (spec.method) {
    case 'xor': {
      const shares = ids.slice(1).map(() => randomBytes(secret.length));
      const last = Buffer.from(secret);
      for (const s of shares) for (let i = 0; i < last.length; i++) last.writeUInt8(last.readUInt8(i) ^ s.readUInt8(i), i);
      return [...shares, last].map((bytes, i) => ({ id: i + 1, bytes }));
    }
    case 'gf256': {
      const out = ids.map(() => Buffer.alloc(secret.length));
      for (let i = 0; i < secret.length; i++) {
        shareElements(GF256, secret.readUInt8(i), spec.parts, spec.threshold).forEach((y, p) => out[p]?.writeUInt8(y, i));
      }
      return out.map((bytes, p) => ({ id: p + 1, bytes }));
    }
    case 'gf65536': {
      const out = ids.map(() => Buffer.alloc(secret.length));
      for (let i = 0; i < secret.length; i += 2) {
        shareElements(GF65536, secret.readUInt16BE(i), spec.parts, spec.threshold).forEach((y, p) => out[p]?.writeUInt16BE(y, i));
      }
      return out.map((bytes, p) => ({ id: p + 1, bytes }));
    }
    case 'prime': {
      const prime = spec.prime ?? 0n;
      const size = byteLength(prime);
      return shareElements(primeField(prime), toBigInt(secret), spec.parts, spec.threshold).map((y, p) => ({ id: p + 1, bytes: toBytes(y, size) }));
    }
  }
}

/**
 * The secret of `secretBytes` bytes from at least `threshold` shares of one split. Fewer
 * shares are refused: they carry no information about the secret.
 */
export function joinSecret(spec: SplitSpec, shares: readonly Share[], secretBytes: number): Buffer {
  checkSplitSpec(spec, secretBytes);
  if (shares.length < spec.threshold) {
    throw new KmipError('InvalidField', `joining needs at least Split Key Threshold (${spec.threshold}) parts, not ${shares.length}`);
  }
  const ids = new Set<number>();
  for (const share of shares) {
    if (!Number.isInteger(share.id) || share.id < 1 || share.id > spec.parts) throw new KmipError('InvalidField', `Key Part Identifier ${share.id} is outside 1 to ${spec.parts}`);
    if (ids.has(share.id)) throw new KmipError('InvalidField', `Key Part Identifier ${share.id} is given twice`);
    ids.add(share.id);
  }
  const used = shares.slice(0, spec.threshold);
  const expected = spec.method === 'prime' ? byteLength(spec.prime ?? 0n) : secretBytes;
  for (const share of used) {
    if (share.bytes.length !== expected) throw new KmipError('InvalidField', `Key Part ${share.id} holds ${share.bytes.length} bytes; this split's parts hold ${expected}`);
  }
  switch (spec.method) {
    case 'xor': {
      const out = Buffer.alloc(secretBytes);
      for (const s of used) for (let i = 0; i < secretBytes; i++) out.writeUInt8(out.readUInt8(i) ^ s.bytes.readUInt8(i), i);
      return out;
    }
    case 'gf256': {
      const out = Buffer.alloc(secretBytes);
      for (let i = 0; i < secretBytes; i++) out.writeUInt8(interpolate(GF256, used.map((s) => ({ x: s.id, y: s.bytes.readUInt8(i) }))), i);
      return out;
    }
    case 'gf65536': {
      const out = Buffer.alloc(secretBytes);
      for (let i = 0; i < secretBytes; i += 2) out.writeUInt16BE(interpolate(GF65536, used.map((s) => ({ x: s.id, y: s.bytes.readUInt16BE(i) }))), i);
      return out;
    }
    case 'prime': {
      const prime = spec.prime ?? 0n;
      const secret = interpolate(primeField(prime), used.map((s) => ({ x: BigInt(s.id), y: toBigInt(s.bytes) })));
      if (secret >= 1n << BigInt(secretBytes * 8)) throw new KmipError('CryptographicFailure', 'the parts do not join into a secret of the expected length: they are not parts of one split');
      return toBytes(secret, secretBytes);
    }
  }
}

function byteLength(n: bigint): number {
  return Math.ceil(n.toString(16).length / 2);
}

export function toBigInt(bytes: Uint8Array): bigint {
  return bytes.length === 0 ? 0n : BigInt(`0x${Buffer.from(bytes).toString('hex')}`);
}

export function toBytes(n: bigint, size: number): Buffer {
  const hex = n.toString(16).padStart(size * 2, '0');
  return Buffer.from(hex, 'hex');
}
