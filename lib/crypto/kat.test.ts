/**
 * Known-answer tests: public vectors (NIST CAVP, the RFCs, IEEE 1619 through CAVP XTSVS,
 * PKCS #1 v2.1, Wycheproof) for every algorithm kmipd exposes, run through kmipd's own code
 * (cipher.ts, kek.ts, mac.ts, derive.ts, signature.ts, rsa.ts, asymmetric.ts), never straight
 * through node:crypto, so a bug in how kmipd drives node (names, IVs, tag lengths, padding,
 * counters, key import) fails here. The vectors live in test/vectors/*.json, each with the
 * document it was transcribed from.
 */
import { verify as nodeVerify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { Enum } from '../../ttlv/index.js';
import { KmipError } from '../errors.js';
import { decrypt, encrypt, unwrapKey, wrapKey } from './cipher.js';
import type { CipherParameters } from './cipher.js';
import { cmacPrf, deriveBytes, hkdf, hmacPrf, pbkdf2Bytes, sp800108 } from './derive.js';
import { aesKeyUnwrapPad, aesKeyWrapPad } from './kek.js';
import { digest, mac } from './mac.js';
import { importPrivateKey, importPublicKey } from './asymmetric.js';
import { rsaDecrypt, rsaEncryptionScheme } from './rsa.js';
import { sign, signatureScheme, verify } from './signature.js';
import type { SignatureParameters } from './signature.js';

const A = Enum.CryptographicAlgorithm;
const M = Enum.BlockCipherMode;
const H = Enum.HashingAlgorithm;
const F = Enum.KeyFormatType;
const D = Enum.DerivationMethod;

const VECTORS = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'test', 'vectors');
function load<T>(name: string): T {
  return JSON.parse(readFileSync(path.join(VECTORS, name), 'utf8')) as T;
}
const hex = (s: string | null | undefined): Buffer => Buffer.from(s ?? '', 'hex');
const enumValue = <T extends Record<string, number>>(values: T, name: string): number => {
  const value = values[name];
  if (value === undefined) throw new Error(`no enumeration value ${name}`);
  return value;
};

function params(algorithm: number, mode: number | undefined, tagLength?: number): CipherParameters {
  return { algorithm, mode, padding: undefined, tagLength, randomIv: undefined, ivLength: undefined };
}

interface CipherVector {
  source: string;
  direction: 'encrypt' | 'decrypt';
  key: string;
  iv: string;
  plaintext: string | null;
  ciphertext: string;
  aad?: string;
  tag?: string;
}

/** Encrypt gives the ciphertext (and tag), Decrypt gives the plaintext back; a vector without plaintext must fail to decrypt. */
function checkCipher(v: CipherVector, p: CipherParameters, iv: Buffer | undefined = v.iv === '' ? undefined : hex(v.iv)): void {
  const aad = v.aad === undefined || v.aad === '' ? undefined : hex(v.aad);
  const tag = v.tag === undefined ? undefined : hex(v.tag);
  if (v.plaintext === null) {
    expect(() => decrypt({ key: hex(v.key), params: p, data: hex(v.ciphertext), iv, aad, tag }), v.source).to.throw(KmipError, /authentication failed/);
    return;
  }
  if (v.direction === 'encrypt') {
    const out = encrypt({ key: hex(v.key), params: p, data: hex(v.plaintext), iv, aad });
    expect(out.data.toString('hex'), v.source).to.equal(v.ciphertext.toLowerCase());
    if (tag !== undefined) expect(out.tag?.toString('hex'), `${v.source} tag`).to.equal(tag.toString('hex'));
    expect(out.generatedIv, `${v.source}: the IV given is the IV used`).to.equal(undefined);
  }
  expect(decrypt({ key: hex(v.key), params: p, data: hex(v.ciphertext), iv, aad, tag }).toString('hex'), v.source).to.equal(v.plaintext.toLowerCase());
}

