import { expect } from 'chai';
import { Enum, Tag, registry } from '../../ttlv/index.js';
import {
  allAttributes,
  allowsMultiple,
  attributeByName,
  attributeByTag,
  definedAttributes,
  isAlwaysPresent,
  isCustomName,
  splitCustomName,
  unresolvedAttributes,
} from './index.js';
import type { AttributeDef } from './index.js';

function def(name: string): AttributeDef {
  const found = attributeByName(name);
  if (found === undefined) throw new Error(`no attribute ${name}`);
  return found;
}

const names = (version: registry.KmipVersion): string[] => definedAttributes(version).map((d) => d.name);

describe('attribute table (KMIP 2.1 section 4, KMIP 1.4 section 3)', () => {
  it('every row resolves to a registry tag', () => {
    expect(unresolvedAttributes).to.deep.equal([]);
  });

  it('has the 63 sections of KMIP 2.1 section 4 (4.6 as 24 certificate attributes, 4.60 as vendor attributes) and 4 KMIP 1.x-only ones', () => {
    // 63 sections - 4.6 - 4.60 + 24 certificate name attributes + 4 1.x-only attributes
    expect(allAttributes()).to.have.length(63 - 2 + 24 + 4);
  });

  it('names and tags are unique, and each name is the registry name of its tag', () => {
    const all = allAttributes();
    expect(new Set(all.map((d) => d.name)).size).to.equal(all.length);
    expect(new Set(all.map((d) => d.tag)).size).to.equal(all.length);
    for (const d of all) {
      expect(registry.tagByValue(d.tag)?.name.replace(/\s+/g, ' '), d.name).to.equal(d.name);
      expect(attributeByTag(d.tag)).to.equal(d);
    }
  });

  it('an attribute exists only in versions that define its tag', () => {
    for (const d of allAttributes()) {
      const tag = registry.tagByValue(d.tag);
      expect(tag, d.name).to.not.equal(undefined);
      expect(d.versions & ~(tag?.versions ?? 0), `${d.name} claims versions its tag lacks`).to.equal(0);
    }
  });

  it('no specification name looks like a custom "<vendor>-<name>" name', () => {
    for (const d of allAttributes()) expect(isCustomName(d.name), d.name).to.equal(false);
  });

  it('structured attributes list fields with registry tags; leaf attributes have none', () => {
    for (const d of allAttributes()) {
      if (d.type === 'Structure') expect(d.fields, d.name).to.not.have.length(0);
      else expect(d.fields, d.name).to.equal(undefined);
    }
  });

  it('4.58 Unique Identifier is a single-valued Text String set only by the server, always present, never deletable', () => {
    const d = def('Unique Identifier');
    expect(d.tag).to.equal(Tag.UniqueIdentifier);
    expect(d.type).to.equal('TextString');
    expect(d.multi).to.equal(false);
    expect(d.initialBy).to.equal('server');
    expect([d.serverModify, d.clientModify, d.clientDelete]).to.deep.equal(['no', 'no', false]);
    expect(d.alwaysPresent).to.equal(true);
  });

  it('4.32 Name is a multi-valued structure the client sets, modifies and deletes', () => {
    const d = def('Name');
    expect(d.type).to.equal('Structure');
    expect(d.multi).to.equal(true);
    expect(d.initialBy).to.equal('client');
    expect(d.clientModify).to.equal('yes');
    expect(d.clientDelete).to.equal(true);
    expect(d.fields?.map((f) => [f.name, f.required])).to.deep.equal([
      ['Name Value', true],
      ['Name Type', true],
    ]);
  });

  it('4.1 Activation Date is modifiable by server and client only while Pre-Active, and never deletable', () => {
    const d = def('Activation Date');
    expect(d.type).to.equal('DateTime');
    expect(d.initialBy).to.equal('both');
    expect(d.clientModify).to.equal('pre-active');
    expect(d.serverModify).to.equal('pre-active');
    expect(d.clientDelete).to.equal(false);
  });

  it('4.18 Deactivation Date only while Pre-Active or Active; 4.40 Process Start Date also until it is reached', () => {
    expect(def('Deactivation Date').clientModify).to.equal('pre-active-or-active');
    expect(def('Process Start Date').clientModify).to.equal('before-date');
    expect(def('Protect Stop Date').serverModify).to.equal('before-date');
  });

  it('4.2 Alternative Name: the server may modify it only if no value is present', () => {
    expect(def('Alternative Name').serverModify).to.equal('if-empty');
  });

  it('4.59 Usage Limits: client changes and deletion only until Get Usage Allocation', () => {
    const d = def('Usage Limits');
    expect(d.clientModify).to.equal('before-allocation');
    expect(d.clientDelete).to.equal('before-allocation');
  });

  it('4.17 Cryptographic Usage Mask: client may set it initially but not modify it; absent only for Opaque Objects', () => {
    const d = def('Cryptographic Usage Mask');
    expect(d.initialBy).to.equal('both');
    expect(d.clientModify).to.equal('no');
    expect(isAlwaysPresent(d, Enum.ObjectType.SymmetricKey)).to.equal(true);
    expect(isAlwaysPresent(d, Enum.ObjectType.OpaqueObject)).to.equal(false);
  });

  it('4.13 Cryptographic Algorithm SHALL always have a value except for Secret Data and Opaque Objects', () => {
    const d = def('Cryptographic Algorithm');
    expect(isAlwaysPresent(d, Enum.ObjectType.PrivateKey)).to.equal(true);
    expect(isAlwaysPresent(d, Enum.ObjectType.SecretData)).to.equal(false);
    expect(d.requestable).to.equal(true);
  });

  it('4.22 Digital Signature Algorithm: multiple instances for PGP keys only; applies to certificates and PGP keys', () => {
    const d = def('Digital Signature Algorithm');
    expect(allowsMultiple(d, Enum.ObjectType.PGPKey)).to.equal(true);
    expect(allowsMultiple(d, Enum.ObjectType.Certificate)).to.equal(false);
    expect(d.appliesTo).to.deep.equal([Enum.ObjectType.Certificate, Enum.ObjectType.PGPKey]);
  });

  it('4.14 Cryptographic Domain Parameters applies to public and private keys only', () => {
    expect(def('Cryptographic Domain Parameters').appliesTo).to.deep.equal([Enum.ObjectType.PublicKey, Enum.ObjectType.PrivateKey]);
  });

  it('4.6 Certificate Attributes: each name field is a server-set, multi-valued attribute of certificates (2.0+)', () => {
    const d = def('Certificate Subject CN');
    expect(d.tag).to.equal(Tag.CertificateSubjectCN);
    expect(d.multi).to.equal(true);
    expect(d.initialBy).to.equal('server');
    expect(d.appliesTo).to.deep.equal([Enum.ObjectType.Certificate]);
    expect(names('1.4')).to.not.include('Certificate Issuer DN Qualifier');
    expect(names('2.0')).to.include('Certificate Issuer DN Qualifier');
  });

  it('1.4 section 3.18 Operation Policy Name is an attribute of KMIP 1.0 to 1.4 only', () => {
    for (const v of ['1.0', '1.1', '1.2', '1.3', '1.4'] as const) expect(names(v), v).to.include('Operation Policy Name');
    expect(names('2.0')).to.not.include('Operation Policy Name');
    expect(names('2.1')).to.not.include('Operation Policy Name');
    expect(names('2.1')).to.not.include('Certificate Identifier');
  });

  it('attributes appear in the version that introduced them', () => {
    const first = (name: string): string | undefined => registry.KMIP_VERSIONS.find((v) => names(v).includes(name));
    expect(first('Unique Identifier')).to.equal('1.0');
    expect(first('Fresh')).to.equal('1.1');
    expect(first('X.509 Certificate Subject')).to.equal('1.1');
    expect(first('Alternative Name')).to.equal('1.2');
    expect(first('Original Creation Date')).to.equal('1.2');
    expect(first('Random Number Generator')).to.equal('1.3');
    expect(first('Sensitive')).to.equal('1.4');
    expect(first('Description')).to.equal('1.4');
    expect(first('Comment')).to.equal('1.4');
    expect(first('Key Format Type')).to.equal('2.0');
    expect(first('Short Unique Identifier')).to.equal('2.0');
    expect(first('Rotate Automatic')).to.equal('2.1');
  });

  it('names compare with white space collapsed (the KMIP 1.0 test cases write "Activation   Date")', () => {
    expect(attributeByName('Activation   Date')).to.equal(def('Activation Date'));
    expect(attributeByName('Compromise Date')?.tag).to.equal(Tag.CompromiseDate);
    expect(attributeByName('No Such Attribute')).to.equal(undefined);
  });
});

