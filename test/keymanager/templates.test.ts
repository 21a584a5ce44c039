/**
 * KMIP 1.x Template objects (1.4 sections 2.2.6 and 2.1.8, deprecated since 1.3 and gone
 * from 2.0), as storage arrays with self-encrypting drives still use them (OASIS SASED-M-2
 * and -3): a Template is registered, found, read and destroyed like any object, and a
 * Template-Attribute that names it gives a new object its attributes.
 */
import { expect } from 'chai';
import { Enum, Tag } from '../../ttlv/index.js';
import type { TtlvItem } from '../../ttlv/index.js';
import { findAll, findValue, openTestService, request, results, textOf } from '../support/service.js';
import type { ItemResult, TestService } from '../support/service.js';

const attr = (name: string, value: string): string => `<Attribute><AttributeName type="TextString" value="${name}"/>${value}</Attribute>`;
const textAttr = (name: string, value: string): string => attr(name, `<AttributeValue type="TextString" value="${value}"/>`);
const nameValue = (value: string): string => `<NameValue type="TextString" value="${value}"/><NameType type="Enumeration" value="UninterpretedTextString"/>`;
const nameAttr = (value: string): string => attr('Name', `<AttributeValue>${nameValue(value)}</AttributeValue>`);
const templateRef = (value: string): string => `<Name>${nameValue(value)}</Name>`;

const registerTemplate = (name: string, content: string): string => `<Operation type="Enumeration" value="Register"/><RequestPayload>
  <ObjectType type="Enumeration" value="Template"/><TemplateAttribute>${nameAttr(name)}</TemplateAttribute><Template>${content}</Template></RequestPayload>`;
const registerSecret = (templateAttribute: string): string => `<Operation type="Enumeration" value="Register"/><RequestPayload>
  <ObjectType type="Enumeration" value="SecretData"/><TemplateAttribute>${templateAttribute}</TemplateAttribute>
  <SecretData><SecretDataType type="Enumeration" value="Password"/><KeyBlock><KeyFormatType type="Enumeration" value="Opaque"/>
  <KeyValue><KeyMaterial type="ByteString" value="2a2a2a2a"/></KeyValue></KeyBlock></SecretData></RequestPayload>`;
const onId = (operation: string, id: string, extra = ''): string =>
  `<Operation type="Enumeration" value="${operation}"/><RequestPayload><UniqueIdentifier type="TextString" value="${id}"/>${extra}</RequestPayload>`;

function idOf(result: ItemResult | undefined): string {
  expect(result?.status, result?.message).to.equal('Success');
  return textOf(findValue(result?.payload, Tag.UniqueIdentifier));
}

/** Name -> values of a 1.x Get Attributes answer. */
function attributesOf(payload: TtlvItem | undefined): Map<string, unknown[]> {
  const out = new Map<string, unknown[]>();
  for (const attribute of findAll(payload, Tag.Attribute)) {
    if (attribute.type !== 'Structure') continue;
    const name = attribute.value.find((c) => c.tag === Tag.AttributeName);
    const value = attribute.value.find((c) => c.tag === Tag.AttributeValue);
    if (name?.type !== 'TextString' || value === undefined) continue;
    out.set(name.value, [...(out.get(name.value) ?? []), value.type === 'Structure' ? value.value.map((c) => c.value) : value.value]);
  }
  return out;
}

