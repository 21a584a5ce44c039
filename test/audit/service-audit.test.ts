/**
 * Every batch item leaves an audit record, over the real service and a real SQLite file:
 * who, from where, which operation, which objects, with what result, under the request's
 * correlation value; changes and their records commit together; an Undo batch is recorded
 * as undone; a request that cannot be read gets one record; and no record holds key material.
 */
import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Tag, decodeTtlv, encodeTtlv, isConcrete, parseXml } from '../../ttlv/index.js';
import { indexKeys } from '../../lib/attributes/index.js';
import { auditSource, readTrail } from '../../lib/audit/store-audit-suite.js';
import { auditSystemCommits, verifyChain } from '../../lib/audit/index.js';
import type { StoredRecord } from '../../lib/audit/index.js';
import { createKekFile, loadKekFile } from '../../lib/crypto/index.js';
import { silentLogger } from '../../lib/log.js';
import { createKmipService } from '../../lib/service.js';
import { openSqliteStore } from '../../lib/store/index.js';
import type { Changes, SqliteStore, Store } from '../../lib/store/index.js';
import { findValue, openTestService, request, results, textOf } from '../support/service.js';
import type { TestService } from '../support/service.js';

const CREATE = `<Operation type="Enumeration" value="Create"/><RequestPayload><ObjectType type="Enumeration" value="SymmetricKey"/><TemplateAttribute>
  <Attribute><AttributeName type="TextString" value="Cryptographic Algorithm"/><AttributeValue type="Enumeration" value="AES"/></Attribute>
  <Attribute><AttributeName type="TextString" value="Cryptographic Length"/><AttributeValue type="Integer" value="128"/></Attribute>
  <Attribute><AttributeName type="TextString" value="Cryptographic Usage Mask"/><AttributeValue type="Integer" value="Encrypt Decrypt"/></Attribute></TemplateAttribute></RequestPayload>`;

const byId = (op: string, id: string): string => `<Operation type="Enumeration" value="${op}"/><RequestPayload><UniqueIdentifier type="TextString" value="${id}"/></RequestPayload>`;

const objects = (record: StoredRecord | undefined): unknown => JSON.parse(record?.objectsJson ?? 'null');

