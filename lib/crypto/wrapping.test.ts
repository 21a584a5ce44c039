/**
 * The ciphers of key wrapping (lib/crypto/wrapping.ts) against published vectors (RFC 3394
 * section 4, RFC 5649 section 6, the GCM specification's test case 3) and against node's
 * own RSA-OAEP, plus the refusals: an RSA key too small for the value, a GCM tag or IV too
 * short, and PKCS#1 v1.5 unwrapping.
 */
import { constants, generateKeyPairSync, privateDecrypt } from 'node:crypto';
import { expect } from 'chai';
import { Enum } from '../../ttlv/index.js';
import { KmipError } from '../errors.js';
import { assertUnwrappable, gcmCipher, openKeyValue, rsaCapacity, sealKeyValue } from './wrapping.js';
import type { WrappingCipher } from './wrapping.js';

const h = (hex: string): Buffer => Buffer.from(hex.replace(/\s+/g, ''), 'hex');
const kw: WrappingCipher = { kind: 'aes-key-wrap', mode: Enum.BlockCipherMode.NISTKeyWrap };
const kwp: WrappingCipher = { kind: 'aes-key-wrap', mode: Enum.BlockCipherMode.AESKeyWrapPadding };
const H = Enum.HashingAlgorithm;

function reasonOf(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    if (error instanceof KmipError) return error.reason;
    throw error;
  }
  return undefined;
}

