/**
 * The TLS listener, end to end: a real kmipd started in-process on a free loopback port with
 * a temporary data folder, real certificates and real sockets.
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { connect as tcpConnect } from 'node:net';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { createDevelopmentPki, developmentPkiPaths } from '../../certs/index.js';
import { jsonLogger } from '../../lib/log.js';
import type { KmipService, Session } from '../../lib/service.js';
import { Enum } from '../../ttlv/index.js';
import { configWith, initDataDir, issueClient, startServer } from '../../server/index.js';
import type { KmipdConfig, RunningServer, StartOptions } from '../../server/index.js';
import { LogCapture, TestClient, answer, attempt, delay, discoverVersions, eventually, listedOperations, listedVersions, pkiFiles, queryOperations, removeDir, tempDir } from './helpers.js';

const ALL_VERSIONS = ['2.1', '2.0', '1.4', '1.3', '1.2', '1.1', '1.0'];

/** A client certificate with an email SAN, signed by the folder's CA with the openssl command. */
async function issueWithEmail(certs: string, name: string, email: string): Promise<void> {
  const run = promisify(execFile);
  const key = join(certs, `${name}-key.pem`);
  const csr = join(certs, `${name}.csr`);
  await run('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', csr, '-subj', `/CN=${name}`, '-addext', `subjectAltName=email:${email}`, '-addext', 'extendedKeyUsage=clientAuth']);
  await run('openssl', ['x509', '-req', '-in', csr, '-CA', join(certs, 'ca.pem'), '-CAkey', join(certs, 'ca-key.pem'), '-CAcreateserial', '-days', '1', '-copy_extensions', 'copy', '-out', join(certs, `${name}.pem`)]);
}

