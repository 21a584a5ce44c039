/**
 * The access decision: may this identity do what it asks with this object? Owners and
 * administrators may do everything; anyone else needs a grant of the permission, to itself
 * or to one of its identity groups, on the object or on an Object Group the object is in
 * (within the grant's scope owner). Managing grants (`owner`) is for owners and administrators.
 */
import type { AttributeInstance } from '../attributes/types.js';
import type { GrantRecord, Store } from '../store/types.js';
import type { Identity } from './identity.js';
import { principalOf } from './identity.js';
import type { Need } from './permissions.js';

/** What the decision reads of an object (no body: Locate decides on metadata). */
export interface Guarded {
  readonly id: string;
  readonly owner: string;
  readonly attributes: readonly AttributeInstance[];
}

/** The Object Groups the object belongs to. */
export function objectGroups(obj: Pick<Guarded, 'attributes'>): string[] {
  return obj.attributes.flatMap((a) => (a.name === 'Object Group' && a.value.type === 'TextString' ? [a.value.value] : []));
}

/** Whether `grant` applies to `obj` (its target and scope, not its grantee). */
export function grantCovers(grant: GrantRecord, obj: Guarded, groups: readonly string[] = objectGroups(obj)): boolean {
  if (grant.targetKind === 'object') return grant.target === obj.id;
  return groups.includes(grant.target) && (grant.scopeOwner === null || grant.scopeOwner === obj.owner);
}

/**
 * Whether `identity` may do `need` with `obj`. Owners and administrators decide without the
 * store; anyone else costs one indexed query of its grants of that permission.
 */
export async function mayAccess(store: Store, identity: Identity, obj: Guarded, need: Need): Promise<boolean> {
  if (identity.admin || obj.owner === identity.name) return true;
  if (need === 'owner') return false;
  // Every permission lets its holder find the object.
  const grants = await store.findGrants({ principal: principalOf(identity), ...(need === 'locate' ? {} : { permissions: [need] }) });
  const groups = objectGroups(obj);
  return grants.some((grant) => grantCovers(grant, obj, groups));
}
