import { expect } from 'chai';
import { Enum } from '../../ttlv/index.js';
import { KmipError } from '../errors.js';
import { aesCmac, decrypt, encrypt, mac } from './index.js';
import type { CipherParameters } from './index.js';
import { StreamTable } from './streams.js';

const A = Enum.CryptographicAlgorithm;
const M = Enum.BlockCipherMode;
const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const params = (over: Partial<CipherParameters>): CipherParameters => ({
  algorithm: A.AES,
  mode: undefined,
  padding: undefined,
  tagLength: undefined,
  randomIv: undefined,
  ivLength: undefined,
  ...over,
});

describe('symmetric ciphers', () => {
  it('AES-128-GCM: the GCM specification test case 2 (zero key, zero IV, one zero block)', () => {
    const out = encrypt({ key: Buffer.alloc(16), params: params({ mode: M.GCM, tagLength: 16 }), data: Buffer.alloc(16), iv: Buffer.alloc(12), aad: undefined });
    expect(out.data.toString('hex')).to.equal('0388dace60b6a392f328c2b971b2fe78');
    expect(out.tag?.toString('hex')).to.equal('ab6e47d42cec13bdf53a67b21257bddf');
    expect(out.generatedIv).to.equal(undefined);
    const back = decrypt({ key: Buffer.alloc(16), params: params({ mode: M.GCM }), data: out.data, iv: Buffer.alloc(12), aad: undefined, tag: out.tag });
    expect(back.toString('hex')).to.equal('00'.repeat(16));
  });

  it('GCM refuses a tampered tag with a Cryptographic Failure', () => {
    const out = encrypt({ key: Buffer.alloc(16), params: params({ mode: M.GCM }), data: Buffer.from('secret'), iv: Buffer.alloc(12), aad: Buffer.from('header') });
    const tag = Buffer.from(out.tag ?? Buffer.alloc(16));
    tag.writeUInt8(tag.readUInt8(0) ^ 1, 0);
    expect(() => decrypt({ key: Buffer.alloc(16), params: params({ mode: M.GCM }), data: out.data, iv: Buffer.alloc(12), aad: Buffer.from('header'), tag }))
      .to.throw(KmipError)
      .with.property('reason', 'CryptographicFailure');
  });

  it('AES-CBC with PKCS#5 and no IV given: the server draws a random IV and returns it (MongoDB)', () => {
    const key = Buffer.alloc(32, 7);
    const p = params({ mode: M.CBC, padding: Enum.PaddingMethod.PKCS5 });
    const first = encrypt({ key, params: p, data: Buffer.from('hello world'), iv: undefined, aad: undefined });
    const second = encrypt({ key, params: p, data: Buffer.from('hello world'), iv: undefined, aad: undefined });
    expect(first.generatedIv).to.have.length(16);
    expect(first.data).to.have.length(16);
    expect(first.generatedIv?.equals(second.generatedIv ?? Buffer.alloc(0))).to.equal(false);
    expect(decrypt({ key, params: p, data: first.data, iv: first.generatedIv, aad: undefined, tag: undefined }).toString()).to.equal('hello world');
  });

  it('ECB without a Padding Method pads nothing: a partial block is a Cryptographic Failure', () => {
    const key = Buffer.alloc(16);
    expect(encrypt({ key, params: params({ mode: M.ECB }), data: Buffer.alloc(32), iv: undefined, aad: undefined }).data).to.have.length(32);
    expect(() => encrypt({ key, params: params({ mode: M.ECB }), data: Buffer.alloc(15), iv: undefined, aad: undefined })).to.throw(KmipError);
  });

  it('CBC decryption without the IV answers Missing Initialization Vector', () => {
    expect(() => decrypt({ key: Buffer.alloc(16), params: params({ mode: M.CBC }), data: Buffer.alloc(16), iv: undefined, aad: undefined, tag: undefined }))
      .to.throw(KmipError)
      .with.property('reason', 'MissingInitializationVector');
  });

  it('ChaCha20: RFC 8439 section 2.4.2-style block 0 keystream for a zero key and nonce (8- and 12-byte nonces)', () => {
    const keystream =
      '76b8e0ada0f13d90405d6ae55386bd28bdd219b8a08ded1aa836efcc8b770dc7da41597c5157488d7724e03fb8d84a376a43b8f41518a11cc387b669b2ee6586';
    for (const nonce of [Buffer.alloc(8), Buffer.alloc(12)]) {
      const out = encrypt({ key: Buffer.alloc(32), params: params({ algorithm: A.ChaCha20 }), data: Buffer.alloc(64), iv: nonce, aad: undefined });
      expect(out.data.toString('hex')).to.equal(keystream);
    }
  });

  it('an algorithm this server cannot encrypt with answers Feature Not Supported', () => {
    expect(() => encrypt({ key: Buffer.alloc(10), params: params({ algorithm: A.SKIPJACK }), data: Buffer.alloc(8), iv: undefined, aad: undefined }))
      .to.throw(KmipError)
      .with.property('reason', 'FeatureNotSupported');
  });
});

