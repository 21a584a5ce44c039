/**
 * The KMIP JSON encoding (KMIP Additional Message Encodings v1.0, section 4.1): each item
 * is an object `{"tag", "name"?, "type"?, "value"}`; a Structure's value is an array of
 * items (or null), and `type` defaults to Structure.
 *
 * JavaScript numbers hold 53 bits, so Long Integers, Big Integers and Date-Times of 2^52
 * or more in magnitude are hex strings (section 4.1.6.5); smaller ones are numbers.
 */
import { TtlvError } from './errors.js';
import { isItemTypeName, isPlaceholderText, Placeholder } from './item.js';
import type { ItemTypeName, LeafTypeName, TemplateItem, TtlvItem } from './item.js';
import type { KmipVersion } from './registry/index.js';
import { tagHex } from './registry/index.js';
import {
  ATTRIBUTE_NAME,
  DEFAULT_TEXT_MAX_DEPTH,
  attributeNameOf,
  childPath,
  enumToText,
  enumerationFromText,
  integerToText,
  leafDomain,
  maskFromComponents,
  siblingLabels,
  tagFromText,
  tagName,
} from './text-names.js';
import type { Fail, NameDomain } from './text-names.js';
import {
  INT32_MAX,
  INT32_MIN,
  UINT32_MAX,
  formatBigIntegerHex,
  formatDateTime,
  formatDateTimeExtended,
  formatHexBinary,
  formatHexFixed,
  parseBigIntegerHex,
  parseDateTime,
  parseDateTimeExtended,
  parseHexBinary,
  parseHexFixed,
  toSigned,
} from './text-values.js';

export type JsonValue = number | boolean | string | null | JsonItem[];

export interface JsonItem {
  tag: string;
  name?: string;
  type?: string;
  value?: JsonValue;
}

export interface JsonParseOptions {
  /** Protocol version whose enumeration names are preferred where versions differ. */
  readonly version?: KmipVersion;
  /** Deepest item nesting accepted; a message is depth 1. */
  readonly maxDepth?: number;
}

export interface JsonWriteOptions {
  /**
   * Protocol version whose enumeration names are written; values it does not define are
   * written as hex. Default: the newest name of any version.
   */
  readonly version?: KmipVersion;
}

/** Section 4.1.6.5: "any values >= 2^52 must be represented as hex strings". */
const NUMBER_LIMIT = 2 ** 52;

const ITEM_KEYS: ReadonlySet<string> = new Set(['tag', 'name', 'type', 'value']);

// ---------------------------------------------------------------------------------------
// Reading

