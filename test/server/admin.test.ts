/**
 * The admin endpoint over real sockets: /metrics after real KMIP traffic (TLS and HTTPS),
 * /healthz, /readyz on a running kmipd and against a real SQLite store that gets closed.
 */
import { expect } from 'chai';
import { readFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { FileKek, KeyMaterial } from '../../lib/crypto/index.js';
import { jsonLogger, silentLogger } from '../../lib/log.js';
import { Enum, Tag, encodeTtlv, isConcrete, leaf, parseXml } from '../../ttlv/index.js';
import { configWith, initDataDir, startServer } from '../../server/index.js';
import type { RunningServer } from '../../server/index.js';
import { listenAdmin, serverChecks } from '../../server/admin.js';
import type { AdminServer } from '../../server/admin.js';
import { KmipdMetrics } from '../../server/metrics.js';
import { openStore } from '../../server/store.js';
import { LogCapture, TestClient, answer, attempt, pkiFiles, removeDir, request, tempDir } from './helpers.js';

interface Reply {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

function get(port: number, path: string, method = 'GET'): Promise<Reply> {
  return new Promise<Reply>((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, method }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** The value of one sample line of the Prometheus text, or undefined when absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (match?.[1] !== name) continue;
    const present = (match[2] ?? '').split(/,(?=[a-zA-Z_]+=")/).filter((p) => p !== '');
    if (wanted.every((w) => present.includes(w)) && present.length === wanted.length) return Number(match[3]);
  }
  return undefined;
}

function createAes(): Buffer {
  const [item] = parseXml(`<RequestMessage><RequestHeader><ProtocolVersion><ProtocolVersionMajor type="Integer" value="2"/><ProtocolVersionMinor type="Integer" value="1"/></ProtocolVersion>
    <BatchCount type="Integer" value="1"/></RequestHeader><BatchItem><Operation type="Enumeration" value="Create"/><RequestPayload><ObjectType type="Enumeration" value="SymmetricKey"/><Attributes>
    <CryptographicAlgorithm type="Enumeration" value="AES"/><CryptographicLength type="Integer" value="256"/><CryptographicUsageMask type="Integer" value="Encrypt Decrypt"/></Attributes></RequestPayload></BatchItem></RequestMessage>`);
  if (item === undefined || !isConcrete(item)) throw new Error('bad test message');
  return encodeTtlv(item);
}

describe('server: the admin endpoint (/metrics, /healthz, /readyz)', function () {
  this.timeout(60_000);
  let dir: string;
  let server: RunningServer | undefined;
  let admin: AdminServer | undefined;

  before(async function () {
    dir = await tempDir('admin');
    await initDataDir(dir);
  });

  after(async function () {
    await removeDir(dir);
  });

  afterEach(async function () {
    await server?.destroy();
    server = undefined;
    await admin?.close();
    admin = undefined;
  });

  it('is off by default; with `admin` on it listens on loopback', async () => {
    server = await startServer(configWith({ dir, port: 0 }), { log: silentLogger });
    expect(server.admin).to.equal(undefined);
    await server.destroy();
    server = await startServer(configWith({ dir, port: 0, admin: true, adminPort: 0 }), { log: silentLogger });
    expect(server.admin?.host).to.equal('127.0.0.1');
  });

  it('/metrics counts operations by result, their latency, connections, TLS refusals, objects by type and state, and store commits', async () => {
    server = await startServer(configWith({ dir, port: 0, admin: true, adminPort: 0, https: true, httpsPort: 0 }), { log: jsonLogger(new LogCapture()) });
    const adminPort = server.admin?.port ?? 0;
    const before = (await get(adminPort, '/metrics')).body;
    const created = sample(before, 'kmipd_operations_total', { operation: 'Create', status: 'Success', reason: 'none' }) ?? 0;
    const preActive = sample(before, 'kmipd_objects', { object_type: 'SymmetricKey', state: 'PreActive' }) ?? 0;

    const files = pkiFiles(dir);
    const client = await TestClient.connect(server.port, files);
    try {
      expect(answer(await client.call(createAes())).status).to.equal(Enum.ResultStatus.Success);
      expect(answer(await client.call(createAes())).status).to.equal(Enum.ResultStatus.Success);
      const missing = await client.call(request(Enum.Operation.Get, [leaf(Tag.UniqueIdentifier, 'TextString', 'no-such-object')]));
      expect(answer(missing).reason).to.equal(Enum.ResultReason.ItemNotFound);
      // One more over HTTPS, counted with the rest.
      const tls = { ca: await readFile(files.ca), cert: await readFile(files.cert), key: await readFile(files.key) };
      const status = await new Promise<number>((resolve, reject) => {
        const req = httpsRequest({ host: '127.0.0.1', port: server?.https?.port, path: '/kmip', method: 'POST', headers: { 'Content-Type': 'application/octet-stream' }, ...tls }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        });
        req.on('error', reject);
        req.end(createAes());
      });
      expect(status).to.equal(200);
      // A client without a certificate, refused at the TLS port.
      const refused = await attempt(server.port, { ca: files.ca });
      expect(refused.received).to.equal(0);

      const reply = await get(adminPort, '/metrics');
      expect(reply.status).to.equal(200);
      expect(reply.headers['content-type']).to.match(/^text\/plain; version=0\.0\.4/);
      const text = reply.body;
      expect(sample(text, 'kmipd_operations_total', { operation: 'Create', status: 'Success', reason: 'none' })).to.equal(created + 3);
      expect(sample(text, 'kmipd_operations_total', { operation: 'Get', status: 'OperationFailed', reason: 'ItemNotFound' })).to.equal(1);
      expect(sample(text, 'kmipd_operation_duration_seconds_count', { operation: 'Create' })).to.equal(created + 3);
      expect(sample(text, 'kmipd_operation_duration_seconds_bucket', { operation: 'Create', le: '+Inf' })).to.equal(created + 3);
      expect(sample(text, 'kmipd_connections_open', { transport: 'tls' })).to.equal(1);
      expect(sample(text, 'kmipd_connections_total', { transport: 'tls' })).to.be.at.least(1);
      expect(sample(text, 'kmipd_connections_total', { transport: 'https' })).to.equal(1);
      expect(sample(text, 'kmipd_tls_handshake_failures_total', { transport: 'tls', reason: 'no_client_certificate' })).to.equal(1);
      expect(sample(text, 'kmipd_https_requests_total', { encoding: 'ttlv', code: '200' })).to.equal(1);
      expect(sample(text, 'kmipd_store_commit_duration_seconds_count', { result: 'ok' })).to.be.at.least(3);
      expect(sample(text, 'kmipd_build_info', { version: '0.1.0' })).to.equal(1);
      expect(sample(text, 'kmipd_request_buffer_limit_bytes')).to.equal(256 * 1024 * 1024);
      expect(sample(text, 'kmipd_request_buffer_bytes'), 'request bytes held once every request is answered').to.equal(0);
      expect(sample(text, 'kmipd_request_buffer_waiting')).to.equal(0);
      expect(sample(text, 'kmipd_request_buffer_waits_total')).to.equal(0);
      expect(sample(text, 'process_resident_memory_bytes')).to.be.greaterThan(0);
      // Counted from the store at most every 5 s: the first scrape counted before the Creates.
      const objects = sample(text, 'kmipd_objects', { object_type: 'SymmetricKey', state: 'PreActive' }) ?? 0;
      expect([preActive, preActive + 3], 'kmipd_objects').to.include(objects);
    } finally {
      client.close();
    }
  });

  it('kmipd_objects follows the store: objects by type and state, read at scrape time', async () => {
    const store = await openStore(join(dir, 'kmipd.db'), new FileKek(new KeyMaterial(await readFile(join(dir, 'kek.key')))));
    const metrics = new KmipdMetrics({ processMetrics: false });
    try {
      metrics.watchStore(store);
      const counts = await store.countByState();
      const text = await metrics.registry.metrics();
      for (const { objectType, state, count } of counts) {
        const type = Object.entries(Enum.ObjectType).find(([, v]) => v === objectType)?.[0] ?? '';
        const stateName = state === undefined ? 'none' : (Object.entries(Enum.State).find(([, v]) => v === state)?.[0] ?? '');
        expect(sample(text, 'kmipd_objects', { object_type: type, state: stateName }), `${type} ${stateName}`).to.equal(count);
      }
      expect(counts.length).to.be.greaterThan(0);
    } finally {
      await store.close();
    }
  });

  it('/healthz answers 200; /readyz answers 200 with each check; unknown paths 404, other methods 405', async () => {
    server = await startServer(configWith({ dir, port: 0, admin: true, adminPort: 0 }), { log: silentLogger });
    const port = server.admin?.port ?? 0;
    const health = await get(port, '/healthz');
    expect(health).to.include({ status: 200, body: 'ok\n' });
    const ready = await get(port, '/readyz');
    expect(ready.status).to.equal(200);
    expect(JSON.parse(ready.body)).to.deep.equal({ ready: true, checks: { listeners: { ok: true }, store: { ok: true }, kek: { ok: true } } });
    expect((await get(port, '/metrics')).body).to.include('kmipd_kek_probe_duration_seconds_count{result="ok"} 1');
    expect((await get(port, '/nothing')).status).to.equal(404);
    const post = await get(port, '/metrics', 'POST');
    expect(post.status).to.equal(405);
    expect(post.headers.allow).to.equal('GET, HEAD');
  });

  it('/readyz answers 503 naming the store once the store is closed (a real SQLite store)', async () => {
    const store = await openStore(join(dir, 'kmipd.db'), new FileKek(new KeyMaterial(await readFile(join(dir, 'kek.key')))));
    const kek = new FileKek(KeyMaterial.random(32));
    admin = await listenAdmin({ host: '127.0.0.1', port: 0, metrics: new KmipdMetrics({ processMetrics: false }).registry, log: silentLogger, checks: serverChecks({ store, kek, serving: () => true }) });
    expect((await get(admin.port, '/readyz')).status).to.equal(200);
    await store.close();
    const reply = await get(admin.port, '/readyz');
    expect(reply.status).to.equal(503);
    const report = JSON.parse(reply.body) as { ready: boolean; checks: Record<string, { ok: boolean; error?: string }> };
    expect(report.ready).to.equal(false);
    expect(report.checks.store?.ok).to.equal(false);
    expect(report.checks.store?.error).to.be.a('string').and.not.equal('');
    expect(report.checks.kek?.ok).to.equal(true);
    expect((await get(admin.port, '/healthz')).status, 'alive though not ready').to.equal(200);
  });

  it('/readyz answers 503 (listeners) while the server shuts down', async () => {
    let release = (): void => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    server = await startServer(configWith({ dir, port: 0, admin: true, adminPort: 0 }), {
      log: silentLogger,
      wrapService: (service) => ({ handle: async (bytes, session) => (await gate, service.handle(bytes, session)), unframeable: (error) => service.unframeable(error) }),
    });
    const port = server.admin?.port ?? 0;
    const client = await TestClient.connect(server.port, pkiFiles(dir));
    const pending = client.call(createAes());
    await new Promise((resolve) => setTimeout(resolve, 50));
    const closing = server.close();
    const reply = await get(port, '/readyz');
    expect(reply.status).to.equal(503);
    expect((JSON.parse(reply.body) as { checks: { listeners: { error: string } } }).checks.listeners.error).to.match(/shutting down/);
    release();
    expect(answer(await pending).status).to.equal(Enum.ResultStatus.Success);
    await closing;
    server = undefined;
  });
});
