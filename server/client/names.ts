/**
 * Enumeration and mask values from the words a person types: "aes", "pre-active",
 * "encrypt,decrypt", "Cessation Of Operation". Matching ignores case, spaces, "-", "_" and
 * "." against both the specification name and the XML name of the registry.
 */
import { registry } from '../../ttlv/index.js';
import type { EnumDef, KmipVersion } from '../../ttlv/index.js';
import { UsageError } from './errors.js';

const squash = (text: string): string => text.toLowerCase().replace(/[\s_.-]/g, '');

/**
 * The value of the enumeration that items with `tag` hold, named by `input` (or by an
 * alias such as "compromise" for KeyCompromise). `option` names the flag in errors.
 */
export function enumValue(tag: number, input: string, option: string, version: KmipVersion, aliases: Readonly<Record<string, string>> = {}): number {
  const def = enumDef(tag);
  const wanted = squash(aliases[squash(input)] ?? input);
  const match = def.values.find((v) => squash(v.xmlName) === wanted || squash(v.name) === wanted);
  // Several versions may use one name for different values: the one of `version` wins.
  const entry = match && registry.enumValueByName(def, match.xmlName, version);
  if (entry === undefined || !registry.definedIn(entry, version)) {
    const known = def.values.filter((v) => registry.definedIn(v, version)).map((v) => v.xmlName);
    throw new UsageError(`--${option} ${JSON.stringify(input)} is not a ${def.name} of KMIP ${version}: one of ${[...new Set(known)].join(', ')}`);
  }
  return entry.value;
}

/** A mask from a comma-separated list of bit names ("encrypt,decrypt"), or from repeated flags. */
export function maskValue(tag: number, inputs: readonly string[], option: string): number {
  const def = registry.maskForTag(tag);
  if (def === undefined) throw new Error(`no mask for tag ${registry.tagHex(tag)}`);
  let mask = 0;
  for (const word of inputs.flatMap((input) => input.split(',')).map((w) => w.trim()).filter((w) => w !== '')) {
    const bit = def.bits.find((b) => squash(b.xmlName) === squash(word) || squash(b.name) === squash(word));
    if (bit === undefined) {
      throw new UsageError(`--${option} ${JSON.stringify(word)} is not a ${def.name} bit: one of ${def.bits.map((b) => b.xmlName).join(', ')}`);
    }
    mask |= bit.value;
  }
  return mask;
}

/** The specification name of an enumeration value ("Item Not Found"), or its hex. */
export function enumName(tag: number, value: number, version?: KmipVersion): string {
  const def = registry.enumForTag(tag);
  return (def && registry.enumValueByValue(def, value, version)?.name) ?? `0x${value.toString(16).padStart(8, '0')}`;
}

function enumDef(tag: number): EnumDef {
  const def = registry.enumForTag(tag);
  if (def === undefined) throw new Error(`no enumeration for tag ${registry.tagHex(tag)}`);
  return def;
}
