import { expect } from 'chai';
import { TtlvError } from './errors.js';
import type { TtlvErrorCode } from './errors.js';
import { itemsEqual, Placeholder } from './item.js';
import type { TemplateItem, TtlvItem } from './item.js';
import { parseJson, toJson, toJsonText } from './json.js';
import type { JsonItem } from './json.js';

// Tag values from the KMIP 1.4 tag table (section 9.1.3.1), stated here, not looked up.
const ACTIVATION_DATE = 0x420001;
const ARCHIVE_DATE = 0x420005;
const ATTRIBUTE = 0x420008;
const ATTRIBUTE_NAME = 0x42000a;
const ATTRIBUTE_VALUE = 0x42000b;
const BATCH_COUNT = 0x42000d;
const BATCH_ITEM = 0x42000f;
const BATCH_ORDER_OPTION = 0x420010;
const CRYPTOGRAPHIC_USAGE_MASK = 0x42002c;
const IV_COUNTER_NONCE = 0x42003d;
const MAC_SIGNATURE = 0x42004d;
const OBJECT_TYPE = 0x420057;
const OFFSET = 0x420058;
const OPERATION = 0x42005c;
const PRIVATE_KEY_TEMPLATE_ATTRIBUTE = 0x420065;
const PROTOCOL_VERSION = 0x420069;
const PROTOCOL_VERSION_MAJOR = 0x42006a;
const REQUEST_MESSAGE = 0x420078;
const UNIQUE_IDENTIFIER = 0x420094;
const USAGE_LIMITS_COUNT = 0x420096;

/** 2001-01-01T10:00:00+10:00 is 2001-01-01T00:00:00Z. */
const Y2001 = 978307200n;

function one(text: string): TemplateItem {
  const items = parseJson(text);
  expect(items).to.have.length(1);
  return items[0] as TemplateItem;
}

function replacer(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return `${value}n`;
  if (value instanceof Uint8Array) return Buffer.from(value).toString('hex');
  return value;
}

function expectItem(text: string, expected: TemplateItem): void {
  const actual = one(text);
  expect(itemsEqual(actual, expected), `${JSON.stringify(actual, replacer)} != ${JSON.stringify(expected, replacer)}`).to.equal(true);
}

function expectError(text: string, code: TtlvErrorCode, where: { path?: string; message?: RegExp } = {}): TtlvError {
  let caught: unknown;
  try {
    parseJson(text);
  } catch (error) {
    caught = error;
  }
  expect(caught, 'expected a TtlvError').to.be.instanceOf(TtlvError);
  const error = caught as TtlvError;
  expect(error.code, error.message).to.equal(code);
  if (where.path !== undefined) expect(error.path).to.equal(where.path);
  if (where.message !== undefined) expect(error.message).to.match(where.message);
  return error;
}

function roundTrip(item: TemplateItem): void {
  const text = toJsonText(item);
  expect(itemsEqual(one(text), item), text).to.equal(true);
}

const leaf = (tag: string, type: string, value: unknown): string => JSON.stringify({ tag, type, value });

