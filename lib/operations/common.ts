/** What most operations share: finding the object, checking access, committing changes. */
import { Mask, Tag } from '../../ttlv/index.js';
import { KmipError, notFound } from '../errors.js';
import * as lifecycle from '../lifecycle/index.js';
import { leafValue, withAttribute } from '../objects/managed.js';
import type { ManagedObject } from '../objects/types.js';
import { mayAccess } from '../auth/access.js';
import type { Guarded } from '../auth/access.js';
import { operationNeed } from '../auth/permissions.js';
import type { Need } from '../auth/permissions.js';
import { attributeByName } from '../attributes/index.js';
import type { AttributeInstance } from '../attributes/index.js';
import { dateTime, enumeration, int, interval } from '../protocol/build.js';
import type { Fields } from '../protocol/fields.js';
import { UniqueValueError } from '../store/types.js';
import type { Changes, UniqueClaim } from '../store/types.js';
import { generatedBy } from './server-rng.js';
import type { OperationContext } from './types.js';

/** The identifier as given, to be resolved with the ID Placeholder when the handler runs. */
export function optionalRequestId(payload: Fields): string | undefined {
  return payload.optionalText(Tag.UniqueIdentifier);
}

export function resolveId(ctx: OperationContext, id: string | undefined): string {
  const resolved = id ?? ctx.idPlaceholder;
  if (resolved === undefined) {
    throw new KmipError('InvalidField', 'Unique Identifier is required: the request names no object and no earlier batch item set the ID Placeholder');
  }
  return resolved;
}

/** Whether the caller owns the object or administers the server (what only they may do: replace it, manage its grants). */
export function canAccess(ctx: OperationContext, obj: Pick<ManagedObject, 'owner'>): boolean {
  return ctx.identity.admin || obj.owner === ctx.identity.name;
}

/**
 * The one access check of every operation (lib/auth/access.ts): owner, administrator, or a
 * grant of `need` on the object or one of its Object Groups. A refusal is Permission Denied,
 * logged (and audited with the request's result).
 */
export async function requireAccess(ctx: OperationContext, obj: Guarded, need: Need): Promise<void> {
  if (await mayAccess(ctx.store, ctx.identity, obj, need)) return;
  ctx.log.warn('access denied', { object: obj.id, need, identity: ctx.identity.name, ...(ctx.identity.groups === undefined ? {} : { groups: ctx.identity.groups }) });
  throw new KmipError('PermissionDenied', need === 'owner' ? `only the owner of object ${obj.id} or an administrator may do this` : `object ${obj.id}: ${ctx.identity.name} has no ${need} permission on it`);
}

/**
 * The object the request names, as of now: date-driven transitions applied (not yet
 * stored: the operation's commit stores them). Item Not Found when it does not exist,
 * Permission Denied when the caller may not do `need` with it (by default what the
 * operation being run needs, lib/auth/permissions.ts).
 */
export async function loadObject(ctx: OperationContext, id: string | undefined, need: Need = operationNeed(ctx.operation)): Promise<ManagedObject> {
  const resolved = resolveId(ctx, id);
  const obj = await ctx.store.load(resolved);
  if (obj === undefined) throw notFound(resolved);
  // The owner and an administrator may do anything (mayAccess's first answer): no grant to look up, no promise to wait for.
  if (!canAccess(ctx, obj)) await requireAccess(ctx, obj, need);
  ctx.idPlaceholder = resolved;
  return advance(obj, ctx.now);
}

export function stateOf(obj: WithAttributes): number {
  return leafValue(obj, 'State', 'Enumeration') ?? lifecycle.State.PreActive;
}

type WithAttributes = Pick<ManagedObject, 'attributes'>;

/** The object with the transitions its Activation and Deactivation Dates call for by `now`. */
export function advance<T extends WithAttributes>(obj: T, now: bigint): T {
  const events = lifecycle.dueEvents(
    stateOf(obj),
    { activation: leafValue(obj, 'Activation Date', 'DateTime'), deactivation: leafValue(obj, 'Deactivation Date', 'DateTime') },
    now,
  );
  let current = obj;
  for (const event of events) current = withState(current, lifecycle.apply(stateOf(current), event));
  return current;
}

export function withState<T extends WithAttributes>(obj: T, state: number): T {
  return withAttribute(obj, 'State', enumeration(Tag.State, state));
}

/** Stamp Last Change Date and the next revision, ready to commit as an update. */
export function changed(ctx: OperationContext, obj: ManagedObject): ManagedObject {
  return { ...withAttribute(obj, 'Last Change Date', dateTime(Tag.LastChangeDate, ctx.now)), revision: obj.revision + 1 };
}

