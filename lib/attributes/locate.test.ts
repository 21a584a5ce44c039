import { expect } from 'chai';
import { Enum, Mask, Tag } from '../../ttlv/index.js';
import type { TtlvItem } from '../../ttlv/index.js';
import { KmipError } from '../errors.js';
import { LARGEST_DATE, compileLocateFilter, indexKeys, matchesLocate } from './index.js';
import type { AttributeInstance } from './index.js';

const text = (tag: number, value: string): TtlvItem => ({ tag, type: 'TextString', value });
const enumeration = (tag: number, value: number): TtlvItem => ({ tag, type: 'Enumeration', value });
const struct = (tag: number, ...value: TtlvItem[]): TtlvItem => ({ tag, type: 'Structure', value });
const long = (tag: number, value: bigint): TtlvItem => ({ tag, type: 'LongInteger', value });

const activation = (seconds: bigint): AttributeInstance => ({ name: 'Activation Date', value: { tag: Tag.ActivationDate, type: 'DateTime', value: seconds } });
const mask = (bits: number): AttributeInstance => ({ name: 'Cryptographic Usage Mask', value: { tag: Tag.CryptographicUsageMask, type: 'Integer', value: bits } });
const name = (value: string, type: number = Enum.NameType.UninterpretedTextString): AttributeInstance => ({
  name: 'Name',
  value: struct(Tag.Name, text(Tag.NameValue, value), enumeration(Tag.NameType, type)),
});
const link = (type: number, id: string): AttributeInstance => ({
  name: 'Link',
  value: struct(Tag.Link, enumeration(Tag.LinkType, type), text(Tag.LinkedObjectIdentifier, id)),
});
const objectType = (value: number): AttributeInstance => ({ name: 'Object Type', value: enumeration(Tag.ObjectType, value) });

const { Encrypt, Decrypt, Sign } = Mask.CryptographicUsageMask;

/** A symmetric key activated at t=1000, named "k1", with two links. */
const KEY: AttributeInstance[] = [
  objectType(Enum.ObjectType.SymmetricKey),
  { name: 'Unique Identifier', value: text(Tag.UniqueIdentifier, 'uid-1') },
  activation(1000n),
  mask(Encrypt | Decrypt),
  name('k1'),
  link(Enum.LinkType.ReplacementObjectLink, 'uid-2'),
  link(Enum.LinkType.ParentLink, 'uid-3'),
  { name: 'Application Specific Information', value: struct(Tag.ApplicationSpecificInformation, text(Tag.ApplicationNamespace, 'ssl'), text(Tag.ApplicationData, 'www.example.com')) },
  { name: 'x-ID', value: text(Tag.AttributeValue, 'tape-7') },
  { name: 'Usage Limits', value: struct(Tag.UsageLimits, long(Tag.UsageLimitsTotal, 100n), long(Tag.UsageLimitsCount, 60n), enumeration(Tag.UsageLimitsUnit, Enum.UsageLimitsUnit.Object)) },
  { name: 'Sensitive', value: { tag: Tag.Sensitive, type: 'Boolean', value: false } },
];

