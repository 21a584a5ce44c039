/**
 * AES key wrap with padding (RFC 5649) computed one AES block at a time, so that the block
 * cipher can be a key that never leaves an HSM (AES-ECB on the token). PKCS#11 modules offer
 * no RFC 5649 we can trust (SoftHSM's CKM_AES_KEY_WRAP_PAD zero-pads first, and its
 * CKM_AES_KEY_WRAP refuses an initial value), so the RFC 3394 rounds run here over ECB.
 *
 * Each wrap or unwrap is a job: a state machine that asks for one block at a time. The
 * worker advances many jobs together, one ECB call for the next block of every job, because
 * within one job every block depends on the one before.
 */
import { timingSafeEqual } from 'node:crypto';
import { KekError } from '../kek.js';

export const BLOCK = 16;
const SEMIBLOCK = 8;

/** RFC 5649 section 3: the Alternative Initial Value is this constant, then the 32-bit length. */
const AIV_CONSTANT = Buffer.from('a65959a6', 'hex');

/**
 * The largest value wrapped: the largest KMIP message kmipd can be configured to accept.
 * Each MiB is 786,432 sequential block operations (about 2.5 s on SoftHSM).
 */
export const MAX_WRAP_INPUT = 64 * 1024 * 1024;

/** One wrap or unwrap, fed one AES block at a time. */
export interface BlockJob {
  readonly done: boolean;
  /** Write the next cipher input (16 bytes) at `out[offset]`. */
  nextInput(out: Buffer, offset: number): void;
  /** Take the cipher's output (16 bytes at `block[offset]`) for the input last written. */
  takeOutput(block: Buffer, offset: number): void;
  /** The wrapped or unwrapped value, once done; in its own ArrayBuffer (it may be transferred). */
  result(): Uint8Array;
  /** Zero the intermediate values. */
  wipe(): void;
}

/** XOR the 64-bit big-endian counter `t` into the 8 bytes at `buf[offset]`. */
function xorCounter(buf: Buffer, offset: number, t: number): void {
  const high = Math.floor(t / 0x1_0000_0000);
  const low = t >>> 0;
  buf.writeUInt32BE((buf.readUInt32BE(offset) ^ high) >>> 0, offset);
  buf.writeUInt32BE((buf.readUInt32BE(offset + 4) ^ low) >>> 0, offset + 4);
}

export function checkWrapInput(length: number): void {
  if (length === 0) throw new KekError('KEK_WRAP_INPUT', 'cannot wrap an empty value');
  if (length > MAX_WRAP_INPUT) {
    throw new KekError('KEK_WRAP_INPUT', `cannot wrap ${length} bytes under an HSM KEK: the limit is ${MAX_WRAP_INPUT}`);
  }
}

export function checkUnwrapInput(length: number): void {
  if (length < 16 || length % 8 !== 0) {
    throw new KekError('KEK_WRAP_INPUT', `a wrapped value is a multiple of 8 bytes and at least 16, not ${length}`);
  }
  if (length > MAX_WRAP_INPUT + 8) {
    throw new KekError('KEK_WRAP_INPUT', `cannot unwrap ${length} bytes under an HSM KEK: the limit is ${MAX_WRAP_INPUT + 8}`);
  }
}

/**
 * RFC 5649 section 4.1. With n padded 64-bit blocks: n = 1 is one AES block of AIV || P;
 * otherwise the RFC 3394 wrapping process W with the AIV as its initial value, 6n steps.
 */
export class WrapJob implements BlockJob {
  readonly #n: number;
  readonly #steps: number;
  /** A || R[1..n]: the output in place, R starts as the zero-padded plaintext. */
  readonly #out: Buffer;
  #step = 0;

