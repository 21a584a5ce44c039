/**
 * kmipd's KMIP vendor extension for grants. KMIP reserves Operation values 0x80000000-0x8FFFFFFF and
 * item tags 0x540000-0x54FFFF for extensions (2.1 section 11, 1.4 section 9.1.3): standard clients
 * never send them, and kmipd never answers them to a client that did not ask. The standard
 * tags Unique Identifier and Object Group name the target.
 *
 *   Grant         Unique Identifier | Object Group, Grantee Identity | Grantee Group,
 *                 Permission (1 or more), [Scope Owner: administrators only]
 *                 -> Unique Identifier | Object Group
 *   Revoke Grant  the same, Permission optional (none: every permission of the grantee)
 *                 -> Unique Identifier | Object Group, Revoked Count
 *   List Grants   [Unique Identifier | Object Group], [Grantee Identity | Grantee Group]
 *                 -> Grant (0 or more): target, [Scope Owner], grantee, Permission..., Granted By, Grant Date
 */

export const GrantOperation = {
  Grant: 0x80000001,
  RevokeGrant: 0x80000002,
  ListGrants: 0x80000003,
} as const;

export const GrantTag = {
  /** Structure: one grantee's permissions on one target, in List Grants' answer. */
  Grant: 0x540001,
  /** Text String: an identity (as the client certificate names it). */
  GranteeIdentity: 0x540002,
  /** Text String: an identity group (configured, or a certificate OU). */
  GranteeGroup: 0x540003,
  /** Text String, repeated: a permission of lib/auth/permissions.ts. */
  Permission: 0x540004,
  /** Text String: who made the grant. */
  GrantedBy: 0x540005,
  /** Text String: the owner whose objects a group grant covers (none: every owner). */
  ScopeOwner: 0x540006,
  /** Date-Time: when the grant was made. */
  GrantDate: 0x540007,
  /** Integer: how many permissions Revoke Grant removed. */
  RevokedCount: 0x540008,
} as const;

/** Names for logs, metrics, the audit trail (lib/service.ts operationName) and the CLI. */
export const GRANT_OPERATION_NAMES: ReadonlyMap<number, string> = new Map([
  [GrantOperation.Grant, 'Grant'],
  [GrantOperation.RevokeGrant, 'RevokeGrant'],
  [GrantOperation.ListGrants, 'ListGrants'],
]);