describe('MACs', () => {
  // RFC 4493 section 4 test vectors.
  const key = hex('2b7e1516 28aed2a6 abf71588 09cf4f3c');
  const vectors: [string, string][] = [
    ['', 'bb1d6929 e9593728 7fa37d12 9b756746'],
    ['6bc1bee2 2e409f96 e93d7e11 7393172a', '070a16b4 6b4d4144 f79bdd9d d04a287c'],
    ['6bc1bee2 2e409f96 e93d7e11 7393172a ae2d8a57 1e03ac9c 9eb76fac 45af8e51 30c81c46 a35ce411', 'dfa66747 de9ae630 30ca3261 1497c827'],
    [
      '6bc1bee2 2e409f96 e93d7e11 7393172a ae2d8a57 1e03ac9c 9eb76fac 45af8e51 30c81c46 a35ce411 e5fbc119 1a0a52ef f69f2445 df4f9b17 ad2b417b e66c3710',
      '51f0bebf 7e3b9d92 fc497417 79363cfe',
    ],
  ];
  for (const [message, expected] of vectors) {
    it(`RFC 4493 AES-CMAC of ${hex(message).length} bytes`, () => {
      expect(aesCmac(key, hex(message)).toString('hex')).to.equal(hex(expected).toString('hex'));
    });
  }

  it('RFC 4231 test case 2: HMAC-SHA-256 with the key "Jefe"', () => {
    const out = mac(A.HMAC_SHA256, undefined, Buffer.from('Jefe'), Buffer.from('what do ya want for nothing?'));
    expect(out.toString('hex')).to.equal('5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843');
  });
});

describe('multi-part operation streams', () => {
  it('a stream is found by its Correlation Value only by its owner, for its object, until closed', () => {
    const table = new StreamTable();
    const correlation = table.open('encrypt', { owner: 'alice', objectId: 'k1', state: 1 });
    expect(table.continue<number>('encrypt', correlation, 'alice', 'k1').state).to.equal(1);
    expect(() => table.continue('encrypt', correlation, 'bob', 'k1')).to.throw(KmipError);
    expect(() => table.continue('encrypt', correlation, 'alice', 'k2')).to.throw(KmipError);
    expect(() => table.continue('decrypt', correlation, 'alice', 'k1')).to.throw(KmipError);
    table.close(correlation);
    expect(() => table.continue('encrypt', correlation, 'alice', 'k1')).to.throw(KmipError);
  });

  it('abandoned streams expire, and the number open at once is bounded', () => {
    let now = 0;
    const table = new StreamTable({ maxStreams: 2, idleMs: 1000 }, () => now);
    const first = table.open('encrypt', { owner: 'a', objectId: 'k', state: 1 });
    table.open('encrypt', { owner: 'a', objectId: 'k', state: 2 });
    expect(() => table.open('encrypt', { owner: 'a', objectId: 'k', state: 3 })).to.throw(KmipError).with.property('reason', 'ServerLimitExceeded');
    now = 2000;
    expect(() => table.continue('encrypt', first, 'a', 'k')).to.throw(KmipError);
    expect(table.size).to.equal(0);
  });
});

describe('bad cipher inputs are the client\'s Invalid Field, never a crash', () => {
  it('a GCM tag of 1 byte, a CBC IV of 5 bytes', () => {
    expect(() => decrypt({ key: Buffer.alloc(16), params: params({ mode: M.GCM }), data: Buffer.alloc(16), iv: Buffer.alloc(12), aad: undefined, tag: Buffer.alloc(1) }))
      .to.throw(KmipError)
      .with.property('reason', 'InvalidField');
    expect(() => encrypt({ key: Buffer.alloc(16), params: params({ mode: M.CBC }), data: Buffer.alloc(16), iv: Buffer.alloc(5), aad: undefined }))
      .to.throw(KmipError)
      .with.property('reason', 'InvalidField');
  });
});
