/**
 * Derive Key (KMIP 2.1 section 6.1.14, 1.4 section 4.6) through the key manager: each
 * Derivation Method gives the bytes its standard defines (checked against public vectors or
 * an independent computation), the new object and its bases link to each other, and the
 * base objects' state and usage mask are checked first.
 */
import { createCipheriv, createHmac, pbkdf2Sync } from 'node:crypto';
import { expect } from 'chai';
import { Enum, Tag } from '../../ttlv/index.js';
import type { TtlvItem } from '../../ttlv/index.js';
import { findAll, findValue, openTestService, request, results, textOf } from '../support/service.js';
import type { ItemResult, TestService } from '../support/service.js';

const iso = (offsetSeconds: number): string => new Date(Date.now() + offsetSeconds * 1000).toISOString().replace(/\.\d+Z$/, '+00:00');
const attr = (name: string, value: string): string => `<Attribute><AttributeName type="TextString" value="${name}"/>${value}</Attribute>`;
const hex = (b: Buffer | string): string => (typeof b === 'string' ? Buffer.from(b).toString('hex') : b.toString('hex'));

/** A 1.4 Register of a Symmetric Key or Secret Data (Password) with `mask`, active for an hour unless `active` is false. */
function register14(kind: 'key' | 'secret', material: string, mask: string, algorithm = 'AES', active = true): string {
  const bits = (material.length / 2) * 8;
  const object =
    kind === 'key'
      ? `<SymmetricKey><KeyBlock><KeyFormatType type="Enumeration" value="Raw"/><KeyValue><KeyMaterial type="ByteString" value="${material}"/></KeyValue>
         <CryptographicAlgorithm type="Enumeration" value="${algorithm}"/><CryptographicLength type="Integer" value="${bits}"/></KeyBlock></SymmetricKey>`
      : `<SecretData><SecretDataType type="Enumeration" value="Password"/><KeyBlock><KeyFormatType type="Enumeration" value="Opaque"/>
         <KeyValue><KeyMaterial type="ByteString" value="${material}"/></KeyValue></KeyBlock></SecretData>`;
  return `<Operation type="Enumeration" value="Register"/><RequestPayload>
    <ObjectType type="Enumeration" value="${kind === 'key' ? 'SymmetricKey' : 'SecretData'}"/><TemplateAttribute>
    ${attr('Cryptographic Usage Mask', `<AttributeValue type="Integer" value="${mask}"/>`)}
    ${active ? attr('Activation Date', `<AttributeValue type="DateTime" value="${iso(-3600)}"/>`) : ''}
    </TemplateAttribute>${object}</RequestPayload>`;
}

interface DeriveArgs {
  objectType?: 'SymmetricKey' | 'SecretData';
  ids: string[];
  method: string;
  params: string;
  algorithm?: string;
  bits: number;
}

/** A Derive Key request in the 1.x shape (Template-Attribute). */
function derive14(a: DeriveArgs): string {
  return `<Operation type="Enumeration" value="DeriveKey"/><RequestPayload>
    <ObjectType type="Enumeration" value="${a.objectType ?? 'SymmetricKey'}"/>
    ${a.ids.map((id) => `<UniqueIdentifier type="TextString" value="${id}"/>`).join('')}
    <DerivationMethod type="Enumeration" value="${a.method}"/>
    <DerivationParameters>${a.params}</DerivationParameters>
    <TemplateAttribute>
      ${a.algorithm === undefined ? '' : attr('Cryptographic Algorithm', `<AttributeValue type="Enumeration" value="${a.algorithm}"/>`)}
      ${attr('Cryptographic Length', `<AttributeValue type="Integer" value="${a.bits}"/>`)}
      ${attr('Cryptographic Usage Mask', '<AttributeValue type="Integer" value="Encrypt Decrypt"/>')}
    </TemplateAttribute></RequestPayload>`;
}

/** The same request in the 2.x shape (Attributes). */
function derive21(a: DeriveArgs): string {
  return `<Operation type="Enumeration" value="DeriveKey"/><RequestPayload>
    <ObjectType type="Enumeration" value="${a.objectType ?? 'SymmetricKey'}"/>
    ${a.ids.map((id) => `<UniqueIdentifier type="TextString" value="${id}"/>`).join('')}
    <DerivationMethod type="Enumeration" value="${a.method}"/>
    <DerivationParameters>${a.params}</DerivationParameters>
    <Attributes>
      ${a.algorithm === undefined ? '' : `<CryptographicAlgorithm type="Enumeration" value="${a.algorithm}"/>`}
      <CryptographicLength type="Integer" value="${a.bits}"/>
    </Attributes></RequestPayload>`;
}

