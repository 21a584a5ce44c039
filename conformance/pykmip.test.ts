/**
 * The runner over a real TLS socket with a client certificate, against PyKMIP's own
 * server (Debian python3-pykmip): placeholders bind from real responses and flow into
 * later requests, comparison passes what conforms and stops at the first real difference.
 * PyKMIP speaks KMIP 1.x, so most OASIS cases fail against it; these prove the runner,
 * not the server.
 */
import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { describeCase } from './cases.js';
import { runSuite } from './runner.js';
import type { CaseResult, Target } from './runner.js';
import { sharedDir } from '../test/support/paths.js';

const PYKMIP_SERVER = '/usr/bin/pykmip-server';
const here = path.dirname(fileURLToPath(import.meta.url));
const casesDir = path.join(sharedDir, 'kmip-testcases');

/** A throwaway CA, a server certificate for 127.0.0.1 and a client certificate with clientAuth (PyKMIP requires it). */
function makeCertificates(dir: string): void {
  const openssl = (...args: string[]): void => {
    execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  };
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca-key.pem', '-out', 'ca.pem', '-days', '1', '-subj', '/CN=conformance test CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign');
  for (const [name, cn, extensions] of [
    ['server', 'localhost', 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n'],
    ['client', 'conformance', 'extendedKeyUsage=clientAuth\n'],
  ] as const) {
    openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}-key.pem`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`);
    execFileSync('sh', ['-c', `printf '${extensions}' > ${name}.ext`], { cwd: dir });
    openssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca-key.pem', '-CAcreateserial', '-out', `${name}.pem`, '-days', '1', '-extfile', `${name}.ext`);
  }
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

async function waitForPort(port: number, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`pykmip-server exited with code ${child.exitCode}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`pykmip-server did not listen on ${port} within ${timeoutMs} ms`);
}

describe('the runner against pykmip-server over TLS', function () {
  this.timeout(30_000);
  let dir: string;
  let child: ChildProcess | undefined;
  let target: Target;

  before(async function () {
    if (!existsSync(PYKMIP_SERVER)) throw new Error(`${PYKMIP_SERVER} is missing: apt-get install python3-pykmip`);
    dir = await mkdtemp(path.join(tmpdir(), 'conformance-pykmip-'));
    makeCertificates(dir);
    await mkdir(path.join(dir, 'policies'));
    const port = await freePort();
    const config = [
      '[server]',
      'hostname=127.0.0.1',
      `port=${port}`,
      `certificate_path=${path.join(dir, 'server.pem')}`,
      `key_path=${path.join(dir, 'server-key.pem')}`,
      `ca_path=${path.join(dir, 'ca.pem')}`,
      'auth_suite=TLS1.2',
      `policy_path=${path.join(dir, 'policies')}`,
      'enable_tls_client_auth=True',
      `database_path=${path.join(dir, 'pykmip.sqlite')}`,
      '',
    ].join('\n');
    await writeFile(path.join(dir, 'server.conf'), config);
    // Its own process group: PyKMIP forks, and the forks must go when the test ends.
    child = spawn(PYKMIP_SERVER, ['-f', path.join(dir, 'server.conf'), '-l', path.join(dir, 'server.log')], { stdio: 'ignore', detached: true });
    await waitForPort(port, child, 20_000);
    const [cert, key, ca] = await Promise.all(['client.pem', 'client-key.pem', 'ca.pem'].map((name) => readFile(path.join(dir, name))));
    target = { host: '127.0.0.1', port, tls: { cert: cert as Buffer, key: key as Buffer, ca: ca as Buffer }, description: 'pykmip-server' };
  });

  after(async () => {
    // PyKMIP takes seconds to stop on SIGTERM: give its whole group one, then kill the group.
    const server = child;
    const group = (signal: NodeJS.Signals): void => {
      try {
        if (server?.pid !== undefined) process.kill(-server.pid, signal);
      } catch {
        // the group is gone already
      }
    };
    if (server && server.exitCode === null) {
      const exited = new Promise((resolve) => server.once('exit', resolve));
      group('SIGTERM');
      const timer = setTimeout(() => group('SIGKILL'), 1_000);
      await exited;
      clearTimeout(timer);
    }
    group('SIGKILL');
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function run(files: { file: string; path: string }[]): Promise<CaseResult[]> {
    return runSuite({ cases: files.map((f) => describeCase(f.file, f.path)), target, concurrency: 2, timeoutMs: 10_000 });
  }

  it('Register, Locate, Get, Get Attributes, Destroy: the identifier binds and flows, the key comes back byte for byte', async () => {
    const [result] = await run([{ file: 'fixtures/RUNNER-M-1-12.xml', path: path.join(here, 'fixtures', 'RUNNER-M-1-12.xml') }]);
    expect(result, JSON.stringify(result?.difference ?? result?.reason)).to.include({ status: 'pass', steps: 5 });
  });

  it('the same case with other key material expected fails at the Get, naming the path and both values', async () => {
    const text = await readFile(path.join(here, 'fixtures', 'RUNNER-M-1-12.xml'), 'utf8');
    const altered = text.replace(/(<ResponsePayload>[\s\S]*?<KeyMaterial type="ByteString" value=")0123456789abcdef0123456789abcdef/, '$1ffffffffffffffffffffffffffffffff');
    expect(altered).to.not.equal(text);
    const file = path.join(dir, 'RUNNER-M-2-12.xml');
    await writeFile(file, altered.replaceAll('RUNNER-M-1-12', 'RUNNER-M-2-12'));
    const [result] = await run([{ file: 'RUNNER-M-2-12.xml', path: file }]);
    expect(result?.status).to.equal('fail');
    expect(result?.step).to.equal(2);
    expect(result?.difference).to.deep.equal({
      path: 'ResponseMessage/BatchItem[0]/ResponsePayload/SymmetricKey/KeyBlock/KeyValue/KeyMaterial',
      expected: 'ByteString ffffffffffffffffffffffffffffffff',
      actual: 'ByteString 0123456789abcdef0123456789abcdef',
    });
  });

  it('OASIS cases: SKFF-M-1-14 passes; BL-M-1-21 fails at step 0, PyKMIP answering KMIP 2.1 with 1.x', async () => {
    const oasis = ['v1.4/mandatory/SKFF-M-1-14.xml', 'v2.1/mandatory/BL-M-1-21.xml'].map((file) => ({ file, path: path.join(casesDir, file) }));
    const [skff, bl] = await run(oasis);
    expect(skff, JSON.stringify(skff?.difference ?? skff?.reason)).to.include({ status: 'pass' });
    expect(bl).to.include({ status: 'fail', step: 0 });
    expect(bl?.difference?.path).to.equal('ResponseMessage/ResponseHeader/ProtocolVersion/ProtocolVersionMajor');
  });
});
