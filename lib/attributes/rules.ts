/**
 * The attribute rules of the table applied to requests: who may set, add, modify or delete
 * an attribute of a given object (KMIP 2.1 section 4, "Attribute Rules" tables; 2.1
 * sections 6.1.2 Add Attribute, 6.1.13 Delete Attribute, 6.1.34 Modify Attribute, 6.1.51
 * Set Attribute). Each check throws a KmipError with the Result Reason the spec names.
 */
import { Enum } from '../../ttlv/index.js';
import { KmipError } from '../errors.js';
import { allowsMultiple, appliesTo, attributeByName, isAlwaysPresent } from './table.js';
import type { AttributeDef, ModifyRule } from './table.js';
import type { AttributeInstance } from './types.js';

/** What a rule needs to know about the object an attribute belongs (or is to belong) to. */
export interface ObjectFacts {
  readonly objectType: number;
  /** Every attribute instance of the object (its State, dates, current values). */
  readonly attributes: readonly AttributeInstance[];
  /** Now, in POSIX seconds (Process Start / Protect Stop Date "not yet reached"). */
  readonly now: bigint;
  /** Whether Get Usage Allocation has been performed on the object (Usage Limits, 2.1 section 4.59). */
  readonly usageAllocated?: boolean;
}

function definition(name: string): AttributeDef {
  const def = attributeByName(name);
  if (def === undefined) throw new KmipError('InvalidAttribute', `${JSON.stringify(name)} is not an attribute`);
  return def;
}

function instancesOf(name: string, facts: ObjectFacts): AttributeInstance[] {
  return facts.attributes.filter((instance) => instance.name === name);
}

function stateOf(facts: ObjectFacts): number | undefined {
  const state = facts.attributes.find((instance) => instance.name === 'State')?.value;
  return state?.type === 'Enumeration' ? state.value : undefined;
}

function checkApplies(def: AttributeDef, objectType: number): void {
  if (!appliesTo(def, objectType)) {
    throw new KmipError('InvalidAttribute', `${def.name} does not apply to this object type`);
  }
}

/** Several instances of a single-valued attribute in one request: Attribute Single Valued. */
export function checkSingleValued(instances: readonly AttributeInstance[], objectType?: number): void {
  const counts = new Map<string, number>();
  for (const instance of instances) counts.set(instance.name, (counts.get(instance.name) ?? 0) + 1);
  for (const [name, count] of counts) {
    const def = attributeByName(name);
    if (def !== undefined && count > 1 && !allowsMultiple(def, objectType)) {
      throw new KmipError('AttributeSingleValued', `${name} is single-valued but given ${count} times`);
    }
  }
}

/**
 * The attributes a client gives in a request that creates an object (Create, Register,
 * Create Key Pair, Derive Key, ...): each must be one a client may set initially (or
 * request, like Cryptographic Algorithm), apply to the object type, and appear once if
 * single-valued. A "y-" attribute belongs to the server (1.4 section 3.39).
 */
export function checkClientCreate(instances: readonly AttributeInstance[], objectType: number): void {
  for (const instance of instances) {
    const def = definition(instance.name);
    if (def.initialBy === 'server' && !def.requestable) {
      throw new KmipError('ReadOnlyAttribute', `${def.name} is set by the server; a client may not give it`);
    }
    checkApplies(def, objectType);
  }
  checkSingleValued(instances, objectType);
}

/**
 * The content of a 1.x Template object (1.4 section 2.2.6: "the client-settable attributes
 * of a Managed Cryptographic Object"): attributes a client may give when it creates an
 * object, each single-valued one once. Whether they apply is decided when a Create or
 * Register names the Template for an object of a given type.
 */
export function checkClientTemplate(instances: readonly AttributeInstance[]): void {
  for (const instance of instances) {
    const def = definition(instance.name);
    if (def.initialBy === 'server' && !def.requestable) {
      throw new KmipError('ReadOnlyAttribute', `${def.name} is set by the server; a Template may not hold it`);
    }
  }
  checkSingleValued(instances);
}