/** Let timers, I/O and signals run: awaiting a store call alone only drains microtasks (long loops call it now and then). */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Commit, translating a concurrent change into a KMIP answer the client can retry. */
export async function commit(ctx: OperationContext, changes: Changes): Promise<void> {
  try {
    await commitChanges(ctx, changes);
  } catch (error) {
    throw kmipCommitError(error);
  }
}

/**
 * Commit an update of `obj` that the server makes on its own account (Fresh turning False,
 * Usage Limits counted down): when another request changed the object meanwhile, the update
 * is made again from the object as stored now instead of failing the client's request.
 * Updaters of one object in this process take turns, so only another process or node can
 * make one conflict; `next` gives the updated object, or undefined when there is nothing
 * (any more) to change, and may throw (a limit reached).
 */
export async function updateFromStored(ctx: OperationContext, obj: ManagedObject, next: (current: ManagedObject) => ManagedObject | undefined): Promise<ManagedObject> {
  // No updater of this object in line (nearly always): what to change is known now, and when
  // it is nothing (a Get of a key served before), no turn is taken.
  let first: ManagedObject | undefined;
  if (!objectTurns.has(obj.id)) {
    first = next(obj);
    if (first === undefined) return obj;
  }
  return inTurn(obj.id, async (waited) => {
    let current = waited ? ((await ctx.store.load(obj.id)) ?? obj) : obj;
    for (let attempt = 1; ; attempt++) {
      const updated = attempt === 1 && first !== undefined ? first : next(current);
      if (updated === undefined) return current;
      try {
        await commitChanges(ctx, { update: [updated] });
        return updated;
      } catch (error) {
        if (!isStoreConflict(error) || attempt >= MAX_UPDATE_ATTEMPTS) throw kmipCommitError(error);
        const stored = await ctx.store.load(obj.id);
        if (stored === undefined) throw kmipCommitError(error);
        current = stored;
      }
    }
  });
}

/** Tries of updateFromStored against other processes' or nodes' changes of the same object. */
const MAX_UPDATE_ATTEMPTS = 10;

/** The last updateFromStored of each object in this process, which the next one waits for. */
const objectTurns = new Map<string, Promise<void>>();

/** Run `work` after the work queued before it for `id`; `waited` says whether some was. */
async function inTurn<T>(id: string, work: (waited: boolean) => Promise<T>): Promise<T> {
  const before = objectTurns.get(id);
  const run = before === undefined ? work(false) : before.then(() => work(true));
  const done = run.then(
    () => undefined,
    () => undefined,
  );
  objectTurns.set(id, done);
  try {
    return await run;
  } finally {
    if (objectTurns.get(id) === done) objectTurns.delete(id);
  }
}

async function commitChanges(ctx: OperationContext, changes: Changes): Promise<void> {
  const unique = uniqueClaims(changes);
  if (unique.length === 0) {
    await ctx.store.commit(changes);
    return;
  }
  // Checked here first for a clear answer (and values held twice within the request);
  // then by the store inside its write transaction, where no other request, process or
  // node commits meanwhile: of two requests giving the same Name at once, one commits.
  await checkUniqueInCommit(ctx, changes);
  await ctx.store.commit({ ...changes, unique });
}

function isStoreConflict(error: unknown): boolean {
  return error instanceof Error && error.name === 'StoreConflictError';
}

function kmipCommitError(error: unknown): unknown {
  if (error instanceof UniqueValueError) return nonUnique(error.claim.name, error.claim.key, 'another of your objects has it');
  if (isStoreConflict(error)) return new KmipError('GeneralFailure', 'the object was changed by another request at the same time; retry');
  return error;
}

/** Where kmipd keeps objects: in software, wrapped under the KEK in its database (2.1 section 12.2). */
const PROTECTION_STORAGE = Mask.ProtectionStorageMask.Software;

/**
 * The attributes the server's policy sets on an object it creates or registers (the
 * `policy` of newManagedObject): its Lease Time (2.1 section 4.30, "implicitly set" by
 * Create, Create Key Pair, Register, Derive Key, Certify, Re-key...), the Protection
 * Storage Mask it is kept under (4.44), and for material the server generated, the Random
 * Number Generator it used (4.46).
 */
