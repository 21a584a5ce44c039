import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import { decodeTtlv, encodeTtlv, bigIntToBytes } from './binary.js';
import { TtlvError } from './errors.js';
import type { TtlvErrorCode } from './errors.js';
import type { TtlvItem } from './item.js';
import { sharedPath } from '../test/support/paths.js';

interface SpecExample {
  type: string;
  value: unknown;
  description: string;
  hex: string;
}

/** The expected tree for one example of 9.1.2, built from the JSON file, not from the codec. */
function expectedItem(tag: number, type: string, value: unknown): TtlvItem {
  switch (type) {
    case 'Structure':
      return {
        tag,
        type: 'Structure',
        value: (value as { tag: string; type: string; value: unknown }[]).map((child) => expectedItem(Number(child.tag), child.type, child.value)),
      };
    case 'Integer':
    case 'Enumeration':
    case 'Interval':
      return { tag, type, value: value as number };
    case 'LongInteger':
    case 'BigInteger':
      return { tag, type, value: BigInt(value as string) };
    case 'Boolean':
      return { tag, type, value: value as boolean };
    case 'TextString':
      return { tag, type, value: value as string };
    case 'ByteString':
      return { tag, type, value: Buffer.from(value as string, 'hex') };
    case 'DateTime':
      return { tag, type, value: BigInt(Date.parse(value as string) / 1000) };
    default:
      throw new Error(`example type ${type}`);
  }
}

/** Build a TTLV header by hand: tag (3 bytes), type, length. */
function header(tag: number, type: number, length: number): string {
  return tag.toString(16).padStart(6, '0') + type.toString(16).padStart(2, '0') + length.toString(16).padStart(8, '0');
}

function refused(hex: string, code: TtlvErrorCode, options = {}): TtlvError {
  try {
    decodeTtlv(Buffer.from(hex, 'hex'), options);
  } catch (error) {
    expect(error).to.be.instanceOf(TtlvError);
    expect((error as TtlvError).code).to.equal(code);
    return error as TtlvError;
  }
  throw new Error(`expected ${code}, decoded instead`);
}

