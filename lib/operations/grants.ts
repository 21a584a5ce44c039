/**
 * Grant, Revoke Grant and List Grants: kmipd's vendor extension operations (lib/auth/extension.ts)
 * that manage who else may do what with an object or an Object Group.
 *
 * - On an object: its owner or an administrator manages its grants.
 * - On an Object Group: anyone may grant on a group, but the grant covers only the granter's
 *   own objects in that group (its scope owner); an administrator's group grant covers every
 *   owner's objects, and an administrator may name a Scope Owner to manage another's.
 */
import { Tag } from '../../ttlv/index.js';
import type { TtlvItem } from '../../ttlv/index.js';
import { GrantOperation, GrantTag } from '../auth/extension.js';
import { principalOf } from '../auth/identity.js';
import type { GranteeKind } from '../auth/identity.js';
import { PERMISSIONS, isPermission } from '../auth/permissions.js';
import type { Permission } from '../auth/permissions.js';
import { KmipError, notFound } from '../errors.js';
import { dateTime, int, struct, text } from '../protocol/build.js';
import type { Fields } from '../protocol/fields.js';
import { OverlayStore } from '../store/index.js';
import type { GrantFilter, GrantRecord } from '../store/types.js';
import { requireAccess, resolveId } from './common.js';
import { operation } from './types.js';
import type { OperationContext } from './types.js';

type Target = { readonly kind: 'object'; readonly id: string | undefined } | { readonly kind: 'group'; readonly group: string };

interface Grantee {
  readonly kind: GranteeKind;
  readonly name: string;
}

interface GrantRequest {
  readonly target: Target;
  readonly grantee: Grantee;
  readonly permissions: readonly Permission[];
  readonly scopeOwner: string | undefined;
}

/** Names come from certificates and configuration: bounded, and never empty. */
const MAX_NAME = 1024;

function name(value: string, what: string): string {
  if (value === '' || value.length > MAX_NAME) throw new KmipError('InvalidField', `${what} must hold 1 to ${MAX_NAME} characters`);
  return value;
}

function decodeTarget(payload: Fields, required: boolean): Target | undefined {
  const id = payload.optionalText(Tag.UniqueIdentifier);
  const group = payload.optionalText(Tag.ObjectGroup);
  if (id !== undefined && group !== undefined) throw new KmipError('InvalidField', 'give a Unique Identifier or an Object Group, not both');
  if (group !== undefined) return { kind: 'group', group: name(group, 'Object Group') };
  if (id !== undefined || required) return { kind: 'object', id };
  return undefined;
}

function decodeGrantee(payload: Fields, required: boolean): Grantee | undefined {
  const identity = payload.optionalText(GrantTag.GranteeIdentity);
  const group = payload.optionalText(GrantTag.GranteeGroup);
  if (identity !== undefined && group !== undefined) throw new KmipError('InvalidField', 'give a Grantee Identity or a Grantee Group, not both');
  if (identity !== undefined) return { kind: 'identity', name: name(identity, 'Grantee Identity') };
  if (group !== undefined) return { kind: 'group', name: name(group, 'Grantee Group') };
  if (required) throw new KmipError('InvalidField', 'a Grantee Identity or a Grantee Group is required');
  return undefined;
}

function decodePermissions(payload: Fields, required: boolean): Permission[] {
  const names = payload.values(GrantTag.Permission, 'TextString');
  const unknown = names.filter((p) => !isPermission(p));
  if (unknown.length > 0) throw new KmipError('InvalidField', `unknown permission ${unknown.map((p) => JSON.stringify(p)).join(', ')}: the permissions are ${PERMISSIONS.join(', ')}`);
  if (required && names.length === 0) throw new KmipError('InvalidField', `at least one Permission is required: ${PERMISSIONS.join(', ')}`);
  return [...new Set(names as Permission[])];
}

