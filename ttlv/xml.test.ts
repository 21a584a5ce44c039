import { expect } from 'chai';
import { TtlvError } from './errors.js';
import type { TtlvErrorCode } from './errors.js';
import { itemsEqual, Placeholder } from './item.js';
import type { TemplateItem, TtlvItem } from './item.js';
import { parseXml, toXml, toXmlDocument } from './xml.js';

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
const HASHING_ALGORITHM = 0x420038;
const IV_COUNTER_NONCE = 0x42003d;
const MAC_SIGNATURE = 0x42004d;
const OBJECT_TYPE = 0x420057;
const OFFSET = 0x420058;
const OPERATION = 0x42005c;
const PRIVATE_KEY_TEMPLATE_ATTRIBUTE = 0x420065;
const PROTOCOL_VERSION = 0x420069;
const PROTOCOL_VERSION_MAJOR = 0x42006a;
const PROTOCOL_VERSION_MINOR = 0x42006b;
const REQUEST_MESSAGE = 0x420078;
const STORAGE_STATUS_MASK = 0x42008e;
const UNIQUE_IDENTIFIER = 0x420094;
const USAGE_LIMITS_COUNT = 0x420096;
const ATTRIBUTE_REFERENCE = 0x42013b;

/** 2001-01-01T10:00:00+10:00 is 2001-01-01T00:00:00Z. */
const Y2001 = 978307200n;

function one(text: string): TemplateItem {
  const items = parseXml(text);
  expect(items).to.have.length(1);
  return items[0] as TemplateItem;
}

function expectItem(text: string, expected: TemplateItem): void {
  const actual = one(text);
  expect(itemsEqual(actual, expected), `${JSON.stringify(actual, replacer)} != ${JSON.stringify(expected, replacer)}`).to.equal(true);
}

function replacer(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return `${value}n`;
  if (value instanceof Uint8Array) return Buffer.from(value).toString('hex');
  return value;
}

