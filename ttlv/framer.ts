/**
 * Turns a byte stream into whole TTLV messages, whatever the TCP fragmentation.
 *
 * Every KMIP message is one top-level item, so its length is known from its 8-byte header.
 * A message whose declared length passes the maximum is refused from the header alone,
 * before anything is buffered or allocated for it. After an error the stream cannot be
 * re-synchronised: the framer stays failed and the connection should be closed.
 */
import { HEADER_SIZE, padded, readHeader } from './binary.js';
import { TtlvError } from './errors.js';
import { ItemType } from './item.js';

export interface FramerOptions {
  /** Largest accepted message, header included, in bytes. */
  readonly maxMessageSize: number;
  /** Refuse a message whose top-level item is not a Structure (garbage, TLS or HTTP on the wrong port). */
  readonly requireStructure?: boolean;
}

export const DEFAULT_MAX_MESSAGE_SIZE = 1024 * 1024;

export class TtlvFramer {
  /** Received bytes not yet returned as a message; joined only once a message is whole. */
  private chunks: Buffer[] = [];
  private length = 0;
  /** Size of the message being received, once its header is in. */
  private expected: number | undefined;
  private failed: TtlvError | undefined;
  /** Total bytes consumed so far, for error offsets relative to the stream. */
  private consumed = 0;
  private readonly maxMessageSize: number;
  private readonly requireStructure: boolean;

  constructor(options: Partial<FramerOptions> = {}) {
    this.maxMessageSize = options.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE;
    this.requireStructure = options.requireStructure ?? true;
  }

  /** Bytes held while waiting for the rest of a message. */
  get buffered(): number {
    return this.length;
  }

  /**
   * How many more bytes complete what is being received: the rest of the message once its
   * header is in; else, when `next` starts with the whole header of an acceptable message,
   * that message; else the rest of a header. A reader that passes `read` no more than this
   * each time stops at message boundaries, and knows what it holds (a server's byte budget).
   */
  needed(next: Uint8Array): number {
    if (this.expected !== undefined) return this.expected - this.length;
    if (this.length === 0 && this.failed === undefined && next.length >= HEADER_SIZE) {
      const { type, length } = readHeader(Buffer.from(next.buffer, next.byteOffset, HEADER_SIZE));
      const size = HEADER_SIZE + padded(length);
      // A header that read() will refuse is given alone.
      if (size <= this.maxMessageSize && (!this.requireStructure || type === ItemType.Structure)) return size;
    }
    return HEADER_SIZE - this.length;
  }

  /**
   * Add a chunk and return every message it completes, in order. Each returned buffer holds
   * exactly one message; it may share memory with `chunk`. Throws TtlvError when the stream
   * cannot be framed (messages completed earlier in the same chunk are lost: use `read`).
   */
  push(chunk: Uint8Array): Buffer[] {
    const { messages, error } = this.read(chunk);
    if (error) throw error;
    return messages;
  }

  /**
   * Like `push`, but never throws: the messages completed before a framing error come back
   * with the error, so a server can answer them before it answers the error and closes.
   */
  read(chunk: Uint8Array): { messages: Buffer[]; error?: TtlvError } {
    if (this.failed) return { messages: [], error: this.failed };
    const incoming = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (incoming.length === 0) return { messages: [] };
    this.chunks.push(incoming);
    this.length += incoming.length;
    const messages: Buffer[] = [];
    try {
      for (;;) {
        if (this.expected === undefined) {
          if (this.length < HEADER_SIZE) break;
          this.expected = this.messageSize(this.joined());
        }
        if (this.length < this.expected) break;
        const all = this.joined();
        messages.push(all.subarray(0, this.expected));
        this.consumed += this.expected;
        const rest = all.subarray(this.expected);
        this.chunks = rest.length === 0 ? [] : [rest];
        this.length = rest.length;
        this.expected = undefined;
      }
    } catch (error) {
      if (error instanceof TtlvError) return { messages, error };
      throw error;
    }
    // What stays pending is copied: the caller may reuse the chunk's memory.
    this.chunks = this.chunks.map((c) => (c.buffer === incoming.buffer ? Buffer.from(c) : c));
    return { messages };
  }

  /** All pending bytes in one buffer (a view when there is a single chunk). */
  private joined(): Buffer {
    if (this.chunks.length !== 1) this.chunks = [Buffer.concat(this.chunks, this.length)];
    return this.chunks[0] as Buffer;
  }

  /** The size of the message whose header starts `buf`, checked against the limits. */
  private messageSize(buf: Buffer): number {
    const { tag, type, length } = readHeader(buf);
    if (this.requireStructure && type !== ItemType.Structure) {
      throw this.fail(new TtlvError('BAD_TYPE', `a message must be a Structure, not item type 0x${type.toString(16).padStart(2, '0')}`, { offset: this.consumed, tag }));
    }
    const size = HEADER_SIZE + padded(length);
    if (size > this.maxMessageSize) {
      throw this.fail(new TtlvError('TOO_LARGE', `message of ${size} bytes exceeds the maximum of ${this.maxMessageSize}`, { offset: this.consumed, tag }));
    }
    return size;
  }

  private fail(error: TtlvError): TtlvError {
    this.failed = error;
    this.chunks = [];
    this.length = 0;
    return error;
  }
}
