/**
 * The KMIP registry: every tag, enumeration and mask of KMIP 1.0 to 2.1 with the versions
 * that define it. The tables are generated (`generated.ts`); this file only indexes them.
 */
import { ENUMS, MASKS, TAGS } from './generated.js';
import { KMIP_VERSIONS } from './types.js';
import type { EnumDef, EnumValueDef, KmipVersion, MaskDef, TagDef, VersionSet } from './types.js';

export { Enum, Mask, Tag } from './generated.js';
export { ENUMS, MASKS, TAGS };
export * from './types.js';

const tagsByValue = new Map<number, TagDef>();
const tagsByName = new Map<string, TagDef>();
for (const tag of TAGS) {
  tagsByValue.set(tag.value, tag);
  tagsByName.set(tag.xmlName, tag);
  if (!tagsByName.has(tag.name)) tagsByName.set(tag.name, tag);
}

const enumsByTag = new Map<number, EnumDef>();
for (const def of ENUMS) for (const tag of def.tags) enumsByTag.set(tag, def);

/** Per enumeration, the versions that define each value under any of its names. */
const valueVersions = new Map<EnumDef, Map<number, VersionSet>>();
for (const def of ENUMS) {
  const versions = new Map<number, VersionSet>();
  for (const entry of def.values) versions.set(entry.value, (versions.get(entry.value) ?? 0) | entry.versions);
  valueVersions.set(def, versions);
}

/** The versions of each specification tag (0x420000-0x42FFFF), by its low two bytes: 0 where none defines it. */
const specTagVersions = new Uint8Array(0x10000);
for (const tag of TAGS) if (tag.value >>> 16 === 0x42) specTagVersions[tag.value & 0xffff] = tag.versions;

/** Per tag of an Enumeration, the versions that define each of its values. */
const valueVersionsByTag = new Map<number, ReadonlyMap<number, VersionSet>>();
for (const [tag, def] of enumsByTag) {
  const versions = valueVersions.get(def);
  if (versions !== undefined) valueVersionsByTag.set(tag, versions);
}

const masksByTag = new Map<number, MaskDef>();
for (const def of MASKS) for (const tag of def.tags) masksByTag.set(tag, def);

/** The bit of one version in a VersionSet. */
export function versionBit(version: KmipVersion): VersionSet {
  return 1 << KMIP_VERSIONS.indexOf(version);
}

/**
 * The versions that define a specification tag (0x420000 to 0x42FFFF), 0 when none does: an
 * array read, for every item of every response (tagByValue(value)?.versions is a Map look-up).
 */
export function specTagVersionSet(value: number): VersionSet {
  if (value >>> 16 !== 0x42) return 0;
  return specTagVersions[value & 0xffff] ?? 0;
}

/** "1.4" from a protocol version's major and minor numbers, or undefined if unknown. */
export function versionOf(major: number, minor: number): KmipVersion | undefined {
  const text = `${major}.${minor}`;
  return (KMIP_VERSIONS as readonly string[]).includes(text) ? (text as KmipVersion) : undefined;
}

export function definedIn(def: { versions: VersionSet }, version: KmipVersion): boolean {
  return (def.versions & versionBit(version)) !== 0;
}

export function tagByValue(value: number): TagDef | undefined {
  return tagsByValue.get(value);
}

/** A tag by its normalised name ("ActivationDate") or its specification name ("Activation Date"). */
export function tagByName(name: string): TagDef | undefined {
  return tagsByName.get(name);
}

/** The enumeration whose values an Enumeration item with this tag holds. */
export function enumForTag(tag: number): EnumDef | undefined {
  return enumsByTag.get(tag);
}

/** The mask an Integer item with this tag holds (Cryptographic Usage Mask, Storage Status Mask, ...). */
export function maskForTag(tag: number): MaskDef | undefined {
  return masksByTag.get(tag);
}

/**
 * A value of an enumeration by name (normalised or as the specification writes it).
 * When a name was used in several versions for different entries, the one defined in
 * `version` wins.
 */
export function enumValueByName(def: EnumDef, name: string, version?: KmipVersion): EnumValueDef | undefined {
  return pick(def.values.filter((v) => v.xmlName === name || v.name === name), version);
}

/** The entry for a numeric value, preferring the name `version` uses. */
export function enumValueByValue(def: EnumDef, value: number, version?: KmipVersion): EnumValueDef | undefined {
  return pick(def.values.filter((v) => v.value === value), version);
}

/**
 * The versions that define each value of the enumeration an Enumeration item with this tag
 * holds (values under any name), or undefined when the tag has no enumeration.
 */
export function enumValueVersions(tag: number): ReadonlyMap<number, VersionSet> | undefined {
  return valueVersionsByTag.get(tag);
}

/** Whether `version` defines `value` of `def` (under any name): one lookup, for every Enumeration of every response. */
export function enumValueDefinedIn(def: EnumDef, value: number, version: KmipVersion): boolean {
  return ((valueVersions.get(def)?.get(value) ?? 0) & versionBit(version)) !== 0;
}

export function maskBitByName(def: MaskDef, name: string): EnumValueDef | undefined {
  return def.bits.find((b) => b.xmlName === name || b.name === name);
}

function pick(candidates: EnumValueDef[], version: KmipVersion | undefined): EnumValueDef | undefined {
  if (version !== undefined) {
    const exact = candidates.find((c) => definedIn(c, version));
    if (exact) return exact;
  }
  // Without a version, the newest definition names the value.
  return candidates.sort((a, b) => b.versions - a.versions)[0];
}

/** "0x420001" */
export function tagHex(tag: number): string {
  return `0x${tag.toString(16).toUpperCase().padStart(6, '0')}`;
}
