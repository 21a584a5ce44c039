import { expect } from 'chai';
import { Enum, Tag } from '../../ttlv/index.js';
import type { TtlvItem } from '../../ttlv/index.js';
import { KmipError } from '../errors.js';
import type { ResultReasonName } from '../errors.js';
import { checkClientAdd, checkClientCreate, checkClientDelete, checkClientModify, checkClientSet, serverMayModify } from './index.js';
import type { AttributeInstance, ObjectFacts } from './index.js';

const NOW = 1_700_000_000n;
const text = (tag: number, value: string): TtlvItem => ({ tag, type: 'TextString', value });
const enumeration = (tag: number, value: number): TtlvItem => ({ tag, type: 'Enumeration', value });
const date = (tag: number, value: bigint): TtlvItem => ({ tag, type: 'DateTime', value });
const name = (value: string): AttributeInstance => ({
  name: 'Name',
  value: { tag: Tag.Name, type: 'Structure', value: [text(Tag.NameValue, value), enumeration(Tag.NameType, Enum.NameType.UninterpretedTextString)] },
});
const state = (value: number): AttributeInstance => ({ name: 'State', value: enumeration(Tag.State, value) });

function key(state: number, ...more: AttributeInstance[]): ObjectFacts {
  return {
    objectType: Enum.ObjectType.SymmetricKey,
    now: NOW,
    attributes: [
      { name: 'Unique Identifier', value: text(Tag.UniqueIdentifier, 'k1') },
      { name: 'State', value: enumeration(Tag.State, state) },
      { name: 'Cryptographic Algorithm', value: enumeration(Tag.CryptographicAlgorithm, Enum.CryptographicAlgorithm.AES) },
      ...more,
    ],
  };
}

function expectReason(action: () => void, reason: ResultReasonName): void {
  try {
    action();
  } catch (error) {
    expect(error).to.be.instanceOf(KmipError);
    expect((error as KmipError).reason, (error as KmipError).message).to.equal(reason);
    return;
  }
  expect.fail(`expected ${reason}`);
}