function decodeChange(payload: Fields, permissionsRequired: boolean): GrantRequest {
  const scopeOwner = payload.optionalText(GrantTag.ScopeOwner);
  return {
    target: decodeTarget(payload, true) as Target,
    grantee: decodeGrantee(payload, true) as Grantee,
    permissions: decodePermissions(payload, permissionsRequired),
    scopeOwner: scopeOwner === undefined ? undefined : name(scopeOwner, 'Scope Owner'),
  };
}

/** A resolved target: the object (checked to exist and be the caller's to manage) or the group with its scope. */
type Resolved = { readonly kind: 'object'; readonly id: string } | { readonly kind: 'group'; readonly group: string; readonly scopeOwner: string | null };

/**
 * Where a grant change or listing applies, after checking the caller may manage it. A group
 * target's scope: the caller's own objects, or (administrators) `scopeOwner`, or every owner.
 */
async function resolveTarget(ctx: OperationContext, target: Target, scopeOwner: string | undefined): Promise<Resolved> {
  if (target.kind === 'object') {
    if (scopeOwner !== undefined) throw new KmipError('InvalidField', 'Scope Owner applies to Object Group grants only');
    const id = resolveId(ctx, target.id);
    const obj = await ctx.store.loadMetadata(id);
    if (obj === undefined) throw notFound(id);
    await requireAccess(ctx, obj, 'owner');
    ctx.idPlaceholder = id;
    return { kind: 'object', id };
  }
  if (!ctx.identity.admin) {
    if (scopeOwner !== undefined && scopeOwner !== ctx.identity.name) {
      ctx.log.warn('access denied', { objectGroup: target.group, need: 'owner', identity: ctx.identity.name, scopeOwner });
      throw new KmipError('PermissionDenied', `only an administrator may manage grants on the objects of ${scopeOwner}`);
    }
    return { kind: 'group', group: target.group, scopeOwner: ctx.identity.name };
  }
  return { kind: 'group', group: target.group, scopeOwner: scopeOwner ?? null };
}

function targetItem(target: Resolved): TtlvItem {
  return target.kind === 'object' ? text(Tag.UniqueIdentifier, target.id) : text(Tag.ObjectGroup, target.group);
}

function targetFilter(target: Resolved): GrantFilter {
  return target.kind === 'object' ? { targetKind: 'object', target: target.id } : { targetKind: 'group', target: target.group, scopeOwner: target.scopeOwner };
}

/** Grants change at once, in their own transaction: an Undo batch could not take them back. */
function refuseInUndoBatch(ctx: OperationContext): void {
  if (ctx.store instanceof OverlayStore) {
    throw new KmipError('IllegalOperation', 'grants cannot change inside a batch with Batch Error Continuation Option Undo: send Grant and Revoke Grant on their own');
  }
}

export const grant = operation<GrantRequest>({
  code: GrantOperation.Grant,
  since: '1.0',
  decode: (payload) => decodeChange(payload, true),
  handle: async (ctx, request) => {
    refuseInUndoBatch(ctx);
    const target = await resolveTarget(ctx, request.target, request.scopeOwner);
    const created = Number(ctx.now) * 1000;
    const records: GrantRecord[] = request.permissions.map((permission) => ({
      targetKind: target.kind,
      target: target.kind === 'object' ? target.id : target.group,
      scopeOwner: target.kind === 'object' ? null : target.scopeOwner,
      granteeKind: request.grantee.kind,
      grantee: request.grantee.name,
      permission,
      grantedBy: ctx.identity.name,
      created,
    }));
    await ctx.store.addGrants(records);
    ctx.log.info('grant', { ...logTarget(target), grantee: request.grantee.name, granteeKind: request.grantee.kind, permissions: request.permissions });
    return [targetItem(target)];
  },
});

