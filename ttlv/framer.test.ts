import { expect } from 'chai';
import { TtlvError } from './errors.js';
import { TtlvFramer } from './framer.js';

/** A Structure message holding `payload` bytes of Byte String, built by hand. */
function message(tag: number, payload: number): Buffer {
  const padded = Math.ceil(payload / 8) * 8;
  const inner = Buffer.alloc(8 + padded);
  inner.writeUIntBE(0x420020, 0, 3);
  inner.writeUInt8(0x08, 3);
  inner.writeUInt32BE(payload, 4);
  for (let i = 0; i < payload; i++) inner.writeUInt8((i * 7 + tag) & 0xff, 8 + i);
  const outer = Buffer.alloc(8);
  outer.writeUIntBE(tag, 0, 3);
  outer.writeUInt8(0x01, 3);
  outer.writeUInt32BE(inner.length, 4);
  return Buffer.concat([outer, inner]);
}

const fixtures = [message(0x420078, 0), message(0x420078, 3), message(0x42007b, 13), message(0x420078, 40)];
const stream = Buffer.concat(fixtures);

describe('stream framer', () => {
  it('returns every message of a stream split at any one byte offset', () => {
    for (let cut = 0; cut <= stream.length; cut++) {
      const framer = new TtlvFramer();
      const got = [...framer.push(stream.subarray(0, cut)), ...framer.push(stream.subarray(cut))];
      expect(got.map((m) => m.toString('hex')), `cut at ${cut}`).to.deep.equal(fixtures.map((m) => m.toString('hex')));
      expect(framer.buffered).to.equal(0);
    }
  });

  it('returns every message when the stream arrives one byte at a time', () => {
    const framer = new TtlvFramer();
    const got: Buffer[] = [];
    for (let i = 0; i < stream.length; i++) got.push(...framer.push(stream.subarray(i, i + 1)));
    expect(Buffer.concat(got).equals(stream)).to.equal(true);
    expect(got).to.have.length(fixtures.length);
  });

  it('returns several messages from one chunk, in order', () => {
    const got = new TtlvFramer().push(stream);
    expect(got.map((m) => m.length)).to.deep.equal(fixtures.map((m) => m.length));
  });

  it('keeps a partial message safe when the caller reuses its chunk buffer', () => {
    const framer = new TtlvFramer();
    const chunk = Buffer.from(fixtures[2] as Buffer);
    expect(framer.push(chunk.subarray(0, 20))).to.deep.equal([]);
    const rest = Buffer.from(chunk.subarray(20));
    chunk.fill(0xee);
    const [got] = framer.push(rest);
    expect(got?.equals(fixtures[2] as Buffer)).to.equal(true);
  });

  it('refuses a message whose declared length passes the maximum from its header alone', () => {
    const framer = new TtlvFramer({ maxMessageSize: 4096 });
    const head = Buffer.from('42007801' + 'ffffff00', 'hex');
    expect(() => framer.push(head)).to.throw(TtlvError, /exceeds the maximum of 4096/);
    expect(framer.buffered).to.equal(0);
  });

  it('accepts a message of exactly the maximum size', () => {
    const big = message(0x420078, 4096 - 16);
    expect(new TtlvFramer({ maxMessageSize: 4096 }).push(big)).to.have.length(1);
    expect(() => new TtlvFramer({ maxMessageSize: 4095 }).push(big)).to.throw(TtlvError);
  });

  it('refuses a stream that does not start with a Structure (TLS or HTTP bytes, garbage)', () => {
    try {
      new TtlvFramer().push(Buffer.from('GET / HTTP/1.1\r\n'));
      expect.fail('accepted');
    } catch (error) {
      expect((error as TtlvError).code).to.equal('BAD_TYPE');
    }
  });

  it('stays failed after an error: the stream cannot be re-synchronised', () => {
    const framer = new TtlvFramer({ maxMessageSize: 64 });
    expect(() => framer.push(message(0x420078, 100))).to.throw(TtlvError);
    expect(() => framer.push(fixtures[0] as Buffer)).to.throw(TtlvError);
  });

  it('reports the stream offset of the message it refuses', () => {
    const framer = new TtlvFramer({ maxMessageSize: 64 });
    try {
      framer.push(Buffer.concat([fixtures[1] as Buffer, message(0x420078, 100)]));
      expect.fail('accepted');
    } catch (error) {
      expect((error as TtlvError).offset).to.equal((fixtures[1] as Buffer).length);
    }
  });
});

describe('stream framer: read', () => {
  it('returns the messages completed before a framing error together with the error', () => {
    const garbage = Buffer.from('GET / HTTP/1.1\r\n');
    const { messages, error } = new TtlvFramer().read(Buffer.concat([fixtures[0] as Buffer, fixtures[1] as Buffer, garbage]));
    expect(messages.map((m) => m.toString('hex'))).to.deep.equal([(fixtures[0] as Buffer).toString('hex'), (fixtures[1] as Buffer).toString('hex')]);
    expect(error?.code).to.equal('BAD_TYPE');
    expect(error?.offset).to.equal((fixtures[0] as Buffer).length + (fixtures[1] as Buffer).length);
  });

  it('needed(): a reader that passes no more than it asks stops at every message boundary, whatever the fragmentation', () => {
    for (const size of [1, 3, 7, 8, 9, 64]) {
      const framer = new TtlvFramer();
      const got: Buffer[] = [];
      for (let at = 0; at < stream.length; ) {
        let piece = stream.subarray(at, Math.min(at + size, stream.length));
        while (piece.length > 0) {
          const taken = Math.min(framer.needed(piece), piece.length);
          const messages = framer.push(piece.subarray(0, taken));
          expect(messages.length).to.be.at.most(1);
          if (messages.length === 1) expect(framer.buffered, 'nothing held past a message').to.equal(0);
          got.push(...messages);
          piece = piece.subarray(taken);
          at += taken;
        }
      }
      expect(got.map((m) => m.toString('hex')), `pieces of ${size}`).to.deep.equal(fixtures.map((m) => m.toString('hex')));
    }
  });

  it('needed(): a whole message when its header is there, the rest of a header otherwise, and a refused header alone', () => {
    const first = fixtures[3] as Buffer;
    expect(new TtlvFramer().needed(first)).to.equal(first.length);
    expect(new TtlvFramer().needed(first.subarray(0, 5))).to.equal(8);
    const framer = new TtlvFramer();
    framer.push(first.subarray(0, 5));
    expect(framer.needed(first.subarray(5))).to.equal(3);
    framer.push(first.subarray(5, 8));
    expect(framer.needed(first.subarray(8))).to.equal(first.length - 8);
    expect(new TtlvFramer({ maxMessageSize: first.length - 8 }).needed(first), 'over the maximum').to.equal(8);
    expect(new TtlvFramer().needed(Buffer.from('GET / HTTP/1.1\r\n')), 'not a Structure').to.equal(8);
  });
});
