/**
 * Get with a Key Wrapping Specification (KMIP 1.4 sections 2.1.5 and 2.1.6, 2.1 sections
 * 3.3 and 7.18): the Key Value leaves the server encrypted under a wrapping key the client
 * names, as the AES XTS Server profile's AX-M-2 asks. The wrapped bytes are opened here with
 * node's own key-unwrap ciphers, not with the server's code.
 */
import { createDecipheriv } from 'node:crypto';
import { expect } from 'chai';
import { Enum, Tag, decodeTtlv } from '../../ttlv/index.js';
import type { TtlvItem } from '../../ttlv/index.js';
import { findValue, openTestService, request, results, textOf } from '../support/service.js';
import type { ItemResult, TestService } from '../support/service.js';

const WRAPPING_KEY = '000102030405060708090a0b0c0d0e0f';
const SECRET = '00112233445566778899aabbccddeeff';
const iso = (offsetSeconds: number): string => new Date(Date.now() + offsetSeconds * 1000).toISOString().replace(/\.\d+Z$/, '+00:00');
const attr = (name: string, value: string): string => `<Attribute><AttributeName type="TextString" value="${name}"/>${value}</Attribute>`;
const params = (mode: string): string => `<CryptographicParameters><BlockCipherMode type="Enumeration" value="${mode}"/></CryptographicParameters>`;
const registerKey = (material: string, mask: string, extra = ''): string => `
  <Operation type="Enumeration" value="Register"/><RequestPayload><ObjectType type="Enumeration" value="SymmetricKey"/><TemplateAttribute>
    ${attr('Cryptographic Usage Mask', `<AttributeValue type="Integer" value="${mask}"/>`)}
    ${attr('Activation Date', `<AttributeValue type="DateTime" value="${iso(-3600)}"/>`)}
    ${extra}
  </TemplateAttribute><SymmetricKey><KeyBlock><KeyFormatType type="Enumeration" value="Raw"/><KeyValue><KeyMaterial type="ByteString" value="${material}"/></KeyValue>
  <CryptographicAlgorithm type="Enumeration" value="AES"/><CryptographicLength type="Integer" value="${(material.length / 2) * 8}"/></KeyBlock></SymmetricKey></RequestPayload>`;
const wrappingSpec = (wrappingId: string, inner = params('NISTKeyWrap'), extra = ''): string => `
  <KeyWrappingSpecification><WrappingMethod type="Enumeration" value="Encrypt"/>
    <EncryptionKeyInformation><UniqueIdentifier type="TextString" value="${wrappingId}"/>${inner}</EncryptionKeyInformation>${extra}
  </KeyWrappingSpecification>`;
const get = (id: string, body: string): string => `<Operation type="Enumeration" value="Get"/><RequestPayload><UniqueIdentifier type="TextString" value="${id}"/>${body}</RequestPayload>`;
const bytesOf = (item: TtlvItem | undefined): Buffer => {
  if (item?.type !== 'ByteString') throw new Error(`expected a Byte String, got ${item?.type ?? 'nothing'}`);
  return Buffer.from(item.value);
};
/** RFC 3394 / RFC 5649 unwrap with node's ciphers, independent of lib/crypto. */
const unwrap = (name: 'id-aes128-wrap' | 'id-aes128-wrap-pad', wrapped: Buffer): Buffer => {
  const iv = Buffer.from(name === 'id-aes128-wrap' ? 'a6a6a6a6a6a6a6a6' : 'a65959a6', 'hex');
  const decipher = createDecipheriv(name, Buffer.from(WRAPPING_KEY, 'hex'), iv);
  return Buffer.concat([decipher.update(wrapped), decipher.final()]);
};