describe('Locate index keys (keys.ts)', () => {
  it('one canonical string per instance: text, Name Value, "<Link Type>:<id>", namespace NUL data; a null key for a structure without one', () => {
    expect(indexKeys(KEY)).to.deep.equal([
      { name: 'Unique Identifier', key: 'uid-1' },
      { name: 'Name', key: 'k1' },
      { name: 'Link', key: `${Enum.LinkType.ReplacementObjectLink}:uid-2` },
      { name: 'Link', key: `${Enum.LinkType.ParentLink}:uid-3` },
      { name: 'Application Specific Information', key: 'ssl\u0000www.example.com' },
      { name: 'x-ID', key: 'tape-7' },
      { name: 'Usage Limits', key: null },
    ]);
  });

  it('Object Type, Booleans, dates and masks have no rows: Locate matches them on the candidates', () => {
    const notIndexed = KEY.filter((instance) => ['Object Type', 'Activation Date', 'Cryptographic Usage Mask', 'Sensitive'].includes(instance.name));
    expect(notIndexed).to.have.length(4);
    expect(indexKeys(notIndexed)).to.deep.equal([]);
    const filter = compileLocateFilter(notIndexed);
    expect(filter.equals).to.deep.equal([]);
    expect(filter.has).to.deep.equal([]);
    expect(filter.matches(KEY)).to.equal(true);
  });

  it('structures without a key form (Cryptographic Parameters) and custom structures have one null-key row', () => {
    const parameters: AttributeInstance = { name: 'Cryptographic Parameters', value: struct(Tag.CryptographicParameters, enumeration(Tag.BlockCipherMode, Enum.BlockCipherMode.GCM)) };
    const custom: AttributeInstance = { name: 'x-Pair', value: struct(Tag.AttributeValue, text(Tag.NameValue, 'a')) };
    expect(indexKeys([parameters, parameters, custom])).to.deep.equal([
      { name: 'Cryptographic Parameters', key: null },
      { name: 'x-Pair', key: null },
    ]);
  });

  it('a name with a keyed row has no null-key row (any row of the name answers "has")', () => {
    const partial: AttributeInstance = { name: 'Link', value: struct(Tag.Link, text(Tag.LinkedObjectIdentifier, 'uid-9')) };
    expect(indexKeys([partial, link(Enum.LinkType.ParentLink, 'uid-3')])).to.deep.equal([{ name: 'Link', key: `${Enum.LinkType.ParentLink}:uid-3` }]);
    expect(indexKeys([partial])).to.deep.equal([{ name: 'Link', key: null }]);
  });

  it('the same (name, key) is listed once', () => {
    expect(indexKeys([name('a'), name('a', Enum.NameType.URI)])).to.deep.equal([{ name: 'Name', key: 'a' }]);
  });
});

