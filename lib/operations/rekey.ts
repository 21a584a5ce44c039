/**
 * Re-key (KMIP 2.1 section 6.1.46, 1.4 section 4.4): a replacement for a symmetric key,
 * generated fresh, taking over its attributes and names, and linked both ways: the old
 * key points to its Replacement Object, the new one to the Replaced Object. Both changes
 * commit together.
 */
import { Enum, Tag } from '../../ttlv/index.js';
import type { AttributeInstance } from '../attributes/index.js';
import { generateSymmetricKey } from '../crypto/index.js';
import { KmipError } from '../errors.js';
import { leafValue, withAttribute } from '../objects/managed.js';
import { newManagedObject } from '../objects/new.js';
import { checkQuantumSafe } from '../objects/quantum-safe.js';
import { keyBlockOf, symmetricKey } from '../objects/structures.js';
import { dateTime, enumeration, long, struct, text } from '../protocol/build.js';
import { Fields } from '../protocol/fields.js';
import { isV2 } from '../protocol/versions.js';
import { fromTemplateAttribute, fromV2Attributes } from '../attributes/index.js';
import { advance, changed, checkUniqueValues, commit, loadObject, optionalRequestId, serverPolicy } from './common.js';
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
    if (old.objectType !== Enum.ObjectType.SymmetricKey) throw new KmipError('IllegalOperation', 'Re-key replaces Symmetric Keys; use Re-key Key Pair for key pairs');
    if (old.body === undefined) throw new KmipError('WrongKeyLifecycleState', `object ${old.id} has been destroyed and cannot be re-keyed`);
    const block = keyBlockOf(old.body);
    const algorithm = block?.algorithm ?? leafValue(old, 'Cryptographic Algorithm', 'Enumeration');
    const length = block?.length ?? leafValue(old, 'Cryptographic Length', 'Integer');
    if (algorithm === undefined || length === undefined) throw new KmipError('InvalidField', `object ${old.id} has no Cryptographic Algorithm and Length to re-key with`);

    checkRequestedRng(request.attributes);
    const id = ctx.store.newId();
    const inherited = old.attributes.filter((a) => !NOT_COPIED.has(a.name));
    const overridden = new Set(request.attributes.map((a) => a.name));
    const clientAttributes = [
      ...inherited.filter((a) => !overridden.has(a.name)),
      ...request.attributes,
      ...replacementDates(old, request.offset, ctx.now),
      ...usageLimits(old),
      { name: 'Link', value: link(Enum.LinkType.ReplacedObjectLink, old.id) },
    ];
    const material = generateSymmetricKey(algorithm, length);
    try {
      const replacement = advance(
        newManagedObject({ id, objectType: old.objectType, owner: old.owner, body: symmetricKey(algorithm, length, Buffer.from(material)), clientAttributes, now: ctx.now, policy: serverPolicy(ctx, 'generated') }),
        ctx.now,
      );
      // The replacement takes over the names; the old key points to its replacement.
      const retired = changed(ctx, withAttribute({ ...old, attributes: [...old.attributes, { name: 'Link', value: link(Enum.LinkType.ReplacementObjectLink, id) }] }, 'Name'));
      checkQuantumSafe(replacement.attributes);
      await checkUniqueValues(ctx, replacement, [old.id]);
      await commit(ctx, { create: [replacement], update: [retired] });
    } finally {
      material.fill(0);
    }
    ctx.idPlaceholder = id;
    ctx.log.info('object re-keyed', { operation: 'ReKey', id, replaced: old.id });
    return [text(Tag.UniqueIdentifier, id)];
  },
});

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
