/**
 * The one table of operations: the dispatcher, Query and Discover Versions all read it.
 */
import type { KmipVersion } from '../../ttlv/index.js';
import { atLeast } from '../protocol/versions.js';
import { activate } from './activate.js';
import { archive, recover } from './archive.js';
import { addAttribute, deleteAttribute, modifyAttribute, setAttribute } from './attribute-changes.js';
import { certify } from './certify.js';
import { check } from './check.js';
import { create } from './create.js';
import { createKeyPair } from './create-key-pair.js';
import { decryptOperation } from './decrypt.js';
import { destroy } from './destroy.js';
import { discoverVersions } from './discover-versions.js';
import { encryptOperation } from './encrypt.js';
import { exportOperation } from './export.js';
import { get } from './get.js';
import { grant, listGrants, revokeGrant } from './grants.js';
import { getAttributeList } from './get-attribute-list.js';
import { getAttributes } from './get-attributes.js';
import { getUsageAllocation } from './get-usage-allocation.js';
import { importOperation } from './import.js';
import { interop } from './interop.js';
import { hashOperation } from './hash.js';
import { locate } from './locate.js';
import { logOperation } from './log.js';
import { macOperation, macVerifyOperation } from './mac.js';
import { obtainLease } from './obtain-lease.js';
import { query } from './query.js';
import { reKey } from './rekey.js';
import { reCertify } from './recertify.js';
import { reKeyKeyPair } from './rekey-key-pair.js';
import { register } from './register.js';
import { revoke } from './revoke.js';
import { signOperation } from './sign.js';
import { signatureVerifyOperation } from './signature-verify.js';
import { deriveKey } from './derive-key.js';
import { createSplitKey, joinSplitKey } from './split-key.js';
import { rngRetrieve, rngSeed } from './rng.js';
import { pkcs11Operation } from './pkcs11.js';
import type { Operation } from './types.js';

// Each entry's request type differs; the table only needs the common shape.
type AnyOperation = Operation<never>;

const ALL = [
  create,
  createKeyPair,
  register,
  reKey,
  reKeyKeyPair,
  locate,
  check,
  get,
  getAttributes,
  getAttributeList,
  addAttribute,
  modifyAttribute,
  deleteAttribute,
  setAttribute,
  obtainLease,
  getUsageAllocation,
  activate,
  revoke,
  destroy,
  archive,
  recover,
  query,
  discoverVersions,
  interop,
  logOperation,
  encryptOperation,
  decryptOperation,
  macOperation,
  macVerifyOperation,
  rngRetrieve,
  rngSeed,
  hashOperation,
  signOperation,
  signatureVerifyOperation,
  grant,
  revokeGrant,
  listGrants,
  importOperation,
  exportOperation,
  deriveKey,
  createSplitKey,
  joinSplitKey,
  certify,
  reCertify,
  pkcs11Operation,
] as unknown as readonly AnyOperation[];

export const OPERATIONS: ReadonlyMap<number, AnyOperation> = new Map(ALL.map((op) => [op.code, op]));

/**
 * Operations available to a client speaking `version`, in Operation enumeration order;
 * `testing` ones (Interop) only when the service runs for interoperability testing.
 */
export function operationsFor(version: KmipVersion, testing = false): AnyOperation[] {
  // Vendor extension operations (0x80000000 and up, the grants) are not listed: clients such as
  // PyKMIP fail on an Operation value they do not know.
  return [...OPERATIONS.values()].filter((op) => offered(op, version, testing) && op.code < 0x80000000).sort((a, b) => a.code - b.code);
}

/** Whether the service offers `op` to a client speaking `version`. */
export function offered(op: AnyOperation, version: KmipVersion, testing: boolean): boolean {
  return atLeast(version, op.since) && (op.testing !== true || testing);
}
