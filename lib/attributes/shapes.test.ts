import { expect } from 'chai';
import { Enum, Mask, Tag, itemsEqual } from '../../ttlv/index.js';
import type { StructureItem, TtlvItem } from '../../ttlv/index.js';
import { KmipError } from '../errors.js';
import type { ResultReasonName } from '../errors.js';
import {
  attributeReferenceToName,
  fromAttributeHolder,
  fromTemplateAttribute,
  fromV1Attribute,
  fromV2Attribute,
  fromV2Attributes,
  nameToAttributeReference,
  toAttributeHolder,
  toTemplateAttribute,
  toV1Attribute,
  toV1AttributeList,
  toV2Attribute,
  toV2Attributes,
} from './index.js';
import type { AttributeInstance } from './index.js';

// Small builders, independent of the code under test.
const text = (tag: number, value: string): TtlvItem => ({ tag, type: 'TextString', value });
const int = (tag: number, value: number): TtlvItem => ({ tag, type: 'Integer', value });
const enumeration = (tag: number, value: number): TtlvItem => ({ tag, type: 'Enumeration', value });
const date = (tag: number, value: bigint): TtlvItem => ({ tag, type: 'DateTime', value });
const struct = (tag: number, ...value: TtlvItem[]): StructureItem => ({ tag, type: 'Structure', value });

/** A KMIP 1.x Attribute structure. */
const v1 = (name: string, value: TtlvItem, index?: number): StructureItem =>
  struct(
    Tag.Attribute,
    text(Tag.AttributeName, name),
    ...(index === undefined ? [] : [int(Tag.AttributeIndex, index)]),
    { ...value, tag: Tag.AttributeValue },
  );

const nameValue = (value: string): StructureItem =>
  struct(Tag.Name, text(Tag.NameValue, value), enumeration(Tag.NameType, Enum.NameType.UninterpretedTextString));

function expectKmipError(action: () => unknown, reason: ResultReasonName, message?: RegExp): void {
  let caught: unknown;
  try {
    action();
  } catch (error) {
    caught = error;
  }
  expect(caught, 'expected a KmipError').to.be.instanceOf(KmipError);
  const error = caught as KmipError;
  expect(error.reason, error.message).to.equal(reason);
  if (message !== undefined) expect(error.message).to.match(message);
}

function expectSame(actual: TtlvItem, expected: TtlvItem): void {
  expect(itemsEqual(actual, expected), `${JSON.stringify(actual, bigints)}\n!=\n${JSON.stringify(expected, bigints)}`).to.equal(true);
}

function bigints(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? `${value}n` : value;
}