describe('attribute rules applied to requests (KMIP 2.1 section 4 and 6.1)', () => {
  describe('creating an object with client-given attributes', () => {
    it('accepts what a client may set, and requested values the server sets (Cryptographic Algorithm, Length)', () => {
      expect(() =>
        checkClientCreate(
          [
            { name: 'Cryptographic Algorithm', value: enumeration(Tag.CryptographicAlgorithm, Enum.CryptographicAlgorithm.AES) },
            { name: 'Cryptographic Length', value: { tag: Tag.CryptographicLength, type: 'Integer', value: 256 } },
            name('a'),
            name('b'),
            { name: 'x-ID', value: text(Tag.AttributeValue, 'id') },
          ],
          Enum.ObjectType.SymmetricKey,
        ),
      ).to.not.throw();
    });

    it('refuses a server-only attribute (State, Unique Identifier) as Read Only Attribute', () => {
      expectReason(() => checkClientCreate([state(Enum.State.Active)], Enum.ObjectType.SymmetricKey), 'ReadOnlyAttribute');
      expectReason(() => checkClientCreate([{ name: 'Unique Identifier', value: text(Tag.UniqueIdentifier, 'mine') }], Enum.ObjectType.SymmetricKey), 'ReadOnlyAttribute');
    });

    it('1.4 section 3.39: the server SHALL NOT accept a client-created "y-" attribute', () => {
      expectReason(() => checkClientCreate([{ name: 'y-Server', value: text(Tag.AttributeValue, 'v') }], Enum.ObjectType.SymmetricKey), 'ReadOnlyAttribute');
    });

    it('refuses an attribute that does not apply to the object type (Cryptographic Domain Parameters on a Symmetric Key)', () => {
      const domain: AttributeInstance = { name: 'Cryptographic Domain Parameters', value: { tag: Tag.CryptographicDomainParameters, type: 'Structure', value: [] } };
      expectReason(() => checkClientCreate([domain], Enum.ObjectType.SymmetricKey), 'InvalidAttribute');
      expect(() => checkClientCreate([domain], Enum.ObjectType.PrivateKey)).to.not.throw();
    });

    it('refuses a single-valued attribute given twice as Attribute Single Valued', () => {
      const length = { name: 'Cryptographic Length', value: { tag: Tag.CryptographicLength, type: 'Integer', value: 128 } } as const;
      expectReason(() => checkClientCreate([length, length], Enum.ObjectType.SymmetricKey), 'AttributeSingleValued');
    });
  });

  describe('6.1.2 Add Attribute', () => {
    it('adds another instance of a multi-valued attribute', () => {
      expect(() => checkClientAdd(name('b'), key(Enum.State.Active, name('a')))).to.not.throw();
    });

    it('a single-valued attribute already set is Attribute Single Valued', () => {
      const contact = (v: string): AttributeInstance => ({ name: 'Contact Information', value: text(Tag.ContactInformation, v) });
      expect(() => checkClientAdd(contact('a'), key(Enum.State.Active))).to.not.throw();
      expectReason(() => checkClientAdd(contact('b'), key(Enum.State.Active, contact('a'))), 'AttributeSingleValued');
    });

    it('Read-Only attributes SHALL NOT be added', () => {
      expectReason(() => checkClientAdd({ name: 'Initial Date', value: date(Tag.InitialDate, NOW) }, key(Enum.State.Active)), 'ReadOnlyAttribute');
    });
  });

  describe('6.1.34 Modify Attribute', () => {
    const activation = { name: 'Activation Date', value: date(Tag.ActivationDate, NOW + 100n) };

    it('4.1 Activation Date: modifiable while Pre-Active, Wrong Key Lifecycle State once Active', () => {
      expect(() => checkClientModify('Activation Date', key(Enum.State.PreActive, activation))).to.not.throw();
      expectReason(() => checkClientModify('Activation Date', key(Enum.State.Active, activation)), 'WrongKeyLifecycleState');
    });

    it('4.18 Deactivation Date: modifiable while Pre-Active or Active, not once Deactivated', () => {
      const deactivation = { name: 'Deactivation Date', value: date(Tag.DeactivationDate, NOW + 100n) };
      expect(() => checkClientModify('Deactivation Date', key(Enum.State.Active, deactivation))).to.not.throw();
      expectReason(() => checkClientModify('Deactivation Date', key(Enum.State.Deactivated, deactivation)), 'WrongKeyLifecycleState');
    });

    it('4.40 Process Start Date: not once the date has been reached', () => {
      const future = { name: 'Process Start Date', value: date(Tag.ProcessStartDate, NOW + 10n) };
      const past = { name: 'Process Start Date', value: date(Tag.ProcessStartDate, NOW - 10n) };
      expect(() => checkClientModify('Process Start Date', key(Enum.State.Active, future))).to.not.throw();
      expectReason(() => checkClientModify('Process Start Date', key(Enum.State.Active, past)), 'AttributeReadOnly');
    });

    it('4.17 Cryptographic Usage Mask and 4.57 State are not modifiable by a client', () => {
      const mask = { name: 'Cryptographic Usage Mask', value: { tag: Tag.CryptographicUsageMask, type: 'Integer', value: 12 } } as const;
      expectReason(() => checkClientModify('Cryptographic Usage Mask', key(Enum.State.Active, mask)), 'AttributeReadOnly');
      expectReason(() => checkClientModify('State', key(Enum.State.Active)), 'AttributeReadOnly');
    });

    it('an attribute the object lacks is Attribute Not Found', () => {
      expectReason(() => checkClientModify('Contact Information', key(Enum.State.Active)), 'AttributeNotFound');
    });

    it('"y-" attributes are the server\'s; "x-" ones the client\'s', () => {
      expectReason(() => checkClientModify('y-Server', key(Enum.State.Active, { name: 'y-Server', value: text(Tag.AttributeValue, 'v') })), 'AttributeReadOnly');
      expect(() => checkClientModify('x-ID', key(Enum.State.Active, { name: 'x-ID', value: text(Tag.AttributeValue, 'v') }))).to.not.throw();
      expect(serverMayModify('x-ID', key(Enum.State.Active))).to.equal(false);
    });
  });

  describe('6.1.51 Set Attribute', () => {
    it('adds when absent, modifies one instance, refuses several as Multi Valued Attribute', () => {
      expect(() => checkClientSet(name('a'), key(Enum.State.Active))).to.not.throw();
      expect(() => checkClientSet(name('b'), key(Enum.State.Active, name('a')))).to.not.throw();
      expectReason(() => checkClientSet(name('c'), key(Enum.State.Active, name('a'), name('b'))), 'MultiValuedAttribute');
    });
  });

  describe('6.1.13 Delete Attribute', () => {
    it('a client deletes a Name', () => {
      expect(() => checkClientDelete('Name', key(Enum.State.Active, name('a')))).to.not.throw();
    });

    it('attributes that SHALL always have a value are never deleted', () => {
      expectReason(() => checkClientDelete('Cryptographic Algorithm', key(Enum.State.Active)), 'AttributeReadOnly');
      expectReason(() => checkClientDelete('State', key(Enum.State.Active)), 'AttributeReadOnly');
    });

    it('4.59 Usage Limits: deletable until Get Usage Allocation has been performed', () => {
      const limits: AttributeInstance = { name: 'Usage Limits', value: { tag: Tag.UsageLimits, type: 'Structure', value: [] } };
      expect(() => checkClientDelete('Usage Limits', key(Enum.State.Active, limits))).to.not.throw();
      expectReason(() => checkClientDelete('Usage Limits', { ...key(Enum.State.Active, limits), usageAllocated: true }), 'AttributeReadOnly');
    });
  });

  describe('Modifiable by server', () => {
    it('4.2 Alternative Name only while no value is present; 4.57 State always; 4.58 Unique Identifier never', () => {
      const alternative: AttributeInstance = { name: 'Alternative Name', value: { tag: Tag.AlternativeName, type: 'Structure', value: [] } };
      expect(serverMayModify('Alternative Name', key(Enum.State.Active))).to.equal(true);
      expect(serverMayModify('Alternative Name', key(Enum.State.Active, alternative))).to.equal(false);
      expect(serverMayModify('State', key(Enum.State.Active))).to.equal(true);
      expect(serverMayModify('Unique Identifier', key(Enum.State.Active))).to.equal(false);
    });
  });
});
