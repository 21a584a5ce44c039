/**
 * RSA and EC keys, signatures and RSA encryption, checked against OpenSSL's command line:
 * keys made by `openssl genpkey` at test time, signatures and ciphertexts made by
 * `openssl dgst` / `openssl pkeyutl`, and every key format read back by `openssl rsa` /
 * `openssl pkey` / `openssl ec`. Nothing here shares code with what it checks.
 */
import { execFileSync } from 'node:child_process';
import { createHash, createPrivateKey, createPublicKey } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { Enum } from '../../ttlv/index.js';
import { KmipError } from '../errors.js';
import {
  CURVES,
  curveByCode,
  curveByLength,
  exportKey,
  formatsFor,
  generateKeyPair,
  importPrivateKey,
  importPublicKey,
  keyBits,
  rsaDecrypt,
  rsaEncrypt,
  rsaEncryptionScheme,
  sign,
  signDigest,
  signatureScheme,
  startSign,
  startVerify,
  verify,
  verifyDigest,
} from './index.js';
import type { EncodedKey, SignatureParameters, TransparentKey } from './index.js';

const F = Enum.KeyFormatType;
const H = Enum.HashingAlgorithm;
const P = Enum.PaddingMethod;
const C = Enum.RecommendedCurve;
const DSA = Enum.DigitalSignatureAlgorithm;

const MESSAGE = Buffer.from('KMIP 2.1 section 6.1.55: the data to be signed');

const noParams: SignatureParameters = { digitalSignatureAlgorithm: undefined, padding: undefined, hash: undefined, mgfHash: undefined, saltLength: undefined, trailerField: undefined };
const params = (over: Partial<SignatureParameters>): SignatureParameters => ({ ...noParams, ...over });

function bytesOf(encoded: EncodedKey): Buffer {
  if (!Buffer.isBuffer(encoded)) throw new Error('expected DER bytes');
  return encoded;
}

function transparent(encoded: EncodedKey): TransparentKey {
  if (Buffer.isBuffer(encoded)) throw new Error('expected a transparent key');
  return encoded;
}

function reason(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    if (error instanceof KmipError) return error.reason;
    throw error;
  }
  return undefined;
}

