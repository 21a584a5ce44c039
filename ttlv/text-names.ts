/**
 * Names in the text encodings (KMIP Additional Message Encodings v1.0, sections 4.1 and
 * 6.1): tags as normalised names or 3-byte hex ("0x420001"), enumeration values as names or hex, masks
 * as lists of bit names and hex components.
 *
 * Some names depend on a sibling: in a KMIP 1.x Attribute structure the Attribute Value is
 * typed by the Attribute Name text ("Cryptographic Algorithm" -> value "AES"), and a KMIP
 * 2.x Attribute Reference is an Enumeration whose values are tags (KMIP 2.1 section 5.5,
 * Tag Enumeration 11.56).
 */
import { definedIn, enumForTag, enumValueByName, enumValueByValue, maskBitByName, maskForTag, tagByName, tagByValue } from './registry/index.js';
import type { EnumDef, KmipVersion, MaskDef } from './registry/index.js';
import type { TemplateItem } from './item.js';
import { formatHexFixed, parseHexFixed } from './text-values.js';

/** Where the names of a leaf's value come from. */
export type NameDomain =
  | { readonly kind: 'enum'; readonly def: EnumDef }
  | { readonly kind: 'mask'; readonly def: MaskDef }
  | { readonly kind: 'tag' }
  | { readonly kind: 'none' };

/** Deepest nesting the text decoders accept; the message itself is depth 1 (as binary). */
export const DEFAULT_TEXT_MAX_DEPTH = 32;

const NONE: NameDomain = { kind: 'none' };
const TAG_NAMES: NameDomain = { kind: 'tag' };

function requiredTag(name: string): number {
  const tag = tagByName(name);
  if (tag === undefined) throw new Error(`the registry lacks the tag ${name}`);
  return tag.value;
}

export const ATTRIBUTE_NAME = requiredTag('AttributeName');
export const ATTRIBUTE_VALUE = requiredTag('AttributeValue');
const ATTRIBUTE_REFERENCE = requiredTag('AttributeReference');

// ---------------------------------------------------------------------------------------
// Tags

/** "0x420001" (sections 4.1.2 / 6.1.2: the 3-byte value with all its leading zeros) or a name. */
export function tagFromText(text: string): number | undefined {
  if (text.startsWith('0x')) {
    const value = parseHexFixed(text, 3);
    return value === undefined ? undefined : Number(value);
  }
  return tagByName(text)?.value;
}

/** The normalised name of a tag the registry knows. */
export function tagName(tag: number): string | undefined {
  return tagByValue(tag)?.xmlName;
}

// ---------------------------------------------------------------------------------------
// Domains

/**
 * The names a leaf's value may take. `attributeName` is the text of a sibling Attribute
 * Name, which types an Attribute Value (KMIP 1.4 section 2.1.1).
 */
export function leafDomain(tag: number, type: string, attributeName?: string): NameDomain {
  let typedBy = tag;
  if (tag === ATTRIBUTE_VALUE) {
    const named = attributeName === undefined ? undefined : tagByName(attributeName);
    if (named === undefined) return NONE;
    typedBy = named.value;
  }
  if (type === 'Enumeration') {
    const def = enumForTag(typedBy);
    if (def !== undefined) return { kind: 'enum', def };
    // Attribute Reference is "Enumeration (Tag)": the tag table names its values even
    // where the registry has no Tag enumeration for it.
    return typedBy === ATTRIBUTE_REFERENCE ? TAG_NAMES : NONE;
  }
  if (type === 'Integer') {
    const def = maskForTag(typedBy);
    if (def !== undefined) return { kind: 'mask', def };
  }
  return NONE;
}

// ---------------------------------------------------------------------------------------
// Enumerations

/** Enumeration text: "0x0000000A" or a name of the domain (sections 4.1.6.7 / 6.1.6.7). */
export function enumFromText(domain: NameDomain, text: string, version?: KmipVersion): number | undefined {
  if (text.startsWith('0x')) {
    const value = parseHexFixed(text, 4);
    return value === undefined ? undefined : Number(value);
  }
  if (domain.kind === 'enum') return enumValueByName(domain.def, text, version)?.value;
  if (domain.kind === 'tag') return tagByName(text)?.value;
  return undefined;
}

/** True when `text` looks like hex (so a failure is a bad value, not an unknown name). */
export function looksLikeHex(text: string): boolean {
  return text.startsWith('0x');
}

/**
 * The name of an enumeration value, or hex when it has none. With a `version`, only a name
 * that version defines is used (a value it does not define is written as hex); without
 * one, the newest name. A name is used only if reading it back gives the same value, so
 * text always round-trips even where versions reuse a name.
 */