function expectError(text: string, code: TtlvErrorCode, where: { path?: string; message?: RegExp } = {}): TtlvError {
  let caught: unknown;
  try {
    parseXml(text);
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
  const back = one(toXml(item));
  expect(itemsEqual(back, item), toXml(item)).to.equal(true);
}

describe('KMIP XML encoding (Additional Message Encodings v1.0 section 6)', () => {
  describe('6.1.6 element forms', () => {
    const expected: TemplateItem = { tag: ACTIVATION_DATE, type: 'DateTime', value: Y2001 };

    it('6.1.6 the generic TTLV form with tag, name, type and value', () => {
      expectItem('<TTLV tag="0x420001" name="ActivationDate" type="DateTime" value="2001-01-01T10:00:00+10:00"/>', expected);
    });

    it('6.1.6 the generic TTLV form without a name', () => {
      expectItem('<TTLV tag="0x420001" type="DateTime" value="2001-01-01T10:00:00+10:00"/>', expected);
    });

    it('6.1.6 the specific form names the element after the tag', () => {
      expectItem('<ActivationDate type="DateTime" value="2001-01-01T10:00:00+10:00"/>', expected);
    });

    it('6.1.6 an extension tag the registry lacks loads through the TTLV form', () => {
      expectItem('<TTLV tag="0x54FFFF" name="SomeExtension" type="DateTime" value="2001-01-01T10:00:00+10:00"/>', {
        tag: 0x54ffff,
        type: 'DateTime',
        value: Y2001,
      });
    });

    it('6.1.6 the TTLV form accepts a tag name in the tag attribute', () => {
      expectItem('<TTLV tag="ActivationDate" type="DateTime" value="2001-01-01T10:00:00+10:00"/>', expected);
    });

    it('6.1.6.1 the namespace urn:oasis:tc:kmip:xmlns may be given', () => {
      expectItem('<ActivationDate xmlns="urn:oasis:tc:kmip:xmlns" type="DateTime" value="2001-01-01T10:00:00+10:00"/>', expected);
    });

    it('6.1.6.1 another namespace is refused', () => {
      expectError('<ActivationDate xmlns="urn:example" type="DateTime" value="2001-01-01T10:00:00+10:00"/>', 'BAD_TEXT', {
        path: 'ActivationDate',
      });
    });

    it('6.1.6.1 IVCounterNonce as a Byte String', () => {
      expectItem('<IVCounterNonce type="ByteString" value="a1b2c3d4"/>', {
        tag: IV_COUNTER_NONCE,
        type: 'ByteString',
        value: Uint8Array.from([0xa1, 0xb2, 0xc3, 0xd4]),
      });
    });

    it('6.1.6.1 an empty Structure may be a self-closing element', () => {
      expectItem('<PrivateKeyTemplateAttribute type="Structure"/>', { tag: PRIVATE_KEY_TEMPLATE_ATTRIBUTE, type: 'Structure', value: [] });
    });

    it('6.1.6.1 an extension Text String by hex tag', () => {
      expectItem('<TTLV tag="0x545352" name="SomeExtension" type="TextString" value="This is an extension"/>', {
        tag: 0x545352,
        type: 'TextString',
        value: 'This is an extension',
      });
    });

    it('6.1.6.1 an extension element name the registry does not know is UNKNOWN_NAME', () => {
      expectError('<WELL_KNOWN_EXTENSION type="TextString" value="This is an extension"/>', 'UNKNOWN_NAME', {
        path: 'WELL_KNOWN_EXTENSION',
        message: /unknown tag "WELL_KNOWN_EXTENSION" at line 1:1/,
      });
    });

    it('6.1.6 a tag attribute that is not 3-byte hex nor a known name is refused', () => {
      expectError('<TTLV tag="0x4201" type="Integer" value="1"/>', 'UNKNOWN_NAME');
      expectError('<TTLV type="Integer" value="1"/>', 'BAD_TEXT', { message: /needs a tag attribute/ });
    });

    it('6.1.4 an unknown type name is refused', () => {
      expectError('<BatchCount type="Int" value="1"/>', 'BAD_TEXT', { path: 'BatchCount', message: /unknown type "Int"/ });
    });

    it('6.1.6 attributes other than tag, name, type, value and xmlns are refused', () => {
      expectError('<BatchCount type="Integer" vaule="1"/>', 'BAD_TEXT', { message: /unexpected attribute "vaule"/ });
      expectError('<BatchCount name="x" type="Integer" value="1"/>', 'BAD_TEXT', { message: /unexpected attribute "name"/ });
    });
  });

  describe('6.1.6.2 Structure', () => {
    const expected: TemplateItem = {
      tag: PROTOCOL_VERSION,
      type: 'Structure',
      value: [
        { tag: PROTOCOL_VERSION_MAJOR, type: 'Integer', value: 1 },
        { tag: PROTOCOL_VERSION_MINOR, type: 'Integer', value: 0 },
      ],
    };

    it('6.1.6.2 sub-items are nested elements, with type="Structure"', () => {
      expectItem(
        `<ProtocolVersion type="Structure">
           <ProtocolVersionMajor type="Integer" value="1"/>
           <ProtocolVersionMinor type="Integer" value="0"/>
         </ProtocolVersion>`,
        expected,
      );
    });

    it('6.1.6.2 the type attribute of a Structure may be omitted', () => {
      expectItem(
        `<ProtocolVersion>
           <ProtocolVersionMajor type="Integer" value="1"/>
           <ProtocolVersionMinor type="Integer" value="0"/>
         </ProtocolVersion>`,
        expected,
      );
    });

    it('6.1.6.2 a Structure with a value attribute is refused', () => {
      expectError('<ProtocolVersion value="1"/>', 'BAD_TEXT', { message: /Structure has no value/ });
    });

    it('6.1.6.2 a leaf with child elements is refused', () => {
      expectError('<BatchCount type="Integer" value="1"><BatchCount type="Integer" value="1"/></BatchCount>', 'BAD_TEXT', {
        message: /has no child elements/,
      });
    });

    it('6.1.6.2 a leaf without a value attribute is refused', () => {
      expectError('<BatchCount type="Integer"/>', 'BAD_TEXT', { message: /needs a value attribute/ });
    });
  });

  describe('6.1.6.3 Integer', () => {
    it('6.1.6.3 an Integer is an xsd:int decimal', () => {
      expectItem('<BatchCount type="Integer" value="10"/>', { tag: BATCH_COUNT, type: 'Integer', value: 10 });
      expectItem('<BatchCount type="Integer" value="-2147483648"/>', { tag: BATCH_COUNT, type: 'Integer', value: -2147483648 });
    });

    it('6.1.1 an Integer may be 8-digit hex, two\'s complement', () => {
      expectItem('<BatchCount type="Integer" value="0x0000000A"/>', { tag: BATCH_COUNT, type: 'Integer', value: 10 });
      expectItem('<BatchCount type="Integer" value="0xffffffff"/>', { tag: BATCH_COUNT, type: 'Integer', value: -1 });
    });

    it('6.1.6.3 an Integer outside 32 bits, a fraction or hex without all its digits is refused', () => {
      expectError('<BatchCount type="Integer" value="2147483648"/>', 'BAD_TEXT', { path: 'BatchCount' });
      expectError('<BatchCount type="Integer" value="1.5"/>', 'BAD_TEXT');
      expectError('<BatchCount type="Integer" value="0xA"/>', 'BAD_TEXT');
      expectError('<BatchCount type="Integer" value=""/>', 'BAD_TEXT');
    });
  });

  describe('6.1.6.4 masks', () => {
    const mask = (value: string): string => `<CryptographicUsageMask type="Integer" value="${value}"/>`;
    const expected: TemplateItem = { tag: CRYPTOGRAPHIC_USAGE_MASK, type: 'Integer', value: 0x100c };

    it('6.1.6.4 a mask may be 8-digit hex', () => {
      expectItem(mask('0x0000100c'), expected);
    });

    it('6.1.6.4 a mask may be a space-separated list of bit names', () => {
      expectItem(mask('Encrypt Decrypt CertificateSign'), expected);
    });

    it('6.1.6.4 a mask may mix names and hex components (the spec example has a 7-digit component)', () => {
      expectItem(mask('CertificateSign 0x00000004 0x0000008'), expected);
      expectItem(mask('CertificateSign 0x0000000c'), expected);
    });

    it('6.1.6.4 xsd:list separators may be several spaces or line breaks', () => {
      expectItem(mask('Encrypt   Decrypt\n CertificateSign'), expected);
    });

    it('6.1.6.4 the Storage Status Mask is a mask too', () => {
      expectItem('<StorageStatusMask type="Integer" value="OnLineStorage ArchivalStorage"/>', { tag: STORAGE_STATUS_MASK, type: 'Integer', value: 3 });
    });

    it('6.1.6.4 an unknown bit name is UNKNOWN_NAME, a bad hex component BAD_TEXT', () => {
      expectError(mask('Encrypt Frobnicate'), 'UNKNOWN_NAME', { path: 'CryptographicUsageMask', message: /Frobnicate/ });
      expectError(mask('Encrypt 0x123456789'), 'BAD_TEXT', { message: /0x123456789/ });
    });

    it('6.1.6.4 bit names are not accepted for an Integer that is not a mask', () => {
      expectError('<BatchCount type="Integer" value="Encrypt"/>', 'BAD_TEXT', { path: 'BatchCount' });
    });

    it('6.1.6.4 masks are written as bit names, with unnamed bits as one hex component', () => {
      expect(toXml(expected)).to.equal('<CryptographicUsageMask type="Integer" value="Encrypt Decrypt CertificateSign"/>');
      const withUnnamed: TemplateItem = { tag: CRYPTOGRAPHIC_USAGE_MASK, type: 'Integer', value: 0x40000001 };
      expect(toXml(withUnnamed)).to.equal('<CryptographicUsageMask type="Integer" value="Sign 0x40000000"/>');
      expect(toXml({ tag: CRYPTOGRAPHIC_USAGE_MASK, type: 'Integer', value: 0 })).to.equal('<CryptographicUsageMask type="Integer" value="0"/>');
      roundTrip(withUnnamed);
      roundTrip({ tag: CRYPTOGRAPHIC_USAGE_MASK, type: 'Integer', value: -1 });
    });
  });

  describe('6.1.6.5 Long Integer', () => {
    it('6.1.6.5 an element named x540001 is the hex tag 0x540001', () => {
      expectItem('<x540001 type="LongInteger" value="-2"/>', { tag: 0x540001, type: 'LongInteger', value: -2n });
    });

    it('6.1.6.5 a Long Integer is an xsd:long decimal', () => {
      expectItem('<UsageLimitsCount type="LongInteger" value="1152921504606846976"/>', {
        tag: USAGE_LIMITS_COUNT,
        type: 'LongInteger',
        value: 1n << 60n,
      });
      expectItem('<UsageLimitsCount type="LongInteger" value="-9223372036854775808"/>', {
        tag: USAGE_LIMITS_COUNT,
        type: 'LongInteger',
        value: -(1n << 63n),
      });
    });

    it('6.1.6.5 a Long Integer outside 64 bits is refused', () => {
      expectError('<UsageLimitsCount type="LongInteger" value="9223372036854775808"/>', 'BAD_TEXT');
    });

    it('6.1.1 a Long Integer may be 16-digit hex', () => {
      expectItem('<UsageLimitsCount type="LongInteger" value="0xfffffffffffffffe"/>', { tag: USAGE_LIMITS_COUNT, type: 'LongInteger', value: -2n });
    });
  });

  describe('6.1.6.6 Big Integer', () => {
    it('6.1.6.6 a Big Integer is hexBinary of whole 8-byte words', () => {
      expectItem('<TTLV tag="0x540002" type="BigInteger" value="0000000000000000"/>', { tag: 0x540002, type: 'BigInteger', value: 0n });
      expectItem('<TTLV tag="0x540002" type="BigInteger" value="FFFFFFFFFFFFFFFF"/>', { tag: 0x540002, type: 'BigInteger', value: -1n });
      expectItem('<TTLV tag="0x540002" type="BigInteger" value="00000000000000010000000000000000"/>', {
        tag: 0x540002,
        type: 'BigInteger',
        value: 1n << 64n,
      });
    });

    it('6.1.6.6 a Big Integer not a multiple of 8 bytes is refused', () => {
      expectError('<TTLV tag="0x540002" type="BigInteger" value="0001"/>', 'BAD_TEXT');
      expectError('<TTLV tag="0x540002" type="BigInteger" value=""/>', 'BAD_TEXT');
    });

    it('6.1.6.6 a Big Integer is written sign-extended to whole 8-byte words', () => {
      expect(toXml({ tag: 0x540002, type: 'BigInteger', value: 255n })).to.equal('<TTLV tag="0x540002" type="BigInteger" value="00000000000000ff"/>');
      expect(toXml({ tag: 0x540002, type: 'BigInteger', value: -(1n << 63n) - 1n })).to.equal(
        '<TTLV tag="0x540002" type="BigInteger" value="ffffffffffffffff7fffffffffffffff"/>',
      );
      expect(toXml({ tag: 0x540002, type: 'BigInteger', value: 1n << 63n })).to.equal(
        '<TTLV tag="0x540002" type="BigInteger" value="00000000000000008000000000000000"/>',
      );
    });
  });

  describe('6.1.6.7 Enumeration', () => {
    const expected: TemplateItem = { tag: OBJECT_TYPE, type: 'Enumeration', value: 2 };

    it('6.1.6.7 an Enumeration may be 8-digit hex', () => {
      expectItem('<ObjectType type="Enumeration" value="0x00000002"/>', expected);
    });

    it('6.1.6.7 an Enumeration may be the CamelCase name', () => {
      expectItem('<ObjectType type="Enumeration" value="SymmetricKey"/>', expected);
    });

    it('6.1.6.7 parsers accept any hex value, named or not', () => {
      expectItem('<ObjectType type="Enumeration" value="0x80000001"/>', { tag: OBJECT_TYPE, type: 'Enumeration', value: 0x80000001 });
    });

    it('6.1.6.7 an unknown name is UNKNOWN_NAME; short hex is BAD_TEXT', () => {
      expectError('<ObjectType type="Enumeration" value="SymmetricKeys"/>', 'UNKNOWN_NAME', { path: 'ObjectType', message: /SymmetricKeys/ });
      expectError('<ObjectType type="Enumeration" value="0x2"/>', 'BAD_TEXT');
      expectError('<ObjectType type="Enumeration" value="2"/>', 'UNKNOWN_NAME');
    });

    it('6.1.6.7 with a version, only names that version defines are written (Certificate Request is KMIP 2.x)', () => {
      const request: TemplateItem = { tag: OBJECT_TYPE, type: 'Enumeration', value: 10 };
      expect(toXml(request)).to.equal('<ObjectType type="Enumeration" value="CertificateRequest"/>');
      expect(toXml(request, { version: '2.1' })).to.equal('<ObjectType type="Enumeration" value="CertificateRequest"/>');
      expect(toXml(request, { version: '1.4' })).to.equal('<ObjectType type="Enumeration" value="0x0000000a"/>');
      expect(toXml(expected, { version: '1.0' })).to.equal('<ObjectType type="Enumeration" value="SymmetricKey"/>');
    });

    it('6.1.6.7 a value renamed between versions is written with the name of the version asked for, and both names load', () => {
      // Hashing Algorithm 0x0E: "SHA-3-224" in KMIP 1.4 (table 9.1.3.2.16), "SHA3-224" in KMIP 2.x.
      const sha3: TemplateItem = { tag: HASHING_ALGORITHM, type: 'Enumeration', value: 0x0e };
      expect(toXml(sha3, { version: '1.4' })).to.equal('<HashingAlgorithm type="Enumeration" value="SHA_3_224"/>');
      expect(toXml(sha3, { version: '2.1' })).to.equal('<HashingAlgorithm type="Enumeration" value="SHA3_224"/>');
      expect(toXml(sha3)).to.equal('<HashingAlgorithm type="Enumeration" value="SHA3_224"/>');
      expectItem('<HashingAlgorithm type="Enumeration" value="SHA_3_224"/>', sha3);
      expectItem('<HashingAlgorithm type="Enumeration" value="SHA3_224"/>', sha3);
    });

    it('6.1.6.7 Enumerations are written by name, values without a name as hex', () => {
      expect(toXml(expected)).to.equal('<ObjectType type="Enumeration" value="SymmetricKey"/>');
      expect(toXml({ tag: OBJECT_TYPE, type: 'Enumeration', value: 0x8000000a })).to.equal('<ObjectType type="Enumeration" value="0x8000000a"/>');
      expect(toXml({ tag: 0x540003, type: 'Enumeration', value: 10 })).to.equal('<TTLV tag="0x540003" type="Enumeration" value="0x0000000a"/>');
    });
  });

  describe('6.1.6.8 to 6.1.6.12', () => {
    it('6.1.6.8 a Boolean is xsd:boolean', () => {
      expectItem('<BatchOrderOption type="Boolean" value="true"/>', { tag: BATCH_ORDER_OPTION, type: 'Boolean', value: true });
      expectItem('<BatchOrderOption type="Boolean" value="false"/>', { tag: BATCH_ORDER_OPTION, type: 'Boolean', value: false });
      expectItem('<BatchOrderOption type="Boolean" value="1"/>', { tag: BATCH_ORDER_OPTION, type: 'Boolean', value: true });
      expectItem('<BatchOrderOption type="Boolean" value="0x0000000000000000"/>', { tag: BATCH_ORDER_OPTION, type: 'Boolean', value: false });
    });

    it('6.1.6.8 a Boolean other than true or false is refused', () => {
      expectError('<BatchOrderOption type="Boolean" value="True"/>', 'BAD_TEXT');
      expectError('<BatchOrderOption type="Boolean" value="0x0000000000000002"/>', 'BAD_TEXT');
    });

    it('6.1.6.9 a Text String is the attribute text', () => {
      expectItem('<AttributeName type="TextString" value="Cryptographic Algorithm"/>', {
        tag: ATTRIBUTE_NAME,
        type: 'TextString',
        value: 'Cryptographic Algorithm',
      });
      expectItem('<AttributeName type="TextString" value=""/>', { tag: ATTRIBUTE_NAME, type: 'TextString', value: '' });
    });

    it('6.1.6.10 a Byte String is hexBinary, either case', () => {
      expectItem('<MACSignature type="ByteString" value="C50F77"/>', { tag: MAC_SIGNATURE, type: 'ByteString', value: Uint8Array.from([0xc5, 0x0f, 0x77]) });
      expectItem('<MACSignature type="ByteString" value=""/>', { tag: MAC_SIGNATURE, type: 'ByteString', value: new Uint8Array(0) });
    });

    it('6.1.6.10 a Byte String of odd length or with non-hex digits is refused', () => {
      expectError('<MACSignature type="ByteString" value="C50F7"/>', 'BAD_TEXT');
      expectError('<MACSignature type="ByteString" value="0xC50F"/>', 'BAD_TEXT');
    });

    it('6.1.6.11 a Date-Time is xsd:dateTime with a zone offset', () => {
      expectItem('<ArchiveDate type="DateTime" value="2001-01-01T10:00:00+10:00"/>', { tag: ARCHIVE_DATE, type: 'DateTime', value: Y2001 });
      expectItem('<ArchiveDate type="DateTime" value="2001-01-01T00:00:00Z"/>', { tag: ARCHIVE_DATE, type: 'DateTime', value: Y2001 });
      expectItem('<ArchiveDate type="DateTime" value="2000-12-31T19:00:00-05:00"/>', { tag: ARCHIVE_DATE, type: 'DateTime', value: Y2001 });
      expectItem('<ArchiveDate type="DateTime" value="1969-12-31T23:59:59Z"/>', { tag: ARCHIVE_DATE, type: 'DateTime', value: -1n });
    });

    it('6.1.6.11 fractional seconds are truncated', () => {
      expectItem('<ArchiveDate type="DateTime" value="2001-01-01T00:00:00.999Z"/>', { tag: ARCHIVE_DATE, type: 'DateTime', value: Y2001 });
    });

    it('6.1.6.11 a date that does not exist is refused', () => {
      expectError('<ArchiveDate type="DateTime" value="2001-02-29T00:00:00Z"/>', 'BAD_TEXT');
      expectError('<ArchiveDate type="DateTime" value="2001-01-01T25:00:00Z"/>', 'BAD_TEXT');
      expectError('<ArchiveDate type="DateTime" value="2001-01-01 00:00:00Z"/>', 'BAD_TEXT');
    });

    it('6.1.6.11 a Date-Time is written in UTC as +00:00', () => {
      expect(toXml({ tag: ARCHIVE_DATE, type: 'DateTime', value: Y2001 })).to.equal('<ArchiveDate type="DateTime" value="2001-01-01T00:00:00+00:00"/>');
      expect(toXml({ tag: ARCHIVE_DATE, type: 'DateTime', value: -62135596800n })).to.equal('<ArchiveDate type="DateTime" value="0001-01-01T00:00:00+00:00"/>');
      roundTrip({ tag: ARCHIVE_DATE, type: 'DateTime', value: (1n << 63n) - 1n });
      roundTrip({ tag: ARCHIVE_DATE, type: 'DateTime', value: -(1n << 63n) });
    });

    it('6.1.6.12 an Interval is xsd:unsignedInt', () => {
      expectItem('<Offset type="Interval" value="27"/>', { tag: OFFSET, type: 'Interval', value: 27 });
      expectItem('<Offset type="Interval" value="4294967295"/>', { tag: OFFSET, type: 'Interval', value: 0xffffffff });
      expectError('<Offset type="Interval" value="-1"/>', 'BAD_TEXT');
      expectError('<Offset type="Interval" value="4294967296"/>', 'BAD_TEXT');
    });

    it('KMIP 2.x Date-Time Extended carries microseconds', () => {
      expectItem('<TTLV tag="0x540004" type="DateTimeExtended" value="2001-01-01T00:00:00.000001Z"/>', {
        tag: 0x540004,
        type: 'DateTimeExtended',
        value: Y2001 * 1_000_000n + 1n,
      });
      expectItem('<TTLV tag="0x540004" type="DateTimeExtended" value="2001-01-01T00:00:00.1234567Z"/>', {
        tag: 0x540004,
        type: 'DateTimeExtended',
        value: Y2001 * 1_000_000n + 123456n,
      });
      expect(toXml({ tag: 0x540004, type: 'DateTimeExtended', value: -1n })).to.equal(
        '<TTLV tag="0x540004" type="DateTimeExtended" value="1969-12-31T23:59:59.999999+00:00"/>',
      );
    });
  });

  describe('names that depend on a sibling', () => {
    const attribute = (name: string, type: string, value: string): string =>
      `<Attribute><AttributeName type="TextString" value="${name}"/><AttributeValue type="${type}" value="${value}"/></Attribute>`;

    it('KMIP 1.x: an Attribute Value Enumeration is named by the Attribute Name', () => {
      const item = one(attribute('Cryptographic Algorithm', 'Enumeration', 'AES'));
      expect(itemsEqual(item, {
        tag: ATTRIBUTE,
        type: 'Structure',
        value: [
          { tag: ATTRIBUTE_NAME, type: 'TextString', value: 'Cryptographic Algorithm' },
          { tag: ATTRIBUTE_VALUE, type: 'Enumeration', value: 3 },
        ],
      })).to.equal(true);
      expect(toXml(item)).to.contain('<AttributeValue type="Enumeration" value="AES"/>');
    });

    it('KMIP 1.x: the Attribute Name may follow the Attribute Value', () => {
      const item = one('<Attribute><AttributeValue type="Enumeration" value="SymmetricKey"/><AttributeName type="TextString" value="Object Type"/></Attribute>');
      expect(item.type === 'Structure' && item.value[0]?.value).to.equal(2);
    });

    it('KMIP 1.x: an Attribute Value mask is named by the Attribute Name', () => {
      const item = one(attribute('Cryptographic Usage Mask', 'Integer', 'Decrypt Encrypt'));
      expect(item.type === 'Structure' && item.value[1]?.value).to.equal(12);
      expect(toXml(item)).to.contain('<AttributeValue type="Integer" value="Encrypt Decrypt"/>');
    });

    it('KMIP 1.x: an unknown Attribute Name leaves only hex for its Enumeration value', () => {
      expectError(attribute('x-Custom', 'Enumeration', 'AES'), 'UNKNOWN_NAME', { path: 'Attribute/AttributeValue' });
      const item = one(attribute('x-Custom', 'Enumeration', '0x00000003'));
      expect(toXml(item)).to.contain('value="0x00000003"');
    });

    it('KMIP 2.x: an Attribute Reference Enumeration holds a tag, named as the tag', () => {
      const item = one('<AttributeReference type="Enumeration" value="ObjectType"/>');
      expect(itemsEqual(item, { tag: ATTRIBUTE_REFERENCE, type: 'Enumeration', value: OBJECT_TYPE })).to.equal(true);
      expect(toXml(item)).to.equal('<AttributeReference type="Enumeration" value="ObjectType"/>');
    });
  });

  describe('placeholders', () => {
    it('a placeholder loads in any item type and is written back as its text', () => {
      const text = [
        '<RequestMessage>',
        '  <UniqueIdentifier type="TextString" value="$UNIQUE_IDENTIFIER_0"/>',
        '  <ActivationDate type="DateTime" value="$NOW-3600"/>',
        '  <IVCounterNonce type="ByteString" value="$IV_COUNTER_NONCE"/>',
        '  <BatchCount type="Integer" value="$COUNT"/>',
        '  <ObjectType type="Enumeration" value="$TYPE"/>',
        '</RequestMessage>',
      ].join('\n');
      const item = one(text);
      expect(item.type).to.equal('Structure');
      const values = item.type === 'Structure' ? item.value.map((child) => child.value) : [];
      expect(values.every((value) => value instanceof Placeholder)).to.equal(true);
      expect(values.map((value) => String(value))).to.deep.equal(['$UNIQUE_IDENTIFIER_0', '$NOW-3600', '$IV_COUNTER_NONCE', '$COUNT', '$TYPE']);
      expect(toXml(item)).to.equal(text);
    });
  });

  describe('documents', () => {
    const message = '<RequestMessage><BatchCount type="Integer" value="1"/></RequestMessage>';
    const expected: TemplateItem = { tag: REQUEST_MESSAGE, type: 'Structure', value: [{ tag: BATCH_COUNT, type: 'Integer', value: 1 }] };

    it('a <KMIP> document gives its messages in order', () => {
      const items = parseXml(`<KMIP>${message}<!-- between -->${message.replace('"1"', '"2"')}</KMIP>`);
      expect(items).to.have.length(2);
      expect(itemsEqual(items[0] as TemplateItem, expected)).to.equal(true);
      expect(items[1]?.type === 'Structure' && items[1].value[0]?.value).to.equal(2);
    });

    it('a <KmipTestCase> document (the KMIP 1.0 test cases) gives its messages', () => {
      expect(parseXml(`<KmipTestCase>${message}</KmipTestCase>`)).to.have.length(1);
    });

    it('an empty <KMIP> document gives no messages', () => {
      expect(parseXml('<KMIP/>')).to.deep.equal([]);
    });

    it('a document whose root is one KMIP element gives that item', () => {
      expectItem(message, expected);
    });

    it('an XML declaration, a BOM, comments and CRLF line ends are accepted', () => {
      expectItem(`\uFEFF<?xml version="1.0" encoding="UTF-8"?>\r\n<!-- c -->\r\n${message}\r\n<!-- after -->\r\n`, expected);
    });

    it('toXmlDocument wraps messages in <KMIP>, and parseXml reads them back', () => {
      const text = toXmlDocument([expected, expected]);
      expect(text).to.equal(
        [
          '<KMIP>',
          '  <RequestMessage>',
          '    <BatchCount type="Integer" value="1"/>',
          '  </RequestMessage>',
          '  <RequestMessage>',
          '    <BatchCount type="Integer" value="1"/>',
          '  </RequestMessage>',
          '</KMIP>',
          '',
        ].join('\n'),
      );
      const back = parseXml(text);
      expect(back.every((item) => itemsEqual(item, expected))).to.equal(true);
    });

    it('toXml writes one element a line, self-closing leaves and empty structures, type only on leaves', () => {
      const item: TemplateItem = {
        tag: REQUEST_MESSAGE,
        type: 'Structure',
        value: [
          { tag: PROTOCOL_VERSION, type: 'Structure', value: [] },
          { tag: 0x540005, type: 'Structure', value: [{ tag: BATCH_COUNT, type: 'Integer', value: 1 }] },
        ],
      };
      expect(toXml(item, { indent: '\t' })).to.equal(
        [
          '<RequestMessage>',
          '\t<ProtocolVersion/>',
          '\t<TTLV tag="0x540005">',
          '\t\t<BatchCount type="Integer" value="1"/>',
          '\t</TTLV>',
          '</RequestMessage>',
        ].join('\n'),
      );
      roundTrip(item);
    });
  });

  describe('entities and attribute values', () => {
    it('the five predefined entities and character references are expanded', () => {
      expectItem('<AttributeName type="TextString" value="&amp;&lt;&gt;&quot;&apos;&#65;&#x42;&#x1F600;"/>', {
        tag: ATTRIBUTE_NAME,
        type: 'TextString',
        value: '&<>"\'AB\u{1F600}',
      });
    });

    it('single-quoted attribute values may hold double quotes', () => {
      expectItem(`<AttributeName type='TextString' value='say "hi"'/>`, { tag: ATTRIBUTE_NAME, type: 'TextString', value: 'say "hi"' });
    });

    it('a literal line break in an attribute is normalised to a space, a &#10; reference is kept', () => {
      expectItem('<AttributeName type="TextString" value="a\nb&#10;c\td"/>', { tag: ATTRIBUTE_NAME, type: 'TextString', value: 'a b\nc d' });
    });

    it('every character of a Text String survives toXml and parseXml', () => {
      const value = 'tab\there\nline\r\n<&>"\' \u0000\u0001\u001F\u007F é \u{1F600} \uFFFF';
      roundTrip({ tag: ATTRIBUTE_NAME, type: 'TextString', value });
    });

    it('an unknown entity, a bare ampersand or a "<" in an attribute is refused', () => {
      expectError('<AttributeName type="TextString" value="&nbsp;"/>', 'BAD_TEXT', { message: /unknown reference "&nbsp;" .* at line 1:41/ });
      expectError('<AttributeName type="TextString" value="a & b"/>', 'BAD_TEXT');
      expectError('<AttributeName type="TextString" value="a < b"/>', 'BAD_TEXT');
      expectError('<AttributeName type="TextString" value="&#xD800;"/>', 'BAD_TEXT');
      expectError('<AttributeName type="TextString" value="&#x110000;"/>', 'BAD_TEXT');
    });
  });

  describe('malformed XML gives TtlvError BAD_TEXT with line:column', () => {
    const cases: [string, string, RegExp][] = [
      ['empty input', '', /expected the root element at line 1:1/],
      ['not XML', 'hello', /expected the root element/],
      ['an unclosed element', '<KMIP>\n  <RequestMessage>\n', /missing <\/RequestMessage> at line 3:1/],
      ['a mismatched end tag', '<KMIP>\n<RequestMessage></KMIP>', /<\/KMIP> does not close <RequestMessage> at line 2:/],
      ['a duplicate attribute', '<BatchCount type="Integer" type="Integer" value="1"/>', /duplicate attribute "type" at line 1:28/],
      ['an unquoted attribute', '<BatchCount type=Integer value="1"/>', /expected a quoted attribute value/],
      ['attributes without whitespace between them', '<BatchCount type="Integer"value="1"/>', /expected whitespace/],
      ['text content', '<RequestMessage>text</RequestMessage>', /text content is not allowed/],
      ['a DOCTYPE (no entity expansion, ever)', '<!DOCTYPE x [<!ENTITY a "b">]><x/>', /DOCTYPE is not supported/],
      ['CDATA', '<RequestMessage><![CDATA[x]]></RequestMessage>', /CDATA/],
      ['content after the root', '<RequestMessage/><RequestMessage/>', /content after the root element/],
      ['an unterminated comment', '<RequestMessage/><!-- ', /unterminated comment/],
      ['"--" in a comment', '<!-- a -- b --><RequestMessage/>', /"--" inside a comment/],
      ['a control character', '<RequestMessage>\u0001</RequestMessage>', /control character U\+0001 .* at line 1:17/],
      ['the typo in the example of 6.1.6.8 (type=Boolean")', '<BatchOrderOption type=Boolean" value="true"/>', /expected a quoted attribute value at line 1:24/],
      ['a processing instruction in content', '<RequestMessage><?pi x?></RequestMessage>', /processing instructions/],
    ];
    for (const [what, text, message] of cases) {
      it(`refuses ${what}`, () => {
        expectError(text, 'BAD_TEXT', { message });
      });
    }

    it('a syntax error names the path of open elements', () => {
      expectError('<KMIP>\n<RequestMessage>\n<BatchItem>\n<Operation type="Enumeration" value="Get"></BatchItem>', 'BAD_TEXT', {
        path: 'KMIP/RequestMessage/BatchItem/Operation',
        message: /at line 4:/,
      });
    });

    it('nesting deeper than maxDepth is refused without exhausting the stack', () => {
      const deep = '<RequestMessage>'.repeat(100_000);
      expectError(deep, 'BAD_TEXT', { message: /nested deeper than/ });
      const nested = (n: number): string => '<KMIP>' + '<RequestMessage>'.repeat(n) + '</RequestMessage>'.repeat(n) + '</KMIP>';
      expect(() => parseXml(nested(32))).not.to.throw();
      expect(() => parseXml(nested(33))).to.throw(TtlvError, /items nested deeper than 32/);
      expect(() => parseXml(nested(8), { maxDepth: 7 })).to.throw(TtlvError, /nested deeper than 7/);
    });
  });

  describe('errors carry the path of the item', () => {
    it('a bad value in the second batch item names BatchItem[2]', () => {
      const text = [
        '<KMIP>',
        '<RequestMessage>',
        '  <BatchItem><Operation type="Enumeration" value="Get"/></BatchItem>',
        '  <BatchItem><Operation type="Enumeration" value="Gett"/></BatchItem>',
        '</RequestMessage>',
        '</KMIP>',
      ].join('\n');
      const error = expectError(text, 'UNKNOWN_NAME', { path: 'RequestMessage/BatchItem[2]/Operation' });
      expect(error.message).to.match(/at line 4:14/);
      expect(error.tag).to.equal(OPERATION);
    });

    it('messages of a document are numbered when there are several', () => {
      const text = '<KMIP><RequestMessage/><RequestMessage><BatchCount type="Integer" value="x"/></RequestMessage></KMIP>';
      expectError(text, 'BAD_TEXT', { path: 'RequestMessage[2]/BatchCount' });
    });
  });

  describe('round trips', () => {
    it('every item type survives toXml and parseXml', () => {
      const leaves: TtlvItem[] = [
        { tag: BATCH_COUNT, type: 'Integer', value: -5 },
        { tag: USAGE_LIMITS_COUNT, type: 'LongInteger', value: -(1n << 62n) },
        { tag: 0x540002, type: 'BigInteger', value: -(1n << 200n) },
        { tag: OBJECT_TYPE, type: 'Enumeration', value: 4 },
        { tag: BATCH_ORDER_OPTION, type: 'Boolean', value: true },
        { tag: UNIQUE_IDENTIFIER, type: 'TextString', value: 'ünïcödé' },
        { tag: MAC_SIGNATURE, type: 'ByteString', value: Uint8Array.from([0, 1, 254, 255]) },
        { tag: ARCHIVE_DATE, type: 'DateTime', value: 1_700_000_000n },
        { tag: OFFSET, type: 'Interval', value: 0xffffffff },
        { tag: 0x540004, type: 'DateTimeExtended', value: 1_700_000_000_123_456n },
        { tag: STORAGE_STATUS_MASK, type: 'Integer', value: 3 },
      ];
      roundTrip({ tag: REQUEST_MESSAGE, type: 'Structure', value: [{ tag: BATCH_ITEM, type: 'Structure', value: leaves }] });
    });
  });

  describe('untrusted text', () => {
    const sample = [
      '<?xml version="1.0"?>',
      '<KMIP xmlns="urn:oasis:tc:kmip:xmlns">',
      '<!-- a request -->',
      '<RequestMessage>',
      '  <RequestHeader><ProtocolVersion><ProtocolVersionMajor type="Integer" value="1"/></ProtocolVersion></RequestHeader>',
      '  <BatchItem>',
      '    <Operation type="Enumeration" value="Create"/>',
      '    <Attribute><AttributeName type="TextString" value="Cryptographic Usage Mask"/><AttributeValue type="Integer" value="Encrypt Decrypt"/></Attribute>',
      '    <TTLV tag="0x540001" type="DateTime" value="2001-01-01T10:00:00+10:00"/>',
      '    <MACSignature type="ByteString" value="c50f77"/><UniqueIdentifier type="TextString" value="&amp;&#x41;"/>',
      '  </BatchItem>',
      '</RequestMessage>',
      '</KMIP>',
    ].join('\n');

    /** A small deterministic generator (mulberry32), so a failure can be replayed. */
    function random(seed: number): () => number {
      let a = seed;
      return () => {
        a = (a + 0x6d2b79f5) | 0;
        let t = Math.imul(a ^ (a >>> 15), 1 | a);
        t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
      };
    }

    /** True when the text loaded; false for a TtlvError; anything else fails the test. */
    function loadsOrTtlvError(text: string): boolean {
      try {
        parseXml(text);
        return true;
      } catch (error) {
        if (!(error instanceof TtlvError)) throw new Error(`${String(error)} for input ${JSON.stringify(text)}`);
        return false;
      }
    }

    it('the sample loads', () => {
      expect(parseXml(sample)).to.have.length(1);
    });

    it('every truncation of a document gives a TtlvError, nothing else', () => {
      for (let end = 0; end < sample.length; end += 1) expect(loadsOrTtlvError(sample.slice(0, end)), `cut at ${end}`).to.equal(false);
    });

    it('20000 random edits of a document give items or a TtlvError, nothing else', () => {
      const next = random(20240601);
      const alphabet = '<>/="\'&;#x!-?: \n\tabcTTLV0123456789$\u0000\u00e9';
      for (let i = 0; i < 20_000; i += 1) {
        const chars = [...sample];
        const edits = 1 + Math.floor(next() * 4);
        for (let e = 0; e < edits; e += 1) {
          const at = Math.floor(next() * chars.length);
          const c = alphabet[Math.floor(next() * alphabet.length)] ?? '<';
          const kind = next();
          if (kind < 0.4) chars[at] = c;
          else if (kind < 0.7) chars.splice(at, 1);
          else chars.splice(at, 0, c);
        }
        loadsOrTtlvError(chars.join(''));
      }
    });
  });
});