describe('asymmetric keys, signatures and RSA encryption (against openssl)', function () {
  this.timeout(60000);
  let dir: string;
  let rsaPem: string;
  let rsaPkcs1: Buffer;
  let rsaPrivate: KeyObject;
  let rsaPublic: KeyObject;
  let ecPem: string;
  let ecPrivate: KeyObject;
  let ecPublic: KeyObject;

  const file = (name: string): string => path.join(dir, name);
  const openssl = (...args: string[]): Buffer => execFileSync('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const write = (name: string, content: Buffer | string): string => {
    writeFileSync(file(name), content);
    return file(name);
  };

  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'kmipd-asym-'));
    rsaPem = file('rsa.pem');
    openssl('genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', rsaPem);
    rsaPkcs1 = openssl('rsa', '-in', rsaPem, '-outform', 'DER', '-traditional');
    rsaPrivate = importPrivateKey(F.PKCS_1, rsaPkcs1);
    rsaPublic = createPublicKey(rsaPrivate);
    ecPem = file('ec.pem');
    openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', ecPem);
    ecPrivate = createPrivateKey(readFileSync(ecPem));
    ecPublic = createPublicKey(ecPrivate);
  });

  after(() => rmSync(dir, { recursive: true, force: true }));

  describe('key formats (2.1 section 3, 1.4 section 2.2)', () => {
    it('PKCS#1 RSA private key: the bytes openssl wrote come back unchanged, and openssl checks ours', () => {
      expect(bytesOf(exportKey(rsaPrivate, F.PKCS_1)).equals(rsaPkcs1)).to.equal(true);
      const der = write('priv-pkcs1.der', bytesOf(exportKey(rsaPrivate, F.PKCS_1)));
      expect(openssl('rsa', '-inform', 'DER', '-in', der, '-check', '-noout').toString()).to.contain('RSA key ok');
    });

    it('PKCS#8 private keys (RSA and EC) are read by openssl pkey as the same key', () => {
      for (const [key, pem] of [[rsaPrivate, rsaPem], [ecPrivate, ecPem]] as const) {
        const der = write('priv-pkcs8.der', bytesOf(exportKey(key, F.PKCS_8)));
        const theirs = openssl('pkey', '-in', pem, '-outform', 'DER');
        expect(openssl('pkey', '-inform', 'DER', '-in', der, '-outform', 'DER').equals(theirs)).to.equal(true);
      }
    });

    it('X.509 is SubjectPublicKeyInfo: openssl pkey -pubin reads it as the public key of the pair', () => {
      for (const [key, pem] of [[rsaPublic, rsaPem], [ecPublic, ecPem]] as const) {
        const der = write('pub-spki.der', bytesOf(exportKey(key, F.X_509)));
        const theirs = openssl('pkey', '-in', pem, '-pubout', '-outform', 'DER');
        expect(openssl('pkey', '-pubin', '-inform', 'DER', '-in', der, '-outform', 'DER').equals(theirs)).to.equal(true);
      }
    });

    it('PKCS#1 RSA public key: openssl rsa -RSAPublicKey_in reads it', () => {
      const der = write('pub-pkcs1.der', bytesOf(exportKey(rsaPublic, F.PKCS_1)));
      const text = openssl('rsa', '-RSAPublicKey_in', '-inform', 'DER', '-in', der, '-noout', '-text').toString();
      expect(text).to.contain('Public-Key: (2048 bit)');
      expect(text).to.contain('Exponent: 65537');
    });

    it('EC Private Key is SEC1 (RFC 5915): openssl ec reads and checks it', () => {
      const der = write('ec-sec1.der', bytesOf(exportKey(ecPrivate, F.ECPrivateKey)));
      const out = execFileSync('openssl', ['ec', '-inform', 'DER', '-in', der, '-check', '-noout'], { stdio: ['ignore', 'pipe', 'pipe'] });
      expect(out.toString()).to.equal('');
      expect(importPrivateKey(F.ECPrivateKey, readFileSync(der)).export({ format: 'der', type: 'pkcs8' }).equals(ecPrivate.export({ format: 'der', type: 'pkcs8' }))).to.equal(true);
    });

    it('Transparent RSA Private Key (2.1 section 3.7) holds the numbers openssl prints, and reads back from d alone or from p and q', () => {
      const key = transparent(exportKey(rsaPrivate, F.TransparentRSAPrivateKey));
      if (key.kind !== 'rsa-private') throw new Error('expected an RSA private key');
      const text = openssl('rsa', '-in', rsaPem, '-noout', '-text').toString();
      const number = (label: string): bigint => {
        const match = new RegExp(`^${label}:\\s*\\n((?:\\s+[0-9a-f:]+\\n)+)`, 'm').exec(text);
        return BigInt(`0x${(match?.[1] ?? '').replace(/[\s:]/g, '')}`);
      };
      expect(key.modulus).to.equal(number('modulus'));
      expect(key.privateExponent).to.equal(number('privateExponent'));
      expect(key.p).to.equal(number('prime1'));
      expect(key.q).to.equal(number('prime2'));
      expect(key.crtCoefficient).to.equal(number('coefficient'));
      expect(key.publicExponent).to.equal(65537n);
      // 2.1 section 3.7: "one of" Private Exponent, (P, Q), or the prime exponents SHALL be present.
      // From d alone the primes are recovered, in no particular order; the key signs as openssl's does.
      const signature = openssl('dgst', '-sha256', '-sign', rsaPem, write('data.bin', MESSAGE));
      const pkcs1Sha256 = signatureScheme(rsaPrivate, params({ hash: H.SHA_256 }));
      for (const partial of [
        { kind: 'rsa-private', modulus: key.modulus, publicExponent: 65537n, privateExponent: key.privateExponent ?? 0n },
        { kind: 'rsa-private', modulus: key.modulus, publicExponent: 65537n, p: key.p ?? 0n, q: key.q ?? 0n },
      ] as const) {
        const rebuilt = transparent(exportKey(importPrivateKey(F.TransparentRSAPrivateKey, partial), F.TransparentRSAPrivateKey));
        if (rebuilt.kind !== 'rsa-private') throw new Error('expected an RSA private key');
        expect(rebuilt.privateExponent).to.equal(key.privateExponent);
        expect([rebuilt.p, rebuilt.q]).to.have.members([key.p, key.q]);
        expect(sign(importPrivateKey(F.TransparentRSAPrivateKey, partial), pkcs1Sha256, MESSAGE).equals(signature)).to.equal(true);
      }
      expect(bytesOf(exportKey(importPrivateKey(F.TransparentRSAPrivateKey, key), F.PKCS_1)).equals(rsaPkcs1)).to.equal(true);
    });

    it('Transparent RSA Public Key (2.1 section 3.8): Modulus and Public Exponent', () => {
      const key = transparent(exportKey(rsaPublic, F.TransparentRSAPublicKey));
      expect(key).to.deep.include({ kind: 'rsa-public', publicExponent: 65537n });
      expect(bytesOf(exportKey(importPublicKey(F.TransparentRSAPublicKey, key), F.X_509)).equals(bytesOf(exportKey(rsaPublic, F.X_509)))).to.equal(true);
    });

    it('Transparent EC keys (2.1 sections 3.11, 3.12): Recommended Curve, D and the point Q, compressed points accepted', () => {
      const priv = transparent(exportKey(ecPrivate, F.TransparentECPrivateKey));
      const pub = transparent(exportKey(ecPublic, F.TransparentECPublicKey));
      if (priv.kind !== 'ec-private' || pub.kind !== 'ec-public') throw new Error('expected EC keys');
      expect(priv.curve).to.equal(C.P_256);
      expect(pub.q).to.have.length(65);
      expect(pub.q.readUInt8(0)).to.equal(4);
      // SPKI of a P-256 key ends with the uncompressed point.
      expect(bytesOf(exportKey(ecPublic, F.X_509)).subarray(-65).equals(pub.q)).to.equal(true);
      const fromD = importPrivateKey(F.TransparentECDSAPrivateKey, priv);
      expect(fromD.export({ format: 'der', type: 'pkcs8' }).equals(ecPrivate.export({ format: 'der', type: 'pkcs8' }))).to.equal(true);
      const y = pub.q.subarray(33);
      const compressed = Buffer.concat([Buffer.of(y.readUInt8(31) % 2 === 0 ? 2 : 3), pub.q.subarray(1, 33)]);
      const fromCompressed = importPublicKey(F.TransparentECPublicKey, { kind: 'ec-public', curve: C.P_256, q: compressed });
      expect(fromCompressed.export({ format: 'der', type: 'spki' }).equals(bytesOf(exportKey(ecPublic, F.X_509)))).to.equal(true);
    });

    it('a format that cannot hold the key is Key Format Type Not Supported; bad bytes are Invalid Field', () => {
      expect(reason(() => exportKey(ecPrivate, F.PKCS_1))).to.equal('KeyFormatTypeNotSupported');
      expect(reason(() => exportKey(rsaPublic, F.PKCS_8))).to.equal('KeyFormatTypeNotSupported');
      expect(reason(() => exportKey(rsaPrivate, F.TransparentECPrivateKey))).to.equal('KeyFormatTypeNotSupported');
      expect(reason(() => importPrivateKey(F.PKCS_1, Buffer.from('3003020100', 'hex')))).to.equal('InvalidField');
      expect(reason(() => importPublicKey(F.TransparentECPublicKey, { kind: 'ec-public', curve: C.P_256, q: Buffer.alloc(65, 4) }))).to.equal('InvalidField');
      expect(reason(() => importPrivateKey(F.TransparentRSAPrivateKey, { kind: 'rsa-private', modulus: 15n, privateExponent: 3n }))).to.equal('FeatureNotSupported');
    });

    it('every format a key family offers round-trips', () => {
      for (const [family, priv, pub] of [['RSA', rsaPrivate, rsaPublic], ['EC', ecPrivate, ecPublic]] as const) {
        for (const format of formatsFor(family, 'private')) {
          expect(importPrivateKey(format, exportKey(priv, format)).equals(priv), `${family} private ${format}`).to.equal(true);
        }
        for (const format of formatsFor(family, 'public')) {
          expect(importPublicKey(format, exportKey(pub, format)).equals(pub), `${family} public ${format}`).to.equal(true);
        }
      }
    });
  });

  describe('generation', () => {
    it('RSA: Cryptographic Length is the modulus size, the public exponent 65537; openssl checks the key', async () => {
      const pair = await generateKeyPair({ family: 'RSA', bits: 1024, publicExponent: 65537 });
      expect(keyBits(pair.privateKey)).to.equal(1024);
      expect(pair.publicKey.asymmetricKeyDetails?.publicExponent).to.equal(65537n);
      const der = write('gen.der', bytesOf(exportKey(pair.privateKey, F.PKCS_1)));
      expect(openssl('rsa', '-inform', 'DER', '-in', der, '-check', '-noout').toString()).to.contain('RSA key ok');
    });

    it('RSA lengths outside 1024..8192 and even exponents are Invalid Field', async () => {
      for (const spec of [{ bits: 512, publicExponent: 65537 }, { bits: 16384, publicExponent: 65537 }, { bits: 2048, publicExponent: 65536 }]) {
        const error = await generateKeyPair({ family: 'RSA', ...spec }).then(() => undefined, (e: unknown) => e);
        expect(error).to.be.instanceOf(KmipError).with.property('reason', 'InvalidField');
      }
    });

    it('EC: P-256, P-384 and P-521 by Recommended Curve or by Cryptographic Length', async () => {
      for (const [code, bits] of [[C.P_256, 256], [C.P_384, 384], [C.P_521, 521]] as const) {
        expect(curveByLength(bits).code).to.equal(code);
        const pair = await generateKeyPair({ family: 'EC', curve: curveByCode(code) });
        expect(keyBits(pair.publicKey)).to.equal(bits);
      }
      expect(CURVES.map((c) => c.jwk)).to.include('secp256k1');
      expect(reason(() => curveByCode(C.K_163))).to.equal('FeatureNotSupported');
      expect(reason(() => curveByLength(300))).to.equal('InvalidField');
    });
  });

  describe('signatures (2.1 sections 6.1.55, 6.1.56)', () => {
    it('RSA PKCS#1 v1.5 is deterministic: the bytes of openssl dgst -sign, for SHA-1 to SHA-512', () => {
      const data = write('data.bin', MESSAGE);
      for (const [hash, name] of [[H.SHA_1, 'sha1'], [H.SHA_256, 'sha256'], [H.SHA_384, 'sha384'], [H.SHA_512, 'sha512']] as const) {
        const theirs = openssl('dgst', `-${name}`, '-sign', rsaPem, data);
        const scheme = signatureScheme(rsaPrivate, params({ padding: P.PKCS1V1_5, hash }));
        expect(sign(rsaPrivate, scheme, MESSAGE).equals(theirs), name).to.equal(true);
        expect(verify(rsaPublic, scheme, MESSAGE, theirs)).to.equal(true);
      }
    });

    it('a Digital Signature Algorithm selects the scheme: SHA-256 with RSA is PKCS#1 v1.5 with SHA-256', () => {
      const byDsa = sign(rsaPrivate, signatureScheme(rsaPrivate, params({ digitalSignatureAlgorithm: DSA.SHA_256WithRSAEncryption })), MESSAGE);
      expect(byDsa.equals(openssl('dgst', '-sha256', '-sign', rsaPem, write('data.bin', MESSAGE)))).to.equal(true);
      expect(reason(() => signatureScheme(rsaPrivate, params({ digitalSignatureAlgorithm: DSA.ECDSAWithSHA256 })))).to.equal('BadCryptographicParameters');
      expect(reason(() => signatureScheme(rsaPrivate, params({ digitalSignatureAlgorithm: DSA.DSAWithSHA256 })))).to.equal('UnsupportedCryptographicParameters');
      expect(reason(() => signatureScheme(rsaPrivate, params({ padding: P.PKCS1V1_5 })))).to.equal('BadCryptographicParameters');
    });

    it('RSA-PSS: openssl verifies ours (salt = hash length, MGF1 with another hash too), and we verify openssl\'s (maximum salt)', () => {
      const data = write('data.bin', MESSAGE);
      const pub = write('rsa-pub.pem', rsaPublic.export({ format: 'pem', type: 'spki' }));
      for (const [hash, mgfHash, name, mgfName] of [[H.SHA_256, undefined, 'sha256', 'sha256'], [H.SHA_384, H.SHA_1, 'sha384', 'sha1']] as const) {
        const scheme = signatureScheme(rsaPrivate, params({ padding: P.PSS, hash, mgfHash }));
        const ours = write('pss.sig', sign(rsaPrivate, scheme, MESSAGE));
        const saltLength = createHash(name).digest().length;
        const check = openssl('dgst', `-${name}`, '-sigopt', 'rsa_padding_mode:pss', '-sigopt', `rsa_mgf1_md:${mgfName}`, '-sigopt', `rsa_pss_saltlen:${saltLength}`, '-verify', pub, '-signature', ours, data);
        expect(check.toString()).to.contain('Verified OK');
        const theirs = openssl('dgst', `-${name}`, '-sigopt', 'rsa_padding_mode:pss', '-sigopt', `rsa_mgf1_md:${mgfName}`, '-sigopt', 'rsa_pss_saltlen:max', '-sign', rsaPem, data);
        expect(verify(rsaPublic, scheme, MESSAGE, theirs), `${name} openssl signature`).to.equal(true);
        // A Salt Length the client states must be the one used.
        expect(verify(rsaPublic, signatureScheme(rsaPublic, params({ padding: P.PSS, hash, mgfHash, saltLength: 20 })), MESSAGE, theirs)).to.equal(false);
      }
    });

    it('PSS with the largest salt for the key (2048 bits, SHA-256: 222 bytes, the OASIS CS-AC-M-1 key) signs; one byte more is refused', () => {
      const scheme = signatureScheme(rsaPrivate, params({ padding: P.PSS, hash: H.SHA_256, saltLength: 222 }));
      expect(verify(rsaPublic, scheme, MESSAGE, sign(rsaPrivate, scheme, MESSAGE))).to.equal(true);
      expect(reason(() => sign(rsaPrivate, signatureScheme(rsaPrivate, params({ padding: P.PSS, hash: H.SHA_256, saltLength: 223 })), MESSAGE))).to.equal('BadCryptographicParameters');
    });

    it('ECDSA: DER signatures openssl verifies, and openssl\'s verify here; the hash follows the curve when none is named', () => {
      const data = write('data.bin', MESSAGE);
      const pub = write('ec-pub.pem', ecPublic.export({ format: 'pem', type: 'spki' }));
      const scheme = signatureScheme(ecPrivate, noParams);
      expect(scheme).to.deep.equal({ kind: 'ecdsa', hash: H.SHA_256 });
      const ours = write('ec.sig', sign(ecPrivate, scheme, MESSAGE));
      expect(openssl('dgst', '-sha256', '-verify', pub, '-signature', ours, data).toString()).to.contain('Verified OK');
      const theirs = openssl('dgst', '-sha256', '-sign', ecPem, data);
      expect(verify(ecPublic, scheme, MESSAGE, theirs)).to.equal(true);
      expect(verify(ecPublic, signatureScheme(ecPublic, params({ hash: H.SHA_1 })), MESSAGE, theirs)).to.equal(false);
      expect(verify(ecPublic, scheme, MESSAGE, Buffer.from('not DER'))).to.equal(false);
    });

    it('Digested Data: signing the digest gives the signature of the data; ECDSA refuses it', () => {
      const pkcs1 = signatureScheme(rsaPrivate, params({ hash: H.SHA_256 }));
      const digest = createHash('sha256').update(MESSAGE).digest();
      expect(signDigest(rsaPrivate, pkcs1, digest).equals(sign(rsaPrivate, pkcs1, MESSAGE))).to.equal(true);
      const pss = signatureScheme(rsaPrivate, params({ padding: P.PSS, hash: H.SHA_256 }));
      expect(verify(rsaPublic, pss, MESSAGE, signDigest(rsaPrivate, pss, digest))).to.equal(true);
      expect(verifyDigest(rsaPublic, pss, digest, sign(rsaPrivate, pss, MESSAGE))).to.equal(true);
      expect(reason(() => signDigest(rsaPrivate, pkcs1, digest.subarray(1)))).to.equal('InvalidField');
      expect(reason(() => signDigest(ecPrivate, signatureScheme(ecPrivate, noParams), digest))).to.equal('FeatureNotSupported');
    });

    it('data in parts gives the signature of the whole', () => {
      for (const [priv, pub, over] of [[rsaPrivate, rsaPublic, { hash: H.SHA_256 }], [ecPrivate, ecPublic, {}]] as const) {
        const scheme = signatureScheme(priv, params(over));
        const signer = startSign(scheme);
        signer.update(MESSAGE.subarray(0, 10));
        signer.update(MESSAGE.subarray(10));
        const signature = signer.final(priv);
        expect(verify(pub, scheme, MESSAGE, signature)).to.equal(true);
        const verifier = startVerify(scheme);
        verifier.update(MESSAGE.subarray(0, 3));
        verifier.update(MESSAGE.subarray(3));
        expect(verifier.final(pub, signature)).to.equal(true);
      }
    });

    it('a changed message, a changed or truncated signature are Invalid, not errors', () => {
      for (const padding of [P.PKCS1V1_5, P.PSS]) {
        const scheme = signatureScheme(rsaPrivate, params({ padding, hash: H.SHA_256 }));
        const signature = sign(rsaPrivate, scheme, MESSAGE);
        const flipped = Buffer.from(signature);
        flipped.writeUInt8(flipped.readUInt8(100) ^ 1, 100);
        expect(verify(rsaPublic, scheme, Buffer.from('other data'), signature)).to.equal(false);
        expect(verify(rsaPublic, scheme, MESSAGE, flipped)).to.equal(false);
        expect(verify(rsaPublic, scheme, MESSAGE, signature.subarray(1))).to.equal(false);
        expect(verify(rsaPublic, scheme, MESSAGE, Buffer.alloc(256, 0xff))).to.equal(false);
      }
    });
  });

  describe('RSA encryption (2.1 sections 6.1.17, 6.1.11)', () => {
    const oaep = (hash: number, mgfHash?: number, label?: Buffer) => rsaEncryptionScheme({ padding: P.OAEP, hash, mgfHash, pSource: label });

    it('OAEP decrypts what openssl pkeyutl encrypted: one hash, and SHA-384 with MGF1-SHA-256 and a label', () => {
      const data = write('plain.bin', Buffer.from('a data encryption key, 32 bytes!'));
      const pub = write('rsa-pub.pem', rsaPublic.export({ format: 'pem', type: 'spki' }));
      const cases = [
        [H.SHA_256, H.SHA_256, 'sha256', 'sha256', undefined],
        [H.SHA_384, H.SHA_256, 'sha384', 'sha256', Buffer.from('Kilroy was here')],
        [H.SHA_1, undefined, 'sha1', 'sha1', undefined],
      ] as const;
      for (const [hash, mgfHash, name, mgfName, label] of cases) {
        const args = ['pkeyutl', '-encrypt', '-pubin', '-inkey', pub, '-in', data, '-pkeyopt', 'rsa_padding_mode:oaep', '-pkeyopt', `rsa_oaep_md:${name}`, '-pkeyopt', `rsa_mgf1_md:${mgfName}`];
        if (label !== undefined) args.push('-pkeyopt', `rsa_oaep_label:${label.toString('hex')}`);
        const ciphertext = openssl(...args);
        expect(rsaDecrypt(rsaPrivate, oaep(hash, mgfHash, label), ciphertext).toString(), name).to.equal('a data encryption key, 32 bytes!');
      }
    });

    it('OAEP ciphertext made here is decrypted by openssl pkeyutl, with MGF1 of the same or another hash', () => {
      for (const [hash, mgfHash, name, mgfName] of [[H.SHA_256, H.SHA_256, 'sha256', 'sha256'], [H.SHA_512, H.SHA_256, 'sha512', 'sha256']] as const) {
        const ciphertext = write('cipher.bin', rsaEncrypt(rsaPublic, oaep(hash, mgfHash), MESSAGE));
        const plain = openssl('pkeyutl', '-decrypt', '-inkey', rsaPem, '-in', ciphertext, '-pkeyopt', 'rsa_padding_mode:oaep', '-pkeyopt', `rsa_oaep_md:${name}`, '-pkeyopt', `rsa_mgf1_md:${mgfName}`);
        expect(plain.equals(MESSAGE), name).to.equal(true);
        expect(rsaDecrypt(rsaPrivate, oaep(hash, mgfHash), readFileSync(ciphertext)).equals(MESSAGE)).to.equal(true);
      }
    });

    it('OAEP with the wrong label, hash or key fails as one Cryptographic Failure', () => {
      const ciphertext = rsaEncrypt(rsaPublic, oaep(H.SHA_384, H.SHA_256, Buffer.from('label')), MESSAGE);
      expect(reason(() => rsaDecrypt(rsaPrivate, oaep(H.SHA_384, H.SHA_256, Buffer.from('other')), ciphertext))).to.equal('CryptographicFailure');
      expect(reason(() => rsaDecrypt(rsaPrivate, oaep(H.SHA_384, H.SHA_1, Buffer.from('label')), ciphertext))).to.equal('CryptographicFailure');
      expect(reason(() => rsaDecrypt(rsaPrivate, oaep(H.SHA_256), rsaEncrypt(rsaPublic, oaep(H.SHA_1), MESSAGE)))).to.equal('CryptographicFailure');
      expect(reason(() => rsaDecrypt(rsaPrivate, oaep(H.SHA_256), ciphertext.subarray(1)))).to.equal('CryptographicFailure');
    });

    it('OAEP refuses data longer than the key and hash allow (k - 2hLen - 2 bytes)', () => {
      expect(rsaEncrypt(rsaPublic, oaep(H.SHA_256), Buffer.alloc(190))).to.have.length(256);
      expect(reason(() => rsaEncrypt(rsaPublic, oaep(H.SHA_256), Buffer.alloc(191)))).to.equal('InvalidField');
    });

    it('PKCS#1 v1.5 encrypts (openssl decrypts it) but does not decrypt here: the Marvin timing attack', () => {
      const scheme = rsaEncryptionScheme({ padding: P.PKCS1V1_5, hash: undefined, mgfHash: undefined, pSource: undefined });
      const ciphertext = write('cipher.bin', rsaEncrypt(rsaPublic, scheme, MESSAGE));
      expect(openssl('pkeyutl', '-decrypt', '-inkey', rsaPem, '-in', ciphertext).equals(MESSAGE)).to.equal(true);
      expect(reason(() => rsaDecrypt(rsaPrivate, scheme, readFileSync(ciphertext)))).to.equal('UnsupportedCryptographicParameters');
    });

    it('RSA encryption needs a Padding Method; PSS or None are no encryption paddings', () => {
      expect(reason(() => rsaEncryptionScheme({ padding: undefined, hash: undefined, mgfHash: undefined, pSource: undefined }))).to.equal('BadCryptographicParameters');
      expect(reason(() => rsaEncryptionScheme({ padding: P.PSS, hash: undefined, mgfHash: undefined, pSource: undefined }))).to.equal('UnsupportedCryptographicParameters');
      expect(reason(() => rsaEncryptionScheme({ padding: P.None, hash: undefined, mgfHash: undefined, pSource: undefined }))).to.equal('UnsupportedCryptographicParameters');
    });
  });
});
