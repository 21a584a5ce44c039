/**
 * The server's own schedule (issue 6, "Automatic rotation"): date-driven lifecycle changes
 * stored when their date comes, whether or not a client reads the object, and automatic
 * rotation by the KMIP 2.1 rotation attributes.
 *
 * Every object carries one due index row (codec.ts DUE_INDEX): the next moment something
 * date-driven happens to it. A periodic sweep asks the store for the objects due by now
 * (an index range, not a scan), applies what is due and commits; the commit writes the
 * object's next due row. Objects written before the due rows existed (or before `dueAt`
 * last changed, see DUE_INDEX_VERSION) get theirs at the scheduler's first start, a page at
 * a time and resumable (MaintenanceStore.refreshIndex). Rotation (2.1 sections 4.48-4.54): a
 * Symmetric Key, or the Private Key of a pair, with Rotate Automatic True and a Rotate
 * Interval is re-keyed, exactly as by the Re-key and Re-key Key Pair operations (rekey.ts
 * replaceSymmetricKey, rekey-key-pair.ts replaceKeyPair), once its Initial Date is Rotate
 * Interval in the past, with Rotate Offset as the Offset; the replacement becomes the Rotate
 * Latest of its set and the old key moves on by policy (deactivated when its replacement
 * activates, or kept).
 *
 * Every change the scheduler makes is audited (lib/audit auditSystemCommits) as done by
 * `kmipd:scheduler`, in the transaction of the change: ReKey or ReKeyKeyPair for a rotation,
 * Activate or Deactivate for a date reached.
 *
 * One sweep at a time among every process sharing the store (MaintenanceStore.exclusively:
 * a PostgreSQL advisory lock, or the one process that serves a SQLite folder).
 */
import { Enum, Tag } from '../../ttlv/index.js';
import { auditSystemCommits } from '../audit/request.js';
import { residentLocation } from '../crypto/pkcs11/resident.js';
import { KmipError } from '../errors.js';
import type { AttributeInstance } from '../attributes/index.js';
import { StreamTable } from '../crypto/streams.js';
import * as lifecycle from '../lifecycle/index.js';
import type { Logger } from '../log.js';
import { instances, leafValue } from '../objects/managed.js';
import type { ManagedObject } from '../objects/types.js';
import { DUE_INDEX, dueKey } from '../store/codec.js';
import type { MaintenanceStore } from '../store/types.js';
import { advance, changed, commit, stateOf, yieldToEventLoop } from './common.js';
import { replaceSymmetricKey } from './rekey.js';
import { replaceKeyPair } from './rekey-key-pair.js';
import type { OperationContext, OperationLimits } from './types.js';

type WithAttributes = Pick<ManagedObject, 'attributes'>;

/** What becomes of the old key of an automatic rotation. */
export type RetireOldPolicy = 'deactivate' | 'keep';

/** When the object's automatic rotation is due, if it takes part in one (2.1 sections 4.48, 4.51). */
export function rotationDueAt(obj: WithAttributes): bigint | undefined {
  if (leafValue(obj, 'Rotate Automatic', 'Boolean') !== true) return undefined;
  const interval = leafValue(obj, 'Rotate Interval', 'Interval');
  const initial = leafValue(obj, 'Initial Date', 'DateTime');
  if (interval === undefined || interval <= 0 || initial === undefined) return undefined;
  // Only the latest of a rotation set rotates; a key already replaced has a successor.
  if (leafValue(obj, 'Rotate Latest', 'Boolean') === false) return undefined;
  if (hasLink(obj, Enum.LinkType.ReplacementObjectLink)) return undefined;
  // Re-key replaces Symmetric Keys; Re-key Key Pair replaces a pair through its Private Key.
  const type = leafValue(obj, 'Object Type', 'Enumeration');
  if (type === Enum.ObjectType.PrivateKey) {
    if (!hasLink(obj, Enum.LinkType.PublicKeyLink)) return undefined;
  } else if (type !== Enum.ObjectType.SymmetricKey) return undefined;
  const state = stateOf(obj);
  if (state !== lifecycle.State.PreActive && state !== lifecycle.State.Active) return undefined;
  return initial + BigInt(interval);
}

