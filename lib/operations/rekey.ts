/**
 * Re-key (KMIP 2.1 section 6.1.46, 1.4 section 4.4): a replacement for a symmetric key,
 * generated fresh, taking over its attributes and names, and linked both ways: the old
 * key points to its Replacement Object, the new one to the Replaced Object. Both changes
 * commit together. The replacement of a key held in the HSM is generated in the HSM too.
 */
import { Enum, Tag } from '../../ttlv/index.js';
import type { AttributeInstance } from '../attributes/index.js';
import { generateSymmetricKey } from '../crypto/index.js';
import { KmipError } from '../errors.js';
import { leafValue, withAttribute } from '../objects/managed.js';
import { newManagedObject } from '../objects/new.js';
import { checkQuantumSafe } from '../objects/quantum-safe.js';
import { keyBlockOf, symmetricKey } from '../objects/structures.js';
import { bool, dateTime, enumeration, int, long, struct, text } from '../protocol/build.js';
import type { ManagedObject } from '../objects/types.js';
import type { OperationContext } from './types.js';
import { Fields } from '../protocol/fields.js';
import { isV2 } from '../protocol/versions.js';
import { fromTemplateAttribute, fromV2Attributes } from '../attributes/index.js';
import { advance, changed, checkUniqueValues, commit, loadObject, optionalRequestId, serverPolicy } from './common.js';
import { generateInHsm, isResident, residentKeyPlan } from './hsm-resident.js';
import { checkRequestedRng } from './server-rng.js';
import { operation } from './types.js';

interface ReKeyRequest {
  id: string | undefined;
  offset: number | undefined;
  attributes: AttributeInstance[];
}

/** Attributes the replacement does not inherit (1.4 table 173): the server sets them anew. */
export const NOT_COPIED = new Set([
  'Unique Identifier', 'Initial Date', 'Destroy Date', 'Compromise Occurrence Date', 'Compromise Date', 'Revocation Reason',
  'State', 'Digest', 'Link', 'Last Change Date', 'Original Creation Date', 'Random Number Generator', 'Fresh', 'Archive Date',
  'Key Format Type', 'Usage Limits', 'Activation Date', 'Process Start Date', 'Protect Stop Date', 'Deactivation Date',
  'Always Sensitive', 'Never Extractable',
]);

const SHIFTED_DATES = ['Process Start Date', 'Protect Stop Date', 'Deactivation Date'] as const;
const DATE_TAGS: Record<string, number> = {
  'Activation Date': Tag.ActivationDate,
  'Process Start Date': Tag.ProcessStartDate,
  'Protect Stop Date': Tag.ProtectStopDate,
  'Deactivation Date': Tag.DeactivationDate,
};

export const reKey = operation<ReKeyRequest>({
  code: Enum.Operation.ReKey,
  since: '1.0',
  decode: (payload, ctx) => {
    const holder = payload.optional(isV2(ctx.version) ? Tag.Attributes : Tag.TemplateAttribute);
    const options = { version: ctx.version, objectType: Enum.ObjectType.SymmetricKey };
    const attributes = holder === undefined ? [] : isV2(ctx.version) ? fromV2Attributes(holder, options) : fromTemplateAttribute(holder, options);
    return { id: optionalRequestId(payload), offset: payload.optionalValue(Tag.Offset, 'Interval'), attributes };
  },
  handle: async (ctx, request) => {
    const old = await loadObject(ctx, request.id);
    const id = await replaceSymmetricKey(ctx, old, { attributes: request.attributes, offset: request.offset });
    ctx.idPlaceholder = id;
    ctx.log.info('object re-keyed', { operation: 'ReKey', id, replaced: old.id });
    return [text(Tag.UniqueIdentifier, id)];
  },
});

/** What a replacement is made with: the request's attributes and Offset, and what becomes of the old key. */
export interface Replacement {
  readonly attributes: readonly AttributeInstance[];
  readonly offset: number | undefined;
  /**
   * Automatic rotation's policy for the old key: `deactivate` gives it a Deactivation Date at
   * the replacement's Activation Date (unless it has an earlier one); `keep` leaves its dates.
   */
  readonly retireOld?: 'deactivate' | 'keep';
}

/**
 * The Re-key of `old` (loaded, dates applied): a fresh key of the same algorithm and length,
 * committed together with the old key's change. Returns the replacement's identifier. The
 * server's automatic rotation (rotation.ts) comes through here too.
 */
