import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tls from 'node:tls';
import {
  createDevelopmentPki,
  issueClientCertificate,
  type ClientCertificateFiles,
  type PkiPaths,
} from './index.js';

interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

function run(command: string, args: string[]): Promise<RunResult> {
  return new Promise((resolvePromise) => {
    execFile(command, args, { timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
      resolvePromise({ code, stdout, stderr });
    });
  });
}

async function mode(path: string): Promise<number> {
  return (await stat(path)).mode & 0o777;
}

type TlsVersion = 'TLSv1.2' | 'TLSv1.3';

interface Peer {
  cn: string;
  protocol: string | null;
}

interface TestServer {
  port: number;
  /** Subject CNs of the clients the server accepted, in order. */
  accepted: string[];
  /** Reasons OpenSSL gave for failing handshakes (a client without a certificate). */
  refusals: string[];
  close(): Promise<void>;
}

// The server answers every accepted client with the subject CN it saw, then closes.
async function startServer(pki: PkiPaths): Promise<TestServer> {
  const server = tls.createServer({
    ca: await readFile(pki.ca),
    cert: await readFile(pki.server),
    key: await readFile(pki.serverKey),
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: 'TLSv1.2',
    maxVersion: 'TLSv1.3',
  });
  const accepted: string[] = [];
  const refusals: string[] = [];
  server.on('secureConnection', (socket) => {
    const peer: Peer = { cn: String(socket.getPeerCertificate().subject.CN), protocol: socket.getProtocol() };
    accepted.push(peer.cn);
    socket.end(JSON.stringify(peer));
  });
  server.on('tlsClientError', (err) => refusals.push(err.message));
  await new Promise<void>((resolvePromise) => server.listen(0, '127.0.0.1', resolvePromise));
  return {
    port: (server.address() as AddressInfo).port,
    accepted,
    refusals,
    close: () => new Promise<void>((resolvePromise) => server.close(() => resolvePromise())),
  };
}

interface ClientOptions {
  port: number;
  ca: string;
  cert?: string;
  key?: string;
  host?: string;
  servername?: string;
  version: TlsVersion;
}

type ClientResult = { ok: true; peer: Peer } | { ok: false; error: string };

async function connectClient(options: ClientOptions): Promise<ClientResult> {
  const connectOptions: tls.ConnectionOptions = {
    host: options.host ?? '127.0.0.1',
    port: options.port,
    ca: await readFile(options.ca),
    minVersion: options.version,
    maxVersion: options.version,
  };
  if (options.servername !== undefined) connectOptions.servername = options.servername;
  if (options.cert !== undefined) connectOptions.cert = await readFile(options.cert);
  if (options.key !== undefined) connectOptions.key = await readFile(options.key);

  return new Promise((resolvePromise) => {
    const socket = tls.connect(connectOptions);
    let body = '';
    let settled = false;
    const settle = (result: ClientResult): void => {
      if (settled) return;
      settled = true;
      socket.destroy();
      resolvePromise(result);
    };
    socket.setEncoding('utf8');
    socket.setTimeout(10_000, () => settle({ ok: false, error: 'timeout' }));
    socket.on('data', (chunk: string) => (body += chunk));
    socket.on('end', () =>
      settle(body === '' ? { ok: false, error: 'closed without an answer' } : { ok: true, peer: JSON.parse(body) as Peer }),
    );
    socket.on('error', (err: NodeJS.ErrnoException) => settle({ ok: false, error: err.code ?? err.message }));
    socket.on('close', () => settle({ ok: false, error: 'closed without an answer' }));
  });
}

const PYTHON_CLIENT = `
import socket, ssl, sys
ca, cert, key, host, port, version = sys.argv[1:7]
ctx = ssl.create_default_context(cafile=ca)
ctx.load_cert_chain(cert, key)
ctx.minimum_version = ctx.maximum_version = getattr(ssl.TLSVersion, version)
with socket.create_connection(('127.0.0.1', int(port)), timeout=10) as raw:
    with ctx.wrap_socket(raw, server_hostname=host) as tls:
        data = b''
        while True:
            chunk = tls.recv(4096)
            if not chunk:
                break
            data += chunk
        print(tls.version(), data.decode())
`;

