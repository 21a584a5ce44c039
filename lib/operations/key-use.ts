/**
 * Using a key for a cryptographic operation: the usage must be in its Cryptographic Usage
 * Mask, its state must allow it (protecting new data needs Active; processing old data
 * also works Deactivated or Compromised), and it must be online with its material.
 */
import { Enum, Mask, Tag } from '../../ttlv/index.js';
import type { TtlvItem, ValueOf } from '../../ttlv/index.js';
import type { CipherParameters } from '../crypto/index.js';
import { KmipError } from '../errors.js';
import * as lifecycle from '../lifecycle/index.js';
import { first, leafValue, withAttribute } from '../objects/managed.js';
import { long, struct } from '../protocol/build.js';
import type { ManagedObject } from '../objects/types.js';
import { keyBlockOf, rawKeyBytesOf } from '../objects/structures.js';
import { Fields } from '../protocol/fields.js';
import { requireOnline } from './archive.js';
import { changed, loadObject, stateOf, updateFromStored } from './common.js';
import { usageNeed } from '../auth/permissions.js';
import type { OperationContext } from './types.js';

export type Usage = keyof typeof Mask.CryptographicUsageMask;

/** Usages that create protected data; the rest process data already protected. */
const PROTECTING: ReadonlySet<Usage> = new Set<Usage>(['Encrypt', 'Sign', 'MACGenerate', 'WrapKey', 'DeriveKey']);

/** An object that passed the checks for a usage, with its material in clear. */
export interface ObjectInUse {
  readonly obj: ManagedObject;
  /** The object's structure (Key Block...); the caller extracts the key it needs. */
  readonly body: TtlvItem;
  /** The key's own Cryptographic Parameters attribute, the defaults for the request's. */
  readonly defaults: Fields | undefined;
}

export interface KeyInUse extends ObjectInUse {
  /** The plain key bytes; the caller wipes them when done. */
  readonly key: Buffer;
  readonly algorithm: number;
}

/** A symmetric key (or other raw key bytes) for `usage`, after every check of objectForUse. */
export async function keyForUse(ctx: OperationContext, id: string | undefined, usage: Usage): Promise<KeyInUse> {
  return symmetricKeyOf(await objectForUse(ctx, id, usage));
}

/**
 * The object named for `usage`: it exists and is the caller's, online, not destroyed, in a
 * state and within the dates that allow the usage, and its Cryptographic Usage Mask has it.
 */
export async function objectForUse(ctx: OperationContext, id: string | undefined, usage: Usage): Promise<ObjectInUse> {
  const obj = await loadObject(ctx, id, usageNeed(usage));
  if (obj.body === undefined) throw new KmipError('ObjectDestroyed', `object ${obj.id} has been destroyed`);
  requireOnline(obj);
  const state = stateOf(obj);
  const allowed = PROTECTING.has(usage) ? lifecycle.canProtect(state) : lifecycle.canProcess(state);
  if (!allowed) {
    throw new KmipError('WrongKeyLifecycleState', `object ${obj.id} is ${lifecycle.stateName(state)}: it cannot be used to ${usage}`);
  }
  checkDates(obj, PROTECTING.has(usage), ctx.now);
  const mask = leafValue(obj, 'Cryptographic Usage Mask', 'Integer') ?? 0;
  if ((mask & Mask.CryptographicUsageMask[usage]) === 0) {
    throw new KmipError('IncompatibleCryptographicUsageMask', `object ${obj.id}'s Cryptographic Usage Mask does not allow ${usage}`);
  }
  const params = first(obj, 'Cryptographic Parameters');
  return { obj, body: obj.body, defaults: params === undefined ? undefined : Fields.of(params, 'CryptographicParameters') };
}

/** The plain key bytes and algorithm of an object in use; a copy the caller wipes. */
export function symmetricKeyOf(use: ObjectInUse): KeyInUse {
  const block = keyBlockOf(use.body);
  const bytes = rawKeyBytesOf(block);
  const algorithm = block?.algorithm ?? leafValue(use.obj, 'Cryptographic Algorithm', 'Enumeration');
  if (bytes === undefined || algorithm === undefined) {
    throw new KmipError('FeatureNotSupported', `object ${use.obj.id} holds no plain symmetric key material this server can use`);
  }
  // Field by field: V8 builds a spread followed by more properties ({ ...use, key }) on a slow path.
  return { obj: use.obj, body: use.body, defaults: use.defaults, key: Buffer.from(bytes), algorithm };
}