export function enumToText(domain: NameDomain, value: number, version?: KmipVersion): string {
  const name = enumName(domain, value, version);
  if (name !== undefined && enumFromText(domain, name, version) === value) return name;
  return formatHexFixed(value, 4);
}

function enumName(domain: NameDomain, value: number, version: KmipVersion | undefined): string | undefined {
  const entry = domain.kind === 'enum' ? enumValueByValue(domain.def, value, version) : domain.kind === 'tag' ? tagByValue(value) : undefined;
  if (entry === undefined || (version !== undefined && !definedIn(entry, version))) return undefined;
  return entry.xmlName;
}

// ---------------------------------------------------------------------------------------
// Masks (sections 4.1.6.4 / 6.1.6.4)

export type MaskResult = { readonly value: number } | { readonly unknown: string } | { readonly bad: string };

/**
 * OR of the components: bit names, or hex of a 32-bit unsigned value. The specification's
 * own example writes "0x0000008", so hex components of 1 to 8 digits are accepted.
 */
export function maskFromComponents(def: MaskDef, components: readonly string[]): MaskResult {
  if (components.length === 0) return { bad: '' };
  let value = 0;
  for (const component of components) {
    if (/^0x[0-9A-Fa-f]{1,8}$/.test(component)) {
      value |= parseInt(component.slice(2), 16);
    } else if (component.startsWith('0x') || component === '') {
      return { bad: component };
    } else {
      const bit = maskBitByName(def, component);
      if (bit === undefined) return { unknown: component };
      value |= bit.value;
    }
  }
  return { value: value | 0 };
}

/** Bit names (then one hex component for bits without a name); empty for zero. */
export function maskToComponents(def: MaskDef, value: number): string[] {
  let rest = value >>> 0;
  const names: string[] = [];
  for (const bit of [...def.bits].sort((a, b) => a.value - b.value)) {
    const bits = bit.value >>> 0;
    if (bits !== 0 && (rest & bits) >>> 0 === bits) {
      names.push(bit.xmlName);
      rest = (rest & ~bits) >>> 0;
    }
  }
  if (rest !== 0) names.push(formatHexFixed(rest, 4));
  return names;
}

// ---------------------------------------------------------------------------------------
// Shared by the XML and JSON readers and writers

/** How a reader reports a bad value: the caller adds the path. */
export type Fail = (code: 'BAD_TEXT' | 'UNKNOWN_NAME', message: string) => never;

/** An Enumeration from hex or a name. */
export function enumerationFromText(text: string, domain: NameDomain, version: KmipVersion | undefined, fail: Fail): number {
  const value = enumFromText(domain, text, version);
  if (value !== undefined) return value;
  if (looksLikeHex(text)) return fail('BAD_TEXT', `bad Enumeration value "${text}" (expected 8-digit hex)`);
  const what = domain.kind === 'enum' ? domain.def.name : domain.kind === 'tag' ? 'tag' : 'Enumeration for this tag';
  return fail('UNKNOWN_NAME', `unknown ${what} name "${text}"`);
}

/** The concrete Attribute Name text among siblings, which names their Attribute Value. */
export function attributeNameOf(items: readonly TemplateItem[]): string | undefined {
  const found = items.find((child) => child.tag === ATTRIBUTE_NAME && child.type === 'TextString');
  return found !== undefined && typeof found.value === 'string' ? found.value : undefined;
}

/** A mask as its components joined by `separator` (sections 4.1.6.4 / 6.1.6.4); undefined when not a mask or zero. */
export function integerToText(value: number, domain: NameDomain, separator: string): string | undefined {
  if (domain.kind !== 'mask') return undefined;
  const components = maskToComponents(domain.def, value);
  return components.length === 0 ? undefined : components.join(separator);
}

// ---------------------------------------------------------------------------------------
// Paths in error messages

/**
 * Names of siblings for a path: "BatchItem[2]" (1-based, as XPath) where a name occurs
 * more than once among the siblings, the plain name otherwise.
 */
export function siblingLabels(names: readonly string[]): string[] {
  const counts = new Map<string, number>();
  for (const name of names) counts.set(name, (counts.get(name) ?? 0) + 1);
  const seen = new Map<string, number>();
  return names.map((name) => {
    if ((counts.get(name) ?? 0) < 2) return name;
    const index = (seen.get(name) ?? 0) + 1;
    seen.set(name, index);
    return `${name}[${index}]`;
  });
}

export function childPath(parent: string, label: string): string {
  return parent === '' ? label : `${parent}/${label}`;
}
