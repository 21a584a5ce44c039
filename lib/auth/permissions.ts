/**
 * The permission vocabulary of grants, and what each KMIP operation needs.
 *
 * An object's owner and the administrators may do everything with it. Anyone else needs a
 * grant of the permission the operation asks for: on the object itself, or on an Object
 * Group it belongs to. Locate shows an object to whoever holds any permission on it.
 */
import { Enum, Mask } from '../../ttlv/index.js';
import { GrantOperation } from './extension.js';

/** Every permission a grant can give, with what it allows. */
export const PERMISSION_HELP = {
  locate: 'find the object with Locate (every other permission allows this too)',
  get: 'Get the object (its key material leaves the server), Obtain Lease, Get Usage Allocation, Export, split or join it',
  'get-attributes': 'Get Attributes, Get Attribute List, Check',
  'modify-attributes': 'Add, Modify, Set, Delete and Adjust Attribute',
  activate: 'Activate',
  revoke: 'Revoke',
  destroy: 'Destroy',
  archive: 'Archive and Recover',
  rekey: 'Re-key and Re-key Key Pair (the replacement belongs to the same owner)',
  encrypt: 'Encrypt with the key',
  decrypt: 'Decrypt with the key',
  sign: 'Sign with the key',
  verify: 'Signature Verify with the key',
  mac: 'MAC with the key',
  'mac-verify': 'MAC Verify with the key',
  wrap: 'use the key to wrap another (Get with a Key Wrapping Specification)',
  unwrap: 'use the key to unwrap another (Register or Import of wrapped material)',
  derive: 'use the object as the base of Derive Key',
  certify: 'Certify or Re-certify the object (public key, certificate request, certificate), or issue certificates under it (a CA certificate; its private key needs sign)',
} as const;

export type Permission = keyof typeof PERMISSION_HELP;

export const PERMISSIONS: readonly Permission[] = Object.keys(PERMISSION_HELP) as Permission[];

export function isPermission(text: string): text is Permission {
  return Object.prototype.hasOwnProperty.call(PERMISSION_HELP, text);
}

/**
 * What an access check asks for: a permission a grant can give, or `owner` for what only the
 * owner and the administrators may do (managing the object's grants).
 */
export type Need = Permission | 'owner';

/**
 * What each operation needs on the object its request names (Unique Identifier, or the ID
 * Placeholder). `none`: the operation names no stored object (Create, Register, Query...) or
 * filters by itself what it shows (Locate). An operation missing from this table is refused
 * to everyone but owners and administrators; test/auth/permissions.test.ts fails for every
 * operation of lib/operations/table.ts that is not here.
 */
const O = Enum.Operation;
export const OPERATION_NEEDS: ReadonlyMap<number, Need | 'none'> = new Map<number, Need | 'none'>([
  [O.Create, 'none'],
  [O.CreateKeyPair, 'none'],
  [O.Register, 'none'],
  [O.Locate, 'none'],
  [O.Query, 'none'],
  [O.DiscoverVersions, 'none'],
  [O.RNGRetrieve, 'none'],
  [O.RNGSeed, 'none'],
  [O.Hash, 'none'],
  [O.Log, 'none'],
  [O.Interop, 'none'],
  [O.Ping, 'none'],
  // PKCS#11 (2.x) names no stored object: C_GetInfo tells what the HSM module is.
  [O.PKCS_11, 'none'],
  [O.Get, 'get'],
  [O.ObtainLease, 'get'],
  [O.GetUsageAllocation, 'get'],
  [O.Export, 'get'],
  [O.CreateSplitKey, 'get'],
  [O.JoinSplitKey, 'get'],
  [O.GetAttributes, 'get-attributes'],
  [O.GetAttributeList, 'get-attributes'],
  [O.Check, 'get-attributes'],
  [O.AddAttribute, 'modify-attributes'],
  [O.ModifyAttribute, 'modify-attributes'],
  [O.DeleteAttribute, 'modify-attributes'],
  [O.SetAttribute, 'modify-attributes'],
  [O.AdjustAttribute, 'modify-attributes'],
  [O.Activate, 'activate'],
  [O.Revoke, 'revoke'],
  [O.Destroy, 'destroy'],
  [O.Archive, 'archive'],
  [O.Recover, 'archive'],
  [O.ReKey, 'rekey'],
  [O.ReKeyKeyPair, 'rekey'],
  [O.Encrypt, 'encrypt'],
  [O.Decrypt, 'decrypt'],
  [O.Sign, 'sign'],
  [O.SignatureVerify, 'verify'],
  [O.MAC, 'mac'],
  [O.MACVerify, 'mac-verify'],
  [O.DeriveKey, 'derive'],
  [O.Certify, 'certify'],
  [O.ReCertify, 'certify'],
  // Replacing an existing object keeps its owner: only the owner or an administrator may.
  [O.Import, 'owner'],
  [GrantOperation.Grant, 'owner'],
  [GrantOperation.RevokeGrant, 'owner'],
  [GrantOperation.ListGrants, 'owner'],
]);

/** The need of an operation on the object it names; `owner` for an operation the table lacks. */
export function operationNeed(operation: number | undefined): Need {
  const need = operation === undefined ? undefined : OPERATION_NEEDS.get(operation);
  return need === undefined || need === 'none' ? 'owner' : need;
}

type Usage = keyof typeof Mask.CryptographicUsageMask;

/** Using a key for a cryptographic usage needs the permission of that usage. */
const USAGE_PERMISSIONS: Partial<Record<Usage, Permission>> = {
  Encrypt: 'encrypt',
  Decrypt: 'decrypt',
  Sign: 'sign',
  Verify: 'verify',
  MACGenerate: 'mac',
  MACVerify: 'mac-verify',
  WrapKey: 'wrap',
  UnwrapKey: 'unwrap',
  DeriveKey: 'derive',
  CertificateSign: 'sign',
  CRLSign: 'sign',
  ContentCommitmentNonRepudiation: 'sign',
};

/** The need of a cryptographic usage; `owner` for a usage no permission names. */
export function usageNeed(usage: Usage): Need {
  return USAGE_PERMISSIONS[usage] ?? 'owner';
}

/** Parse "get,encrypt" (commas or spaces); throws with the unknown names. */
export function parsePermissions(text: string | readonly string[]): Permission[] {
  const names = (typeof text === 'string' ? [text] : text).flatMap((part) => part.split(/[\s,]+/)).filter((name) => name !== '');
  const unknown = names.filter((name) => !isPermission(name));
  if (unknown.length > 0) throw new Error(`unknown permission ${unknown.map((name) => JSON.stringify(name)).join(', ')}: use ${PERMISSIONS.join(', ')}`);
  if (names.length === 0) throw new Error(`no permission given: use ${PERMISSIONS.join(', ')}`);
  return [...new Set(names as Permission[])];
}
