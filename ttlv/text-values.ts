/**
 * Scalar value text shared by the XML and JSON encodings (KMIP Additional Message
 * Encodings v1.0, sections 4.1 and 6.1): decimal and fixed-width hex numbers, hexBinary
 * byte strings and Big Integers, ISO 8601 date-times.
 *
 * Parsers return undefined for text that is not a valid value; the caller knows the path
 * and raises the TtlvError.
 */

export const INT32_MIN = -0x80000000;
export const INT32_MAX = 0x7fffffff;
export const UINT32_MAX = 0xffffffff;
export const INT64_MIN = -(1n << 63n);
export const INT64_MAX = (1n << 63n) - 1n;

// ---------------------------------------------------------------------------------------
// Numbers

/** An xsd:int / xsd:long / xsd:unsignedInt style decimal: optional sign, digits. */
export function parseDecimal(text: string, min: bigint, max: bigint): bigint | undefined {
  if (!/^[+-]?[0-9]{1,40}$/.test(text)) return undefined;
  const value = BigInt(text);
  return value >= min && value <= max ? value : undefined;
}

export function parseInt32(text: string): number | undefined {
  const value = parseDecimal(text, BigInt(INT32_MIN), BigInt(INT32_MAX));
  return value === undefined ? undefined : Number(value);
}

export function parseUint32(text: string): number | undefined {
  const value = parseDecimal(text, 0n, BigInt(UINT32_MAX));
  return value === undefined ? undefined : Number(value);
}

/**
 * "0x" and exactly `bytes * 2` hex digits, as an unsigned number. Sections 4.1.1 / 6.1.1:
 * fixed-width hex keeps all its leading zeros.
 */
export function parseHexFixed(text: string, bytes: number): bigint | undefined {
  if (text.length !== 2 + bytes * 2 || !/^0x[0-9A-Fa-f]+$/.test(text)) return undefined;
  return BigInt(text);
}

/** Two's complement reading of an unsigned value `bits` wide. */
export function toSigned(unsigned: bigint, bits: number): bigint {
  return BigInt.asIntN(bits, unsigned);
}

/**
 * "0x0000000a": a value written in `bytes` bytes, two's complement when negative. Lower
 * case, as most examples of sections 4.1 and 6.1 and the OASIS test cases write hex.
 */
export function formatHexFixed(value: bigint | number, bytes: number): string {
  const unsigned = BigInt.asUintN(bytes * 8, BigInt(value));
  return `0x${unsigned.toString(16).padStart(bytes * 2, '0')}`;
}

// ---------------------------------------------------------------------------------------
// Byte Strings and Big Integers (xsd:hexBinary)

export function parseHexBinary(text: string): Uint8Array | undefined {
  if (text.length % 2 !== 0 || !/^[0-9A-Fa-f]*$/.test(text)) return undefined;
  return Uint8Array.from(Buffer.from(text, 'hex'));
}

/** Lower case, as the OASIS test cases write Byte Strings. */
export function formatHexBinary(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('hex');
}

/**
 * A Big Integer from its big-endian two's complement bytes (KMIP 9.1.1.4). The encodings
 * require a multiple of 8 bytes (sections 4.1.6.6, 6.1.1).
 */
export function parseBigIntegerHex(hex: string): bigint | undefined {
  if (hex.length === 0 || hex.length % 16 !== 0 || !/^[0-9A-Fa-f]+$/.test(hex)) return undefined;
  return BigInt.asIntN(hex.length * 4, BigInt(`0x${hex}`));
}

/** Hex digits of a Big Integer, sign-extended to the fewest whole 8-byte words. */
export function formatBigIntegerHex(value: bigint): string {
  let bits = 64;
  while (value < -(1n << BigInt(bits - 1)) || value >= 1n << BigInt(bits - 1)) bits += 64;
  return BigInt.asUintN(bits, value).toString(16).padStart(bits / 4, '0');
}

// ---------------------------------------------------------------------------------------
// Date-Time (xsd:dateTime, sections 4.1.6.11 and 6.1.6.11)

// '-'? yyyy '-' mm '-' dd 'T' hh ':' mm ':' ss ('.' s+)? ((('+' | '-') hh ':' mm) | 'Z')?
const DATE_TIME = /^(-?[0-9]{4,12})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]+))?(Z|[+-][0-9]{2}:[0-9]{2})?$/;

export interface ParsedDateTime {
  /** POSIX seconds. */
  readonly seconds: bigint;
  /** Fraction digits as written ("" when none). */
  readonly fraction: string;
}

