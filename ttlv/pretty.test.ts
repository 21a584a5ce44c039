import { expect } from 'chai';
import { Enum, Tag } from './index.js';
import type { TtlvItem } from './index.js';
import { SECRET_TAGS, formatItem } from './pretty.js';

describe('pretty printer', () => {
  const key: TtlvItem = {
    tag: Tag.KeyBlock,
    type: 'Structure',
    value: [
      { tag: Tag.KeyFormatType, type: 'Enumeration', value: Enum.KeyFormatType.Raw },
      { tag: Tag.KeyValue, type: 'Structure', value: [{ tag: Tag.KeyMaterial, type: 'ByteString', value: Buffer.from('00112233445566778899aabbccddeeff', 'hex') }] },
      { tag: Tag.CryptographicLength, type: 'Integer', value: 128 },
      { tag: Tag.CryptographicUsageMask, type: 'Integer', value: 12 },
      { tag: Tag.ActivationDate, type: 'DateTime', value: 1205495800n },
    ],
  };

  it('indents structures and names tags, enumerations and mask bits', () => {
    expect(formatItem(key).split('\n')).to.deep.equal([
      'KeyBlock',
      '  KeyFormatType: Enumeration Raw',
      '  KeyValue',
      '    KeyMaterial: ByteString 00112233445566778899aabbccddeeff',
      '  CryptographicLength: Integer 128',
      '  CryptographicUsageMask: Integer 12 (Encrypt Decrypt)',
      '  ActivationDate: DateTime 2008-03-14T11:56:40Z',
    ]);
  });

  it('redacts secret tags: key material never reaches a log', () => {
    const text = formatItem(key, { redact: SECRET_TAGS });
    expect(text).to.contain('KeyMaterial: ByteString <16 bytes redacted>');
    expect(text).not.to.contain('00112233');
  });

  it('shows unknown tags as hex', () => {
    expect(formatItem({ tag: 0x540001, type: 'TextString', value: 'x' })).to.equal('0x540001: TextString "x"');
  });
});
