/**
 * Locate matching (KMIP 2.1 section 6.1.28, KMIP 1.4 section 4.9): whether an object's
 * attributes satisfy the attributes of a Locate request, and which index conditions the
 * store can use to narrow the candidates first.
 *
 * - An object matches when it matches every attribute of the request.
 * - A date attribute given once matches that date; given twice, the range between the two,
 *   limits included. A date at its largest possible value is "equivalent to an undefined
 *   attribute": such a request value sets no bound, such an object value counts as absent.
 * - Cryptographic Usage Mask (any mask attribute): the object has every requested bit.
 * - Usage Limits: the object's Usage Limits Count and Total are at least the requested ones.
 * - A structure may give only some fields (a Link with only its Linked Object Identifier);
 *   the object's instance must have each given field with the same value (Name: Name Value
 *   and, when given, Name Type).
 * - Anything else: equal value.
 * Wild cards (a 1.4 MAY) are not supported.
 */
import { Tag, itemsEqual, registry } from '../../ttlv/index.js';
import type { TtlvItem } from '../../ttlv/index.js';
import { KmipError } from '../errors.js';
import { attributeByName } from './table.js';
import type { AttributeDef } from './table.js';
import type { AttributeInstance } from './types.js';

/** The largest Date-Time (a signed 64-bit count of seconds). */
export const LARGEST_DATE = 2n ** 63n - 1n;

/** Conditions the store can check with its index (see LocateQuery in lib/store/types.ts). */
export interface IndexConditions {
  /** The object has an instance of `name` whose index key is `key`. */
  readonly equals: readonly { readonly name: string; readonly key: string }[];
  /** The object has an instance of `name`. */
  readonly has: readonly string[];
}

export interface LocateFilter extends IndexConditions {
  /** Whether an object with these attribute instances matches every attribute of the request. */
  matches(attributes: readonly AttributeInstance[]): boolean;
}

type Test = (attributes: readonly AttributeInstance[]) => boolean;

interface Compiled {
  readonly test: Test;
  readonly equals: { name: string; key: string }[];
  readonly has: string[];
}

/**
 * Compiles the attributes of a Locate request (checked with purpose 'locate') once, for
 * matching many objects. A date attribute given more than twice is Invalid Field.
 */
export function compileLocateFilter(filters: readonly AttributeInstance[]): LocateFilter {
  const byName = new Map<string, TtlvItem[]>();
  for (const filter of filters) {
    const values = byName.get(filter.name) ?? [];
    values.push(filter.value);
    byName.set(filter.name, values);
  }
  const parts: Compiled[] = [];
  for (const [name, values] of byName) {
    const def = attributeByName(name);
    if (def === undefined) throw new KmipError('InvalidAttribute', `${JSON.stringify(name)} is not an attribute`);
    const part = isDateAttribute(def) ? compileDate(def, values) : compileEach(def, values);
    // The store holds no rows of an attribute that is not indexed: it is matched in memory only.
    parts.push(isIndexed(def) ? part : { test: part.test, equals: [], has: [] });
  }
  return {
    equals: parts.flatMap((part) => part.equals),
    has: [...new Set(parts.flatMap((part) => part.has))],
    matches: (attributes) => parts.every((part) => part.test(attributes)),
  };
}

/**
 * Whether the store indexes an attribute for Locate. Not indexed, matched on the candidates
 * only: Object Type (a column of its own), Booleans, dates and masks. They narrow nothing
 * (a handful of values across a store, a date range, a bitwise AND), and as rows they were
 * most of the index: with them, 41 rows per key; without, about 10.
 */
export function isIndexed(def: AttributeDef): boolean {
  if (def.custom) return true;
  return def.name !== 'Object Type' && def.type !== 'Boolean' && def.type !== 'DateTime' && !isMask(def);
}

/**
 * The index rows of an object's instances, for the store (LocateQuery.equals and .has):
 * one per distinct (name, key) of an indexed attribute, and for an indexed attribute none
 * of whose instances has a key (see keys.ts) one row with key null, which says it is present.
 */
export function indexKeys(instances: readonly AttributeInstance[]): { name: string; key: string | null }[] {
  const seen = new Set<string>();
  const keyed = new Set<string>();
  const unkeyed: string[] = [];
  const entries: { name: string; key: string | null }[] = [];
  for (const instance of instances) {
    const def = attributeByName(instance.name);
    if (def === undefined || !isIndexed(def)) continue;
    const key = def.indexKey(instance.value);
    if (key === undefined) {
      unkeyed.push(instance.name);
      continue;
    }
    keyed.add(instance.name);
    const id = `${instance.name}\u0000${key}`;
    if (seen.has(id)) continue;
    seen.add(id);
    entries.push({ name: instance.name, key });
  }
  for (const name of new Set(unkeyed)) if (!keyed.has(name)) entries.push({ name, key: null });
  return entries;
}

