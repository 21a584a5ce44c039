/**
 * The KMIP XML encoding (KMIP Additional Message Encodings v1.0, section 6.1): each item
 * is an element named after its tag (or the generic `<TTLV tag="0x540001" .../>` form for
 * tags the registry lacks), with `type` and `value` attributes; Structures nest elements.
 *
 * A document whose root is `<KMIP>` (or the KMIP 1.0 test cases' `<KmipTestCase>`) holds a
 * list of messages. Test-case placeholders (`$NOW`, `$UNIQUE_IDENTIFIER_0`) load as
 * Placeholder values in any item type and are written back as their text.
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
  INT64_MAX,
  INT64_MIN,
  formatBigIntegerHex,
  formatDateTime,
  formatDateTimeExtended,
  formatHexBinary,
  parseBigIntegerHex,
  parseDateTime,
  parseDateTimeExtended,
  parseDecimal,
  parseHexBinary,
  parseHexFixed,
  parseInt32,
  parseUint32,
  toSigned,
} from './text-values.js';
import { formatPosition, readXml } from './xml-reader.js';
import type { XmlElement } from './xml-reader.js';

export interface XmlParseOptions {
  /** Protocol version whose enumeration names are preferred where versions differ. */
  readonly version?: KmipVersion;
  /** Deepest item nesting accepted; a message is depth 1. */
  readonly maxDepth?: number;
}

export interface XmlWriteOptions {
  /**
   * Protocol version whose enumeration names are written; values it does not define are
   * written as hex. Default: the newest name of any version.
   */
  readonly version?: KmipVersion;
  /** One indentation step (default two spaces). */
  readonly indent?: string;
}

/** The namespace of section 6.1.6, allowed (not required) on any element. */
export const KMIP_XML_NAMESPACE = 'urn:oasis:tc:kmip:xmlns';

const LIST_ROOTS: ReadonlySet<string> = new Set(['KMIP', 'KmipTestCase']);
const GENERIC_ELEMENT = 'TTLV';
// Section 6.1.6.5 writes an unnamed tag as an element "x540001" (an XML name cannot start with a digit).
const HEX_ELEMENT = /^x([0-9A-Fa-f]{6})$/;

// ---------------------------------------------------------------------------------------
// Reading

/** The messages of a `<KMIP>` / `<KmipTestCase>` document, or the one item a document holds. */
export function parseXml(text: string, options: XmlParseOptions = {}): TemplateItem[] {
  const maxDepth = options.maxDepth ?? DEFAULT_TEXT_MAX_DEPTH;
  // One level for a <KMIP> wrapper and one more so that the item reader, which knows the
  // path, is the one that reports too deep a message.
  const root = readXml(text, { maxDepth: maxDepth + 2 });
  const reader = new ItemReader(options.version, maxDepth);
  if (LIST_ROOTS.has(root.name)) {
    checkAttributes(root, root.name, []);
    return reader.items(root.children, '', 1);
  }
  return reader.items([root], '', 1);
}

class ItemReader {
  constructor(
    private readonly version: KmipVersion | undefined,
    private readonly maxDepth: number,
  ) {}

  items(elements: readonly XmlElement[], parentPath: string, depth: number): TemplateItem[] {
    if (elements.length > 0 && depth > this.maxDepth) {
      throw new TtlvError('BAD_TEXT', `items nested deeper than ${this.maxDepth}`, { path: parentPath });
    }
    const paths = siblingLabels(elements.map(pathName)).map((label) => childPath(parentPath, label));
    const tags = elements.map((element, i) => elementTag(element, paths[i] ?? parentPath));
    const attributeName = attributeNameText(elements, tags);
    return elements.map((element, i) => this.item(element, tags[i] ?? 0, paths[i] ?? parentPath, depth, attributeName));
  }

  private item(element: XmlElement, tag: number, path: string, depth: number, attributeName: string | undefined): TemplateItem {
    const generic = element.name === GENERIC_ELEMENT;
    checkAttributes(element, path, generic ? ['tag', 'name', 'type', 'value'] : ['type', 'value']);
    const type = elementType(element, path);
    const value = element.attributes.get('value');
    if (type === 'Structure') {
      if (value !== undefined) fail(element, path, 'a Structure has no value attribute');
      return { tag, type, value: this.items(element.children, path, depth + 1) };
    }
    if (element.children.length > 0) fail(element, path, `a ${type} has no child elements`);
    if (value === undefined) fail(element, path, `a ${type} needs a value attribute`);
    return leafFromXml(tag, type, value, leafDomain(tag, type, attributeName), this.version, (code, message) => {
      throw new TtlvError(code, `${message} at line ${formatPosition(element)}`, { path, tag });
    });
  }
}