describe('KMIP 1.x Attribute <-> instance (1.4 section 2.1.1)', () => {
  it('Name: the Attribute Value structure holds the Name fields; the instance value is a Name structure', () => {
    const wire = v1('Name', nameValue('key-1'));
    const { instance, index } = fromV1Attribute(wire);
    expect(instance.name).to.equal('Name');
    expect(index).to.equal(undefined);
    expectSame(instance.value, nameValue('key-1'));
    expectSame(toV1Attribute(instance, '1.4'), wire);
  });

  it('Cryptographic Usage Mask: an Integer under its own tag', () => {
    const mask = Mask.CryptographicUsageMask.Encrypt | Mask.CryptographicUsageMask.Decrypt;
    const wire = v1('Cryptographic Usage Mask', int(Tag.AttributeValue, mask));
    const { instance } = fromV1Attribute(wire);
    expectSame(instance.value, int(Tag.CryptographicUsageMask, mask));
    expectSame(toV1Attribute(instance, '1.0'), wire);
  });

  it('x-custom attribute: the value keeps the Attribute Value tag', () => {
    const wire = v1('x-ID', text(Tag.AttributeValue, 'CS-BC-M-4-14'));
    const { instance } = fromV1Attribute(wire);
    expect(instance).to.deep.equal({ name: 'x-ID', value: text(Tag.AttributeValue, 'CS-BC-M-4-14') });
    expectSame(toV1Attribute(instance, '1.4'), wire);
  });

  it('an Attribute Index is read, and written when asked (position among instances of the same name)', () => {
    expect(fromV1Attribute(v1('Name', nameValue('a'), 2)).index).to.equal(2);
    const instances: AttributeInstance[] = [
      { name: 'Name', value: nameValue('a') },
      { name: 'Object Group', value: text(Tag.ObjectGroup, 'g') },
      { name: 'Name', value: nameValue('b') },
    ];
    const items = toV1AttributeList(instances, '1.4', { withIndex: true });
    expectSame(items[2] as TtlvItem, v1('Name', nameValue('b'), 1));
    expectSame(toV1AttributeList(instances, '1.4')[2] as TtlvItem, v1('Name', nameValue('b')));
  });

  it('an unknown attribute name is Invalid Attribute, naming it', () => {
    expectKmipError(() => fromV1Attribute(v1('Colour', text(Tag.AttributeValue, 'red'))), 'InvalidAttribute', /"Colour"/);
  });

  it('a vendor name other than "x-"/"y-" is not a KMIP 1.x custom attribute', () => {
    expectKmipError(() => fromV1Attribute(v1('acme-Colour', text(Tag.AttributeValue, 'red'))), 'InvalidAttribute');
  });

  it('a value of the wrong type is Invalid Attribute Value', () => {
    expectKmipError(() => fromV1Attribute(v1('Cryptographic Length', text(Tag.AttributeValue, '256'))), 'InvalidAttributeValue', /Integer/);
    expectKmipError(() => fromV1Attribute(v1('Name', text(Tag.AttributeValue, 'plain'))), 'InvalidAttributeValue', /Structure/);
  });

  it('a structure field that is unknown, mistyped, repeated or missing is Invalid Attribute Value', () => {
    const link = (...fields: TtlvItem[]): StructureItem => v1('Link', struct(Tag.AttributeValue, ...fields));
    const type = enumeration(Tag.LinkType, Enum.LinkType.PublicKeyLink);
    const id = text(Tag.LinkedObjectIdentifier, 'k1');
    expectKmipError(() => fromV1Attribute(link(type, id, text(Tag.NameValue, 'x'))), 'InvalidAttributeValue', /Name Value is not one of its fields/);
    expectKmipError(() => fromV1Attribute(link(type, { ...id, type: 'ByteString', value: new Uint8Array(1) })), 'InvalidAttributeValue', /Linked Object Identifier/);
    expectKmipError(() => fromV1Attribute(link(type, type, id)), 'InvalidAttributeValue', /only once/);
    expectKmipError(() => fromV1Attribute(link(id)), 'InvalidAttributeValue', /Link Type is required/);
    // Locate may give only some fields of a structure (2.1 section 6.1.28).
    expect(fromV1Attribute(link(id), { purpose: 'locate' }).instance.name).to.equal('Link');
  });

  it('an enumeration value the specification does not define is Invalid Attribute Value; extensions pass', () => {
    expectKmipError(() => fromV1Attribute(v1('Cryptographic Algorithm', enumeration(Tag.AttributeValue, 0x7fff))), 'InvalidAttributeValue', /0x00007FFF/);
    expect(fromV1Attribute(v1('Cryptographic Algorithm', enumeration(Tag.AttributeValue, 0x80000001))).instance.name).to.equal('Cryptographic Algorithm');
  });

  it('an attribute the request version does not define is Invalid Attribute', () => {
    const sensitive = v1('Sensitive', { tag: Tag.AttributeValue, type: 'Boolean', value: true });
    expectKmipError(() => fromV1Attribute(sensitive, { version: '1.2' }), 'InvalidAttribute', /KMIP 1.2/);
    expect(fromV1Attribute(sensitive, { version: '1.4' }).instance.name).to.equal('Sensitive');
  });

  it('a malformed Attribute (no name, no value, stray field) is Invalid Field', () => {
    expectKmipError(() => fromV1Attribute(struct(Tag.Attribute, int(Tag.AttributeValue, 1))), 'InvalidField', /AttributeName is required/);
    expectKmipError(() => fromV1Attribute(struct(Tag.Attribute, text(Tag.AttributeName, 'Name'))), 'InvalidField', /no AttributeValue/);
    expectKmipError(() => fromV1Attribute(struct(Tag.Attribute, text(Tag.AttributeName, 'State'), int(Tag.State, 1))), 'InvalidField');
    expectKmipError(() => fromV1Attribute(text(Tag.Attribute, 'Name')), 'InvalidField');
  });

  it('a custom attribute structure may not hold structures (1.4 section 3.39)', () => {
    const nested = v1('x-Deep', struct(Tag.AttributeValue, struct(Tag.Name, text(Tag.NameValue, 'a'))));
    expectKmipError(() => fromV1Attribute(nested), 'InvalidAttributeValue');
  });

  it('the instance does not view the request buffer: Byte Strings are copied', () => {
    const bytes = new Uint8Array([1, 2, 3]);
    const wire = v1('x-Blob', { tag: Tag.AttributeValue, type: 'ByteString', value: bytes });
    const { instance } = fromV1Attribute(wire);
    bytes[0] = 9;
    expect(instance.value.value).to.deep.equal(new Uint8Array([1, 2, 3]));
  });
});