describe('key wrapping ciphers', () => {
  const kek256 = h('000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F');

  it('RFC 3394 section 4.3: 128 bits of key data under a 256-bit KEK', () => {
    const sealed = sealKeyValue(kw, kek256, h('00112233445566778899AABBCCDDEEFF'));
    expect(sealed.wrapped.toString('hex')).to.equal('64e8c3f9ce0f5ba263e9777905818a2a93c8191e7d6e8ae7');
    expect(sealed.iv).to.equal(undefined);
    expect(openKeyValue(kw, kek256, sealed.wrapped, undefined).toString('hex')).to.equal('00112233445566778899aabbccddeeff');
  });

  it('RFC 3394 section 4.6: 256 bits of key data under a 256-bit KEK', () => {
    const plain = h('00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F');
    const sealed = sealKeyValue(kw, kek256, plain);
    expect(sealed.wrapped.toString('hex')).to.equal('28c9f404c4b810f4cbccb35cfb87f8263f5786e2d80ed326cbc7f0e71a99f43bfb988b9b7a02dd21');
  });

  it('RFC 5649 section 6: a 20-octet key under a 192-bit KEK; a changed byte fails with Cryptographic Failure', () => {
    const kek = h('5840df6e29b02af1 ab493b705bf16ea1 ae8338f4dcc176a8');
    const sealed = sealKeyValue(kwp, kek, h('c37b7e6492584340 bed1220780894115 5068f738'));
    expect(sealed.wrapped.toString('hex')).to.equal('138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a');
    const changed = Buffer.from(sealed.wrapped);
    changed.writeUInt8(changed.readUInt8(9) ^ 0x80, 9);
    expect(reasonOf(() => openKeyValue(kwp, kek, changed, undefined))).to.equal('CryptographicFailure');
  });

  it('AES-GCM opens the GCM specification\'s test case 3 (IV apart, tag after the ciphertext)', () => {
    const key = h('feffe9928665731c6d6a8f9467308308');
    const iv = h('cafebabefacedbaddecaf888');
    const ciphertext = h(
      '42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985',
    );
    const tag = h('4d5c2af327cd64a62cf35abd2ba6fab4');
    const opened = openKeyValue(gcmCipher(undefined, undefined), key, Buffer.concat([ciphertext, tag]), iv);
    expect(opened.toString('hex')).to.equal(
      'd9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255',
    );
    expect(reasonOf(() => openKeyValue(gcmCipher(undefined, undefined), key, Buffer.concat([ciphertext, tag]), undefined))).to.equal('MissingInitializationVector');
    const wrongTag = Buffer.concat([ciphertext, tag]);
    wrongTag.writeUInt8(wrongTag.readUInt8(wrongTag.length - 1) ^ 1, wrongTag.length - 1);
    expect(reasonOf(() => openKeyValue(gcmCipher(undefined, undefined), key, wrongTag, iv))).to.equal('CryptographicFailure');
  });

  it('AES-GCM sealing draws a fresh 96-bit IV each time; IVs under 96 bits and tags under 96 bits are refused', () => {
    const key = h('feffe9928665731c6d6a8f9467308308');
    const cipher = gcmCipher(undefined, 12);
    const one = sealKeyValue(cipher, key, h('00112233445566778899aabbccddeeff'));
    const two = sealKeyValue(cipher, key, h('00112233445566778899aabbccddeeff'));
    expect(one.iv?.length).to.equal(12);
    expect(one.iv?.equals(two.iv ?? Buffer.alloc(0))).to.equal(false);
    expect(one.wrapped.length).to.equal(16 + 12);
    expect(openKeyValue(cipher, key, one.wrapped, one.iv).toString('hex')).to.equal('00112233445566778899aabbccddeeff');
    expect(reasonOf(() => gcmCipher(64, undefined))).to.equal('BadCryptographicParameters');
    expect(reasonOf(() => gcmCipher(undefined, 8))).to.equal('BadCryptographicParameters');
  });

  describe('RSA', () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const plain = h('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f');

    it('OAEP with SHA-1 and SHA-256 opens with node\'s own OAEP', () => {
      for (const [hash, name] of [
        [H.SHA_1, 'sha1'],
        [H.SHA_256, 'sha256'],
      ] as const) {
        const sealed = sealKeyValue({ kind: 'rsa', scheme: { kind: 'oaep', hash, mgfHash: hash, label: Buffer.alloc(0) } }, publicKey, plain);
        expect(privateDecrypt({ key: privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: name }, sealed.wrapped).equals(plain)).to.equal(true);
      }
    });

    it('OAEP with SHA-256 and MGF1 with SHA-1 round trips; opened with MGF1 SHA-256 it fails', () => {
      const cipher: WrappingCipher = { kind: 'rsa', scheme: { kind: 'oaep', hash: H.SHA_256, mgfHash: H.SHA_1, label: Buffer.alloc(0) } };
      const sealed = sealKeyValue(cipher, publicKey, plain);
      expect(openKeyValue(cipher, privateKey, sealed.wrapped, undefined).equals(plain)).to.equal(true);
      const other: WrappingCipher = { kind: 'rsa', scheme: { kind: 'oaep', hash: H.SHA_256, mgfHash: H.SHA_256, label: Buffer.alloc(0) } };
      expect(reasonOf(() => openKeyValue(other, privateKey, sealed.wrapped, undefined))).to.equal('CryptographicFailure');
    });

    it('capacity: OAEP-SHA-256 under 2048 bits takes 190 bytes, PKCS#1 v1.5 245; one more byte is Invalid Field', () => {
      const oaep: WrappingCipher = { kind: 'rsa', scheme: { kind: 'oaep', hash: H.SHA_256, mgfHash: H.SHA_256, label: Buffer.alloc(0) } };
      expect(rsaCapacity(oaep, 2048)).to.equal(190);
      expect(rsaCapacity({ kind: 'rsa', scheme: { kind: 'pkcs1' } }, 2048)).to.equal(245);
      expect(sealKeyValue(oaep, publicKey, Buffer.alloc(190, 1)).wrapped.length).to.equal(256);
      expect(reasonOf(() => sealKeyValue(oaep, publicKey, Buffer.alloc(191, 1)))).to.equal('InvalidField');
    });

    it('PKCS#1 v1.5 seals (a type 2 block under the public key) but never opens: Unsupported Cryptographic Parameters', () => {
      const cipher: WrappingCipher = { kind: 'rsa', scheme: { kind: 'pkcs1' } };
      const sealed = sealKeyValue(cipher, publicKey, plain);
      const em = privateDecrypt({ key: privateKey, padding: constants.RSA_NO_PADDING }, sealed.wrapped);
      expect(em.subarray(0, 2).toString('hex')).to.equal('0002');
      expect(em.subarray(em.length - plain.length).equals(plain)).to.equal(true);
      expect(reasonOf(() => assertUnwrappable(cipher))).to.equal('UnsupportedCryptographicParameters');
      expect(reasonOf(() => openKeyValue(cipher, privateKey, sealed.wrapped, undefined))).to.equal('UnsupportedCryptographicParameters');
    });
  });
});
