/**
 * Batch Error Continuation Option Undo (KMIP 2.1 section 11.5, 1.4 section 9.1.3.2.30): "If
 * any operation in the request fails, then the server SHALL undo all the previous
 * operations"; the items that had succeeded answer Operation Undone. When every item
 * succeeds, all their changes are committed together.
 */
import { expect } from 'chai';
import { Enum, Tag } from '../../ttlv/index.js';
import { findAll, findValue, openTestService, request, results, textOf } from '../support/service.js';
import type { ItemResult, TestService } from '../support/service.js';

const onId = (operation: string, id: string, extra = ''): string =>
  `<Operation type="Enumeration" value="${operation}"/><RequestPayload><UniqueIdentifier type="TextString" value="${id}"/>${extra}</RequestPayload>`;
const create = (name: string): string => `<Operation type="Enumeration" value="Create"/><RequestPayload><ObjectType type="Enumeration" value="SymmetricKey"/><Attributes>
  <CryptographicAlgorithm type="Enumeration" value="AES"/><CryptographicLength type="Integer" value="256"/><CryptographicUsageMask type="Integer" value="Encrypt"/>
  <Name><NameValue type="TextString" value="${name}"/><NameType type="Enumeration" value="UninterpretedTextString"/></Name></Attributes></RequestPayload>`;
const locate = (name: string): string =>
  `<Operation type="Enumeration" value="Locate"/><RequestPayload><Attributes><Name><NameValue type="TextString" value="${name}"/><NameType type="Enumeration" value="UninterpretedTextString"/></Name></Attributes></RequestPayload>`;

const V1_CREATE = `<Operation type="Enumeration" value="Create"/><RequestPayload><ObjectType type="Enumeration" value="SymmetricKey"/><TemplateAttribute>
  <Attribute><AttributeName type="TextString" value="Cryptographic Algorithm"/><AttributeValue type="Enumeration" value="AES"/></Attribute>
  <Attribute><AttributeName type="TextString" value="Cryptographic Length"/><AttributeValue type="Integer" value="256"/></Attribute></TemplateAttribute></RequestPayload>`;

function undo(version: string, ...items: string[]): string {
  return request(version, ...items).replace('<BatchCount', '<BatchErrorContinuationOption type="Enumeration" value="Undo"/><BatchCount');
}

function idOf(result: ItemResult | undefined): string {
  expect(result?.status, result?.message).to.equal('Success');
  return textOf(findValue(result?.payload, Tag.UniqueIdentifier));
}

describe('Batch Error Continuation Option Undo', () => {
  let kms: TestService;
  before(async () => {
    kms = await openTestService();
  });
  after(async () => {
    await kms.close();
  });
  const send = async (xml: string): Promise<ItemResult[]> => results(await kms.send(xml));
  const stateOf = async (id: string): Promise<unknown> =>
    findValue((await send(request('2.1', onId('GetAttributes', id, '<AttributeReference type="Enumeration" value="State"/>'))))[0]?.payload, Tag.State)?.value;

  it('a failing item undoes the Activate before it: Operation Undone, with its payload, and the key is still Pre-Active (OASIS BL-M-2)', async () => {
    const id = idOf((await send(request('2.1', create('undo-activate'))))[0]);
    const answers = await send(undo('2.1', onId('Activate', id), onId('Check', id, '<CryptographicUsageMask type="Integer" value="Encrypt"/>'), onId('Check', id, '<CryptographicUsageMask type="Integer" value="Decrypt"/>')));
    expect(answers.map((a) => a.status)).to.deep.equal(['OperationUndone', 'OperationUndone', 'OperationFailed']);
    expect(textOf(findValue(answers[0]?.payload, Tag.UniqueIdentifier))).to.equal(id);
    expect(await stateOf(id)).to.equal(Enum.State.PreActive);
  });

  it('1.4: an object created before the failure is not kept', async () => {
    const answers = await send(undo('1.4', V1_CREATE, onId('Get', 'no-such-object')));
    expect(answers.map((a) => a.status)).to.deep.equal(['OperationUndone', 'OperationFailed']);
    const created = textOf(findValue(answers[0]?.payload, Tag.UniqueIdentifier));
    const [get] = await send(request('1.4', onId('Get', created)));
    expect(get?.reason).to.equal('ItemNotFound');
  });

  it('later items see what earlier ones did, and a batch that succeeds commits every change', async () => {
    const answers = await send(undo('2.1', create('undo-kept'), '<Operation type="Enumeration" value="Activate"/><RequestPayload/>', locate('undo-kept')));
    expect(answers.map((a) => a.status)).to.deep.equal(['Success', 'Success', 'Success']);
    const id = textOf(findValue(answers[0]?.payload, Tag.UniqueIdentifier));
    expect(findAll(answers[2]?.payload, Tag.UniqueIdentifier).map((i) => textOf(i))).to.deep.equal([id]);
    expect(await stateOf(id)).to.equal(Enum.State.Active);
  });
});
