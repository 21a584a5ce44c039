/**
 * The one table of operations: the dispatcher, Query and Discover Versions all read it.
 */
import type { KmipVersion } from '../../ttlv/index.js';
import { atLeast } from '../protocol/versions.js';
import { activate } from './activate.js';
import { archive, recover } from './archive.js';
import { addAttribute, deleteAttribute, modifyAttribute, setAttribute } from './attribute-changes.js';
import { check } from './check.js';
import { create } from './create.js';
import { destroy } from './destroy.js';
import { discoverVersions } from './discover-versions.js';
import { get } from './get.js';
import { getAttributeList } from './get-attribute-list.js';
import { getAttributes } from './get-attributes.js';
import { getUsageAllocation } from './get-usage-allocation.js';
import { locate } from './locate.js';
import { obtainLease } from './obtain-lease.js';
import { query } from './query.js';
import { reKey } from './rekey.js';
import { register } from './register.js';
import { revoke } from './revoke.js';
import type { Operation } from './types.js';

// Each entry's request type differs; the table only needs the common shape.
type AnyOperation = Operation<never>;

const ALL = [
  create,
  register,
  reKey,
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
] as unknown as readonly AnyOperation[];

export const OPERATIONS: ReadonlyMap<number, AnyOperation> = new Map(ALL.map((op) => [op.code, op]));

/** Operations available to a client speaking `version`, in Operation enumeration order. */
export function operationsFor(version: KmipVersion): AnyOperation[] {
  return [...OPERATIONS.values()].filter((op) => atLeast(version, op.since)).sort((a, b) => a.code - b.code);
}
