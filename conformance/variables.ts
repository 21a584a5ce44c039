/**
 * The placeholder map of one test case (../shared/kmip-testcases/README.md, "Reading a
 * case"):
 *
 * - an unbound placeholder met in an expected response binds to the actual value found at
 *   that position; later requests and responses use the bound value;
 * - a placeholder in a request is replaced by its bound value; one met unbound (`$DATA_0`,
 *   `$MAC_DATA`, ...) takes the most recent actual response item with the same tag, and
 *   keeps that value for the rest of the case;
 * - `$NOW`, `$NOW-3600`, `$NOW+3600` in a request is the send time plus the offset in
 *   seconds; every date the client sends is remembered per attribute, because a date the
 *   client sent must come back unchanged.
 */
import { Placeholder, Tag, registry } from '../ttlv/index.js';
import type { LeafItem, TemplateItem, TtlvItem } from '../ttlv/index.js';

/** A concrete leaf item. */
export type Leaf = LeafItem;

/** A placeholder whose value cannot be found when a request is built. */
export class PlaceholderError extends Error {
  override readonly name = 'PlaceholderError';
  constructor(
    readonly placeholder: string,
    readonly path: string,
    message: string,
  ) {
    super(message);
  }
}

const NOW = /^\$NOW(?:([+-])([0-9]+))?$/;

/** The offset in seconds of a `$NOW`, `$NOW-3600`, `$NOW+60` placeholder; undefined for any other name. */
export function nowOffset(name: string): number | undefined {
  const match = NOW.exec(name);
  if (!match) return undefined;
  const seconds = Number(match[2] ?? '0');
  return match[1] === '-' ? -seconds : seconds;
}

/** A DateTime (seconds) or DateTimeExtended (microseconds) value for `nowMs` plus `offset` seconds. */
export function dateValue(type: 'DateTime' | 'DateTimeExtended', nowMs: number, offset: number): bigint {
  if (type === 'DateTime') return BigInt(Math.floor(nowMs / 1000) + offset);
  return BigInt(Math.floor(nowMs)) * 1000n + BigInt(offset) * 1_000_000n;
}

/** The text of a literal Attribute Name among `children` (KMIP 1.x Attribute, 2.x vendor Attribute). */
export function attributeNameAmong(children: readonly TemplateItem[]): string | undefined {
  const found = children.find((child) => child.tag === Tag.AttributeName && child.type === 'TextString');
  return found && typeof found.value === 'string' ? found.value : undefined;
}

/**
 * What a date (or text) is the value of: "ActivationDate" for both `<ActivationDate>` (KMIP
 * 2.x) and an Attribute Value under Attribute Name "Activation Date" (KMIP 1.x); a custom
 * attribute's own name ("x-VendorAttribute3").
 */
export function dateKey(tag: number, attributeName: string | undefined): string {
  if (tag === Tag.AttributeValue && attributeName !== undefined) {
    return registry.tagByName(attributeName)?.xmlName ?? attributeName;
  }
  return registry.tagByValue(tag)?.xmlName ?? registry.tagHex(tag);
}

/** A date the client sent: under which placeholder (undefined for a literal), and the value. */
export interface SentDate {
  readonly placeholder: string | undefined;
  readonly value: bigint;
}

export class Variables {
  private readonly bound = new Map<string, Leaf>();
  /** Names in the order they were bound, so that a trial comparison can be undone. */
  private readonly journal: string[] = [];
  private readonly recent = new Map<number, Leaf>();
  private readonly sent = new Map<string, SentDate[]>();
  /** Text values the client sent, by the attribute (or tag) they were sent for. */
  private readonly sentTexts = new Map<string, Set<string>>();

  /** The value bound to `name`, if any. */
  get(name: string): Leaf | undefined {
    return this.bound.get(name);
  }

  bind(name: string, leaf: Leaf): void {
    if (this.bound.has(name)) throw new Error(`${name} is already bound`);
    this.bound.set(name, leaf);
    this.journal.push(name);
  }

  /** All bindings, for reports. */
  entries(): IterableIterator<[string, Leaf]> {
    return this.bound.entries();
  }