  constructor(plain: Uint8Array) {
    checkWrapInput(plain.length);
    this.#n = Math.ceil(plain.length / SEMIBLOCK);
    this.#steps = this.#n === 1 ? 1 : 6 * this.#n;
    // Buffer.alloc never hands out a slice of the shared pool, so the result can be transferred.
    this.#out = Buffer.alloc(SEMIBLOCK * (this.#n + 1));
    AIV_CONSTANT.copy(this.#out, 0);
    this.#out.writeUInt32BE(plain.length, 4);
    this.#out.set(plain, SEMIBLOCK);
  }

  get done(): boolean {
    return this.#step === this.#steps;
  }

  nextInput(out: Buffer, offset: number): void {
    this.#out.copy(out, offset, 0, SEMIBLOCK);
    const r = SEMIBLOCK * (1 + (this.#step % this.#n));
    this.#out.copy(out, offset + SEMIBLOCK, r, r + SEMIBLOCK);
  }

  takeOutput(block: Buffer, offset: number): void {
    const i = this.#step % this.#n;
    this.#step += 1;
    if (this.#n === 1) {
      block.copy(this.#out, 0, offset, offset + BLOCK);
      return;
    }
    // A = MSB64(B) ^ t with t = n*j + i (1-based i); R[i] = LSB64(B).
    block.copy(this.#out, 0, offset, offset + SEMIBLOCK);
    xorCounter(this.#out, 0, this.#step);
    block.copy(this.#out, SEMIBLOCK * (1 + i), offset + SEMIBLOCK, offset + BLOCK);
  }

  result(): Uint8Array {
    if (!this.done) throw new Error('WrapJob.result() before the last block');
    return this.#out;
  }

  wipe(): void {
    this.#out.fill(0);
  }
}

/** RFC 5649 section 4.2: the inverse, then the AIV, length and padding checks. */
export class UnwrapJob implements BlockJob {
  readonly #n: number;
  readonly #steps: number;
  /** A || R[1..n], in place. */
  readonly #state: Buffer;
  #step = 0;

  constructor(wrapped: Uint8Array) {
    checkUnwrapInput(wrapped.length);
    this.#n = wrapped.length / SEMIBLOCK - 1;
    this.#steps = this.#n === 1 ? 1 : 6 * this.#n;
    this.#state = Buffer.alloc(wrapped.length);
    this.#state.set(wrapped);
  }

  get done(): boolean {
    return this.#step === this.#steps;
  }

  /** t = n*j + i of the step at hand: the wrap's steps, last first. */
  #t(): number {
    return this.#steps - this.#step;
  }

  nextInput(out: Buffer, offset: number): void {
    this.#state.copy(out, offset, 0, SEMIBLOCK);
    if (this.#n === 1) {
      this.#state.copy(out, offset + SEMIBLOCK, SEMIBLOCK, BLOCK);
      return;
    }
    const t = this.#t();
    xorCounter(out, offset, t);
    const r = SEMIBLOCK * (1 + ((t - 1) % this.#n));
    this.#state.copy(out, offset + SEMIBLOCK, r, r + SEMIBLOCK);
  }

  takeOutput(block: Buffer, offset: number): void {
    if (this.#n === 1) {
      block.copy(this.#state, 0, offset, offset + BLOCK);
    } else {
      const r = SEMIBLOCK * (1 + ((this.#t() - 1) % this.#n));
      block.copy(this.#state, 0, offset, offset + SEMIBLOCK);
      block.copy(this.#state, r, offset + SEMIBLOCK, offset + BLOCK);
    }
    this.#step += 1;
  }

  /**
   * The plaintext, or KEK_UNWRAP_FAILED when the AIV constant, the length or the padding is
   * wrong. All three are checked before deciding, and every failure reads the same, so a
   * caller learns nothing about which check failed (no padding oracle).
   */
  result(): Uint8Array {
    if (!this.done) throw new Error('UnwrapJob.result() before the last block');
    const n = this.#n;
    const mli = this.#state.readUInt32BE(4);
    const constantOk = timingSafeEqual(this.#state.subarray(0, 4), AIV_CONSTANT);
    const lengthOk = mli > SEMIBLOCK * (n - 1) && mli <= SEMIBLOCK * n;
    // Bytes of the last semiblock at or after `padStart` must be zero.
    const padStart = Math.min(Math.max(mli - SEMIBLOCK * (n - 1), 0), SEMIBLOCK);
    const last = SEMIBLOCK * n;
    let padding = 0;
    for (let k = 0; k < SEMIBLOCK; k += 1) {
      const inPadding = ((padStart - 1 - k) >> 31) & 0xff; // 0xff when k >= padStart
      padding |= this.#state.readUInt8(last + k) & inPadding;
    }
    if (!(constantOk && lengthOk && padding === 0)) {
      this.wipe();
      throw new KekError('KEK_UNWRAP_FAILED', 'key unwrap failed the RFC 5649 integrity check: wrong KEK, or the wrapped bytes were changed');
    }
    const plain = new Uint8Array(mli);
    plain.set(this.#state.subarray(SEMIBLOCK, SEMIBLOCK + mli));
    this.wipe();
    return plain;
  }

  wipe(): void {
    this.#state.fill(0);
  }
}

/** Run one job to the end with a block cipher over whole blocks (tests, and one-off use). */
export function runJob(job: BlockJob, cipher: (blocks: Buffer) => Buffer): Uint8Array {
  const input = Buffer.alloc(BLOCK);
  while (!job.done) {
    job.nextInput(input, 0);
    job.takeOutput(cipher(input), 0);
  }
  input.fill(0);
  return job.result();
}