/** Add Attribute (2.1 section 6.1.2): Read-Only attributes SHALL NOT be added; single-valued ones only when absent. */
export function checkClientAdd(instance: AttributeInstance, facts: ObjectFacts): void {
  const def = definition(instance.name);
  if (def.initialBy === 'server') {
    throw new KmipError('ReadOnlyAttribute', `${def.name} is set by the server; a client may not add it`);
  }
  checkApplies(def, facts.objectType);
  if (!allowsMultiple(def, facts.objectType) && instancesOf(def.name, facts).length > 0) {
    throw new KmipError('AttributeSingleValued', `${def.name} is single-valued and already set; use Modify Attribute`);
  }
}

/** Modify Attribute (2.1 section 6.1.34) of an existing instance of `name`. */
export function checkClientModify(name: string, facts: ObjectFacts): void {
  const def = definition(name);
  if (instancesOf(def.name, facts).length === 0) throw new KmipError('AttributeNotFound', `the object has no ${def.name}`);
  checkModifyRule(def, def.clientModify, facts);
}

/**
 * Set Attribute (2.1 section 6.1.51): adds when absent, modifies a single instance, and
 * refuses an attribute with several instances (Multi Valued Attribute).
 */
export function checkClientSet(instance: AttributeInstance, facts: ObjectFacts): void {
  const count = instancesOf(instance.name, facts).length;
  if (count === 0) return checkClientAdd(instance, facts);
  if (count > 1) throw new KmipError('MultiValuedAttribute', `${instance.name} has ${count} instances; say which with Modify Attribute`);
  return checkClientModify(instance.name, facts);
}

/**
 * Delete Attribute (2.1 section 6.1.13): only attributes the client may delete, never one
 * the object SHALL always have.
 */
export function checkClientDelete(name: string, facts: ObjectFacts): void {
  const def = definition(name);
  if (instancesOf(def.name, facts).length === 0) throw new KmipError('AttributeNotFound', `the object has no ${def.name}`);
  if (isAlwaysPresent(def, facts.objectType)) {
    throw new KmipError('AttributeReadOnly', `${def.name} must always have a value and cannot be deleted`);
  }
  if (def.clientDelete === false) throw new KmipError('AttributeReadOnly', `a client may not delete ${def.name}`);
  if (def.clientDelete === 'before-allocation' && facts.usageAllocated === true) {
    throw new KmipError('AttributeReadOnly', `${def.name} cannot be deleted once Get Usage Allocation has been performed`);
  }
}

/** Whether the server may change an existing value of `name` on its own ("Modifiable by server"). */
export function serverMayModify(name: string, facts: ObjectFacts): boolean {
  const def = attributeByName(name);
  if (def === undefined) return false;
  try {
    checkModifyRule(def, def.serverModify, facts);
    return true;
  } catch (error) {
    if (error instanceof KmipError) return false;
    throw error;
  }
}

function checkModifyRule(def: AttributeDef, rule: ModifyRule, facts: ObjectFacts): void {
  const state = stateOf(facts);
  const preActiveOrActive = state === Enum.State.PreActive || state === Enum.State.Active;
  switch (rule) {
    case 'yes':
      return;
    case 'no':
      throw new KmipError('AttributeReadOnly', `${def.name} cannot be modified`);
    case 'pre-active':
      if (state !== Enum.State.PreActive) {
        throw new KmipError('WrongKeyLifecycleState', `${def.name} can be modified only while the object is Pre-Active`);
      }
      return;
    case 'pre-active-or-active':
      if (!preActiveOrActive) {
        throw new KmipError('WrongKeyLifecycleState', `${def.name} can be modified only while the object is Pre-Active or Active`);
      }
      return;
    case 'before-date': {
      if (!preActiveOrActive) {
        throw new KmipError('WrongKeyLifecycleState', `${def.name} can be modified only while the object is Pre-Active or Active`);
      }
      const current = instancesOf(def.name, facts)[0]?.value;
      if (current?.type === 'DateTime' && current.value <= facts.now) {
        throw new KmipError('AttributeReadOnly', `${def.name} has been reached and can no longer be modified`);
      }
      return;
    }
    case 'if-empty':
      if (instancesOf(def.name, facts).length > 0) throw new KmipError('AttributeReadOnly', `${def.name} already has a value`);
      return;
    case 'if-data-omitted':
      // The server fills in Application Data a client omitted (2.1 section 4.4); the
      // operation that receives the request decides when; there is no existing value to change.
      return;
    case 'before-allocation':
      if (facts.usageAllocated === true) {
        throw new KmipError('AttributeReadOnly', `${def.name} cannot be modified once Get Usage Allocation has been performed`);
      }
      return;
  }
}
