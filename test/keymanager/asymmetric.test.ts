/**
 * Key pairs through the key manager: Create Key Pair in KMIP 1.4 and 2.1 (two objects linked
 * both ways, committed together), Sign and Signature Verify, RSA Encrypt and Decrypt, the
 * usage rules for each half, and Get of either half in every Key Format Type it allows.
 */
import { createPrivateKey, createPublicKey, createVerify } from 'node:crypto';
import { expect } from 'chai';
import { Enum, Mask, Tag } from '../../ttlv/index.js';
import type { TtlvItem } from '../../ttlv/index.js';
import { findAll, findValue, openTestService, request, results, textOf } from '../support/service.js';
import type { ItemResult, TestService } from '../support/service.js';

const F = Enum.KeyFormatType;
const iso = (offsetSeconds: number): string => new Date(Date.now() + offsetSeconds * 1000).toISOString().replace(/\.\d+Z$/, '+00:00');
const attr = (name: string, value: string): string => `<Attribute><AttributeName type="TextString" value="${name}"/>${value}</Attribute>`;
const name = (value: string): string => `<NameValue type="TextString" value="${value}"/><NameType type="Enumeration" value="UninterpretedTextString"/>`;
const op = (operation: string, id: string | undefined, body: string): string =>
  `<Operation type="Enumeration" value="${operation}"/><RequestPayload>${id === undefined ? '' : `<UniqueIdentifier type="TextString" value="${id}"/>`}${body}</RequestPayload>`;
const data = (bytes: Buffer | string): string => `<Data type="ByteString" value="${Buffer.from(bytes).toString('hex')}"/>`;
const pss = '<CryptographicParameters><PaddingMethod type="Enumeration" value="PSS"/><HashingAlgorithm type="Enumeration" value="SHA_256"/></CryptographicParameters>';
const pkcs1Sha256 = '<CryptographicParameters><DigitalSignatureAlgorithm type="Enumeration" value="SHA_256WithRSAEncryption"/></CryptographicParameters>';
const oaep =
  '<CryptographicParameters><PaddingMethod type="Enumeration" value="OAEP"/><HashingAlgorithm type="Enumeration" value="SHA_256"/>' +
  '<MaskGenerator type="Enumeration" value="MGF1"/><MaskGeneratorHashingAlgorithm type="Enumeration" value="SHA_256"/></CryptographicParameters>';

const bytesOf = (r: ItemResult | undefined, tag: number): Buffer => {
  const item = findValue(r?.payload, tag);
  return item?.type === 'ByteString' ? Buffer.from(item.value) : Buffer.alloc(0);
};
const enumOf = (r: ItemResult | undefined, tag: number): number | undefined => {
  const item = findValue(r?.payload, tag);
  return item?.type === 'Enumeration' ? item.value : undefined;
};

/** 1.4 Create Key Pair of an RSA pair, active an hour ago, with the masks given. */
const createRsa14 = (bits: number, privateMask: string, publicMask: string, privateName: string): string => `
  <Operation type="Enumeration" value="CreateKeyPair"/><RequestPayload>
    <CommonTemplateAttribute>
      ${attr('Cryptographic Algorithm', '<AttributeValue type="Enumeration" value="RSA"/>')}
      ${attr('Cryptographic Length', `<AttributeValue type="Integer" value="${bits}"/>`)}
      ${attr('Activation Date', `<AttributeValue type="DateTime" value="${iso(-3600)}"/>`)}
    </CommonTemplateAttribute>
    <PrivateKeyTemplateAttribute>
      ${attr('Name', `<AttributeValue>${name(privateName)}</AttributeValue>`)}
      ${attr('Cryptographic Usage Mask', `<AttributeValue type="Integer" value="${privateMask}"/>`)}
    </PrivateKeyTemplateAttribute>
    <PublicKeyTemplateAttribute>
      ${attr('Cryptographic Usage Mask', `<AttributeValue type="Integer" value="${publicMask}"/>`)}
    </PublicKeyTemplateAttribute>
  </RequestPayload>`;