const get = (id: string): string => `<Operation type="Enumeration" value="Get"/><RequestPayload><UniqueIdentifier type="TextString" value="${id}"/></RequestPayload>`;
const getLinks = (id: string): string =>
  `<Operation type="Enumeration" value="GetAttributes"/><RequestPayload><UniqueIdentifier type="TextString" value="${id}"/><AttributeName type="TextString" value="Link"/></RequestPayload>`;
const data = (bytes: Buffer | string): string => `<DerivationData type="ByteString" value="${hex(bytes)}"/>`;
const hashParams = (hash: string): string => `<CryptographicParameters><HashingAlgorithm type="Enumeration" value="${hash}"/></CryptographicParameters>`;

describe('Derive Key (2.1 section 6.1.14, 1.4 section 4.6)', () => {
  let kms: TestService;
  before(async () => {
    kms = await openTestService();
  });
  after(async () => {
    await kms.close();
  });
  const send = async (version: string, ...items: string[]): Promise<ItemResult[]> => results(await kms.send(request(version, ...items)));
  const ok = async (version: string, item: string): Promise<ItemResult> => {
    const [r] = await send(version, item);
    expect(r?.status, r?.message).to.equal('Success');
    if (r === undefined) throw new Error('no batch item');
    return r;
  };
  const idOf = (r: ItemResult): string => textOf(findValue(r.payload, Tag.UniqueIdentifier));
  const registered = async (kind: 'key' | 'secret', material: string, mask = 'DeriveKey', algorithm = 'AES', active = true): Promise<string> =>
    idOf(await ok('1.4', register14(kind, material, mask, algorithm, active)));
  const materialOf = async (id: string): Promise<string> => {
    const r = await ok('2.1', get(id));
    const m = findValue(r.payload, Tag.KeyMaterial);
    return m?.type === 'ByteString' ? Buffer.from(m.value).toString('hex') : '';
  };
  const links = async (id: string): Promise<{ type: number; id: string }[]> => {
    const r = await ok('2.1', getLinks(id));
    return findAll(r.payload, Tag.Link).map((l: TtlvItem) => {
      const type = findValue(l, Tag.LinkType);
      return { type: type?.type === 'Enumeration' ? type.value : 0, id: textOf(findValue(l, Tag.LinkedObjectIdentifier)) };
    });
  };

  it('PBKDF2 (RFC 8018) from a Secret Data password, 1.4 Template-Attribute: the key is PBKDF2-HMAC-SHA256 of it, and both objects link', async () => {
    const password = hex('correct horse battery staple');
    const base = await registered('secret', password);
    const salt = Buffer.from('6b6d697064207361', 'hex');
    const r = await ok('1.4', derive14({ ids: [base], method: 'PBKDF2', params: `${hashParams('SHA_256')}<Salt type="ByteString" value="${hex(salt)}"/><IterationCount type="Integer" value="4096"/>`, algorithm: 'AES', bits: 256 }));
    const id = idOf(r);
    expect(await materialOf(id)).to.equal(pbkdf2Sync(Buffer.from(password, 'hex'), salt, 4096, 32, 'sha256').toString('hex'));
    expect(await links(id)).to.deep.include({ type: Enum.LinkType.DerivationBaseObjectLink, id: base });
    expect(await links(base)).to.deep.include({ type: Enum.LinkType.DerivedKeyLink, id });
  });

  it('PBKDF2 without a Hashing Algorithm is PKCS#5\'s default PRF, HMAC-SHA-1 (RFC 6070 vector 2)', async () => {
    const base = await registered('secret', hex('password'));
    const r = await ok('2.1', derive21({ objectType: 'SecretData', ids: [base], method: 'PBKDF2', params: `<Salt type="ByteString" value="${hex('salt')}"/><IterationCount type="Integer" value="2"/>`, bits: 160 }));
    expect(await materialOf(idOf(r))).to.equal('ea6c014dc72d6f8ccd1ed92ace1d41f0d8de8957');
  });

  it('HKDF (RFC 5869 test case 1), 2.1 Attributes: Secret Data of 42 bytes', async () => {
    const ikm = '0b'.repeat(22);
    const base = await registered('secret', ikm);
    const params = `${hashParams('SHA_256')}<Salt type="ByteString" value="000102030405060708090a0b0c"/>${data(Buffer.from('f0f1f2f3f4f5f6f7f8f9', 'hex'))}`;
    const r = await ok('2.1', derive21({ objectType: 'SecretData', ids: [base], method: 'HKDF', params, bits: 336 }));
    expect(await materialOf(idOf(r))).to.equal('3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865');
  });

  it('HMAC: the Derivation Data MAC\'d under an HMAC-SHA256 key, truncated to the length asked for', async () => {
    const keyHex = '4b4d495044206b6579206b6579206b65';
    const base = await registered('key', keyHex, 'DeriveKey', 'HMAC_SHA256');
    const r = await ok('2.1', derive21({ ids: [base], method: 'HMAC', params: data('volume 7'), algorithm: 'AES', bits: 128 }));
    const expected = createHmac('sha256', Buffer.from(keyHex, 'hex')).update('volume 7').digest().subarray(0, 16);
    expect(await materialOf(idOf(r))).to.equal(expected.toString('hex'));
  });

  it('HMAC asked for more than the hash gives answers Invalid Field (2.1 section 6.1.14)', async () => {
    const base = await registered('key', '00'.repeat(32), 'DeriveKey', 'HMAC_SHA256');
    const [r] = await send('2.1', derive21({ objectType: 'SecretData', ids: [base], method: 'HMAC', params: data('x'), bits: 512 }));
    expect(r?.reason).to.equal('InvalidField');
    expect(r?.message).to.match(/256 bits; 512 were asked for/);
  });

  it('NIST SP 800-108 counter mode with HMAC-SHA256: K(i) = PRF(KI, [i]32 || Derivation Data)', async () => {
    const keyHex = '00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff';
    const base = await registered('key', keyHex);
    const fixed = Buffer.concat([Buffer.from('label'), Buffer.from([0]), Buffer.from('context'), Buffer.from([0, 0, 1, 0x80])]);
    const r = await ok('2.1', derive21({ objectType: 'SecretData', ids: [base], method: 'NIST800_108_C', params: `${hashParams('SHA_256')}${data(fixed)}`, bits: 384 }));
    const block = (i: number): Buffer => createHmac('sha256', Buffer.from(keyHex, 'hex')).update(Buffer.from([0, 0, 0, i])).update(fixed).digest();
    expect(await materialOf(idOf(r))).to.equal(Buffer.concat([block(1), block(2)]).subarray(0, 48).toString('hex'));
  });

  it('ENCRYPT: the Derivation Data encrypted under the base AES key (ECB)', async () => {
    const keyHex = '2b7e151628aed2a6abf7158809cf4f3c';
    const base = await registered('key', keyHex);
    const plain = Buffer.from('6bc1bee22e409f96e93d7e117393172a', 'hex');
    const params = `<CryptographicParameters><BlockCipherMode type="Enumeration" value="ECB"/></CryptographicParameters>${data(plain)}`;
    const r = await ok('1.4', derive14({ ids: [base], method: 'ENCRYPT', params, algorithm: 'AES', bits: 128 }));
    // SP 800-38A F.1.1, block 1; the cipher is computed here independently as well.
    const cipher = createCipheriv('aes-128-ecb', Buffer.from(keyHex, 'hex'), null).setAutoPadding(false);
    expect(await materialOf(idOf(r))).to.equal('3ad77bb40d7a3660a89ecaf32466ef97').and.to.equal(cipher.update(plain).toString('hex'));
  });

  it('a Secret Data object may give the Derivation Data; giving it twice is refused', async () => {
    const keyHex = '0f'.repeat(32);
    const base = await registered('key', keyHex, 'DeriveKey', 'HMAC_SHA256');
    const info = await registered('secret', hex('context data'));
    const r = await ok('2.1', derive21({ ids: [base, info], method: 'HMAC', params: '', algorithm: 'AES', bits: 256 }));
    const id = idOf(r);
    expect(await materialOf(id)).to.equal(createHmac('sha256', Buffer.from(keyHex, 'hex')).update('context data').digest('hex'));
    expect((await links(id)).filter((l) => l.type === Enum.LinkType.DerivationBaseObjectLink).map((l) => l.id)).to.have.members([base, info]);
    expect(await links(info)).to.deep.include({ type: Enum.LinkType.DerivedKeyLink, id });
    const [twice] = await send('2.1', derive21({ ids: [base, info], method: 'HMAC', params: data('more'), algorithm: 'AES', bits: 256 }));
    expect(twice?.reason).to.equal('InvalidField');
  });

  it('the base object needs Derive Key in its usage mask, and a state that allows it', async () => {
    const noMask = await registered('key', '11'.repeat(16), 'Encrypt Decrypt');
    const [masked] = await send('2.1', derive21({ ids: [noMask], method: 'HMAC', params: data('x'), algorithm: 'AES', bits: 128 }));
    expect(masked?.reason).to.equal('IncompatibleCryptographicUsageMask');
    const preActive = await registered('key', '22'.repeat(16), 'DeriveKey', 'AES', false);
    const [state] = await send('2.1', derive21({ ids: [preActive], method: 'HMAC', params: data('x'), algorithm: 'AES', bits: 128 }));
    expect(state?.reason).to.equal('WrongKeyLifecycleState');
    // Nothing was derived: the base carries no Derived Key link.
    expect(await links(preActive)).to.deep.equal([]);
  });

  it('bounds and missing parameters answer with a precise Invalid Field', async () => {
    const base = await registered('secret', hex('pw'));
    const pbkdf2 = (params: string, bits = 128): string => derive21({ ids: [base], method: 'PBKDF2', params, algorithm: 'AES', bits });
    const cases: [string, RegExp][] = [
      [pbkdf2('<IterationCount type="Integer" value="10"/>'), /needs a Salt/],
      [pbkdf2('<Salt type="ByteString" value="00"/>'), /needs an Iteration Count/],
      [pbkdf2('<Salt type="ByteString" value="00"/><IterationCount type="Integer" value="2000000000"/>'), /Iteration Count 2000000000 is out of range/],
      [pbkdf2('<Salt type="ByteString" value="00"/><IterationCount type="Integer" value="0"/>'), /out of range/],
      [derive21({ objectType: 'SecretData', ids: [base], method: 'HKDF', params: '', bits: 16384 }), /1 to 1024 bytes/],
      [derive21({ ids: [base], method: 'HKDF', params: '', bits: 128 }), /Cryptographic Algorithm/],
      [derive21({ ids: [base], method: 'HASH', params: '', algorithm: 'AES', bits: 128 }), /Hashing Algorithm/],
      [derive21({ ids: [base], method: 'HKDF', params: '', algorithm: 'AES', bits: 100 }), /Cryptographic Length 100/],
    ];
    for (const [item, message] of cases) {
      const [r] = await send('2.1', item);
      expect(r?.status).to.equal('OperationFailed');
      expect(r?.reason, r?.message).to.equal('InvalidField');
      expect(r?.message).to.match(message);
    }
  });

  it('names no object through the ID Placeholder, and makes only Symmetric Keys and Secret Data', async () => {
    const base = await registered('secret', hex('pw'));
    const noId = derive21({ ids: [], method: 'HKDF', params: '', algorithm: 'AES', bits: 128 });
    const [, r] = await send('2.1', get(base), noId);
    expect(r?.reason).to.equal('InvalidField');
    const [wrongType] = await send('2.1', derive21({ ids: [base], method: 'HKDF', params: '', algorithm: 'AES', bits: 128 }).replace('value="SymmetricKey"', 'value="PrivateKey"'));
    expect(wrongType?.reason).to.equal('InvalidObjectType');
  });

  it('sets the ID Placeholder to the derived object for the next batch item', async () => {
    const base = await registered('secret', hex('seed material'));
    const [d, g] = await send('2.1', derive21({ objectType: 'SecretData', ids: [base], method: 'HKDF', params: '', bits: 256 }), '<Operation type="Enumeration" value="Get"/><RequestPayload/>');
    expect(d?.status, d?.message).to.equal('Success');
    expect(g?.status, g?.message).to.equal('Success');
    expect(textOf(findValue(g?.payload, Tag.UniqueIdentifier))).to.equal(idOf(d as ItemResult));
    expect(findValue(g?.payload, Tag.SecretDataType)).to.deep.include({ value: Enum.SecretDataType.Seed });
  });
});