describe('1.x Template objects', () => {
  let kms: TestService;
  before(async () => {
    kms = await openTestService();
  });
  after(async () => {
    await kms.close();
  });
  const send = async (version: string, ...items: string[]): Promise<ItemResult[]> => results(await kms.send(request(version, ...items)));

  it('Register, Locate by Name and Object Type, Get returns the Template, Destroy removes it', async () => {
    const id = idOf((await send('1.3', registerTemplate('tpl-basic', textAttr('Object Group', 'drives'))))[0]);
    const locate = `<Operation type="Enumeration" value="Locate"/><RequestPayload>${nameAttr('tpl-basic')}${attr('Object Type', '<AttributeValue type="Enumeration" value="Template"/>')}</RequestPayload>`;
    expect(findAll((await send('1.3', locate))[0]?.payload, Tag.UniqueIdentifier).map((i) => textOf(i))).to.deep.equal([id]);
    const [got] = await send('1.3', onId('Get', id));
    expect(findValue(got?.payload, Tag.ObjectType)).to.deep.include({ value: Enum.ObjectType.Template });
    expect(attributesOf(findValue(got?.payload, Tag.Template)).get('Object Group')).to.deep.equal(['drives']);
    expect((await send('1.3', onId('Destroy', id)))[0]?.status).to.equal('Success');
    expect(findAll((await send('1.3', locate))[0]?.payload, Tag.UniqueIdentifier)).to.have.length(0);
  });

  it('a Template is no cryptographic object: it has no State, Fresh or Lease Time', async () => {
    const id = idOf((await send('1.4', registerTemplate('tpl-plain', textAttr('Object Group', 'g'))))[0]);
    const names = findAll((await send('1.4', onId('GetAttributeList', id)))[0]?.payload, Tag.AttributeName).map((n) => textOf(n));
    expect(names).to.include.members(['Unique Identifier', 'Object Type', 'Name', 'Initial Date']);
    expect(names).not.to.include.members(['State']);
    expect(names).not.to.include('Fresh');
    expect(names).not.to.include('Lease Time');
  });

  it("a new object named after a Template gets its attributes: the request's single-valued ones win, multi-valued ones add up", async () => {
    idOf((await send('1.4', registerTemplate('tpl-a', `${textAttr('Object Group', 'from-a')}${textAttr('Contact Information', 'a@example')}${textAttr('x-Rack', 'r1')}`)))[0]);
    idOf((await send('1.4', registerTemplate('tpl-b', textAttr('Contact Information', 'b@example'))))[0]);
    const id = idOf((await send('1.4', registerSecret(`${templateRef('tpl-a')}${templateRef('tpl-b')}${textAttr('x-Rack', 'r2')}${nameAttr('from-templates')}`)))[0]);
    const attributes = attributesOf((await send('1.4', onId('GetAttributes', id)))[0]?.payload);
    expect(attributes.get('Object Group')).to.deep.equal(['from-a']);
    // 1.4 section 4: the later Template wins a single-valued attribute.
    expect(attributes.get('Contact Information')).to.deep.equal(['b@example']);
    expect(attributes.get('x-Rack')).to.have.members(['r1', 'r2']);
    const located = `<Operation type="Enumeration" value="Locate"/><RequestPayload>${textAttr('Object Group', 'from-a')}${attr('Object Type', '<AttributeValue type="Enumeration" value="SecretData"/>')}</RequestPayload>`;
    expect(findAll((await send('1.4', located))[0]?.payload, Tag.UniqueIdentifier).map((i) => textOf(i))).to.deep.equal([id]);
  });

  it('a Create names a Template too, and its own attributes win', async () => {
    idOf((await send('1.4', registerTemplate('tpl-aes', `${attr('Cryptographic Algorithm', '<AttributeValue type="Enumeration" value="AES"/>')}${attr('Cryptographic Length', '<AttributeValue type="Integer" value="128"/>')}`)))[0]);
    const create = `<Operation type="Enumeration" value="Create"/><RequestPayload><ObjectType type="Enumeration" value="SymmetricKey"/><TemplateAttribute>
      ${templateRef('tpl-aes')}${attr('Cryptographic Length', '<AttributeValue type="Integer" value="256"/>')}</TemplateAttribute></RequestPayload>`;
    const id = idOf((await send('1.4', create))[0]);
    const attributes = attributesOf((await send('1.4', onId('GetAttributes', id)))[0]?.payload);
    expect(attributes.get('Cryptographic Algorithm')).to.deep.equal([Enum.CryptographicAlgorithm.AES]);
    expect(attributes.get('Cryptographic Length')).to.deep.equal([256]);
  });

  it('naming a Template that does not exist answers Item Not Found', async () => {
    const [refused] = await send('1.4', registerSecret(templateRef('no-such-template')));
    expect(refused?.reason).to.equal('ItemNotFound');
  });

  it('a Template may hold only attributes a client may set (Read Only Attribute, which 1.x answers as Permission Denied)', async () => {
    const [refused] = await send('1.4', registerTemplate('tpl-bad', attr('State', '<AttributeValue type="Enumeration" value="Active"/>')));
    expect(refused?.status).to.equal('OperationFailed');
    expect(refused?.reason).to.equal('PermissionDenied');
    expect(refused?.message).to.match(/State is set by the server/);
  });

  it('Query reports Templates to 1.x clients only; a 2.x client cannot register one', async () => {
    const query = '<Operation type="Enumeration" value="Query"/><RequestPayload><QueryFunction type="Enumeration" value="QueryObjects"/></RequestPayload>';
    const types = async (version: string): Promise<unknown[]> => findAll((await send(version, query))[0]?.payload, Tag.ObjectType).map((t) => t.value);
    expect(await types('1.3')).to.include(Enum.ObjectType.Template);
    expect(await types('2.1')).not.to.include(Enum.ObjectType.Template);
    const [refused] = await send('2.1', `<Operation type="Enumeration" value="Register"/><RequestPayload><ObjectType type="Enumeration" value="0x00000006"/><Attributes/><Template>${textAttr('Object Group', 'g')}</Template></RequestPayload>`);
    expect(refused?.status).to.equal('OperationFailed');
  });
});