describe('certs: development PKI', function () {
  this.timeout(60_000);

  let root: string;
  let pki: PkiPaths;
  let other: PkiPaths;
  let alice: ClientCertificateFiles;
  let server: TestServer;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'kmipd-pki-'));
    pki = await createDevelopmentPki(join(root, 'certs'), { hostnames: ['kmip.example.test', '192.0.2.7'] });
    other = await createDevelopmentPki(join(root, 'other'));
    alice = await issueClientCertificate(pki.dir, 'alice@example.test');
    server = await startServer(pki);
  });

  after(async () => {
    await server?.close();
    if (root !== undefined) await rm(root, { recursive: true, force: true });
  });

  describe('files', () => {
    it('writes the folder 0700, private keys 0600 as PKCS#8 PEM, certificates as PEM', async () => {
      expect(await mode(pki.dir)).to.equal(0o700);
      for (const key of [pki.caKey, pki.serverKey, pki.adminKey, alice.key]) {
        expect(await mode(key), key).to.equal(0o600);
        expect(await readFile(key, 'utf8'), key).to.match(/^-----BEGIN PRIVATE KEY-----\n/);
      }
      for (const cert of [pki.ca, pki.server, pki.admin, alice.cert]) {
        expect(await readFile(cert, 'utf8'), cert).to.match(/^-----BEGIN CERTIFICATE-----\n/);
      }
      expect(alice.cert).to.equal(join(pki.dir, 'alice@example.test.pem'));
      expect(alice.key).to.equal(join(pki.dir, 'alice@example.test-key.pem'));
    });

    it('gives two installations different CA names', async () => {
      const subject = async (ca: string): Promise<string> =>
        (await run('openssl', ['x509', '-in', ca, '-noout', '-subject'])).stdout.trim();
      const mine = await subject(pki.ca);
      expect(mine).to.match(/^subject=CN = kmipd development CA [0-9a-f]{8}$/);
      expect(await subject(other.ca)).to.not.equal(mine);
    });
  });

  describe('openssl', () => {
    it('makes a CA with critical basicConstraints pathlen 0 and critical keyCertSign, cRLSign', async () => {
      const out = await run('openssl', ['x509', '-in', pki.ca, '-noout', '-text']);
      expect(out.stdout).to.match(/Basic Constraints: critical\s+CA:TRUE, pathlen:0/);
      expect(out.stdout).to.match(/Key Usage: critical\s+Certificate Sign, CRL Sign/);
      expect(out.stdout).to.match(/Subject Key Identifier/);
      expect(out.stdout).to.match(/Public-Key: \(2048 bit\)/);
      expect(out.stdout).to.match(/Signature Algorithm: sha256WithRSAEncryption/);
    });

    it('verifies server.pem for sslserver with TLS Web Server Authentication and the SANs', async () => {
      const verify = await run('openssl', ['verify', '-CAfile', pki.ca, '-purpose', 'sslserver', pki.server]);
      expect(verify.code, verify.stderr).to.equal(0);
      expect(verify.stdout).to.contain(': OK');
      const eku = await run('openssl', ['x509', '-in', pki.server, '-noout', '-ext', 'extendedKeyUsage']);
      expect(eku.stdout).to.contain('TLS Web Server Authentication');
      expect(eku.stdout).to.not.contain('Client Authentication');
      const san = await run('openssl', ['x509', '-in', pki.server, '-noout', '-ext', 'subjectAltName']);
      for (const name of ['DNS:localhost', 'DNS:kmip.example.test', 'IP Address:127.0.0.1', 'IP Address:0:0:0:0:0:0:0:1', 'IP Address:192.0.2.7']) {
        expect(san.stdout).to.contain(name);
      }
      const text = await run('openssl', ['x509', '-in', pki.server, '-noout', '-text']);
      expect(text.stdout).to.match(/Key Usage: critical\s+Digital Signature, Key Encipherment/);
      expect(text.stdout).to.match(/Authority Key Identifier/);
    });

    it('verifies admin.pem and an issued client for sslclient with TLS Web Client Authentication', async () => {
      for (const cert of [pki.admin, alice.cert]) {
        const verify = await run('openssl', ['verify', '-CAfile', pki.ca, '-purpose', 'sslclient', cert]);
        expect(verify.code, verify.stderr).to.equal(0);
        const eku = await run('openssl', ['x509', '-in', cert, '-noout', '-ext', 'extendedKeyUsage']);
        expect(eku.stdout).to.contain('TLS Web Client Authentication');
        expect(eku.stdout).to.not.contain('Server Authentication');
      }
      const subject = await run('openssl', ['x509', '-in', alice.cert, '-noout', '-subject']);
      expect(subject.stdout.trim()).to.equal('subject=CN = alice@example.test');
    });

    it('writes 16-byte positive serial numbers and backdates notBefore by an hour', async () => {
      const out = await run('openssl', ['x509', '-in', pki.admin, '-noout', '-serial', '-startdate', '-enddate']);
      const serial = /serial=([0-9A-F]+)/.exec(out.stdout)?.[1] ?? '';
      expect(serial).to.have.length(32);
      expect(parseInt(serial.slice(0, 2), 16)).to.be.below(0x80);
      const notBefore = Date.parse(/notBefore=(.*)/.exec(out.stdout)?.[1] ?? '');
      const notAfter = Date.parse(/notAfter=(.*)/.exec(out.stdout)?.[1] ?? '');
      expect(Date.now() - notBefore).to.be.within(55 * 60_000, 65 * 60_000);
      expect((notAfter - notBefore) / 86_400_000).to.equal(825);
    });

    it('refuses a certificate from another development PKI', async () => {
      const verify = await run('openssl', ['verify', '-CAfile', pki.ca, other.admin]);
      expect(verify.code).to.not.equal(0);
    });
  });

  for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
    describe(`node:tls mutual authentication over ${version}`, () => {
      it('accepts admin.pem and the server sees CN "admin"', async () => {
        const result = await connectClient({
          port: server.port, ca: pki.ca, cert: pki.admin, key: pki.adminKey, servername: 'localhost', version,
        });
        expect(result).to.deep.equal({ ok: true, peer: { cn: 'admin', protocol: version } });
      });

      it('accepts a client from issueClientCertificate with CN equal to its name', async () => {
        const result = await connectClient({
          port: server.port, ca: pki.ca, cert: alice.cert, key: alice.key, servername: 'localhost', version,
        });
        expect(result).to.deep.equal({ ok: true, peer: { cn: 'alice@example.test', protocol: version } });
      });

      it('verifies the server by its IP SAN when connecting to 127.0.0.1', async () => {
        const result = await connectClient({
          port: server.port, ca: pki.ca, cert: pki.admin, key: pki.adminKey, host: '127.0.0.1', version,
        });
        expect(result.ok).to.equal(true);
      });

      it('fails server verification for a name not in the certificate', async () => {
        const result = await connectClient({
          port: server.port, ca: pki.ca, cert: pki.admin, key: pki.adminKey, servername: 'elsewhere.example.test', version,
        });
        expect(result).to.deep.equal({ ok: false, error: 'ERR_TLS_CERT_ALTNAME_INVALID' });
      });

      it('refuses a client with no certificate', async () => {
        const accepted = server.accepted.length;
        const refusals = server.refusals.length;
        const result = await connectClient({ port: server.port, ca: pki.ca, servername: 'localhost', version });
        expect(result.ok).to.equal(false);
        expect(server.accepted).to.have.length(accepted);
        expect(server.refusals.slice(refusals).join('\n')).to.match(/peer did not return a certificate/);
      });

      // node:tls completes the handshake, finds the chain untrusted, and destroys the socket:
      // no alert, no tlsClientError, the client sees a reset.
      it('refuses a client whose certificate comes from another development PKI', async () => {
        const accepted = server.accepted.length;
        const result = await connectClient({
          port: server.port, ca: pki.ca, cert: other.admin, key: other.adminKey, servername: 'localhost', version,
        });
        expect(result.ok).to.equal(false);
        expect(server.accepted).to.have.length(accepted);
      });
    });
  }

  describe("Python's ssl (the stack under the PyKMIP client)", () => {
    let script: string;
    before(async () => {
      script = join(root, 'client.py');
      await writeFile(script, PYTHON_CLIENT);
    });

    for (const version of ['TLSv1_2', 'TLSv1_3'] as const) {
      it(`loads the PKCS#8 key and completes mutual TLS (${version}) verifying "localhost" and 127.0.0.1`, async () => {
        for (const host of ['localhost', '127.0.0.1']) {
          const out = await run('/usr/bin/python3', [
            script, pki.ca, pki.admin, pki.adminKey, host, String(server.port), version,
          ]);
          expect(out.code, out.stderr).to.equal(0);
          const [protocol, body] = out.stdout.trim().split(' ', 2);
          expect(protocol).to.equal(version.replace('_', '.'));
          expect(JSON.parse(body ?? '') as Peer).to.include({ cn: 'admin' });
        }
      });
    }
  });

  describe('refusals', () => {
    it('createDevelopmentPki refuses to overwrite an existing CA', async () => {
      const before = await readFile(pki.ca, 'utf8');
      let error: unknown;
      try {
        await createDevelopmentPki(pki.dir);
      } catch (err) {
        error = err;
      }
      expect(error).to.be.instanceOf(Error);
      expect((error as Error).message).to.match(/already holds a CA.*refusing to overwrite/);
      expect(await readFile(pki.ca, 'utf8')).to.equal(before);
    });

    it('createDevelopmentPki refuses a folder with a leftover admin.pem and writes nothing', async () => {
      const dir = join(root, 'leftover');
      await createDevelopmentPki(join(dir, 'seed'));
      await mkdir(join(dir, 'certs'), { mode: 0o700 });
      await writeFile(join(dir, 'certs', 'admin.pem'), 'old');
      let error: unknown;
      try {
        await createDevelopmentPki(join(dir, 'certs'));
      } catch (err) {
        error = err;
      }
      expect((error as Error).message).to.match(/admin\.pem already exists/);
      expect(await readdir(join(dir, 'certs'))).to.deep.equal(['admin.pem']);
    });

    const badNames: Array<[string, RegExp]> = [
      ['', /1 to 64 letters/],
      ['a'.repeat(65), /1 to 64 letters/],
      ['../evil', /1 to 64 letters/],
      ['has space', /1 to 64 letters/],
      ['semi;colon', /1 to 64 letters/],
      ['ca', /reserved/],
      ['CA', /reserved/],
      ['server', /reserved/],
      ['admin-key', /-key/],
      ['.hidden', /must not start/],
      ['-rf', /must not start/],
    ];
    for (const [name, message] of badNames) {
      it(`issueClientCertificate refuses the name ${JSON.stringify(name)}`, async () => {
        let error: unknown;
        try {
          await issueClientCertificate(pki.dir, name);
        } catch (err) {
          error = err;
        }
        expect(error).to.be.instanceOf(Error);
        expect((error as Error).message).to.match(message);
      });
    }

    it('issueClientCertificate refuses to overwrite an existing client certificate', async () => {
      let error: unknown;
      try {
        await issueClientCertificate(pki.dir, 'admin');
      } catch (err) {
        error = err;
      }
      expect(error).to.be.instanceOf(Error);
      expect((error as Error).message).to.match(/admin\.pem already exists/);
    });

    it('issueClientCertificate says so when the folder has no CA', async () => {
      let error: unknown;
      try {
        await issueClientCertificate(join(root, 'nowhere'), 'bob');
      } catch (err) {
        error = err;
      }
      expect(error).to.be.instanceOf(Error);
      expect((error as Error).message).to.match(/no development CA/);
    });
  });
});