describe('Get with key wrapping', () => {
  let kms: TestService;
  before(async () => {
    kms = await openTestService();
  });
  after(async () => {
    await kms.close();
  });
  const send = async (version: string, ...items: string[]): Promise<ItemResult[]> => results(await kms.send(request(version, ...items)));
  const registered = async (material: string, mask: string, extra = ''): Promise<string> => {
    const [r] = await send('1.4', registerKey(material, mask, extra));
    expect(r?.status, r?.message).to.equal('Success');
    return textOf(findValue(r?.payload, Tag.UniqueIdentifier));
  };
  const wrappingKey = async (mode = 'NISTKeyWrap'): Promise<string> =>
    registered(WRAPPING_KEY, 'WrapKey', attr('Cryptographic Parameters', `<AttributeValue><BlockCipherMode type="Enumeration" value="${mode}"/></AttributeValue>`));

  it('1.4 section 2.1.5: without an Encoding Option the TTLV-encoded Key Value is wrapped (NIST Key Wrap, RFC 3394), and the Key Wrapping Data says how', async () => {
    const kek = await wrappingKey();
    const target = await registered(SECRET, 'Encrypt Decrypt');
    const [r] = await send('1.4', get(target, wrappingSpec(kek)));
    expect(r?.status, r?.message).to.equal('Success');
    const block = findValue(r?.payload, Tag.KeyBlock);
    const opened = decodeTtlv(unwrap('id-aes128-wrap', bytesOf(findValue(block, Tag.KeyValue))));
    expect(opened.tag).to.equal(Tag.KeyValue);
    expect(bytesOf(findValue(opened, Tag.KeyMaterial)).toString('hex')).to.equal(SECRET);
    // The Key Block keeps its algorithm and length in clear; Key Wrapping Data comes last.
    expect(block?.type === 'Structure' ? block.value.map((child) => child.tag) : []).to.deep.equal([
      Tag.KeyFormatType,
      Tag.KeyValue,
      Tag.CryptographicAlgorithm,
      Tag.CryptographicLength,
      Tag.KeyWrappingData,
    ]);
    const data = findValue(block, Tag.KeyWrappingData);
    expect(findValue(data, Tag.WrappingMethod)).to.deep.include({ value: Enum.WrappingMethod.Encrypt });
    expect(textOf(findValue(data, Tag.UniqueIdentifier))).to.equal(kek);
    expect(findValue(data, Tag.BlockCipherMode)).to.deep.include({ value: Enum.BlockCipherMode.NISTKeyWrap });
    expect(findValue(data, Tag.EncodingOption)).to.equal(undefined);
  });

  it('Encoding Option No Encoding wraps the Key Material bytes alone; AES Key Wrap Padding (RFC 5649) takes the key\'s own parameters when the request gives none', async () => {
    const kek = await wrappingKey('AESKeyWrapPadding');
    const target = await registered('0a0b0c0d0e0f1011121314151617', 'Encrypt');
    const [r] = await send('2.1', get(target, wrappingSpec(kek, '', '<EncodingOption type="Enumeration" value="NoEncoding"/>')));
    expect(r?.status, r?.message).to.equal('Success');
    const wrapped = bytesOf(findValue(r?.payload, Tag.KeyValue));
    expect(unwrap('id-aes128-wrap-pad', wrapped).toString('hex')).to.equal('0a0b0c0d0e0f1011121314151617');
    expect(findValue(r?.payload, Tag.EncodingOption)).to.deep.include({ value: Enum.EncodingOption.NoEncoding });
    expect(findValue(r?.payload, Tag.BlockCipherMode)).to.deep.include({ value: Enum.BlockCipherMode.AESKeyWrapPadding });
  });

  it('1.4 section 2.1.6: the attributes named in the specification are wrapped inside the Key Value, in the version\'s shape', async () => {
    const kek = await wrappingKey();
    const target = await registered(SECRET, 'Encrypt', attr('Name', '<AttributeValue><NameValue type="TextString" value="wrapped-with-name"/><NameType type="Enumeration" value="UninterpretedTextString"/></AttributeValue>'));
    const [r] = await send('1.4', get(target, wrappingSpec(kek, params('NISTKeyWrap'), '<AttributeName type="TextString" value="Name"/>')));
    expect(r?.status, r?.message).to.equal('Success');
    const opened = decodeTtlv(unwrap('id-aes128-wrap', bytesOf(findValue(r?.payload, Tag.KeyValue))));
    expect(textOf(findValue(findValue(opened, Tag.Attribute), Tag.AttributeName))).to.equal('Name');
    expect(textOf(findValue(opened, Tag.NameValue))).to.equal('wrapped-with-name');
  });

  it('2.1 section 4.55: a Sensitive key is refused in clear and served wrapped', async () => {
    const kek = await wrappingKey();
    const target = await registered(SECRET, 'Encrypt', attr('Sensitive', '<AttributeValue type="Boolean" value="true"/>'));
    const [plain] = await send('1.4', get(target, ''));
    expect(plain?.reason).to.equal('Sensitive');
    const [wrapped] = await send('1.4', get(target, wrappingSpec(kek)));
    expect(wrapped?.status, wrapped?.message).to.equal('Success');
  });

  it('the wrapping key must allow Wrap Key: Incompatible Cryptographic Usage Mask (Permission Denied in 1.x)', async () => {
    const notForWrapping = await registered(WRAPPING_KEY, 'Encrypt', attr('Cryptographic Parameters', `<AttributeValue>${params('NISTKeyWrap').replace(/<\/?CryptographicParameters>/g, '')}</AttributeValue>`));
    const target = await registered(SECRET, 'Encrypt');
    const [v21] = await send('2.1', get(target, wrappingSpec(notForWrapping)));
    expect(v21?.reason).to.equal('IncompatibleCryptographicUsageMask');
    const [v14] = await send('1.4', get(target, wrappingSpec(notForWrapping)));
    expect(v14?.reason).to.equal('PermissionDenied');
  });

  it('2.1 section 7.18: parameters that match none of the wrapping key\'s, or a wrapping key without any, answer Bad Cryptographic Parameters', async () => {
    const kek = await wrappingKey('NISTKeyWrap');
    const bare = await registered(WRAPPING_KEY, 'WrapKey');
    const target = await registered(SECRET, 'Encrypt');
    const [mismatch] = await send('2.1', get(target, wrappingSpec(kek, params('AESKeyWrapPadding'))));
    expect(mismatch?.reason).to.equal('BadCryptographicParameters');
    const [none] = await send('2.1', get(target, wrappingSpec(bare)));
    expect(none?.reason).to.equal('BadCryptographicParameters');
  });

  it('an unknown wrapping key is Wrapping Object Not Found (Item Not Found in 1.x), and the ID Placeholder stays the object asked for', async () => {
    const target = await registered(SECRET, 'Encrypt');
    const [v21] = await send('2.1', get(target, wrappingSpec('no-such-key')));
    expect(v21?.reason).to.equal('WrappingObjectNotFound');
    const [v14] = await send('1.4', get(target, wrappingSpec('no-such-key')));
    expect(v14?.reason).to.equal('ItemNotFound');
    const kek = await wrappingKey();
    const [, attributes] = await send('2.1', get(target, wrappingSpec(kek)), '<Operation type="Enumeration" value="GetAttributes"/><RequestPayload/>');
    expect(textOf(findValue(attributes?.payload, Tag.UniqueIdentifier))).to.equal(target);
  });

  it('2.1 section 6.1.19 Key Wrap Type: Not Wrapped serves a plain key plain; a key registered wrapped is served As Registered only', async () => {
    const plain = await registered(SECRET, 'Encrypt');
    const wrapType = (value: string): string => `<KeyWrapType type="Enumeration" value="${value}"/>`;
    const [r] = await send('2.1', get(plain, wrapType('NotWrapped')));
    expect(bytesOf(findValue(r?.payload, Tag.KeyMaterial)).toString('hex')).to.equal(SECRET);
    const [reg] = await send(
      '2.1',
      `<Operation type="Enumeration" value="Register"/><RequestPayload><ObjectType type="Enumeration" value="SymmetricKey"/><Attributes>
        <CryptographicUsageMask type="Integer" value="Encrypt"/></Attributes><SymmetricKey><KeyBlock><KeyFormatType type="Enumeration" value="Raw"/>
        <KeyValue type="ByteString" value="1fa68b0a8112b447aef34bd8fb5a7b829d3e862371d2cfe5"/><CryptographicAlgorithm type="Enumeration" value="AES"/><CryptographicLength type="Integer" value="128"/>
        <KeyWrappingData><WrappingMethod type="Enumeration" value="Encrypt"/><EncryptionKeyInformation><UniqueIdentifier type="TextString" value="client-kek"/></EncryptionKeyInformation>
        <EncodingOption type="Enumeration" value="NoEncoding"/></KeyWrappingData></KeyBlock></SymmetricKey></RequestPayload>`,
    );
    expect(reg?.status, reg?.message).to.equal('Success');
    const wrapped = textOf(findValue(reg?.payload, Tag.UniqueIdentifier));
    const [asRegistered] = await send('2.1', get(wrapped, wrapType('AsRegistered')));
    expect(bytesOf(findValue(asRegistered?.payload, Tag.KeyValue)).toString('hex')).to.equal('1fa68b0a8112b447aef34bd8fb5a7b829d3e862371d2cfe5');
    const [notWrapped] = await send('2.1', get(wrapped, wrapType('NotWrapped')));
    expect(notWrapped?.reason).to.equal('KeyWrapTypeNotSupported');
  });

  it('Wrapping Methods MAC/sign then encrypt and TR-31 answer Feature Not Supported; MAC/sign without MAC/Signature Key Information is Invalid Field', async () => {
    const kek = await wrappingKey();
    const target = await registered(SECRET, 'Encrypt');
    for (const method of ['MACSignThenEncrypt', 'TR_31']) {
      const [r] = await send('2.1', get(target, wrappingSpec(kek).replace('value="Encrypt"', `value="${method}"`)));
      expect(r?.reason, method).to.equal('FeatureNotSupported');
    }
    const [macOnly] = await send('2.1', get(target, wrappingSpec(kek).replace('value="Encrypt"', 'value="MACSign"')));
    expect(macOnly?.reason).to.equal('InvalidField');
    expect(macOnly?.message).to.match(/MAC\/Signature Key Information/);
  });
});
