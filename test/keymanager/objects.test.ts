/**
 * Objects and their attributes through the key manager: Register of every object type,
 * key formats, attribute changes in the 1.x and 2.x shapes, Locate, Re-key, dates.
 */
import { expect } from 'chai';
import { Enum, Tag } from '../../ttlv/index.js';
import type { TtlvItem } from '../../ttlv/index.js';
import { findAll, findValue, openTestService, request, results, textOf } from '../support/service.js';
import type { ItemResult, TestService } from '../support/service.js';

const KEY_HEX = '000102030405060708090a0b0c0d0e0f';

const register = (objectBody: string, objectType: string, attributes = ''): string => `
  <Operation type="Enumeration" value="Register"/>
  <RequestPayload>
    <ObjectType type="Enumeration" value="${objectType}"/>
    <TemplateAttribute>${attributes}</TemplateAttribute>
    ${objectBody}
  </RequestPayload>`;

const symmetric = (hex = KEY_HEX): string => `<SymmetricKey><KeyBlock>
  <KeyFormatType type="Enumeration" value="Raw"/>
  <KeyValue><KeyMaterial type="ByteString" value="${hex}"/></KeyValue>
  <CryptographicAlgorithm type="Enumeration" value="AES"/><CryptographicLength type="Integer" value="${hex.length * 4}"/>
</KeyBlock></SymmetricKey>`;

const v1Attr = (name: string, value: string): string => `<Attribute><AttributeName type="TextString" value="${name}"/>${value}</Attribute>`;
const v1Name = (name: string): string =>
  v1Attr('Name', `<AttributeValue><NameValue type="TextString" value="${name}"/><NameType type="Enumeration" value="UninterpretedTextString"/></AttributeValue>`);
const onId = (operation: string, id: string, extra = ''): string =>
  `<Operation type="Enumeration" value="${operation}"/><RequestPayload><UniqueIdentifier type="TextString" value="${id}"/>${extra}</RequestPayload>`;

function idOf(result: ItemResult | undefined): string {
  expect(result?.status, result?.message).to.equal('Success');
  return textOf(findValue(result?.payload, Tag.UniqueIdentifier));
}

function attributeValue(payload: TtlvItem | undefined, name: string): TtlvItem | undefined {
  for (const attribute of findAll(payload, Tag.Attribute)) {
    if (attribute.type === 'Structure' && attribute.value.some((c) => c.tag === Tag.AttributeName && c.type === 'TextString' && c.value === name)) {
      return attribute.value.find((c) => c.tag === Tag.AttributeValue);
    }
  }
  return undefined;
}