export async function replaceSymmetricKey(ctx: OperationContext, old: ManagedObject, replacement: Replacement): Promise<string> {
  if (old.objectType !== Enum.ObjectType.SymmetricKey) throw new KmipError('IllegalOperation', 'Re-key replaces Symmetric Keys; use Re-key Key Pair for key pairs');
  if (old.body === undefined) throw new KmipError('WrongKeyLifecycleState', `object ${old.id} has been destroyed and cannot be re-keyed`);
  const block = keyBlockOf(old.body);
  const algorithm = block?.algorithm ?? leafValue(old, 'Cryptographic Algorithm', 'Enumeration');
  const length = block?.length ?? leafValue(old, 'Cryptographic Length', 'Integer');
  if (algorithm === undefined || length === undefined) throw new KmipError('InvalidField', `object ${old.id} has no Cryptographic Algorithm and Length to re-key with`);

  checkRequestedRng(replacement.attributes);
  const id = ctx.store.newId();
  const rotation = rotationAttributes(old, ctx.now);
  const inherited = old.attributes.filter((a) => !NOT_COPIED.has(a.name) && !ROTATION_STATE.has(a.name));
  const overridden = new Set(replacement.attributes.map((a) => a.name));
  const clientAttributes = [
    ...inherited.filter((a) => !overridden.has(a.name)),
    ...replacement.attributes,
    ...replacementDates(old, replacement.offset, ctx.now),
    ...usageLimits(old),
    ...(rotation?.replacement ?? []),
    { name: 'Link', value: link(Enum.LinkType.ReplacedObjectLink, old.id) },
  ];
  // A key held in the HSM is replaced by one the HSM generates: its value never leaves the token.
  const resident = isResident(old.body) ? residentKeyPlan(ctx, id, algorithm, length, `Re-key of object ${old.id}, held in the HSM,`) : undefined;
  const material = resident === undefined ? generateSymmetricKey(algorithm, length) : undefined;
  try {
    const body = resident?.body ?? symmetricKey(algorithm, length, Buffer.from(material ?? []));
    const fresh = advance(
      newManagedObject({ id, objectType: old.objectType, owner: old.owner, body, clientAttributes, now: ctx.now, policy: resident?.policy ?? serverPolicy(ctx, 'generated') }),
      ctx.now,
    );
    // The replacement takes over the names; the old key points to its replacement.
    let retiring: ManagedObject = withAttribute({ ...old, attributes: [...old.attributes, { name: 'Link', value: link(Enum.LinkType.ReplacementObjectLink, id) }] }, 'Name');
    if (rotation !== undefined) retiring = withAttribute(retiring, 'Rotate Latest', bool(Tag.RotateLatest, false));
    if (replacement.retireOld === 'deactivate') {
      // Without an Offset the replacement is usable at once (its Activation Date is the old one's): deactivate now.
      const activation = leafValue(fresh, 'Activation Date', 'DateTime') ?? ctx.now;
      retiring = advance(deactivatedAt(retiring, activation > ctx.now ? activation : ctx.now), ctx.now);
    }
    const retired = changed(ctx, retiring);
    checkQuantumSafe(fresh.attributes);
    await checkUniqueValues(ctx, fresh, [old.id]);
    const save = (): Promise<void> => commit(ctx, { create: [fresh], update: [retired] });
    await (resident === undefined ? save() : generateInHsm(ctx, resident, 'Re-key', save));
  } finally {
    material?.fill(0);
  }
  return id;
}

/** The rotation bookkeeping a replacement does not inherit: it sets its own (2.1 sections 4.49, 4.50, 4.52). */
export const ROTATION_STATE = new Set(['Rotate Date', 'Rotate Generation', 'Rotate Latest']);

/**
 * For an object in a rotation set (it has a Rotate Name, automatic rotation, or a Rotate
 * Generation already): the replacement's Rotate Generation (one more), Rotate Latest (true)
 * and Rotate Date (now); undefined for other objects, whose Re-key stays as it was.
 */
export function rotationAttributes(old: ManagedObject, now: bigint): { replacement: AttributeInstance[] } | undefined {
  const inSet = ['Rotate Name', 'Rotate Automatic', 'Rotate Interval', 'Rotate Generation', 'Rotate Latest'].some((name) => old.attributes.some((a) => a.name === name));
  if (!inSet) return undefined;
  const generation = leafValue(old, 'Rotate Generation', 'Integer') ?? 0;
  return {
    replacement: [
      { name: 'Rotate Generation', value: int(Tag.RotateGeneration, generation + 1) },
      { name: 'Rotate Latest', value: bool(Tag.RotateLatest, true) },
      { name: 'Rotate Date', value: dateTime(Tag.RotateDate, now) },
    ],
  };
}

/** The old key deactivates when its replacement activates, unless it was to deactivate sooner. */
export function deactivatedAt(obj: ManagedObject, at: bigint): ManagedObject {
  const current = leafValue(obj, 'Deactivation Date', 'DateTime');
  if (current !== undefined && current <= at) return obj;
  return withAttribute(obj, 'Deactivation Date', dateTime(Tag.DeactivationDate, at));
}

function link(type: number, id: string): ReturnType<typeof struct> {
  return struct(Tag.Link, [enumeration(Tag.LinkType, type), text(Tag.LinkedObjectIdentifier, id)]);
}

/** 1.4 table 172: without an Offset the dates are copied; with one they move with the new Activation Date. */
export function replacementDates(old: Parameters<typeof leafValue>[0], offset: number | undefined, now: bigint): AttributeInstance[] {
  const oldActivation = leafValue(old, 'Activation Date', 'DateTime');
  const dates: AttributeInstance[] = [];
  if (offset === undefined) {
    for (const name of ['Activation Date', ...SHIFTED_DATES]) {
      const value = leafValue(old, name, 'DateTime');
      if (value !== undefined) dates.push({ name, value: dateTime(DATE_TAGS[name] ?? 0, value) });
    }
    return dates;
  }
  const activation = now + BigInt(offset);
  dates.push({ name: 'Activation Date', value: dateTime(Tag.ActivationDate, activation) });
  const shift = oldActivation === undefined ? 0n : activation - oldActivation;
  for (const name of SHIFTED_DATES) {
    const value = leafValue(old, name, 'DateTime');
    if (value !== undefined) dates.push({ name, value: dateTime(DATE_TAGS[name] ?? 0, value + shift) });
  }
  return dates;
}

/** The replacement starts with the full allowance: Count = Total. */
export function usageLimits(old: Parameters<typeof leafValue>[0]): AttributeInstance[] {
  const limits = old.attributes.find((a) => a.name === 'Usage Limits')?.value;
  if (limits === undefined) return [];
  const fields = Fields.of(limits, 'UsageLimits');
  const total = fields.value(Tag.UsageLimitsTotal, 'LongInteger');
  return [
    {
      name: 'Usage Limits',
      value: struct(Tag.UsageLimits, [long(Tag.UsageLimitsTotal, total), long(Tag.UsageLimitsCount, total), fields.optional(Tag.UsageLimitsUnit)]),
    },
  ];
}