describe('custom and vendor attributes (KMIP 1.4 section 3.39, KMIP 2.1 section 4.60)', () => {
  it('1.x knows only "x-" and "y-" names; 2.x any "<vendor>-<name>"', () => {
    expect(isCustomName('x-ID', '1.4')).to.equal(true);
    expect(isCustomName('y-Server', '1.0')).to.equal(true);
    expect(isCustomName('acme-Color', '1.4')).to.equal(false);
    expect(isCustomName('acme-Color', '2.1')).to.equal(true);
    expect(isCustomName('Name', '2.1')).to.equal(false);
    expect(isCustomName('-x', '2.1')).to.equal(false);
  });

  it('vendor "x" with Attribute Name "ID" is the custom attribute "x-ID"', () => {
    expect(splitCustomName('x-ID')).to.deep.equal({ vendor: 'x', attributeName: 'ID' });
    expect(splitCustomName('x-a-b')).to.deep.equal({ vendor: 'x', attributeName: 'a-b' });
  });

  it('"x-" attributes belong to the client, "y-" to the server, other vendors to both', () => {
    const x = def('x-ID');
    expect([x.initialBy, x.clientModify, x.serverModify, x.clientDelete]).to.deep.equal(['client', 'yes', 'no', true]);
    const y = def('y-Tracking');
    expect([y.initialBy, y.clientModify, y.serverModify, y.clientDelete]).to.deep.equal(['server', 'no', 'yes', false]);
    expect(def('acme-Color').initialBy).to.equal('both');
    expect(x.multi && x.custom).to.equal(true);
    expect(x.tag).to.equal(Tag.AttributeValue);
  });

  it('"x-"/"y-" attributes exist in every version; other vendors only from KMIP 2.0', () => {
    expect(registry.definedIn(def('x-ID'), '1.0')).to.equal(true);
    expect(registry.definedIn(def('acme-Color'), '1.4')).to.equal(false);
    expect(registry.definedIn(def('acme-Color'), '2.0')).to.equal(true);
  });
});
