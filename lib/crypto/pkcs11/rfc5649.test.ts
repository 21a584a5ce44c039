import { expect } from 'chai';
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { KekError, aesKeyWrapPad } from '../kek.js';
import { UnwrapJob, WrapJob, runJob } from './rfc5649.js';

/** AES-ECB over whole blocks with node:crypto: the block cipher an HSM would provide. */
function ecb(key: Buffer, direction: 'encrypt' | 'decrypt'): (blocks: Buffer) => Buffer {
  const name = `aes-${key.length * 8}-ecb`;
  return (blocks) => {
    const cipher = direction === 'encrypt' ? createCipheriv(name, key, null) : createDecipheriv(name, key, null);
    cipher.setAutoPadding(false);
    return Buffer.concat([cipher.update(blocks), cipher.final()]);
  };
}

const wrap = (key: Buffer, plain: Buffer): Buffer => Buffer.from(runJob(new WrapJob(plain), ecb(key, 'encrypt')));
const unwrap = (key: Buffer, wrapped: Buffer): Buffer => Buffer.from(runJob(new UnwrapJob(wrapped), ecb(key, 'decrypt')));

function unwrapError(key: Buffer, wrapped: Buffer): KekError {
  try {
    unwrap(key, wrapped);
  } catch (error) {
    expect(error).to.be.instanceOf(KekError);
    return error as KekError;
  }
  expect.fail('expected the unwrap to fail');
}

describe('RFC 5649 over a block cipher (the HSM construction, checked in software)', () => {
  it('RFC 5649 section 6: the two test vectors (192-bit KEK, 20 and 7 octets)', () => {
    const kek = Buffer.from('5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8', 'hex');
    const twenty = Buffer.from('c37b7e6492584340bed12207808941155068f738', 'hex');
    const seven = Buffer.from('466f7250617369', 'hex');
    expect(wrap(kek, twenty).toString('hex')).to.equal('138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a');
    expect(wrap(kek, seven).toString('hex')).to.equal('afbeb0f07dfbf5419200f2ccb50bb24f');
    expect(unwrap(kek, Buffer.from('138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a', 'hex'))).to.deep.equal(twenty);
    expect(unwrap(kek, Buffer.from('afbeb0f07dfbf5419200f2ccb50bb24f', 'hex'))).to.deep.equal(seven);
  });

  it('equals OpenSSL id-aes256-wrap-pad for every length from 1 to 300 bytes, and unwraps it', () => {
    const kek = randomBytes(32);
    for (let length = 1; length <= 300; length += 1) {
      const plain = randomBytes(length);
      const expected = aesKeyWrapPad(kek, plain);
      expect(wrap(kek, plain).toString('hex'), `length ${length}`).to.equal(expected.toString('hex'));
      expect(unwrap(kek, expected), `length ${length}`).to.deep.equal(plain);
    }
  });

  it('section 4.1: one padded block (8 bytes or fewer) is a single AES block of AIV || P', () => {
    const kek = randomBytes(32);
    const plain = Buffer.from('0102030405', 'hex');
    const block = Buffer.from('a65959a6000000050102030405000000', 'hex');
    expect(wrap(kek, plain)).to.deep.equal(ecb(kek, 'encrypt')(block));
  });

  it('section 4.2: a changed bit anywhere, a wrong KEK or a wrong length fails the same way', () => {
    const kek = randomBytes(32);
    for (const length of [5, 8, 9, 33]) {
      const wrapped = wrap(kek, randomBytes(length));
      const messages = new Set<string>();
      for (let i = 0; i < wrapped.length; i += 1) {
        const changed = Buffer.from(wrapped);
        changed.writeUInt8(changed.readUInt8(i) ^ 0x01, i);
        const error = unwrapError(kek, changed);
        expect(error.code).to.equal('KEK_UNWRAP_FAILED');
        messages.add(error.message);
      }
      expect(unwrapError(randomBytes(32), wrapped).code).to.equal('KEK_UNWRAP_FAILED');
      expect([...messages]).to.have.length(1);
    }
    expect(unwrapError(kek, randomBytes(20)).code).to.equal('KEK_WRAP_INPUT');
    expect(unwrapError(kek, randomBytes(8)).code).to.equal('KEK_WRAP_INPUT');
  });

  it('section 4.2: a correct AIV with a length that disagrees with the padding is refused', () => {
    const kek = randomBytes(32);
    const encrypt = ecb(kek, 'encrypt');
    // One block AIV || P built by hand: MLI 3 with a non-zero byte in the padding; MLI 9 in one block.
    const nonZeroPadding = encrypt(Buffer.from('a65959a600000003aabbccdd00000000', 'hex'));
    const lengthTooLong = encrypt(Buffer.from('a65959a600000009aabbccdd00000000', 'hex'));
    const lengthZero = encrypt(Buffer.from('a65959a6000000000000000000000000', 'hex'));
    for (const wrapped of [nonZeroPadding, lengthTooLong, lengthZero]) {
      expect(unwrapError(kek, wrapped).code).to.equal('KEK_UNWRAP_FAILED');
    }
    expect(unwrap(kek, encrypt(Buffer.from('a65959a600000003aabbcc0000000000', 'hex')))).to.deep.equal(Buffer.from('aabbcc', 'hex'));
  });

  it('refuses to wrap nothing', () => {
    expect(() => new WrapJob(Buffer.alloc(0))).to.throw(KekError, 'empty');
  });
});