function elementTag(element: XmlElement, path: string): number {
  if (element.name === GENERIC_ELEMENT) {
    const text = element.attributes.get('tag');
    if (text === undefined) fail(element, path, 'a TTLV element needs a tag attribute');
    const tag = tagFromText(text);
    if (tag === undefined) failName(element, path, `unknown tag "${text}"`);
    return tag;
  }
  const hex = HEX_ELEMENT.exec(element.name);
  if (hex?.[1] !== undefined) return parseInt(hex[1], 16);
  const tag = tagFromText(element.name);
  if (tag === undefined) failName(element, path, `unknown tag "${element.name}"`);
  return tag;
}

function pathName(element: XmlElement): string {
  if (element.name !== GENERIC_ELEMENT) return element.name;
  return element.attributes.get('name') ?? element.attributes.get('tag') ?? GENERIC_ELEMENT;
}

function elementType(element: XmlElement, path: string): ItemTypeName {
  const type = element.attributes.get('type');
  // Sections 6.1.4 / 6.1.6: the type attribute defaults to Structure.
  if (type === undefined) return 'Structure';
  if (!isItemTypeName(type)) fail(element, path, `unknown type "${type}"`);
  return type;
}

/** The text of a concrete Attribute Name among the siblings, which types their Attribute Value. */
function attributeNameText(elements: readonly XmlElement[], tags: readonly number[]): string | undefined {
  const i = tags.indexOf(ATTRIBUTE_NAME);
  const element = elements[i];
  if (element === undefined || element.attributes.get('type') !== 'TextString') return undefined;
  const text = element.attributes.get('value');
  return text === undefined || isPlaceholderText(text) ? undefined : text;
}

function checkAttributes(element: XmlElement, path: string, allowed: readonly string[]): void {
  for (const [name, value] of element.attributes) {
    if (name === 'xmlns') {
      if (value !== KMIP_XML_NAMESPACE) fail(element, path, `namespace "${value}" is not ${KMIP_XML_NAMESPACE}`);
    } else if (!allowed.includes(name)) {
      fail(element, path, `unexpected attribute "${name}"`);
    }
  }
}

function fail(element: XmlElement, path: string, message: string): never {
  throw new TtlvError('BAD_TEXT', `${message} at line ${formatPosition(element)}`, { path });
}

function failName(element: XmlElement, path: string, message: string): never {
  throw new TtlvError('UNKNOWN_NAME', `${message} at line ${formatPosition(element)}`, { path });
}

/** A leaf value from its `value` attribute (sections 6.1.6.3 to 6.1.6.12). */
function leafFromXml(tag: number, type: LeafTypeName, text: string, domain: NameDomain, version: KmipVersion | undefined, fail: Fail): TemplateItem {
  if (isPlaceholderText(text)) return { tag, type, value: new Placeholder(text) } as TemplateItem;
  const bad = (expected: string): never => fail('BAD_TEXT', `bad ${type} value "${text}" (expected ${expected})`);
  switch (type) {
    case 'Integer':
      return { tag, type, value: integerFromXml(text, domain, fail) ?? bad('an xsd:int decimal or 8-digit hex') };
    case 'LongInteger':
      return { tag, type, value: longFromXml(text) ?? bad('an xsd:long decimal or 16-digit hex') };
    case 'BigInteger':
      return { tag, type, value: parseBigIntegerHex(text) ?? bad('hexBinary of a multiple of 8 bytes') };
    case 'Enumeration':
      return { tag, type, value: enumerationFromText(text, domain, version, fail) };
    case 'Boolean':
      return { tag, type, value: booleanFromXml(text) ?? bad('true, false, 1, 0 or 16-digit hex') };
    case 'TextString':
      return { tag, type, value: text };
    case 'ByteString':
      return { tag, type, value: parseHexBinary(text) ?? bad('hexBinary') };
    case 'DateTime':
      return { tag, type, value: hexOrNull(text, 8, true) ?? parseDateTime(text) ?? bad('an xsd:dateTime') };
    case 'Interval':
      return { tag, type, value: intervalFromXml(text) ?? bad('an xsd:unsignedInt decimal or 8-digit hex') };
    case 'DateTimeExtended':
      return { tag, type, value: hexOrNull(text, 8, true) ?? parseDateTimeExtended(text) ?? bad('an xsd:dateTime') };
  }
}

/** Fixed-width hex (section 6.1.1 allows "0x..." for any number), as a bigint. */
function hexOrNull(text: string, bytes: number, signed: boolean): bigint | undefined {
  const value = parseHexFixed(text, bytes);
  if (value === undefined) return undefined;
  return signed ? toSigned(value, bytes * 8) : value;
}

