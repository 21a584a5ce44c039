import { expect } from 'chai';
import { Enum, Tag } from '../../ttlv/index.js';
import type { TtlvItem } from '../../ttlv/index.js';
import { fitToVersion, negotiate, reasonFor } from './versions.js';

describe('fitting a response to the client\'s protocol version', () => {
  it('drops a 1.3 tag nested two levels down from a 1.0 response, and reports it', () => {
    const tree: TtlvItem = {
      tag: Tag.BatchItem,
      type: 'Structure',
      value: [{ tag: Tag.ResponsePayload, type: 'Structure', value: [{ tag: Tag.RNGParameters, type: 'Structure', value: [] }, { tag: Tag.UniqueIdentifier, type: 'TextString', value: 'x' }] }],
    };
    const dropped: { path: string; why: string }[] = [];
    expect(fitToVersion(tree, '1.0', dropped)).to.deep.equal({
      tag: Tag.BatchItem,
      type: 'Structure',
      value: [{ tag: Tag.ResponsePayload, type: 'Structure', value: [{ tag: Tag.UniqueIdentifier, type: 'TextString', value: 'x' }] }],
    });
    expect(dropped.map((d) => d.path)).to.deep.equal(['/BatchItem/ResponsePayload/RNGParameters']);
  });

  it('reports each dropped item by its own path: a tag no version defines and an enumeration value, beside a structure that held a drop', () => {
    const tree: TtlvItem = {
      tag: Tag.BatchItem,
      type: 'Structure',
      value: [
        { tag: Tag.ResponsePayload, type: 'Structure', value: [{ tag: Tag.RNGParameters, type: 'Structure', value: [] }] },
        { tag: 0x42fff0, type: 'TextString', value: 'unknown' },
        { tag: Tag.ObjectType, type: 'Enumeration', value: Enum.ObjectType.CertificateRequest },
        { tag: Tag.ObjectType, type: 'Enumeration', value: Enum.ObjectType.SymmetricKey },
      ],
    };
    const dropped: { path: string; why: string }[] = [];
    expect(fitToVersion(tree, '1.0', dropped)).to.deep.equal({
      tag: Tag.BatchItem,
      type: 'Structure',
      value: [
        { tag: Tag.ResponsePayload, type: 'Structure', value: [] },
        { tag: Tag.ObjectType, type: 'Enumeration', value: Enum.ObjectType.SymmetricKey },
      ],
    });
    expect(dropped).to.deep.equal([
      { path: '/BatchItem/ResponsePayload/RNGParameters', why: 'tag not defined in KMIP 1.0' },
      { path: '/BatchItem/0x42FFF0', why: 'tag not defined in KMIP 1.0' },
      { path: '/BatchItem/ObjectType', why: `enumeration value 0x${Enum.ObjectType.CertificateRequest.toString(16)} not defined in KMIP 1.0` },
    ]);
  });

  it('keeps the very same tree when nothing needs dropping', () => {
    const tree: TtlvItem = { tag: Tag.ResponsePayload, type: 'Structure', value: [{ tag: Tag.ObjectType, type: 'Enumeration', value: Enum.ObjectType.SymmetricKey }] };
    expect(fitToVersion(tree, '1.0')).to.equal(tree);
  });

  it('drops an enumeration value the version does not define (Certificate Request is 2.0)', () => {
    const dropped: { path: string; why: string }[] = [];
    expect(fitToVersion({ tag: Tag.ObjectType, type: 'Enumeration', value: Enum.ObjectType.CertificateRequest }, '1.4', dropped)).to.equal(undefined);
    expect(dropped).to.have.length(1);
  });

  it('keeps vendor extension tags (0x540001) and extension enumeration values (0x80000001)', () => {
    const vendor: TtlvItem = { tag: 0x540001, type: 'TextString', value: 'v' };
    expect(fitToVersion(vendor, '1.0')).to.equal(vendor);
    const extension: TtlvItem = { tag: Tag.ObjectType, type: 'Enumeration', value: 0x80000001 };
    expect(fitToVersion(extension, '1.0')).to.equal(extension);
  });
});

describe('protocol version negotiation', () => {
  it('answers a supported version as itself, an unknown 1.x minor as 1.4, an unknown major not at all', () => {
    expect(negotiate(1, 2)).to.equal('1.2');
    expect(negotiate(1, 9)).to.equal('1.4');
    expect(negotiate(2, 7)).to.equal('2.1');
    expect(negotiate(3, 0)).to.equal(undefined);
    expect(negotiate(0, 9)).to.equal(undefined);
  });
});

describe('Result Reasons for older versions', () => {
  it('maps reasons KMIP 2.0 introduced to what a 1.x client knows', () => {
    expect(reasonFor('WrongKeyLifecycleState', '1.4')).to.equal('PermissionDenied');
    expect(reasonFor('WrongKeyLifecycleState', '2.0')).to.equal('WrongKeyLifecycleState');
    expect(reasonFor('InvalidAttribute', '1.2')).to.equal('InvalidField');
    expect(reasonFor('ItemNotFound', '1.0')).to.equal('ItemNotFound');
  });
});
