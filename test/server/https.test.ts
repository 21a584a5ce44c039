/**
 * KMIP over HTTPS (KMIP Additional Message Encodings v1.0, section 2), end to end: a real
 * kmipd with `https` on, real certificates, node:https as the client. Each encoding does a
 * Create then a Get of the created key; HTTP mistakes get HTTP errors, bad KMIP gets a KMIP
 * Invalid Message answer, and a client without an accepted certificate gets nothing.
 */
import { expect } from 'chai';
import { readFile } from 'node:fs/promises';
import { Agent, request as httpsRequest } from 'node:https';
import type { RequestOptions } from 'node:https';
import { createDevelopmentPki, developmentPkiPaths } from '../../certs/index.js';
import { jsonLogger } from '../../lib/log.js';
import type { KmipService, Session } from '../../lib/service.js';
import { Enum, Tag, decodeTtlv, encodeTtlv, isConcrete, parseJson, parseXml } from '../../ttlv/index.js';
import type { TtlvItem } from '../../ttlv/index.js';
import { configWith, initDataDir, startServer } from '../../server/index.js';
import type { KmipdConfig, RunningServer } from '../../server/index.js';
import { LogCapture, TestClient, eventually, pkiFiles, removeDir, tempDir } from './helpers.js';

interface Reply {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Buffer;
}

interface Tls {
  readonly ca: Buffer;
  readonly cert?: Buffer;
  readonly key?: Buffer;
}

function send(port: number, tls: Tls, body: Buffer | string | undefined, options: RequestOptions & { readonly chunks?: readonly Buffer[] } = {}): Promise<Reply> {
  return new Promise<Reply>((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port, path: '/kmip', method: 'POST', ...tls, ...options }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (options.chunks !== undefined) {
      for (const chunk of options.chunks) req.write(chunk);
      req.end();
    } else {
      req.end(body);
    }
  });
}

const child = (item: TtlvItem | undefined, tag: number): TtlvItem | undefined => (item?.type === 'Structure' ? item.value.find((c) => c.tag === tag) : undefined);

/** Result Status, Result Reason and payload of the first batch item of a response tree. */
function firstItem(message: TtlvItem): { status: unknown; reason: unknown; payload: TtlvItem | undefined } {
  expect(message.tag).to.equal(Tag.ResponseMessage);
  const item = child(message, Tag.BatchItem);
  return { status: child(item, Tag.ResultStatus)?.value, reason: child(item, Tag.ResultReason)?.value, payload: child(item, Tag.ResponsePayload) };
}

function one(items: ReturnType<typeof parseXml>): TtlvItem {
  expect(items).to.have.length(1);
  const [item] = items;
  if (item === undefined || !isConcrete(item)) throw new Error('not one concrete item');
  return item;
}

const HEADER_21 = '<RequestHeader><ProtocolVersion><ProtocolVersionMajor type="Integer" value="2"/><ProtocolVersionMinor type="Integer" value="1"/></ProtocolVersion><BatchCount type="Integer" value="1"/></RequestHeader>';

const createXml = (name: string): string =>
  `<RequestMessage>${HEADER_21}<BatchItem><Operation type="Enumeration" value="Create"/><RequestPayload><ObjectType type="Enumeration" value="SymmetricKey"/><Attributes>` +
  '<CryptographicAlgorithm type="Enumeration" value="AES"/><CryptographicLength type="Integer" value="256"/><CryptographicUsageMask type="Integer" value="Encrypt Decrypt"/>' +
  `<Name><NameValue type="TextString" value="${name}"/><NameType type="Enumeration" value="UninterpretedTextString"/></Name></Attributes></RequestPayload></BatchItem></RequestMessage>`;

const getXml = (uid: string): string =>
  `<RequestMessage>${HEADER_21}<BatchItem><Operation type="Enumeration" value="Get"/><RequestPayload><UniqueIdentifier type="TextString" value="${uid}"/></RequestPayload></BatchItem></RequestMessage>`;

/** The JSON encoding written out by hand (section 4.1), not produced by the codec under test. */
const HEADER_21_JSON = '{"tag":"RequestHeader","value":[{"tag":"ProtocolVersion","value":[{"tag":"ProtocolVersionMajor","type":"Integer","value":2},{"tag":"ProtocolVersionMinor","type":"Integer","value":1}]},{"tag":"BatchCount","type":"Integer","value":1}]}';

const createJson = (name: string): string =>
  `{"tag":"RequestMessage","value":[${HEADER_21_JSON},{"tag":"BatchItem","value":[{"tag":"Operation","type":"Enumeration","value":"Create"},{"tag":"RequestPayload","value":[` +
  '{"tag":"ObjectType","type":"Enumeration","value":"SymmetricKey"},{"tag":"Attributes","value":[' +
  '{"tag":"CryptographicAlgorithm","type":"Enumeration","value":"AES"},{"tag":"CryptographicLength","type":"Integer","value":256},{"tag":"CryptographicUsageMask","type":"Integer","value":"Encrypt|Decrypt"},' +
  `{"tag":"Name","value":[{"tag":"NameValue","type":"TextString","value":"${name}"},{"tag":"NameType","type":"Enumeration","value":"UninterpretedTextString"}]}]}]}]}]}`;

