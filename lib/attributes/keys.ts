/**
 * Locate index keys: one canonical string per attribute value, which the store indexes so
 * that Locate can narrow its candidates with plain string equality.
 *
 * - Text String: the text.
 * - Integer, Long Integer, Enumeration, Interval: the decimal number.
 * - Date-Time: the decimal POSIX seconds.
 * - Boolean: "1" or "0".
 * - Byte String: lower-case hex (Short Unique Identifier).
 * - Name, Alternative Name, Rotate Name: the Name Value (resp. Alternative Name Value, Rotate Name Value) text.
 * - Link: "<Link Type>:<Linked Object Identifier>", e.g. "4:1f0c..." (the decimal Link Type).
 * - Application Specific Information: "<Application Namespace>\u0000<Application Data>".
 * - Custom and vendor attributes: the text of a Text String, Integer or Enumeration value.
 * - Any other structure (Cryptographic Parameters, Digest, Usage Limits, ...) and a
 *   structure missing a keyed field: no key; Locate matches those in memory.
 *
 * The per-attribute choice lives in the table (`AttributeDef.indexKey`); this file holds
 * the leaf forms, shared by every row.
 */
import type { TtlvItem } from '../../ttlv/index.js';

/** The key of a leaf value; undefined for a structure. */
export function leafIndexKey(item: TtlvItem): string | undefined {
  switch (item.type) {
    case 'Structure':
      return undefined;
    case 'TextString':
      return item.value;
    case 'Boolean':
      return item.value ? '1' : '0';
    case 'ByteString':
      return Buffer.from(item.value.buffer, item.value.byteOffset, item.value.length).toString('hex');
    default:
      return item.value.toString();
  }
}

/** Custom values are indexed by their text when they are a Text String, Integer or Enumeration. */
export function customIndexKey(value: TtlvItem): string | undefined {
  return value.type === 'TextString' || value.type === 'Integer' || value.type === 'Enumeration' ? leafIndexKey(value) : undefined;
}