export function serverPolicy(ctx: OperationContext, material: 'generated' | 'registered'): AttributeInstance[] {
  const policy: AttributeInstance[] = [
    { name: 'Lease Time', value: interval(Tag.LeaseTime, ctx.limits.leaseTimeSeconds) },
    { name: 'Protection Storage Mask', value: int(Tag.ProtectionStorageMask, PROTECTION_STORAGE) },
  ];
  return material === 'generated' ? [...policy, generatedBy()] : policy;
}

/**
 * 2.1 section 7.33: the Protection Storage Masks of a creating request (under `tag`) are
 * alternatives; the server SHALL fail the request when it can satisfy none of them in its
 * entirety. kmipd satisfies a mask that asks for nothing beyond software storage.
 */
export function checkProtectionStorage(payload: Fields, tag: number = Tag.ProtectionStorageMasks): void {
  const masks = payload.optionalStruct(tag);
  if (masks === undefined) return;
  const alternatives = masks.values(Tag.ProtectionStorageMask, 'Integer');
  if (alternatives.length === 0 || alternatives.some((mask) => (mask & ~PROTECTION_STORAGE) === 0)) return;
  throw new KmipError('ProtectionStorageUnavailable', 'none of the Protection Storage Masks can be met: this server keeps objects in software storage only');
}

/**
 * Values of an attribute the table marks unique (Name: "Names SHALL be unique within a
 * given key management server", 2.1 section 4.32) held by no other object of the same
 * owner, nor twice by `object` itself, as it is about to be committed. Each identity names
 * its objects in its own space: one tenant can neither take a name from another nor learn
 * that the other uses it (Locate never shows another owner's objects). Objects in
 * `releasing` give their values up in the same commit (Re-key hands the names to the
 * replacement). A destroyed object has released its names: its key material is gone, and
 * a replacement may take the name.
 */
export async function checkUniqueValues(ctx: OperationContext, object: Pick<ManagedObject, 'id' | 'owner' | 'attributes'>, releasing: readonly string[] = []): Promise<void> {
  for (const instance of object.attributes) {
    const def = attributeByName(instance.name);
    const key = def?.unique === true ? def.indexKey(instance.value) : undefined;
    if (def === undefined || key === undefined) continue;
    const holds = (attributes: readonly AttributeInstance[]): number => attributes.filter((a) => a.name === def.name && def.indexKey(a.value) === key).length;
    if (holds(object.attributes) > 1) throw nonUnique(def.name, key, 'the object would hold it twice');
    for (const id of await ctx.store.locate({ owner: object.owner, equals: [{ name: def.name, key }] })) {
      if (id === object.id || releasing.includes(id)) continue;
      const other = await ctx.store.loadMetadata(id);
      if (other === undefined || other.owner !== object.owner || !other.hasBody) continue;
      if (holds(other.attributes) > 0) throw nonUnique(def.name, key, 'another of your objects has it');
    }
  }
}

/** The values objects of the commit with key material (those that hold theirs) take and must hold alone. */
function uniqueClaims(changes: Changes): UniqueClaim[] {
  const claims: UniqueClaim[] = [];
  for (const object of [...(changes.create ?? []), ...(changes.update ?? [])]) {
    if (object.body === undefined) continue;
    for (const instance of object.attributes) {
      const def = attributeByName(instance.name);
      const key = def?.unique === true ? def.indexKey(instance.value) : undefined;
      if (def !== undefined && key !== undefined) claims.push({ owner: object.owner, name: def.name, key });
    }
  }
  return claims;
}

/**
 * Every object a commit writes, checked for unique values: against the store (objects of
 * the same commit give up or take values together) and against each other (a Create Key
 * Pair cannot give one Name to both keys).
 */
async function checkUniqueInCommit(ctx: OperationContext, changes: Changes): Promise<void> {
  const objects = [...(changes.create ?? []), ...(changes.update ?? [])].filter((o) => o.body !== undefined);
  const ids = objects.map((o) => o.id);
  const seen = new Map<string, string>();
  for (const object of objects) {
    await checkUniqueValues(ctx, object, ids);
    for (const instance of object.attributes) {
      const def = attributeByName(instance.name);
      const key = def?.unique === true ? def.indexKey(instance.value) : undefined;
      if (def === undefined || key === undefined) continue;
      const slot = `${object.owner}\u0000${def.name}\u0000${key}`;
      const holder = seen.get(slot);
      if (holder !== undefined && holder !== object.id) throw nonUnique(def.name, key, 'two objects of this request would hold it');
      seen.set(slot, object.id);
    }
  }
}

function nonUnique(name: string, value: string, why: string): KmipError {
  return new KmipError('NonUniqueNameAttribute', `${name} ${JSON.stringify(value)} must be unique: ${why}`);
}