const getJson = (uid: string): string =>
  `{"tag":"RequestMessage","value":[${HEADER_21_JSON},{"tag":"BatchItem","value":[{"tag":"Operation","type":"Enumeration","value":"Get"},{"tag":"RequestPayload","value":[{"tag":"UniqueIdentifier","type":"TextString","value":"${uid}"}]}]}]}`;

/** The Unique Identifier of a Create answer, and that the Get answer returns a 256-bit AES key with it. */
function checkCreateGet(created: TtlvItem, got: TtlvItem): string {
  const create = firstItem(created);
  expect(create.status).to.equal(Enum.ResultStatus.Success);
  const uid = child(create.payload, Tag.UniqueIdentifier)?.value;
  expect(uid).to.be.a('string');
  const get = firstItem(got);
  expect(get.status).to.equal(Enum.ResultStatus.Success);
  expect(child(get.payload, Tag.UniqueIdentifier)?.value).to.equal(uid);
  const keyBlock = child(child(get.payload, Tag.SymmetricKey), Tag.KeyBlock);
  const material = child(child(keyBlock, Tag.KeyValue), Tag.KeyMaterial)?.value;
  expect(material).to.be.instanceOf(Uint8Array);
  expect((material as Uint8Array).length).to.equal(32);
  return uid as string;
}

