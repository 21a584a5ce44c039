/**
 * Cryptographic services through the key manager: Encrypt/Decrypt (one shot and multi-part),
 * MAC/MAC Verify, Hash, RNG Retrieve, and the usage rules (mask, state, dates, limits).
 */
import { createHash } from 'node:crypto';
import { expect } from 'chai';
import { Enum, Tag } from '../../ttlv/index.js';
import { findValue, openTestService, request, results, textOf } from '../support/service.js';
import type { ItemResult, TestService } from '../support/service.js';

const KEY = '0123456789abcdef0123456789abcdef';
const iso = (offsetSeconds: number): string => new Date(Date.now() + offsetSeconds * 1000).toISOString().replace(/\.\d+Z$/, '+00:00');
const attr = (name: string, value: string): string => `<Attribute><AttributeName type="TextString" value="${name}"/>${value}</Attribute>`;
const registerKey = (mask: string, extra = '', algorithm = 'AES'): string => `
  <Operation type="Enumeration" value="Register"/><RequestPayload><ObjectType type="Enumeration" value="SymmetricKey"/><TemplateAttribute>
    ${attr('Cryptographic Usage Mask', `<AttributeValue type="Integer" value="${mask}"/>`)}
    ${attr('Activation Date', `<AttributeValue type="DateTime" value="${iso(-3600)}"/>`)}
    ${extra}
  </TemplateAttribute><SymmetricKey><KeyBlock><KeyFormatType type="Enumeration" value="Raw"/><KeyValue><KeyMaterial type="ByteString" value="${KEY}"/></KeyValue>
  <CryptographicAlgorithm type="Enumeration" value="${algorithm}"/><CryptographicLength type="Integer" value="128"/></KeyBlock></SymmetricKey></RequestPayload>`;
const op = (operation: string, id: string, body: string): string =>
  `<Operation type="Enumeration" value="${operation}"/><RequestPayload><UniqueIdentifier type="TextString" value="${id}"/>${body}</RequestPayload>`;
const cbc = '<CryptographicParameters><BlockCipherMode type="Enumeration" value="CBC"/><PaddingMethod type="Enumeration" value="PKCS5"/></CryptographicParameters>';
const gcm = '<CryptographicParameters><BlockCipherMode type="Enumeration" value="GCM"/><TagLength type="Integer" value="16"/></CryptographicParameters>';
const hexOf = (r: ItemResult | undefined, tag: number): string => {
  const item = findValue(r?.payload, tag);
  return item?.type === 'ByteString' ? Buffer.from(item.value).toString('hex') : '';
};