function integerFromXml(text: string, domain: NameDomain, fail: Fail): number | undefined {
  const plain = parseInt32(text) ?? hexOrNull(text, 4, true);
  if (plain !== undefined) return Number(plain);
  if (domain.kind !== 'mask') return undefined;
  // Section 6.1.6.4: an xsd:list of bit names and hex components, space separated.
  const result = maskFromComponents(domain.def, text.split(' ').filter((c) => c !== ''));
  if ('unknown' in result) fail('UNKNOWN_NAME', `unknown ${domain.def.name} bit "${result.unknown}"`);
  if ('bad' in result) fail('BAD_TEXT', `bad ${domain.def.name} component "${result.bad}" in "${text}"`);
  return result.value;
}

function longFromXml(text: string): bigint | undefined {
  return parseDecimal(text, INT64_MIN, INT64_MAX) ?? hexOrNull(text, 8, true);
}

function booleanFromXml(text: string): boolean | undefined {
  // xsd:boolean lexical forms; hex must be 0 or 1, the only values TTLV allows.
  if (text === 'true' || text === '1') return true;
  if (text === 'false' || text === '0') return false;
  const hex = parseHexFixed(text, 8);
  return hex === 1n ? true : hex === 0n ? false : undefined;
}

function intervalFromXml(text: string): number | undefined {
  const value = parseUint32(text) ?? hexOrNull(text, 4, false);
  return value === undefined ? undefined : Number(value);
}


// ---------------------------------------------------------------------------------------
// Writing

/** One item as indented XML, one element a line (no trailing newline). */
export function toXml(item: TemplateItem, options: XmlWriteOptions = {}): string {
  const lines: string[] = [];
  new XmlWriter(options, lines).item(item, 0, undefined);
  return lines.join('\n');
}

/** Several items in a `<KMIP>` document. */
export function toXmlDocument(items: readonly TemplateItem[], options: XmlWriteOptions = {}): string {
  const lines = ['<KMIP>'];
  const writer = new XmlWriter(options, lines);
  for (const item of items) writer.item(item, 1, undefined);
  lines.push('</KMIP>');
  return `${lines.join('\n')}\n`;
}

class XmlWriter {
  private readonly indent: string;
  private readonly version: KmipVersion | undefined;

  constructor(
    options: XmlWriteOptions,
    private readonly lines: string[],
  ) {
    this.indent = options.indent ?? '  ';
    this.version = options.version;
  }

  item(item: TemplateItem, depth: number, attributeName: string | undefined): void {
    const pad = this.indent.repeat(depth);
    const name = tagName(item.tag);
    const open = name === undefined ? `${GENERIC_ELEMENT} tag="${tagHex(item.tag)}"` : name;
    const close = name ?? GENERIC_ELEMENT;
    if (item.type === 'Structure') {
      if (item.value.length === 0) {
        this.lines.push(`${pad}<${open}/>`);
        return;
      }
      this.lines.push(`${pad}<${open}>`);
      const childAttributeName = attributeNameOf(item.value);
      for (const child of item.value) this.item(child, depth + 1, childAttributeName);
      this.lines.push(`${pad}</${close}>`);
      return;
    }
    const text = leafToXml(item, leafDomain(item.tag, item.type, attributeName), this.version);
    this.lines.push(`${pad}<${open} type="${item.type}" value="${escapeAttribute(text)}"/>`);
  }
}


function leafToXml(item: Exclude<TemplateItem, { type: 'Structure' }>, domain: NameDomain, version: KmipVersion | undefined): string {
  if (item.value instanceof Placeholder) return item.value.name;
  const concrete = item as Exclude<TtlvItem, { type: 'Structure' }>;
  switch (concrete.type) {
    case 'Integer':
      return integerToText(concrete.value, domain, ' ') ?? String(concrete.value);
    case 'LongInteger':
    case 'Interval':
      return concrete.value.toString();
    case 'BigInteger':
      return formatBigIntegerHex(concrete.value);
    case 'Enumeration':
      return enumToText(domain, concrete.value, version);
    case 'Boolean':
      return concrete.value ? 'true' : 'false';
    case 'TextString':
      return concrete.value;
    case 'ByteString':
      return formatHexBinary(concrete.value);
    case 'DateTime':
      return formatDateTime(concrete.value);
    case 'DateTimeExtended':
      return formatDateTimeExtended(concrete.value);
  }
}


/**
 * Escape for a double-quoted attribute. Tab, line feed and carriage return are written as
 * references so attribute-value normalisation (XML 1.0 section 3.3.3) keeps them, and
 * other control characters likewise so that every Text String reads back unchanged.
 */
export function escapeAttribute(text: string): string {
  return text.replace(/[&<>"\u0000-\u001F\u007F\uFFFE\uFFFF]/g, (c) => {
    switch (c) {
      case '&':
        return '&amp;';
      case '<':
        return '&lt;';
      case '>':
        return '&gt;';
      case '"':
        return '&quot;';
      default:
        return `&#x${c.charCodeAt(0).toString(16).toUpperCase()};`;
    }
  });
}
