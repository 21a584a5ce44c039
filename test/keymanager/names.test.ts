/**
 * KMIP 2.1 section 4.32: "Names SHALL be unique within a given key management server".
 * Each identity names its objects in its own space; a destroyed object gives its names up.
 */
import { expect } from 'chai';
import { Tag } from '../../ttlv/index.js';
import { findAll, findValue, openTestService, request, results, textOf } from '../support/service.js';
import type { ItemResult, TestService } from '../support/service.js';

const name = (value: string): string => `<Name><NameValue type="TextString" value="${value}"/><NameType type="Enumeration" value="UninterpretedTextString"/></Name>`;
const register = (attributes: string): string => `<Operation type="Enumeration" value="Register"/><RequestPayload><ObjectType type="Enumeration" value="SecretData"/>
  <Attributes>${attributes}</Attributes>
  <SecretData><SecretDataType type="Enumeration" value="Password"/><KeyBlock><KeyFormatType type="Enumeration" value="Opaque"/><KeyValue><KeyMaterial type="ByteString" value="70617373"/></KeyValue></KeyBlock></SecretData></RequestPayload>`;
const onId = (operation: string, id: string, extra = ''): string =>
  `<Operation type="Enumeration" value="${operation}"/><RequestPayload><UniqueIdentifier type="TextString" value="${id}"/>${extra}</RequestPayload>`;

function idOf(result: ItemResult | undefined): string {
  expect(result?.status, result?.message).to.equal('Success');
  return textOf(findValue(result?.payload, Tag.UniqueIdentifier));
}

describe('4.32 Name: unique within the server', () => {
  let kms: TestService;
  before(async () => {
    kms = await openTestService();
  });
  after(async () => {
    await kms.close();
  });
  const send = async (identity: string, ...items: string[]): Promise<ItemResult[]> => results(await kms.send(request('2.1', ...items), identity));

  it('a second object may not take a name an object has: Non Unique Name Attribute', async () => {
    idOf((await send('alice', register(name('db-master'))))[0]);
    const [refused] = await send('alice', register(name('db-master')));
    expect(refused?.reason).to.equal('NonUniqueNameAttribute');
  });

  it('twenty requests racing for one name: exactly one gets it', async () => {
    const answers = await Promise.all(Array.from({ length: 20 }, async () => (await send('alice', register(name('raced'))))[0]));
    expect(answers.filter((a) => a?.status === 'Success')).to.have.length(1);
    expect(answers.filter((a) => a?.reason === 'NonUniqueNameAttribute')).to.have.length(19);
  });

  it('twenty requests racing for one name over two processes sharing the file (cluster workers): exactly one gets it', async () => {
    const first = await openTestService({ commitGrouping: 'deferred' });
    const second = await openTestService({ commitGrouping: 'deferred', sharing: first });
    try {
      const answers = await Promise.all(
        Array.from({ length: 20 }, async (_, i) => results(await (i % 2 === 0 ? first : second).send(request('2.1', register(name('raced-workers'))), 'alice'))[0]),
      );
      expect(answers.filter((a) => a?.status === 'Success')).to.have.length(1);
      expect(answers.filter((a) => a?.reason === 'NonUniqueNameAttribute')).to.have.length(19);
    } finally {
      await second.close();
      await first.close();
    }
  });

  it('an object may not hold one name twice: adding the name it has fails (OASIS BL-M-8)', async () => {
    const id = idOf((await send('alice', register(name('twice'))))[0]);
    const [refused] = await send('alice', onId('AddAttribute', id, `<NewAttribute>${name('twice')}</NewAttribute>`));
    expect(refused?.reason).to.equal('NonUniqueNameAttribute');
  });

  it('Modify and Set Attribute may not rename an object to a name another object has', async () => {
    idOf((await send('alice', register(name('taken'))))[0]);
    const id = idOf((await send('alice', register(name('free'))))[0]);
    const [modified] = await send('alice', onId('ModifyAttribute', id, `<CurrentAttribute>${name('free')}</CurrentAttribute><NewAttribute>${name('taken')}</NewAttribute>`));
    expect(modified?.reason).to.equal('NonUniqueNameAttribute');
    const [set] = await send('alice', onId('SetAttribute', id, `<NewAttribute>${name('taken')}</NewAttribute>`));
    expect(set?.reason).to.equal('NonUniqueNameAttribute');
  });

  it('names are per identity: another client may use the same name, and sees only its own object', async () => {
    const alices = idOf((await send('alice', register(name('shared-name'))))[0]);
    const bobs = idOf((await send('bob', register(name('shared-name'))))[0]);
    const [located] = await send('bob', `<Operation type="Enumeration" value="Locate"/><RequestPayload><Attributes>${name('shared-name')}</Attributes></RequestPayload>`);
    expect(findAll(located?.payload, Tag.UniqueIdentifier).map((i) => textOf(i))).to.deep.equal([bobs]);
    expect(bobs).not.to.equal(alices);
  });

  it('a destroyed object gives its names up', async () => {
    const old = idOf((await send('alice', register(name('reused'))))[0]);
    expect((await send('alice', onId('Destroy', old)))[0]?.status).to.equal('Success');
    idOf((await send('alice', register(name('reused'))))[0]);
  });

  it('Re-key hands the names of the old key to its replacement', async () => {
    const create = `<Operation type="Enumeration" value="Create"/><RequestPayload><ObjectType type="Enumeration" value="SymmetricKey"/><Attributes>
      <CryptographicAlgorithm type="Enumeration" value="AES"/><CryptographicLength type="Integer" value="256"/>${name('rotating')}</Attributes></RequestPayload>`;
    const id = idOf((await send('alice', create))[0]);
    const replacement = idOf((await send('alice', onId('ReKey', id)))[0]);
    const [attrs] = await send('alice', onId('GetAttributes', replacement, '<AttributeReference type="Enumeration" value="Name"/>'));
    expect(textOf(findValue(attrs?.payload, Tag.NameValue))).to.equal('rotating');
  });
});