export const revokeGrant = operation<GrantRequest>({
  code: GrantOperation.RevokeGrant,
  since: '1.0',
  decode: (payload) => decodeChange(payload, false),
  handle: async (ctx, request) => {
    refuseInUndoBatch(ctx);
    const target = await resolveTarget(ctx, request.target, request.scopeOwner);
    const removed = await ctx.store.removeGrants({
      ...targetFilter(target),
      granteeKind: request.grantee.kind,
      grantee: request.grantee.name,
      ...(request.permissions.length === 0 ? {} : { permissions: request.permissions }),
    });
    ctx.log.info('grant revoked', { ...logTarget(target), grantee: request.grantee.name, granteeKind: request.grantee.kind, permissions: request.permissions, removed });
    return [targetItem(target), int(GrantTag.RevokedCount, removed)];
  },
});

interface ListRequest {
  readonly target: Target | undefined;
  readonly grantee: Grantee | undefined;
  readonly scopeOwner: string | undefined;
}

export const listGrants = operation<ListRequest>({
  code: GrantOperation.ListGrants,
  since: '1.0',
  decode: (payload) => {
    const scopeOwner = payload.optionalText(GrantTag.ScopeOwner);
    return { target: decodeTarget(payload, false), grantee: decodeGrantee(payload, false), scopeOwner: scopeOwner === undefined ? undefined : name(scopeOwner, 'Scope Owner') };
  },
  handle: async (ctx, request) => {
    const grantee: GrantFilter = request.grantee === undefined ? {} : { granteeKind: request.grantee.kind, grantee: request.grantee.name };
    let filter: GrantFilter;
    if (request.target !== undefined) {
      const target = await resolveTarget(ctx, request.target, request.scopeOwner);
      // An administrator listing a group without a Scope Owner sees the grants of every scope.
      const scoped = target.kind === 'group' && ctx.identity.admin && request.scopeOwner === undefined ? { targetKind: 'group' as const, target: target.group } : targetFilter(target);
      filter = { ...scoped, ...grantee };
    } else if (ctx.identity.admin) {
      filter = grantee;
    } else {
      // Without a target: what the caller was given (to itself or its groups).
      if (request.grantee !== undefined) throw new KmipError('PermissionDenied', 'only an administrator may list the grants of another grantee without naming a target');
      filter = { principal: principalOf(ctx.identity) };
    }
    return summarise(await ctx.store.findGrants(filter));
  },
});

/** One Grant structure per (target, scope, grantee), its permissions in the vocabulary's order. */
function summarise(records: readonly GrantRecord[]): TtlvItem[] {
  const groups = new Map<string, GrantRecord[]>();
  for (const record of records) {
    const key = JSON.stringify([record.targetKind, record.target, record.scopeOwner, record.granteeKind, record.grantee]);
    groups.set(key, [...(groups.get(key) ?? []), record]);
  }
  return [...groups.values()].map((rows) => {
    const [first] = rows as [GrantRecord, ...GrantRecord[]];
    const permissions = PERMISSIONS.filter((p) => rows.some((r) => r.permission === p));
    const latest = rows.reduce((a, b) => (b.created > a.created ? b : a));
    return struct(GrantTag.Grant, [
      first.targetKind === 'object' ? text(Tag.UniqueIdentifier, first.target) : text(Tag.ObjectGroup, first.target),
      first.scopeOwner === null ? undefined : text(GrantTag.ScopeOwner, first.scopeOwner),
      text(first.granteeKind === 'identity' ? GrantTag.GranteeIdentity : GrantTag.GranteeGroup, first.grantee),
      ...permissions.map((p) => text(GrantTag.Permission, p)),
      text(GrantTag.GrantedBy, latest.grantedBy),
      dateTime(GrantTag.GrantDate, BigInt(Math.floor(latest.created / 1000))),
    ]);
  });
}

function logTarget(target: Resolved): Record<string, unknown> {
  return target.kind === 'object' ? { object: target.id } : { objectGroup: target.group, scopeOwner: target.scopeOwner ?? '*' };
}