describe('KMIP 1.x Template-Attribute (1.4 section 2.1.8)', () => {
  it('gives every Attribute as an instance, in order', () => {
    const template = struct(
      Tag.TemplateAttribute,
      v1('Cryptographic Algorithm', enumeration(Tag.AttributeValue, Enum.CryptographicAlgorithm.AES)),
      v1('Name', nameValue('a')),
      v1('Name', nameValue('b')),
    );
    expect(fromTemplateAttribute(template).map((i) => i.name)).to.deep.equal(['Cryptographic Algorithm', 'Name', 'Name']);
  });

  it('a single-valued attribute given twice is Attribute Single Valued', () => {
    const template = struct(
      Tag.TemplateAttribute,
      v1('Cryptographic Length', int(Tag.AttributeValue, 128)),
      v1('Cryptographic Length', int(Tag.AttributeValue, 256)),
    );
    expectKmipError(() => fromTemplateAttribute(template), 'AttributeSingleValued', /Cryptographic Length/);
  });

  it('a Template name is Item Not Found (1.4 section 11.2: "Templates that do not exist"), never a crash', () => {
    const template = struct(Tag.TemplateAttribute, nameValue('my-template'));
    expectKmipError(() => fromTemplateAttribute(template), 'ItemNotFound', /Template/);
  });

  it('a field other than Name or Attribute is Invalid Field', () => {
    expectKmipError(() => fromTemplateAttribute(struct(Tag.TemplateAttribute, text(Tag.ObjectGroup, 'g'))), 'InvalidField');
  });

  it('writes instances under the given tag, leaving out what the version does not define', () => {
    const instances: AttributeInstance[] = [
      { name: 'Sensitive', value: { tag: Tag.Sensitive, type: 'Boolean', value: false } },
      { name: 'State', value: enumeration(Tag.State, Enum.State.Active) },
    ];
    const written = toTemplateAttribute(instances, Tag.PrivateKeyTemplateAttribute, '1.2');
    expectSame(written, struct(Tag.PrivateKeyTemplateAttribute, v1('State', enumeration(Tag.AttributeValue, Enum.State.Active))));
  });
});

describe('KMIP 2.x Attributes <-> instances (2.1 sections 5.1-5.7)', () => {
  it('each attribute is its own tagged item; vendor attribute "x"+"ID" is the instance "x-ID"', () => {
    const attributes = struct(
      Tag.Attributes,
      enumeration(Tag.CryptographicAlgorithm, Enum.CryptographicAlgorithm.AES),
      nameValue('key-1'),
      struct(Tag.Attribute, text(Tag.VendorIdentification, 'x'), text(Tag.AttributeName, 'ID'), text(Tag.AttributeValue, 'v')),
    );
    const instances = fromV2Attributes(attributes);
    expect(instances).to.deep.equal([
      { name: 'Cryptographic Algorithm', value: enumeration(Tag.CryptographicAlgorithm, Enum.CryptographicAlgorithm.AES) },
      { name: 'Name', value: nameValue('key-1') },
      { name: 'x-ID', value: text(Tag.AttributeValue, 'v') },
    ]);
    expectSame(toV2Attributes(instances, Tag.Attributes, '2.1'), attributes);
  });

  it('the same x-ID is a 1.x custom attribute and a 2.x vendor attribute', () => {
    const fromV1 = fromV1Attribute(v1('x-ID', text(Tag.AttributeValue, 'id-7'))).instance;
    const fromV2 = fromV2Attribute(struct(Tag.Attribute, text(Tag.VendorIdentification, 'x'), text(Tag.AttributeName, 'ID'), text(Tag.AttributeValue, 'id-7')));
    expect(fromV2).to.deep.equal(fromV1);
    expectSame(toV2Attribute(fromV1, '2.0'), struct(Tag.Attribute, text(Tag.VendorIdentification, 'x'), text(Tag.AttributeName, 'ID'), text(Tag.AttributeValue, 'id-7')));
  });

  it('a tag that is not an attribute is Invalid Attribute', () => {
    expectKmipError(() => fromV2Attributes(struct(Tag.Attributes, text(Tag.KeyFormatType, 'x'), int(Tag.BatchCount, 1))), 'InvalidAttributeValue');
    expectKmipError(() => fromV2Attributes(struct(Tag.Attributes, int(Tag.BatchCount, 1))), 'InvalidAttribute', /BatchCount/);
  });

  it('a 1.x-only attribute in a 2.x request is Invalid Attribute', () => {
    expectKmipError(() => fromV2Attributes(struct(Tag.Attributes, text(Tag.OperationPolicyName, 'default')), { version: '2.1' }), 'InvalidAttribute');
  });

  it('a single-valued attribute twice is Attribute Single Valued; Locate may give a date twice (a range)', () => {
    const twice = struct(Tag.Attributes, date(Tag.ActivationDate, 1n), date(Tag.ActivationDate, 2n));
    expectKmipError(() => fromV2Attributes(twice), 'AttributeSingleValued');
    expect(fromV2Attributes(twice, { purpose: 'locate' })).to.have.length(2);
  });

  it('a bad Vendor Identification is Invalid Field', () => {
    const bad = struct(Tag.Attribute, text(Tag.VendorIdentification, 'a b'), text(Tag.AttributeName, 'c'), int(Tag.AttributeValue, 1));
    expectKmipError(() => fromV2Attribute(bad), 'InvalidField', /Vendor Identification/);
  });

  it('New Attribute and Current Attribute hold exactly one attribute', () => {
    const holder = struct(Tag.NewAttribute, nameValue('n'));
    const instance = fromAttributeHolder(holder);
    expect(instance.name).to.equal('Name');
    expectSame(toAttributeHolder(instance, Tag.NewAttribute, '2.1'), holder);
    expectKmipError(() => fromAttributeHolder(struct(Tag.CurrentAttribute)), 'InvalidField', /exactly one/);
    expectKmipError(() => fromAttributeHolder(struct(Tag.NewAttribute, nameValue('a'), nameValue('b'))), 'InvalidField');
  });

  it('toV2Attributes leaves out what the version does not define (Rotate Automatic is 2.1 only)', () => {
    const instances: AttributeInstance[] = [
      { name: 'Rotate Automatic', value: { tag: Tag.RotateAutomatic, type: 'Boolean', value: true } },
      { name: 'Operation Policy Name', value: text(Tag.OperationPolicyName, 'default') },
      { name: 'State', value: enumeration(Tag.State, Enum.State.PreActive) },
    ];
    expectSame(toV2Attributes(instances, Tag.Attributes, '2.0'), struct(Tag.Attributes, enumeration(Tag.State, Enum.State.PreActive)));
    expect(() => toV2Attribute(instances[1] as AttributeInstance, '2.1')).to.throw(/may not be sent/);
  });
});

