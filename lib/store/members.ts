/**
 * What a proxy over a store (the audit's per request, the metrics' commit timer) hands out
 * for a member it does not replace: the store's own value, a method bound to the store so
 * that it reaches the store's private fields. The bound method is made once per store and
 * method, not at each access: every request reads `load` and the like through two proxies.
 */
type Method = (...args: never[]) => unknown;

const bound = new WeakMap<object, WeakMap<Method, Method>>();

export function storeMember(target: object, property: PropertyKey): unknown {
  const value: unknown = Reflect.get(target, property, target);
  if (typeof value !== 'function') return value;
  const method = value as Method;
  let methods = bound.get(target);
  if (methods === undefined) {
    methods = new WeakMap();
    bound.set(target, methods);
  }
  let made = methods.get(method);
  if (made === undefined) {
    made = method.bind(target) as Method;
    methods.set(method, made);
  }
  return made;
}