describe('server: KMIP over HTTPS (POST /kmip in TTLV, XML and JSON)', function () {
  this.timeout(60_000);
  let dir: string;
  let otherCa: string;
  let server: RunningServer | undefined;
  let logs: LogCapture;
  let admin: Tls;
  let seen: Session[];

  before(async function () {
    dir = await tempDir('https');
    otherCa = await tempDir('https-other-ca');
    await initDataDir(dir);
    await createDevelopmentPki(otherCa);
    const files = pkiFiles(dir);
    admin = { ca: await readFile(files.ca), cert: await readFile(files.cert), key: await readFile(files.key) };
  });

  after(async function () {
    await removeDir(dir);
    await removeDir(otherCa);
  });

  afterEach(async function () {
    await server?.destroy();
    server = undefined;
  });

  /** A kmipd with HTTPS on a free port; every request waits for `gate` before it is handled. */
  async function start(values: Partial<KmipdConfig> = {}, gate: Promise<void> = Promise.resolve()): Promise<RunningServer & { readonly httpsPort: number }> {
    logs = new LogCapture();
    seen = [];
    const watch = (service: KmipService): KmipService => ({
      handle: async (bytes, session) => {
        seen.push(session);
        await gate;
        return service.handle(bytes, session);
      },
      unframeable: (error) => service.unframeable(error),
    });
    server = await startServer(configWith({ dir, port: 0, https: true, httpsPort: 0, ...values }), { log: jsonLogger(logs, 'debug'), wrapService: watch });
    const port = server.https?.port;
    if (port === undefined) throw new Error('no HTTPS listener');
    return Object.assign(server, { httpsPort: port });
  }

  it('is off by default: no HTTPS port unless `https` is on', async () => {
    server = await startServer(configWith({ dir, port: 0 }), { log: jsonLogger(new LogCapture()) });
    expect(server.https).to.equal(undefined);
  });

  it('application/octet-stream: Create then Get in binary TTLV on one keep-alive connection; the answers are TTLV with Content-Type, Content-Length and Cache-Control no-cache', async () => {
    const { httpsPort } = await start();
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const created = await send(httpsPort, admin, encodeTtlv(one(parseXml(createXml('https-ttlv')))), { agent, headers: { 'Content-Type': 'application/octet-stream', 'Cache-Control': 'no-cache' } });
      expect(created.status).to.equal(200);
      expect(created.headers['content-type']).to.equal('application/octet-stream');
      expect(created.headers['content-length']).to.equal(String(created.body.length));
      expect(created.headers['cache-control']).to.equal('no-cache');
      const uid = child(firstItem(decodeTtlv(created.body)).payload, Tag.UniqueIdentifier)?.value as string;
      const got = await send(httpsPort, admin, encodeTtlv(one(parseXml(getXml(uid)))), { agent, headers: { 'Content-Type': 'application/octet-stream' } });
      expect(got.status).to.equal(200);
      checkCreateGet(decodeTtlv(created.body), decodeTtlv(got.body));
    } finally {
      agent.destroy();
    }
    expect(logs.find('connection opened').filter((line) => line.transport === 'https'), 'one TLS connection for both requests').to.have.length(1);
    expect(seen.map((s) => s.identity.name)).to.deep.equal(['admin', 'admin']);
  });

  it('text/xml: Create then Get in KMIP XML, answered in KMIP XML (text/xml)', async () => {
    const { httpsPort } = await start();
    const created = await send(httpsPort, admin, createXml('https-xml'), { headers: { 'Content-Type': 'text/xml' } });
    expect(created.status).to.equal(200);
    expect(created.headers['content-type']).to.equal('text/xml');
    const createdText = created.body.toString('utf8');
    expect(createdText).to.match(/^<ResponseMessage>/);
    const createdItem = one(parseXml(createdText));
    const uid = child(firstItem(createdItem).payload, Tag.UniqueIdentifier)?.value as string;
    const got = await send(httpsPort, admin, getXml(uid), { headers: { 'Content-Type': 'text/xml; charset=utf-8' } });
    expect(got.status).to.equal(200);
    const gotText = got.body.toString('utf8');
    // Enumerations by name, as section 6 writes them.
    expect(gotText).to.include('<ObjectType type="Enumeration" value="SymmetricKey"/>');
    checkCreateGet(createdItem, one(parseXml(gotText)));
  });

  it('application/json: Create then Get in KMIP JSON, answered in KMIP JSON (application/json)', async () => {
    const { httpsPort } = await start();
    const created = await send(httpsPort, admin, createJson('https-json'), { headers: { 'Content-Type': 'application/json' } });
    expect(created.status).to.equal(200);
    expect(created.headers['content-type']).to.equal('application/json');
    const createdJson = JSON.parse(created.body.toString('utf8')) as { tag: string };
    expect(createdJson.tag).to.equal('ResponseMessage');
    const createdItem = one(parseJson(created.body.toString('utf8')));
    const uid = child(firstItem(createdItem).payload, Tag.UniqueIdentifier)?.value as string;
    const got = await send(httpsPort, admin, getJson(uid), { headers: { 'Content-Type': 'application/json' } });
    expect(got.status).to.equal(200);
    checkCreateGet(createdItem, one(parseJson(got.body.toString('utf8'))));
  });

  it('an object created over HTTPS is the same identity\'s object on the TLS port: the same service and store', async () => {
    const { httpsPort, port } = await start();
    const created = await send(httpsPort, admin, createXml('both-ports'), { headers: { 'Content-Type': 'text/xml' } });
    const uid = child(firstItem(one(parseXml(created.body.toString('utf8')))).payload, Tag.UniqueIdentifier)?.value as string;
    const locate = `<RequestMessage>${HEADER_21}<BatchItem><Operation type="Enumeration" value="Locate"/><RequestPayload><Attributes><Name><NameValue type="TextString" value="both-ports"/><NameType type="Enumeration" value="UninterpretedTextString"/></Name></Attributes></RequestPayload></BatchItem></RequestMessage>`;
    const client = await TestClient.connect(port, pkiFiles(dir));
    try {
      const found = await client.call(encodeTtlv(one(parseXml(locate))));
      expect(child(firstItem(decodeTtlv(found)).payload, Tag.UniqueIdentifier)?.value).to.equal(uid);
    } finally {
      client.close();
    }
  });

  it('a client without a certificate, or with one from another CA, is refused before any HTTP: nothing reaches the service', async () => {
    const { httpsPort } = await start();
    const none = await send(httpsPort, { ca: admin.ca }, createXml('x'), { headers: { 'Content-Type': 'text/xml' } }).then(
      (reply) => `answered ${reply.status}`,
      (error: Error & { code?: string }) => error.code ?? error.message,
    );
    expect(none).to.not.match(/^answered/);
    const stranger = developmentPkiPaths(otherCa);
    const foreign = await send(httpsPort, { ca: admin.ca, cert: await readFile(stranger.admin), key: await readFile(stranger.adminKey) }, createXml('x'), { headers: { 'Content-Type': 'text/xml' } }).then(
      (reply) => `answered ${reply.status}`,
      (error: Error & { code?: string }) => error.code ?? error.message,
    );
    expect(foreign).to.not.match(/^answered/);
    expect(seen).to.deep.equal([]);
    const reasons = logs.find('connection refused').map((line) => line.reason);
    expect(reasons).to.include('no client certificate');
    expect(reasons.some((reason) => typeof reason === 'string' && reason.startsWith('client certificate not accepted'))).to.equal(true);
  });

  it('HTTP mistakes get HTTP errors: 404 for another path, 405 (Allow: POST) for another method, 415 for another Content-Type', async () => {
    const { httpsPort } = await start();
    const body = createXml('x');
    const wrongPath = await send(httpsPort, admin, body, { path: '/kmip/v2', headers: { 'Content-Type': 'text/xml' } });
    expect(wrongPath.status).to.equal(404);
    const wrongMethod = await send(httpsPort, admin, undefined, { method: 'GET' });
    expect(wrongMethod.status).to.equal(405);
    expect(wrongMethod.headers.allow).to.equal('POST');
    const wrongType = await send(httpsPort, admin, body, { headers: { 'Content-Type': 'text/plain' } });
    expect(wrongType.status).to.equal(415);
    expect(wrongType.body.toString()).to.match(/application\/octet-stream.*text\/xml.*application\/json/);
    const noType = await send(httpsPort, admin, body);
    expect(noType.status).to.equal(415);
    const latin1 = await send(httpsPort, admin, body, { headers: { 'Content-Type': 'text/xml; charset=iso-8859-1' } });
    expect(latin1.status).to.equal(415);
    expect(seen).to.deep.equal([]);
  });

  it('413 for a body over maxMessageSize: by Content-Length before reading it, and while reading a chunked body', async () => {
    const { httpsPort } = await start({ maxMessageSize: 4096 });
    const declared = await send(httpsPort, admin, Buffer.alloc(4097), { headers: { 'Content-Type': 'application/octet-stream' } });
    expect(declared.status).to.equal(413);
    expect(declared.headers.connection).to.equal('close');
    const chunked = await send(httpsPort, admin, undefined, { headers: { 'Content-Type': 'application/octet-stream', 'Transfer-Encoding': 'chunked' }, chunks: Array.from({ length: 8 }, () => Buffer.alloc(1024)) });
    expect(chunked.status).to.equal(413);
    // XML may be larger (it spells every item out), up to 4 × maxMessageSize.
    const xml = await send(httpsPort, admin, `${createXml('x')}${' '.repeat(4 * 4096)}`, { headers: { 'Content-Type': 'text/xml' } });
    expect(xml.status).to.equal(413);
    expect(seen).to.deep.equal([]);
    const fits = await send(httpsPort, admin, createXml('fits'), { headers: { 'Content-Type': 'text/xml' } });
    expect(fits.status).to.equal(200);
  });

  it('a body that is not a KMIP message gets a KMIP Invalid Message answer (200) in its own encoding, as on the TLS port', async () => {
    const { httpsPort } = await start();
    const ttlv = await send(httpsPort, admin, Buffer.from('42007801000000', 'hex'), { headers: { 'Content-Type': 'application/octet-stream' } });
    expect(ttlv.status).to.equal(200);
    expect(firstItem(decodeTtlv(ttlv.body))).to.include({ status: Enum.ResultStatus.OperationFailed, reason: Enum.ResultReason.InvalidMessage });
    const xml = await send(httpsPort, admin, '<RequestMessage><NoSuchTag type="Integer" value="1"/>', { headers: { 'Content-Type': 'text/xml' } });
    expect(xml.status).to.equal(200);
    expect(xml.headers['content-type']).to.equal('text/xml');
    expect(firstItem(one(parseXml(xml.body.toString('utf8'))))).to.include({ status: Enum.ResultStatus.OperationFailed, reason: Enum.ResultReason.InvalidMessage });
    const json = await send(httpsPort, admin, '{"tag":"RequestMessage","value":[', { headers: { 'Content-Type': 'application/json' } });
    expect(json.status).to.equal(200);
    expect(firstItem(one(parseJson(json.body.toString('utf8'))))).to.include({ status: Enum.ResultStatus.OperationFailed, reason: Enum.ResultReason.InvalidMessage });
    const invalidUtf8 = await send(httpsPort, admin, Buffer.from([0x3c, 0xff, 0xfe]), { headers: { 'Content-Type': 'text/xml' } });
    expect(firstItem(one(parseXml(invalidUtf8.body.toString('utf8'))))).to.include({ reason: Enum.ResultReason.InvalidMessage });
  });

  it('close(): a request in progress is answered with Connection: close, then the port is closed', async () => {
    let open = (): void => undefined;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const running = await start({}, gate);
    const pending = send(running.httpsPort, admin, createXml('during-close'), { headers: { 'Content-Type': 'text/xml' } });
    await eventually(() => seen.length === 1, 5000, 'the request to reach the service');
    const closing = running.close();
    open();
    const answered = await pending;
    expect(answered.status).to.equal(200);
    expect(answered.headers.connection).to.equal('close');
    expect(firstItem(one(parseXml(answered.body.toString('utf8')))).status).to.equal(Enum.ResultStatus.Success);
    await closing;
    server = undefined;
    const after = await send(running.httpsPort, admin, createXml('after-close'), { headers: { 'Content-Type': 'text/xml' } }).then(
      (reply) => `answered ${reply.status}`,
      (error: Error & { code?: string }) => error.code ?? error.message,
    );
    expect(after).to.equal('ECONNREFUSED');
  });
});
