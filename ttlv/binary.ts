/**
 * Binary TTLV (KMIP 1.4 section 9.1, KMIP 2.1 section 9.1): every item is a 3-byte tag,
 * a 1-byte type, a 4-byte big-endian length, and a value padded with zeros to a multiple
 * of 8 bytes.
 *
 * Decoding trusts nothing: each length is checked against what is left before anything is
 * read or sliced, nesting depth is bounded, and the only error thrown is TtlvError.
 * Byte String values are views into the input: copy them before keeping them past the
 * life of the input buffer.
 */
import { TtlvError } from './errors.js';
import { ItemType, itemTypeName } from './item.js';
import type { LeafItem, TtlvItem } from './item.js';

export const HEADER_SIZE = 8;

export interface DecodeOptions {
  /** Deepest Structure nesting accepted; the message itself is depth 1. */
  readonly maxDepth?: number;
}

export const DEFAULT_MAX_DEPTH = 32;

const INT32_MIN = -0x80000000;
const INT32_MAX = 0x7fffffff;
const UINT32_MAX = 0xffffffff;
const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Length rounded up to a multiple of 8. Arithmetic, not bitwise: lengths reach 2^32 - 1. */
export function padded(length: number): number {
  return Math.ceil(length / 8) * 8;
}

// ---------------------------------------------------------------------------------------
// Decoding

/** Decode exactly one item that fills `bytes` (a whole message). */
export function decodeTtlv(bytes: Uint8Array, options: DecodeOptions = {}): TtlvItem {
  const buf = asBuffer(bytes);
  const reader = new Reader(buf, options.maxDepth ?? DEFAULT_MAX_DEPTH);
  const item = reader.item(buf.length, 1);
  if (reader.at !== buf.length) {
    throw new TtlvError('TRAILING', `${buf.length - reader.at} bytes follow the message`, { offset: reader.at });
  }
  return item;
}