describe('KMIP JSON encoding (Additional Message Encodings v1.0 section 4)', () => {
  describe('4.1.6 item objects', () => {
    it('4.1.6 an object with tag, type and value', () => {
      expectItem('{"tag": "ActivationDate", "type":"DateTime", "value":"2001-01-01T10:00:00+10:00"}', {
        tag: ACTIVATION_DATE,
        type: 'DateTime',
        value: Y2001,
      });
    });

    it('4.1.6 an extension by hex tag with a name and a hex Integer', () => {
      expectItem('{"tag": "0x54FFFF", "name":"SomeExtension", "type":"Integer", "value":"0x00000001"}', { tag: 0x54ffff, type: 'Integer', value: 1 });
    });

    it('4.1.6.1 a tag may be hex or the normalised name', () => {
      const expected: TemplateItem = { tag: ACTIVATION_DATE, type: 'DateTime', value: Y2001 };
      expectItem('{"tag": "0x420001", "type":"DateTime", "value":"2001-01-01T10:00:00+10:00"}', expected);
      expectItem('{"tag": "ActivationDate", "type":"DateTime", "value":"2001-01-01T10:00:00+10:00"}', expected);
    });

    it('4.1.6.1 IVCounterNonce as a Byte String', () => {
      expectItem('{"tag": "IVCounterNonce", "type":"ByteString", "value":"a1b2c3d4"}', {
        tag: IV_COUNTER_NONCE,
        type: 'ByteString',
        value: Uint8Array.from([0xa1, 0xb2, 0xc3, 0xd4]),
      });
    });

    it('4.1.6.1 an empty Structure has an empty array', () => {
      expectItem('{"tag": "PrivateKeyTemplateAttribute", "type":"Structure", "value":[]}', {
        tag: PRIVATE_KEY_TEMPLATE_ATTRIBUTE,
        type: 'Structure',
        value: [],
      });
    });

    it('4.1.6.1 an extension Text String by hex tag', () => {
      expectItem('{"tag": "0x545352", "type":"TextString", "value":"This is an extension"}', {
        tag: 0x545352,
        type: 'TextString',
        value: 'This is an extension',
      });
    });

    it('4.1.6.1 a tag name the registry does not know is UNKNOWN_NAME', () => {
      expectError('{"tag": "WELL_KNOWN_EXTENSION", "type":"TextString", "value":"This is an extension"}', 'UNKNOWN_NAME', {
        path: 'WELL_KNOWN_EXTENSION',
      });
    });

    it('4.1.2 a hex tag without all 6 digits is refused', () => {
      expectError(leaf('0x4201', 'Integer', 1), 'BAD_TEXT');
    });

    it('4.1.4 an unknown type is refused', () => {
      expectError(leaf('BatchCount', 'Int', 1), 'BAD_TEXT', { path: 'BatchCount', message: /unknown type "Int"/ });
    });

    it('4.1.6 properties other than tag, name, type and value are refused', () => {
      expectError('{"tag":"BatchCount","type":"Integer","value":1,"vaule":2}', 'BAD_TEXT', { message: /unexpected property "vaule"/ });
    });

    it('4.1.6 an item that is not an object, or has no tag, is refused', () => {
      expectError('[1]', 'BAD_TEXT', { path: '[0]' });
      expectError('{"type":"Integer","value":1}', 'BAD_TEXT', { message: /needs a "tag"/ });
      expectError('null', 'BAD_TEXT');
    });
  });

  describe('4.1.6.2 Structure', () => {
    const expected: TemplateItem = {
      tag: PROTOCOL_VERSION,
      type: 'Structure',
      value: [
        { tag: PROTOCOL_VERSION_MAJOR, type: 'Integer', value: 1 },
        { tag: PROTOCOL_VERSION_MAJOR, type: 'Integer', value: 0 },
      ],
    };

    it('4.1.6.2 a Structure value is an array of sub-items', () => {
      expectItem(
        '{"tag": "ProtocolVersion", "type":"Structure", "value":[{"tag": "ProtocolVersionMajor", "type":"Integer", "value":1}, {"tag": "ProtocolVersionMajor", "type":"Integer", "value":0}]}',
        expected,
      );
    });

    it('4.1.6.2 the type of a Structure may be omitted', () => {
      expectItem(
        '{"tag": "ProtocolVersion", "value":[{"tag": "ProtocolVersionMajor", "type":"Integer", "value":1}, {"tag": "ProtocolVersionMajor", "type":"Integer", "value":0}]}',
        expected,
      );
    });

    it('4.1.6.2 a Structure value may be null', () => {
      expectItem('{"tag": "PrivateKeyTemplateAttribute", "value": null}', { tag: PRIVATE_KEY_TEMPLATE_ATTRIBUTE, type: 'Structure', value: [] });
    });

    it('4.1.6.2 a Structure value that is not an array is refused', () => {
      expectError('{"tag": "ProtocolVersion", "value": 1}', 'BAD_TEXT', { message: /array or null/ });
    });
  });

  describe('4.1.6.3 Integer', () => {
    it('4.1.6.3 an Integer is a Number or 8-digit hex', () => {
      expectItem(leaf('BatchCount', 'Integer', 10), { tag: BATCH_COUNT, type: 'Integer', value: 10 });
      expectItem(leaf('BatchCount', 'Integer', '0x0000000A'), { tag: BATCH_COUNT, type: 'Integer', value: 10 });
    });

    it('4.1.1 -1, 0 and 1 are "0xffffffff", "0x00000000", "0x00000001"', () => {
      expectItem(leaf('BatchCount', 'Integer', '0xffffffff'), { tag: BATCH_COUNT, type: 'Integer', value: -1 });
      expectItem(leaf('BatchCount', 'Integer', '0x00000000'), { tag: BATCH_COUNT, type: 'Integer', value: 0 });
      expectItem(leaf('BatchCount', 'Integer', '0x00000001'), { tag: BATCH_COUNT, type: 'Integer', value: 1 });
    });

    it('4.1.6.3 an Integer outside 32 bits, a fraction, a decimal string or short hex is refused', () => {
      expectError(leaf('BatchCount', 'Integer', 2147483648), 'BAD_TEXT', { path: 'BatchCount' });
      expectError(leaf('BatchCount', 'Integer', 1.5), 'BAD_TEXT');
      expectError(leaf('BatchCount', 'Integer', '10'), 'BAD_TEXT');
      expectError(leaf('BatchCount', 'Integer', '0xA'), 'BAD_TEXT');
      expectError(leaf('BatchCount', 'Integer', true), 'BAD_TEXT');
    });
  });

  describe('4.1.6.4 masks', () => {
    const expected: TemplateItem = { tag: CRYPTOGRAPHIC_USAGE_MASK, type: 'Integer', value: 0x100c };

    it('4.1.6.4 a mask may be hex', () => {
      expectItem(leaf('CryptographicUsageMask', 'Integer', '0x0000100c'), expected);
    });

    it('4.1.6.4 a mask may be "|"-separated bit names', () => {
      expectItem(leaf('CryptographicUsageMask', 'Integer', 'Encrypt|Decrypt|CertificateSign'), expected);
    });

    it('4.1.6.4 a mask may mix names and hex components (the spec example has a 7-digit component)', () => {
      expectItem(leaf('CryptographicUsageMask', 'Integer', 'CertificateSign|0x00000004|0x0000008'), expected);
      expectItem(leaf('CryptographicUsageMask', 'Integer', 'CertificateSign|0x0000000c'), expected);
    });

    it('4.1.6.4 an unknown bit name is UNKNOWN_NAME, an empty component BAD_TEXT', () => {
      expectError(leaf('CryptographicUsageMask', 'Integer', 'Encrypt|Frobnicate'), 'UNKNOWN_NAME', { path: 'CryptographicUsageMask' });
      expectError(leaf('CryptographicUsageMask', 'Integer', 'Encrypt||Decrypt'), 'BAD_TEXT');
    });

    it('4.1.6.4 masks are written as "|"-separated bit names', () => {
      expect(toJson(expected)).to.deep.equal({ tag: 'CryptographicUsageMask', type: 'Integer', value: 'Encrypt|Decrypt|CertificateSign' });
      expect(toJson({ tag: CRYPTOGRAPHIC_USAGE_MASK, type: 'Integer', value: 0 }).value).to.equal(0);
      roundTrip({ tag: CRYPTOGRAPHIC_USAGE_MASK, type: 'Integer', value: -1 });
    });
  });

  describe('4.1.6.5 Long Integer', () => {
    it('4.1.6.5 a Long Integer may be 16-digit hex', () => {
      expectItem(leaf('0x540001', 'LongInteger', '0xfffffffffffffffe'), { tag: 0x540001, type: 'LongInteger', value: -2n });
      expectItem(leaf('UsageLimitsCount', 'LongInteger', '0x1000000000000000'), { tag: USAGE_LIMITS_COUNT, type: 'LongInteger', value: 1n << 60n });
    });

    it('4.1.6.5 a Long Integer may be a Number', () => {
      expectItem(leaf('0x540001', 'LongInteger', -2), { tag: 0x540001, type: 'LongInteger', value: -2n });
    });

    it('4.1.6.5 a Number of 2^52 or more in magnitude is refused: it must be hex', () => {
      expectItem(leaf('UsageLimitsCount', 'LongInteger', 2 ** 52 - 1), { tag: USAGE_LIMITS_COUNT, type: 'LongInteger', value: 2n ** 52n - 1n });
      expectError(leaf('UsageLimitsCount', 'LongInteger', 2 ** 52), 'BAD_TEXT', { message: /2\^52/ });
      expectError(leaf('UsageLimitsCount', 'LongInteger', -(2 ** 52)), 'BAD_TEXT');
      expectError('{"tag":"UsageLimitsCount","type":"LongInteger","value":1152921504606846976}', 'BAD_TEXT');
    });

    it('4.1.6.5 Long Integers below 2^52 are written as Numbers, others as hex', () => {
      const write = (value: bigint): unknown => toJson({ tag: USAGE_LIMITS_COUNT, type: 'LongInteger', value }).value;
      expect(write(-2n)).to.equal(-2);
      expect(write(2n ** 52n - 1n)).to.equal(2 ** 52 - 1);
      expect(write(2n ** 52n)).to.equal('0x0010000000000000');
      expect(write(1n << 60n)).to.equal('0x1000000000000000');
      expect(write(-(2n ** 52n))).to.equal('0xfff0000000000000');
    });
  });

  describe('4.1.6.6 Big Integer', () => {
    it('4.1.6.6 a Big Integer is a Number or hex of whole 8-byte words', () => {
      expectItem('{"tag": "0x540002", "type":"BigInteger", "value":0}', { tag: 0x540002, type: 'BigInteger', value: 0n });
      expectItem('{"tag": "0x540002", "type":"BigInteger", "value":"0x0000000000000000"}', { tag: 0x540002, type: 'BigInteger', value: 0n });
      expectItem(leaf('0x540002', 'BigInteger', '0xFFFFFFFFFFFFFFFF0000000000000000'), { tag: 0x540002, type: 'BigInteger', value: -(1n << 64n) });
    });

    it('4.1.6.6 a Big Integer not sign-extended to 8-byte words is refused', () => {
      expectError(leaf('0x540002', 'BigInteger', '0x00'), 'BAD_TEXT');
      expectError(leaf('0x540002', 'BigInteger', '0000000000000000'), 'BAD_TEXT');
    });

    it('4.1.6.6 Big Integers are written as Numbers below 2^52, else sign-extended hex', () => {
      expect(toJson({ tag: 0x540002, type: 'BigInteger', value: 255n }).value).to.equal(255);
      expect(toJson({ tag: 0x540002, type: 'BigInteger', value: -(1n << 64n) }).value).to.equal('0xffffffffffffffff0000000000000000');
      expect(toJson({ tag: 0x540002, type: 'BigInteger', value: 1n << 63n }).value).to.equal('0x00000000000000008000000000000000');
    });
  });

  describe('4.1.6.7 Enumeration', () => {
    const expected: TemplateItem = { tag: OBJECT_TYPE, type: 'Enumeration', value: 2 };

    it('4.1.6.7 an Enumeration is a Number, 8-digit hex or the CamelCase name', () => {
      expectItem('{"tag": "0x420057", "type":"Enumeration", "value":2}', expected);
      expectItem('{"tag": "ObjectType", "type":"Enumeration", "value":"0x00000002"}', expected);
      expectItem('{"tag": "ObjectType", "type":"Enumeration", "value":"SymmetricKey"}', expected);
    });

    it('4.1.6.7 an unknown name is UNKNOWN_NAME; a negative Number is refused', () => {
      expectError(leaf('ObjectType', 'Enumeration', 'Symmetric'), 'UNKNOWN_NAME', { path: 'ObjectType' });
      expectError(leaf('ObjectType', 'Enumeration', -1), 'BAD_TEXT');
    });

    it('4.1.6.7 with a version, only names that version defines are written (Certificate Request is KMIP 2.x)', () => {
      const request: TemplateItem = { tag: OBJECT_TYPE, type: 'Enumeration', value: 10 };
      expect(toJson(request, { version: '2.0' }).value).to.equal('CertificateRequest');
      expect(toJson(request, { version: '1.2' }).value).to.equal('0x0000000a');
    });

    it('4.1.6.7 Enumerations are written by name, values without a name as hex', () => {
      expect(toJson(expected)).to.deep.equal({ tag: 'ObjectType', type: 'Enumeration', value: 'SymmetricKey' });
      expect(toJson({ tag: OBJECT_TYPE, type: 'Enumeration', value: 0x80000001 }).value).to.equal('0x80000001');
      expect(toJson({ tag: 0x540003, type: 'Enumeration', value: 1 })).to.deep.equal({ tag: '0x540003', type: 'Enumeration', value: '0x00000001' });
    });
  });

  describe('4.1.6.8 to 4.1.6.12', () => {
    it('4.1.6.8 a Boolean is true, false or 16-digit hex', () => {
      expectItem(leaf('BatchOrderOption', 'Boolean', true), { tag: BATCH_ORDER_OPTION, type: 'Boolean', value: true });
      expectItem(leaf('BatchOrderOption', 'Boolean', '0x0000000000000001'), { tag: BATCH_ORDER_OPTION, type: 'Boolean', value: true });
      expectItem(leaf('BatchOrderOption', 'Boolean', '0x0000000000000000'), { tag: BATCH_ORDER_OPTION, type: 'Boolean', value: false });
      expectError(leaf('BatchOrderOption', 'Boolean', 'true'), 'BAD_TEXT');
      expectError(leaf('BatchOrderOption', 'Boolean', 1), 'BAD_TEXT');
      expectError(leaf('BatchOrderOption', 'Boolean', '0x0000000000000002'), 'BAD_TEXT');
    });

    it('4.1.6.9 a Text String is a String', () => {
      expectItem(leaf('AttributeName', 'TextString', 'Cryptographic Algorithm'), { tag: ATTRIBUTE_NAME, type: 'TextString', value: 'Cryptographic Algorithm' });
      expectError(leaf('AttributeName', 'TextString', 5), 'BAD_TEXT');
    });

    it('4.1.6.10 a Byte String is hex without 0x', () => {
      expectItem(leaf('MACSignature', 'ByteString', 'C50F77'), { tag: MAC_SIGNATURE, type: 'ByteString', value: Uint8Array.from([0xc5, 0x0f, 0x77]) });
      expectError(leaf('MACSignature', 'ByteString', '0xC50F77'), 'BAD_TEXT');
      expectError(leaf('MACSignature', 'ByteString', 'C50F7'), 'BAD_TEXT');
    });

    it('4.1.6.11 a Date-Time is 16-digit hex or ISO 8601', () => {
      expectItem(leaf('ArchiveDate', 'DateTime', '0x000000003a505520'), { tag: ARCHIVE_DATE, type: 'DateTime', value: 0x3a505520n });
      expectItem(leaf('ArchiveDate', 'DateTime', '2001-01-01T10:00:00+10:00'), { tag: ARCHIVE_DATE, type: 'DateTime', value: Y2001 });
      expectItem(leaf('ArchiveDate', 'DateTime', '2001-01-01T00:00:00'), { tag: ARCHIVE_DATE, type: 'DateTime', value: Y2001 });
    });

    it('4.1.6.11 fractional seconds are ignored (truncated)', () => {
      expectItem(leaf('ArchiveDate', 'DateTime', '2001-01-01T00:00:00.75Z'), { tag: ARCHIVE_DATE, type: 'DateTime', value: Y2001 });
    });

    it('4.1.6.11 a Date-Time Number or a bad date is refused', () => {
      expectError(leaf('ArchiveDate', 'DateTime', 978307200), 'BAD_TEXT');
      expectError(leaf('ArchiveDate', 'DateTime', '2001-13-01T00:00:00Z'), 'BAD_TEXT');
    });

    it('4.1.6.12 an Interval is a Number or 8-digit hex', () => {
      expectItem(leaf('Offset', 'Interval', 27), { tag: OFFSET, type: 'Interval', value: 27 });
      expectItem(leaf('Offset', 'Interval', '0x0000001b'), { tag: OFFSET, type: 'Interval', value: 27 });
      expectError(leaf('Offset', 'Interval', -1), 'BAD_TEXT');
    });

    it('KMIP 2.x Date-Time Extended is ISO 8601 with microseconds, or 16-digit hex', () => {
      expectItem(leaf('0x540004', 'DateTimeExtended', '2001-01-01T00:00:00.5Z'), { tag: 0x540004, type: 'DateTimeExtended', value: Y2001 * 1_000_000n + 500_000n });
      expectItem(leaf('0x540004', 'DateTimeExtended', '0x0000000000000001'), { tag: 0x540004, type: 'DateTimeExtended', value: 1n });
      expect(toJson({ tag: 0x540004, type: 'DateTimeExtended', value: Y2001 * 1_000_000n + 5n }).value).to.equal('2001-01-01T00:00:00.000005+00:00');
    });
  });

  describe('names that depend on a sibling', () => {
    it('KMIP 1.x: an Attribute Value is named by the Attribute Name, in both directions', () => {
      const text = JSON.stringify({
        tag: 'Attribute',
        value: [
          { tag: 'AttributeName', type: 'TextString', value: 'Cryptographic Usage Mask' },
          { tag: 'AttributeValue', type: 'Integer', value: 'Decrypt|Encrypt' },
        ],
      });
      const expected: TemplateItem = {
        tag: ATTRIBUTE,
        type: 'Structure',
        value: [
          { tag: ATTRIBUTE_NAME, type: 'TextString', value: 'Cryptographic Usage Mask' },
          { tag: ATTRIBUTE_VALUE, type: 'Integer', value: 12 },
        ],
      };
      expectItem(text, expected);
      const json = toJson(expected);
      expect(json.value).to.deep.equal([
        { tag: 'AttributeName', type: 'TextString', value: 'Cryptographic Usage Mask' },
        { tag: 'AttributeValue', type: 'Integer', value: 'Encrypt|Decrypt' },
      ]);
    });

    it('KMIP 1.x: an Attribute Value Enumeration is named by the Attribute Name', () => {
      const text = '{"tag":"Attribute","value":[{"tag":"AttributeName","type":"TextString","value":"State"},{"tag":"AttributeValue","type":"Enumeration","value":"PreActive"}]}';
      const item = one(text);
      expect(item.type === 'Structure' && item.value[1]?.value).to.equal(1);
      expect((toJson(item).value as JsonItem[])[1]?.value).to.equal('PreActive');
    });
  });

  describe('placeholders, documents and errors', () => {
    it('a placeholder loads in any item type and is written back as its text', () => {
      const item = one('{"tag":"RequestMessage","value":[{"tag":"UniqueIdentifier","type":"TextString","value":"$UNIQUE_IDENTIFIER_0"},{"tag":"ActivationDate","type":"DateTime","value":"$NOW+60"}]}');
      const values = item.type === 'Structure' ? item.value.map((child) => child.value) : [];
      expect(values.every((value) => value instanceof Placeholder)).to.equal(true);
      expect(toJson(item)).to.deep.equal({
        tag: 'RequestMessage',
        value: [
          { tag: 'UniqueIdentifier', type: 'TextString', value: '$UNIQUE_IDENTIFIER_0' },
          { tag: 'ActivationDate', type: 'DateTime', value: '$NOW+60' },
        ],
      });
    });

    it('an array of items gives them in order; toJsonText writes an array back', () => {
      const items: TemplateItem[] = [
        { tag: REQUEST_MESSAGE, type: 'Structure', value: [{ tag: BATCH_COUNT, type: 'Integer', value: 1 }] },
        { tag: REQUEST_MESSAGE, type: 'Structure', value: [{ tag: BATCH_COUNT, type: 'Integer', value: 2 }] },
      ];
      const text = toJsonText(items);
      expect(JSON.parse(text)).to.deep.equal([
        { tag: 'RequestMessage', value: [{ tag: 'BatchCount', type: 'Integer', value: 1 }] },
        { tag: 'RequestMessage', value: [{ tag: 'BatchCount', type: 'Integer', value: 2 }] },
      ]);
      const back = parseJson(text);
      expect(back.length).to.equal(2);
      expect(back.every((item, i) => itemsEqual(item, items[i] as TemplateItem))).to.equal(true);
    });

    it('text that is not JSON gives BAD_TEXT', () => {
      expectError('{"tag": ', 'BAD_TEXT', { message: /not JSON/ });
      expectError('', 'BAD_TEXT');
    });

    it('a bad value in the second batch item names BatchItem[2]', () => {
      const text = JSON.stringify({
        tag: 'RequestMessage',
        value: [
          { tag: 'BatchItem', value: [{ tag: 'Operation', type: 'Enumeration', value: 'Get' }] },
          { tag: 'BatchItem', value: [{ tag: 'Operation', type: 'Enumeration', value: 'Gett' }] },
        ],
      });
      const error = expectError(text, 'UNKNOWN_NAME', { path: 'RequestMessage/BatchItem[2]/Operation' });
      expect(error.tag).to.equal(OPERATION);
    });

    it('nesting deeper than maxDepth is refused', () => {
      const nested = (n: number): string => '{"tag":"RequestMessage","value":['.repeat(n - 1) + '{"tag":"RequestMessage"}' + ']}'.repeat(n - 1);
      expect(() => parseJson(nested(32))).not.to.throw();
      expect(() => parseJson(nested(33))).to.throw(TtlvError, /nested deeper than 32/);
      expect(() => parseJson(nested(100_000))).to.throw(TtlvError);
    });
  });

  describe('round trips', () => {
    it('every item type survives toJsonText and parseJson, at the edges of each range', () => {
      const leaves: TtlvItem[] = [
        { tag: BATCH_COUNT, type: 'Integer', value: -2147483648 },
        { tag: BATCH_COUNT, type: 'Integer', value: 2147483647 },
        { tag: USAGE_LIMITS_COUNT, type: 'LongInteger', value: -(1n << 63n) },
        { tag: USAGE_LIMITS_COUNT, type: 'LongInteger', value: (1n << 63n) - 1n },
        { tag: USAGE_LIMITS_COUNT, type: 'LongInteger', value: -(2n ** 52n) + 1n },
        { tag: 0x540002, type: 'BigInteger', value: -(1n << 200n) },
        { tag: 0x540002, type: 'BigInteger', value: 2n ** 52n },
        { tag: OBJECT_TYPE, type: 'Enumeration', value: 0xffffffff },
        { tag: BATCH_ORDER_OPTION, type: 'Boolean', value: false },
        { tag: UNIQUE_IDENTIFIER, type: 'TextString', value: 'quote " backslash \\ newline \n' },
        { tag: MAC_SIGNATURE, type: 'ByteString', value: new Uint8Array(0) },
        { tag: ARCHIVE_DATE, type: 'DateTime', value: -(1n << 63n) },
        { tag: OFFSET, type: 'Interval', value: 0 },
        { tag: 0x540004, type: 'DateTimeExtended', value: (1n << 63n) - 1n },
      ];
      roundTrip({ tag: REQUEST_MESSAGE, type: 'Structure', value: [{ tag: BATCH_ITEM, type: 'Structure', value: leaves }] });
    });
  });

  describe('untrusted text', () => {
    const sample = JSON.stringify([
      {
        tag: 'RequestMessage',
        value: [
          { tag: 'BatchItem', value: [{ tag: 'Operation', type: 'Enumeration', value: 'Create' }] },
          { tag: 'Attribute', value: [{ tag: 'AttributeName', type: 'TextString', value: 'State' }, { tag: 'AttributeValue', type: 'Enumeration', value: 'Active' }] },
          { tag: '0x540001', type: 'LongInteger', value: '0x0000000000000001' },
          { tag: 'MACSignature', type: 'ByteString', value: 'c50f77' },
          { tag: 'ArchiveDate', type: 'DateTime', value: '2001-01-01T10:00:00+10:00' },
          { tag: 'CryptographicUsageMask', type: 'Integer', value: 'Encrypt|Decrypt' },
          { tag: 'BatchOrderOption', type: 'Boolean', value: true },
          { tag: 'Offset', type: 'Interval', value: 27 },
          { tag: '0x540002', type: 'BigInteger', value: 12 },
        ],
      },
    ]);

    function random(seed: number): () => number {
      let a = seed;
      return () => {
        a = (a + 0x6d2b79f5) | 0;
        let t = Math.imul(a ^ (a >>> 15), 1 | a);
        t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
      };
    }

    function loadsOrTtlvError(text: string): boolean {
      try {
        parseJson(text);
        return true;
      } catch (error) {
        if (!(error instanceof TtlvError)) throw new Error(`${String(error)} for input ${text}`);
        return false;
      }
    }

    it('the sample loads, and every truncation of it gives a TtlvError', () => {
      expect(loadsOrTtlvError(sample)).to.equal(true);
      for (let end = 0; end < sample.length; end += 1) expect(loadsOrTtlvError(sample.slice(0, end)), `cut at ${end}`).to.equal(false);
    });

    it('20000 random edits give items or a TtlvError, nothing else', () => {
      const next = random(20240602);
      const alphabet = '{}[]:,"0123456789x-.eEtrufalsn$|\\ ';
      for (let i = 0; i < 20_000; i += 1) {
        const chars = [...sample];
        const edits = 1 + Math.floor(next() * 4);
        for (let e = 0; e < edits; e += 1) {
          const at = Math.floor(next() * chars.length);
          const c = alphabet[Math.floor(next() * alphabet.length)] ?? '{';
          const kind = next();
          if (kind < 0.4) chars[at] = c;
          else if (kind < 0.7) chars.splice(at, 1);
          else chars.splice(at, 0, c);
        }
        loadsOrTtlvError(chars.join(''));
      }
    });

    it('values of every JSON kind in every item type give items or a TtlvError, nothing else', () => {
      const values: unknown[] = [null, true, 0, -1, 1.5, 1e300, '', 'x', '0x', [], [1], {}, { tag: 'BatchCount' }];
      const types = ['Structure', 'Integer', 'LongInteger', 'BigInteger', 'Enumeration', 'Boolean', 'TextString', 'ByteString', 'DateTime', 'Interval', 'DateTimeExtended'];
      for (const type of types) {
        for (const value of values) {
          loadsOrTtlvError(JSON.stringify({ tag: 'CryptographicUsageMask', type, value }));
          loadsOrTtlvError(JSON.stringify({ tag: value, type, value }));
          loadsOrTtlvError(JSON.stringify({ tag: 'ObjectType', type: value, name: value, value }));
        }
      }
    });
  });
});
