/**
 * Message-level behaviour of the key manager: batches, the ID Placeholder, errors,
 * Maximum Response Size, and responses that fit the client's protocol version.
 */
import { expect } from 'chai';
import { Tag, encodeTtlv, registry } from '../../ttlv/index.js';
import type { TtlvItem } from '../../ttlv/index.js';
import { decodeTtlv } from '../../ttlv/index.js';
import { findAll, findValue, openTestService, request, results, textOf } from '../support/service.js';
import type { TestService } from '../support/service.js';

const createAes = (name: string, version = '1.4'): string =>
  version.startsWith('2.')
    ? `<Operation type="Enumeration" value="Create"/><RequestPayload><ObjectType type="Enumeration" value="SymmetricKey"/>
        <Attributes><CryptographicAlgorithm type="Enumeration" value="AES"/><CryptographicLength type="Integer" value="128"/>
        <CryptographicUsageMask type="Integer" value="Encrypt Decrypt"/>
        <Name><NameValue type="TextString" value="${name}"/><NameType type="Enumeration" value="UninterpretedTextString"/></Name></Attributes></RequestPayload>`
    : `<Operation type="Enumeration" value="Create"/><RequestPayload><ObjectType type="Enumeration" value="SymmetricKey"/><TemplateAttribute>
        <Attribute><AttributeName type="TextString" value="Cryptographic Algorithm"/><AttributeValue type="Enumeration" value="AES"/></Attribute>
        <Attribute><AttributeName type="TextString" value="Cryptographic Length"/><AttributeValue type="Integer" value="128"/></Attribute>
        <Attribute><AttributeName type="TextString" value="Cryptographic Usage Mask"/><AttributeValue type="Integer" value="Encrypt Decrypt"/></Attribute>
        <Attribute><AttributeName type="TextString" value="Name"/><AttributeValue><NameValue type="TextString" value="${name}"/><NameType type="Enumeration" value="UninterpretedTextString"/></AttributeValue></Attribute>
      </TemplateAttribute></RequestPayload>`;

/** Every tag and enumeration value in the tree is defined in `version`. */
function undefinedIn(item: TtlvItem, version: registry.KmipVersion, path = ''): string[] {
  const def = registry.tagByValue(item.tag);
  const here = `${path}/${def?.xmlName ?? registry.tagHex(item.tag)}`;
  const problems: string[] = [];
  if (!def || !registry.definedIn(def, version)) problems.push(`${here}: tag`);
  if (item.type === 'Enumeration') {
    const e = registry.enumForTag(item.tag);
    const value = e && registry.enumValueByValue(e, item.value, version);
    if (e && (!value || !registry.definedIn(value, version))) problems.push(`${here}: value ${item.value}`);
  }
  if (item.type === 'Structure') for (const child of item.value) problems.push(...undefinedIn(child, version, here));
  return problems;
}

