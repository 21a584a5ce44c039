/**
 * Fuzzing the binary decoder and the framer with 100,000+ mutated and random messages.
 * Whatever the bytes, the only error allowed is TtlvError, and anything that decodes must
 * re-encode to a message that decodes to the same tree.
 */
import { expect } from 'chai';
import { decodeTtlv, encodeTtlv } from './binary.js';
import { TtlvError } from './errors.js';
import { TtlvFramer } from './framer.js';
import { itemsEqual } from './item.js';
import type { TtlvItem } from './item.js';
import { Rng } from '../test/support/rng.js';

const ITERATIONS = Number(process.env['FUZZ_ITERATIONS'] ?? 100_000);
const SEED = Number(process.env['FUZZ_SEED'] ?? 0x6b6d6970);

function randomItem(rng: Rng, depth: number): TtlvItem {
  const tag = 0x420000 + rng.below(0x160);
  switch (rng.below(depth < 4 ? 12 : 11)) {
    case 0: return { tag, type: 'Integer', value: rng.next() | 0 };
    case 1: return { tag, type: 'LongInteger', value: BigInt.asIntN(64, (BigInt(rng.next()) << 32n) | BigInt(rng.next())) };
    case 2: return { tag, type: 'BigInteger', value: BigInt.asIntN(8 * (1 + rng.below(40)), BigInt(`0x${rng.bytes(40).toString('hex')}`)) };
    case 3: return { tag, type: 'Enumeration', value: rng.next() };
    case 4: return { tag, type: 'Boolean', value: rng.below(2) === 1 };
    case 5: return { tag, type: 'TextString', value: rng.bytes(rng.below(20)).toString('base64') };
    case 6: return { tag, type: 'ByteString', value: rng.bytes(rng.below(33)) };
    case 7: return { tag, type: 'DateTime', value: BigInt(rng.next()) };
    case 8: return { tag, type: 'Interval', value: rng.next() };
    case 9: return { tag, type: 'DateTimeExtended', value: BigInt(rng.next()) * 1_000_000n };
    case 10: return { tag, type: 'TextString', value: 'kmip ✓ é' };
    default: {
      const children: TtlvItem[] = [];
      const count = rng.below(6);
      for (let i = 0; i < count; i++) children.push(randomItem(rng, depth + 1));
      return { tag, type: 'Structure', value: children };
    }
  }
}

function randomMessage(rng: Rng): Buffer {
  const children: TtlvItem[] = [];
  const count = 1 + rng.below(5);
  for (let i = 0; i < count; i++) children.push(randomItem(rng, 1));
  return encodeTtlv({ tag: 0x420078, type: 'Structure', value: children });
}

function mutate(rng: Rng, input: Buffer): Buffer {
  const out = Buffer.from(input);
  const flips = 1 + rng.below(4);
  for (let i = 0; i < flips; i++) {
    switch (rng.below(6)) {
      case 0: // flip one bit
        if (out.length > 0) {
          const at = rng.below(out.length);
          out.writeUInt8(out.readUInt8(at) ^ (1 << rng.below(8)), at);
        }
        break;
      case 1: // overwrite a length field at an 8-byte boundary with something hostile
        if (out.length >= 8) {
          const at = rng.below(out.length >> 3) * 8 + 4;
          const lengths = [0, 1, 7, 8, 0x7fffffff, 0xffffffff, rng.next(), rng.below(64)];
          if (at + 4 <= out.length) out.writeUInt32BE(lengths[rng.below(lengths.length)] ?? 0, at);
        }
        break;
      case 2: // overwrite a type byte
        if (out.length >= 8) {
          const at = rng.below(out.length >> 3) * 8 + 3;
          out.writeUInt8(rng.below(14), at);
        }
        break;
      case 3: // truncate
        return out.subarray(0, rng.below(out.length + 1));
      case 4: // append random bytes
        return Buffer.concat([out, rng.bytes(rng.below(24))]);
      default: // random byte
        if (out.length > 0) out.writeUInt8(rng.below(256), rng.below(out.length));
    }
  }
  return out;
}

/** Decode; on success check the round trip. Any error but TtlvError fails the test. */
function check(bytes: Buffer): 'decoded' | 'refused' {
  let item: TtlvItem;
  try {
    item = decodeTtlv(bytes);
  } catch (error) {
    if (error instanceof TtlvError) return 'refused';
    throw new Error(`non-codec error ${String(error)} on ${bytes.toString('hex')}`);
  }
  const again = decodeTtlv(encodeTtlv(item));
  if (!itemsEqual(item, again)) throw new Error(`round trip changed the tree of ${bytes.toString('hex')}`);
  return 'decoded';
}

describe('fuzzing the binary decoder and framer', function () {
  this.timeout(300_000);

  it(`${ITERATIONS} mutated and random messages give a tree or a TtlvError, nothing else (seed ${SEED})`, () => {
    const rng = new Rng(SEED);
    const counts = { decoded: 0, refused: 0 };
    for (let i = 0; i < ITERATIONS; i++) {
      const kind = i % 4;
      const bytes =
        kind === 0 ? randomMessage(rng) // valid: must decode
        : kind === 3 ? Buffer.concat([Buffer.from('42007801', 'hex'), rng.bytes(4 + rng.below(60))]) // random body
        : mutate(rng, randomMessage(rng));
      const result = check(bytes);
      if (kind === 0) expect(result, `valid message ${i} refused`).to.equal('decoded');
      counts[result]++;
    }
    expect(counts.decoded + counts.refused).to.equal(ITERATIONS);
    // Both outcomes must occur, or the fuzzer is not exercising anything.
    expect(counts.refused).to.be.greaterThan(ITERATIONS / 10);
    expect(counts.decoded).to.be.greaterThan(ITERATIONS / 10);
  });

  it('the framer splits a fuzzed stream at random points without any error but TtlvError', () => {
    const rng = new Rng(SEED ^ 0x5a5a5a5a);
    for (let i = 0; i < 2_000; i++) {
      const framer = new TtlvFramer({ maxMessageSize: 4096 });
      const stream = Buffer.concat([randomMessage(rng), mutate(rng, randomMessage(rng)), randomMessage(rng)]);
      let at = 0;
      try {
        while (at < stream.length) {
          const step = 1 + rng.below(64);
          for (const frame of framer.push(stream.subarray(at, at + step))) check(frame);
          at += step;
        }
      } catch (error) {
        if (!(error instanceof TtlvError)) throw error;
      }
    }
  });
});
