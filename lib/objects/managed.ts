/**
 * Reading and changing a managed object's attributes. Objects are immutable values: every
 * change returns a new object with `revision + 1`, which the store commits atomically.
 */
import { Placeholder } from '../../ttlv/index.js';
import type { LeafTypeName, TtlvItem, ValueOf } from '../../ttlv/index.js';
import type { AttributeInstance } from '../attributes/types.js';
import type { ManagedObject } from './types.js';

/** Anything with attributes: a whole object, or its metadata without the body. */
export type WithAttributes = Pick<ManagedObject, 'attributes'>;

export function instances(obj: WithAttributes, name: string): TtlvItem[] {
  return obj.attributes.filter((a) => a.name === name).map((a) => a.value);
}

export function first(obj: WithAttributes, name: string): TtlvItem | undefined {
  return obj.attributes.find((a) => a.name === name)?.value;
}

/** The value of a single-valued leaf attribute, when present and of the expected type. */
export function leafValue<K extends LeafTypeName>(obj: WithAttributes, name: string, type: K): ValueOf[K] | undefined {
  const item = first(obj, name);
  if (item === undefined || item.type !== type || item.value instanceof Placeholder) return undefined;
  return item.value as ValueOf[K];
}

/** The object with every instance of `name` replaced by `values` (none removes it). */
export function withAttribute<T extends WithAttributes>(obj: T, name: string, ...values: TtlvItem[]): T {
  const kept = obj.attributes.filter((a) => a.name !== name);
  const added: AttributeInstance[] = values.map((value) => ({ name, value }));
  // Keep the attribute where it was, so GetAttributes order stays stable.
  const at = obj.attributes.findIndex((a) => a.name === name);
  const attributes = at < 0 ? [...kept, ...added] : [...kept.slice(0, at), ...added, ...kept.slice(at)];
  return { ...obj, attributes };
}
