/**
 * Shapes of the generated KMIP registry (see `generated.ts`, written by
 * `scripts/gen-registry.ts` from `kmip-spec.json`). Hand-written: only the shapes live here.
 */

/** Protocol versions the registry knows, in order. Bit i of a `VersionSet` is KMIP_VERSIONS[i]. */
export const KMIP_VERSIONS = ['1.0', '1.1', '1.2', '1.3', '1.4', '2.0', '2.1'] as const;
export type KmipVersion = (typeof KMIP_VERSIONS)[number];

/** A set of protocol versions as a bit mask over KMIP_VERSIONS (1.0 = bit 0 ... 2.1 = bit 6). */
export type VersionSet = number;

export interface TagDef {
  /** 3-byte tag value, 0x420000 to 0x42FFFF for the specification's tags. */
  readonly value: number;
  /** Name as the specification writes it: "Activation Date". */
  readonly name: string;
  /** Normalised CamelCase name (Additional Message Encodings 6.1.3): "ActivationDate". */
  readonly xmlName: string;
  /** Versions that define this tag. */
  readonly versions: VersionSet;
}

export interface EnumValueDef {
  readonly value: number;
  readonly name: string;
  readonly xmlName: string;
  readonly versions: VersionSet;
}

export interface EnumDef {
  /** Enumeration name as the specification writes it: "Object Type". */
  readonly name: string;
  readonly xmlName: string;
  /** Tags whose Enumeration values are drawn from this enumeration. */
  readonly tags: readonly number[];
  readonly values: readonly EnumValueDef[];
}

export interface MaskDef {
  /** Mask name as the specification writes it: "Cryptographic Usage Mask". */
  readonly name: string;
  readonly xmlName: string;
  /** Integer-typed tags whose value is this mask. */
  readonly tags: readonly number[];
  /** One entry per bit (value is a single bit). */
  readonly bits: readonly EnumValueDef[];
}