describe('server: the TLS listener', function () {
  let dir: string;
  let otherCa: string;
  let server: RunningServer | undefined;
  let logs: LogCapture;
  /** Every session that reached the KMIP service. */
  let seen: Session[];

  before(async function () {
    dir = await tempDir('listener');
    otherCa = await tempDir('other-ca');
    await initDataDir(dir);
    await issueClient(dir, 'bob');
    await createDevelopmentPki(otherCa);
    await issueWithEmail(join(dir, 'certs'), 'carol', 'carol@example.com');
  });

  after(async function () {
    await removeDir(dir);
    await removeDir(otherCa);
  });

  beforeEach(function () {
    logs = new LogCapture();
    seen = [];
  });

  afterEach(async function () {
    await server?.destroy();
    server = undefined;
  });

  /** Start a kmipd on port 0; the service is wrapped to record sessions, and `slow` delays each request. */
  async function start(settings: Partial<KmipdConfig> = {}, slow?: (request: Buffer) => number, options: StartOptions = {}): Promise<RunningServer> {
    const wrap = (inner: KmipService): KmipService => ({
      handle: async (request, session) => {
        seen.push(session);
        const ms = slow?.(request) ?? 0;
        if (ms > 0) await delay(ms);
        return inner.handle(request, session);
      },
      unframeable: (error) => inner.unframeable(error),
    });
    server = await startServer(configWith({ dir, host: '127.0.0.1', port: 0, ...settings }), { log: jsonLogger(logs, 'debug'), wrapService: wrap, ...options });
    return server;
  }

  const admin = (): ReturnType<typeof pkiFiles> => pkiFiles(dir);

  describe('requests over mutual TLS', function () {
    it('answers a DiscoverVersions request with versions 2.1 down to 1.0', async function () {
      const { port } = await start();
      const client = await TestClient.connect(port, admin());
      const response = await client.call(discoverVersions());
      expect(answer(response).status).to.equal(Enum.ResultStatus.Success);
      expect(listedVersions(response)).to.deep.equal(ALL_VERSIONS);
      client.close();
    });

    it('answers a Query for operations with DiscoverVersions and Query among them', async function () {
      const { port } = await start();
      const client = await TestClient.connect(port, admin());
      const response = await client.call(queryOperations());
      expect(answer(response).status).to.equal(Enum.ResultStatus.Success);
      expect(listedOperations(response)).to.include.members([Enum.Operation.DiscoverVersions, Enum.Operation.Query]);
      client.close();
    });

    for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
      it(`accepts ${version} and logs the connection with its TLS version and cipher, never the message`, async function () {
        const { port } = await start();
        const client = await TestClient.connect(port, admin(), { minVersion: version, maxVersion: version });
        expect(listedVersions(await client.call(discoverVersions()))).to.deep.equal(ALL_VERSIONS);
        client.close();
        await client.closed;
        await eventually(() => logs.find('connection closed').length === 1, 2000, 'the close log line');
        const [opened] = logs.find('connection opened');
        expect(opened).to.include({ identity: 'admin', admin: true, tlsVersion: version });
        expect(opened?.cipher).to.be.a('string').and.not.equal('');
        expect(logs.find('connection closed')[0]).to.include({ identity: 'admin', requests: 1 });
        expect(JSON.stringify(logs.lines)).not.to.include(discoverVersions().toString('hex'));
      });
    }

    it('refuses TLS 1.2 when tlsMinVersion is TLSv1.3', async function () {
      const { port } = await start({ tlsMinVersion: 'TLSv1.3' });
      const result = await TestClient.connect(port, admin(), { maxVersion: 'TLSv1.2' }).then(
        (client) => (client.destroy(), 'connected'),
        () => 'refused',
      );
      expect(result).to.equal('refused');
      expect(seen).to.have.length(0);
    });

    it('gives a `kmipd certs client bob` certificate the identity bob, not an administrator', async function () {
      const { port } = await start();
      const client = await TestClient.connect(port, pkiFiles(dir, 'bob'));
      expect(listedVersions(await client.call(discoverVersions()))).to.deep.equal(ALL_VERSIONS);
      expect(seen.map((s) => s.identity)).to.deep.equal([{ name: 'bob', admin: false }]);
      client.close();
    });

    it('takes the whole subject DN as the identity when identitySource is subject-dn', async function () {
      const { port } = await start({ identitySource: 'subject-dn', adminIdentities: ['CN=admin'] });
      const client = await TestClient.connect(port, admin());
      await client.call(discoverVersions());
      expect(seen.map((s) => s.identity)).to.deep.equal([{ name: 'CN=admin', admin: true }]);
      client.close();
    });

    it('takes the SAN email address as the identity when identitySource is san-email', async function () {
      const { port } = await start({ identitySource: 'san-email', adminIdentities: ['carol@example.com'] });
      const client = await TestClient.connect(port, pkiFiles(dir, 'carol'));
      await client.call(discoverVersions());
      expect(seen.map((s) => s.identity)).to.deep.equal([{ name: 'carol@example.com', admin: true }]);
      client.close();
    });
  });

  describe('refusals: the service never sees these connections', function () {
    it('refuses a client without a certificate, and logs why', async function () {
      const { port } = await start();
      const result = await attempt(port, { ca: admin().ca }, discoverVersions());
      expect(result.received).to.equal(0);
      expect(seen).to.have.length(0);
      expect(logs.find('connection refused').map((l) => l.reason)).to.deep.equal(['no client certificate']);
    });

    it('refuses a client certificate issued by another CA, and logs why', async function () {
      const { port } = await start();
      const other = developmentPkiPaths(otherCa);
      const result = await attempt(port, { cert: other.admin, key: other.adminKey, ca: admin().ca }, discoverVersions());
      expect(result.received).to.equal(0);
      expect(seen).to.have.length(0);
      const reasons = logs.find('connection refused').map((l) => String(l.reason));
      expect(reasons).to.have.length(1);
      expect(reasons[0]).to.match(/^client certificate not accepted: /);
    });

    it('refuses a certificate without the configured identity (san-email, and the certificate has none)', async function () {
      const { port } = await start({ identitySource: 'san-email' });
      const result = await attempt(port, admin(), discoverVersions());
      expect(result.received).to.equal(0);
      expect(seen).to.have.length(0);
      expect(String(logs.find('connection refused')[0]?.reason)).to.match(/no email address/);
    });
  });

  describe('framing', function () {
    it('answers a request written one byte at a time', async function () {
      const { port } = await start();
      const client = await TestClient.connect(port, admin());
      client.socket.setNoDelay(true);
      const bytes = discoverVersions(['1.2']);
      for (const byte of bytes) {
        client.send(Buffer.from([byte]));
        await delay(0);
      }
      expect(listedVersions(await client.response(1))).to.deep.equal(['1.2']);
      client.close();
    });

    it('answers three pipelined requests sent in one write, in order, even when the first is the slowest', async function () {
      const first = discoverVersions(['1.1']);
      const { port } = await start({}, (request) => (request.equals(first) ? 200 : 0));
      const client = await TestClient.connect(port, admin());
      client.send(Buffer.concat([first, discoverVersions(['1.2']), discoverVersions(['1.3'])]));
      await client.response(3);
      expect(client.responses.map(listedVersions)).to.deep.equal([['1.1'], ['1.2'], ['1.3']]);
      client.close();
    });

    it('answers a burst of 40 pipelined requests in order with maxPendingRequestsPerConnection 2 (backpressure)', async function () {
      const { port } = await start({ maxPendingRequestsPerConnection: 2 }, () => 2);
      const client = await TestClient.connect(port, admin());
      const versions = ['1.0', '1.1', '1.2', '1.3', '1.4'];
      const expected = Array.from({ length: 40 }, (_, i) => [versions[i % versions.length] as string]);
      for (const offered of expected) client.send(discoverVersions(offered));
      await client.response(40);
      expect(client.responses.map(listedVersions)).to.deep.equal(expected);
      expect(logs.find('backpressure: reading paused')).not.to.have.length(0);
      client.close();
    });

    it('answers a declared length over maxMessageSize with Invalid Message and closes that connection only', async function () {
      const { port } = await start({ maxMessageSize: 4096 });
      const victim = await TestClient.connect(port, admin());
      const bystander = await TestClient.connect(port, admin());
      // A Request Message header declaring 1 MiB: refused from the header alone.
      victim.send(Buffer.from('42007801' + '00100000', 'hex'));
      const refused = answer(await victim.response(1));
      expect(refused.status).to.equal(Enum.ResultStatus.OperationFailed);
      expect(refused.reason).to.equal(Enum.ResultReason.InvalidMessage);
      expect(refused.message).to.match(/exceeds the maximum of 4096/);
      await victim.closed;
      expect(listedVersions(await bystander.call(discoverVersions()))).to.deep.equal(ALL_VERSIONS);
      expect(seen).to.have.length(1);
      bystander.close();
    });

    it('answers garbage bytes with Invalid Message, closes that connection, and keeps serving', async function () {
      const { port } = await start();
      const victim = await TestClient.connect(port, admin());
      victim.send(Buffer.from('GET / HTTP/1.1\r\nHost: kmip\r\n\r\n'));
      const refused = answer(await victim.response(1));
      expect(refused.status).to.equal(Enum.ResultStatus.OperationFailed);
      expect(refused.reason).to.equal(Enum.ResultReason.InvalidMessage);
      await victim.closed;
      expect(victim.responses).to.have.length(1);
      const next = await TestClient.connect(port, admin());
      expect(listedVersions(await next.call(discoverVersions()))).to.deep.equal(ALL_VERSIONS);
      next.close();
    });

    it('answers the requests before an unframeable header first, then Invalid Message, in order', async function () {
      const { port } = await start();
      const client = await TestClient.connect(port, admin());
      client.send(discoverVersions(['1.4']));
      await client.response(1);
      client.send(Buffer.from('ffffffffffffffff', 'hex'));
      await client.closed;
      expect(client.responses).to.have.length(2);
      expect(listedVersions(client.responses[0] as Buffer)).to.deep.equal(['1.4']);
      expect(answer(client.responses[1] as Buffer).reason).to.equal(Enum.ResultReason.InvalidMessage);
    });

    it('still answers a client that sends its request and then ends its side of the connection', async function () {
      const { port } = await start({}, () => 50);
      const client = await TestClient.connect(port, admin());
      client.send(discoverVersions(['1.0']));
      client.close();
      await client.closed;
      expect(client.responses.map(listedVersions)).to.deep.equal([['1.0']]);
    });
  });

  describe('resilience', function () {
    it('survives connections reset before TLS, mid-handshake and after garbage, and one dropped mid-request', async function () {
      const { port } = await start();
      const resetAfter = async (bytes: Buffer | undefined): Promise<void> => {
        const socket = tcpConnect(port, '127.0.0.1');
        socket.on('error', () => undefined);
        const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
        await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
        if (bytes !== undefined) socket.write(bytes);
        await delay(20);
        if (!socket.destroyed) socket.resetAndDestroy();
        await closed;
      };
      await resetAfter(undefined);
      // The first bytes of a TLS ClientHello record, cut short.
      await resetAfter(Buffer.from('160301020001', 'hex'));
      await resetAfter(Buffer.from('not TLS at all\r\n'));
      const midRequest = await TestClient.connect(port, admin());
      midRequest.send(discoverVersions().subarray(0, 20));
      await delay(20);
      midRequest.destroy();
      await midRequest.closed;

      const client = await TestClient.connect(port, admin());
      expect(listedVersions(await client.call(discoverVersions()))).to.deep.equal(ALL_VERSIONS);
      client.close();
      expect(seen).to.have.length(1);
    });
  });

  describe('limits', function () {
    it('closes a connection idle for idleTimeoutSeconds', async function () {
      this.timeout(10_000);
      const { port } = await start({ idleTimeoutSeconds: 1 });
      const client = await TestClient.connect(port, admin());
      await client.call(discoverVersions());
      const started = Date.now();
      await client.closed;
      expect(Date.now() - started).to.be.within(800, 4000);
      expect(logs.find('idle timeout')).to.have.length(1);
    });

    it('does not count a slow request as idle time', async function () {
      this.timeout(10_000);
      const { port } = await start({ idleTimeoutSeconds: 1 }, () => 1500);
      const client = await TestClient.connect(port, admin());
      expect(listedVersions(await client.call(discoverVersions(['1.3'])))).to.deep.equal(['1.3']);
      client.close();
    });

    it('closes a connection that does not complete its TLS handshake within handshakeTimeoutSeconds', async function () {
      this.timeout(10_000);
      const { port } = await start({ handshakeTimeoutSeconds: 1 });
      const socket = tcpConnect(port, '127.0.0.1');
      socket.on('error', () => undefined);
      socket.resume();
      const started = Date.now();
      await new Promise<void>((resolve) => socket.once('close', () => resolve()));
      expect(Date.now() - started).to.be.within(800, 4000);
    });

    it('refuses the connection past maxConnections at once, and serves again once one closes', async function () {
      const { port } = await start({ maxConnections: 2 });
      const one = await TestClient.connect(port, admin());
      const two = await TestClient.connect(port, admin());
      const third = await attempt(port, admin(), discoverVersions());
      expect(third.received).to.equal(0);
      expect(logs.find('connection refused').map((l) => l.reason)).to.deep.equal(['maxConnections (2) reached']);
      expect(listedVersions(await one.call(discoverVersions(['1.1'])))).to.deep.equal(['1.1']);
      expect(listedVersions(await two.call(discoverVersions(['1.2'])))).to.deep.equal(['1.2']);
      one.close();
      await one.closed;
      await eventually(() => logs.find('connection closed').length === 1, 2000, 'the first connection to close');
      const four = await TestClient.connect(port, admin());
      expect(listedVersions(await four.call(discoverVersions(['1.4'])))).to.deep.equal(['1.4']);
      two.close();
      four.close();
    });
  });

  describe('stopping', function () {
    it('close() waits for an in-flight request, delivers its response, then closes the connection', async function () {
      const running = await start({}, () => 300);
      const client = await TestClient.connect(running.port, admin());
      client.send(discoverVersions(['1.2']));
      await eventually(() => seen.length === 1, 2000, 'the request to reach the service');
      const closing = running.close();
      await closing;
      expect(client.responses.map(listedVersions)).to.deep.equal([['1.2']]);
      await client.closed;
      const after = await attempt(running.port, admin()).catch(() => ({ handshake: false, received: 0, error: 'refused' }));
      expect(after.handshake).to.equal(false);
      server = undefined;
    });

    it('close() answers every request already received on the connection', async function () {
      const running = await start({}, () => 100);
      const client = await TestClient.connect(running.port, admin());
      client.send(Buffer.concat([discoverVersions(['1.0']), discoverVersions(['1.1']), discoverVersions(['1.2'])]));
      await eventually(() => seen.length === 1, 2000, 'the first request to reach the service');
      await running.close();
      expect(client.responses.map(listedVersions)).to.deep.equal([['1.0'], ['1.1'], ['1.2']]);
      server = undefined;
    });

    it('close() of an idle server resolves at once and closes idle connections', async function () {
      const running = await start();
      const client = await TestClient.connect(running.port, admin());
      await client.call(discoverVersions());
      const started = Date.now();
      await running.close();
      await client.closed;
      expect(Date.now() - started).to.be.below(1000);
      server = undefined;
    });

    it('destroy() does not wait for an in-flight request', async function () {
      const running = await start({}, () => 2000);
      const client = await TestClient.connect(running.port, admin());
      client.send(discoverVersions());
      await eventually(() => seen.length === 1, 2000, 'the request to reach the service');
      const started = Date.now();
      await running.destroy();
      await client.closed;
      expect(Date.now() - started).to.be.below(1000);
      expect(client.responses).to.have.length(0);
      server = undefined;
    });

    it('close() drops connections still busy after shutdownTimeoutSeconds', async function () {
      this.timeout(10_000);
      const running = await start({ shutdownTimeoutSeconds: 1 }, () => 5000);
      const client = await TestClient.connect(running.port, admin());
      client.send(discoverVersions());
      await eventually(() => seen.length === 1, 2000, 'the request to reach the service');
      const started = Date.now();
      await running.close();
      await client.closed;
      expect(Date.now() - started).to.be.within(800, 3000);
      expect(logs.find('shutdown timeout: dropping connections')).to.have.length(1);
      server = undefined;
    });
  });

  describe('start-up', function () {
    it('initialises an absent data folder before serving', async function () {
      const parent = await tempDir('absent');
      try {
        const fresh = join(parent, 'data');
        server = await startServer(configWith({ dir: fresh, port: 0 }), { log: jsonLogger(logs, 'info') });
        expect(logs.find('data folder initialised')).to.have.length(1);
        const listening = logs.find('listening');
        expect(listening).to.have.length(1);
        expect(listening[0]).to.include({ host: '127.0.0.1', port: server.port, dir: fresh });
        const client = await TestClient.connect(server.port, pkiFiles(fresh));
        expect(listedVersions(await client.call(discoverVersions()))).to.deep.equal(ALL_VERSIONS);
        client.close();
        await server.close();
        server = undefined;
      } finally {
        await removeDir(parent);
      }
    });

    it('refuses to start on a port already in use, with a clear message', async function () {
      const first = await start();
      // Another data folder: a second server on the same folder stops earlier, at the folder lock.
      const other = await tempDir('listener-port');
      try {
        const error = await startServer(configWith({ dir: other, port: first.port }), { log: jsonLogger(logs, 'info') }).then(
          (second) => (void second.destroy(), undefined),
          (e: unknown) => e,
        );
        expect(error).to.be.instanceOf(Error);
        expect((error as Error).message).to.match(new RegExp(`cannot listen on 127\\.0\\.0\\.1:${first.port}`));
      } finally {
        await removeDir(other);
      }
    });
  });
});
