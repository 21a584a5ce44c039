/**
 * `kmipd ttlv decode|encode`: convert between binary TTLV and the KMIP XML/JSON encodings,
 * several messages at a time the way the OASIS test-case files hold them.
 */
import { readFileSync } from 'node:fs';
import { TtlvError, TtlvFramer, decodeTtlv, encodeTtlv, isConcrete, parseJson, parseXml, toJsonText, toXmlDocument } from '../../ttlv/index.js';
import type { TtlvItem } from '../../ttlv/index.js';

export type TextFormat = 'xml' | 'json';

/** Bad input from the user: printed as one line, exit code 2. */
export class InputError extends Error {
  override readonly name = 'InputError';
}

const HEX_TEXT = /^[\s0-9a-fA-F]*$/;

/**
 * Messages from binary TTLV, or from hex text (one message per line, or one per run of
 * lines when a message is wrapped across several).
 */
export function decodeMessages(input: Buffer, maxMessageSize: number): TtlvItem[] {
  const text = input.toString('latin1');
  const bytes = input.length > 0 && HEX_TEXT.test(text) ? hexToBytes(text) : input;
  if (bytes.length === 0) throw new InputError('no input: give a file, --hex, or bytes on standard input');
  const framer = new TtlvFramer({ maxMessageSize });
  const frames = framer.push(bytes);
  if (framer.buffered > 0) {
    throw new TtlvError('TRUNCATED', `the input ends inside a message (${framer.buffered} bytes of it)`, { offset: bytes.length - framer.buffered });
  }
  let offset = 0;
  return frames.map((frame) => {
    try {
      return decodeTtlv(frame);
    } catch (error) {
      throw error instanceof TtlvError && error.offset !== undefined
        ? new TtlvError(error.code, error.message.replace(/ \(.*\)$/, ''), { offset: offset + error.offset, ...(error.tag === undefined ? {} : { tag: error.tag }) })
        : error;
    } finally {
      offset += frame.length;
    }
  });
}

function hexToBytes(text: string): Buffer {
  const digits = text.replace(/\s+/g, '');
  if (digits.length % 2 !== 0) throw new InputError(`hex input has an odd number of digits (${digits.length})`);
  return Buffer.from(digits, 'hex');
}

export function formatMessages(items: TtlvItem[], format: TextFormat): string {
  return format === 'json' ? `${toJsonText(items.length === 1 ? (items[0] as TtlvItem) : items)}\n` : toXmlDocument(items);
}

/** Messages from a KMIP XML document or JSON item/array; placeholders are refused. */
export function parseMessages(text: string): TtlvItem[] {
  const trimmed = text.trimStart();
  if (trimmed === '') throw new InputError('no input: give a file or XML/JSON on standard input');
  const items = trimmed.startsWith('<') ? parseXml(text) : parseJson(text);
  return items.map((item, index) => {
    if (!isConcrete(item)) {
      throw new TtlvError('PLACEHOLDER', `message ${index + 1} holds a test-case placeholder ($...) where a value is needed`);
    }
    return item;
  });
}

export function encodeMessages(items: TtlvItem[], hex: boolean): Buffer {
  const encoded = items.map((item) => encodeTtlv(item));
  return hex ? Buffer.from(encoded.map((bytes) => `${bytes.toString('hex')}\n`).join('')) : Buffer.concat(encoded);
}

export function readInput(file: string | undefined): Buffer {
  try {
    return readFileSync(file === undefined || file === '-' ? 0 : file);
  } catch (error) {
    throw new InputError(`cannot read ${file ?? 'standard input'}: ${(error as Error).message}`);
  }
}
