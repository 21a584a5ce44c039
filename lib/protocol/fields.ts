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
  /** Set when given, or once asked for: the path is wanted only by error messages. */
  #path: string | undefined;
  /** The structure this one was read from with `struct`, whose path this one's extends. */
  readonly #parent: Fields | undefined;

  constructor(
    readonly item: StructureItem,
    path?: string,
    parent?: Fields,
  ) {
    this.#path = path;
    this.#parent = parent;
  }

  /** Where this structure sits, for error messages: "RequestPayload". */
  get path(): string {
    this.#path ??= this.#parent === undefined ? tagName(this.item.tag) : this.#parent.#pathTo(this.item.tag);
    return this.#path;
  }

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
    // Read for every field of every request: one pass, and no list of matches.
    const children = this.item.value;
    let found: TtlvItem | undefined;
    for (let i = 0; i < children.length; i++) {
      const child = children[i];
      if (child?.tag !== tag) continue;
      if (found !== undefined) {
        throw new KmipError('InvalidField', `${this.#pathTo(tag)} appears ${this.all(tag).length} times; it may appear once`);
      }
      found = child;
    }
    return found;
  }

  required(tag: number): TtlvItem {
    const item = this.optional(tag);
    if (item === undefined) throw new KmipError('InvalidField', `${this.#pathTo(tag)} is required`);
    return item;
  }

  optionalValue<K extends LeafTypeName>(tag: number, type: K): ValueOf[K] | undefined {
    const item = this.optional(tag);
    return item === undefined ? undefined : this.#valueOf(item, type);
  }

  value<K extends LeafTypeName>(tag: number, type: K): ValueOf[K] {
    return this.#valueOf(this.required(tag), type);
  }

  /** All values of a repeated leaf field. */
  values<K extends LeafTypeName>(tag: number, type: K): ValueOf[K][] {
    return this.all(tag).map((item) => this.#valueOf(item, type));
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
    return this.#child(this.required(tag));
  }
  optionalStruct(tag: number): Fields | undefined {
    const item = this.optional(tag);
    return item === undefined ? undefined : this.#child(item);
  }

  #child(item: TtlvItem): Fields {
    if (item.type !== 'Structure') throw new KmipError('InvalidField', `${this.#pathTo(item.tag)} must be a Structure, not ${item.type}`);
    return new Fields(item, undefined, this);
  }

  #pathTo(tag: number): string {
    return `${this.path}/${tagName(tag)}`;
  }

  #valueOf<K extends LeafTypeName>(item: TtlvItem, type: K): ValueOf[K] {
    if (item.type !== type) throw new KmipError('InvalidField', `${this.#pathTo(item.tag)} must be ${type}, not ${item.type}`);
    // A concrete TtlvItem never holds a Placeholder; the check keeps the types honest.
    if (item.value instanceof Placeholder) throw new KmipError('InvalidField', `${this.#pathTo(item.tag)} holds a placeholder`);
    return item.value as ValueOf[K];
  }
}