describe('audit records of the service (SQLite file)', function () {
  this.timeout(60_000);
  let t: TestService;

  beforeEach(async () => {
    t = await openTestService();
  });
  afterEach(async () => {
    await t.close();
  });

  async function createKey(identity = 'alice'): Promise<string> {
    const [created] = results(await t.send(request('1.4', CREATE), identity));
    return textOf(findValue(created?.payload, Tag.UniqueIdentifier));
  }

  it('records each batch item: time, identity, peer, operation, objects, status, reason, one correlation per request', async () => {
    const id = await createKey();
    const response = await t.send(request('1.4', byId('Get', id), byId('Get', 'no-such-key')).replace('<BatchCount type="Integer" value="2"/>', '<BatchErrorContinuationOption type="Enumeration" value="Continue"/><BatchCount type="Integer" value="2"/>'));
    expect(results(response).map((r) => r.status)).to.deep.equal(['Success', 'OperationFailed']);
    const { records } = await readTrail(t.store);
    expect(records.map((r) => [r.seq, r.operation, r.item, r.status, r.reason])).to.deep.equal([
      [1, 'Create', 1, 'Success', null],
      [2, 'Get', 1, 'Success', null],
      [3, 'Get', 2, 'OperationFailed', 'ItemNotFound'],
    ]);
    const [create, get, missing] = records;
    expect(objects(create)).to.deep.equal([id]);
    expect(objects(get)).to.deep.equal([id]);
    expect(objects(missing)).to.deep.equal(['no-such-key']);
    for (const record of records) expect(record).to.include({ identity: 'alice', peer: 'test' });
    expect(get?.correlation).to.equal(missing?.correlation);
    expect(get?.correlation).to.not.equal(create?.correlation);
    expect(missing?.message).to.be.a('string').and.match(/no-such-key/);
    // The log lines of the request carry the same correlation value.
    const logged = t.logs.filter((line) => line['correlation'] === get?.correlation);
    expect(logged.length).to.be.greaterThan(0);
    const time = Date.parse(get?.time ?? '');
    expect(Math.abs(Date.now() - time)).to.be.lessThan(60_000);
  });

  it('records a Permission Denied answer, naming who asked and for what', async () => {
    const id = await createKey('alice');
    const [denied] = results(await t.send(request('1.4', byId('Get', id)), 'mallory'));
    expect(denied?.reason).to.equal('PermissionDenied');
    const { records } = await readTrail(t.store);
    const last = records[records.length - 1];
    expect(last).to.include({ identity: 'mallory', operation: 'Get', status: 'OperationFailed', reason: 'PermissionDenied' });
    expect(objects(last)).to.deep.equal([id]);
  });

  it('records a message that cannot be decoded once, as Invalid Message, with no operation', async () => {
    const answer = await t.service.handle(Buffer.from('42007801000000ff', 'hex'), { identity: { name: 'fuzzer', admin: false }, peer: '198.51.100.9:4242' });
    expect(answer.length).to.be.greaterThan(0);
    const { records } = await readTrail(t.store);
    expect(records).to.have.length(1);
    expect(records[0]).to.include({ identity: 'fuzzer', peer: '198.51.100.9:4242', operation: null, item: null, status: 'OperationFailed', reason: 'InvalidMessage' });
  });

  it('an Undo batch that fails records the succeeded items as Operation Undone and writes no change', async () => {
    const undo = request('1.4', CREATE, byId('Get', 'missing')).replace('<BatchCount', '<BatchErrorContinuationOption type="Enumeration" value="Undo"/><BatchCount');
    const answered = results(await t.send(undo));
    expect(answered.map((r) => r.status)).to.deep.equal(['OperationUndone', 'OperationFailed']);
    const createdId = textOf(findValue(answered[0]?.payload, Tag.UniqueIdentifier));
    expect(await t.store.loadMetadata(createdId)).to.equal(undefined);
    const { records } = await readTrail(t.store);
    expect(records.map((r) => [r.operation, r.status, r.reason])).to.deep.equal([
      ['Create', 'OperationUndone', null],
      ['Get', 'OperationFailed', 'ItemNotFound'],
    ]);
    expect(objects(records[0])).to.deep.equal([createdId]);
  });

  it('an Undo batch that succeeds commits its records with its changes', async () => {
    const undo = request('1.4', CREATE, CREATE).replace('<BatchCount', '<BatchErrorContinuationOption type="Enumeration" value="Undo"/><BatchCount');
    const answered = results(await t.send(undo));
    expect(answered.map((r) => r.status)).to.deep.equal(['Success', 'Success']);
    const ids = answered.map((r) => textOf(findValue(r.payload, Tag.UniqueIdentifier)));
    const { records } = await readTrail(t.store);
    expect(records.map((r) => [r.operation, r.item, r.status])).to.deep.equal([
      ['Create', 1, 'Success'],
      ['Create', 2, 'Success'],
    ]);
    expect(records.map(objects)).to.deep.equal([[ids[0]], [ids[1]]]);
  });

  it('never records key material: a registered key and its Get leave no trace of the bytes in the audit rows', async () => {
    const material = 'a1b2c3d4e5f60718293a4b5c6d7e8f90';
    const register = `<Operation type="Enumeration" value="Register"/><RequestPayload><ObjectType type="Enumeration" value="SymmetricKey"/><TemplateAttribute>
      <Attribute><AttributeName type="TextString" value="Cryptographic Usage Mask"/><AttributeValue type="Integer" value="Encrypt Decrypt"/></Attribute></TemplateAttribute>
      <SymmetricKey><KeyBlock><KeyFormatType type="Enumeration" value="Raw"/><KeyValue><KeyMaterial type="ByteString" value="${material}"/></KeyValue>
      <CryptographicAlgorithm type="Enumeration" value="AES"/><CryptographicLength type="Integer" value="128"/></KeyBlock></SymmetricKey></RequestPayload>`;
    const [registered] = results(await t.send(request('1.4', register)));
    const id = textOf(findValue(registered?.payload, Tag.UniqueIdentifier));
    const [got] = results(await t.send(request('1.4', byId('Get', id))));
    expect(got?.status).to.equal('Success');
    const { records } = await readTrail(t.store);
    expect(records.map((r) => r.operation)).to.deep.equal(['Register', 'Get']);
    const text = JSON.stringify(records);
    const bytes = Buffer.from(material, 'hex');
    for (const form of [material, material.toUpperCase(), bytes.toString('base64'), bytes.toString('latin1')]) expect(text).to.not.include(form);
  });

  it('an intact trail verifies after a mix of operations', async () => {
    const id = await createKey();
    await t.send(request('1.4', byId('Activate', id)));
    await t.send(request('1.4', byId('Get', id)));
    await t.send(request('1.4', `<Operation type="Enumeration" value="Locate"/><RequestPayload/>`));
    const reader = await auditSource(t.store).auditReader();
    try {
      expect(await verifyChain(reader)).to.deep.include({ intact: true, records: 4 });
    } finally {
      await reader.close();
    }
  });
});