  /** A mark to return to with `rollback`. */
  checkpoint(): number {
    return this.journal.length;
  }

  /** Forget every binding made since `mark`. */
  rollback(mark: number): void {
    for (const name of this.journal.splice(mark)) this.bound.delete(name);
  }

  /** Remember every leaf of an actual response: the source of unbound request placeholders. */
  remember(response: TtlvItem): void {
    if (response.type === 'Structure') {
      for (const child of response.value) this.remember(child);
      return;
    }
    this.recent.set(response.tag, response);
  }

  /** The dates the client sent for `key`, optionally only those sent as `placeholder`. */
  sentDates(key: string, placeholder?: string): readonly SentDate[] {
    const all = this.sent.get(key) ?? [];
    return placeholder === undefined ? all : all.filter((date) => date.placeholder === placeholder);
  }

  /** The texts the client sent for `key` ("ObjectGroup" for both the 2.x item and the 1.x attribute). */
  sentText(key: string): ReadonlySet<string> {
    return this.sentTexts.get(key) ?? new Set();
  }

  /**
   * The concrete request for a template: placeholders replaced, dates and texts remembered.
   * Throws PlaceholderError when a placeholder has no value.
   */
  substitute(template: TemplateItem, nowMs: number): TtlvItem {
    return this.resolve(template, nowMs, '', undefined);
  }

  private resolve(item: TemplateItem, nowMs: number, parentPath: string, attributeName: string | undefined): TtlvItem {
    const path = parentPath === '' ? tagLabel(item.tag) : `${parentPath}/${tagLabel(item.tag)}`;
    if (item.type === 'Structure') {
      const childName = attributeNameAmong(item.value);
      return { tag: item.tag, type: 'Structure', value: item.value.map((child) => this.resolve(child, nowMs, path, childName)) };
    }
    const value = item.value;
    if (!(value instanceof Placeholder)) {
      const leaf = item as Leaf;
      if (leaf.type === 'DateTime' || leaf.type === 'DateTimeExtended') this.recordSent(dateKey(leaf.tag, attributeName), undefined, leaf.value);
      if (leaf.type === 'TextString') this.recordText(dateKey(leaf.tag, attributeName), leaf.value);
      return leaf;
    }
    const offset = nowOffset(value.name);
    if (offset !== undefined) {
      if (item.type !== 'DateTime' && item.type !== 'DateTimeExtended') {
        throw new PlaceholderError(value.name, path, `${value.name} at ${path} stands for a date, but the item is a ${item.type}`);
      }
      const date = dateValue(item.type, nowMs, offset);
      this.recordSent(dateKey(item.tag, attributeName), value.name, date);
      return { tag: item.tag, type: item.type, value: date };
    }
    const known = this.bound.get(value.name) ?? this.fromRecent(value.name, item.tag);
    if (known === undefined) {
      throw new PlaceholderError(value.name, path, `${value.name} at ${path} has no value: no response bound it and no response had a ${tagLabel(item.tag)}`);
    }
    if (known.type !== item.type) {
      throw new PlaceholderError(value.name, path, `${value.name} at ${path} is a ${item.type}, but its value is a ${known.type}`);
    }
    if (item.type === 'DateTime' || item.type === 'DateTimeExtended') this.recordSent(dateKey(item.tag, attributeName), value.name, known.value as bigint);
    return { ...known, tag: item.tag } as Leaf;
  }

  /** An unbound request placeholder takes the latest response item with its tag, and keeps it. */
  private fromRecent(name: string, tag: number): Leaf | undefined {
    const leaf = this.recent.get(tag);
    if (leaf !== undefined) this.bind(name, leaf);
    return leaf;
  }

  private recordText(key: string, value: string): void {
    const set = this.sentTexts.get(key);
    if (set) set.add(value);
    else this.sentTexts.set(key, new Set([value]));
  }

  private recordSent(key: string, placeholder: string | undefined, value: bigint): void {
    const list = this.sent.get(key);
    const date = { placeholder, value };
    if (list) list.push(date);
    else this.sent.set(key, [date]);
  }
}

function tagLabel(tag: number): string {
  return registry.tagByValue(tag)?.xmlName ?? registry.tagHex(tag);
}
