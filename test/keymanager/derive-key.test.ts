/**
 * Derive Key (KMIP 2.1 section 6.1.14, 1.4 section 4.6) through the key manager: each
 * Derivation Method gives the bytes its standard defines (checked against public vectors or
 * an independent computation), the new object and its bases link to each other, the
 * base objects' state and usage mask are checked first, and each derivation is charged to
 * the bases' Usage Limits in the commit that creates the derived object.
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

/** A 1.4 Register of a Symmetric Key or Secret Data (Password) with `mask`, active for an hour unless `active` is false, with `extra` template attributes. */
function register14(kind: 'key' | 'secret', material: string, mask: string, algorithm = 'AES', active = true, extra = ''): string {
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
    ${extra}
    </TemplateAttribute>${object}</RequestPayload>`;
}

interface DeriveArgs {
  objectType?: 'SymmetricKey' | 'SecretData';
  ids: string[];
  method: string;
  params: string;
  algorithm?: string;
  bits: number;
  /** More 2.x Attributes of the new object. */
  attributes?: string;
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
      ${a.attributes ?? ''}
    </Attributes></RequestPayload>`;
}

const get = (id: string): string => `<Operation type="Enumeration" value="Get"/><RequestPayload><UniqueIdentifier type="TextString" value="${id}"/></RequestPayload>`;
const getLinks = (id: string): string =>
  `<Operation type="Enumeration" value="GetAttributes"/><RequestPayload><UniqueIdentifier type="TextString" value="${id}"/><AttributeName type="TextString" value="Link"/></RequestPayload>`;
const getUsageLimits = (id: string): string =>
  `<Operation type="Enumeration" value="GetAttributes"/><RequestPayload><UniqueIdentifier type="TextString" value="${id}"/><AttributeName type="TextString" value="Usage Limits"/></RequestPayload>`;
