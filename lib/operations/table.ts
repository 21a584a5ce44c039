/**
 * The one table of operations: the dispatcher, Query and Discover Versions all read it.
 */
import type { KmipVersion } from '../../ttlv/index.js';
import { atLeast } from '../protocol/versions.js';
import { discoverVersions } from './discover-versions.js';
import { query } from './query.js';
import type { Operation } from './types.js';

// Each entry's request type differs; the table only needs the common shape.
type AnyOperation = Operation<never>;

const ALL = [discoverVersions, query] as unknown as readonly AnyOperation[];

export const OPERATIONS: ReadonlyMap<number, AnyOperation> = new Map(ALL.map((op) => [op.code, op]));

/** Operations available to a client speaking `version`, in Operation enumeration order. */
export function operationsFor(version: KmipVersion): AnyOperation[] {
  return [...OPERATIONS.values()].filter((op) => atLeast(version, op.since)).sort((a, b) => a.code - b.code);
}