/** The next moment a date-driven change is due for the object: activation, deactivation or rotation. */
export function dueAt(obj: WithAttributes): bigint | undefined {
  const state = stateOf(obj);
  const dates: bigint[] = [];
  const activation = leafValue(obj, 'Activation Date', 'DateTime');
  const deactivation = leafValue(obj, 'Deactivation Date', 'DateTime');
  if (state === lifecycle.State.PreActive && activation !== undefined) dates.push(activation);
  if ((state === lifecycle.State.PreActive || state === lifecycle.State.Active) && deactivation !== undefined) dates.push(deactivation);
  const rotation = rotationDueAt(obj);
  if (rotation !== undefined) dates.push(rotation);
  return dates.length === 0 ? undefined : dates.reduce((a, b) => (a < b ? a : b));
}

/**
 * The version of `dueAt`: raise it whenever what makes an object due changes (as when key
 * pairs began to rotate, version 2), so that the scheduler's next start recomputes every
 * stored object's due row.
 */
export const DUE_INDEX_VERSION = 2;

/**
 * Objects per transaction of the due-row backfill. SQLite reads them synchronously, from a
 * cold disk on a large store: small pages, and a turn of the event loop after each
 * (`yieldToEventLoop`), keep handshakes, requests and SIGTERM served while it runs.
 */
const BACKFILL_PAGE = 100;

/** The due index row of an object, for the store's index (added to the attribute module's index keys). */
export function dueIndexKeys(attributes: readonly AttributeInstance[]): { name: string; key: string }[] {
  const at = dueAt({ attributes });
  return at === undefined ? [] : [{ name: DUE_INDEX, key: dueKey(at) }];
}

function hasLink(obj: WithAttributes, type: number): boolean {
  return instances(obj, 'Link').some((link) => link.type === 'Structure' && link.value.some((field) => field.tag === Tag.LinkType && field.value === type));
}

export interface SchedulerOptions {
  readonly store: MaintenanceStore;
  readonly log: Logger;
  /** POSIX seconds; tests move it. */
  readonly clock?: () => bigint;
  /** Seconds between sweeps. */
  readonly intervalSeconds: number;
  readonly retireOld: RetireOldPolicy;
  readonly limits: OperationLimits;
  /** Objects taken from the index at once. */
  readonly batchSize?: number;
  /** Record the scheduler's changes in the audit trail (the `audit` setting); default true. */
  readonly audit?: boolean;
}

export interface SweepResult {
  /** Another process held the scheduler lock: this sweep did nothing. */
  readonly skipped: boolean;
  /** Objects whose due row this sweep recomputed (the backfill of older stores). */
  readonly backfilled: number;
  readonly transitions: number;
  readonly rotations: number;
  readonly failures: number;
}

/** The identity the scheduler's changes are made and audited as (an administrator: it acts on every owner's objects). */
export const SCHEDULER_IDENTITY = { name: 'kmipd:scheduler', admin: true } as const;

export class Scheduler {
  readonly #options: SchedulerOptions;
  readonly #clock: () => bigint;
  readonly #streams = new StreamTable();
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<SweepResult> | undefined;
  #stopped = false;
  /** Every stored object has its due row at DUE_INDEX_VERSION. */
  #indexed = false;

  constructor(options: SchedulerOptions) {
    this.#options = options;
    this.#clock = options.clock ?? ((): bigint => BigInt(Math.floor(Date.now() / 1000)));
  }