describe('messages, batches and versions', () => {
  let kms: TestService;
  before(async () => {
    kms = await openTestService();
  });
  after(async () => {
    await kms.close();
  });

  it('the ID Placeholder carries the new key from Create to Activate and Get in one batch', async () => {
    const response = await kms.send(
      request('1.4', createAes('placeholder'), '<Operation type="Enumeration" value="Activate"/><RequestPayload/>', '<Operation type="Enumeration" value="Get"/><RequestPayload/>'),
    );
    const [created, activated, got] = results(response);
    expect([created?.status, activated?.status, got?.status]).to.deep.equal(['Success', 'Success', 'Success']);
    const id = textOf(findValue(created?.payload, Tag.UniqueIdentifier));
    expect(textOf(findValue(activated?.payload, Tag.UniqueIdentifier))).to.equal(id);
    expect(textOf(findValue(got?.payload, Tag.UniqueIdentifier))).to.equal(id);
  });

  it('Batch Error Continuation Stop (the default): nothing after a failed item runs or is answered', async () => {
    const response = await kms.send(request('1.4', createAes('stop-1'), '<Operation type="Enumeration" value="Get"/><RequestPayload><UniqueIdentifier type="TextString" value="missing"/></RequestPayload>', createAes('stop-2')));
    expect(results(response).map((r) => r.status)).to.deep.equal(['Success', 'OperationFailed']);
    expect(findValue(response, Tag.BatchCount)).to.deep.include({ value: 2 });
  });

  it('Batch Error Continuation Continue: every item runs and is answered in order', async () => {
    const xml = request('1.4', createAes('go-1'), '<Operation type="Enumeration" value="Get"/><RequestPayload><UniqueIdentifier type="TextString" value="missing"/></RequestPayload>', createAes('go-2')).replace(
      '<BatchCount',
      '<BatchErrorContinuationOption type="Enumeration" value="Continue"/><BatchCount',
    );
    expect(results(await kms.send(xml)).map((r) => r.status)).to.deep.equal(['Success', 'OperationFailed', 'Success']);
  });

  it('Unique Batch Item IDs come back with their answers', async () => {
    const response = await kms.send(
      request(
        '1.4',
        `<Operation type="Enumeration" value="Query"/><UniqueBatchItemID type="ByteString" value="0a"/><RequestPayload><QueryFunction type="Enumeration" value="QueryOperations"/></RequestPayload>`,
        `<Operation type="Enumeration" value="DiscoverVersions"/><UniqueBatchItemID type="ByteString" value="0b"/><RequestPayload/>`,
      ),
    );
    const ids = findAll(response, Tag.UniqueBatchItemID).map((item) => (item.type === 'ByteString' ? Buffer.from(item.value).toString('hex') : ''));
    expect(ids).to.deep.equal(['0a', '0b']);
  });

  it('an unsupported operation answers Operation Not Supported and names it', async () => {
    const [item] = results(await kms.send(request('1.4', '<Operation type="Enumeration" value="Poll"/><RequestPayload/>')));
    expect(item?.reason).to.equal('OperationNotSupported');
    expect(item?.message).to.contain('Poll');
  });

  it('Set Attribute is a KMIP 2.0 operation: a 1.4 request for it is not supported', async () => {
    const [item] = results(await kms.send(request('1.4', '<Operation type="Enumeration" value="SetAttribute"/><RequestPayload/>')));
    expect(item?.reason).to.equal('OperationNotSupported');
  });

  it('a missing required field answers Invalid Field with the field named', async () => {
    const [item] = results(await kms.send(request('1.4', '<Operation type="Enumeration" value="Create"/><RequestPayload/>')));
    expect(item?.status).to.equal('OperationFailed');
    expect(item?.reason).to.equal('InvalidField');
    expect(item?.message).to.contain('ObjectType');
  });

  it('a Batch Count that disagrees with the items answers Invalid Message', async () => {
    const xml = request('1.4', createAes('count')).replace('<BatchCount type="Integer" value="1"/>', '<BatchCount type="Integer" value="2"/>');
    const [item] = results(await kms.send(xml));
    expect(item?.reason).to.equal('InvalidMessage');
  });

  it('bytes that are not TTLV answer Invalid Message, in KMIP 1.0 which every client reads', async () => {
    const bad = Buffer.from('42007801000000084200770200000004', 'hex');
    const response = decodeTtlv(await kms.service.handle(bad, { identity: { name: 'alice', admin: false }, peer: 'test' }));
    const [item] = results(response);
    expect(item?.reason).to.equal('InvalidMessage');
    expect(findValue(response, Tag.ProtocolVersionMinor)).to.deep.include({ value: 0 });
  });

  it('an unknown protocol major version is refused with a clear message', async () => {
    const [item] = results(await kms.send(request('3.0', '<Operation type="Enumeration" value="Query"/><RequestPayload/>')));
    expect(item?.status).to.equal('OperationFailed');
    expect(item?.message).to.contain('3.0');
  });

  it('a request for KMIP 1.5 is answered in 1.4, the newest 1.x this server speaks', async () => {
    const response = await kms.send(request('1.5', '<Operation type="Enumeration" value="DiscoverVersions"/><RequestPayload/>'));
    expect(results(response)[0]?.status).to.equal('Success');
    const header = findValue(response, Tag.ResponseHeader);
    expect(findValue(header, Tag.ProtocolVersionMinor)).to.deep.include({ value: 4 });
  });

  it('Discover Versions answers the client\'s versions we speak, in its order', async () => {
    const offered = ['1.2', '3.1', '2.0']
      .map((v) => `<ProtocolVersion><ProtocolVersionMajor type="Integer" value="${v[0]}"/><ProtocolVersionMinor type="Integer" value="${v[2]}"/></ProtocolVersion>`)
      .join('');
    const [item] = results(await kms.send(request('1.4', `<Operation type="Enumeration" value="DiscoverVersions"/><RequestPayload>${offered}</RequestPayload>`)));
    const versions = findAll(item?.payload, Tag.ProtocolVersion).map((pv) => `${String(findValue(pv, Tag.ProtocolVersionMajor)?.value)}.${String(findValue(pv, Tag.ProtocolVersionMinor)?.value)}`);
    expect(versions).to.deep.equal(['1.2', '2.0']);
  });

  it('Maximum Response Size: a response that would be larger answers Response Too Large', async () => {
    const query = '<Operation type="Enumeration" value="Query"/><RequestPayload><QueryFunction type="Enumeration" value="QueryOperations"/><QueryFunction type="Enumeration" value="QueryObjects"/></RequestPayload>';
    const small = request('1.4', query).replace('<BatchCount', '<MaximumResponseSize type="Integer" value="256"/><BatchCount');
    const [tooLarge] = results(await kms.send(small));
    expect(tooLarge?.reason).to.equal('ResponseTooLarge');
    expect(tooLarge?.operation).to.equal('Query');
    const large = request('1.4', query).replace('<BatchCount', '<MaximumResponseSize type="Integer" value="100000"/><BatchCount');
    expect(results(await kms.send(large))[0]?.status).to.equal('Success');
  });

  for (const version of ['1.0', '1.1', '1.2', '1.3', '1.4', '2.0', '2.1'] as const) {
    it(`KMIP ${version}: every tag and enumeration value of Query, Create and Get Attributes responses is defined in ${version}`, async () => {
      const query = `<Operation type="Enumeration" value="Query"/><RequestPayload>${[1, 2, 3, 8]
        .map((f) => `<QueryFunction type="Enumeration" value="0x0000000${f}"/>`)
        .join('')}</RequestPayload>`;
      const response = await kms.send(request(version, query, createAes(`fit-${version}`, version), '<Operation type="Enumeration" value="GetAttributes"/><RequestPayload/>'));
      expect(results(response).map((r) => r.status)).to.deep.equal(['Success', 'Success', 'Success']);
      expect(undefinedIn(response, version)).to.deep.equal([]);
      // Handlers built the right shape themselves: the last-resort filter dropped nothing.
      expect(kms.logs.filter((line) => line['msg'] === 'response held items the protocol version does not define').map((line) => JSON.stringify(line['dropped']))).to.deep.equal([]);
      // The answer is also valid TTLV the client can decode.
      expect(() => decodeTtlv(encodeTtlv(response))).not.to.throw();
    });
  }
});

describe('Query capabilities', () => {
  it('2.1: Capability Information says streaming, batch Undo and Continue are offered, asynchronous operations are not', async () => {
    const kms = await openTestService();
    try {
      const [item] = results(await kms.send(request('2.1', '<Operation type="Enumeration" value="Query"/><RequestPayload><QueryFunction type="Enumeration" value="QueryCapabilities"/></RequestPayload>')));
      const info = findValue(item?.payload, Tag.CapabilityInformation);
      expect(findValue(info, Tag.StreamingCapability)).to.deep.include({ value: true });
      expect(findValue(info, Tag.BatchUndoCapability)).to.deep.include({ value: true });
      expect(findValue(info, Tag.AsynchronousCapability)).to.deep.include({ value: false });
      // 1.2 has no Capability Information: the function answers nothing there.
      const [old] = results(await kms.send(request('1.2', '<Operation type="Enumeration" value="Query"/><RequestPayload><QueryFunction type="Enumeration" value="0x0000000b"/></RequestPayload>')));
      expect(old?.status).to.equal('Success');
      expect(findValue(old?.payload, Tag.CapabilityInformation)).to.equal(undefined);
    } finally {
      await kms.close();
    }
  });
});
