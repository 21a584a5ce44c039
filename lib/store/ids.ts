/**
 * Unique Identifiers of new objects: UUID version 7 (RFC 9562 section 5.7), a 48-bit Unix
 * time in milliseconds, then random bits. Identifiers made one after another sort one
 * after another, so the store's b-trees keyed by them (the objects' identifiers, the
 * attribute index ranges of a common value) grow at their ends: a batch of creates changes
 * a few pages there instead of one random page each, and the write-ahead log carries a
 * few pages instead of one per object (lib/store/sqlite.ts, Batch).
 *
 * What an identifier tells: when the object was made, to the millisecond, which its Initial
 * Date tells anyway; 62 of its bits stay random. kmipd never relies on an identifier being
 * hard to guess: access is checked on every request (lib/auth).
 */
import { randomBytes } from 'node:crypto';

/** Milliseconds and the 12-bit sequence within them of the last identifier (RFC 9562 section 6.2, method 1). */
let lastMs = 0;
let sequence = 0;

export function timeOrderedUuid(now: number = Date.now()): string {
  const random = randomBytes(10);
  if (now > lastMs) {
    lastMs = now;
    // A random start in the lower half leaves room to count up within the millisecond.
    sequence = (((random[0] ?? 0) << 4) | ((random[1] ?? 0) >> 4)) & 0x7ff;
  } else {
    // The same millisecond, or the clock went back: keep counting from the last one.
    sequence += 1;
    if (sequence > 0xfff) {
      lastMs += 1;
      sequence = 0;
    }
  }
  const bytes = Buffer.alloc(16);
  bytes.writeUIntBE(lastMs, 0, 6);
  bytes[6] = 0x70 | (sequence >> 8);
  bytes[7] = sequence & 0xff;
  random.copy(bytes, 8, 2, 10);
  bytes[8] = 0x80 | ((bytes[8] ?? 0) & 0x3f);
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