/** Without a zone the time is read as UTC. */
export function parseIsoDateTime(text: string): ParsedDateTime | undefined {
  const m = DATE_TIME.exec(text);
  if (!m) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined;
  // xsd:dateTime allows 24:00:00 for the end of a day.
  const endOfDay = hour === 24 && minute === 0 && second === 0 && /^0*$/.test(m[7] ?? '');
  if ((hour > 23 && !endOfDay) || minute > 59 || second > 59) return undefined;
  const offset = zoneOffsetSeconds(m[8]);
  if (offset === undefined) return undefined;
  const days = daysFromCivil(BigInt(year), month, day);
  const seconds = days * 86400n + BigInt(hour * 3600 + minute * 60 + second) - BigInt(offset);
  return { seconds, fraction: m[7] ?? '' };
}

/** "Z" or "+hh:mm"; hours up to 14 (xsd:dateTime time zones). */
function zoneOffsetSeconds(zone: string | undefined): number | undefined {
  if (zone === undefined || zone === 'Z') return 0;
  const sign = zone.startsWith('-') ? -1 : 1;
  const hours = Number(zone.slice(1, 3));
  const minutes = Number(zone.slice(4, 6));
  if (minutes > 59 || hours * 60 + minutes > 14 * 60) return undefined;
  return sign * (hours * 3600 + minutes * 60);
}

function isLeapYear(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return isLeapYear(year) ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/** Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
function daysFromCivil(year: bigint, month: number, day: number): bigint {
  const y = month <= 2 ? year - 1n : year;
  const era = (y >= 0n ? y : y - 399n) / 400n;
  const yoe = y - era * 400n;
  const mp = BigInt((month + 9) % 12);
  const doy = (153n * mp + 2n) / 5n + BigInt(day - 1);
  const doe = yoe * 365n + yoe / 4n - yoe / 100n + doy;
  return era * 146097n + doe - 719468n;
}

/** The inverse of daysFromCivil. */
function civilFromDays(days: bigint): { year: bigint; month: number; day: number } {
  const z = days + 719468n;
  const era = (z >= 0n ? z : z - 146096n) / 146097n;
  const doe = z - era * 146097n;
  const yoe = (doe - doe / 1460n + doe / 36524n - doe / 146096n) / 365n;
  const doy = doe - (365n * yoe + yoe / 4n - yoe / 100n);
  const mp = (5n * doy + 2n) / 153n;
  const day = Number(doy - (153n * mp + 2n) / 5n + 1n);
  const month = Number(mp < 10n ? mp + 3n : mp - 9n);
  return { year: yoe + era * 400n + (month <= 2 ? 1n : 0n), month, day };
}

/** "2001-01-01T00:00:00+00:00", the form the OASIS test cases use. */
export function formatIsoDateTime(seconds: bigint, fraction = ''): string {
  const days = floorDiv(seconds, 86400n);
  const inDay = Number(seconds - days * 86400n);
  const { year, month, day } = civilFromDays(days);
  const yearText = year < 0n ? `-${pad(-year, 4)}` : pad(year, 4);
  const time = `${pad(Math.floor(inDay / 3600), 2)}:${pad(Math.floor(inDay / 60) % 60, 2)}:${pad(inDay % 60, 2)}`;
  return `${yearText}-${pad(month, 2)}-${pad(day, 2)}T${time}${fraction === '' ? '' : `.${fraction}`}+00:00`;
}

export function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b !== 0n && a < 0n !== b < 0n ? q - 1n : q;
}

function pad(value: number | bigint, width: number): string {
  return value.toString().padStart(width, '0');
}

/** KMIP Date-Time: fractional seconds are ignored (truncated), sections 4.1.6.11 / 6.1.6.11. */
export function parseDateTime(text: string): bigint | undefined {
  const parsed = parseIsoDateTime(text);
  return parsed !== undefined && inInt64(parsed.seconds) ? parsed.seconds : undefined;
}

export function formatDateTime(seconds: bigint): string {
  return formatIsoDateTime(seconds);
}

/**
 * KMIP 2.x Date-Time Extended, in microseconds: the same xsd:dateTime text with up to six
 * fraction digits (more are truncated, as for Date-Time).
 */
export function parseDateTimeExtended(text: string): bigint | undefined {
  const parsed = parseIsoDateTime(text);
  if (parsed === undefined) return undefined;
  const micros = parsed.seconds * 1_000_000n + BigInt(parsed.fraction.slice(0, 6).padEnd(6, '0'));
  return inInt64(micros) ? micros : undefined;
}

export function formatDateTimeExtended(micros: bigint): string {
  const seconds = floorDiv(micros, 1_000_000n);
  return formatIsoDateTime(seconds, pad(micros - seconds * 1_000_000n, 6));
}

export function inInt64(value: bigint): boolean {
  return value >= INT64_MIN && value <= INT64_MAX;
}
