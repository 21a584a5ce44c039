/**
 * Typed reading of a request structure's fields. Every missing or mistyped field becomes a
 * KmipError naming the field, so handlers read their payload in a few plain lines.
 */
import { Placeholder, registry } from '../../ttlv/index.js';
import type { LeafTypeName, StructureItem, TtlvItem, ValueOf } from '../../ttlv/index.js';
import { KmipError } from '../errors.js';

function tagName(tag: number): string {
  return registry.tagByValue(tag)?.xmlName ?? registry.tagHex(tag);
}

export class Fields {
  constructor(
    readonly item: StructureItem,
    /** Where this structure sits, for error messages: "RequestPayload". */
    readonly path: string = tagName(item.tag),
  ) {}

  static of(item: TtlvItem | undefined, path?: string): Fields {
    if (item === undefined) return new Fields({ tag: 0, type: 'Structure', value: [] }, path ?? 'payload');
    if (item.type !== 'Structure') {
      throw new KmipError('InvalidField', `${path ?? tagName(item.tag)} must be a Structure, not ${item.type}`);
    }
    return new Fields(item, path);
  }

  /** Every child with this tag, in order. */
  all(tag: number): TtlvItem[] {
    return this.item.value.filter((child) => child.tag === tag);
  }

  has(tag: number): boolean {
    return this.item.value.some((child) => child.tag === tag);
  }

  /** The single child with this tag, or undefined; twice is an error. */
  optional(tag: number): TtlvItem | undefined {
    const found = this.all(tag);
    if (found.length > 1) throw new KmipError('InvalidField', `${this.path}/${tagName(tag)} appears ${found.length} times; it may appear once`);
    return found[0];
  }

  required(tag: number): TtlvItem {
    const item = this.optional(tag);
    if (item === undefined) throw new KmipError('InvalidField', `${this.path}/${tagName(tag)} is required`);
    return item;
  }

  optionalValue<K extends LeafTypeName>(tag: number, type: K): ValueOf[K] | undefined {
    const item = this.optional(tag);
    return item === undefined ? undefined : valueOf(item, type, `${this.path}/${tagName(tag)}`);
  }

  value<K extends LeafTypeName>(tag: number, type: K): ValueOf[K] {
    return valueOf(this.required(tag), type, `${this.path}/${tagName(tag)}`);
  }

  /** All values of a repeated leaf field. */
  values<K extends LeafTypeName>(tag: number, type: K): ValueOf[K][] {
    return this.all(tag).map((item) => valueOf(item, type, `${this.path}/${tagName(tag)}`));
  }

  text(tag: number): string {
    return this.value(tag, 'TextString');
  }
  optionalText(tag: number): string | undefined {
    return this.optionalValue(tag, 'TextString');
  }
  enumeration(tag: number): number {
    return this.value(tag, 'Enumeration');
  }
  optionalEnumeration(tag: number): number | undefined {
    return this.optionalValue(tag, 'Enumeration');
  }
  optionalInteger(tag: number): number | undefined {
    return this.optionalValue(tag, 'Integer');
  }
  optionalBoolean(tag: number): boolean | undefined {
    return this.optionalValue(tag, 'Boolean');
  }

  struct(tag: number): Fields {
    return Fields.of(this.required(tag), `${this.path}/${tagName(tag)}`);
  }
  optionalStruct(tag: number): Fields | undefined {
    const item = this.optional(tag);
    return item === undefined ? undefined : Fields.of(item, `${this.path}/${tagName(tag)}`);
  }
}

function valueOf<K extends LeafTypeName>(item: TtlvItem, type: K, path: string): ValueOf[K] {
  if (item.type !== type) throw new KmipError('InvalidField', `${path} must be ${type}, not ${item.type}`);
  // A concrete TtlvItem never holds a Placeholder; the check keeps the types honest.
  if (item.value instanceof Placeholder) throw new KmipError('InvalidField', `${path} holds a placeholder`);
  return item.value as ValueOf[K];
}
