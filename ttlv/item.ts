/**
 * The TTLV item model: a tree of (tag, type, value). KMIP 1.4 section 9.1, KMIP 2.1 section 9.1.
 *
 * `TtlvItem` is a concrete item that can be encoded. `TtlvItem<Placeholder>` may hold a
 * test-case placeholder (`$NOW`, `$UNIQUE_IDENTIFIER_0`, ...) in place of any leaf value,
 * which is how the OASIS XML cases are loaded before their variables are bound.
 */

/** Item type byte values (KMIP 2.1 section 9.1.1.2). */
export const ItemType = {
  Structure: 0x01,
  Integer: 0x02,
  LongInteger: 0x03,
  BigInteger: 0x04,
  Enumeration: 0x05,
  Boolean: 0x06,
  TextString: 0x07,
  ByteString: 0x08,
  DateTime: 0x09,
  Interval: 0x0a,
  DateTimeExtended: 0x0b,
} as const;

export type ItemTypeName = keyof typeof ItemType;

/** Names by type byte, in an array: every item decoded asks (codes are 0x01 to 0x0b). */
const TYPE_NAMES: readonly (ItemTypeName | undefined)[] = (() => {
  const names: (ItemTypeName | undefined)[] = [];
  for (const [name, code] of Object.entries(ItemType) as [ItemTypeName, number][]) names[code] = name;
  return names;
})();

export function itemTypeName(code: number): ItemTypeName | undefined {
  return TYPE_NAMES[code];
}

export function isItemTypeName(name: string): name is ItemTypeName {
  return Object.prototype.hasOwnProperty.call(ItemType, name);
}

/** A value left symbolic in a test case, such as `$NOW` or `$UNIQUE_IDENTIFIER_0`. */
export class Placeholder {
  constructor(readonly name: string) {}
  toString(): string {
    return this.name;
  }
}

/** Matches `$NAME`, `$NAME_3`, `$NOW-3600` (KMIP Profiles test-case placeholders). */
const PLACEHOLDER = /^\$[A-Z][A-Z0-9_]*(?:\[[0-9]+\])?(?:[+-][0-9]+)?$/;

export function isPlaceholderText(text: string): boolean {
  return PLACEHOLDER.test(text);
}

/** The JavaScript type that holds each item type's value. */
export interface ValueOf {
  Integer: number; // signed 32-bit
  LongInteger: bigint; // signed 64-bit
  BigInteger: bigint; // signed, any size
  Enumeration: number; // unsigned 32-bit
  Boolean: boolean;
  TextString: string;
  ByteString: Uint8Array;
  DateTime: bigint; // signed 64-bit POSIX seconds
  Interval: number; // unsigned 32-bit seconds
  DateTimeExtended: bigint; // signed 64-bit POSIX microseconds (KMIP 2.x)
}

export type LeafTypeName = keyof ValueOf;

export type LeafItem<P = never> = {
  [K in LeafTypeName]: { readonly tag: number; readonly type: K; readonly value: ValueOf[K] | P };
}[LeafTypeName];

export interface StructureItem<P = never> {
  readonly tag: number;
  readonly type: 'Structure';
  readonly value: readonly TtlvItem<P>[];
}

export type TtlvItem<P = never> = StructureItem<P> | LeafItem<P>;

/** An item that may hold placeholders, as loaded from a test case. */
export type TemplateItem = TtlvItem<Placeholder>;

export function structure<P = never>(tag: number, value: readonly TtlvItem<P>[]): StructureItem<P> {
  return { tag, type: 'Structure', value };
}

export function leaf<K extends LeafTypeName>(tag: number, type: K, value: ValueOf[K]): TtlvItem {
  return { tag, type, value } as TtlvItem;
}

/** True when no leaf anywhere in the tree is a placeholder; narrows to a concrete item. */
export function isConcrete(item: TtlvItem<Placeholder>): item is TtlvItem {
  if (item.type === 'Structure') return item.value.every(isConcrete);
  return !(item.value instanceof Placeholder);
}

/** Deep equality of two trees (Byte Strings by content, placeholders by name). */
export function itemsEqual<P>(a: TtlvItem<P>, b: TtlvItem<P>): boolean {
  if (a.tag !== b.tag || a.type !== b.type) return false;
  if (a.type === 'Structure' && b.type === 'Structure') {
    return a.value.length === b.value.length && a.value.every((child, i) => itemsEqual(child, b.value[i] as TtlvItem<P>));
  }
  return leafValuesEqual(a.value, b.value);
}

function leafValuesEqual(a: unknown, b: unknown): boolean {
  if (a instanceof Placeholder || b instanceof Placeholder) {
    return a instanceof Placeholder && b instanceof Placeholder && a.name === b.name;
  }
  if (a instanceof Uint8Array && b instanceof Uint8Array) {
    return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.length).equals(b);
  }
  return a === b;
}
