import { expect } from 'chai';
import { Tag } from '../../ttlv/index.js';
import type { TtlvItem } from '../../ttlv/index.js';
import { KmipError } from '../errors.js';
import { Fields } from './fields.js';

/** The Result Reason and message a read throws, or undefined when it does not throw. */
function refusal(read: () => unknown): { reason: string; message: string } | undefined {
  try {
    read();
    return undefined;
  } catch (error) {
    if (!(error instanceof KmipError)) throw error;
    return { reason: error.reason, message: error.message };
  }
}

// RequestPayload { UniqueIdentifier "k1", CryptographicParameters { BlockCipherMode 9, TagLength "16", BlockCipherMode 1 }, Data "x" }
const payload: TtlvItem = {
  tag: Tag.RequestPayload,
  type: 'Structure',
  value: [
    { tag: Tag.UniqueIdentifier, type: 'TextString', value: 'k1' },
    {
      tag: Tag.CryptographicParameters,
      type: 'Structure',
      value: [
        { tag: Tag.BlockCipherMode, type: 'Enumeration', value: 9 },
        { tag: Tag.TagLength, type: 'TextString', value: '16' },
        { tag: Tag.BlockCipherMode, type: 'Enumeration', value: 1 },
      ],
    },
    { tag: Tag.Data, type: 'TextString', value: 'x' },
  ],
};

describe('reading a request structure\'s fields (Fields)', () => {
  it('reads the single field with a tag, and undefined for an absent one', () => {
    const fields = Fields.of(payload);
    expect(fields.text(Tag.UniqueIdentifier)).to.equal('k1');
    expect(fields.optionalText(Tag.Name)).to.equal(undefined);
    expect(fields.optional(Tag.Name)).to.equal(undefined);
  });

  it('names the field by its path from the structure in every refusal', () => {
    const fields = Fields.of(payload);
    const params = fields.struct(Tag.CryptographicParameters);
    expect(refusal(() => fields.text(Tag.Name))).to.deep.equal({ reason: 'InvalidField', message: 'RequestPayload/Name is required' });
    expect(refusal(() => fields.value(Tag.Data, 'ByteString'))).to.deep.equal({ reason: 'InvalidField', message: 'RequestPayload/Data must be ByteString, not TextString' });
    expect(refusal(() => params.optionalInteger(Tag.TagLength))).to.deep.equal({
      reason: 'InvalidField',
      message: 'RequestPayload/CryptographicParameters/TagLength must be Integer, not TextString',
    });
    expect(refusal(() => params.optionalEnumeration(Tag.BlockCipherMode))).to.deep.equal({
      reason: 'InvalidField',
      message: 'RequestPayload/CryptographicParameters/BlockCipherMode appears 2 times; it may appear once',
    });
    expect(refusal(() => fields.struct(Tag.Data))).to.deep.equal({ reason: 'InvalidField', message: 'RequestPayload/Data must be a Structure, not TextString' });
    expect(refusal(() => fields.optionalStruct(Tag.UniqueIdentifier))).to.deep.equal({
      reason: 'InvalidField',
      message: 'RequestPayload/UniqueIdentifier must be a Structure, not TextString',
    });
  });

  it('starts the path at the name it was given, through nested structures', () => {
    const params = Fields.of(payload, 'BatchItem[2]/RequestPayload').struct(Tag.CryptographicParameters);
    expect(params.path).to.equal('BatchItem[2]/RequestPayload/CryptographicParameters');
    expect(refusal(() => params.values(Tag.TagLength, 'Integer'))).to.deep.equal({
      reason: 'InvalidField',
      message: 'BatchItem[2]/RequestPayload/CryptographicParameters/TagLength must be Integer, not TextString',
    });
  });

  it('an absent structure reads as an empty one named by the path given', () => {
    const fields = Fields.of(undefined, 'RequestPayload');
    expect(fields.optionalText(Tag.UniqueIdentifier)).to.equal(undefined);
    expect(refusal(() => fields.text(Tag.UniqueIdentifier))).to.deep.equal({ reason: 'InvalidField', message: 'RequestPayload/UniqueIdentifier is required' });
  });
});
