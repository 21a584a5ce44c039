/** What most operations share: finding the object, checking access, committing changes. */
import { Tag } from '../../ttlv/index.js';
import { KmipError, notFound } from '../errors.js';
import * as lifecycle from '../lifecycle/index.js';
import { leafValue, withAttribute } from '../objects/managed.js';
import type { ManagedObject } from '../objects/types.js';
import { dateTime, enumeration } from '../protocol/build.js';
import type { Fields } from '../protocol/fields.js';
import type { Changes } from '../store/types.js';
import type { OperationContext } from './types.js';

/** The Unique Identifier of a request, or the batch's ID Placeholder when it has none. */
export function requestId(ctx: OperationContext, payload: Fields): string {
  const id = payload.optionalText(Tag.UniqueIdentifier) ?? ctx.idPlaceholder;
  if (id === undefined) {
    throw new KmipError('InvalidField', 'Unique Identifier is required: the request names no object and no earlier batch item set the ID Placeholder');
  }
  return id;
}

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

export function canAccess(ctx: OperationContext, obj: ManagedObject): boolean {
  return ctx.identity.admin || obj.owner === ctx.identity.name;
}

/**
 * The object the request names, as of now: date-driven transitions applied (not yet
 * stored: the operation's commit stores them). Item Not Found when it does not exist,
 * Permission Denied when it belongs to another identity.
 */
export async function loadObject(ctx: OperationContext, id: string | undefined): Promise<ManagedObject> {
  const resolved = resolveId(ctx, id);
  const obj = await ctx.store.load(resolved);
  if (obj === undefined) throw notFound(resolved);
  if (!canAccess(ctx, obj)) throw new KmipError('PermissionDenied', `object ${resolved} belongs to another identity`);
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

/** Commit, translating a concurrent change into a KMIP answer the client can retry. */
export async function commit(ctx: OperationContext, changes: Changes): Promise<void> {
  try {
    await ctx.store.commit(changes);
  } catch (error) {
    if (error instanceof Error && error.name === 'StoreConflictError') {
      throw new KmipError('GeneralFailure', 'the object was changed by another request at the same time; retry');
    }
    throw error;
  }
}