/** Whether an object's attributes match the attributes of a Locate request. */
export function matchesLocate(filters: readonly AttributeInstance[], attributes: readonly AttributeInstance[]): boolean {
  return compileLocateFilter(filters).matches(attributes);
}

function valuesOf(name: string, attributes: readonly AttributeInstance[]): TtlvItem[] {
  return attributes.filter((instance) => instance.name === name).map((instance) => instance.value);
}

// ---------------------------------------------------------------------------------------
// Dates

function isDateAttribute(def: AttributeDef): boolean {
  return !def.custom && def.type === 'DateTime';
}

function dateOf(item: TtlvItem): bigint | undefined {
  return item.type === 'DateTime' && item.value !== LARGEST_DATE ? item.value : undefined;
}

function compileDate(def: AttributeDef, values: readonly TtlvItem[]): Compiled {
  if (values.length > 2) {
    throw new KmipError('InvalidField', `Locate takes ${def.name} once (a date) or twice (a range), not ${values.length} times`);
  }
  const given = values.map(dateOf);
  const bounds = given.filter((date): date is bigint => date !== undefined);
  if (bounds.length === 0) return { test: () => true, equals: [], has: [] }; // only largest values: no condition
  if (values.length === 1) {
    const date = bounds[0] ?? 0n;
    const key = date.toString();
    return { test: (attributes) => hasDate(def, attributes, (v) => v === date), equals: [{ name: def.name, key }], has: [] };
  }
  // Two values: a range; a bound at the largest value leaves that side open.
  const [a, b] = given;
  const low = a !== undefined && b !== undefined ? (a < b ? a : b) : (a ?? b);
  const high = a !== undefined && b !== undefined ? (a < b ? b : a) : undefined;
  return {
    test: (attributes) => hasDate(def, attributes, (v) => (low === undefined || v >= low) && (high === undefined || v <= high)),
    equals: [],
    has: [def.name],
  };
}

function hasDate(def: AttributeDef, attributes: readonly AttributeInstance[], accept: (date: bigint) => boolean): boolean {
  return valuesOf(def.name, attributes).some((value) => {
    const date = dateOf(value);
    return date !== undefined && accept(date);
  });
}

// ---------------------------------------------------------------------------------------
// Everything else: each requested value must be matched by one of the object's instances

function compileEach(def: AttributeDef, values: readonly TtlvItem[]): Compiled {
  const matchers = values.map((value) => valueMatcher(def, value));
  const equals: { name: string; key: string }[] = [];
  let needsPresence = false;
  for (const value of values) {
    // A mask matches by AND, not equality; a partial structure may lack its keyed fields.
    const key = isMask(def) ? undefined : def.indexKey(value);
    if (key === undefined) needsPresence = true;
    else equals.push({ name: def.name, key });
  }
  return {
    test: (attributes) => {
      const candidates = valuesOf(def.name, attributes);
      return matchers.every((match) => candidates.some(match));
    },
    equals,
    has: needsPresence ? [def.name] : [],
  };
}

function isMask(def: AttributeDef): boolean {
  return !def.custom && def.type === 'Integer' && registry.maskForTag(def.tag) !== undefined;
}

function valueMatcher(def: AttributeDef, wanted: TtlvItem): (candidate: TtlvItem) => boolean {
  if (isMask(def) && wanted.type === 'Integer') {
    // "a logical AND of the requested mask with the mask in the candidate object, and then
    // a comparison of the resulting value with the requested mask"
    return (candidate) => candidate.type === 'Integer' && (candidate.value & wanted.value) === wanted.value;
  }
  if (!def.custom && wanted.tag === Tag.UsageLimits) return (candidate) => usageLimitsMatch(wanted, candidate);
  return (candidate) => partialMatch(wanted, candidate);
}

/** Every field given in `wanted` is in `candidate` with the same value (leaves: equal). */
function partialMatch(wanted: TtlvItem, candidate: TtlvItem): boolean {
  if (wanted.type !== 'Structure' || candidate.type !== 'Structure') return leafEqual(wanted, candidate);
  return wanted.value.every((field) => candidate.value.some((have) => have.tag === field.tag && partialMatch(field, have)));
}

function leafEqual(a: TtlvItem, b: TtlvItem): boolean {
  return itemsEqual({ ...a, tag: 0 }, { ...b, tag: 0 });
}

/** 2.1 section 6.1.28: Usage Limits Count and Total at least the requested values; the Unit, when given, equal. */
function usageLimitsMatch(wanted: TtlvItem, candidate: TtlvItem): boolean {
  if (wanted.type !== 'Structure' || candidate.type !== 'Structure') return false;
  return wanted.value.every((field) => {
    const have = candidate.value.find((item) => item.tag === field.tag);
    if (have === undefined) return false;
    if ((field.tag === Tag.UsageLimitsCount || field.tag === Tag.UsageLimitsTotal) && field.type === 'LongInteger' && have.type === 'LongInteger') {
      return have.value >= field.value;
    }
    return leafEqual(field, have);
  });
}