describe('attribute references (2.1 section 5.5; 1.x Attribute Name)', () => {
  it('a 2.x Attribute Reference is an Enumeration holding the tag, or a vendor structure', () => {
    expect(attributeReferenceToName(enumeration(Tag.AttributeReference, Tag.ActivationDate))).to.equal('Activation Date');
    const vendor = struct(Tag.AttributeReference, text(Tag.VendorIdentification, 'x'), text(Tag.AttributeName, 'Barcode'));
    expect(attributeReferenceToName(vendor)).to.equal('x-Barcode');
  });

  it('a 1.x Attribute Name is the attribute name', () => {
    expect(attributeReferenceToName(text(Tag.AttributeName, 'Cryptographic Usage Mask'))).to.equal('Cryptographic Usage Mask');
    expect(attributeReferenceToName(text(Tag.AttributeName, 'x-ID'))).to.equal('x-ID');
  });

  it('a reference to a tag that is not an attribute is Invalid Attribute (2.1 section 6.1.20.1)', () => {
    expectKmipError(() => attributeReferenceToName(enumeration(Tag.AttributeReference, Tag.KeyBlock)), 'InvalidAttribute', /KeyBlock/);
    expectKmipError(() => attributeReferenceToName(text(Tag.AttributeName, 'Nonsense')), 'InvalidAttribute');
    expectKmipError(() => attributeReferenceToName(enumeration(Tag.AttributeReference, Tag.OperationPolicyName), { version: '2.0' }), 'InvalidAttribute');
  });

  it('names become references in the shape of the version, or none when the version cannot name them', () => {
    expectSame(nameToAttributeReference('State', '2.1') as TtlvItem, enumeration(Tag.AttributeReference, Tag.State));
    expectSame(nameToAttributeReference('State', '1.1') as TtlvItem, text(Tag.AttributeName, 'State'));
    expectSame(
      nameToAttributeReference('x-ID', '2.0') as TtlvItem,
      struct(Tag.AttributeReference, text(Tag.VendorIdentification, 'x'), text(Tag.AttributeName, 'ID')),
    );
    expect(nameToAttributeReference('Short Unique Identifier', '1.4')).to.equal(undefined);
    expect(nameToAttributeReference('acme-Colour', '1.4')).to.equal(undefined);
  });
});