/** Read only the header at `offset`: what the framer needs to know how long a message is. */
export function readHeader(buf: Buffer, offset = 0): { tag: number; type: number; length: number } {
  if (buf.length - offset < HEADER_SIZE) {
    throw new TtlvError('TRUNCATED', 'an item header needs 8 bytes', { offset });
  }
  return {
    tag: buf.readUIntBE(offset, 3),
    type: buf.readUInt8(offset + 3),
    length: buf.readUInt32BE(offset + 4),
  };
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * One pass over a buffer with a cursor: every item of every request and of every stored
 * object comes through here, so an item costs its own object and nothing more (no
 * result-and-offset pair, no header object, no closure).
 */
class Reader {
  /** Where the next item starts. */
  at = 0;

  constructor(
    private readonly buf: Buffer,
    private readonly maxDepth: number,
  ) {}

  /** The item at the cursor, which must end by `limit`; the cursor moves past it. */
  item(limit: number, depth: number): TtlvItem {
    const buf = this.buf;
    const offset = this.at;
    if (limit - offset < HEADER_SIZE) {
      throw new TtlvError('TRUNCATED', `an item header needs 8 bytes, ${limit - offset} left`, { offset });
    }
    // Byte by byte within the 8 bytes just checked: the read calls' own checks cost as much as the rest of an item.
    const tag = ((buf[offset] as number) << 16) | ((buf[offset + 1] as number) << 8) | (buf[offset + 2] as number);
    const type = buf[offset + 3] as number;
    const length = ((buf[offset + 4] as number) * 0x1000000) + (((buf[offset + 5] as number) << 16) | ((buf[offset + 6] as number) << 8) | (buf[offset + 7] as number));
    const typeName = itemTypeName(type);
    if (typeName === undefined) {
      throw new TtlvError('BAD_TYPE', `unknown item type 0x${type.toString(16).padStart(2, '0')}`, { offset, tag });
    }
    if (typeName === 'Structure' && length % 8 !== 0) {
      throw new TtlvError('BAD_LENGTH', `structure length ${length} is not a multiple of 8`, { offset, tag });
    }
    const start = offset + HEADER_SIZE;
    // Compare in numbers, not by allocating: a hostile length is refused before any read.
    const size = padded(length);
    if (size > limit - start) {
      throw new TtlvError('TRUNCATED', `item claims ${length} bytes, only ${limit - start} left`, { offset, tag });
    }
    const end = start + size;
    if (typeName === 'Structure') {
      if (depth > this.maxDepth) {
        throw new TtlvError('TOO_DEEP', `structures nested deeper than ${this.maxDepth}`, { offset, tag });
      }
      const children: TtlvItem[] = [];
      this.at = start;
      // Each child moves the cursor to its end, which is at most `end`.
      while (this.at < end) children.push(this.item(end, depth + 1));
      return { tag, type: 'Structure', value: children };
    }
    this.checkPadding(start + length, end, tag);
    this.at = end;
    return this.leaf(tag, typeName, start, length, offset);
  }

  private leaf(tag: number, type: Exclude<keyof typeof ItemType, 'Structure'>, at: number, length: number, offset: number): LeafItem {
    const buf = this.buf;
    switch (type) {
      case 'Integer':
        this.expectLength(type, length, 4, offset, tag);
        return { tag, type, value: buf.readInt32BE(at) };
      case 'Enumeration':
        this.expectLength(type, length, 4, offset, tag);
        return { tag, type, value: buf.readUInt32BE(at) };
      case 'Interval':
        this.expectLength(type, length, 4, offset, tag);
        return { tag, type, value: buf.readUInt32BE(at) };
      case 'LongInteger':
        this.expectLength(type, length, 8, offset, tag);
        return { tag, type, value: buf.readBigInt64BE(at) };
      case 'DateTime':
        this.expectLength(type, length, 8, offset, tag);
        return { tag, type, value: buf.readBigInt64BE(at) };
      case 'DateTimeExtended':
        this.expectLength(type, length, 8, offset, tag);
        return { tag, type, value: buf.readBigInt64BE(at) };
      case 'Boolean': {
        this.expectLength(type, length, 8, offset, tag);
        const value = buf.readBigUInt64BE(at);
        if (value > 1n) throw new TtlvError('BAD_VALUE', `Boolean must be 0 or 1, not ${value}`, { offset, tag });
        return { tag, type, value: value === 1n };
      }
      case 'BigInteger':
        // 9.1.1.4: a Big Integer is sign-extended to a multiple of 8 bytes.
        if (length === 0 || length % 8 !== 0) {
          throw new TtlvError('BAD_LENGTH', `Big Integer length must be a positive multiple of 8, not ${length}`, { offset, tag });
        }
        return { tag, type, value: bigIntFromBytes(buf.subarray(at, at + length)) };
      case 'TextString':
        return { tag, type, value: this.text(at, length, offset, tag) };
      case 'ByteString':
        return { tag, type, value: buf.subarray(at, at + length) };
    }
  }

  private expectLength(type: string, length: number, wanted: number, offset: number, tag: number): void {
    if (length !== wanted) throw new TtlvError('BAD_LENGTH', `${type} length must be ${wanted}, not ${length}`, { offset, tag });
  }

  /**
   * A Text String. ASCII (identifiers, names, dates: nearly every one) is taken as it is;
   * anything else goes through the strict UTF-8 decoder, which refuses malformed bytes. The
   * strict decoder's fixed cost was about a third of decoding a stored object's attributes.
   */
  private text(at: number, length: number, offset: number, tag: number): string {
    const buf = this.buf;
    const end = at + length;
    // Indexing, not readUInt8: `end` is within the checked item, and this loop runs per character.
    let ascii = true;
    for (let i = at; i < end; i++) {
      if ((buf[i] as number) > 0x7f) {
        ascii = false;
        break;
      }
    }
    if (ascii) return buf.toString('latin1', at, end);
    try {
      return utf8.decode(buf.subarray(at, end));
    } catch {
      throw new TtlvError('BAD_VALUE', 'Text String is not valid UTF-8', { offset, tag });
    }
  }

  private checkPadding(from: number, to: number, tag: number): void {
    const buf = this.buf;
    for (let i = from; i < to; i++) {
      if (buf[i] !== 0) {
        throw new TtlvError('BAD_PADDING', 'padding bytes must be zero', { offset: i, tag });
      }
    }
  }
}

function bigIntFromBytes(bytes: Buffer): bigint {
  const unsigned = BigInt(`0x${bytes.toString('hex')}`);
  const negative = (bytes.readUInt8(0) & 0x80) !== 0;
  return negative ? unsigned - (1n << BigInt(bytes.length * 8)) : unsigned;
}

// ---------------------------------------------------------------------------------------
// Encoding

/** Encode one item (normally a whole message) into a new buffer. */
export function encodeTtlv(item: TtlvItem): Buffer {
  const lengths: number[] = [];
  const total = measure(item, lengths);
  const buf = Buffer.alloc(total);
  write(item, buf, 0, { lengths, next: 0 });
  return buf;
}

/** Encoded size of an item in bytes, header and padding included. */
export function encodedSize(item: TtlvItem): number {
  return measure(item, []);
}

/**
 * Value length (before padding) of every item, in the order the write pass visits them
 * (depth first): a list read in turn, cheaper than a Map from item to length.
 */
function measure(item: TtlvItem, lengths: number[]): number {
  const index = lengths.length;
  lengths.push(0);
  let length: number;
  if (item.type === 'Structure') {
    length = 0;
    for (const child of item.value) length += measure(child, lengths);
  } else {
    length = leafLength(item);
  }
  lengths[index] = length;
  return HEADER_SIZE + padded(length);
}

/** The lengths `measure` found, and the next one the write pass takes. */
interface MeasuredLengths {
  readonly lengths: readonly number[];
  next: number;
}

function leafLength(item: LeafItem): number {
  switch (item.type) {
    case 'Integer':
    case 'Enumeration':
    case 'Interval':
      return 4;
    case 'LongInteger':
    case 'DateTime':
    case 'DateTimeExtended':
    case 'Boolean':
      return 8;
    case 'BigInteger':
      return bigIntToBytes(item.value).length;
    case 'TextString':
      return Buffer.byteLength(item.value, 'utf8');
    case 'ByteString':
      return item.value.length;
  }
}

function write(item: TtlvItem, buf: Buffer, offset: number, measured: MeasuredLengths): number {
  const length = measured.lengths[measured.next++] ?? 0;
  if (!Number.isInteger(item.tag) || item.tag < 0 || item.tag > 0xffffff) {
    throw new TtlvError('BAD_VALUE', `tag ${String(item.tag)} does not fit in 3 bytes`);
  }
  // Byte by byte: `measure` sized the buffer for every header, and the write calls' own
  // checks cost more than the rest of a header.
  const tag = item.tag;
  buf[offset] = tag >>> 16;
  buf[offset + 1] = (tag >>> 8) & 0xff;
  buf[offset + 2] = tag & 0xff;
  buf[offset + 3] = ItemType[item.type];
  buf[offset + 4] = length >>> 24;
  buf[offset + 5] = (length >>> 16) & 0xff;
  buf[offset + 6] = (length >>> 8) & 0xff;
  buf[offset + 7] = length & 0xff;
  let at = offset + HEADER_SIZE;
  if (item.type === 'Structure') {
    for (const child of item.value) at = write(child, buf, at, measured);
    return at;
  }
  writeLeaf(item, buf, at);
  return at + padded(length);
}

/** A value the item's type cannot hold; made only when thrown (a closure per leaf cost as much as writing it). */
function bad(item: LeafItem, why: string): TtlvError {
  return new TtlvError('BAD_VALUE', `${item.type} ${why}`, { tag: item.tag });
}

function writeLeaf(item: LeafItem, buf: Buffer, at: number): void {
  switch (item.type) {
    case 'Integer':
      if (!Number.isInteger(item.value) || item.value < INT32_MIN || item.value > INT32_MAX) throw bad(item, `${item.value} is not a signed 32-bit integer`);
      buf.writeInt32BE(item.value, at);
      return;
    case 'Enumeration':
    case 'Interval':
      if (!Number.isInteger(item.value) || item.value < 0 || item.value > UINT32_MAX) throw bad(item, `${item.value} is not an unsigned 32-bit integer`);
      buf.writeUInt32BE(item.value, at);
      return;
    case 'LongInteger':
    case 'DateTime':
    case 'DateTimeExtended':
      if (item.value < INT64_MIN || item.value > INT64_MAX) throw bad(item, `${item.value} is not a signed 64-bit integer`);
      buf.writeBigInt64BE(item.value, at);
      return;
    case 'Boolean':
      buf.writeBigUInt64BE(item.value ? 1n : 0n, at);
      return;
    case 'BigInteger':
      bigIntToBytes(item.value).copy(buf, at);
      return;
    case 'TextString':
      buf.write(item.value, at, 'utf8');
      return;
    case 'ByteString':
      buf.set(item.value, at);
      return;
  }
}

/** Two's complement, big-endian, sign-extended to the smallest multiple of 8 bytes (9.1.1.4). */
export function bigIntToBytes(value: bigint): Buffer {
  // A negative value -m needs as many bits as m - 1; one more bit holds the sign.
  const magnitude = value < 0n ? -value - 1n : value;
  const bytes = Math.max(8, padded(Math.ceil((bitLength(magnitude) + 1) / 8)));
  const unsigned = value < 0n ? (1n << BigInt(bytes * 8)) + value : value;
  return Buffer.from(unsigned.toString(16).padStart(bytes * 2, '0'), 'hex');
}

function bitLength(n: bigint): number {
  if (n === 0n) return 0;
  const hex = n.toString(16);
  return (hex.length - 1) * 4 + parseInt(hex.charAt(0), 16).toString(2).length;
}