describe('cryptographic services', () => {
  let kms: TestService;
  before(async () => {
    kms = await openTestService();
  });
  after(async () => {
    await kms.close();
  });
  const send = async (version: string, ...items: string[]): Promise<ItemResult[]> => results(await kms.send(request(version, ...items)));
  const registered = async (mask: string, extra = '', algorithm = 'AES'): Promise<string> => {
    const [r] = await send('1.4', registerKey(mask, extra, algorithm));
    expect(r?.status, r?.message).to.equal('Success');
    return textOf(findValue(r?.payload, Tag.UniqueIdentifier));
  };

  it('MongoDB delegated mode: AES-CBC with PKCS#5 and a server-chosen IV, then Decrypt gives the data back', async () => {
    const id = await registered('Encrypt Decrypt');
    const [enc] = await send('1.2', op('Encrypt', id, `${cbc}<Data type="ByteString" value="${Buffer.from('data key 96 bytes').toString('hex')}"/>`));
    expect(enc?.status, enc?.message).to.equal('Success');
    const iv = hexOf(enc, Tag.IVCounterNonce);
    expect(iv).to.have.length(32);
    const [dec] = await send('1.2', op('Decrypt', id, `${cbc}<Data type="ByteString" value="${hexOf(enc, Tag.Data)}"/><IVCounterNonce type="ByteString" value="${iv}"/>`));
    expect(Buffer.from(hexOf(dec, Tag.Data), 'hex').toString()).to.equal('data key 96 bytes');
  });

  it('multi-part GCM encryption gives the same ciphertext and tag as one request', async () => {
    const id = await registered('Encrypt Decrypt');
    const plain = Buffer.alloc(48, 0x5a);
    const iv = '000102030405060708090a0b';
    const [whole] = await send('2.1', op('Encrypt', id, `${gcm}<Data type="ByteString" value="${plain.toString('hex')}"/><IVCounterNonce type="ByteString" value="${iv}"/>`));
    const [first] = await send('2.1', op('Encrypt', id, `${gcm}<Data type="ByteString" value="${plain.subarray(0, 20).toString('hex')}"/><IVCounterNonce type="ByteString" value="${iv}"/><InitIndicator type="Boolean" value="true"/>`));
    const correlation = hexOf(first, Tag.CorrelationValue);
    expect(correlation).to.have.length(32);
    const [last] = await send('2.1', op('Encrypt', id, `<Data type="ByteString" value="${plain.subarray(20).toString('hex')}"/><CorrelationValue type="ByteString" value="${correlation}"/><FinalIndicator type="Boolean" value="true"/>`));
    expect(hexOf(first, Tag.Data) + hexOf(last, Tag.Data)).to.equal(hexOf(whole, Tag.Data));
    expect(hexOf(last, Tag.AuthenticatedEncryptionTag)).to.equal(hexOf(whole, Tag.AuthenticatedEncryptionTag));
    // The stream is gone once finished.
    const [again] = await send('2.1', op('Encrypt', id, `<Data type="ByteString" value="00"/><CorrelationValue type="ByteString" value="${correlation}"/>`));
    expect(again?.reason).to.equal('InvalidCorrelationValue');
  });

  it('MAC and MAC Verify with an HMAC-SHA256 key', async () => {
    const id = await registered('MACGenerate MACVerify', '', 'HMAC_SHA256');
    const data = Buffer.from('tape label 0042');
    const [m] = await send('1.4', op('MAC', id, `<Data type="ByteString" value="${data.toString('hex')}"/>`));
    const { createHmac } = await import('node:crypto');
    expect(hexOf(m, Tag.MACData)).to.equal(createHmac('sha256', Buffer.from(KEY, 'hex')).update(data).digest('hex'));
    const [ok] = await send('1.4', op('MACVerify', id, `<Data type="ByteString" value="${data.toString('hex')}"/><MACData type="ByteString" value="${hexOf(m, Tag.MACData)}"/>`));
    expect(findValue(ok?.payload, Tag.ValidityIndicator)).to.deep.include({ value: Enum.ValidityIndicator.Valid });
    const [bad] = await send('1.4', op('MACVerify', id, `<Data type="ByteString" value="00"/><MACData type="ByteString" value="${hexOf(m, Tag.MACData)}"/>`));
    expect(findValue(bad?.payload, Tag.ValidityIndicator)).to.deep.include({ value: Enum.ValidityIndicator.Invalid });
  });

  it('Hash and RNG Retrieve', async () => {
    const [h] = await send('1.4', '<Operation type="Enumeration" value="Hash"/><RequestPayload><CryptographicParameters><HashingAlgorithm type="Enumeration" value="SHA_256"/></CryptographicParameters><Data type="ByteString" value="616263"/></RequestPayload>');
    expect(hexOf(h, Tag.Data)).to.equal(createHash('sha256').update('abc').digest('hex'));
    const [r] = await send('1.4', '<Operation type="Enumeration" value="RNGRetrieve"/><RequestPayload><DataLength type="Integer" value="48"/></RequestPayload>');
    expect(hexOf(r, Tag.Data)).to.have.length(96);
  });

  it('AES XTS Server: a 256-bit key created for XTS encrypts a data unit under its tweak with its own parameters, and decrypts it back', async () => {
    const [created] = await send(
      '1.4',
      `<Operation type="Enumeration" value="Create"/><RequestPayload><ObjectType type="Enumeration" value="SymmetricKey"/><TemplateAttribute>
        ${attr('Cryptographic Algorithm', '<AttributeValue type="Enumeration" value="AES"/>')}${attr('Cryptographic Length', '<AttributeValue type="Integer" value="256"/>')}
        ${attr('Cryptographic Usage Mask', '<AttributeValue type="Integer" value="Encrypt Decrypt"/>')}${attr('Cryptographic Parameters', '<AttributeValue><BlockCipherMode type="Enumeration" value="XTS"/></AttributeValue>')}
        ${attr('Activation Date', `<AttributeValue type="DateTime" value="${iso(-3600)}"/>`)}</TemplateAttribute></RequestPayload>`,
    );
    const id = textOf(findValue(created?.payload, Tag.UniqueIdentifier));
    const tweak = '<IVCounterNonce type="ByteString" value="00000000000000000000000000000001"/>';
    const unit = Buffer.alloc(512, 0xa5).toString('hex');
    const [enc] = await send('1.4', op('Encrypt', id, `<Data type="ByteString" value="${unit}"/>${tweak}`));
    expect(enc?.status, enc?.message).to.equal('Success');
    expect(hexOf(enc, Tag.Data)).to.have.length(1024).and.not.equal(unit);
    const [dec] = await send('1.4', op('Decrypt', id, `<Data type="ByteString" value="${hexOf(enc, Tag.Data)}"/>${tweak}`));
    expect(hexOf(dec, Tag.Data)).to.equal(unit);
  });

  it('2.1 section 6.1.50 RNG Seed: the seed is not used (node:crypto cannot add it to OpenSSL\'s DRBG), and the answer says so with Data Length 0; Data is required', async () => {
    const seed = (data: string): string => `<Operation type="Enumeration" value="RNGSeed"/><RequestPayload>${data}</RequestPayload>`;
    const [r] = await send('1.4', seed('<Data type="ByteString" value="333c06587706225099a67438f263f8f932f64b860c3a7dbb21bc2bd56685d8bc"/>'));
    expect(r?.status, r?.message).to.equal('Success');
    expect(findValue(r?.payload, Tag.DataLength)).to.deep.include({ type: 'Integer', value: 0 });
    const [none] = await send('2.1', seed(''));
    expect(none?.reason).to.equal('InvalidField');
  });

  describe('a key is used only as its attributes allow', () => {
    it('not for a usage its Cryptographic Usage Mask lacks', async () => {
      const id = await registered('Decrypt');
      const [r] = await send('2.1', op('Encrypt', id, `${cbc}<Data type="ByteString" value="00"/>`));
      expect(r?.reason).to.equal('IncompatibleCryptographicUsageMask');
      expect((await send('1.4', op('Encrypt', id, `${cbc}<Data type="ByteString" value="00"/>`)))[0]?.reason).to.equal('PermissionDenied');
    });

    it('not before it is Active, and a Deactivated key decrypts but no longer encrypts', async () => {
      const [r] = await send('1.4', registerKey('Encrypt Decrypt').replace(/<Attribute><AttributeName type="TextString" value="Activation Date"\/>.*?<\/Attribute>/s, ''));
      const id = textOf(findValue(r?.payload, Tag.UniqueIdentifier));
      expect((await send('2.1', op('Encrypt', id, `${cbc}<Data type="ByteString" value="00"/>`)))[0]?.reason).to.equal('WrongKeyLifecycleState');
      await send('1.4', op('Activate', id, ''));
      const [enc] = await send('2.1', op('Encrypt', id, `${cbc}<Data type="ByteString" value="00"/>`));
      expect(enc?.status).to.equal('Success');
      await send('1.4', op('Revoke', id, '<RevocationReason><RevocationReasonCode type="Enumeration" value="CessationOfOperation"/></RevocationReason>'));
      expect((await send('2.1', op('Encrypt', id, `${cbc}<Data type="ByteString" value="00"/>`)))[0]?.reason).to.equal('WrongKeyLifecycleState');
      const [dec] = await send('2.1', op('Decrypt', id, `${cbc}<Data type="ByteString" value="${hexOf(enc, Tag.Data)}"/><IVCounterNonce type="ByteString" value="${hexOf(enc, Tag.IVCounterNonce)}"/>`));
      expect(dec?.status, dec?.message).to.equal('Success');
    });

    it('not to protect after its Protect Stop Date', async () => {
      const id = await registered('Encrypt Decrypt', attr('Protect Stop Date', `<AttributeValue type="DateTime" value="${iso(-60)}"/>`));
      expect((await send('2.1', op('Encrypt', id, `${cbc}<Data type="ByteString" value="00"/>`)))[0]?.reason).to.equal('WrongKeyLifecycleState');
    });

    it('not past its Usage Limits: bytes protected are counted down durably', async () => {
      const limits = attr('Usage Limits', '<AttributeValue><UsageLimitsTotal type="LongInteger" value="32"/><UsageLimitsUnit type="Enumeration" value="Byte"/></AttributeValue>');
      const id = await registered('Encrypt Decrypt', limits);
      const ecb = '<CryptographicParameters><BlockCipherMode type="Enumeration" value="ECB"/></CryptographicParameters>';
      expect((await send('1.4', op('Encrypt', id, `${ecb}<Data type="ByteString" value="${'00'.repeat(16)}"/>`)))[0]?.status).to.equal('Success');
      expect((await send('1.4', op('Encrypt', id, `${ecb}<Data type="ByteString" value="${'00'.repeat(16)}"/>`)))[0]?.status).to.equal('Success');
      const [refused] = await send('2.1', op('Encrypt', id, `${ecb}<Data type="ByteString" value="${'00'.repeat(16)}"/>`));
      expect(refused?.reason).to.equal('UsageLimitExceeded');
    });

    it('Usage Limits on a new object start with the count at the total, whatever count the client gave (1.4 section 3.21); Check compares with it', async () => {
      const limits = attr('Usage Limits', '<AttributeValue><UsageLimitsTotal type="LongInteger" value="10"/><UsageLimitsCount type="LongInteger" value="3"/><UsageLimitsUnit type="Enumeration" value="Object"/></AttributeValue>');
      const id = await registered('Encrypt Decrypt', limits);
      const [got] = await send('1.4', op('GetAttributes', id, '<AttributeName type="TextString" value="Usage Limits"/>'));
      const count = findValue(got?.payload, Tag.UsageLimitsCount);
      expect(count).to.deep.include({ type: 'LongInteger', value: 10n });
      expect((await send('1.4', op('Check', id, '<UsageLimitsCount type="LongInteger" value="10"/>')))[0]?.status).to.equal('Success');
      expect((await send('2.1', op('Check', id, '<UsageLimitsCount type="LongInteger" value="11"/>')))[0]?.reason).to.equal('UsageLimitExceeded');
    });

    it('Usage Limits under concurrent use: of twelve Encrypts of 16 bytes against 128, exactly eight succeed and the rest are refused', async () => {
      const limits = attr('Usage Limits', '<AttributeValue><UsageLimitsTotal type="LongInteger" value="128"/><UsageLimitsUnit type="Enumeration" value="Byte"/></AttributeValue>');
      const id = await registered('Encrypt Decrypt', limits);
      const ecb = '<CryptographicParameters><BlockCipherMode type="Enumeration" value="ECB"/></CryptographicParameters>';
      const answers = await Promise.all(Array.from({ length: 12 }, async () => (await send('2.1', op('Encrypt', id, `${ecb}<Data type="ByteString" value="${'00'.repeat(16)}"/>`)))[0]));
      expect(answers.filter((a) => a?.status === 'Success'), answers.map((a) => a?.message).join('; ')).to.have.length(8);
      expect(answers.filter((a) => a?.reason === 'UsageLimitExceeded'), answers.map((a) => `${a?.reason} ${a?.message}`).join('; ')).to.have.length(4);
    });

    it('another identity cannot use it at all', async () => {
      const id = await registered('Encrypt Decrypt');
      const [r] = results(await kms.send(request('1.4', op('Encrypt', id, `${cbc}<Data type="ByteString" value="00"/>`)), 'mallory'));
      expect(r?.reason).to.equal('PermissionDenied');
    });
  });
});