describe('audit and the answer', function () {
  this.timeout(60_000);
  let dir: string;
  let store: SqliteStore;

  beforeEach(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'kmipd-audit-service-'));
    await createKekFile(path.join(dir, 'kek.key'));
    store = await openSqliteStore({ path: path.join(dir, 'kmipd.db'), kek: await loadKekFile(path.join(dir, 'kek.key')), indexKeys });
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const send = async (service: ReturnType<typeof createKmipService>, xml: string): Promise<ReturnType<typeof results>> => {
    const [message] = parseXml(xml);
    if (message === undefined || !isConcrete(message)) throw new Error('bad test message');
    return results(decodeTtlv(await service.handle(encodeTtlv(message), { identity: { name: 'alice', admin: false }, peer: '127.0.0.1:1' })));
  };

  it('withholds a result whose record cannot be written: the Get answers General Failure, not the key', async () => {
    let failAudit = false;
    const flaky: Store = new Proxy(store as Store, {
      get(target, property) {
        if (property === 'commit') {
          return async (changes: Changes) => {
            if (failAudit && (changes.create ?? []).length === 0 && (changes.update ?? []).length === 0) throw new Error('disk full');
            return target.commit(changes);
          };
        }
        const value: unknown = Reflect.get(target, property, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const service = createKmipService({ store: flaky, log: silentLogger });
    const [created] = await send(service, request('1.4', CREATE));
    const id = textOf(findValue(created?.payload, Tag.UniqueIdentifier));
    // The first Get changes the key (Fresh turns False) and records with that change.
    await send(service, request('1.4', byId('Get', id)));
    failAudit = true;
    const [got] = await send(service, request('1.4', byId('Get', id)));
    expect(got).to.include({ status: 'OperationFailed', reason: 'GeneralFailure' });
    expect(got?.payload).to.equal(undefined);
    expect(got?.message).to.match(/audit/);
  });

  it('a change the server makes on its own (auditSystemCommits) is recorded in its transaction, under the system identity', async () => {
    const service = createKmipService({ store, log: silentLogger });
    const [created] = await send(service, request('1.4', CREATE));
    const id = textOf(findValue(created?.payload, Tag.UniqueIdentifier));
    const stored = await store.load(id);
    if (stored === undefined) throw new Error('created key not found');
    const system = auditSystemCommits(store, 'kmipd-scheduler', 'Activate');
    await system.commit({ update: [{ ...stored, revision: stored.revision + 1 }] });
    const { records } = await readTrail(store);
    expect(records.map((r) => [r.seq, r.identity, r.peer, r.operation, r.status])).to.deep.equal([
      [1, 'alice', '127.0.0.1:1', 'Create', 'Success'],
      [2, 'kmipd-scheduler', 'kmipd', 'Activate', 'Success'],
    ]);
    expect(objects(records[1])).to.deep.equal([id]);
  });

  it('with audit off, the service writes no record', async () => {
    const service = createKmipService({ store, log: silentLogger, audit: false });
    await send(service, request('1.4', CREATE));
    const { records, head } = await readTrail(store);
    expect(records).to.deep.equal([]);
    expect(head?.seq).to.equal(0);
  });

  it('records every one of 50 concurrent reads in one gapless chain', async () => {
    const service = createKmipService({ store, log: silentLogger });
    const [created] = await send(service, request('1.4', CREATE));
    const id = textOf(findValue(created?.payload, Tag.UniqueIdentifier));
    await send(service, request('1.4', byId('Get', id))); // Fresh turns False: the reads below change nothing
    const answers = await Promise.all(Array.from({ length: 50 }, () => send(service, request('1.4', byId('Get', id)))));
    expect(answers.every(([a]) => a?.status === 'Success')).to.equal(true);
    const { records } = await readTrail(store);
    expect(records.map((r) => r.seq)).to.deep.equal(Array.from({ length: 52 }, (_, i) => i + 1));
    expect(new Set(records.slice(2).map((r) => r.correlation)).size).to.equal(50);
  });
});