/** 2.1 Create Key Pair of an EC pair on P-256 by Recommended Curve. */
const createEc21 = (privateMask: string, publicMask: string, common = ''): string => `
  <Operation type="Enumeration" value="CreateKeyPair"/><RequestPayload>
    <CommonAttributes>
      <CryptographicAlgorithm type="Enumeration" value="EC"/>
      <CryptographicDomainParameters><RecommendedCurve type="Enumeration" value="P_256"/></CryptographicDomainParameters>
      <ActivationDate type="DateTime" value="${iso(-3600)}"/>
      ${common}
    </CommonAttributes>
    <PrivateKeyAttributes><CryptographicUsageMask type="Integer" value="${privateMask}"/></PrivateKeyAttributes>
    <PublicKeyAttributes><CryptographicUsageMask type="Integer" value="${publicMask}"/></PublicKeyAttributes>
  </RequestPayload>`;

describe('key pairs: Create Key Pair, Sign, Signature Verify, RSA Encrypt/Decrypt, Get in other formats', function () {
  this.timeout(60000);
  let kms: TestService;
  before(async () => {
    kms = await openTestService();
  });
  after(async () => {
    await kms.close();
  });
  const send = async (version: string, ...items: string[]): Promise<ItemResult[]> => results(await kms.send(request(version, ...items)));
  const pairOf = (r: ItemResult | undefined): { privateId: string; publicId: string } => {
    expect(r?.status, r?.message).to.equal('Success');
    return { privateId: textOf(findValue(r?.payload, Tag.PrivateKeyUniqueIdentifier)), publicId: textOf(findValue(r?.payload, Tag.PublicKeyUniqueIdentifier)) };
  };
  const attributes = async (version: string, id: string): Promise<TtlvItem | undefined> => (await send(version, op('GetAttributes', id, '')))[0]?.payload;
  const links = (payload: TtlvItem | undefined): { type: number | undefined; id: string }[] =>
    findAll(payload, Tag.Link)
      .concat(findAll(payload, Tag.AttributeValue).filter((v) => findValue(v, Tag.LinkType) !== undefined))
      .map((link) => ({ type: (findValue(link, Tag.LinkType) as { value: number } | undefined)?.value, id: textOf(findValue(link, Tag.LinkedObjectIdentifier)) }));
  const getKey = async (version: string, id: string, format?: string): Promise<ItemResult | undefined> =>
    (await send(version, op('Get', id, format === undefined ? '' : `<KeyFormatType type="Enumeration" value="${format}"/>`)))[0];

  let rsa: { privateId: string; publicId: string };
  before(async () => {
    rsa = pairOf((await send('1.4', createRsa14(2048, 'Sign Decrypt', 'Verify Encrypt', 'pair-rsa-private')))[0]);
  });

  describe('Create Key Pair (2.1 section 6.1.9, 1.4 section 4.2)', () => {
    it('1.4: a Private Key and a Public Key with the common attributes, each with its own, linked both ways', async () => {
      const priv = await attributes('1.4', rsa.privateId);
      const pub = await attributes('1.4', rsa.publicId);
      const values = (payload: TtlvItem | undefined, attributeName: string): TtlvItem[] =>
        findAll(payload, Tag.Attribute)
          .filter((a) => textOf(findValue(a, Tag.AttributeName)) === attributeName)
          .map((a) => findValue(a, Tag.AttributeValue) ?? a);
      expect(values(priv, 'Object Type')[0]).to.deep.include({ value: Enum.ObjectType.PrivateKey });
      expect(values(pub, 'Object Type')[0]).to.deep.include({ value: Enum.ObjectType.PublicKey });
      for (const payload of [priv, pub]) {
        expect(values(payload, 'Cryptographic Algorithm')[0]).to.deep.include({ value: Enum.CryptographicAlgorithm.RSA });
        expect(values(payload, 'Cryptographic Length')[0]).to.deep.include({ value: 2048 });
        expect(values(payload, 'State')[0]).to.deep.include({ value: Enum.State.Active });
        // 2.1 table 81: RSA keys are kept in PKCS#1; the Digest says so.
        expect(findValue(values(payload, 'Digest')[0], Tag.KeyFormatType)).to.deep.include({ value: F.PKCS_1 });
      }
      expect(values(priv, 'Name')).to.have.length(1);
      expect(values(pub, 'Name')).to.have.length(0);
      expect(values(priv, 'Cryptographic Usage Mask')[0]).to.deep.include({ value: Mask.CryptographicUsageMask.Sign | Mask.CryptographicUsageMask.Decrypt });
      expect(links(priv)).to.deep.equal([{ type: Enum.LinkType.PublicKeyLink, id: rsa.publicId }]);
      expect(links(pub)).to.deep.equal([{ type: Enum.LinkType.PrivateKeyLink, id: rsa.privateId }]);
    });

    it('the ID Placeholder is the Private Key: a following Get in the batch serves it', async () => {
      const [created, got] = await send('2.1', createEc21('Sign', 'Verify'), op('Get', undefined, ''));
      const pair = pairOf(created);
      expect(got?.status, got?.message).to.equal('Success');
      expect(textOf(findValue(got?.payload, Tag.UniqueIdentifier))).to.equal(pair.privateId);
      expect(enumOf(got, Tag.ObjectType)).to.equal(Enum.ObjectType.PrivateKey);
    });

    it('2.1 EC by Recommended Curve: 256-bit keys kept as Transparent EC keys (2.1 table 81)', async () => {
      const pair = pairOf((await send('2.1', createEc21('Sign', 'Verify')))[0]);
      const priv = await getKey('2.1', pair.privateId);
      const pub = await getKey('2.1', pair.publicId);
      expect(enumOf(priv, Tag.KeyFormatType)).to.equal(F.TransparentECPrivateKey);
      expect(enumOf(pub, Tag.KeyFormatType)).to.equal(F.TransparentECPublicKey);
      expect(findValue(pub?.payload, Tag.CryptographicLength)).to.deep.include({ value: 256 });
      expect(enumOf(pub, Tag.RecommendedCurve)).to.equal(Enum.RecommendedCurve.P_256);
      expect(bytesOf(pub, Tag.QString)).to.have.length(65);
      const attrs = await attributes('2.1', pair.publicId);
      expect(findValue(findValue(attrs, Tag.Link), Tag.LinkedObjectIdentifier)).to.deep.include({ value: pair.privateId });
      // 2.1 section 4.21: a transparent key's Digest is of its TTLV-encoded Key Material.
      expect(findValue(findValue(attrs, Tag.Digest), Tag.DigestValue)).to.not.equal(undefined);
    });

    it('attributes both keys SHALL share (2.1 table 191) may not differ', async () => {
      const [r] = await send('2.1', `<Operation type="Enumeration" value="CreateKeyPair"/><RequestPayload>
        <CommonAttributes><CryptographicAlgorithm type="Enumeration" value="RSA"/></CommonAttributes>
        <PrivateKeyAttributes><CryptographicLength type="Integer" value="2048"/><CryptographicUsageMask type="Integer" value="Sign"/></PrivateKeyAttributes>
        <PublicKeyAttributes><CryptographicLength type="Integer" value="1024"/><CryptographicUsageMask type="Integer" value="Verify"/></PublicKeyAttributes>
      </RequestPayload>`);
      expect(r?.reason).to.equal('InvalidField');
    });

    it('the two keys may not share a Name, nor take one another object has', async () => {
      const [same] = await send('2.1', createEc21('Sign', 'Verify', `<Name>${name('pair-shared-name')}</Name>`));
      expect(same?.reason).to.equal('NonUniqueNameAttribute');
      const [taken] = await send('1.4', createRsa14(1024, 'Sign', 'Verify', 'pair-rsa-private'));
      expect(taken?.status).to.equal('OperationFailed');
    });

    it('without an algorithm, or with a symmetric one, or an RSA length out of range, nothing is created', async () => {
      const create = (common: string): string =>
        `<Operation type="Enumeration" value="CreateKeyPair"/><RequestPayload><CommonAttributes>${common}</CommonAttributes></RequestPayload>`;
      expect((await send('2.1', create('<CryptographicLength type="Integer" value="2048"/>')))[0]?.reason).to.equal('InvalidField');
      expect((await send('2.1', create('<CryptographicAlgorithm type="Enumeration" value="AES"/><CryptographicLength type="Integer" value="256"/>')))[0]?.reason).to.equal('InvalidField');
      expect((await send('2.1', create('<CryptographicAlgorithm type="Enumeration" value="RSA"/><CryptographicLength type="Integer" value="512"/>')))[0]?.reason).to.equal('InvalidField');
      expect((await send('2.1', create('<CryptographicAlgorithm type="Enumeration" value="EC"/><CryptographicLength type="Integer" value="300"/>')))[0]?.reason).to.equal('InvalidField');
    });
  });

  describe('Sign and Signature Verify (2.1 sections 6.1.55, 6.1.56)', () => {
    it('RSA-PSS: the signature verifies with the Public Key, and with node; other data is Invalid', async () => {
      const message = Buffer.from('firmware image 7.1');
      const [signed] = await send('2.1', op('Sign', rsa.privateId, `${pss}${data(message)}`));
      expect(signed?.status, signed?.message).to.equal('Success');
      const signature = bytesOf(signed, Tag.SignatureData);
      expect(signature).to.have.length(256);
      const verifyWith = async (payload: Buffer): Promise<number | undefined> =>
        enumOf((await send('2.1', op('SignatureVerify', rsa.publicId, `${pss}${data(payload)}<SignatureData type="ByteString" value="${signature.toString('hex')}"/>`)))[0], Tag.ValidityIndicator);
      expect(await verifyWith(message)).to.equal(Enum.ValidityIndicator.Valid);
      expect(await verifyWith(Buffer.from('firmware image 7.2'))).to.equal(Enum.ValidityIndicator.Invalid);
      const publicDer = bytesOf(await getKey('2.1', rsa.publicId, 'X_509'), Tag.KeyMaterial);
      const ok = createVerify('sha256').update(message).verify({ key: createPublicKey({ key: publicDer, format: 'der', type: 'spki' }), padding: 6, saltLength: 32 }, signature);
      expect(ok).to.equal(true);
    });

    it('1.4 PKCS#1 v1.5 by Digital Signature Algorithm, in parts with a Correlation Value', async () => {
      const [first] = await send('1.4', op('Sign', rsa.privateId, `${pkcs1Sha256}${data('part one, ')}<InitIndicator type="Boolean" value="true"/>`));
      expect(first?.status, first?.message).to.equal('Success');
      const correlation = bytesOf(first, Tag.CorrelationValue).toString('hex');
      expect(bytesOf(first, Tag.SignatureData)).to.have.length(0);
      const [last] = await send('1.4', op('Sign', rsa.privateId, `${data('part two')}<CorrelationValue type="ByteString" value="${correlation}"/><FinalIndicator type="Boolean" value="true"/>`));
      const [whole] = await send('1.4', op('Sign', rsa.privateId, `${pkcs1Sha256}${data('part one, part two')}`));
      expect(bytesOf(last, Tag.SignatureData).equals(bytesOf(whole, Tag.SignatureData))).to.equal(true);
    });

    it('ECDSA with a P-256 pair', async () => {
      const pair = pairOf((await send('2.1', createEc21('Sign', 'Verify')))[0]);
      const [signed] = await send('2.1', op('Sign', pair.privateId, data('abc')));
      expect(signed?.status, signed?.message).to.equal('Success');
      const signature = bytesOf(signed, Tag.SignatureData).toString('hex');
      const [verified] = await send('2.1', op('SignatureVerify', pair.publicId, `${data('abc')}<SignatureData type="ByteString" value="${signature}"/>`));
      expect(enumOf(verified, Tag.ValidityIndicator)).to.equal(Enum.ValidityIndicator.Valid);
    });

    it('Sign needs a Private Key with Sign in its mask; Verify a Public Key with Verify', async () => {
      expect((await send('2.1', op('Sign', rsa.publicId, `${pss}${data('x')}`)))[0]?.reason).to.equal('IncompatibleCryptographicUsageMask');
      const [wrongHalf] = await send('2.1', op('SignatureVerify', rsa.privateId, `${pss}${data('x')}<SignatureData type="ByteString" value="00"/>`));
      expect(wrongHalf?.reason).to.equal('IncompatibleCryptographicUsageMask');
      const pair = pairOf((await send('2.1', createEc21('Sign Verify', 'Verify')))[0]);
      const [notPrivate] = await send('2.1', op('SignatureVerify', pair.privateId, `${data('x')}<SignatureData type="ByteString" value="00"/>`));
      expect(notPrivate?.reason).to.equal('InvalidObjectType');
      const [onlyVerify] = await send('1.4', createRsa14(1024, 'Decrypt', 'Verify', 'pair-no-sign'));
      const noSign = pairOf(onlyVerify);
      expect((await send('1.4', op('Sign', noSign.privateId, `${pss}${data('x')}`)))[0]?.reason).to.equal('PermissionDenied');
    });

    it('a Pre-Active key does not sign', async () => {
      const [created] = await send('2.1', createEc21('Sign', 'Verify').replace(/<ActivationDate[^>]*\/>/, ''));
      const pair = pairOf(created);
      expect((await send('2.1', op('Sign', pair.privateId, data('x'))))[0]?.reason).to.equal('WrongKeyLifecycleState');
    });
  });

  describe('RSA Encrypt and Decrypt', () => {
    it('OAEP: encrypt with the Public Key, decrypt with the Private Key', async () => {
      const secret = Buffer.from('a wrapped data key');
      const [enc] = await send('2.1', op('Encrypt', rsa.publicId, `${oaep}${data(secret)}`));
      expect(enc?.status, enc?.message).to.equal('Success');
      const ciphertext = bytesOf(enc, Tag.Data);
      expect(ciphertext).to.have.length(256);
      const [dec] = await send('1.4', op('Decrypt', rsa.privateId, `${oaep}<Data type="ByteString" value="${ciphertext.toString('hex')}"/>`));
      expect(dec?.status, dec?.message).to.equal('Success');
      expect(bytesOf(dec, Tag.Data).equals(secret)).to.equal(true);
    });

    it('the wrong half, a missing mask bit or a missing Padding Method are refused', async () => {
      expect((await send('2.1', op('Encrypt', rsa.privateId, `${oaep}${data('x')}`)))[0]?.reason).to.equal('IncompatibleCryptographicUsageMask');
      expect((await send('2.1', op('Decrypt', rsa.publicId, `${oaep}${data('x')}`)))[0]?.reason).to.equal('IncompatibleCryptographicUsageMask');
      expect((await send('2.1', op('Encrypt', rsa.publicId, data('x'))))[0]?.reason).to.equal('BadCryptographicParameters');
      const [both] = await send('1.4', createRsa14(1024, 'Encrypt Decrypt', 'Encrypt', 'pair-encrypt-both'));
      const pair = pairOf(both);
      expect((await send('2.1', op('Encrypt', pair.privateId, `${oaep}${data('x')}`)))[0]?.reason).to.equal('InvalidObjectType');
    });
  });

  describe('Re-key Key Pair (2.1 section 6.1.47, 1.4 section 4.5)', () => {
    it('a new pair of the same size takes the names and usage; old and new keys link both ways', async () => {
      const old = pairOf((await send('1.4', createRsa14(1024, 'Sign', 'Verify', 'pair-rekey-private')))[0]);
      const [rekeyed, got] = await send(
        '1.4',
        `<Operation type="Enumeration" value="ReKeyKeyPair"/><RequestPayload><PrivateKeyUniqueIdentifier type="TextString" value="${old.privateId}"/></RequestPayload>`,
        op('Get', undefined, ''),
      );
      const fresh = pairOf(rekeyed);
      expect(fresh.privateId).to.not.equal(old.privateId);
      // 2.1 section 6.1.47: the ID Placeholder is the replacement Private Key.
      expect(textOf(findValue(got?.payload, Tag.UniqueIdentifier))).to.equal(fresh.privateId);
      expect(findValue(got?.payload, Tag.CryptographicLength)).to.deep.include({ value: 1024 });
      const linksOf = async (id: string): Promise<{ type: number | undefined; id: string }[]> => links(await attributes('1.4', id));
      expect(await linksOf(fresh.privateId)).to.have.deep.members([
        { type: Enum.LinkType.PublicKeyLink, id: fresh.publicId },
        { type: Enum.LinkType.ReplacedObjectLink, id: old.privateId },
      ]);
      expect(await linksOf(fresh.publicId)).to.have.deep.members([
        { type: Enum.LinkType.PrivateKeyLink, id: fresh.privateId },
        { type: Enum.LinkType.ReplacedObjectLink, id: old.publicId },
      ]);
      expect(await linksOf(old.publicId)).to.deep.include({ type: Enum.LinkType.ReplacementObjectLink, id: fresh.publicId });
      const names = async (id: string): Promise<string[]> => findAll(await attributes('2.1', id), Tag.NameValue).map(textOf);
      expect(await names(fresh.privateId)).to.deep.equal(['pair-rekey-private']);
      expect(await names(old.privateId)).to.deep.equal([]);
      // The replacement is active (its Activation Date was copied) and signs with its new key.
      const [signed] = await send('2.1', op('Sign', fresh.privateId, `${pss}${data('x')}`));
      expect(signed?.status, signed?.message).to.equal('Success');
    });

    it('only the Private Key of a linked pair can be re-keyed', async () => {
      const rekey = (id: string): string => `<Operation type="Enumeration" value="ReKeyKeyPair"/><RequestPayload><PrivateKeyUniqueIdentifier type="TextString" value="${id}"/></RequestPayload>`;
      expect((await send('2.1', rekey(rsa.publicId)))[0]?.reason).to.equal('InvalidObjectType');
      expect((await send('2.1', rekey('no-such-key')))[0]?.reason).to.equal('ItemNotFound');
    });
  });

  describe('Get in another Key Format Type (2.1 section 6.1.19)', () => {
    it('the Private Key as PKCS#1, PKCS#8 and Transparent RSA Private Key: one key', async () => {
      const pkcs1 = bytesOf(await getKey('2.1', rsa.privateId), Tag.KeyMaterial);
      const pkcs8 = await getKey('2.1', rsa.privateId, 'PKCS_8');
      expect(enumOf(pkcs8, Tag.KeyFormatType)).to.equal(F.PKCS_8);
      const fromPkcs8 = createPrivateKey({ key: bytesOf(pkcs8, Tag.KeyMaterial), format: 'der', type: 'pkcs8' });
      expect(fromPkcs8.export({ format: 'der', type: 'pkcs1' }).equals(pkcs1)).to.equal(true);
      const transparent = await getKey('1.4', rsa.privateId, 'TransparentRSAPrivateKey');
      expect(transparent?.status, transparent?.message).to.equal('Success');
      const modulus = findValue(transparent?.payload, Tag.Modulus);
      const jwk = fromPkcs8.export({ format: 'jwk' });
      expect(modulus?.type === 'BigInteger' ? modulus.value : 0n).to.equal(BigInt(`0x${Buffer.from(jwk.n ?? '', 'base64url').toString('hex')}`));
      for (const tag of [Tag.PrivateExponent, Tag.PublicExponent, Tag.P, Tag.Q, Tag.PrimeExponentP, Tag.PrimeExponentQ, Tag.CRTCoefficient]) {
        expect(findValue(transparent?.payload, tag)?.type).to.equal('BigInteger');
      }
      // Algorithm and length stay in the Key Block.
      expect(findValue(transparent?.payload, Tag.CryptographicLength)).to.deep.include({ value: 2048 });
    });

    it('the Public Key as X.509 (SubjectPublicKeyInfo) and Transparent RSA Public Key', async () => {
      const spki = bytesOf(await getKey('2.1', rsa.publicId, 'X_509'), Tag.KeyMaterial);
      const pkcs1 = bytesOf(await getKey('2.1', rsa.publicId), Tag.KeyMaterial);
      expect(createPublicKey({ key: spki, format: 'der', type: 'spki' }).export({ format: 'der', type: 'pkcs1' }).equals(pkcs1)).to.equal(true);
      const transparent = await getKey('2.1', rsa.publicId, 'TransparentRSAPublicKey');
      expect(findValue(transparent?.payload, Tag.PublicExponent)).to.deep.include({ value: 65537n });
    });

    it('an EC key as PKCS#8, EC Private Key and X.509; 1.2 clients get the Transparent ECDSA form', async () => {
      const pair = pairOf((await send('2.1', createEc21('Sign', 'Verify')))[0]);
      const pkcs8 = bytesOf(await getKey('2.1', pair.privateId, 'PKCS_8'), Tag.KeyMaterial);
      const sec1 = bytesOf(await getKey('2.1', pair.privateId, 'ECPrivateKey'), Tag.KeyMaterial);
      expect(createPrivateKey({ key: sec1, format: 'der', type: 'sec1' }).export({ format: 'der', type: 'pkcs8' }).equals(pkcs8)).to.equal(true);
      const spki = await getKey('2.1', pair.publicId, 'X_509');
      expect(createPublicKey({ key: bytesOf(spki, Tag.KeyMaterial), format: 'der', type: 'spki' }).asymmetricKeyDetails?.namedCurve).to.equal('prime256v1');
      const old = await getKey('1.2', pair.privateId);
      expect(old?.status, old?.message).to.equal('Success');
      expect(enumOf(old, Tag.KeyFormatType)).to.equal(F.TransparentECDSAPrivateKey);
    });

    it('a format the key cannot take is Key Format Type Not Supported', async () => {
      expect((await getKey('2.1', rsa.publicId, 'PKCS_8'))?.reason).to.equal('KeyFormatTypeNotSupported');
      expect((await getKey('2.1', rsa.privateId, 'TransparentECPrivateKey'))?.reason).to.equal('KeyFormatTypeNotSupported');
      expect((await getKey('2.1', rsa.privateId, 'Raw'))?.reason).to.equal('KeyFormatTypeNotSupported');
    });
  });
});
