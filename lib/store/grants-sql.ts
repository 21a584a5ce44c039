/**
 * The grants table of both back ends (lib/auth): its SQL conditions, written once with a
 * `param` callback that adds a value and returns its placeholder (`?` for SQLite, `$n` for
 * PostgreSQL, which also turns text into UTF-8 bytea).
 *
 * One row per (target, scope owner, grantee, permission): granting twice keeps one row,
 * and revoking one permission deletes one row, so concurrent grants never lose each other.
 * An empty scope_owner means "every owner" (object grants, and group grants made by an
 * administrator).
 */
import type { GrantFilter, GrantRecord, LocateQuery } from './types.js';

/** The attribute whose index keys are Object Group names (lib/attributes indexes a Text String as itself). */
export const OBJECT_GROUP_ATTRIBUTE = 'Object Group';

export type Param = (value: string) => string;

const ANY_OWNER = '';

/** Kinds are fixed words, written into the SQL as literals (never client text). */
function kind(value: 'object' | 'group' | 'identity'): string {
  return `'${value}'`;
}

/** Conditions on the grants table (columns optionally prefixed, e.g. `g.`) for a filter. */
export function grantConditions(filter: GrantFilter, param: Param, prefix = ''): string[] {
  const c = (column: string): string => `${prefix}${column}`;
  const where: string[] = [];
  if (filter.targetKind !== undefined) where.push(`${c('target_kind')} = ${kind(filter.targetKind)}`);
  if (filter.target !== undefined) where.push(`${c('target')} = ${param(filter.target)}`);
  if (filter.scopeOwner !== undefined) where.push(`${c('scope_owner')} = ${param(filter.scopeOwner ?? ANY_OWNER)}`);
  if (filter.granteeKind !== undefined) where.push(`${c('grantee_kind')} = ${kind(filter.granteeKind)}`);
  if (filter.grantee !== undefined) where.push(`${c('grantee')} = ${param(filter.grantee)}`);
  if (filter.permissions !== undefined) {
    where.push(filter.permissions.length === 0 ? 'FALSE' : `${c('permission')} IN (${filter.permissions.map(param).join(', ')})`);
  }
  if (filter.principal !== undefined) where.push(principalCondition(filter.principal, param, prefix));
  return where;
}

/**
 * Grants to the identity or one of its groups. `grantee IN (...)` comes first so that the
 * grantee index (grantee, grantee_kind, ...) serves it; the kinds are then checked on those rows.
 */
function principalCondition(principal: NonNullable<GrantFilter['principal']>, param: Param, prefix: string): string {
  const names = [...new Set([principal.identity, ...principal.groups])];
  const anyName = `${prefix}grantee IN (${names.map(param).join(', ')})`;
  const identity = `(${prefix}grantee_kind = ${kind('identity')} AND ${prefix}grantee = ${param(principal.identity)})`;
  if (principal.groups.length === 0) return `${anyName} AND ${identity}`;
  return `${anyName} AND (${identity} OR (${prefix}grantee_kind = ${kind('group')} AND ${prefix}grantee IN (${principal.groups.map(param).join(', ')})))`;
}

/**
 * Objects a principal may see, as a condition on `objects.id`: its own (the owner index),
 * those granted to it by identifier (the grantee index), and those in a granted Object Group
 * (the grantee index, then the attribute index by group name).
 */
