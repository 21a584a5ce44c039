/**
 * Locate's bounds (lib/operations/locate.ts): a paged Locate counts Located Items only while
 * its candidates are at most locateMaxCount, and no Locate examines more than locateMaxScan
 * candidates. Among a million objects, "Object Type = Symmetric Key, Maximum Items 10" made
 * the server match every key to count them (about 25 s of CPU); a Locate whose filter the
 * index cannot narrow (a date range, a mask) read every object.
 */
import { expect } from 'chai';
import { Tag } from '../../ttlv/index.js';
import { findAll, findValue, openTestService, request, results, textOf } from '../support/service.js';
import type { ItemResult, TestService } from '../support/service.js';

const SCAN = 20;
const COUNT = 8;

const key = `<SymmetricKey><KeyBlock>
  <KeyFormatType type="Enumeration" value="Raw"/>
  <KeyValue><KeyMaterial type="ByteString" value="000102030405060708090a0b0c0d0e0f"/></KeyValue>
  <CryptographicAlgorithm type="Enumeration" value="AES"/><CryptographicLength type="Integer" value="128"/>
</KeyBlock></SymmetricKey>`;

const register = (group: string): string =>
  `<Operation type="Enumeration" value="Register"/><RequestPayload><ObjectType type="Enumeration" value="SymmetricKey"/>
    <Attributes><ObjectGroup type="TextString" value="${group}"/></Attributes>${key}</RequestPayload>`;

/** A 2.1 Locate by Object Group, paged when `page` is given, with more attributes in `extra`. */
const locate = (group: string, page?: { max: number; offset: number }, extra = ''): string =>
  `<Operation type="Enumeration" value="Locate"/><RequestPayload>
    ${page === undefined ? '' : `<MaximumItems type="Integer" value="${page.max}"/><OffsetItems type="Integer" value="${page.offset}"/>`}
    <Attributes><ObjectGroup type="TextString" value="${group}"/>${extra}</Attributes></RequestPayload>`;

/** A Cryptographic Usage Mask no key has: a mask is not indexed, so every candidate is read to find none. */
const NO_SUCH_MASK = '<CryptographicUsageMask type="Integer" value="Export"/>';

describe('Locate limits: locateMaxCount and locateMaxScan', () => {
  let kms: TestService;
  const bulk: string[] = [];
  const few: string[] = [];
  const send = async (version: string, item: string): Promise<ItemResult> => {
    const [result] = results(await kms.send(request(version, item)));
    if (result === undefined) throw new Error('no batch item in the response');
    return result;
  };
  const idsOf = (result: ItemResult): string[] => findAll(result.payload, Tag.UniqueIdentifier).map((i) => textOf(i));

  before(async () => {
    kms = await openTestService({ limits: { locateMaxScan: SCAN, locateMaxCount: COUNT } });
    for (const [group, ids, n] of [['bulk', bulk, 30], ['few', few, 6]] as const) {
      for (let i = 0; i < n; i++) {
        const result = await send('2.1', register(group));
        expect(result.status, result.message).to.equal('Success');
        ids.push(textOf(findValue(result.payload, Tag.UniqueIdentifier)));
      }
    }
  });
  after(async () => {
    await kms.close();
  });

  it('counts Located Items while the candidates are at most locateMaxCount', async () => {
    const result = await send('2.1', locate('few', { max: 2, offset: 1 }));
    expect(result.status, result.message).to.equal('Success');
    expect(idsOf(result)).to.deep.equal(few.slice(1, 3));
    expect(findValue(result.payload, Tag.LocatedItems)).to.deep.include({ value: 6 });
  });

  it('past locateMaxCount, answers the page without Located Items (KMIP lets a server leave it out)', async () => {
    const result = await send('2.1', locate('bulk', { max: 5, offset: 10 }));
    expect(result.status, result.message).to.equal('Success');
    expect(idsOf(result)).to.deep.equal(bulk.slice(10, 15));
    expect(findValue(result.payload, Tag.LocatedItems)).to.equal(undefined);
  });

  it('an unpaged Locate returns every match while they lie within locateMaxScan candidates', async () => {
    const result = await send('2.1', locate('few'));
    expect(idsOf(result)).to.deep.equal(few);
  });

  it('a page that would need more than locateMaxScan candidates fails with Server Limit Exceeded', async () => {
    const result = await send('2.1', locate('bulk', { max: 5, offset: 18 }));
    expect(result.status).to.equal('OperationFailed');
    expect(result.reason).to.equal('ServerLimitExceeded');
    expect(result.message).to.match(/more than 20 candidate objects \(locateMaxScan\)/);
  });

  it('a filter the index cannot narrow reads at most locateMaxScan candidates, then fails (General Failure in 1.x)', async () => {
    const v2 = await send('2.1', locate('bulk', undefined, NO_SUCH_MASK));
    expect(v2.reason, v2.message).to.equal('ServerLimitExceeded');
    // 1.4 has no Server Limit Exceeded: General Failure, the same message.
    const v1 = await send(
      '1.4',
      `<Operation type="Enumeration" value="Locate"/><RequestPayload>
        <Attribute><AttributeName type="TextString" value="Object Group"/><AttributeValue type="TextString" value="bulk"/></Attribute>
        <Attribute><AttributeName type="TextString" value="Cryptographic Usage Mask"/><AttributeValue type="Integer" value="Export"/></Attribute>
      </RequestPayload>`,
    );
    expect(v1.reason, v1.message).to.equal('GeneralFailure');
    expect(v1.message).to.match(/locateMaxScan/);
    // Among fewer candidates than the bound, the same filter is simply matched: nothing found.
    const within = await send('2.1', locate('few', undefined, NO_SUCH_MASK));
    expect(within.status, within.message).to.equal('Success');
    expect(idsOf(within)).to.deep.equal([]);
  });

  it('thousands of attributes in one Locate: matched on the candidates of a few of them, not a failed SQL query', async () => {
    const groups = (n: number): string => Array.from({ length: n }, (_, i) => `<ObjectGroup type="TextString" value="${i === 0 ? 'few' : `g${i}`}"/>`).join('');
    const names = Array.from({ length: 3000 }, (_, i) => `<Name><NameValue type="TextString" value="n${i}"/><NameType type="Enumeration" value="UninterpretedTextString"/></Name>`).join('');
    for (const attributes of [groups(3000), names]) {
      const result = await send('2.1', `<Operation type="Enumeration" value="Locate"/><RequestPayload><Attributes>${attributes}</Attributes></RequestPayload>`);
      expect(result.status, result.message).to.equal('Success');
      expect(idsOf(result)).to.deep.equal([]);
    }
    // Past the sixteen conditions the store narrows by, the others still count.
    const group = (value: string): string => `<ObjectGroup type="TextString" value="${value}"/>`;
    const locateGroups = (values: string[]): string => `<Operation type="Enumeration" value="Locate"/><RequestPayload><Attributes>${values.map(group).join('')}</Attributes></RequestPayload>`;
    expect(idsOf(await send('2.1', locateGroups([...Array<string>(17).fill('few')])))).to.deep.equal(few);
    expect(idsOf(await send('2.1', locateGroups([...Array<string>(16).fill('few'), 'nope'])))).to.deep.equal([]);
  });
});