  /** Sweep now, then every interval; the timer never keeps the process alive. */
  start(): void {
    if (this.#timer !== undefined || this.#stopped) return;
    const tick = (): void => {
      this.#timer = undefined;
      void this.sweep()
        .catch((error: unknown) => this.#options.log.error('scheduler sweep failed', { error }))
        .finally(() => {
          if (this.#stopped) return;
          this.#timer = setTimeout(tick, this.#options.intervalSeconds * 1000);
          this.#timer.unref();
        });
    };
    this.#timer = setTimeout(tick, 0);
    this.#timer.unref();
  }

  /** No more sweeps; waits for the one running. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#running?.catch(() => undefined);
  }

  /** One sweep: everything due by now, in due order. Sweeps never overlap. */
  sweep(): Promise<SweepResult> {
    this.#running ??= this.#sweep().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  async #sweep(): Promise<SweepResult> {
    let transitions = 0;
    let rotations = 0;
    let failures = 0;
    let backfilled = 0;
    const ran = await this.#options.store.exclusively('scheduler', async () => {
      backfilled = await this.#backfill();
      const now = this.#clock();
      const batch = this.#options.batchSize ?? 100;
      // An object that fails stays due: try it once per sweep, and go on past it.
      const tried = new Set<string>();
      for (;;) {
        const due = (await this.#options.store.indexRange(DUE_INDEX, dueKey(now), batch + tried.size)).filter((id) => !tried.has(id));
        if (due.length === 0 || this.#stopped) break;
        await yieldToEventLoop();
        for (const id of due) {
          tried.add(id);
          try {
            const outcome = await this.#apply(id, now);
            if (outcome === 'rotated') rotations += 1;
            else if (outcome === 'changed') transitions += 1;
          } catch (error) {
            failures += 1;
            this.#options.log.warn('scheduler could not apply a due change; it is tried again next sweep', { id, error });
          }
        }
      }
    });
    const result = { skipped: !ran, backfilled, transitions, rotations, failures };
    if (transitions + rotations + failures > 0) this.#options.log.info('scheduler sweep', result);
    return result;
  }

  /**
   * Give every stored object its due row as DUE_INDEX_VERSION computes it, a page per
   * transaction; the store keeps the progress, so a restart resumes it. Returns the objects done.
   */
  async #backfill(): Promise<number> {
    if (this.#indexed) return 0;
    let objects = 0;
    for (;;) {
      if (this.#stopped) return objects;
      const page = await this.#options.store.refreshIndex(DUE_INDEX, DUE_INDEX_VERSION, BACKFILL_PAGE);
      objects += page.objects;
      if (page.done) break;
      await yieldToEventLoop();
    }
    this.#indexed = true;
    if (objects > 0) this.#options.log.info('scheduler: due dates indexed for stored objects', { objects, version: DUE_INDEX_VERSION });
    return objects;
  }

  async #apply(id: string, now: bigint): Promise<'rotated' | 'changed' | 'nothing'> {
    const stored = await this.#options.store.load(id);
    if (stored === undefined) return 'nothing';
    const current = advance(stored, now);
    const rotation = rotationDueAt(current);
    if (rotation !== undefined && rotation <= now && current.body !== undefined) {
      // The scheduler holds no HSM session, and Re-key of a key held inside the HSM makes its
      // replacement there: such keys are rotated by a client's Re-key, never moved out of the HSM.
      if (residentLocation(current.body) !== undefined) {
        throw new KmipError('IllegalOperation', `object ${id} is held inside the HSM: the scheduler does not rotate keys held in the HSM; rotate it with Re-key (the replacement is made inside the HSM)`);
      }
      const offset = leafValue(current, 'Rotate Offset', 'Interval');
      const retireOld = this.#options.retireOld;
      if (current.objectType === Enum.ObjectType.PrivateKey) {
        const ctx = this.#context(now, 'ReKeyKeyPair');
        const { privateKey, publicKey } = await replaceKeyPair(ctx, current, { privateAttributes: [], publicAttributes: [], offset, retireOld });
        this.#options.log.info('key pair rotated', { privateKey: privateKey.id, publicKey: publicKey.id, replaced: id });
      } else {
        const replacement = await replaceSymmetricKey(this.#context(now, 'ReKey'), current, { attributes: [], offset, retireOld });
        this.#options.log.info('object rotated', { id: replacement, replaced: id });
      }
      return 'rotated';
    }
    if (current === stored) return 'nothing';
    const state = stateOf(current);
    const ctx = this.#context(now, state === lifecycle.State.Active ? 'Activate' : 'Deactivate');
    await commit(ctx, { update: [changed(ctx, current)] });
    this.#options.log.info('object changed by date', { id, state: lifecycle.stateName(state) });
    return 'changed';
  }

  /** The context of one change, whose commit carries its audit record (`operation` by the scheduler). */
  #context(now: bigint, operation: string): OperationContext {
    const store = this.#options.audit === false ? this.#options.store : auditSystemCommits(this.#options.store, SCHEDULER_IDENTITY.name, operation);
    return {
      identity: SCHEDULER_IDENTITY,
      version: '2.1',
      now,
      store,
      log: this.#options.log,
      limits: this.#options.limits,
      testing: false,
      streams: this.#streams,
      idPlaceholder: undefined,
    };
  }
}
