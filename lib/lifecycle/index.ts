/**
 * The KMIP object lifecycle (KMIP 2.1 section 5 / 1.4 section 3.22 "State"), as one table
 * of (state, event) -> state. The state machine, error messages and a test that walks every
 * row all read it; no transition is written in an `if`.
 */
import { Enum } from '../../ttlv/index.js';
import { KmipError } from '../errors.js';

export const State = Enum.State;
export type StateValue = (typeof State)[keyof typeof State];

export type LifecycleEvent =
  | 'activate' // Activate, or the Activation Date is reached
  | 'deactivate' // the Deactivation Date is reached, or Revoke for a reason other than compromise
  | 'compromise' // Revoke with Key Compromise or CA Compromise
  | 'destroy'; // Destroy

/** Transition table (numbers are the transitions of KMIP 2.1 figure 2). */
export const TRANSITIONS: readonly { readonly from: StateValue; readonly event: LifecycleEvent; readonly to: StateValue }[] = [
  { from: State.PreActive, event: 'activate', to: State.Active }, // 4
  { from: State.PreActive, event: 'deactivate', to: State.Deactivated }, // 11 (1.2+: deactivation date or revoke)
  { from: State.PreActive, event: 'compromise', to: State.Compromised }, // 3
  { from: State.PreActive, event: 'destroy', to: State.Destroyed }, // 2
  { from: State.Active, event: 'deactivate', to: State.Deactivated }, // 6
  { from: State.Active, event: 'compromise', to: State.Compromised }, // 5
  { from: State.Deactivated, event: 'compromise', to: State.Compromised }, // 8
  { from: State.Deactivated, event: 'destroy', to: State.Destroyed }, // 7
  { from: State.Compromised, event: 'destroy', to: State.DestroyedCompromised }, // 9
  { from: State.Destroyed, event: 'compromise', to: State.DestroyedCompromised }, // 10
  // Revoking again for the same kind of reason changes nothing (clients retry revocations).
  { from: State.Deactivated, event: 'deactivate', to: State.Deactivated },
  { from: State.Compromised, event: 'compromise', to: State.Compromised },
  { from: State.DestroyedCompromised, event: 'compromise', to: State.DestroyedCompromised },
];

export function stateName(state: number): string {
  const entry = Object.entries(State).find(([, value]) => value === state);
  return entry ? entry[0] : `state ${state}`;
}

/** The state after `event`, or undefined when the table has no such transition. */
export function next(state: number, event: LifecycleEvent): StateValue | undefined {
  return TRANSITIONS.find((t) => t.from === state && t.event === event)?.to;
}

/** The state after `event`; a KmipError (Wrong Key Lifecycle State) when not allowed. */
export function apply(state: number, event: LifecycleEvent): StateValue {
  const to = next(state, event);
  if (to === undefined) {
    const allowed = TRANSITIONS.filter((t) => t.event === event).map((t) => stateName(t.from));
    throw new KmipError('WrongKeyLifecycleState', `cannot ${event} an object in state ${stateName(state)}; allowed from ${allowed.join(', ')}`);
  }
  return to;
}

/**
 * Transitions driven by dates: an Activation Date at or before `now` activates a Pre-Active
 * object, a Deactivation Date at or before `now` deactivates it. Returns the events due.
 */
export function dueEvents(state: number, dates: { activation?: bigint | undefined; deactivation?: bigint | undefined }, now: bigint): LifecycleEvent[] {
  const events: LifecycleEvent[] = [];
  let current: number = state;
  if (current === State.PreActive && dates.activation !== undefined && dates.activation <= now) {
    events.push('activate');
    current = State.Active;
  }
  if ((current === State.PreActive || current === State.Active) && dates.deactivation !== undefined && dates.deactivation <= now) {
    events.push('deactivate');
  }
  return events;
}

/** Whether an object in `state` may be used to protect (encrypt, sign, wrap, MAC) new data. */
export function canProtect(state: number): boolean {
  return state === State.Active;
}

/** Whether an object in `state` may process (decrypt, verify, unwrap) existing data. */
export function canProcess(state: number): boolean {
  return state === State.Active || state === State.Deactivated || state === State.Compromised;
}