export function visibleCondition(
  visibleTo: NonNullable<LocateQuery['visibleTo']>,
  param: Param,
  /** `ownedFrom`: the objects table for the owner's arm (SQLite names the owner index: statistics of one big owner would make it scan). */
  tables: { objects: string; grants: string; attributeIndex: string; ownedFrom?: string },
  /** `target` as the type of objects.id (PostgreSQL: bytea to text). */
  objectTarget = 'target',
  /** SQLite's CROSS JOIN keeps the join order: from the few grants of the principal to the objects, never the other way. */
  join = 'JOIN',
): string {
  const owned = `SELECT id FROM ${tables.ownedFrom ?? tables.objects} WHERE owner = ${param(visibleTo.identity)}`;
  const byObject = `SELECT ${objectTarget} FROM ${tables.grants} WHERE target_kind = ${kind('object')} AND ${principalCondition(visibleTo, param, '')}`;
  const byGroup =
    `SELECT ai.object_id FROM ${tables.grants} g ${join} ${tables.attributeIndex} ai ON ai.name = ${param(OBJECT_GROUP_ATTRIBUTE)} AND ai.key = g.target ` +
    `${join} ${tables.objects} o ON o.id = ai.object_id ` +
    `WHERE g.target_kind = ${kind('group')} AND ${principalCondition(visibleTo, param, 'g.')} AND (g.scope_owner = ${param(ANY_OWNER)} OR g.scope_owner = o.owner)`;
  return `id IN (${owned} UNION ${byObject} UNION ${byGroup})`;
}

/**
 * The objects of visibleCondition as a test of one row of the objects table (`row`, an alias),
 * not a list: for a scan in creation order, where the list (every object of a big owner)
 * would be built again for each stretch. Each arm is an index probe: the owner column, the
 * grantee index down to the target, the attribute index by (group name, object).
 */
export function visibleProbe(visibleTo: NonNullable<LocateQuery['visibleTo']>, param: Param, tables: { grants: string; attributeIndex: string }, row: string): string {
  // Placeholders are positional: the text is built in the order the values are added.
  const owned = `${row}.owner = ${param(visibleTo.identity)}`;
  const byObject = `EXISTS (SELECT 1 FROM ${tables.grants} WHERE ${principalCondition(visibleTo, param, '')} AND target_kind = ${kind('object')} AND target = ${row}.id)`;
  const groupName = param(OBJECT_GROUP_ATTRIBUTE);
  const byGroup =
    `EXISTS (SELECT 1 FROM ${tables.grants} g JOIN ${tables.attributeIndex} ai ON ai.name = ${groupName} AND ai.key = g.target AND ai.object_id = ${row}.id ` +
    `WHERE ${principalCondition(visibleTo, param, 'g.')} AND g.target_kind = ${kind('group')} AND (g.scope_owner = ${param(ANY_OWNER)} OR g.scope_owner = ${row}.owner))`;
  return `(${owned} OR ${byObject} OR ${byGroup})`;
}

/** A stored row (text columns as the back end gives them) as a GrantRecord. */
export interface GrantRow<T> {
  readonly target_kind: string;
  readonly target: T;
  readonly scope_owner: T;
  readonly grantee_kind: string;
  readonly grantee: T;
  readonly permission: T;
  readonly granted_by: T;
  readonly created: number | string;
}

export function grantFromRow<T>(row: GrantRow<T>, text: (value: T) => string): GrantRecord {
  const scope = text(row.scope_owner);
  return {
    targetKind: row.target_kind === 'group' ? 'group' : 'object',
    target: text(row.target),
    scopeOwner: scope === ANY_OWNER ? null : scope,
    granteeKind: row.grantee_kind === 'group' ? 'group' : 'identity',
    grantee: text(row.grantee),
    permission: text(row.permission),
    grantedBy: text(row.granted_by),
    created: Number(row.created),
  };
}

/** The stored scope_owner of a grant. */
export function scopeColumn(grant: GrantRecord): string {
  return grant.scopeOwner ?? ANY_OWNER;
}

/** A grant the store refuses: an empty name, or a scope on an object grant. */
export function checkGrant(grant: GrantRecord): void {
  for (const [what, value] of [['target', grant.target], ['grantee', grant.grantee], ['permission', grant.permission], ['grantedBy', grant.grantedBy]] as const) {
    if (value === '') throw new Error(`a grant's ${what} may not be empty`);
  }
  if (grant.scopeOwner === '') throw new Error("a grant's scope owner may not be empty (null means every owner)");
  if (grant.targetKind === 'object' && grant.scopeOwner !== null) throw new Error('an object grant has no scope owner');
}

/** SQLite's `?` placeholders: each value appended to `params` in order. */
export function sqliteParam(params: (string | number)[]): Param {
  return (value) => {
    params.push(value);
    return '?';
  };
}