describe('objects and attributes', () => {
  let kms: TestService;
  before(async () => {
    kms = await openTestService();
  });
  after(async () => {
    await kms.close();
  });
  const send = async (version: string, ...items: string[]): Promise<ItemResult[]> => results(await kms.send(request(version, ...items)));

  describe('Register of every managed object type, and Get returns it as registered', () => {
    const bodies: [string, string][] = [
      ['SymmetricKey', symmetric()],
      ['SecretData', `<SecretData><SecretDataType type="Enumeration" value="Password"/><KeyBlock><KeyFormatType type="Enumeration" value="Opaque"/><KeyValue><KeyMaterial type="ByteString" value="${'ab'.repeat(96)}"/></KeyValue></KeyBlock></SecretData>`],
      ['OpaqueObject', '<OpaqueObject><OpaqueDataType type="Enumeration" value="0x80000001"/><OpaqueDataValue type="ByteString" value="deadbeef"/></OpaqueObject>'],
      ['Certificate', '<Certificate><CertificateType type="Enumeration" value="X_509"/><CertificateValue type="ByteString" value="3082010a"/></Certificate>'],
      ['PublicKey', '<PublicKey><KeyBlock><KeyFormatType type="Enumeration" value="PKCS_1"/><KeyValue><KeyMaterial type="ByteString" value="3082010a02820101"/></KeyValue><CryptographicAlgorithm type="Enumeration" value="RSA"/><CryptographicLength type="Integer" value="2048"/></KeyBlock></PublicKey>'],
      ['PrivateKey', '<PrivateKey><KeyBlock><KeyFormatType type="Enumeration" value="PKCS_8"/><KeyValue><KeyMaterial type="ByteString" value="308204bd"/></KeyValue><CryptographicAlgorithm type="Enumeration" value="RSA"/><CryptographicLength type="Integer" value="2048"/></KeyBlock></PrivateKey>'],
      ['SplitKey', `<SplitKey><SplitKeyParts type="Integer" value="3"/><KeyPartIdentifier type="Integer" value="1"/><SplitKeyThreshold type="Integer" value="2"/><SplitKeyMethod type="Enumeration" value="XOR"/><KeyBlock><KeyFormatType type="Enumeration" value="Raw"/><KeyValue><KeyMaterial type="ByteString" value="${KEY_HEX}"/></KeyValue><CryptographicAlgorithm type="Enumeration" value="AES"/><CryptographicLength type="Integer" value="128"/></KeyBlock></SplitKey>`],
      ['PGPKey', '<PGPKey><PGPKeyVersion type="Integer" value="4"/><KeyBlock><KeyFormatType type="Enumeration" value="Opaque"/><KeyValue><KeyMaterial type="ByteString" value="99010d04"/></KeyValue></KeyBlock></PGPKey>'],
    ];
    for (const [type, body] of bodies) {
      it(`${type}`, async () => {
        const id = idOf((await send('1.4', register(body, type, v1Name(`reg-${type}`))))[0]);
        const [got] = await send('1.4', onId('Get', id));
        expect(got?.status, got?.message).to.equal('Success');
        expect(findValue(got?.payload, Tag.ObjectType)).to.deep.include({ value: Enum.ObjectType[type as keyof typeof Enum.ObjectType] });
        const sent = (await import('../../ttlv/index.js')).parseXml(body)[0];
        const returned = got?.payload?.type === 'Structure' ? got.payload.value[2] : undefined;
        expect(returned).to.deep.equal(sent);
      });
    }
    it('Certificate Request (KMIP 2.x only)', async () => {
      const xml = `<Operation type="Enumeration" value="Register"/><RequestPayload><ObjectType type="Enumeration" value="CertificateRequest"/><Attributes/>
        <CertificateRequest><CertificateRequestType type="Enumeration" value="PKCS_10"/><CertificateRequestValue type="ByteString" value="3082"/></CertificateRequest></RequestPayload>`;
      const id = idOf((await send('2.1', xml))[0]);
      expect((await send('2.1', onId('Get', id)))[0]?.status).to.equal('Success');
    });
    it('a Register whose object does not match its Object Type answers Invalid Field', async () => {
      const [item] = await send('1.4', register(symmetric(), 'SecretData'));
      expect(item?.reason).to.equal('InvalidField');
    });
  });

  describe('Get in another key format', () => {
    it('a Raw key comes back as Transparent Symmetric Key and back to Raw', async () => {
      const id = idOf((await send('1.4', register(symmetric(), 'SymmetricKey')))[0]);
      const [transparent] = await send('1.4', onId('Get', id, '<KeyFormatType type="Enumeration" value="TransparentSymmetricKey"/>'));
      expect(findValue(transparent?.payload, Tag.KeyFormatType)).to.deep.include({ value: Enum.KeyFormatType.TransparentSymmetricKey });
      const key = findValue(findValue(transparent?.payload, Tag.KeyMaterial), Tag.Key);
      expect(key?.type === 'ByteString' ? Buffer.from(key.value).toString('hex') : '').to.equal(KEY_HEX);
      const [raw] = await send('1.4', onId('Get', id, '<KeyFormatType type="Enumeration" value="Raw"/>'));
      const material = findValue(raw?.payload, Tag.KeyMaterial);
      expect(material?.type === 'ByteString' ? Buffer.from(material.value).toString('hex') : '').to.equal(KEY_HEX);
    });
    it('a format the key cannot take answers Key Format Type Not Supported', async () => {
      const id = idOf((await send('1.4', register(symmetric(), 'SymmetricKey')))[0]);
      const [item] = await send('1.4', onId('Get', id, '<KeyFormatType type="Enumeration" value="PKCS_8"/>'));
      expect(item?.reason).to.equal('KeyFormatTypeNotSupported');
    });
  });

  describe('server-set attributes', () => {
    it('Get Attributes of a new key: identifier, type, state, dates, digest; Fresh until the first Get', async () => {
      const id = idOf((await send('1.4', register(symmetric(), 'SymmetricKey', v1Name('server-set'))))[0]);
      const [attrs] = await send('1.4', onId('GetAttributes', id));
      expect(textOf(attributeValue(attrs?.payload, 'Unique Identifier'))).to.equal(id);
      expect(attributeValue(attrs?.payload, 'State')).to.deep.include({ value: Enum.State.PreActive });
      expect(attributeValue(attrs?.payload, 'Cryptographic Length')).to.deep.include({ value: 128 });
      expect(attributeValue(attrs?.payload, 'Initial Date')?.type).to.equal('DateTime');
      const digest = attributeValue(attrs?.payload, 'Digest');
      const value = findValue(digest, Tag.DigestValue);
      const { createHash } = await import('node:crypto');
      expect(value?.type === 'ByteString' ? Buffer.from(value.value).toString('hex') : '').to.equal(createHash('sha256').update(Buffer.from(KEY_HEX, 'hex')).digest('hex'));
      expect(attributeValue(attrs?.payload, 'Fresh')).to.deep.include({ value: true });
      await send('1.4', onId('Get', id));
      const [after] = await send('1.4', onId('GetAttributes', id, '<AttributeName type="TextString" value="Fresh"/>'));
      expect(attributeValue(after?.payload, 'Fresh')).to.deep.include({ value: false });
    });

    it('sixteen concurrent first Gets of a Fresh key all succeed, and Fresh is then False', async () => {
      for (const name of [undefined, 'fresh-raced']) {
        const id = idOf((await send('1.4', register(symmetric(), 'SymmetricKey', ...(name === undefined ? [] : [v1Name(name)]))))[0]);
        const answers = await Promise.all(Array.from({ length: 16 }, async () => (await send('1.4', onId('Get', id)))[0]));
        expect(answers.map((a) => a?.status), answers.map((a) => a?.message).join('; ')).to.deep.equal(Array.from({ length: 16 }, () => 'Success'));
        const [after] = await send('1.4', onId('GetAttributes', id, '<AttributeName type="TextString" value="Fresh"/>'));
        expect(attributeValue(after?.payload, 'Fresh')).to.deep.include({ value: false });
      }
    });

    it('KMIP 1.0 gets no attribute that 1.0 does not define (Fresh arrived in 1.1)', async () => {
      const id = idOf((await send('1.0', register(symmetric(), 'SymmetricKey')))[0]);
      const [attrs] = await send('1.0', onId('GetAttributes', id));
      const names = findAll(attrs?.payload, Tag.AttributeName).map((n) => textOf(n));
      expect(names).to.include('State');
      expect(names).not.to.include('Fresh');
      expect(names).not.to.include('Original Creation Date');
    });

    it('an Activation Date in the past makes a registered key Active at once', async () => {
      const past = new Date(Date.now() - 3600_000).toISOString().replace(/\.\d+Z$/, '+00:00');
      const id = idOf((await send('1.4', register(symmetric(), 'SymmetricKey', v1Attr('Activation Date', `<AttributeValue type="DateTime" value="${past}"/>`))))[0]);
      const [attrs] = await send('1.4', onId('GetAttributes', id, '<AttributeName type="TextString" value="State"/>'));
      expect(attributeValue(attrs?.payload, 'State')).to.deep.include({ value: Enum.State.Active });
    });

    it('a Deactivation Date that passes deactivates the key', async () => {
      const now = BigInt(Math.floor(Date.now() / 1000));
      const soon = new Date(Number(now + 60n) * 1000).toISOString().replace(/\.\d+Z$/, '+00:00');
      const id = idOf((await send('1.4', register(symmetric(), 'SymmetricKey', v1Attr('Deactivation Date', `<AttributeValue type="DateTime" value="${soon}"/>`))))[0]);
      expect((await send('1.4', onId('Activate', id)))[0]?.status).to.equal('Success');
      kms.setNow(now + 120n);
      try {
        const [attrs] = await send('1.4', onId('GetAttributes', id, '<AttributeName type="TextString" value="State"/>'));
        expect(attributeValue(attrs?.payload, 'State')).to.deep.include({ value: Enum.State.Deactivated });
      } finally {
        kms.setNow(now);
      }
    });
  });

  describe('attribute changes', () => {
    it('1.x: Add, Modify and Delete a custom attribute; the answers echo the Attribute', async () => {
      const id = idOf((await send('1.4', register(symmetric(), 'SymmetricKey')))[0]);
      const [added] = await send('1.4', onId('AddAttribute', id, v1Attr('x-Owner', '<AttributeValue type="TextString" value="storage-1"/>')));
      expect(textOf(attributeValue(added?.payload, 'x-Owner'))).to.equal('storage-1');
      const [modified] = await send('1.4', onId('ModifyAttribute', id, v1Attr('x-Owner', '<AttributeValue type="TextString" value="storage-2"/>')));
      expect(textOf(attributeValue(modified?.payload, 'x-Owner'))).to.equal('storage-2');
      const [got] = await send('1.4', onId('GetAttributes', id, '<AttributeName type="TextString" value="x-Owner"/>'));
      expect(textOf(attributeValue(got?.payload, 'x-Owner'))).to.equal('storage-2');
      const [deleted] = await send('1.4', onId('DeleteAttribute', id, '<AttributeName type="TextString" value="x-Owner"/>'));
      expect(deleted?.status, deleted?.message).to.equal('Success');
      const [none] = await send('1.4', onId('GetAttributes', id, '<AttributeName type="TextString" value="x-Owner"/>'));
      expect(attributeValue(none?.payload, 'x-Owner')).to.equal(undefined);
    });

    it('1.x: a second Name is added with index 1, and Delete by index removes that one', async () => {
      const id = idOf((await send('1.4', register(symmetric(), 'SymmetricKey', v1Name('first'))))[0]);
      const [added] = await send('1.4', onId('AddAttribute', id, v1Name('second')));
      expect(findValue(added?.payload, Tag.AttributeIndex)).to.deep.include({ value: 1 });
      await send('1.4', onId('DeleteAttribute', id, '<AttributeName type="TextString" value="Name"/><AttributeIndex type="Integer" value="0"/>'));
      const [got] = await send('1.4', onId('GetAttributes', id, '<AttributeName type="TextString" value="Name"/>'));
      expect(findAll(got?.payload, Tag.NameValue).map((n) => textOf(n))).to.deep.equal(['second']);
    });

    it('2.x: Add (New Attribute), Modify (Current/New), Set, and Delete by reference', async () => {
      const xml = `<Operation type="Enumeration" value="Register"/><RequestPayload><ObjectType type="Enumeration" value="SymmetricKey"/><Attributes/>${symmetric()}</RequestPayload>`;
      const id = idOf((await send('2.1', xml))[0]);
      const vendor = (value: string): string =>
        `<Attribute><VendorIdentification type="TextString" value="x"/><AttributeName type="TextString" value="Site"/><AttributeValue type="TextString" value="${value}"/></Attribute>`;
      expect((await send('2.1', onId('AddAttribute', id, `<NewAttribute>${vendor('north')}</NewAttribute>`)))[0]?.status).to.equal('Success');
      expect((await send('2.1', onId('ModifyAttribute', id, `<CurrentAttribute>${vendor('north')}</CurrentAttribute><NewAttribute>${vendor('south')}</NewAttribute>`)))[0]?.status).to.equal('Success');
      expect((await send('2.1', onId('SetAttribute', id, '<NewAttribute><Description type="TextString" value="tape key"/></NewAttribute>')))[0]?.status).to.equal('Success');
      const [got] = await send('2.1', onId('GetAttributes', id, '<AttributeReference><VendorIdentification type="TextString" value="x"/><AttributeName type="TextString" value="Site"/></AttributeReference><AttributeReference type="Enumeration" value="Description"/>'));
      const attributes = findValue(got?.payload, Tag.Attributes);
      expect(textOf(findValue(attributes, Tag.Description))).to.equal('tape key');
      expect(textOf(findValue(attributes, Tag.AttributeValue))).to.equal('south');
      expect((await send('2.1', onId('DeleteAttribute', id, '<AttributeReference type="Enumeration" value="Description"/>')))[0]?.status).to.equal('Success');
      const [after] = await send('2.1', onId('GetAttributes', id, '<AttributeReference type="Enumeration" value="Description"/>'));
      expect(findValue(after?.payload, Tag.Description)).to.equal(undefined);
    });

    it('the server-set Unique Identifier cannot be added or modified by a client', async () => {
      const id = idOf((await send('1.4', register(symmetric(), 'SymmetricKey')))[0]);
      const [item] = await send('1.4', onId('ModifyAttribute', id, v1Attr('Unique Identifier', '<AttributeValue type="TextString" value="mine"/>')));
      expect(item?.status).to.equal('OperationFailed');
      expect(['PermissionDenied', 'InvalidField']).to.include(item?.reason);
    });

    it('Get Attribute List names the attributes; 2.x as Attribute References', async () => {
      const id = idOf((await send('1.4', register(symmetric(), 'SymmetricKey', v1Name('listed'))))[0]);
      const [v1] = await send('1.4', onId('GetAttributeList', id));
      expect(findAll(v1?.payload, Tag.AttributeName).map((n) => textOf(n))).to.include.members(['Name', 'State', 'Unique Identifier']);
      const [v2] = await send('2.1', onId('GetAttributeList', id));
      const references = findAll(v2?.payload, Tag.AttributeReference);
      expect(references.map((r) => r.value)).to.include(Tag.State);
    });
  });

  describe('Locate', () => {
    it('by Object Type and Object Group, with Maximum and Offset Items and Located Items', async () => {
      const group = v1Attr('Object Group', '<AttributeValue type="TextString" value="paged"/>');
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) ids.push(idOf((await send('1.4', register(symmetric(), 'SymmetricKey', `${v1Name(`paged-${i}`)}${group}`)))[0]));
      const filter = `${v1Attr('Object Type', '<AttributeValue type="Enumeration" value="SymmetricKey"/>')}${group}`;
      const [all] = await send('1.4', `<Operation type="Enumeration" value="Locate"/><RequestPayload>${filter}</RequestPayload>`);
      expect(findAll(all?.payload, Tag.UniqueIdentifier).map((i) => textOf(i))).to.deep.equal(ids);
      expect(findValue(all?.payload, Tag.LocatedItems)).to.equal(undefined);
      const [page] = await send('1.4', `<Operation type="Enumeration" value="Locate"/><RequestPayload><MaximumItems type="Integer" value="2"/><OffsetItems type="Integer" value="1"/>${filter}</RequestPayload>`);
      expect(findAll(page?.payload, Tag.UniqueIdentifier).map((i) => textOf(i))).to.deep.equal(ids.slice(1, 3));
      expect(findValue(page?.payload, Tag.LocatedItems)).to.deep.include({ value: 5 });
    });

    it('by State, seeing date-driven changes, and never destroyed objects unless asked', async () => {
      const name = v1Name('by-state');
      // A destroyed object gives its name up: the active key takes it after it.
      const destroyed = idOf((await send('1.4', register(symmetric(), 'SymmetricKey', name)))[0]);
      await send('1.4', onId('Destroy', destroyed));
      const active = idOf((await send('1.4', register(symmetric(), 'SymmetricKey', name)))[0]);
      await send('1.4', onId('Activate', active));
      const locate = (state: string): string =>
        `<Operation type="Enumeration" value="Locate"/><RequestPayload>${name}${state === '' ? '' : v1Attr('State', `<AttributeValue type="Enumeration" value="${state}"/>`)}</RequestPayload>`;
      const ids = async (state: string): Promise<string[]> => findAll((await send('1.4', locate(state)))[0]?.payload, Tag.UniqueIdentifier).map((i) => textOf(i));
      expect(await ids('Active')).to.deep.equal([active]);
      expect(await ids('')).to.deep.equal([active]);
      expect(await ids('Destroyed')).to.deep.equal([destroyed]);
    });

    it('archived objects are found only with the Archival Storage mask, and Get refuses them until Recover', async () => {
      const name = v1Name('archived');
      const id = idOf((await send('1.4', register(symmetric(), 'SymmetricKey', name)))[0]);
      expect((await send('1.4', onId('Archive', id)))[0]?.status).to.equal('Success');
      const locate = (mask: string): string => `<Operation type="Enumeration" value="Locate"/><RequestPayload>${mask}${name}</RequestPayload>`;
      expect(findAll((await send('1.4', locate('')))[0]?.payload, Tag.UniqueIdentifier)).to.have.length(0);
      expect(findAll((await send('1.4', locate('<StorageStatusMask type="Integer" value="ArchivalStorage"/>')))[0]?.payload, Tag.UniqueIdentifier)).to.have.length(1);
      expect((await send('1.4', onId('Get', id)))[0]?.reason).to.equal('ObjectArchived');
      expect((await send('1.4', onId('Recover', id)))[0]?.status).to.equal('Success');
      expect((await send('1.4', onId('Get', id)))[0]?.status).to.equal('Success');
    });

    it('2.x: Locate with an Attributes structure and an Activation Date range', async () => {
      const now = Math.floor(Date.now() / 1000);
      const iso = (s: number): string => new Date(s * 1000).toISOString().replace(/\.\d+Z$/, '+00:00');
      const reg = (activation: number): string =>
        `<Operation type="Enumeration" value="Register"/><RequestPayload><ObjectType type="Enumeration" value="SymmetricKey"/><Attributes>
          <ObjectGroup type="TextString" value="ranged"/>
          <ActivationDate type="DateTime" value="${iso(activation)}"/></Attributes>${symmetric()}</RequestPayload>`;
      const early = idOf((await send('2.1', reg(now - 7200)))[0]);
      const late = idOf((await send('2.1', reg(now - 60)))[0]);
      const [found] = await send(
        '2.1',
        `<Operation type="Enumeration" value="Locate"/><RequestPayload><Attributes>
          <ObjectGroup type="TextString" value="ranged"/>
          <ActivationDate type="DateTime" value="${iso(now - 600)}"/><ActivationDate type="DateTime" value="${iso(now)}"/></Attributes></RequestPayload>`,
      );
      expect(findAll(found?.payload, Tag.UniqueIdentifier).map((i) => textOf(i))).to.deep.equal([late]);
      expect(early).not.to.equal(late);
    });
  });

  describe('Re-key', () => {
    it('makes a new key of the same algorithm, moves the Name, and links old and new both ways', async () => {
      const id = idOf((await send('1.4', register(symmetric(), 'SymmetricKey', v1Name('rotated'))))[0]);
      await send('1.4', onId('Activate', id));
      const newId = idOf((await send('1.4', onId('ReKey', id)))[0]);
      expect(newId).not.to.equal(id);
      const [oldAttrs] = await send('1.4', onId('GetAttributes', id));
      const [newAttrs] = await send('1.4', onId('GetAttributes', newId));
      expect(attributeValue(oldAttrs?.payload, 'Name')).to.equal(undefined);
      expect(textOf(findValue(attributeValue(newAttrs?.payload, 'Name'), Tag.NameValue))).to.equal('rotated');
      const oldLink = attributeValue(oldAttrs?.payload, 'Link');
      expect(findValue(oldLink, Tag.LinkType)).to.deep.include({ value: Enum.LinkType.ReplacementObjectLink });
      expect(textOf(findValue(oldLink, Tag.LinkedObjectIdentifier))).to.equal(newId);
      const newLink = attributeValue(newAttrs?.payload, 'Link');
      expect(findValue(newLink, Tag.LinkType)).to.deep.include({ value: Enum.LinkType.ReplacedObjectLink });
      expect(attributeValue(newAttrs?.payload, 'State')).to.deep.include({ value: Enum.State.Active });
      const [oldKey] = await send('1.4', onId('Get', id));
      const [newKey] = await send('1.4', onId('Get', newId));
      const bytes = (r: ItemResult | undefined): string => {
        const m = findValue(r?.payload, Tag.KeyMaterial);
        return m?.type === 'ByteString' ? Buffer.from(m.value).toString('hex') : '';
      };
      expect(bytes(newKey)).to.have.length(KEY_HEX.length);
      expect(bytes(newKey)).not.to.equal(bytes(oldKey));
    });
  });

  describe('leases, checks and usage allocation', () => {
    it('Obtain Lease answers the Lease Time and Last Change Date; Check passes a usage the mask allows and refuses one it does not', async () => {
      const id = idOf((await send('1.4', register(symmetric(), 'SymmetricKey', v1Attr('Cryptographic Usage Mask', '<AttributeValue type="Integer" value="Encrypt Decrypt"/>'))))[0]);
      const [lease] = await send('1.4', onId('ObtainLease', id));
      expect(findValue(lease?.payload, Tag.LeaseTime)?.type).to.equal('Interval');
      expect(findValue(lease?.payload, Tag.LastChangeDate)?.type).to.equal('DateTime');
      expect((await send('1.4', onId('Check', id, '<CryptographicUsageMask type="Integer" value="Encrypt"/>')))[0]?.status).to.equal('Success');
      const [refused] = await send('1.4', onId('Check', id, '<CryptographicUsageMask type="Integer" value="Sign"/>'));
      expect(refused?.status).to.equal('OperationFailed');
    });

    it('Get Usage Allocation counts down the Usage Limits and refuses past them', async () => {
      const limits = v1Attr(
        'Usage Limits',
        '<AttributeValue><UsageLimitsTotal type="LongInteger" value="10"/><UsageLimitsCount type="LongInteger" value="10"/><UsageLimitsUnit type="Enumeration" value="Object"/></AttributeValue>',
      );
      const id = idOf((await send('1.4', register(symmetric(), 'SymmetricKey', limits)))[0]);
      expect((await send('1.4', onId('GetUsageAllocation', id, '<UsageLimitsCount type="LongInteger" value="6"/>')))[0]?.status).to.equal('Success');
      const [refused] = await send('1.4', onId('GetUsageAllocation', id, '<UsageLimitsCount type="LongInteger" value="6"/>'));
      expect(refused?.status).to.equal('OperationFailed');
      const [attrs] = await send('1.4', onId('GetAttributes', id, '<AttributeName type="TextString" value="Usage Limits"/>'));
      expect(findValue(attributeValue(attrs?.payload, 'Usage Limits'), Tag.UsageLimitsCount)).to.deep.include({ value: 4n });
    });
  });
});
