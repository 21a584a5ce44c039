import { expect } from 'chai';
import { Enum, Tag } from '../../ttlv/index.js';
import type { TtlvItem } from '../../ttlv/index.js';
import { visibleIn, visibleInstances } from './index.js';
import type { AttributeInstance } from './index.js';

const text = (tag: number, value: string): TtlvItem => ({ tag, type: 'TextString', value });
const enumeration = (tag: number, value: number): TtlvItem => ({ tag, type: 'Enumeration', value });

describe('version visibility (DESIGN.md decision 1: never emit what the version does not define)', () => {
  it('an attribute is sent only to versions that define it', () => {
    const policy: AttributeInstance = { name: 'Operation Policy Name', value: text(Tag.OperationPolicyName, 'default') };
    expect(visibleIn(policy, '1.4')).to.equal(true);
    expect(visibleIn(policy, '2.0')).to.equal(false);
    const sensitive: AttributeInstance = { name: 'Sensitive', value: { tag: Tag.Sensitive, type: 'Boolean', value: true } };
    expect(visibleIn(sensitive, '1.3')).to.equal(false);
    expect(visibleIn(sensitive, '1.4')).to.equal(true);
  });

  it('an enumeration value the version does not define is not sent (Object Type Certificate Request is 2.0+)', () => {
    const request: AttributeInstance = { name: 'Object Type', value: enumeration(Tag.ObjectType, Enum.ObjectType.CertificateRequest) };
    expect(visibleIn(request, '1.4')).to.equal(false);
    expect(visibleIn(request, '2.0')).to.equal(true);
    const key: AttributeInstance = { name: 'Object Type', value: enumeration(Tag.ObjectType, Enum.ObjectType.SymmetricKey) };
    expect(visibleIn(key, '1.0')).to.equal(true);
  });

  it('enumeration values inside a structure count too (Recommended Curve CURVE25519 is 2.0+)', () => {
    const domain: AttributeInstance = {
      name: 'Cryptographic Domain Parameters',
      value: { tag: Tag.CryptographicDomainParameters, type: 'Structure', value: [enumeration(Tag.RecommendedCurve, Enum.RecommendedCurve.CURVE25519)] },
    };
    expect(visibleIn(domain, '1.4')).to.equal(false);
    expect(visibleIn(domain, '2.1')).to.equal(true);
  });

  it('a field tag the version does not define hides the attribute (IV Length in Cryptographic Parameters is 1.2+)', () => {
    const parameters: AttributeInstance = {
      name: 'Cryptographic Parameters',
      value: { tag: Tag.CryptographicParameters, type: 'Structure', value: [{ tag: Tag.IVLength, type: 'Integer', value: 96 }] },
    };
    expect(visibleIn(parameters, '1.1')).to.equal(false);
    expect(visibleIn(parameters, '1.2')).to.equal(true);
  });

  it('custom attributes: "x-"/"y-" in every version, other vendors only in 2.x, Date-Time Extended only in 2.x', () => {
    expect(visibleIn({ name: 'x-ID', value: text(Tag.AttributeValue, 'a') }, '1.0')).to.equal(true);
    expect(visibleIn({ name: 'acme-Colour', value: text(Tag.AttributeValue, 'red') }, '1.4')).to.equal(false);
    expect(visibleIn({ name: 'acme-Colour', value: text(Tag.AttributeValue, 'red') }, '2.0')).to.equal(true);
    const extended: AttributeInstance = { name: 'x-When', value: { tag: Tag.AttributeValue, type: 'DateTimeExtended', value: 1n } };
    expect(visibleIn(extended, '1.4')).to.equal(false);
    expect(visibleIn(extended, '2.0')).to.equal(true);
  });

  it('an unknown name is never visible', () => {
    expect(visibleIn({ name: 'Colour', value: text(Tag.AttributeValue, 'red') }, '2.1')).to.equal(false);
  });

  it('visibleInstances keeps the order of what remains', () => {
    const instances: AttributeInstance[] = [
      { name: 'Description', value: text(Tag.Description, 'd') },
      { name: 'Object Group', value: text(Tag.ObjectGroup, 'g') },
      { name: 'x-ID', value: text(Tag.AttributeValue, 'i') },
    ];
    expect(visibleInstances(instances, '1.3').map((i) => i.name)).to.deep.equal(['Object Group', 'x-ID']);
  });
});