describe('Locate matching (KMIP 2.1 section 6.1.28, KMIP 1.4 section 4.9)', () => {
  it('no attribute matches every object', () => {
    expect(matchesLocate([], KEY)).to.equal(true);
  });

  it('the object must match every attribute of the request', () => {
    expect(matchesLocate([objectType(Enum.ObjectType.SymmetricKey), name('k1')], KEY)).to.equal(true);
    expect(matchesLocate([objectType(Enum.ObjectType.SecretData), name('k1')], KEY)).to.equal(false);
    expect(matchesLocate([name('k1'), name('k2')], KEY)).to.equal(false);
  });

  it('Name matches by Name Value and Name Type', () => {
    expect(matchesLocate([name('k1')], KEY)).to.equal(true);
    expect(matchesLocate([name('k1', Enum.NameType.URI)], KEY)).to.equal(false);
    expect(matchesLocate([name('k2')], KEY)).to.equal(false);
  });

  it('a structure may give only some fields: a Linked Object Identifier without its Link Type', () => {
    const onlyId: AttributeInstance = { name: 'Link', value: struct(Tag.Link, text(Tag.LinkedObjectIdentifier, 'uid-3')) };
    expect(matchesLocate([onlyId], KEY)).to.equal(true);
    expect(matchesLocate([link(Enum.LinkType.ParentLink, 'uid-2')], KEY)).to.equal(false);
    const namespaceOnly: AttributeInstance = { name: 'Application Specific Information', value: struct(Tag.ApplicationSpecificInformation, text(Tag.ApplicationNamespace, 'ssl')) };
    expect(matchesLocate([namespaceOnly], KEY)).to.equal(true);
  });

  it('one date matches that date exactly', () => {
    expect(matchesLocate([activation(1000n)], KEY)).to.equal(true);
    expect(matchesLocate([activation(1001n)], KEY)).to.equal(false);
  });

  it('two instances of a date are a range, limits included', () => {
    expect(matchesLocate([activation(900n), activation(1100n)], KEY)).to.equal(true);
    expect(matchesLocate([activation(1100n), activation(900n)], KEY), 'either order').to.equal(true);
    expect(matchesLocate([activation(1000n), activation(1000n)], KEY), 'low limit = high limit').to.equal(true);
    expect(matchesLocate([activation(1000n), activation(2000n)], KEY), 'at the low limit').to.equal(true);
    expect(matchesLocate([activation(1n), activation(1000n)], KEY), 'at the high limit').to.equal(true);
    expect(matchesLocate([activation(1001n), activation(2000n)], KEY)).to.equal(false);
    expect(matchesLocate([activation(900n), activation(1100n)], KEY.filter((i) => i.name !== 'Activation Date')), 'no date').to.equal(false);
  });

  it('a date at its largest possible value is an undefined attribute: no bound', () => {
    expect(matchesLocate([activation(LARGEST_DATE)], KEY)).to.equal(true);
    expect(matchesLocate([activation(500n), activation(LARGEST_DATE)], KEY)).to.equal(true);
    expect(matchesLocate([activation(1500n), activation(LARGEST_DATE)], KEY)).to.equal(false);
    expect(matchesLocate([activation(LARGEST_DATE), activation(LARGEST_DATE)], [objectType(Enum.ObjectType.SymmetricKey)]), 'two open bounds').to.equal(true);
    expect(matchesLocate([activation(0n)], [activation(LARGEST_DATE)]), 'object date at the largest value counts as absent').to.equal(false);
  });

  it('a date given three times is Invalid Field', () => {
    expect(() => compileLocateFilter([activation(1n), activation(2n), activation(3n)]))
      .to.throw(KmipError)
      .with.property('reason', 'InvalidField');
  });

  it('Cryptographic Usage Mask: the object has every requested bit and may have more', () => {
    expect(matchesLocate([mask(Encrypt)], KEY)).to.equal(true);
    expect(matchesLocate([mask(Encrypt | Decrypt)], KEY)).to.equal(true);
    expect(matchesLocate([mask(Encrypt | Sign)], KEY)).to.equal(false);
  });

  it('Usage Limits: Count and Total at least the requested values', () => {
    const wanted = (total: bigint, count: bigint): AttributeInstance => ({
      name: 'Usage Limits',
      value: struct(Tag.UsageLimits, long(Tag.UsageLimitsTotal, total), long(Tag.UsageLimitsCount, count)),
    });
    expect(matchesLocate([wanted(100n, 60n)], KEY)).to.equal(true);
    expect(matchesLocate([wanted(50n, 10n)], KEY)).to.equal(true);
    expect(matchesLocate([wanted(100n, 61n)], KEY)).to.equal(false);
  });

  it('custom attributes and Booleans match by value', () => {
    expect(matchesLocate([{ name: 'x-ID', value: text(Tag.AttributeValue, 'tape-7') }], KEY)).to.equal(true);
    expect(matchesLocate([{ name: 'x-ID', value: text(Tag.AttributeValue, 'tape-8') }], KEY)).to.equal(false);
    expect(matchesLocate([{ name: 'Sensitive', value: { tag: Tag.Sensitive, type: 'Boolean', value: true } }], KEY)).to.equal(false);
  });

  it('index conditions: equality keys where the match is equality, presence where it is not', () => {
    const filter = compileLocateFilter([
      objectType(Enum.ObjectType.SymmetricKey),
      name('k1'),
      mask(Encrypt),
      activation(900n),
      activation(1100n),
      { name: 'Link', value: struct(Tag.Link, text(Tag.LinkedObjectIdentifier, 'uid-3')) },
    ]);
    expect(filter.equals).to.deep.equal([{ name: 'Name', key: 'k1' }]);
    expect(filter.has).to.deep.equal(['Link']);
    expect(filter.matches(KEY)).to.equal(true);
  });

  it('every equality key of a matching filter is among the object\'s index keys (the store never drops a match)', () => {
    const filter = compileLocateFilter([name('k1'), activation(1000n), link(Enum.LinkType.ParentLink, 'uid-3'), { name: 'x-ID', value: text(Tag.AttributeValue, 'tape-7') }, { name: 'Usage Limits', value: struct(Tag.UsageLimits, enumeration(Tag.UsageLimitsUnit, Enum.UsageLimitsUnit.Object)) }]);
    expect(filter.matches(KEY)).to.equal(true);
    expect(filter.equals).to.have.length(3);
    const keys = indexKeys(KEY).map((e) => `${e.name}=${e.key}`);
    for (const condition of filter.equals) expect(keys).to.include(`${condition.name}=${condition.key}`);
    const names = indexKeys(KEY).map((e) => e.name);
    for (const name of filter.has) expect(names).to.include(name);
  });
});
