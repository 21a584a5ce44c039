/**
 * Enumeration and mask values from the words a person types: "aes", "pre-active",
 * "encrypt,decrypt", "Cessation Of Operation". Matching ignores case, spaces, "-", "_" and
 * "." against both the specification name and the XML name of the registry.
 */
import { registry } from '../../ttlv/index.js';
import type { EnumDef, KmipVersion, MaskDef } from '../../ttlv/index.js';
import { invalidArgument } from './errors.js';

const squash = (text: string): string => text.toLowerCase().replace(/[\s_.-]/g, '');

/**
 * The value of the enumeration that items with `tag` hold, named by `input` (or by an
 * alias such as "compromise" for KeyCompromise). `label` names the input in errors
 * ("--algorithm", "cryptographicAlgorithm").
 */
export function enumValue(tag: number, input: string, label: string, version: KmipVersion, aliases: Readonly<Record<string, string>> = {}): number {
  const def = enumDef(tag);
  const wanted = squash(aliases[squash(input)] ?? input);
  const match = def.values.find((v) => squash(v.xmlName) === wanted || squash(v.name) === wanted);
  // Several versions may use one name for different values: the one of `version` wins.
  const entry = match && registry.enumValueByName(def, match.xmlName, version);
  if (entry === undefined || !registry.definedIn(entry, version)) {
    const known = def.values.filter((v) => registry.definedIn(v, version)).map((v) => v.xmlName);
    throw invalidArgument(`${label} ${JSON.stringify(input)} is not a ${def.name} of KMIP ${version}: one of ${[...new Set(known)].join(', ')}`);
  }
  return entry.value;
}

/** A mask from bit names, each of which may be a comma-separated list ("encrypt,decrypt"). */
export function maskValue(tag: number, inputs: readonly string[], label: string): number {
  const def = maskDef(tag);
  let mask = 0;
  for (const word of inputs.flatMap((input) => input.split(',')).map((w) => w.trim()).filter((w) => w !== '')) {
    const bit = def.bits.find((b) => squash(b.xmlName) === squash(word) || squash(b.name) === squash(word));
    if (bit === undefined) {
      throw invalidArgument(`${label} ${JSON.stringify(word)} is not a ${def.name} bit: one of ${def.bits.map((b) => b.xmlName).join(', ')}`);
    }
    mask |= bit.value;
  }
  return mask;
}

/** The specification name of an enumeration value ("Item Not Found"), or its hex. */
export function enumName(tag: number, value: number, version?: KmipVersion): string {
  const def = registry.enumForTag(tag);
  return (def && registry.enumValueByValue(def, value, version)?.name) ?? hex(value);
}

/** The XML name of an enumeration value ("ItemNotFound"), or its hex. */
export function enumXmlName(tag: number, value: number, version?: KmipVersion): string {
  const def = registry.enumForTag(tag);
  return (def && registry.enumValueByValue(def, value, version)?.xmlName) ?? hex(value);
}

/** The XML names of the bits of a mask; bits the registry does not name stay as one hex number. */
export function maskBits(tag: number, value: number): string[] {
  const def = maskDef(tag);
  const names = def.bits.filter((bit) => (value & bit.value) !== 0).map((bit) => bit.xmlName);
  const rest = def.bits.reduce((left, bit) => left & ~bit.value, value);
  return rest === 0 ? names : [...names, hex(rest)];
}

const hex = (value: number): string => `0x${value.toString(16).padStart(8, '0')}`;

function enumDef(tag: number): EnumDef {
  const def = registry.enumForTag(tag);
  if (def === undefined) throw new Error(`no enumeration for tag ${registry.tagHex(tag)}`);
  return def;
}

function maskDef(tag: number): MaskDef {
  const def = registry.maskForTag(tag);
  if (def === undefined) throw new Error(`no mask for tag ${registry.tagHex(tag)}`);
  return def;
}