/**
 * 2.1 sections 4.40 and 4.41: no new protection after the Protect Stop Date, no processing
 * before the Process Start Date.
 */
function checkDates(obj: ManagedObject, protecting: boolean, now: bigint): void {
  const protectStop = leafValue(obj, 'Protect Stop Date', 'DateTime');
  if (protecting && protectStop !== undefined && protectStop <= now) {
    throw new KmipError('WrongKeyLifecycleState', `object ${obj.id} passed its Protect Stop Date: it may no longer protect data`);
  }
  const processStart = leafValue(obj, 'Process Start Date', 'DateTime');
  if (!protecting && processStart !== undefined && processStart > now) {
    throw new KmipError('WrongKeyLifecycleState', `object ${obj.id} has not reached its Process Start Date`);
  }
}

/**
 * 2.1 section 4.59: Usage Limits count what a key protects, in bytes or in operations; the
 * remaining count goes down, durably, before the protected data is returned.
 */
export async function chargeUsage(ctx: OperationContext, use: Pick<ObjectInUse, 'obj'>, dataBytes: number): Promise<void> {
  // Concurrent uses charge the count stored by the one before: a conflict charges again from it.
  await updateFromStored(ctx, use.obj, (current) => {
    const charged = usageCharged(current, dataBytes);
    return charged === undefined ? undefined : changed(ctx, charged);
  });
}

/**
 * The object with one use taken out of its Usage Limits (`dataBytes` under the Byte unit),
 * for an operation that commits it together with the rest of its change; undefined when the
 * object has no Usage Limits. Usage Limit Exceeded when too little is left.
 */
export function usageCharged(obj: ManagedObject, dataBytes: number): ManagedObject | undefined {
  const limits = first(obj, 'Usage Limits');
  if (limits === undefined) return undefined;
  const fields = Fields.of(limits, 'UsageLimits');
  const total = fields.value(Tag.UsageLimitsTotal, 'LongInteger');
  const remaining = fields.optionalValue(Tag.UsageLimitsCount, 'LongInteger') ?? total;
  const unit = fields.optionalEnumeration(Tag.UsageLimitsUnit);
  const needed = unit === Enum.UsageLimitsUnit.Byte ? BigInt(dataBytes) : 1n;
  if (remaining < needed) {
    throw new KmipError('UsageLimitExceeded', `object ${obj.id} may protect ${remaining} more ${unit === Enum.UsageLimitsUnit.Byte ? 'bytes' : 'times'}; this needs ${needed}`);
  }
  return withAttribute(obj, 'Usage Limits', struct(Tag.UsageLimits, [long(Tag.UsageLimitsTotal, total), long(Tag.UsageLimitsCount, remaining - needed), fields.optional(Tag.UsageLimitsUnit)]));
}

/** The request's Cryptographic Parameters over the key's, for a cipher. */
export function cipherParameters(request: TtlvItem | undefined, use: KeyInUse): CipherParameters {
  const given = request === undefined ? undefined : Fields.of(request, 'CryptographicParameters');
  const { defaults } = use;
  return {
    algorithm: parameter(given, defaults, Tag.CryptographicAlgorithm, 'Enumeration') ?? use.algorithm,
    mode: parameter(given, defaults, Tag.BlockCipherMode, 'Enumeration'),
    padding: parameter(given, defaults, Tag.PaddingMethod, 'Enumeration'),
    tagLength: parameter(given, defaults, Tag.TagLength, 'Integer'),
    randomIv: parameter(given, defaults, Tag.RandomIV, 'Boolean'),
    ivLength: parameter(given, defaults, Tag.IVLength, 'Integer'),
  };
}

/** One Cryptographic Parameters field: the request's, else the key's (a function, not a closure per field per request). */
function parameter<K extends 'Enumeration' | 'Integer' | 'Boolean'>(given: Fields | undefined, defaults: Fields | undefined, tag: number, type: K): ValueOf[K] | undefined {
  return given?.optionalValue(tag, type) ?? defaults?.optionalValue(tag, type);
}