/** One item object, or an array of them. */
export function parseJson(text: string, options: JsonParseOptions = {}): TemplateItem[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new TtlvError('BAD_TEXT', `not JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
  const reader = new JsonReader(options.version, options.maxDepth ?? DEFAULT_TEXT_MAX_DEPTH);
  return reader.items(Array.isArray(parsed) ? parsed : [parsed], '', 1);
}

/** A JSON object as a record, or undefined. */
function asObject(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

class JsonReader {
  constructor(
    private readonly version: KmipVersion | undefined,
    private readonly maxDepth: number,
  ) {}

  items(values: readonly unknown[], parentPath: string, depth: number): TemplateItem[] {
    if (values.length > 0 && depth > this.maxDepth) {
      throw new TtlvError('BAD_TEXT', `items nested deeper than ${this.maxDepth}`, { path: parentPath });
    }
    const objects = values.map((value, i) => {
      const object = asObject(value);
      if (object === undefined) throw new TtlvError('BAD_TEXT', 'an item must be a JSON object', { path: childPath(parentPath, `[${i}]`) });
      return object;
    });
    const paths = siblingLabels(objects.map(pathName)).map((label) => childPath(parentPath, label));
    const tags = objects.map((object, i) => objectTag(object, paths[i] ?? parentPath));
    const attributeName = attributeNameText(objects);
    return objects.map((object, i) => this.item(object, tags[i] ?? 0, paths[i] ?? parentPath, depth, attributeName));
  }

  private item(object: Record<string, unknown>, tag: number, path: string, depth: number, attributeName: string | undefined): TemplateItem {
    for (const key of Object.keys(object)) {
      if (!ITEM_KEYS.has(key)) throw new TtlvError('BAD_TEXT', `unexpected property "${key}"`, { path });
    }
    const type = objectType(object, path);
    const value = object['value'];
    if (type === 'Structure') {
      // Section 4.1.6.2: an array of sub-items, or null.
      if (value !== undefined && value !== null && !Array.isArray(value)) {
        throw new TtlvError('BAD_TEXT', 'a Structure value must be an array or null', { path, tag });
      }
      return { tag, type, value: this.items(Array.isArray(value) ? value : [], path, depth + 1) };
    }
    const fail: Fail = (code, message) => {
      throw new TtlvError(code, message, { path, tag });
    };
    return leafFromJson(tag, type, value, leafDomain(tag, type, attributeName), this.version, fail);
  }
}

function pathName(object: Record<string, unknown>): string {
  const tag = object['tag'];
  return typeof tag === 'string' ? tag : '?';
}

function objectTag(object: Record<string, unknown>, path: string): number {
  const text = object['tag'];
  if (typeof text !== 'string') throw new TtlvError('BAD_TEXT', 'an item needs a "tag" string', { path });
  const tag = tagFromText(text);
  if (tag === undefined) {
    const code = text.startsWith('0x') ? 'BAD_TEXT' : 'UNKNOWN_NAME';
    throw new TtlvError(code, `unknown tag "${text}"`, { path });
  }
  const name = object['name'];
  if (name !== undefined && typeof name !== 'string') throw new TtlvError('BAD_TEXT', '"name" must be a string', { path });
  return tag;
}

function objectType(object: Record<string, unknown>, path: string): ItemTypeName {
  const type = object['type'];
  // Section 4.1.4: the type defaults to Structure.
  if (type === undefined) return 'Structure';
  if (typeof type !== 'string' || !isItemTypeName(type)) throw new TtlvError('BAD_TEXT', `unknown type ${JSON.stringify(type)}`, { path });
  return type;
}

/** The text of a concrete Attribute Name among the siblings, which types their Attribute Value. */
function attributeNameText(objects: readonly Record<string, unknown>[]): string | undefined {
  const found = objects.find((o) => o['type'] === 'TextString' && typeof o['tag'] === 'string' && tagFromText(o['tag']) === ATTRIBUTE_NAME);
  const value = found?.['value'];
  return typeof value === 'string' && !isPlaceholderText(value) ? value : undefined;
}

/** A leaf value (sections 4.1.6.3 to 4.1.6.12). */
function leafFromJson(tag: number, type: LeafTypeName, value: unknown, domain: NameDomain, version: KmipVersion | undefined, fail: Fail): TemplateItem {
  if (typeof value === 'string' && isPlaceholderText(value)) return { tag, type, value: new Placeholder(value) } as TemplateItem;
  const bad = (expected: string): never => fail('BAD_TEXT', `bad ${type} value ${JSON.stringify(value) ?? 'undefined'} (expected ${expected})`);
  switch (type) {
    case 'Integer':
      return { tag, type, value: integerFromJson(value, domain, fail) ?? bad('a 32-bit Number or 8-digit hex string') };
    case 'LongInteger':
      return { tag, type, value: int64FromJson(value) ?? bad('a Number below 2^52 or a 16-digit hex string') };
    case 'BigInteger':
      return { tag, type, value: bigIntegerFromJson(value) ?? bad('a Number below 2^52 or hex of a multiple of 8 bytes') };
    case 'Enumeration':
      return { tag, type, value: enumerationFromJson(value, domain, version, fail) ?? bad('a Number, 8-digit hex or a name') };
    case 'Boolean':
      return { tag, type, value: booleanFromJson(value) ?? bad('true, false or a 16-digit hex string') };
    case 'TextString':
      return { tag, type, value: typeof value === 'string' ? value : bad('a String') };
    case 'ByteString':
      return { tag, type, value: (typeof value === 'string' ? parseHexBinary(value) : undefined) ?? bad('a hex string without 0x') };
    case 'DateTime':
      return { tag, type, value: dateFromJson(value, parseDateTime) ?? bad('an ISO 8601 date-time or a 16-digit hex string') };
    case 'Interval':
      return { tag, type, value: uint32FromJson(value) ?? bad('an unsigned 32-bit Number or 8-digit hex string') };
    case 'DateTimeExtended':
      return { tag, type, value: dateFromJson(value, parseDateTimeExtended) ?? bad('an ISO 8601 date-time or a 16-digit hex string') };
  }
}

function integerNumber(value: unknown, min: number, max: number): number | undefined {
  return typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max ? value : undefined;
}

function hexString(value: unknown, bytes: number, signed: boolean): bigint | undefined {
  if (typeof value !== 'string') return undefined;
  const unsigned = parseHexFixed(value, bytes);
  return unsigned === undefined || !signed ? unsigned : toSigned(unsigned, bytes * 8);
}

function integerFromJson(value: unknown, domain: NameDomain, fail: Fail): number | undefined {
  const number = integerNumber(value, INT32_MIN, INT32_MAX);
  if (number !== undefined) return number;
  const hex = hexString(value, 4, true);
  if (hex !== undefined) return Number(hex);
  if (typeof value !== 'string' || domain.kind !== 'mask') return undefined;
  // Section 4.1.6.4: mask components separated by "|".
  const result = maskFromComponents(domain.def, value.split('|').map((c) => c.trim()));
  if ('unknown' in result) fail('UNKNOWN_NAME', `unknown ${domain.def.name} bit "${result.unknown}"`);
  if ('bad' in result) fail('BAD_TEXT', `bad ${domain.def.name} component "${result.bad}" in "${value}"`);
  return result.value;
}

/** A Number strictly inside ±2^52, else undefined (section 4.1.6.5). */
function smallNumber(value: unknown): bigint | undefined {
  const number = integerNumber(value, -NUMBER_LIMIT + 1, NUMBER_LIMIT - 1);
  return number === undefined ? undefined : BigInt(number);
}

function int64FromJson(value: unknown): bigint | undefined {
  return smallNumber(value) ?? hexString(value, 8, true);
}

function bigIntegerFromJson(value: unknown): bigint | undefined {
  const number = smallNumber(value);
  if (number !== undefined) return number;
  if (typeof value !== 'string' || !value.startsWith('0x')) return undefined;
  return parseBigIntegerHex(value.slice(2));
}

function enumerationFromJson(value: unknown, domain: NameDomain, version: KmipVersion | undefined, fail: Fail): number | undefined {
  const number = integerNumber(value, 0, UINT32_MAX);
  if (number !== undefined) return number;
  return typeof value === 'string' ? enumerationFromText(value, domain, version, fail) : undefined;
}

function booleanFromJson(value: unknown): boolean | undefined {
  if (typeof value === 'boolean') return value;
  const hex = hexString(value, 8, false);
  return hex === 1n ? true : hex === 0n ? false : undefined;
}

function uint32FromJson(value: unknown): number | undefined {
  const number = integerNumber(value, 0, UINT32_MAX);
  if (number !== undefined) return number;
  const hex = hexString(value, 4, false);
  return hex === undefined ? undefined : Number(hex);
}

function dateFromJson(value: unknown, parse: (text: string) => bigint | undefined): bigint | undefined {
  if (typeof value !== 'string') return undefined;
  return value.startsWith('0x') ? hexString(value, 8, true) : parse(value);
}

// ---------------------------------------------------------------------------------------
// Writing

/** One item as a JSON object (section 4.1.6): type omitted for Structures, as XML does. */
export function toJson(item: TemplateItem, options: JsonWriteOptions = {}): JsonItem {
  return itemToJson(item, options.version, undefined);
}

/** An item as an object, or several as an array, indented by two spaces. */
export function toJsonText(items: TemplateItem | readonly TemplateItem[], options: JsonWriteOptions = {}): string {
  const json = isItemList(items) ? items.map((item) => toJson(item, options)) : toJson(items, options);
  return `${JSON.stringify(json, null, 2)}\n`;
}

function isItemList(items: TemplateItem | readonly TemplateItem[]): items is readonly TemplateItem[] {
  return Array.isArray(items);
}

function itemToJson(item: TemplateItem, version: KmipVersion | undefined, attributeName: string | undefined): JsonItem {
  const tag = tagName(item.tag) ?? tagHex(item.tag);
  if (item.type === 'Structure') {
    const childAttributeName = attributeNameOf(item.value);
    return { tag, value: item.value.map((child) => itemToJson(child, version, childAttributeName)) };
  }
  return { tag, type: item.type, value: leafToJson(item, leafDomain(item.tag, item.type, attributeName), version) };
}

function leafToJson(item: Exclude<TemplateItem, { type: 'Structure' }>, domain: NameDomain, version: KmipVersion | undefined): JsonValue {
  if (item.value instanceof Placeholder) return item.value.name;
  const concrete = item as Exclude<TtlvItem, { type: 'Structure' }>;
  switch (concrete.type) {
    case 'Integer':
      return integerToText(concrete.value, domain, '|') ?? concrete.value;
    case 'LongInteger':
      return int64ToJson(concrete.value);
    case 'BigInteger':
      return fitsNumber(concrete.value) ? Number(concrete.value) : `0x${formatBigIntegerHex(concrete.value)}`;
    case 'Enumeration':
      return enumToText(domain, concrete.value, version);
    case 'Boolean':
    case 'TextString':
    case 'Interval':
      return concrete.value;
    case 'ByteString':
      return formatHexBinary(concrete.value);
    case 'DateTime':
      return formatDateTime(concrete.value);
    case 'DateTimeExtended':
      return formatDateTimeExtended(concrete.value);
  }
}

function fitsNumber(value: bigint): boolean {
  return value > -BigInt(NUMBER_LIMIT) && value < BigInt(NUMBER_LIMIT);
}

function int64ToJson(value: bigint): number | string {
  return fitsNumber(value) ? Number(value) : formatHexFixed(value, 8);
}
