/**
 * Key wrapping beyond AES key wrap (KMIP 2.1 sections 3.3 and 7.18, 1.4 sections 2.1.5 and
 * 2.1.6): AES-GCM, RSA-OAEP and RSA PKCS#1 v1.5 with a Public Key, MAC/sign and Encrypt then
 * MAC/sign, opened here with node:crypto alone; then the way back (Register, Import, Get
 * with Key Wrap Type Not Wrapped) and every refusal: wrong usage, wrong state, another
 * owner's key, a key wrapped with itself, an RSA key too small for what it should wrap, and
 * RSA PKCS#1 v1.5 unwrapping (a decryption oracle).
 */
import { constants, createDecipheriv, createHmac, generateKeyPairSync, privateDecrypt, verify as verifySignature } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { expect } from 'chai';
import { Enum, Tag, decodeTtlv, toXml } from '../../ttlv/index.js';
import type { TtlvItem } from '../../ttlv/index.js';
import { findAll, findValue, openTestService, request, results, textOf } from '../support/service.js';
import type { ItemResult, TestService } from '../support/service.js';

const AES_KEK = '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f';
const HMAC_KEY = '4a656665a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babb';
const SECRET = '00112233445566778899aabbccddeeff';

const iso = (offsetSeconds: number): string => new Date(Date.now() + offsetSeconds * 1000).toISOString().replace(/\.\d+Z$/, '+00:00');
const activeSince = `<ActivationDate type="DateTime" value="${iso(-3600)}"/>`;
const mask = (value: string): string => `<CryptographicUsageMask type="Integer" value="${value}"/>`;
const params = (inner: string): string => `<CryptographicParameters>${inner}</CryptographicParameters>`;
const e = (tag: string, value: string): string => `<${tag} type="Enumeration" value="${value}"/>`;
const hex = (bytes: Buffer): string => bytes.toString('hex');

const registerXml = (objectType: string, attributes: string, object: string): string =>
  `<Operation type="Enumeration" value="Register"/><RequestPayload>${e('ObjectType', objectType)}<Attributes>${attributes}</Attributes>${object}</RequestPayload>`;
const symmetricKey = (material: string, algorithm = 'AES'): string =>
  `<SymmetricKey><KeyBlock>${e('KeyFormatType', 'Raw')}<KeyValue><KeyMaterial type="ByteString" value="${material}"/></KeyValue>${e('CryptographicAlgorithm', algorithm)}<CryptographicLength type="Integer" value="${(material.length / 2) * 8}"/></KeyBlock></SymmetricKey>`;
const asymmetricKey = (tag: 'PrivateKey' | 'PublicKey', format: string, der: Buffer, bits: number): string =>
  `<${tag}><KeyBlock>${e('KeyFormatType', format)}<KeyValue><KeyMaterial type="ByteString" value="${hex(der)}"/></KeyValue>${e('CryptographicAlgorithm', 'RSA')}<CryptographicLength type="Integer" value="${bits}"/></KeyBlock></${tag}>`;
const keyInformation = (tag: 'EncryptionKeyInformation' | 'MACSignatureKeyInformation', id: string, inner = ''): string =>
  `<${tag}><UniqueIdentifier type="TextString" value="${id}"/>${inner}</${tag}>`;
const spec = (method: string, inner: string): string => `<KeyWrappingSpecification>${e('WrappingMethod', method)}${inner}</KeyWrappingSpecification>`;
const getXml = (id: string, body = ''): string => `<Operation type="Enumeration" value="Get"/><RequestPayload><UniqueIdentifier type="TextString" value="${id}"/>${body}</RequestPayload>`;

function bytesOf(item: TtlvItem | undefined): Buffer {
  if (item?.type !== 'ByteString') throw new Error(`expected a Byte String, got ${item?.type ?? 'nothing'}`);
  return Buffer.from(item.value);
}

/** The Key Material inside a TTLV-encoded Key Value. */
function materialOf(encodedKeyValue: Buffer): string {
  const keyValue = decodeTtlv(encodedKeyValue);
  expect(keyValue.tag).to.equal(Tag.KeyValue);
  return hex(bytesOf(findValue(keyValue, Tag.KeyMaterial)));
}

/** RSA PKCS#1 v1.5 encryption block (RFC 8017 section 7.2.2), opened by hand: node refuses PKCS#1 v1.5 decryption. */
function openPkcs1(privateKey: KeyObject, ciphertext: Buffer): Buffer {
  const em = privateDecrypt({ key: privateKey, padding: constants.RSA_NO_PADDING }, ciphertext);
  expect(em.readUInt8(0)).to.equal(0);
  expect(em.readUInt8(1)).to.equal(2);
  const separator = em.indexOf(0, 2);
  expect(separator).to.be.greaterThan(9);
  return em.subarray(separator + 1);
}