describe('known-answer tests (public vectors through kmipd\'s crypto code)', () => {
  describe('AES modes (lib/crypto/cipher.ts)', () => {
    const aes = load<Record<string, CipherVector[]>>('aes.json');
    const modes: [string, number, string][] = [
      ['ecb', M.ECB, 'SP 800-38A ECB'],
      ['cbc', M.CBC, 'SP 800-38A CBC'],
      ['cfb128', M.CFB, 'SP 800-38A CFB128'],
      ['ofb', M.OFB, 'SP 800-38A OFB'],
      ['ctr', M.CTR, 'SP 800-38A CTR (RFC 3686 counter blocks)'],
      ['xts', M.XTS, 'XTS-AES (IEEE 1619)'],
    ];
    for (const [name, mode, title] of modes) {
      it(`${title}: ${aes[name]?.length ?? 0} vectors`, () => {
        const vectors = aes[name] ?? [];
        expect(vectors).to.not.be.empty;
        for (const v of vectors) checkCipher(v, params(A.AES, mode));
      });
    }

    it('GCM (SP 800-38D, CAVP GCMVS): 96-bit IVs, tags of 128, 96 and 32 bits, with and without AAD; a changed tag fails', () => {
      const vectors = aes.gcm ?? [];
      expect(vectors.filter((v) => v.plaintext === null)).to.have.length.above(0);
      for (const v of vectors) checkCipher(v, params(A.AES, M.GCM, hex(v.tag).length));
    });

    it('CCM (SP 800-38C, CAVP CCMVS): nonces of 7 to 13 bytes, tags of 4 to 16 bytes, with and without AAD', () => {
      const vectors = aes.ccm ?? [];
      expect(vectors).to.have.length.above(3);
      for (const v of vectors) checkCipher(v, params(A.AES, M.CCM, hex(v.tag).length));
    });
  });

  it('Triple-DES, keying options 1 and 2, ECB and CBC (NIST CAVP TDES, SP 800-67)', () => {
    const { vectors } = load<{ vectors: (CipherVector & { mode: string })[] }>('tdes.json');
    expect(vectors.some((v) => v.key.length === 32)).to.equal(true);
    for (const v of vectors) checkCipher(v, params(A.DES3, v.mode === 'ecb' ? M.ECB : M.CBC));
  });

  describe('ChaCha20 and ChaCha20-Poly1305 (RFC 8439)', () => {
    const chacha = load<{
      chacha20: { source: string; key: string; nonce: string; counter: number; plaintext: string; ciphertext: string }[];
      chacha20poly1305: { source: string; key: string; nonce: string; aad: string; plaintext: string; ciphertext: string; tag: string }[];
    }>('chacha20.json');

    it('ChaCha20: a 12-byte nonce starts at block 0; a 16-byte IV carries the little-endian block counter first', () => {
      for (const v of chacha.chacha20) {
        const counter = Buffer.alloc(4);
        counter.writeUInt32LE(v.counter);
        const iv = v.counter === 0 ? hex(v.nonce) : Buffer.concat([counter, hex(v.nonce)]);
        checkCipher({ ...v, direction: 'encrypt', iv: iv.toString('hex') }, params(A.ChaCha20, undefined));
      }
    });

    it('ChaCha20-Poly1305 AEAD (appendix A.5), and a changed tag fails', () => {
      for (const v of chacha.chacha20poly1305) {
        checkCipher({ ...v, direction: 'encrypt', iv: v.nonce }, params(A.ChaCha20Poly1305, undefined, 16));
        const bad = Buffer.from(hex(v.tag));
        bad.writeUInt8(bad.readUInt8(0) ^ 1, 0);
        checkCipher({ ...v, direction: 'decrypt', iv: v.nonce, plaintext: null, tag: bad.toString('hex') }, params(A.ChaCha20Poly1305, undefined, 16));
      }
    });
  });

  it('AES key wrap: RFC 3394 / SP 800-38F KW and RFC 5649 / KWP, wrap and unwrap (cipher.ts and the KEK in kek.ts); a corrupted value fails', () => {
    const { vectors } = load<{ vectors: { source: string; mode: 'kw' | 'kwp'; direction: string; kek: string; plaintext: string | null; wrapped: string }[] }>('keywrap.json');
    expect(vectors.filter((v) => v.plaintext === null)).to.have.length.above(0);
    for (const v of vectors) {
      const mode = v.mode === 'kw' ? M.NISTKeyWrap : M.AESKeyWrapPadding;
      if (v.plaintext === null) {
        expect(() => unwrapKey(hex(v.kek), mode, hex(v.wrapped)), v.source).to.throw(KmipError);
        if (v.mode === 'kwp') expect(() => aesKeyUnwrapPad(hex(v.kek), hex(v.wrapped)), v.source).to.throw();
        continue;
      }
      expect(wrapKey(hex(v.kek), mode, hex(v.plaintext)).toString('hex'), v.source).to.equal(v.wrapped);
      expect(unwrapKey(hex(v.kek), mode, hex(v.wrapped)).toString('hex'), v.source).to.equal(v.plaintext);
      if (v.mode === 'kwp' && hex(v.kek).length !== 24) {
        expect(aesKeyWrapPad(hex(v.kek), hex(v.plaintext)).toString('hex'), `${v.source} (KEK)`).to.equal(v.wrapped);
        expect(aesKeyUnwrapPad(hex(v.kek), hex(v.wrapped)).toString('hex'), `${v.source} (KEK)`).to.equal(v.plaintext);
      }
    }
  });

  describe('MACs (lib/crypto/mac.ts)', () => {
    const macs = load<{
      hmac: { source: string; algorithm: string; key: string; message: string; mac: string; truncate?: number }[];
      cmac: { source: string; key: string; message: string; mac: string }[];
    }>('mac.json');

    it('HMAC-SHA-1 (RFC 2202) and HMAC-SHA-224/256/384/512 (RFC 4231)', () => {
      for (const v of macs.hmac) {
        const out = mac(enumValue(A, v.algorithm), undefined, hex(v.key), hex(v.message));
        expect(out.subarray(0, v.truncate ?? out.length).toString('hex'), v.source).to.equal(v.mac);
      }
    });

    it('AES-CMAC with 128, 192 and 256-bit keys (SP 800-38B appendix D, RFC 4493)', () => {
      for (const v of macs.cmac) {
        expect(mac(A.AES, M.CMAC, hex(v.key), hex(v.message)).toString('hex'), v.source).to.equal(v.mac);
        expect(mac(A.AES, undefined, hex(v.key), hex(v.message)).toString('hex'), `${v.source}, mode left out`).to.equal(v.mac);
      }
    });
  });

  it('SHA-1, SHA-2 (FIPS 180-4) and SHA-3 (FIPS 202) short messages (CAVP SHAVS)', () => {
    const { vectors } = load<{ vectors: { source: string; algorithm: string; message: string; digest: string }[] }>('hash.json');
    expect(new Set(vectors.map((v) => v.algorithm)).size).to.equal(11);
    for (const v of vectors) expect(digest(enumValue(H, v.algorithm), hex(v.message)).toString('hex'), v.source).to.equal(v.digest);
  });

  describe('key derivation (lib/crypto/derive.ts)', () => {
    const kdf = load<{
      pbkdf2: { source: string; hash: string; password: string; salt: string; iterations: number; derived: string }[];
      hkdf: { source: string; hash: string; ikm: string; salt: string; info: string; length: number; okm: string }[];
      kbkdf_counter: { source: string; prf: string; ki: string; fixed: string; bits: number; ko: string }[];
      kbkdf_chained: { source: string; mode: string; prf: string; ki: string; iv: string; fixed: string; bits: number; ko: string }[];
    }>('kdf.json');

    it('PBKDF2 with HMAC-SHA-1 (RFC 6070) and HMAC-SHA-256 (RFC 7914 section 11)', async () => {
      for (const v of kdf.pbkdf2) {
        const out = await pbkdf2Bytes(enumValue(H, v.hash), hex(v.password), hex(v.salt), v.iterations, hex(v.derived).length);
        expect(out.toString('hex'), v.source).to.equal(v.derived);
      }
    });

    it('PBKDF2 through the Derive Key dispatcher: SHA-1 by default, the Hashing Algorithm when named', async () => {
      for (const v of kdf.pbkdf2.filter((x) => x.iterations <= 4096)) {
        const out = await deriveBytes({
          method: D.PBKDF2,
          key: hex(v.password),
          keyAlgorithm: undefined,
          data: [],
          salt: hex(v.salt),
          iterations: v.iterations,
          iv: undefined,
          params: { hash: v.hash === 'SHA_1' ? undefined : enumValue(H, v.hash), algorithm: undefined, mode: undefined, padding: undefined },
          length: hex(v.derived).length,
        });
        expect(out.toString('hex'), v.source).to.equal(v.derived);
      }
    });

    it('HKDF with SHA-256 and SHA-1 (RFC 5869 appendix A), directly and through the dispatcher', async () => {
      for (const v of kdf.hkdf) {
        const hash = enumValue(H, v.hash);
        expect(hkdf(hash, hex(v.ikm), hex(v.salt), hex(v.info), v.length).toString('hex'), v.source).to.equal(v.okm);
        const out = await deriveBytes({
          method: D.HKDF,
          key: hex(v.ikm),
          keyAlgorithm: undefined,
          data: v.info === '' ? [] : [hex(v.info)],
          salt: v.salt === '' ? undefined : hex(v.salt),
          iterations: undefined,
          iv: undefined,
          params: { hash: v.hash === 'SHA_256' ? undefined : hash, algorithm: undefined, mode: undefined, padding: undefined },
          length: v.length,
        });
        expect(out.toString('hex'), `${v.source} (Derive Key)`).to.equal(v.okm);
      }
    });

    it('SP 800-108 counter mode, 32-bit counter before the fixed input, HMAC and CMAC-AES PRFs (CAVP KBKDF)', async () => {
      expect(kdf.kbkdf_counter.some((v) => v.prf.startsWith('CMAC'))).to.equal(true);
      for (const v of kdf.kbkdf_counter) {
        const cmac = v.prf.startsWith('CMAC');
        const prf = cmac ? cmacPrf(hex(v.ki)) : hmacPrf(enumValue(H, v.prf.replace('HMAC_SHA', 'SHA_')), hex(v.ki));
        expect(sp800108(D.NIST800_108_C, prf, hex(v.fixed), Buffer.alloc(0), v.bits / 8).toString('hex'), v.source).to.equal(v.ko);
        const out = await deriveBytes({
          method: D.NIST800_108_C,
          key: hex(v.ki),
          keyAlgorithm: cmac ? A.AES : undefined,
          data: [hex(v.fixed)],
          salt: undefined,
          iterations: undefined,
          iv: undefined,
          params: { hash: cmac ? undefined : enumValue(H, v.prf.replace('HMAC_SHA', 'SHA_')), algorithm: undefined, mode: undefined, padding: undefined },
          length: v.bits / 8,
        });
        expect(out.toString('hex'), `${v.source} (Derive Key)`).to.equal(v.ko);
      }
    });
    it('SP 800-108 feedback (IV as K(0)) and double-pipeline modes, 32-bit counter after the chaining value (CAVP KBKDF)', async () => {
      for (const v of kdf.kbkdf_chained) {
        const method = v.mode === 'feedback' ? D.NIST800_108_F : D.NIST800_108_DPI;
        const out = await deriveBytes({
          method,
          key: hex(v.ki),
          keyAlgorithm: A.HMAC_SHA256,
          data: [hex(v.fixed)],
          salt: undefined,
          iterations: undefined,
          iv: v.iv === '' ? undefined : hex(v.iv),
          params: { hash: undefined, algorithm: undefined, mode: undefined, padding: undefined },
          length: v.bits / 8,
        });
        expect(out.toString('hex'), v.source).to.equal(v.ko);
      }
    });
  });

  describe('signature verification (lib/crypto/signature.ts, keys imported by asymmetric.ts)', () => {
    interface RsaVector {
      source: string;
      hash: string;
      n: string;
      e: string;
      message: string;
      signature: string;
      valid: boolean;
      saltLength?: number;
    }
    const sigs = load<{
      rsa_pkcs1v15: RsaVector[];
      rsa_pss: RsaVector[];
      ecdsa_p256: { source: string; message: string; qx: string; qy: string; r: string; s: string; valid: boolean }[];
      ed25519: { source: string; publicKey: string; message: string; signature: string; valid: boolean }[];
    }>('signatures.json');
    const signatureParams = (p: Partial<SignatureParameters>): SignatureParameters => ({
      digitalSignatureAlgorithm: undefined,
      padding: undefined,
      hash: undefined,
      mgfHash: undefined,
      saltLength: undefined,
      trailerField: undefined,
      ...p,
    });
    const rsaKey = (v: RsaVector): ReturnType<typeof importPublicKey> =>
      importPublicKey(F.TransparentRSAPublicKey, { kind: 'rsa-public', modulus: BigInt(`0x${v.n}`), publicExponent: BigInt(`0x${v.e}`) });

    it('RSA PKCS#1 v1.5, 2048-bit, SHA-1/256/512 (CAVP FIPS 186-3 SigVer15): valid ones verify, altered ones do not', () => {
      expect(sigs.rsa_pkcs1v15.filter((v) => !v.valid)).to.have.length.above(0);
      for (const v of sigs.rsa_pkcs1v15) {
        const key = rsaKey(v);
        const scheme = signatureScheme(key, signatureParams({ padding: Enum.PaddingMethod.PKCS1V1_5, hash: enumValue(H, v.hash) }));
        expect(verify(key, scheme, hex(v.message), hex(v.signature)), v.source).to.equal(v.valid);
      }
    });

    it('RSASSA-PSS, 2048-bit, SHA-1/256/512, MGF1 with the message hash (CAVP FIPS 186-3 SigVerPSS)', () => {
      for (const v of sigs.rsa_pss) {
        const key = rsaKey(v);
        for (const saltLength of [v.saltLength, undefined]) {
          const scheme = signatureScheme(key, signatureParams({ padding: Enum.PaddingMethod.PSS, hash: enumValue(H, v.hash), saltLength }));
          expect(verify(key, scheme, hex(v.message), hex(v.signature)), `${v.source}, salt ${saltLength ?? 'recovered'}`).to.equal(v.valid);
        }
      }
    });

    it('ECDSA P-256 with SHA-256 (CAVP FIPS 186-3 SigVer), signatures DER-encoded (X9.62)', () => {
      for (const v of sigs.ecdsa_p256) {
        const key = importPublicKey(F.TransparentECPublicKey, { kind: 'ec-public', curve: Enum.RecommendedCurve.P_256, q: Buffer.concat([Buffer.from([4]), hex(v.qx), hex(v.qy)]) });
        const scheme = signatureScheme(key, signatureParams({ hash: H.SHA_256 }));
        expect(verify(key, scheme, hex(v.message), derSignature(hex(v.r), hex(v.s))), v.source).to.equal(v.valid);
      }
    });

    it('Ed25519 (RFC 8032 section 7.1): the signatures verify, and a changed message does not', () => {
      for (const v of sigs.ed25519) {
        const key = importPublicKey(F.Raw, hex(v.publicKey), A.Ed25519);
        const scheme = signatureScheme(key, signatureParams({}));
        expect(verify(key, scheme, hex(v.message), hex(v.signature)), v.source).to.equal(true);
        expect(verify(key, scheme, Buffer.concat([hex(v.message), Buffer.from([0])]), hex(v.signature)), `${v.source}, altered`).to.equal(false);
      }
    });
  });

  describe('Ed448 (RFC 8032 section 7.4; lib/crypto/signature.ts, Raw keys imported by asymmetric.ts)', () => {
    const { ed448 } = load<{ ed448: { source: string; secretKey: string; publicKey: string; message: string; context?: string; signature: string }[] }>('ed448.json');
    const noParams: SignatureParameters = { digitalSignatureAlgorithm: undefined, padding: undefined, hash: undefined, mgfHash: undefined, saltLength: undefined, trailerField: undefined };

    it('signs each message to exactly the RFC\'s signature (Ed448 is deterministic), which verifies; a changed message does not', () => {
      const plain = ed448.filter((v) => v.context === undefined);
      expect(plain).to.have.length(8);
      for (const v of plain) {
        const privateKey = importPrivateKey(F.Raw, hex(v.secretKey), A.Ed448);
        const publicKey = importPublicKey(F.Raw, hex(v.publicKey), A.Ed448);
        expect(sign(privateKey, signatureScheme(privateKey, noParams), hex(v.message)).toString('hex'), v.source).to.equal(v.signature);
        const scheme = signatureScheme(publicKey, noParams);
        expect(verify(publicKey, scheme, hex(v.message), hex(v.signature)), v.source).to.equal(true);
        expect(verify(publicKey, scheme, Buffer.concat([hex(v.message), Buffer.from([0])]), hex(v.signature)), `${v.source}, altered`).to.equal(false);
      }
    });

    it('a signature made under a context (the "1 octet (with context)" vector) is not a plain Ed448 signature: kmipd signs and verifies with the empty context', () => {
      const withContext = ed448.filter((v) => v.context !== undefined);
      expect(withContext).to.have.length(1);
      for (const v of withContext) {
        const publicKey = importPublicKey(F.Raw, hex(v.publicKey), A.Ed448);
        expect(verify(publicKey, signatureScheme(publicKey, noParams), hex(v.message), hex(v.signature)), v.source).to.equal(false);
      }
    });
  });

  describe('ECDSA on P-384 and P-521 (lib/crypto/signature.ts, Transparent EC keys imported by asymmetric.ts)', () => {
    interface RfcKey {
      source: string;
      curve: string;
      x: string;
      ux: string;
      uy: string;
      signatures: { source: string; hash: string; message: string; r: string; s: string }[];
    }
    const ecdsa = load<{
      cavp: { source: string; curve: string; hash: string; message: string; qx: string; qy: string; r: string; s: string; valid: boolean }[];
      rfc6979: RfcKey[];
    }>('ecdsa-p384-p521.json');
    const withHash = (hash: number | undefined): SignatureParameters => ({ digitalSignatureAlgorithm: undefined, padding: undefined, hash, mgfHash: undefined, saltLength: undefined, trailerField: undefined });
    const publicKeyOf = (curve: string, x: string, y: string): ReturnType<typeof importPublicKey> =>
      importPublicKey(F.TransparentECPublicKey, { kind: 'ec-public', curve: enumValue(Enum.RecommendedCurve, curve), q: Buffer.concat([Buffer.from([4]), hex(x), hex(y)]) });
    /** The curve's own hash, which kmipd takes when the request names none (SP 800-57 part 1, table 3). */
    const CURVE_HASH: Record<string, string> = { P_384: 'SHA_384', P_521: 'SHA_512' };
    const NODE_HASH: Record<string, string> = { SHA_256: 'sha256', SHA_384: 'sha384', SHA_512: 'sha512' };

    it('CAVP FIPS 186-3 SigVer, P-384 and P-521 with SHA-256, SHA-384, SHA-512: Result P verifies; message, R, S or Q changed does not', () => {
      expect(ecdsa.cavp.filter((v) => v.valid)).to.have.length(12);
      expect(ecdsa.cavp.filter((v) => !v.valid)).to.have.length(48);
      for (const v of ecdsa.cavp) {
        const key = publicKeyOf(v.curve, v.qx, v.qy);
        const scheme = signatureScheme(key, withHash(enumValue(H, v.hash)));
        expect(verify(key, scheme, hex(v.message), derSignature(hex(v.r), hex(v.s))), v.source).to.equal(v.valid);
      }
    });

    it('RFC 6979 appendix A.2.6 and A.2.7 signatures verify; with no hash named, the curve\'s own hash is taken; another message does not verify', () => {
      let defaulted = 0;
      for (const k of ecdsa.rfc6979) {
        const key = publicKeyOf(k.curve, k.ux, k.uy);
        for (const s of k.signatures) {
          const signature = derSignature(hex(s.r), hex(s.s));
          const message = Buffer.from(s.message, 'ascii');
          expect(verify(key, signatureScheme(key, withHash(enumValue(H, s.hash))), message, signature), s.source).to.equal(true);
          expect(verify(key, signatureScheme(key, withHash(enumValue(H, s.hash))), Buffer.from(`${s.message}!`), signature), `${s.source}, altered`).to.equal(false);
          if (CURVE_HASH[k.curve] === s.hash) {
            expect(verify(key, signatureScheme(key, withHash(undefined)), message, signature), `${s.source}, hash left out`).to.equal(true);
            defaulted++;
          }
        }
      }
      expect(defaulted, 'a vector with the curve\'s own hash for each curve').to.equal(2);
    });

    it('signs with the RFC 6979 private key (Transparent EC Private Key, D only): node:crypto verifies the signature with the RFC\'s public key (Ux, Uy)', () => {
      for (const k of ecdsa.rfc6979) {
        const privateKey = importPrivateKey(F.TransparentECPrivateKey, { kind: 'ec-private', curve: enumValue(Enum.RecommendedCurve, k.curve), d: BigInt(`0x${k.x}`) });
        const jwk = { kty: 'EC', crv: k.curve.replace('_', '-'), x: hex(k.ux).toString('base64url'), y: hex(k.uy).toString('base64url') };
        for (const [hashName, params] of [...Object.keys(NODE_HASH).map((h) => [h, withHash(enumValue(H, h))] as const), [CURVE_HASH[k.curve] ?? '', withHash(undefined)] as const]) {
          const message = Buffer.from(`kmipd ${k.curve} ${hashName}`);
          const signature = sign(privateKey, signatureScheme(privateKey, params), message);
          expect(nodeVerify(NODE_HASH[hashName] ?? '', message, { key: jwk, format: 'jwk', dsaEncoding: 'der' }, signature), `${k.source}, ${hashName}${params.hash === undefined ? ' (defaulted)' : ''}`).to.equal(true);
        }
      }
    });
  });

  describe('RSA-OAEP decryption (lib/crypto/rsa.ts, keys imported by asymmetric.ts)', () => {
    interface OaepKey {
      source: string;
      bits: number;
      key: { n: string; e: string; d: string; p: string; q: string; dp: string; dq: string; qinv: string };
      examples: { source: string; message: string; seed: string; ciphertext: string }[];
    }
    interface WycheproofGroup {
      source: string;
      hash: string;
      mgfHash: string;
      privateKeyPkcs8: string;
      tests: { source: string; message: string; ciphertext: string; label: string; valid: boolean }[];
    }
    const oaep = load<{ pkcs1v21: OaepKey[]; wycheproof: WycheproofGroup[] }>('rsa-oaep.json');
    const big = (h: string): bigint => BigInt(`0x${h}`);
    /** OAEP as the Decrypt operation builds it from Cryptographic Parameters (Padding Method OAEP, the hashes, P Source). */
    const oaepScheme = (hash: number | undefined, mgfHash: number | undefined, label: Buffer | undefined): ReturnType<typeof rsaEncryptionScheme> =>
      rsaEncryptionScheme({ padding: Enum.PaddingMethod.OAEP, hash, mgfHash, pSource: label });

    it('PKCS #1 v2.1 oaep-vect.txt: ten keys of 1024 to 1031, 1536 and 2048 bits, SHA-1 by default; the key given with its CRT parts or with d alone', () => {
      expect(oaep.pkcs1v21.map((k) => k.bits)).to.deep.equal([1024, 1025, 1026, 1027, 1028, 1029, 1030, 1031, 1536, 2048]);
      for (const k of oaep.pkcs1v21) {
        const n = big(k.key.n);
        const e = big(k.key.e);
        const d = big(k.key.d);
        const keys = [
          importPrivateKey(F.TransparentRSAPrivateKey, {
            kind: 'rsa-private', modulus: n, publicExponent: e, privateExponent: d, p: big(k.key.p), q: big(k.key.q),
            primeExponentP: big(k.key.dp), primeExponentQ: big(k.key.dq), crtCoefficient: big(k.key.qinv),
          }),
          importPrivateKey(F.TransparentRSAPrivateKey, { kind: 'rsa-private', modulus: n, publicExponent: e, privateExponent: d }),
        ];
        expect(k.examples).to.have.length(6);
        for (const [i, key] of keys.entries()) {
          for (const x of k.examples) {
            expect(rsaDecrypt(key, oaepScheme(undefined, undefined, undefined), hex(x.ciphertext)).toString('hex'), `${x.source}${i === 1 ? ', key from d' : ''}`).to.equal(x.message);
          }
        }
      }
    });

    it('Wycheproof 2048-bit SHA-256 with MGF1-SHA-1 (kmipd\'s own EME-OAEP decoding) and MGF1-SHA-256 (OpenSSL\'s): valid ones give the message under their label, invalid ones fail alike', () => {
      expect(oaep.wycheproof.map((g) => g.mgfHash)).to.deep.equal(['SHA_1', 'SHA_256']);
      for (const g of oaep.wycheproof) {
        const key = importPrivateKey(F.PKCS_8, hex(g.privateKeyPkcs8));
        expect(g.tests.filter((t) => !t.valid), g.source).to.have.length.above(10);
        for (const t of g.tests) {
          const scheme = oaepScheme(enumValue(H, g.hash), enumValue(H, g.mgfHash), t.label === '' ? undefined : hex(t.label));
          const source = `${g.source}: ${t.source}`;
          if (t.valid) {
            expect(rsaDecrypt(key, scheme, hex(t.ciphertext)).toString('hex'), source).to.equal(t.message);
            continue;
          }
          expect(() => rsaDecrypt(key, scheme, hex(t.ciphertext)), source)
            .to.throw(KmipError, 'the data could not be decrypted with this key and these parameters')
            .with.property('reason', 'CryptographicFailure');
        }
      }
    });
  });
});

/** An ECDSA-Sig-Value SEQUENCE { r INTEGER, s INTEGER } (X.690 DER; P-521's needs a long-form length). */
function derSignature(r: Buffer, s: Buffer): Buffer {
  const length = (n: number): Buffer => (n < 0x80 ? Buffer.from([n]) : Buffer.from([0x81, n]));
  const integer = (value: Buffer): Buffer => {
    let v = value;
    while (v.length > 1 && v.readUInt8(0) === 0 && (v.readUInt8(1) & 0x80) === 0) v = v.subarray(1);
    if ((v.readUInt8(0) & 0x80) !== 0) v = Buffer.concat([Buffer.from([0]), v]);
    return Buffer.concat([Buffer.from([0x02]), length(v.length), v]);
  };
  const body = Buffer.concat([integer(r), integer(s)]);
  return Buffer.concat([Buffer.from([0x30]), length(body.length), body]);
}
