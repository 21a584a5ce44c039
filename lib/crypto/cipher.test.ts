import { expect } from 'chai';
import { Enum } from '../../ttlv/index.js';
import { KmipError } from '../errors.js';
import { aesCmac, decrypt, encrypt, mac, startDecrypt, startEncrypt, unwrapKey, wrapKey } from './index.js';
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

describe('key wrapping', () => {
  it('NIST Key Wrap is RFC 3394: section 4.1, 128 bits of key data under a 128-bit KEK', () => {
    const kek = hex('000102030405060708090A0B0C0D0E0F');
    const wrapped = wrapKey(kek, M.NISTKeyWrap, hex('00112233445566778899AABBCCDDEEFF'));
    expect(wrapped.toString('hex')).to.equal('1fa68b0a8112b447aef34bd8fb5a7b829d3e862371d2cfe5');
    expect(unwrapKey(kek, M.NISTKeyWrap, wrapped).toString('hex')).to.equal('00112233445566778899aabbccddeeff');
  });

  it('AES Key Wrap Padding is RFC 5649: section 6, a 7-octet key under a 192-bit KEK', () => {
    const kek = hex('5840df6e29b02af1 ab493b705bf16ea1 ae8338f4dcc176a8');
    const wrapped = wrapKey(kek, M.AESKeyWrapPadding, hex('466f7250617369'));
    expect(wrapped.toString('hex')).to.equal('afbeb0f07dfbf5419200f2ccb50bb24f');
    expect(unwrapKey(kek, M.AESKeyWrapPadding, wrapped).toString('hex')).to.equal('466f7250617369');
  });

  it('NIST Key Wrap takes whole 8-byte blocks only; a changed byte fails the integrity check', () => {
    const kek = hex('000102030405060708090A0B0C0D0E0F');
    expect(() => wrapKey(kek, M.NISTKeyWrap, Buffer.alloc(20))).to.throw(KmipError).with.property('reason', 'BadCryptographicParameters');
    const wrapped = wrapKey(kek, M.NISTKeyWrap, Buffer.alloc(16, 7));
    wrapped.writeUInt8(wrapped.readUInt8(3) ^ 1, 3);
    expect(() => unwrapKey(kek, M.NISTKeyWrap, wrapped)).to.throw(KmipError).with.property('reason', 'CryptographicFailure');
  });

  it('other modes cannot wrap keys: Feature Not Supported', () => {
    expect(() => wrapKey(Buffer.alloc(16), M.CBC, Buffer.alloc(16))).to.throw(KmipError).with.property('reason', 'FeatureNotSupported');
  });
});

describe('XTS-AES (IEEE 1619)', () => {
  // IEEE 1619-2007 annex B, vector 2: Key1 = 11..11, Key2 = 22..22, data unit 0x3333333333, 32 bytes of 0x44.
  const key = Buffer.concat([Buffer.alloc(16, 0x11), Buffer.alloc(16, 0x22)]);
  const tweak = Buffer.concat([Buffer.alloc(5, 0x33), Buffer.alloc(11)]);
  const xts = params({ mode: M.XTS });

  it('a 256-bit XTS key is XTS-AES-128: vector 2, and back', () => {
    const out = encrypt({ key, params: xts, data: Buffer.alloc(32, 0x44), iv: tweak, aad: undefined });
    expect(out.data.toString('hex')).to.equal('c454185e6a16936e39334038acef838bfb186fff7480adc4289382ecd6d394f0');
    expect(decrypt({ key, params: xts, data: out.data, iv: tweak, aad: undefined, tag: undefined }).toString('hex')).to.equal('44'.repeat(32));
  });

  it('less than one block, or a key whose two halves are equal, is Invalid Field; a 128-bit key is not an XTS key', () => {
    expect(() => encrypt({ key, params: xts, data: Buffer.alloc(15), iv: tweak, aad: undefined })).to.throw(KmipError).with.property('reason', 'InvalidField');
    expect(() => encrypt({ key: Buffer.alloc(32, 7), params: xts, data: Buffer.alloc(16), iv: tweak, aad: undefined })).to.throw(KmipError).with.property('reason', 'InvalidField');
    expect(() => encrypt({ key: Buffer.alloc(16, 1), params: xts, data: Buffer.alloc(16), iv: tweak, aad: undefined })).to.throw(KmipError).with.property('reason', 'InvalidField');
  });

  it('a data unit goes in one request: multi-part XTS is Feature Not Supported', () => {
    expect(() => startEncrypt({ key, params: xts, iv: tweak, aad: undefined })).to.throw(KmipError).with.property('reason', 'FeatureNotSupported');
    expect(() => startDecrypt({ key, params: xts, iv: tweak, aad: undefined, tag: undefined })).to.throw(KmipError).with.property('reason', 'FeatureNotSupported');
  });
});
