/**
 * Two KMIP 2.x operations for the people around a server: Interop (2.1 section 6.1.26),
 * which a conformance test harness sends at the start and end of each test and which "SHALL
 * NOT be available in a production server", and Log (6.1.29), a client's message for the
 * server's log.
 */
import { expect } from 'chai';
import { Enum, Tag } from '../../ttlv/index.js';
import { findAll, openTestService, request, results } from '../support/service.js';
import type { ItemResult, TestService } from '../support/service.js';

const interop = (fn: string, id = 'BL-M-1-21'): string =>
  `<Operation type="Enumeration" value="Interop"/><RequestPayload><InteropFunction type="Enumeration" value="${fn}"/><InteropIdentifier type="TextString" value="${id}"/></RequestPayload>`;
const queryOperations = '<Operation type="Enumeration" value="Query"/><RequestPayload><QueryFunction type="Enumeration" value="QueryOperations"/></RequestPayload>';

describe('Interop and Log', () => {
  let production: TestService;
  let harness: TestService;
  before(async () => {
    production = await openTestService();
    harness = await openTestService({ interopTesting: true });
  });
  after(async () => {
    await production.close();
    await harness.close();
  });
  const send = async (kms: TestService, ...items: string[]): Promise<ItemResult[]> => results(await kms.send(request('2.1', ...items)));
  const operations = async (kms: TestService): Promise<unknown[]> => findAll((await send(kms, queryOperations))[0]?.payload, Tag.Operation).map((o) => o.value);

  it('a production server does not offer Interop: Operation Not Supported, and Query does not list it', async () => {
    const [refused] = await send(production, interop('Begin'));
    expect(refused?.reason).to.equal('OperationNotSupported');
    expect(await operations(production)).not.to.include(Enum.Operation.Interop);
  });

  it('a server run for interop testing answers Begin and End with an empty payload and logs the test', async () => {
    const answers = await send(harness, interop('Begin'), interop('End'));
    expect(answers.map((a) => a.status)).to.deep.equal(['Success', 'Success']);
    expect(answers[0]?.payload?.type === 'Structure' ? answers[0].payload.value : undefined).to.deep.equal([]);
    expect(harness.logs.filter((line) => line.interopIdentifier === 'BL-M-1-21').map((line) => line.msg)).to.deep.equal(['interop test begins', 'interop test ends']);
    expect(await operations(harness)).to.include(Enum.Operation.Interop);
  });

  it('Interop Reset, which would erase the store, is refused', async () => {
    const [refused] = await send(harness, interop('Reset'));
    expect(refused?.reason).to.equal('FeatureNotSupported');
  });

  it('Log writes the message to the server log, with the client identity, and answers an empty payload', async () => {
    const [logged] = await send(production, '<Operation type="Enumeration" value="Log"/><RequestPayload><LogMessage type="TextString" value="Registered a symmetric key."/></RequestPayload>');
    expect(logged?.status).to.equal('Success');
    const line = production.logs.find((l) => l.logMessage === 'Registered a symmetric key.');
    expect(line).to.include({ msg: 'client log message', identity: 'alice' });
  });

  it('Log is a KMIP 2.0 operation: a 1.4 client is told it is not supported', async () => {
    const log = `0x${Enum.Operation.Log.toString(16).padStart(8, '0')}`;
    const [refused] = results(await production.send(request('1.4', `<Operation type="Enumeration" value="${log}"/><RequestPayload><LogMessage type="TextString" value="x"/></RequestPayload>`)));
    expect(refused?.reason).to.equal('OperationNotSupported');
  });
});
