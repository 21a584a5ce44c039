/**
 * Edwards and Montgomery keys through the key manager (KMIP 2.1: Cryptographic Algorithm
 * Ed25519 / Ed448, Recommended Curve CURVE25519 / CURVE448): Create Key Pair, Re-key Key
 * Pair, Register, Get in Raw / PKCS#8 / X.509 / Transparent EC (and the formats that cannot
 * hold them refused), EdDSA Sign and Signature Verify. Signatures are checked against the
 * RFC 8032 test vectors and OpenSSL's command line, which share no code with kmipd.
 */
import { execFileSync } from 'node:child_process';
import { createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { Enum, Tag } from '../../ttlv/index.js';
import type { TtlvItem } from '../../ttlv/index.js';
import { findAll, findValue, openTestService, request, results, textOf } from '../support/service.js';
import type { ItemResult, TestService } from '../support/service.js';

const F = Enum.KeyFormatType;
const iso = (offsetSeconds: number): string => new Date(Date.now() + offsetSeconds * 1000).toISOString().replace(/\.\d+Z$/, '+00:00');
const op = (operation: string, id: string | undefined, body: string): string =>
  `<Operation type="Enumeration" value="${operation}"/><RequestPayload>${id === undefined ? '' : `<UniqueIdentifier type="TextString" value="${id}"/>`}${body}</RequestPayload>`;
const hex = (bytes: Buffer | string): string => Buffer.from(bytes).toString('hex');
const data = (bytes: Buffer | string): string => `<Data type="ByteString" value="${hex(bytes)}"/>`;
const signature = (bytes: Buffer): string => `<SignatureData type="ByteString" value="${hex(bytes)}"/>`;

/** RFC 8032 section 7.1, TEST 2 (Ed25519, one-byte message). */
const RFC8032_TEST2 = {
  secret: '4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb',
  public: '3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c',
  message: '72',
  signature: '92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00',
};

/** RFC 8032 section 7.4, the one-octet Ed448 test (no context). */
const RFC8032_ED448_1 = {
  secret: 'c4eab05d357007c632f3dbb48489924d552b08fe0c353a0d4a1f00acda2c463afbea67c5e8d2877c5e3bc397a659949ef8021e954e0a12274e',
  public: '43ba28f430cdff456ae531545f7ecd0ac834a55d9358c0372bfa0c6c6798c0866aea01eb00742802b8438ea4cb82169c235160627b4c3a9480',
  message: '03',
  signature:
    '26b8f91727bd62897af15e41eb43c377efb9c610d48f2335cb0bd0087810f4352541b143c4b981b7e18f62de8ccdf633fc1bf037ab7cd779805e0dbcc0aae1cbcee1afb2e027df36bc04dcecbf154336c19f0af7e0a6472905e799f1953d2a0ff3348ab21aa4adafd1d234441cf807c03a00',
};

const createPair = (algorithm: string, curve: string | undefined, privateMask: string, publicMask: string, extra = ''): string => `
  <Operation type="Enumeration" value="CreateKeyPair"/><RequestPayload>
    <CommonAttributes>
      <CryptographicAlgorithm type="Enumeration" value="${algorithm}"/>
      ${curve === undefined ? '' : `<CryptographicDomainParameters><RecommendedCurve type="Enumeration" value="${curve}"/></CryptographicDomainParameters>`}
      <ActivationDate type="DateTime" value="${iso(-3600)}"/>
      ${extra}
    </CommonAttributes>
    <PrivateKeyAttributes><CryptographicUsageMask type="Integer" value="${privateMask}"/></PrivateKeyAttributes>
    <PublicKeyAttributes><CryptographicUsageMask type="Integer" value="${publicMask}"/></PublicKeyAttributes>
  </RequestPayload>`;

const registerKey = (objectType: 'PrivateKey' | 'PublicKey', format: string, material: string, algorithm: string, mask: string): string => `
  <Operation type="Enumeration" value="Register"/><RequestPayload>
    <ObjectType type="Enumeration" value="${objectType}"/>
    <Attributes>
      <CryptographicUsageMask type="Integer" value="${mask}"/>
      <ActivationDate type="DateTime" value="${iso(-3600)}"/>
    </Attributes>
    <${objectType}><KeyBlock>
      <KeyFormatType type="Enumeration" value="${format}"/>
      <KeyValue>${material}</KeyValue>
      <CryptographicAlgorithm type="Enumeration" value="${algorithm}"/>
    </KeyBlock></${objectType}>
  </RequestPayload>`;

const bytesOf = (r: ItemResult | undefined, tag: number): Buffer => {
  const item = findValue(r?.payload, tag);
  return item?.type === 'ByteString' ? Buffer.from(item.value) : Buffer.alloc(0);
};
const enumOf = (item: TtlvItem | undefined): number | undefined => (item?.type === 'Enumeration' ? item.value : undefined);
const intOf = (item: TtlvItem | undefined): number | undefined => (item?.type === 'Integer' ? item.value : undefined);

describe('Edwards and Montgomery keys: Ed25519, Ed448, X25519, X448 (KMIP 2.1)', function () {
  this.timeout(60000);
  let kms: TestService;
  let dir: string;
  before(async () => {
    kms = await openTestService();
    dir = mkdtempSync(path.join(tmpdir(), 'kmipd-eddsa-'));
  });
  after(async () => {
    await kms.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const send = async (...items: string[]): Promise<ItemResult[]> => results(await kms.send(request('2.1', ...items)));
  const ok = (r: ItemResult | undefined): ItemResult => {
    expect(r?.status, r?.message).to.equal('Success');
    return r as ItemResult;
  };
  const pairOf = (r: ItemResult | undefined): { privateId: string; publicId: string } => {
    ok(r);
    return { privateId: textOf(findValue(r?.payload, Tag.PrivateKeyUniqueIdentifier)), publicId: textOf(findValue(r?.payload, Tag.PublicKeyUniqueIdentifier)) };
  };
  const idOf = (r: ItemResult | undefined): string => textOf(findValue(ok(r).payload, Tag.UniqueIdentifier));
  const get = async (id: string, format?: string): Promise<ItemResult | undefined> =>
    (await send(op('Get', id, format === undefined ? '' : `<KeyFormatType type="Enumeration" value="${format}"/>`)))[0];
  const material = (r: ItemResult | undefined): Buffer => bytesOf(ok(r), Tag.KeyMaterial);
  const signWith = async (id: string, message: Buffer | string): Promise<Buffer> => bytesOf(ok((await send(op('Sign', id, data(message))))[0]), Tag.SignatureData);
  const verifyWith = async (id: string, message: Buffer | string, sig: Buffer): Promise<number | undefined> =>
    enumOf(findValue(ok((await send(op('SignatureVerify', id, data(message) + signature(sig))))[0]).payload, Tag.ValidityIndicator));
  /** OpenSSL verifies a raw-message EdDSA signature with a public key in PEM. */
  const opensslVerifies = (publicPem: string, message: Buffer, sig: Buffer): boolean => {
    writeFileSync(path.join(dir, 'pub.pem'), publicPem);
    writeFileSync(path.join(dir, 'msg'), message);
    writeFileSync(path.join(dir, 'sig'), sig);
    try {
      execFileSync('openssl', ['pkeyutl', '-verify', '-pubin', '-inkey', path.join(dir, 'pub.pem'), '-rawin', '-in', path.join(dir, 'msg'), '-sigfile', path.join(dir, 'sig')], { stdio: 'pipe' });
      return true;
    } catch {
      return false;
    }
  };

  for (const [algorithm, opensslName, signatureBytes] of [['Ed25519', 'ED25519', 64], ['Ed448', 'ED448', 114]] as const) {
    describe(`${algorithm}`, () => {
      let pair: { privateId: string; publicId: string };
      before(async () => {
        pair = pairOf((await send(createPair(algorithm, undefined, 'Sign', 'Verify')))[0]);
      });

      it('Create Key Pair: PKCS#8 and X.509 by default, the algorithm and field size in the attributes, linked both ways', async () => {
        const [attrs] = await send(op('GetAttributes', pair.privateId, ''));
        expect(enumOf(findValue(ok(attrs).payload, Tag.CryptographicAlgorithm))).to.equal(Enum.CryptographicAlgorithm[algorithm]);
        expect(intOf(findValue(attrs?.payload, Tag.CryptographicLength))).to.equal(algorithm === 'Ed25519' ? 255 : 448);
        expect(enumOf(findValue(attrs?.payload, Tag.KeyFormatType))).to.equal(F.PKCS_8);
        expect(textOf(findValue(findValue(attrs?.payload, Tag.Link), Tag.LinkedObjectIdentifier))).to.equal(pair.publicId);
        const privateKey = createPrivateKey({ key: material(await get(pair.privateId)), format: 'der', type: 'pkcs8' });
        expect(privateKey.asymmetricKeyType).to.equal(algorithm.toLowerCase());
        const publicKey = createPublicKey({ key: material(await get(pair.publicId)), format: 'der', type: 'spki' });
        expect(publicKey.export({ format: 'jwk' }).x).to.equal(privateKey.export({ format: 'jwk' }).x);
      });

      it('Sign: an RFC 8032 signature OpenSSL verifies; Signature Verify tells a good one from a altered one', async () => {
        const message = Buffer.from(`KMIP 2.1 section 6.1.55 over ${algorithm}`);
        const sig = await signWith(pair.privateId, message);
        expect(sig).to.have.length(signatureBytes);
        const publicPem = createPublicKey({ key: material(await get(pair.publicId)), format: 'der', type: 'spki' }).export({ format: 'pem', type: 'spki' }).toString();
        expect(opensslVerifies(publicPem, message, sig)).to.equal(true);
        expect(await verifyWith(pair.publicId, message, sig)).to.equal(Enum.ValidityIndicator.Valid);
        const altered = Buffer.from(sig);
        altered[10] = (altered[10] ?? 0) ^ 1;
        expect(await verifyWith(pair.publicId, message, altered)).to.equal(Enum.ValidityIndicator.Invalid);
        expect(await verifyWith(pair.publicId, Buffer.concat([message, Buffer.of(0)]), sig)).to.equal(Enum.ValidityIndicator.Invalid);
      });

      it('Sign in parts (Init Indicator ... Final Indicator) gives the signature of the whole message (EdDSA is deterministic)', async () => {
        const [first] = await send(op('Sign', pair.privateId, data('part one, ') + '<InitIndicator type="Boolean" value="true"/>'));
        const correlation = bytesOf(ok(first), Tag.CorrelationValue);
        expect(correlation.length).to.be.greaterThan(0);
        const [last] = await send(op('Sign', pair.privateId, data('part two') + `<CorrelationValue type="ByteString" value="${hex(correlation)}"/><FinalIndicator type="Boolean" value="true"/>`));
        expect(bytesOf(ok(last), Tag.SignatureData).equals(await signWith(pair.privateId, 'part one, part two'))).to.equal(true);
      });

      it('OpenSSL\'s own key, registered as PKCS#8 and X.509: kmipd\'s signature verifies with OpenSSL, OpenSSL\'s with kmipd', async () => {
        const keyFile = path.join(dir, `${algorithm}.pem`);
        execFileSync('openssl', ['genpkey', '-algorithm', opensslName, '-out', keyFile]);
        const privateDer = execFileSync('openssl', ['pkey', '-in', keyFile, '-outform', 'DER']);
        const publicDer = execFileSync('openssl', ['pkey', '-in', keyFile, '-pubout', '-outform', 'DER']);
        const privateId = idOf((await send(registerKey('PrivateKey', 'PKCS_8', `<KeyMaterial type="ByteString" value="${hex(privateDer)}"/>`, algorithm, 'Sign')))[0]);
        const publicId = idOf((await send(registerKey('PublicKey', 'X_509', `<KeyMaterial type="ByteString" value="${hex(publicDer)}"/>`, algorithm, 'Verify')))[0]);
        const message = Buffer.from('signed by OpenSSL and by kmipd');
        const publicPem = execFileSync('openssl', ['pkey', '-in', keyFile, '-pubout']).toString();
        expect(opensslVerifies(publicPem, message, await signWith(privateId, message))).to.equal(true);
        writeFileSync(path.join(dir, 'msg'), message);
        const opensslSig = execFileSync('openssl', ['pkeyutl', '-sign', '-inkey', keyFile, '-rawin', '-in', path.join(dir, 'msg')]);
        expect(await verifyWith(publicId, message, opensslSig)).to.equal(Enum.ValidityIndicator.Valid);
      });

      it('Get converts to Raw and Transparent EC and back; PKCS#1, EC Private Key and Transparent RSA are Key Format Type Not Supported', async () => {
        const pkcs8 = material(await get(pair.privateId));
        const raw = material(await get(pair.privateId, 'Raw'));
        expect(raw).to.have.length(algorithm === 'Ed25519' ? 32 : 57);
        expect(createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' }).export({ format: 'jwk' }).d).to.equal(raw.toString('base64url'));
        const transparent = ok(await get(pair.privateId, 'TransparentECPrivateKey'));
        expect(enumOf(findValue(transparent.payload, Tag.RecommendedCurve))).to.equal(algorithm === 'Ed25519' ? Enum.RecommendedCurve.CURVE25519 : Enum.RecommendedCurve.CURVE448);
        const d = findValue(transparent.payload, Tag.D);
        expect(d?.type === 'BigInteger' ? d.value : undefined).to.equal(BigInt(`0x${raw.toString('hex')}`));
        const publicRaw = material(await get(pair.publicId, 'Raw'));
        const q = bytesOf(ok(await get(pair.publicId, 'TransparentECPublicKey')), Tag.QString);
        expect(q.equals(publicRaw)).to.equal(true);
        for (const format of ['PKCS_1', 'ECPrivateKey', 'TransparentRSAPrivateKey', 'TransparentSymmetricKey']) {
          const refused = await get(pair.privateId, format);
          expect(refused?.status, format).to.equal('OperationFailed');
          expect(refused?.reason, format).to.equal('KeyFormatTypeNotSupported');
        }
        const refused = await get(pair.publicId, 'PKCS_1');
        expect(refused?.reason).to.equal('KeyFormatTypeNotSupported');
      });

      it('Digested Data cannot be signed (PureEdDSA signs the message); a Digital Signature Algorithm is refused', async () => {
        const [digested] = await send(op('Sign', pair.privateId, `<DigestedData type="ByteString" value="${'00'.repeat(64)}"/>`));
        expect(digested?.reason).to.equal('FeatureNotSupported');
        const [dsa] = await send(op('Sign', pair.privateId, '<CryptographicParameters><DigitalSignatureAlgorithm type="Enumeration" value="ECDSAWithSHA256"/></CryptographicParameters>' + data('x')));
        expect(dsa?.reason).to.equal('BadCryptographicParameters');
      });
    });
  }

  it('RFC 8032 TEST 2: the Ed25519 key registered Raw signs the test message to the published signature; the public key registered Transparent EC verifies it', async () => {
    const privateId = idOf((await send(registerKey('PrivateKey', 'Raw', `<KeyMaterial type="ByteString" value="${RFC8032_TEST2.secret}"/>`, 'Ed25519', 'Sign')))[0]);
    const transparent = `<KeyMaterial><RecommendedCurve type="Enumeration" value="CURVE25519"/><QString type="ByteString" value="${RFC8032_TEST2.public}"/></KeyMaterial>`;
    const publicId = idOf((await send(registerKey('PublicKey', 'TransparentECPublicKey', transparent, 'Ed25519', 'Verify')))[0]);
    const message = Buffer.from(RFC8032_TEST2.message, 'hex');
    const sig = await signWith(privateId, message);
    expect(sig.toString('hex')).to.equal(RFC8032_TEST2.signature);
    expect(await verifyWith(publicId, message, sig)).to.equal(Enum.ValidityIndicator.Valid);
    // The public key kmipd derives from the private one is the published one.
    expect(material(await get(privateId, 'PKCS_8')).subarray(-32).toString('hex')).to.equal(RFC8032_TEST2.secret);
  });

  it('RFC 8032 section 7.4: the Ed448 key registered Transparent EC (D = the secret read big-endian) signs the one-octet message to the published signature', async () => {
    const transparent = `<KeyMaterial><RecommendedCurve type="Enumeration" value="CURVE448"/><D type="BigInteger" value="${'00'.repeat(7)}${RFC8032_ED448_1.secret}"/></KeyMaterial>`;
    const privateId = idOf((await send(registerKey('PrivateKey', 'TransparentECPrivateKey', transparent, 'Ed448', 'Sign')))[0]);
    const publicId = idOf((await send(registerKey('PublicKey', 'Raw', `<KeyMaterial type="ByteString" value="${RFC8032_ED448_1.public}"/>`, 'Ed448', 'Verify')))[0]);
    const message = Buffer.from(RFC8032_ED448_1.message, 'hex');
    const sig = await signWith(privateId, message);
    expect(sig.toString('hex')).to.equal(RFC8032_ED448_1.signature);
    expect(await verifyWith(publicId, message, sig)).to.equal(Enum.ValidityIndicator.Valid);
  });

  for (const [curve, type, bytes] of [['CURVE25519', 'x25519', 32], ['CURVE448', 'x448', 56]] as const) {
    it(`ECDH on ${curve} is ${type}: the keys agree on a secret with an outside key (RFC 7748), and cannot sign`, async () => {
      const pair = pairOf((await send(createPair('ECDH', curve, 'Sign DeriveKey', 'DeriveKey')))[0]);
      const [attrs] = await send(op('GetAttributes', pair.privateId, ''));
      expect(enumOf(findValue(ok(attrs).payload, Tag.CryptographicAlgorithm))).to.equal(Enum.CryptographicAlgorithm.ECDH);
      const privateKey = createPrivateKey({ key: material(await get(pair.privateId)), format: 'der', type: 'pkcs8' });
      expect(privateKey.asymmetricKeyType).to.equal(type);
      const publicRaw = material(await get(pair.publicId, 'Raw'));
      expect(publicRaw).to.have.length(bytes);
      const outside = type === 'x25519' ? generateKeyPairSync('x25519') : generateKeyPairSync('x448');
      const publicKey = createPublicKey({ key: material(await get(pair.publicId)), format: 'der', type: 'spki' });
      expect(diffieHellman({ privateKey, publicKey: outside.publicKey }).equals(diffieHellman({ privateKey: outside.privateKey, publicKey }))).to.equal(true);
      const [signed] = await send(op('Sign', pair.privateId, data('x')));
      expect(signed?.reason).to.equal('BadCryptographicParameters');
      // Raw bytes of an ECDH key come back as the same key.
      const rawPrivate = material(await get(pair.privateId, 'Raw'));
      const reRegistered = idOf((await send(registerKey('PrivateKey', 'Raw', `<KeyMaterial type="ByteString" value="${hex(rawPrivate)}"/>`, 'ECDH', 'DeriveKey')))[0]);
      expect(material(await get(reRegistered, 'PKCS_8')).equals(privateKey.export({ format: 'der', type: 'pkcs8' }))).to.equal(true);
    });
  }

  it('Create Key Pair refuses ECDSA on CURVE25519, a curve that contradicts Ed448, and a Cryptographic Length that does not fit', async () => {
    const [ecdsa] = await send(createPair('ECDSA', 'CURVE25519', 'Sign', 'Verify'));
    expect(ecdsa?.reason).to.equal('InvalidField');
    expect(ecdsa?.message).to.match(/Ed25519/);
    const [contradiction] = await send(createPair('Ed448', 'CURVE25519', 'Sign', 'Verify'));
    expect(contradiction?.reason).to.equal('InvalidField');
    const [length] = await send(createPair('Ed25519', undefined, 'Sign', 'Verify', '<CryptographicLength type="Integer" value="384"/>'));
    expect(length?.reason).to.equal('InvalidField');
    const [fine] = await send(createPair('Ed25519', 'CURVE25519', 'Sign', 'Verify', '<CryptographicLength type="Integer" value="256"/>'));
    ok(fine);
  });

  it('Re-key Key Pair of an Ed25519 pair: a new Ed25519 pair, linked to the old, kept in the same formats', async () => {
    const old = pairOf((await send(createPair('Ed25519', undefined, 'Sign', 'Verify')))[0]);
    const [rekeyed] = await send(op('ReKeyKeyPair', undefined, `<PrivateKeyUniqueIdentifier type="TextString" value="${old.privateId}"/>`));
    const fresh = pairOf(rekeyed);
    expect(fresh.privateId).to.not.equal(old.privateId);
    const privateKey = createPrivateKey({ key: material(await get(fresh.privateId)), format: 'der', type: 'pkcs8' });
    expect(privateKey.asymmetricKeyType).to.equal('ed25519');
    const [attrs] = await send(op('GetAttributes', fresh.privateId, ''));
    const links = findAll(ok(attrs).payload, Tag.Link).map((l) => [enumOf(findValue(l, Tag.LinkType)), textOf(findValue(l, Tag.LinkedObjectIdentifier))]);
    expect(links).to.deep.include([Enum.LinkType.ReplacedObjectLink, old.privateId]);
    expect(links).to.deep.include([Enum.LinkType.PublicKeyLink, fresh.publicId]);
    const sig = await signWith(fresh.privateId, 'after re-key');
    expect(await verifyWith(fresh.publicId, 'after re-key', sig)).to.equal(Enum.ValidityIndicator.Valid);
  });
});
