/**
 * `kmipd serve --workers 2` (DESIGN.md decision 7): one port, served by two worker processes
 * of the built kmipd, each with its own connection to the data folder's SQLite store.
 */
import { expect } from 'chai';
import { readFile } from 'node:fs/promises';
import { get as httpGet } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { Enum, encodeTtlv, isConcrete, parseXml } from '../../ttlv/index.js';
import { builtProcessFixture } from './built.js';
import { TestClient, answer, discoverVersions, eventually, pkiFiles } from './helpers.js';

function createAes(name: string): Buffer {
  const [item] = parseXml(`<RequestMessage><RequestHeader><ProtocolVersion><ProtocolVersionMajor type="Integer" value="2"/><ProtocolVersionMinor type="Integer" value="1"/></ProtocolVersion>
    <BatchCount type="Integer" value="1"/></RequestHeader><BatchItem><Operation type="Enumeration" value="Create"/><RequestPayload><ObjectType type="Enumeration" value="SymmetricKey"/><Attributes>
    <CryptographicAlgorithm type="Enumeration" value="AES"/><CryptographicLength type="Integer" value="256"/><CryptographicUsageMask type="Integer" value="Encrypt Decrypt"/>
    <Name><NameValue type="TextString" value="${name}"/><NameType type="Enumeration" value="UninterpretedTextString"/></Name></Attributes></RequestPayload></BatchItem></RequestMessage>`);
  if (item === undefined || !isConcrete(item)) throw new Error('bad test message');
  return encodeTtlv(item);
}

describe('server: kmipd serve --workers (node:cluster)', function () {
  this.timeout(60_000);
  const fixture = builtProcessFixture('cluster');

  it('two workers share --port 0, both answer DiscoverVersions and Create, and SIGTERM stops them all with exit 0', async function () {
    const dir = join(fixture.parent, 'data');
    const running = await fixture.serve(['--dir', dir, '--port', '0', '--workers', '2']);
    const served = running;
    // The primary initialised the folder once and says `listening` once, as a single process does.
    expect(served.lines.filter((l) => l.msg === 'data folder initialised')).to.have.length(1);
    const listening = await served.line('listening');
    expect(Object.keys(listening)).to.deep.equal(['time', 'level', 'msg', 'host', 'port', 'dir']);
    expect(listening).to.include({ level: 'info', host: '127.0.0.1', dir });
    expect(served.port).to.be.a('number').above(0);
    expect(served.lines.filter((l) => l.msg === 'listening')).to.have.length(1);
    const workerPorts = served.lines.filter((l) => l.msg === 'worker listening').map((l) => l.port);
    expect(workerPorts).to.deep.equal([served.port, served.port]);

    // Connections are handed to the workers in turn; ten connections of two requests each.
    const clients = await Promise.all(Array.from({ length: 10 }, () => TestClient.connect(served.port, pkiFiles(dir))));
    const results = await Promise.all(
      clients.map(async (client, i) => [answer(await client.call(discoverVersions())).status, answer(await client.call(createAes(`key-${i}`))).status]),
    );
    expect(results.flat()).to.deep.equal(Array.from({ length: 20 }, () => Enum.ResultStatus.Success));

    await eventually(() => served.lines.filter((l) => l.msg === 'connection opened').length === 10, 5000, 'ten connection lines');
    const opened = served.lines.filter((l) => l.msg === 'connection opened');
    expect(opened).to.have.length(10);
    const pids = new Set(opened.map((l) => l.pid));
    expect(pids.size, JSON.stringify(opened)).to.be.at.least(2);
    expect([...pids].every((pid) => typeof pid === 'number' && pid !== served.child.pid)).to.equal(true);

    served.child.kill('SIGTERM');
    expect(await served.exited).to.deep.equal({ code: 0, signal: null });
    await Promise.all(clients.map((client) => client.closed));
    await eventually(() => served.lines.filter((l) => l.msg === 'stopped').length === 3, 5000, 'three stopped lines');
    const stopped = served.lines.filter((l) => l.msg === 'stopped');
    // Each worker closes its store, then the primary says it has stopped.
    expect(stopped).to.have.length(3);
    expect(stopped.at(-1)?.pid).to.equal(undefined);
  });
  it('with --https on port 0 the primary says which HTTPS port the workers share, and KMIP over HTTPS answers there', async function () {
    const dir = join(fixture.parent, 'data-https');
    const served = await fixture.serve(['--dir', dir, '--port', '0', '--workers', '2', '--https', 'true', '--https-port', '0']);
    const listening = await served.line('listening');
    const httpsPort = listening.httpsPort;
    expect(httpsPort, JSON.stringify(listening)).to.be.a('number').above(0);
    expect(Object.keys(listening)).to.deep.equal(['time', 'level', 'msg', 'host', 'port', 'dir', 'httpsPort']);
    const files = pkiFiles(dir);
    const tls = { ca: await readFile(files.ca), cert: await readFile(files.cert), key: await readFile(files.key) };
    const xml = '<RequestMessage><RequestHeader><ProtocolVersion><ProtocolVersionMajor type="Integer" value="2"/><ProtocolVersionMinor type="Integer" value="1"/></ProtocolVersion><BatchCount type="Integer" value="1"/></RequestHeader><BatchItem><Operation type="Enumeration" value="DiscoverVersions"/><RequestPayload/></BatchItem></RequestMessage>';
    const reply = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpsRequest({ host: '127.0.0.1', port: Number(httpsPort), path: '/kmip', method: 'POST', headers: { 'Content-Type': 'text/xml' }, ...tls }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(xml);
    });
    expect(reply.status).to.equal(200);
    expect(reply.body).to.include('<ResponseMessage>').and.include('value="Success"');
    served.child.kill('SIGTERM');
    expect(await served.exited).to.deep.equal({ code: 0, signal: null });
  });
  it('with --admin the primary serves /readyz once both workers serve, and /metrics adds up both workers', async function () {
    const dir = join(fixture.parent, 'data-admin');
    const served = await fixture.serve(['--dir', dir, '--port', '0', '--workers', '2', '--admin', 'true', '--admin-port', '0']);
    const listening = await served.line('listening');
    const adminPort = Number(listening.adminPort);
    expect(adminPort, JSON.stringify(listening)).to.be.above(0);
    const get = (path: string): Promise<{ status: number; body: string }> =>
      new Promise((resolve, reject) => {
        httpGet({ host: '127.0.0.1', port: adminPort, path }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', reject);
        }).on('error', reject);
      });
    expect((await get('/readyz')).status).to.equal(200);
    // Ten connections of one Create each, handed to the workers in turn.
    const clients = await Promise.all(Array.from({ length: 10 }, () => TestClient.connect(served.port, pkiFiles(dir))));
    const statuses = await Promise.all(clients.map(async (client, i) => answer(await client.call(createAes(`admin-${i}`))).status));
    expect(statuses).to.deep.equal(Array.from({ length: 10 }, () => Enum.ResultStatus.Success));
    for (const client of clients) client.close();
    const opened = served.lines.filter((l) => l.msg === 'connection opened');
    expect(new Set(opened.map((l) => l.pid)).size, 'both workers served').to.equal(2);
    const metrics = (await get('/metrics')).body;
    const creates = [...metrics.matchAll(/^kmipd_operations_total\{[^}]*operation="Create"[^}]*status="Success"[^}]*\} (\d+)$/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
    expect(creates, metrics.split('\n').filter((l) => l.startsWith('kmipd_operations_total')).join('\n')).to.equal(10);
    served.child.kill('SIGTERM');
    expect(await served.exited).to.deep.equal({ code: 0, signal: null });
  });
});
