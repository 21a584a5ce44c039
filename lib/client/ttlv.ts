/** Item builders, and readers that check what the server sent. */
import { registry } from '../../ttlv/index.js';
import type { LeafTypeName, StructureItem, TtlvItem, ValueOf } from '../../ttlv/index.js';
import { badResponse } from './errors.js';

export const struct = (tag: number, value: readonly (TtlvItem | undefined)[]): StructureItem => ({
  tag,
  type: 'Structure',
  value: value.filter((item): item is TtlvItem => item !== undefined),
});
export const text = (tag: number, value: string): TtlvItem => ({ tag, type: 'TextString', value });
export const bytes = (tag: number, value: Uint8Array): TtlvItem => ({ tag, type: 'ByteString', value });
export const int = (tag: number, value: number): TtlvItem => ({ tag, type: 'Integer', value });
export const enumeration = (tag: number, value: number): TtlvItem => ({ tag, type: 'Enumeration', value });

type TypeName = LeafTypeName | 'Structure';
type ItemOf<T extends TypeName> = T extends 'Structure' ? StructureItem : { readonly tag: number; readonly type: T; readonly value: ValueOf[T & LeafTypeName] };

const tagName = (tag: number): string => registry.tagByValue(tag)?.name ?? registry.tagHex(tag);

function isType<T extends TypeName>(item: TtlvItem, type: T): item is TtlvItem & ItemOf<T> {
  return item.type === type;
}

/** The first child with `tag`, which must have `type` when present. */
export function optionalChild<T extends TypeName>(parent: TtlvItem, tag: number, type: T): ItemOf<T> | undefined {
  if (parent.type !== 'Structure') return undefined;
  const found = parent.value.find((item) => item.tag === tag);
  if (found === undefined) return undefined;
  if (!isType(found, type)) throw badResponse(`${tagName(tag)} in ${tagName(parent.tag)} is a ${found.type}, not a ${type}`);
  return found;
}

export function child<T extends TypeName>(parent: TtlvItem, tag: number, type: T): ItemOf<T> {
  const found = optionalChild(parent, tag, type);
  if (found === undefined) throw badResponse(`the server's ${tagName(parent.tag)} has no ${tagName(tag)}`);
  return found;
}

/** Every child with `tag` and `type`. */
export function children<T extends TypeName>(parent: TtlvItem, tag: number, type: T): ItemOf<T>[] {
  if (parent.type !== 'Structure') return [];
  return parent.value.filter((item): item is TtlvItem & ItemOf<T> => item.tag === tag && isType(item, type));
}

export const bool = (tag: number, value: boolean): TtlvItem => ({ tag, type: 'Boolean', value });
export const long = (tag: number, value: bigint): TtlvItem => ({ tag, type: 'LongInteger', value });
export const interval = (tag: number, value: number): TtlvItem => ({ tag, type: 'Interval', value });
/** A Date Time item from a JavaScript Date (whole seconds, 2.1 section 9.1.1.4). */
export const dateTime = (tag: number, value: Date): TtlvItem => ({ tag, type: 'DateTime', value: BigInt(Math.floor(value.getTime() / 1000)) });