describe('Key wrapping methods: AES-GCM, RSA, MAC/sign (issue 5)', () => {
  let kms: TestService;
  let rsa: { privateKey: KeyObject; publicKey: KeyObject };
  let small: { privateKey: KeyObject; publicKey: KeyObject };
  before(async () => {
    kms = await openTestService();
    rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    small = generateKeyPairSync('rsa', { modulusLength: 1024 });
  });
  after(async () => {
    await kms.close();
  });

  const send = async (version: string, ...items: string[]): Promise<ItemResult[]> => results(await kms.send(request(version, ...items)));
  const sendAs = async (identity: string, version: string, ...items: string[]): Promise<ItemResult[]> => results(await kms.send(request(version, ...items), identity));
  const ok = async (version: string, item: string, identity = 'alice'): Promise<ItemResult> => {
    const [r] = await sendAs(identity, version, item);
    expect(r?.status, r?.message).to.equal('Success');
    return r as ItemResult;
  };
  const idOf = (r: ItemResult): string => textOf(findValue(r.payload, Tag.UniqueIdentifier));
  const registerAes = async (material: string, usage: string, extra = '', identity = 'alice'): Promise<string> =>
    idOf(await ok('2.1', registerXml('SymmetricKey', `${mask(usage)}${activeSince}${extra}`, symmetricKey(material)), identity));
  const target = (identity = 'alice'): Promise<string> => registerAes(SECRET, 'Encrypt Decrypt', '', identity);
  /** An RSA pair registered from node keys: the Private Key first, the Public Key linked to it. */
  const registerPair = async (
    pair: { privateKey: KeyObject; publicKey: KeyObject },
    publicParams: string[],
    privateExtra = '',
    privateUsage = 'Sign UnwrapKey WrapKey',
  ): Promise<{ privateId: string; publicId: string }> => {
    const bits = pair.privateKey.asymmetricKeyDetails?.modulusLength ?? 0;
    const der = pair.privateKey.export({ format: 'der', type: 'pkcs8' });
    const privateId = idOf(await ok('2.1', registerXml('PrivateKey', `${mask(privateUsage)}${activeSince}${privateExtra}`, asymmetricKey('PrivateKey', 'PKCS_8', der, bits))));
    const spki = pair.publicKey.export({ format: 'der', type: 'spki' });
    const link = `<Link>${e('LinkType', 'PrivateKeyLink')}<LinkedObjectIdentifier type="TextString" value="${privateId}"/></Link>`;
    const publicId = idOf(
      await ok('2.1', registerXml('PublicKey', `${mask('WrapKey Verify')}${activeSince}${link}${publicParams.map(params).join('')}`, asymmetricKey('PublicKey', 'X_509', spki, bits))),
    );
    return { privateId, publicId };
  };
  const keyBlockOf = (r: ItemResult): TtlvItem | undefined => findValue(r.payload, Tag.KeyBlock);
  /** Register the Symmetric Key structure a Get returned, as a new object of the same owner. */
  const registerReturned = async (r: ItemResult, identity = 'alice'): Promise<ItemResult> => {
    const object = findValue(r.payload, Tag.SymmetricKey);
    if (object === undefined) throw new Error('no Symmetric Key in the response');
    const [reg] = await sendAs(identity, '2.1', registerXml('SymmetricKey', mask('Encrypt Decrypt'), toXml(object)));
    return reg as ItemResult;
  };
  const plainMaterial = async (id: string, identity = 'alice'): Promise<string> => hex(bytesOf(findValue((await ok('2.1', getXml(id), identity)).payload, Tag.KeyMaterial)));

  describe('wrapping (Get)', () => {
    it('AES-GCM: the IV is in IV/Counter/Nonce and the 16-byte tag follows the ciphertext; node opens it', async () => {
      const kek = await registerAes(AES_KEK, 'WrapKey UnwrapKey', params(e('BlockCipherMode', 'GCM')));
      const r = await ok('2.1', getXml(await target(), spec('Encrypt', keyInformation('EncryptionKeyInformation', kek))));
      const block = keyBlockOf(r);
      const iv = bytesOf(findValue(block, Tag.IVCounterNonce));
      const wrapped = bytesOf(findValue(block, Tag.KeyValue));
      expect(iv.length).to.equal(12);
      const decipher = createDecipheriv('aes-256-gcm', Buffer.from(AES_KEK, 'hex'), iv);
      decipher.setAuthTag(wrapped.subarray(wrapped.length - 16));
      const opened = Buffer.concat([decipher.update(wrapped.subarray(0, wrapped.length - 16)), decipher.final()]);
      expect(materialOf(opened)).to.equal(SECRET);
      expect(findValue(block, Tag.BlockCipherMode)).to.deep.include({ value: Enum.BlockCipherMode.GCM });
    });

    it('AES-GCM with Tag Length 12 and No Encoding; two wraps of one key use two IVs', async () => {
      const kek = await registerAes(AES_KEK, 'WrapKey', params(`${e('BlockCipherMode', 'GCM')}<TagLength type="Integer" value="12"/>`));
      const id = await target();
      const wrap = async (): Promise<{ iv: Buffer; wrapped: Buffer }> => {
        const block = keyBlockOf(await ok('2.1', getXml(id, spec('Encrypt', `${keyInformation('EncryptionKeyInformation', kek)}${e('EncodingOption', 'NoEncoding')}`))));
        return { iv: bytesOf(findValue(block, Tag.IVCounterNonce)), wrapped: bytesOf(findValue(block, Tag.KeyValue)) };
      };
      const [one, two] = [await wrap(), await wrap()];
      expect(one.wrapped.length).to.equal(16 + 12);
      expect(hex(one.iv)).not.to.equal(hex(two.iv));
      const decipher = createDecipheriv('aes-256-gcm', Buffer.from(AES_KEK, 'hex'), one.iv, { authTagLength: 12 });
      decipher.setAuthTag(one.wrapped.subarray(16));
      expect(hex(Buffer.concat([decipher.update(one.wrapped.subarray(0, 16)), decipher.final()]))).to.equal(SECRET);
    });

    it('RSA-OAEP with SHA-1 and with SHA-256, chosen by the request among the Public Key\'s parameters; node decrypts both', async () => {
      const pair = await registerPair(rsa, [`${e('PaddingMethod', 'OAEP')}${e('HashingAlgorithm', 'SHA_1')}`, `${e('PaddingMethod', 'OAEP')}${e('HashingAlgorithm', 'SHA_256')}`]);
      const id = await target();
      const sha1 = await ok('2.1', getXml(id, spec('Encrypt', keyInformation('EncryptionKeyInformation', pair.publicId))));
      const opened1 = privateDecrypt({ key: rsa.privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, bytesOf(findValue(keyBlockOf(sha1), Tag.KeyValue)));
      expect(materialOf(opened1)).to.equal(SECRET);
      const sha256 = await ok('2.1', getXml(id, spec('Encrypt', keyInformation('EncryptionKeyInformation', pair.publicId, params(`${e('PaddingMethod', 'OAEP')}${e('HashingAlgorithm', 'SHA_256')}`)))));
      const opened256 = privateDecrypt({ key: rsa.privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, bytesOf(findValue(keyBlockOf(sha256), Tag.KeyValue)));
      expect(materialOf(opened256)).to.equal(SECRET);
      expect(findValue(findValue(keyBlockOf(sha256), Tag.KeyWrappingData), Tag.HashingAlgorithm)).to.deep.include({ value: Enum.HashingAlgorithm.SHA_256 });
    });

    it('RSA PKCS#1 v1.5 wraps with the Public Key (its block opened by hand: node refuses PKCS#1 v1.5 decryption)', async () => {
      const pair = await registerPair(rsa, [e('PaddingMethod', 'PKCS1V1_5')]);
      const r = await ok('2.1', getXml(await target(), spec('Encrypt', keyInformation('EncryptionKeyInformation', pair.publicId))));
      expect(materialOf(openPkcs1(rsa.privateKey, bytesOf(findValue(keyBlockOf(r), Tag.KeyValue))))).to.equal(SECRET);
    });

    it('MAC/sign with an HMAC-SHA256 key: the Key Value Byte String is the encoded Key Value, MAC/Signature its HMAC', async () => {
      const macKey = idOf(await ok('2.1', registerXml('SymmetricKey', `${mask('WrapKey UnwrapKey')}${activeSince}${params(e('CryptographicAlgorithm', 'HMAC_SHA256'))}`, symmetricKey(HMAC_KEY, 'HMAC_SHA256'))));
      const r = await ok('2.1', getXml(await target(), spec('MACSign', keyInformation('MACSignatureKeyInformation', macKey))));
      const block = keyBlockOf(r);
      const value = bytesOf(findValue(block, Tag.KeyValue));
      expect(materialOf(value)).to.equal(SECRET);
      const expected = createHmac('sha256', Buffer.from(HMAC_KEY, 'hex')).update(value).digest();
      expect(hex(bytesOf(findValue(block, Tag.MACSignature)))).to.equal(hex(expected));
      expect(findValue(block, Tag.EncryptionKeyInformation)).to.equal(undefined);
    });

    it('Encrypt then MAC/sign: AES key wrap, then a signature with the RSA Private Key over the wrapped bytes; node verifies it', async () => {
      const kek = await registerAes(AES_KEK, 'WrapKey UnwrapKey', params(e('BlockCipherMode', 'AESKeyWrapPadding')));
      const pair = await registerPair(rsa, [`${e('PaddingMethod', 'OAEP')}${e('HashingAlgorithm', 'SHA_256')}`], params(`${e('PaddingMethod', 'PKCS1V1_5')}${e('HashingAlgorithm', 'SHA_256')}`));
      const r = await ok(
        '2.1',
        getXml(await target(), spec('EncryptThenMACSign', `${keyInformation('EncryptionKeyInformation', kek)}${keyInformation('MACSignatureKeyInformation', pair.privateId)}`)),
      );
      const block = keyBlockOf(r);
      const wrapped = bytesOf(findValue(block, Tag.KeyValue));
      expect(verifySignature('sha256', wrapped, rsa.publicKey, bytesOf(findValue(block, Tag.MACSignature)))).to.equal(true);
      const decipher = createDecipheriv('id-aes256-wrap-pad', Buffer.from(AES_KEK, 'hex'), Buffer.from('a65959a6', 'hex'));
      expect(materialOf(Buffer.concat([decipher.update(wrapped), decipher.final()]))).to.equal(SECRET);
    });

    it('MAC/sign with CMAC (an AES key, Block Cipher Mode CMAC) and with ECDSA P-256 (verified by node); both register back', async () => {
      const cmacKey = await registerAes(SECRET, 'WrapKey UnwrapKey', params(e('BlockCipherMode', 'CMAC')));
      const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const ecPrivate = idOf(
        await ok(
          '2.1',
          registerXml(
            'PrivateKey',
            `${mask('WrapKey UnwrapKey')}${activeSince}${params(e('DigitalSignatureAlgorithm', 'ECDSAWithSHA256'))}`,
            `<PrivateKey><KeyBlock>${e('KeyFormatType', 'PKCS_8')}<KeyValue><KeyMaterial type="ByteString" value="${hex(ec.privateKey.export({ format: 'der', type: 'pkcs8' }))}"/></KeyValue>${e('CryptographicAlgorithm', 'EC')}<CryptographicLength type="Integer" value="256"/></KeyBlock></PrivateKey>`,
          ),
        ),
      );
      const id = await target();
      const cmac = await ok('2.1', getXml(id, spec('MACSign', keyInformation('MACSignatureKeyInformation', cmacKey))));
      expect(bytesOf(findValue(keyBlockOf(cmac), Tag.MACSignature)).length).to.equal(16);
      const ecdsa = await ok('2.1', getXml(id, spec('MACSign', keyInformation('MACSignatureKeyInformation', ecPrivate))));
      const signed = bytesOf(findValue(keyBlockOf(ecdsa), Tag.KeyValue));
      expect(verifySignature('sha256', signed, ec.publicKey, bytesOf(findValue(keyBlockOf(ecdsa), Tag.MACSignature)))).to.equal(true);
      for (const wrapped of [cmac, ecdsa]) {
        const registered = await registerReturned(wrapped);
        expect(registered.status, registered.message).to.equal('Success');
        expect(await plainMaterial(idOf(registered))).to.equal(SECRET);
      }
    });

    it('a Private Key wrapped with AES Key Wrap Padding opens with node to its PKCS#8 bytes, and registers back unwrapped', async () => {
      const kek = await registerAes(AES_KEK, 'WrapKey UnwrapKey', params(e('BlockCipherMode', 'AESKeyWrapPadding')));
      const pair = await registerPair(rsa, [e('PaddingMethod', 'OAEP')]);
      const r = await ok('2.1', getXml(pair.privateId, spec('Encrypt', keyInformation('EncryptionKeyInformation', kek))));
      const decipher = createDecipheriv('id-aes256-wrap-pad', Buffer.from(AES_KEK, 'hex'), Buffer.from('a65959a6', 'hex'));
      const opened = Buffer.concat([decipher.update(bytesOf(findValue(keyBlockOf(r), Tag.KeyValue))), decipher.final()]);
      const pkcs8 = rsa.privateKey.export({ format: 'der', type: 'pkcs8' });
      expect(materialOf(opened)).to.equal(hex(pkcs8));
      const object = findValue(r.payload, Tag.PrivateKey) as TtlvItem;
      const registered = await ok('2.1', registerXml('PrivateKey', mask('Sign'), toXml(object)));
      expect(await plainMaterial(idOf(registered))).to.equal(hex(pkcs8));
    });

    it('a Sensitive key may leave encrypted, not MAC/signed only (its material would be readable)', async () => {
      const macKey = idOf(await ok('2.1', registerXml('SymmetricKey', `${mask('WrapKey')}${activeSince}${params(e('CryptographicAlgorithm', 'HMAC_SHA256'))}`, symmetricKey(HMAC_KEY, 'HMAC_SHA256'))));
      const sensitive = await registerAes(SECRET, 'Encrypt', '<Sensitive type="Boolean" value="true"/>');
      const [r] = await send('2.1', getXml(sensitive, spec('MACSign', keyInformation('MACSignatureKeyInformation', macKey))));
      expect(r?.reason).to.equal('Sensitive');
    });
  });

  describe('refusals, checked before any key material is used', () => {
    it('a key wrapped with itself: Invalid Field', async () => {
      const kek = await registerAes(AES_KEK, 'WrapKey Encrypt', params(e('BlockCipherMode', 'NISTKeyWrap')));
      const [r] = await send('2.1', getXml(kek, spec('Encrypt', keyInformation('EncryptionKeyInformation', kek))));
      expect(r?.reason).to.equal('InvalidField');
      expect(r?.message).to.match(/itself/);
    });

    it('another owner\'s wrapping key: Permission Denied, for its owner\'s peers and for an administrator alike', async () => {
      const bobKek = await registerAes(AES_KEK, 'WrapKey', params(e('BlockCipherMode', 'NISTKeyWrap')), 'bob');
      const alices = await target();
      const [asAlice] = await send('2.1', getXml(alices, spec('Encrypt', keyInformation('EncryptionKeyInformation', bobKek))));
      expect(asAlice?.reason).to.equal('PermissionDenied');
      const [asAdmin] = await sendAs('admin', '2.1', getXml(alices, spec('Encrypt', keyInformation('EncryptionKeyInformation', bobKek))));
      expect(asAdmin?.reason).to.equal('PermissionDenied');
      expect(asAdmin?.message).to.match(/another identity/);
    });

    it('the wrapping key must be Active: Pre-Active and Deactivated keys answer Wrong Key Lifecycle State', async () => {
      const preActive = idOf(await ok('2.1', registerXml('SymmetricKey', `${mask('WrapKey')}${params(e('BlockCipherMode', 'NISTKeyWrap'))}`, symmetricKey(AES_KEK))));
      const id = await target();
      const [r1] = await send('2.1', getXml(id, spec('Encrypt', keyInformation('EncryptionKeyInformation', preActive))));
      expect(r1?.reason).to.equal('WrongKeyLifecycleState');
      const [r14] = await send('1.4', getXml(id, spec('Encrypt', keyInformation('EncryptionKeyInformation', preActive))));
      expect(r14?.reason).to.equal('PermissionDenied');
      const deactivated = await registerAes(AES_KEK, 'WrapKey', `${params(e('BlockCipherMode', 'NISTKeyWrap'))}<DeactivationDate type="DateTime" value="${iso(-60)}"/>`);
      const [r2] = await send('2.1', getXml(id, spec('Encrypt', keyInformation('EncryptionKeyInformation', deactivated))));
      expect(r2?.reason).to.equal('WrongKeyLifecycleState');
    });

    it('an RSA key too small for what it should wrap: Invalid Field naming the sizes (a private key under RSA-OAEP)', async () => {
      const wrapper = await registerPair(small, [`${e('PaddingMethod', 'OAEP')}${e('HashingAlgorithm', 'SHA_256')}`]);
      const victim = await registerPair(rsa, [`${e('PaddingMethod', 'OAEP')}`]);
      const [r] = await send('2.1', getXml(victim.privateId, spec('Encrypt', keyInformation('EncryptionKeyInformation', wrapper.publicId))));
      expect(r?.reason).to.equal('InvalidField');
      expect(r?.message).to.match(/1024-bit RSA key with OAEP wraps at most 62/);
    });

    it('a Private Key cannot encrypt for transport, and a MAC key cannot encrypt: Invalid Object Type / Feature Not Supported', async () => {
      const pair = await registerPair(rsa, [e('PaddingMethod', 'OAEP')], params(e('PaddingMethod', 'OAEP')));
      const id = await target();
      const [r] = await send('2.1', getXml(id, spec('Encrypt', keyInformation('EncryptionKeyInformation', pair.privateId))));
      expect(r?.reason).to.equal('InvalidObjectType');
      const macKey = idOf(await ok('2.1', registerXml('SymmetricKey', `${mask('WrapKey')}${activeSince}${params(e('BlockCipherMode', 'NISTKeyWrap'))}`, symmetricKey(HMAC_KEY, 'HMAC_SHA256'))));
      const [m] = await send('2.1', getXml(id, spec('Encrypt', keyInformation('EncryptionKeyInformation', macKey))));
      expect(m?.reason).to.equal('FeatureNotSupported');
    });

    it('one key named to encrypt and to MAC: Invalid Field', async () => {
      const kek = await registerAes(AES_KEK, 'WrapKey', `${params(e('BlockCipherMode', 'NISTKeyWrap'))}${params(e('BlockCipherMode', 'CMAC'))}`);
      const [r] = await send('2.1', getXml(await target(), spec('EncryptThenMACSign', `${keyInformation('EncryptionKeyInformation', kek)}${keyInformation('MACSignatureKeyInformation', kek)}`)));
      expect(r?.reason).to.equal('InvalidField');
      expect(r?.message).to.match(/two keys/);
    });

    it('AES-GCM with a Tag Length under 12 bytes: Bad Cryptographic Parameters', async () => {
      const kek = await registerAes(AES_KEK, 'WrapKey', params(`${e('BlockCipherMode', 'GCM')}<TagLength type="Integer" value="4"/>`));
      const [r] = await send('2.1', getXml(await target(), spec('Encrypt', keyInformation('EncryptionKeyInformation', kek))));
      expect(r?.reason).to.equal('BadCryptographicParameters');
    });
  });

  describe('unwrapping: Register, Get with Key Wrap Type Not Wrapped, Import', () => {
    it('Register of a key wrapped under the caller\'s keys stores it unwrapped: AES key wrap, AES-GCM, RSA-OAEP (SHA-256 with MGF1 SHA-1), Encrypt then MAC', async () => {
      const kw = await registerAes(AES_KEK, 'WrapKey UnwrapKey', params(e('BlockCipherMode', 'NISTKeyWrap')));
      const gcm = await registerAes(AES_KEK, 'WrapKey UnwrapKey', params(e('BlockCipherMode', 'GCM')));
      const pair = await registerPair(rsa, [`${e('PaddingMethod', 'OAEP')}${e('HashingAlgorithm', 'SHA_256')}${e('MaskGeneratorHashingAlgorithm', 'SHA_1')}`]);
      const macKey = idOf(await ok('2.1', registerXml('SymmetricKey', `${mask('WrapKey UnwrapKey')}${activeSince}${params(e('CryptographicAlgorithm', 'HMAC_SHA256'))}`, symmetricKey(HMAC_KEY, 'HMAC_SHA256'))));
      const id = await target();
      const specs = [
        spec('Encrypt', keyInformation('EncryptionKeyInformation', kw)),
        spec('Encrypt', keyInformation('EncryptionKeyInformation', gcm)),
        spec('Encrypt', keyInformation('EncryptionKeyInformation', pair.publicId)),
        spec('EncryptThenMACSign', `${keyInformation('EncryptionKeyInformation', gcm)}${keyInformation('MACSignatureKeyInformation', macKey)}`),
        spec('MACSign', keyInformation('MACSignatureKeyInformation', macKey)),
      ];
      for (const wrapping of specs) {
        const wrapped = await ok('2.1', getXml(id, wrapping));
        const registered = await registerReturned(wrapped);
        expect(registered.status, registered.message).to.equal('Success');
        const copy = idOf(registered);
        // Stored unwrapped: served plain, without Key Wrapping Data, and the same key.
        const served = await ok('2.1', getXml(copy));
        expect(findValue(served.payload, Tag.KeyWrappingData)).to.equal(undefined);
        expect(hex(bytesOf(findValue(served.payload, Tag.KeyMaterial)))).to.equal(SECRET);
      }
    });

    it('a changed byte of the wrapped key or of its MAC fails the Register: Cryptographic Failure, nothing stored', async () => {
      const kw = await registerAes(AES_KEK, 'WrapKey UnwrapKey', params(e('BlockCipherMode', 'NISTKeyWrap')));
      const macKey = idOf(await ok('2.1', registerXml('SymmetricKey', `${mask('WrapKey UnwrapKey')}${activeSince}${params(e('CryptographicAlgorithm', 'HMAC_SHA256'))}`, symmetricKey(HMAC_KEY, 'HMAC_SHA256'))));
      const id = await target();
      const flip = (r: ItemResult, tag: number): ItemResult => {
        const item = findValue(r.payload, tag);
        if (item?.type !== 'ByteString') throw new Error('no such Byte String');
        const changed = Buffer.from(item.value);
        changed.writeUInt8(changed.readUInt8(3) ^ 0x01, 3);
        (item as { value: Uint8Array }).value = changed;
        return r;
      };
      const wrapped = await ok('2.1', getXml(id, spec('Encrypt', keyInformation('EncryptionKeyInformation', kw))));
      const bad = await registerReturned(flip(wrapped, Tag.KeyValue));
      expect(bad.reason).to.equal('CryptographicFailure');
      const maced = await ok('2.1', getXml(id, spec('EncryptThenMACSign', `${keyInformation('EncryptionKeyInformation', kw)}${keyInformation('MACSignatureKeyInformation', macKey)}`)));
      const badMac = await registerReturned(flip(maced, Tag.MACSignature));
      expect(badMac.reason).to.equal('CryptographicFailure');
      expect(badMac.message).to.match(/MAC\/Signature/);
    });

    it('RSA PKCS#1 v1.5 is never unwrapped (a decryption oracle, CVE-2023-46809): Unsupported Cryptographic Parameters, before any decryption', async () => {
      const pair = await registerPair(rsa, [e('PaddingMethod', 'PKCS1V1_5')]);
      const wrapped = await ok('2.1', getXml(await target(), spec('Encrypt', keyInformation('EncryptionKeyInformation', pair.publicId))));
      const r = await registerReturned(wrapped);
      expect(r.reason).to.equal('UnsupportedCryptographicParameters');
      expect(r.message).to.match(/oracle/);
      // 1.x clients get the nearest 1.x reason.
      const object = findValue(wrapped.payload, Tag.SymmetricKey);
      const [v14] = await send('1.4', `<Operation type="Enumeration" value="Register"/><RequestPayload>${e('ObjectType', 'SymmetricKey')}<TemplateAttribute/>${toXml(object as TtlvItem)}</RequestPayload>`);
      expect(v14?.reason).to.equal('FeatureNotSupported');
    });

    it('unwrapping needs Unwrap Key: a wrapping key without it answers Incompatible Cryptographic Usage Mask; a Deactivated key still unwraps', async () => {
      const wrapOnly = await registerAes(AES_KEK, 'WrapKey', params(e('BlockCipherMode', 'AESKeyWrapPadding')));
      const wrapped = await ok('2.1', getXml(await target(), spec('Encrypt', keyInformation('EncryptionKeyInformation', wrapOnly))));
      const r = await registerReturned(wrapped);
      expect(r.reason).to.equal('IncompatibleCryptographicUsageMask');
      const retiring = await registerAes(AES_KEK, 'WrapKey UnwrapKey', params(e('BlockCipherMode', 'AESKeyWrapPadding')));
      const before = await ok('2.1', getXml(await target(), spec('Encrypt', keyInformation('EncryptionKeyInformation', retiring))));
      await ok('2.1', `<Operation type="Enumeration" value="Revoke"/><RequestPayload><UniqueIdentifier type="TextString" value="${retiring}"/><RevocationReason>${e('RevocationReasonCode', 'CessationOfOperation')}</RevocationReason></RequestPayload>`);
      const after = await registerReturned(before);
      expect(after.status, after.message).to.equal('Success');
      expect(await plainMaterial(idOf(after))).to.equal(SECRET);
    });

    it('RSA unwrapping through the Public Key named needs Unwrap Key on its Private Key (the Public Key only names the pair)', async () => {
      const pair = await registerPair(rsa, [`${e('PaddingMethod', 'OAEP')}${e('HashingAlgorithm', 'SHA_256')}`], '', 'Sign');
      const wrapped = await ok('2.1', getXml(await target(), spec('Encrypt', keyInformation('EncryptionKeyInformation', pair.publicId))));
      const r = await registerReturned(wrapped);
      expect(r.reason).to.equal('IncompatibleCryptographicUsageMask');
      expect(r.message).to.contain(pair.privateId);
    });

    it('a key wrapped under another identity\'s key is stored as given, not unwrapped with the other\'s key', async () => {
      const bobKek = await registerAes(AES_KEK, 'WrapKey UnwrapKey', params(e('BlockCipherMode', 'NISTKeyWrap')), 'bob');
      const wrapped = await ok('2.1', getXml(await target('bob'), spec('Encrypt', keyInformation('EncryptionKeyInformation', bobKek))), 'bob');
      const r = await registerReturned(wrapped, 'alice');
      expect(r.status, r.message).to.equal('Success');
      const [got] = await send('2.1', getXml(idOf(r)));
      expect(findValue(got?.payload, Tag.KeyWrappingData)).to.not.equal(undefined);
      const [plain] = await send('2.1', getXml(idOf(r), e('KeyWrapType', 'NotWrapped')));
      expect(plain?.reason).to.equal('KeyWrapTypeNotSupported');
    });

    it('Get with Key Wrap Type Not Wrapped unwraps a key stored wrapped once its wrapping key is held; As Registered serves it as stored', async () => {
      const kek = await registerAes(AES_KEK, 'WrapKey UnwrapKey', params(e('BlockCipherMode', 'NISTKeyWrap')));
      const wrapped = await ok('2.1', getXml(await target(), spec('Encrypt', keyInformation('EncryptionKeyInformation', kek))));
      // Imported As Registered: stored wrapped.
      const object = toXml(findValue(wrapped.payload, Tag.SymmetricKey) as TtlvItem);
      const imported = await ok(
        '2.1',
        `<Operation type="Enumeration" value="Import"/><RequestPayload><UniqueIdentifier type="TextString" value="imported-wrapped-1"/>${e('ObjectType', 'SymmetricKey')}
          ${e('KeyWrapType', 'AsRegistered')}<Attributes>${mask('Encrypt')}</Attributes>${object}</RequestPayload>`,
      );
      expect(idOf(imported)).to.equal('imported-wrapped-1');
      const [stored] = await send('2.1', getXml('imported-wrapped-1'));
      expect(findValue(stored?.payload, Tag.KeyWrappingData)).to.not.equal(undefined);
      const [plain] = await send('2.1', getXml('imported-wrapped-1', e('KeyWrapType', 'NotWrapped')));
      expect(plain?.status, plain?.message).to.equal('Success');
      expect(hex(bytesOf(findValue(plain?.payload, Tag.KeyMaterial)))).to.equal(SECRET);
    });
  });

  describe('Export and Import (2.1 sections 6.1.18 and 6.1.25, 1.4 sections 4.40 and 4.41)', () => {
    it('Export answers the object with all its attributes, wrapped as asked; 1.4 in Attribute items; a destroyed object without key material', async () => {
      const kek = await registerAes(AES_KEK, 'WrapKey', params(e('BlockCipherMode', 'AESKeyWrapPadding')));
      const id = await target();
      const exportXml = (body: string): string => `<Operation type="Enumeration" value="Export"/><RequestPayload><UniqueIdentifier type="TextString" value="${id}"/>${body}</RequestPayload>`;
      const r = await ok('2.1', exportXml(spec('Encrypt', keyInformation('EncryptionKeyInformation', kek))));
      expect(findValue(r.payload, Tag.ObjectType)).to.deep.include({ value: Enum.ObjectType.SymmetricKey });
      const attributes = findValue(r.payload, Tag.Attributes);
      expect(findValue(attributes, Tag.State)).to.deep.include({ value: Enum.State.Active });
      expect(findValue(attributes, Tag.Fresh)).to.deep.include({ value: false });
      expect(findValue(findValue(r.payload, Tag.KeyBlock), Tag.KeyWrappingData)).to.not.equal(undefined);
      const v14 = await ok('1.4', exportXml(''));
      const names = findAll(v14.payload, Tag.AttributeName).map((n) => textOf(n));
      expect(names).to.include.members(['Unique Identifier', 'State', 'Cryptographic Usage Mask']);
      expect(hex(bytesOf(findValue(v14.payload, Tag.KeyMaterial)))).to.equal(SECRET);
      await ok('2.1', `<Operation type="Enumeration" value="Revoke"/><RequestPayload><UniqueIdentifier type="TextString" value="${id}"/><RevocationReason>${e('RevocationReasonCode', 'CessationOfOperation')}</RevocationReason></RequestPayload>`);
      await ok('2.1', `<Operation type="Enumeration" value="Destroy"/><RequestPayload><UniqueIdentifier type="TextString" value="${id}"/></RequestPayload>`);
      const destroyed = await ok('2.1', exportXml(''));
      expect(findValue(destroyed.payload, Tag.SymmetricKey)).to.equal(undefined);
      expect(findValue(findValue(destroyed.payload, Tag.Attributes), Tag.State)).to.deep.include({ value: Enum.State.Destroyed });
    });

    it('Export, then Import on another server sharing the wrapping key with Key Wrap Type Not Wrapped: the same key, its attributes, its identifier', async () => {
      const other = await openTestService();
      try {
        const kekHere = await registerAes(AES_KEK, 'WrapKey', params(e('BlockCipherMode', 'GCM')));
        const id = await target();
        const exported = await ok('2.1', `<Operation type="Enumeration" value="Export"/><RequestPayload><UniqueIdentifier type="TextString" value="${id}"/>${spec('Encrypt', keyInformation('EncryptionKeyInformation', kekHere))}</RequestPayload>`);
        const reg = results(await other.send(request('2.1', registerXml('SymmetricKey', `${mask('UnwrapKey')}${activeSince}${params(e('BlockCipherMode', 'GCM'))}`, symmetricKey(AES_KEK)))))[0];
        const kekThere = idOf(reg as ItemResult);
        // The Key Wrapping Data names the wrapping key by its identifier here; there it has another one.
        const object = toXml(findValue(exported.payload, Tag.SymmetricKey) as TtlvItem).replace(kekHere, kekThere);
        const attributes = findValue(exported.payload, Tag.Attributes);
        const [imported] = results(
          await other.send(
            request(
              '2.1',
              `<Operation type="Enumeration" value="Import"/><RequestPayload><UniqueIdentifier type="TextString" value="${id}"/>${e('ObjectType', 'SymmetricKey')}
                ${e('KeyWrapType', 'NotWrapped')}${toXml(attributes as TtlvItem)}${object}</RequestPayload>`,
            ),
          ),
        );
        expect(imported?.status, imported?.message).to.equal('Success');
        const [got] = results(await other.send(request('2.1', `<Operation type="Enumeration" value="GetAttributes"/><RequestPayload><UniqueIdentifier type="TextString" value="${id}"/></RequestPayload>`, getXml(id))));
        const theirs = findValue(got?.payload, Tag.Attributes);
        // Imported attributes are the ones supplied, server-set ones included.
        expect(findValue(theirs, Tag.State)).to.deep.include({ value: Enum.State.Active });
        expect(findValue(theirs, Tag.InitialDate)).to.deep.equal(findValue(attributes, Tag.InitialDate));
        const [material] = results(await other.send(request('2.1', getXml(id))));
        expect(hex(bytesOf(findValue(material?.payload, Tag.KeyMaterial)))).to.equal(SECRET);
      } finally {
        await other.close();
      }
    });

    it('1.4 Import: the Object Type follows from the object, the attributes are Attribute items', async () => {
      const [r] = await send(
        '1.4',
        `<Operation type="Enumeration" value="Import"/><RequestPayload><UniqueIdentifier type="TextString" value="import-v14"/>
          <Attribute><AttributeName type="TextString" value="Cryptographic Usage Mask"/><AttributeValue type="Integer" value="Encrypt"/></Attribute>
          <Attribute><AttributeName type="TextString" value="Name"/><AttributeValue><NameValue type="TextString" value="imported-in-1.4"/>${e('NameType', 'UninterpretedTextString')}</AttributeValue></Attribute>
          ${symmetricKey(SECRET)}</RequestPayload>`,
      );
      expect(r?.status, r?.message).to.equal('Success');
      expect(textOf(findValue(r?.payload, Tag.UniqueIdentifier))).to.equal('import-v14');
      const [located] = await send('1.4', `<Operation type="Enumeration" value="Locate"/><RequestPayload><Attribute><AttributeName type="TextString" value="Name"/><AttributeValue><NameValue type="TextString" value="imported-in-1.4"/>${e('NameType', 'UninterpretedTextString')}</AttributeValue></Attribute></RequestPayload>`);
      expect(textOf(findValue(located?.payload, Tag.UniqueIdentifier))).to.equal('import-v14');
      expect(await plainMaterial('import-v14')).to.equal(SECRET);
    });

    it('Import refuses an existing identifier without Replace Existing, replaces it with, and never another owner\'s object', async () => {
      const importXml = (id: string, material: string, extra = ''): string =>
        `<Operation type="Enumeration" value="Import"/><RequestPayload><UniqueIdentifier type="TextString" value="${id}"/>${e('ObjectType', 'SymmetricKey')}${extra}
          <Attributes>${mask('Encrypt')}</Attributes>${symmetricKey(material)}</RequestPayload>`;
      await ok('2.1', importXml('import-twice', SECRET));
      const [again] = await send('2.1', importXml('import-twice', AES_KEK.slice(0, 32)));
      expect(again?.reason).to.equal('ObjectAlreadyExists');
      await ok('2.1', importXml('import-twice', AES_KEK.slice(0, 32), '<ReplaceExisting type="Boolean" value="true"/>'));
      expect(await plainMaterial('import-twice')).to.equal(AES_KEK.slice(0, 32));
      const [bob] = await sendAs('bob', '2.1', importXml('import-twice', SECRET, '<ReplaceExisting type="Boolean" value="true"/>'));
      expect(bob?.reason).to.equal('PermissionDenied');
      expect(await plainMaterial('import-twice')).to.equal(AES_KEK.slice(0, 32));
    });

    it('Import with Key Wrap Type Not Wrapped fails when the wrapping key is not held: Wrapping Object Not Found', async () => {
      const [r] = await send(
        '2.1',
        `<Operation type="Enumeration" value="Import"/><RequestPayload><UniqueIdentifier type="TextString" value="import-unheld"/>${e('ObjectType', 'SymmetricKey')}${e('KeyWrapType', 'NotWrapped')}
          <Attributes>${mask('Encrypt')}</Attributes><SymmetricKey><KeyBlock>${e('KeyFormatType', 'Raw')}<KeyValue type="ByteString" value="1fa68b0a8112b447aef34bd8fb5a7b829d3e862371d2cfe5"/>
          ${e('CryptographicAlgorithm', 'AES')}<CryptographicLength type="Integer" value="128"/><KeyWrappingData>${e('WrappingMethod', 'Encrypt')}${keyInformation('EncryptionKeyInformation', 'elsewhere')}</KeyWrappingData></KeyBlock></SymmetricKey></RequestPayload>`,
      );
      expect(r?.reason).to.equal('WrappingObjectNotFound');
      const [gone] = await send('2.1', getXml('import-unheld'));
      expect(gone?.reason).to.equal('ItemNotFound');
    });

    it('a key whose Key Wrapping Data names itself is stored as given by Import, and Get Not Wrapped refuses to open it (Invalid Field)', async () => {
      const kek = await registerAes(AES_KEK, 'WrapKey UnwrapKey', params(e('BlockCipherMode', 'NISTKeyWrap')));
      const wrapped = await ok('2.1', getXml(await target(), spec('Encrypt', keyInformation('EncryptionKeyInformation', kek))));
      const object = toXml(findValue(wrapped.payload, Tag.SymmetricKey) as TtlvItem).replace(kek, 'wrapped-with-itself');
      const importXml = (wrapType: string): string =>
        `<Operation type="Enumeration" value="Import"/><RequestPayload><UniqueIdentifier type="TextString" value="wrapped-with-itself"/>${e('ObjectType', 'SymmetricKey')}
          ${e('KeyWrapType', wrapType)}<Attributes>${mask('WrapKey UnwrapKey Encrypt')}${activeSince}</Attributes>${object}</RequestPayload>`;
      const [unwrapping] = await send('2.1', importXml('NotWrapped'));
      expect(unwrapping?.reason).to.equal('InvalidField');
      expect(unwrapping?.message).to.match(/itself/);
      await ok('2.1', importXml('AsRegistered'));
      const [plain] = await send('2.1', getXml('wrapped-with-itself', e('KeyWrapType', 'NotWrapped')));
      expect(plain?.reason).to.equal('InvalidField');
      expect(plain?.message).to.match(/itself/);
    });

    it('Query lists Import and Export from KMIP 1.4 on, not to 1.3 clients', async () => {
      const query = `<Operation type="Enumeration" value="Query"/><RequestPayload>${e('QueryFunction', 'QueryOperations')}</RequestPayload>`;
      const operations = async (version: string): Promise<number[]> => findAll((await ok(version, query)).payload, Tag.Operation).map((o) => (o.type === 'Enumeration' ? o.value : 0));
      expect(await operations('2.1')).to.include.members([Enum.Operation.Import, Enum.Operation.Export]);
      expect(await operations('1.4')).to.include.members([Enum.Operation.Import, Enum.Operation.Export]);
      expect(await operations('1.3')).not.to.include(Enum.Operation.Export);
    });
  });
});