/** 1.4 Usage Limits of `total` in `unit` (Object or Byte); the count is the server's to keep. */
const usageLimits = (total: number, unit: 'Object' | 'Byte'): string =>
  attr('Usage Limits', `<AttributeValue><UsageLimitsTotal type="LongInteger" value="${total}"/><UsageLimitsUnit type="Enumeration" value="${unit}"/></AttributeValue>`);
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
  const limited = async (kind: 'key' | 'secret', material: string, total: number, unit: 'Object' | 'Byte', algorithm = 'AES'): Promise<string> =>
    idOf(await ok('1.4', register14(kind, material, 'DeriveKey', algorithm, true, usageLimits(total, unit))));
  /** The Usage Limits Count, or the Total while nothing has been counted (the server reads it so too). */
  const remaining = async (id: string): Promise<bigint | undefined> => {
    const payload = (await ok('2.1', getUsageLimits(id))).payload;
    const count = findValue(payload, Tag.UsageLimitsCount) ?? findValue(payload, Tag.UsageLimitsTotal);
    return count?.type === 'LongInteger' ? count.value : undefined;
  };
  const derivedFrom = async (id: string): Promise<string[]> => (await links(id)).filter((l) => l.type === Enum.LinkType.DerivedKeyLink).map((l) => l.id);
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

  describe('Usage Limits of the base objects (2.1 section 4.59, 1.4 section 3.21)', () => {
    const hkdf = (ids: string[], bits: number, attributes?: string): string =>
      derive21({ objectType: 'SecretData', ids, method: 'HKDF', params: hashParams('SHA_256'), bits, ...(attributes === undefined ? {} : { attributes }) });

    it('unit Object: each Derive Key takes one use; with none left, Usage Limit Exceeded, nothing derived and the count stays 0', async () => {
      const base = await limited('secret', hex('two derivations'), 2, 'Object');
      expect(await remaining(base)).to.equal(2n);
      await ok('2.1', hkdf([base], 256));
      expect(await remaining(base)).to.equal(1n);
      await ok('1.4', derive14({ objectType: 'SecretData', ids: [base], method: 'HKDF', params: hashParams('SHA_256'), bits: 128 }));
      expect(await remaining(base)).to.equal(0n);
      const [refused] = await send('2.1', hkdf([base], 256));
      expect(refused?.status).to.equal('OperationFailed');
      expect(refused?.reason, refused?.message).to.equal('UsageLimitExceeded');
      expect(refused?.message).to.match(/may protect 0 more times; this needs 1/);
      expect(await derivedFrom(base)).to.have.length(2);
      expect(await remaining(base)).to.equal(0n);
    });

    it('unit Byte: a derivation counts the bytes derived (Cryptographic Length / 8); more than is left is refused whole', async () => {
      const base = await limited('key', '5a'.repeat(32), 48, 'Byte', 'HMAC_SHA256');
      const hmac = (bits: number): string => derive21({ ids: [base], method: 'HMAC', params: data('slot'), algorithm: 'AES', bits });
      await ok('2.1', hmac(256));
      expect(await remaining(base)).to.equal(16n);
      const [refused] = await send('2.1', hmac(256));
      expect(refused?.reason, refused?.message).to.equal('UsageLimitExceeded');
      expect(refused?.message).to.match(/may protect 16 more bytes; this needs 32/);
      expect(await remaining(base)).to.equal(16n);
      await ok('2.1', hmac(128));
      expect(await remaining(base)).to.equal(0n);
      expect(await derivedFrom(base)).to.have.length(2);
    });

    it('the Secret Data object giving the Derivation Data is charged too; when it is spent, the base key keeps its count', async () => {
      const base = await limited('key', '0e'.repeat(32), 5, 'Object', 'HMAC_SHA256');
      const info = await limited('secret', hex('one-time context'), 1, 'Object');
      const both = derive21({ ids: [base, info], method: 'HMAC', params: '', algorithm: 'AES', bits: 256 });
      await ok('2.1', both);
      expect([await remaining(base), await remaining(info)]).to.deep.equal([4n, 0n]);
      const [refused] = await send('2.1', both);
      expect(refused?.reason, refused?.message).to.equal('UsageLimitExceeded');
      expect(refused?.message).to.include(`object ${info}`);
      expect([await remaining(base), await remaining(info)]).to.deep.equal([4n, 0n]);
      expect(await derivedFrom(base)).to.have.length(1);
    });

    it('a derivation that fails after the check (a Name another object holds, a length HMAC cannot give) charges nothing', async () => {
      const base = await limited('secret', hex('kept'), 1, 'Object');
      const taken = `taken-${base}`;
      await ok('2.1', hkdf([await registered('secret', hex('other'))], 128, `<Name><NameValue type="TextString" value="${taken}"/><NameType type="Enumeration" value="UninterpretedTextString"/></Name>`));
      const [duplicate] = await send('2.1', hkdf([base], 128, `<Name><NameValue type="TextString" value="${taken}"/><NameType type="Enumeration" value="UninterpretedTextString"/></Name>`));
      expect(duplicate?.reason, duplicate?.message).to.equal('NonUniqueNameAttribute');
      const hmacKey = await limited('key', '77'.repeat(32), 1, 'Object', 'HMAC_SHA256');
      const [tooLong] = await send('2.1', derive21({ objectType: 'SecretData', ids: [hmacKey], method: 'HMAC', params: data('x'), bits: 512 }));
      expect(tooLong?.reason, tooLong?.message).to.equal('InvalidField');
      expect([await remaining(base), await remaining(hmacKey)]).to.deep.equal([1n, 1n]);
      expect(await derivedFrom(base)).to.deep.equal([]);
      await ok('2.1', hkdf([base], 128));
      expect(await remaining(base)).to.equal(0n);
    });

    it('two derivations racing for the last use: exactly one commits its key, the other is refused', async () => {
      const base = await limited('secret', hex('last use'), 1, 'Object');
      const secretData = async (): Promise<number> => (await kms.store.locate({ owner: 'alice', objectType: Enum.ObjectType.SecretData })).length;
      const before = await secretData();
      const answers = await Promise.all([send('2.1', hkdf([base], 256)), send('2.1', hkdf([base], 256))]);
      const items = answers.map(([r]) => r);
      expect(items.filter((r) => r?.status === 'Success'), JSON.stringify(items.map((r) => r?.message))).to.have.length(1);
      const loser = items.find((r) => r?.status !== 'Success');
      // Refused at the check, or at the commit when both read the count before either wrote it.
      expect(loser?.reason, loser?.message).to.be.oneOf(['UsageLimitExceeded', 'GeneralFailure']);
      expect(await remaining(base)).to.equal(0n);
      expect(await derivedFrom(base)).to.have.length(1);
      // The loser's derived object was not written without its charge: one new object in the store.
      expect(await secretData()).to.equal(before + 1);
    });
  });
});