describe('9.1 binary TTLV', () => {
  const examples = JSON.parse(readFileSync(sharedPath('spec', 'ttlv-spec-examples.json'), 'utf8')) as { tag: string; examples: SpecExample[] };
  const tag = Number(examples.tag);

  it('9.1.2 the specification gives ten examples', () => {
    expect(examples.examples).to.have.length(10);
  });

  for (const example of examples.examples) {
    it(`9.1.2 ${example.description}: decodes to its value and encodes to the same bytes`, () => {
      const bytes = Buffer.from(example.hex, 'hex');
      const expected = expectedItem(tag, example.type, example.value);
      expect(decodeTtlv(bytes)).to.deep.equal(expected);
      expect(encodeTtlv(expected).toString('hex').toUpperCase()).to.equal(example.hex.toUpperCase());
    });
  }

  describe('9.1.1.4 Big Integer', () => {
    const cases: [bigint, string][] = [
      [0n, '0000000000000000'],
      [-1n, 'ffffffffffffffff'],
      [127n, '000000000000007f'],
      [(1n << 63n) - 1n, '7fffffffffffffff'],
      [1n << 63n, '00000000000000008000000000000000'],
      [-(1n << 63n), '8000000000000000'],
      [-(1n << 63n) - 1n, 'ffffffffffffffff7fffffffffffffff'],
    ];
    for (const [value, hex] of cases) {
      it(`${value} is two's complement, sign-extended to a multiple of 8 bytes: ${hex}`, () => {
        expect(bigIntToBytes(value).toString('hex')).to.equal(hex);
        const item: TtlvItem = { tag: 0x420020, type: 'BigInteger', value };
        expect(decodeTtlv(encodeTtlv(item))).to.deep.equal(item);
      });
    }
    it('a value with extra sign extension decodes to the same number', () => {
      const bytes = Buffer.from(header(0x420020, 4, 16) + 'ffffffffffffffff' + 'fffffffffffffffe', 'hex');
      expect(decodeTtlv(bytes)).to.deep.equal({ tag: 0x420020, type: 'BigInteger', value: -2n });
    });
  });

  it('9.1.1.4 Date-Time Extended (KMIP 2.x, type 0x0B) holds microseconds in 8 bytes', () => {
    const item: TtlvItem = { tag: 0x420020, type: 'DateTimeExtended', value: 1205495800123456n };
    const bytes = encodeTtlv(item);
    expect(bytes.toString('hex')).to.equal(header(0x420020, 0x0b, 8) + '000448645cf1d040');
    expect(decodeTtlv(bytes)).to.deep.equal(item);
  });

  it('a Text String is UTF-8 and its length counts bytes, not characters', () => {
    const item: TtlvItem = { tag: 0x420020, type: 'TextString', value: 'clé' };
    expect(encodeTtlv(item).toString('hex')).to.equal(header(0x420020, 7, 4) + '636cc3a900000000');
  });

  it('a Text String decodes from its bytes: ASCII, an empty one, multi-byte UTF-8, a byte order mark kept', () => {
    const text = (hex: string): unknown => decodeTtlv(Buffer.from(header(0x420020, 7, hex.length / 2) + hex + '00'.repeat((8 - ((hex.length / 2) % 8)) % 8), 'hex'));
    expect(text('6b65792d31')).to.deep.equal({ tag: 0x420020, type: 'TextString', value: 'key-1' });
    expect(text('')).to.deep.equal({ tag: 0x420020, type: 'TextString', value: '' });
    expect(text('636cc3a9')).to.deep.equal({ tag: 0x420020, type: 'TextString', value: 'clé' });
    expect(text('e282ac31f09f9491')).to.deep.equal({ tag: 0x420020, type: 'TextString', value: '€1🔑' });
    expect(text('efbbbf41')).to.deep.equal({ tag: 0x420020, type: 'TextString', value: '\uFEFFA' });
  });

  it('an empty Structure and an empty Byte String have length 0 and no padding', () => {
    expect(encodeTtlv({ tag: 0x420020, type: 'Structure', value: [] }).toString('hex')).to.equal(header(0x420020, 1, 0));
    expect(encodeTtlv({ tag: 0x420020, type: 'ByteString', value: new Uint8Array() }).toString('hex')).to.equal(header(0x420020, 8, 0));
  });

  it('an item after a nested structure is read from where that structure ends, and a 3-byte extension tag whole', () => {
    const hex =
      header(0x420001, 1, 40) +
      header(0x420002, 1, 16) +
      header(0x420003, 2, 4) +
      '0000000100000000' +
      header(0x54ffff, 2, 4) +
      '0000000200000000';
    expect(decodeTtlv(Buffer.from(hex, 'hex'))).to.deep.equal({
      tag: 0x420001,
      type: 'Structure',
      value: [
        { tag: 0x420002, type: 'Structure', value: [{ tag: 0x420003, type: 'Integer', value: 1 }] },
        { tag: 0x54ffff, type: 'Integer', value: 2 },
      ],
    });
    // The same bytes with the outer length one item short: the last Integer is left over.
    expect(refused(header(0x420001, 1, 24) + hex.slice(16), 'TRAILING').offset).to.equal(32);
  });

  describe('untrusted input is refused with a typed error that says where', () => {
    it('a header cut short', () => {
      refused('420020', 'TRUNCATED');
    });
    it('a length larger than the input, before reading or allocating it', () => {
      const error = refused(header(0x420020, 8, 0xffffffff) + '00', 'TRUNCATED');
      expect(error.offset).to.equal(0);
      expect(error.tag).to.equal(0x420020);
    });
    it('a child whose length passes the end of its parent structure', () => {
      const error = refused(header(0x420020, 1, 16) + header(0x420004, 2, 16) + '0000000100000000', 'TRUNCATED');
      expect(error.offset).to.equal(8);
      expect(error.message).to.contain('offset 8').and.contain('tag 0x420004');
    });
    it('an item type no KMIP version defines', () => {
      refused(header(0x420020, 0x0c, 8) + '0000000000000000', 'BAD_TYPE');
    });
    it('an Integer whose length is not 4', () => {
      refused(header(0x420020, 2, 8) + '0000000000000008', 'BAD_LENGTH');
    });
    it('a Big Integer whose length is not a multiple of 8', () => {
      refused(header(0x420020, 4, 4) + '00000001' + '00000000', 'BAD_LENGTH');
    });
    it('a Boolean that is neither 0 nor 1', () => {
      refused(header(0x420020, 6, 8) + '0000000000000002', 'BAD_VALUE');
    });
    it('padding that is not zero', () => {
      const error = refused(header(0x420020, 2, 4) + '00000008' + '00000001', 'BAD_PADDING');
      expect(error.offset).to.equal(15);
    });
    it('a Text String that is not UTF-8', () => {
      refused(header(0x420020, 7, 2) + 'c328' + '000000000000', 'BAD_VALUE');
      // After ASCII: an overlong NUL, an encoded surrogate, a lone continuation byte, a cut sequence.
      for (const bad of ['41c080', '41eda080', '4180', '41e282']) {
        refused(header(0x420020, 7, bad.length / 2) + bad + '00'.repeat(8 - bad.length / 2), 'BAD_VALUE');
      }
    });
    it('a Structure length that is not a multiple of 8', () => {
      refused(header(0x420020, 1, 4) + '00000000', 'BAD_LENGTH');
    });
    it('bytes after the message', () => {
      refused(header(0x420020, 1, 0) + '00', 'TRAILING');
    });
    it('structures nested past the depth limit', () => {
      let hex = header(0x420020, 1, 0);
      for (let depth = 2; depth <= 5; depth++) hex = header(0x420020, 1, hex.length / 2) + hex;
      expect(() => decodeTtlv(Buffer.from(hex, 'hex'), { maxDepth: 5 })).not.to.throw();
      refused(hex, 'TOO_DEEP', { maxDepth: 4 });
    });
  });

  describe('encoding refuses values the type cannot hold', () => {
    const bad: TtlvItem[] = [
      { tag: 0x420020, type: 'Integer', value: 0x80000000 },
      { tag: 0x420020, type: 'Integer', value: 1.5 },
      { tag: 0x420020, type: 'Enumeration', value: -1 },
      { tag: 0x420020, type: 'Interval', value: 0x100000000 },
      { tag: 0x420020, type: 'LongInteger', value: 1n << 63n },
      { tag: 0x1000000, type: 'Integer', value: 1 },
    ];
    for (const item of bad) {
      it(`${item.type} ${String(item.value)} (tag ${item.tag.toString(16)})`, () => {
        expect(() => encodeTtlv(item)).to.throw(TtlvError);
      });
    }
  });
});
