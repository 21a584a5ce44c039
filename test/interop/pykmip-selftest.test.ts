/**
 * HARNESS SELF-TEST: proves the PyKMIP interop harness (pykmip_driver.py +
 * pykmip.ts) against PyKMIP's own server, before kmipd exists. It tests the
 * harness, not kmipd. PyKMIP's server is slow to start and stop: several
 * seconds each.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import {
  PYKMIP_VERSIONS,
  PykmipDriverError,
  runPykmip,
  runPykmipDetailed,
  startPykmipServer,
  valueOf,
  type PykmipFailure,
  type PykmipResult,
  type PykmipServer,
  type PykmipTls,
} from './pykmip.js';
import { createTestPki, issueTestClientCert, type TestPki } from './testpki.js';

/** A PEM certificate file as DER hex. */
async function derOf(pemFile: string): Promise<string> {
  const pem = await readFile(pemFile, 'utf8');
  const body = pem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, '');
  return Buffer.from(body, 'base64').toString('hex');
}

function failure(result: PykmipResult | undefined): PykmipFailure {
  if (result === undefined) throw new Error('missing result');
  if (result.ok) throw new Error(`expected ${result.op} to fail, got ${JSON.stringify(result.value)}`);
  return result;
}

describe('interop harness self-test: PyKMIP client vs PyKMIP server', function () {
  this.timeout(120_000);

  let tmp: string;
  let pki: TestPki;
  let server: PykmipServer;
  let tls: PykmipTls;
  let unique = 0;
  const name = (label: string): string => `selftest-${label}-${process.pid}-${++unique}`;

  before(async function () {
    this.timeout(90_000);
    tmp = await mkdtemp(path.join(os.tmpdir(), 'kmipd-pykmip-selftest-'));
    pki = await createTestPki(path.join(tmp, 'pki'));
    server = await startPykmipServer(path.join(tmp, 'server'), { cert: pki.server.cert, key: pki.server.key, ca: pki.ca });
    tls = { cert: pki.client.cert, key: pki.client.key, ca: pki.ca };
  });

  after(async function () {
    this.timeout(30_000);
    if (server) await server.stop();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('runs a full symmetric key lifecycle on one connection (KMIP 1.2)', async function () {
    const keyName = name('aes');
    const results = await runPykmip(server, tls, '1.2', [
      { op: 'create', algorithm: 'AES', length: 256, name: keyName }, // 0
      { op: 'get', uid: '$0' }, // 1
      { op: 'get_attributes', uid: '$0' }, // 2
      { op: 'get_attribute_list', uid: '$0' }, // 3
      { op: 'locate', name: keyName }, // 4
      { op: 'activate', uid: '$0' }, // 5
      { op: 'get_attributes', uid: '$0', names: ['State'] }, // 6
      { op: 'destroy', uid: '$0' }, // 7: Active cannot be destroyed
      { op: 'revoke', uid: '$0', reason: 'CESSATION_OF_OPERATION', message: 'self-test' }, // 8
      { op: 'destroy', uid: '$0' }, // 9
      { op: 'get', uid: '$0' }, // 10
    ]);
    expect(results).to.have.length(11);

    const uid = valueOf(results[0], 'create');
    expect(uid).to.be.a('string').and.not.equal('');

    const key = valueOf(results[1], 'get');
    expect(key.object_type).to.equal('SYMMETRIC_KEY');
    expect(key.algorithm).to.equal('AES');
    expect(key.length).to.equal(256);
    expect(Buffer.from(key.value_hex, 'hex')).to.have.length(32);

    const attrs = valueOf(results[2], 'get_attributes');
    expect(attrs['Unique Identifier']).to.equal(uid);
    expect(attrs['Name']).to.equal(keyName);
    expect(attrs['Object Type']).to.equal('SYMMETRIC_KEY');
    expect(attrs['Cryptographic Algorithm']).to.equal('AES');
    expect(attrs['Cryptographic Length']).to.equal('256');
    expect(attrs['Cryptographic Usage Mask']).to.equal('ENCRYPT|DECRYPT');
    expect(attrs['State']).to.equal('PRE_ACTIVE');

    expect(valueOf(results[3], 'get_attribute_list')).to.include.members(['Name', 'State', 'Cryptographic Algorithm']);
    expect(valueOf(results[4], 'locate')).to.deep.equal([uid]);
    expect(valueOf(results[5], 'activate')).to.equal(null);
    expect(valueOf(results[6], 'get_attributes')).to.deep.equal({ State: 'ACTIVE' });

    const activeDestroy = failure(results[7]);
    expect(activeDestroy).to.include({ error: 'KmipOperationFailure', status: 'OPERATION_FAILED', reason: 'PERMISSION_DENIED' });

    expect(valueOf(results[8], 'revoke')).to.equal(null);
    expect(valueOf(results[9], 'destroy')).to.equal(null);

    const gone = failure(results[10]);
    expect(gone).to.include({ op: 'get', error: 'KmipOperationFailure', status: 'OPERATION_FAILED', reason: 'ITEM_NOT_FOUND' });
    expect(gone.message).to.be.a('string');
  });

  it('registers secret data and reads it back', async function () {
    const secretName = name('secret');
    const secret = Buffer.from('correct horse battery staple').toString('hex');
    const results = await runPykmip(server, tls, '1.2', [
      { op: 'register', kind: 'secret', value_hex: secret, secret_type: 'PASSWORD', name: secretName },
      { op: 'get', uid: '$0' },
      { op: 'get_attributes', uid: '$0', names: ['Object Type', 'Name', 'State'] },
      { op: 'locate', name: secretName, object_type: 'SECRET_DATA' },
    ]);
    const uid = valueOf(results[0], 'register');
    expect(valueOf(results[1], 'get')).to.deep.equal({ object_type: 'SECRET_DATA', value_hex: secret, secret_type: 'PASSWORD' });
    expect(valueOf(results[2], 'get_attributes')).to.deep.equal({
      'Object Type': 'SECRET_DATA',
      Name: secretName,
      State: 'PRE_ACTIVE',
    });
    expect(valueOf(results[3], 'locate')).to.deep.equal([uid]);
  });

  it('registers a symmetric key and an opaque object', async function () {
    const keyHex = '00112233445566778899aabbccddeeff';
    const results = await runPykmip(server, tls, '1.4', [
      { op: 'register', kind: 'symmetric', value_hex: keyHex, name: name('imported') },
      { op: 'get', uid: '$0' },
      { op: 'register', kind: 'opaque', value_hex: 'cafe', names: [] },
      { op: 'get', uid: '$2' },
    ]);
    expect(valueOf(results[1], 'get')).to.include({ object_type: 'SYMMETRIC_KEY', value_hex: keyHex, algorithm: 'AES', length: 128 });
    expect(valueOf(results[3], 'get')).to.include({ object_type: 'OPAQUE_DATA', value_hex: 'cafe', opaque_type: 'NONE' });
  });

  it('creates an RSA key pair and registers a certificate', async function () {
    const caDer = await derOf(pki.ca);
    const results = await runPykmip(server, tls, '1.4', [
      // PyKMIP's server insists on usage masks for both halves.
      { op: 'create_key_pair', algorithm: 'RSA', length: 2048, public_usage: ['VERIFY'], private_usage: ['SIGN'] },
      { op: 'get', uid: '$0.public_uid' },
      { op: 'register', kind: 'certificate', value_hex: caDer },
      { op: 'get', uid: '$2' },
    ]);
    const pair = valueOf(results[0], 'create_key_pair');
    expect(pair.public_uid).to.not.equal(pair.private_uid);
    expect(valueOf(results[1], 'get')).to.include({ object_type: 'PUBLIC_KEY', algorithm: 'RSA', length: 2048 });
    expect(valueOf(results[3], 'get')).to.include({ object_type: 'CERTIFICATE', value_hex: caDer, certificate_type: 'X_509' });
  });

  it('discovers versions and queries the server', async function () {
    const results = await runPykmip(server, tls, '1.2', [
      { op: 'discover_versions' },
      { op: 'discover_versions', versions: ['1.1', '9.9'] },
      { op: 'query', functions: ['QUERY_OPERATIONS', 'QUERY_OBJECTS', 'QUERY_SERVER_INFORMATION'] },
    ]);
    expect(valueOf(results[0], 'discover_versions')).to.deep.equal(['2.0', '1.4', '1.3', '1.2', '1.1', '1.0']);
    expect(valueOf(results[1], 'discover_versions')).to.deep.equal(['1.1']);
    const query = valueOf(results[2], 'query');
    expect(query.operations).to.include.members(['CREATE', 'GET', 'LOCATE', 'DISCOVER_VERSIONS']);
    expect(query.vendor_identification).to.match(/PyKMIP/);
  });

  it('reports Discover Versions as not supported at KMIP 1.0 (instead of crashing like PyKMIP)', async function () {
    const results = await runPykmip(server, tls, '1.0', [{ op: 'discover_versions' }]);
    expect(failure(results[0])).to.include({ error: 'KmipOperationFailure', reason: 'OPERATION_NOT_SUPPORTED' });
  });

  for (const version of PYKMIP_VERSIONS) {
    it(`speaks KMIP ${version}: create, get, get_attributes, locate, revoke, destroy`, async function () {
      const keyName = name(`v${version}`);
      const results = await runPykmip(server, tls, version, [
        { op: 'create', algorithm: 'AES', length: 128, name: keyName },
        { op: 'get', uid: '$0' },
        { op: 'get_attributes', uid: '$0', names: ['Cryptographic Length', 'Name'] },
        { op: 'locate', name: keyName },
        { op: 'activate', uid: '$0' },
        { op: 'revoke', uid: '$0', reason: 'KEY_COMPROMISE', compromise_date: 1_700_000_000 },
        { op: 'destroy', uid: '$0' },
      ]);
      const uid = valueOf(results[0], 'create');
      expect(Buffer.from(valueOf(results[1], 'get').value_hex, 'hex')).to.have.length(16);
      expect(valueOf(results[2], 'get_attributes')).to.deep.equal({ 'Cryptographic Length': '128', Name: keyName });
      expect(valueOf(results[3], 'locate')).to.deep.equal([uid]);
      for (const i of [4, 5, 6]) expect(results[i]?.ok, JSON.stringify(results[i])).to.equal(true);
    });
  }

  it('encrypts and decrypts (AES-CBC, PKCS5, server-generated IV)', async function () {
    const plain = Buffer.from('interop harness self-test data').toString('hex');
    const params = { algorithm: 'AES', mode: 'CBC', padding: 'PKCS5' } as const;
    const results = await runPykmip(server, tls, '1.2', [
      { op: 'create', algorithm: 'AES', length: 256, name: name('crypt') },
      { op: 'activate', uid: '$0' },
      { op: 'encrypt', uid: '$0', data_hex: plain, random_iv: true, ...params },
      { op: 'decrypt', uid: '$0', data_hex: '$2.data_hex', iv_hex: '$2.iv_hex', ...params },
    ]);
    const encrypted = valueOf(results[2], 'encrypt');
    expect(encrypted.iv_hex).to.be.a('string').with.length(32);
    expect(encrypted.data_hex).to.not.equal(plain);
    expect(valueOf(results[3], 'decrypt').data_hex).to.equal(plain);
  });

  it('switches the wire version on a live connection and reconnects', async function () {
    const results = await runPykmip(server, tls, '1.0', [
      { op: 'discover_versions' },
      { op: 'set_version', version: '2.0' },
      { op: 'discover_versions' },
      { op: 'reconnect' },
      { op: 'discover_versions' },
    ]);
    expect(results[0]?.ok).to.equal(false);
    expect(valueOf(results[1], 'set_version')).to.equal('2.0');
    expect(valueOf(results[2], 'discover_versions')).to.include('2.0');
    expect(valueOf(results[3], 'reconnect')).to.equal(null);
    expect(valueOf(results[4], 'discover_versions')).to.include('2.0');
  });

  it('sends an empty Credential only when asked', async function () {
    const plain = await runPykmipDetailed(server, tls, '1.2', [{ op: 'discover_versions' }], { trace: true });
    const withCredential = await runPykmipDetailed(server, tls, '1.2', [{ op: 'discover_versions' }], {
      trace: true,
      credential: ':',
    });
    const request = (run: typeof plain): string => {
      const r = run.results[0];
      expect(r?.ok, JSON.stringify(r)).to.equal(true);
      return r?.wire?.[0]?.request ?? '';
    };
    expect(request(plain)).to.match(/^420078/);
    // Credential (0x420023) holding an empty Username (0x420099) and Password (0x4200A1).
    expect(request(plain)).to.not.include('420023');
    expect(request(withCredential)).to.include('420023');
    expect(request(withCredential)).to.include('4200990700000000').and.include('4200a10700000000');
    expect(withCredential.results[0]?.wire?.[0]?.response).to.match(/^42007b/);
  });

  it('reports a client certificate without clientAuth as an operation failure', async function () {
    const noEku = await issueTestClientCert(pki, 'no-eku', { clientAuthEku: false });
    const results = await runPykmip(server, { ...noEku, ca: pki.ca }, '1.2', [{ op: 'create' }]);
    expect(failure(results[0])).to.include({ error: 'KmipOperationFailure', reason: 'AUTHENTICATION_NOT_SUCCESSFUL' });
  });

  it('reports bad steps and bad references as results, not driver failures', async function () {
    const bogus = JSON.parse('{"op":"bogus"}') as { op: 'reconnect' }; // an op the driver does not know
    const results = await runPykmip(server, tls, '1.2', [
      { op: 'get', uid: 'no-such-object' },
      { op: 'get', uid: '$0' },
      { op: 'get', uid: '$7' },
      { op: 'register', kind: 'secret', value_hex: 'zz' },
      { op: 'revoke', uid: 'x', reason: 'NOT_A_REASON' },
      bogus,
    ]);
    expect(failure(results[0])).to.include({ reason: 'ITEM_NOT_FOUND' });
    expect(failure(results[1])).to.include({ error: 'BadReference' });
    expect(failure(results[2])).to.include({ error: 'BadReference' });
    expect(failure(results[3])).to.include({ error: 'StepError' });
    expect(failure(results[4])).to.include({ error: 'StepError' });
    expect(failure(results[5])).to.include({ op: 'bogus', error: 'StepError' });
  });

  it('rejects when it cannot connect, with the reason', async function () {
    const closed = net.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const address = closed.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    let error: unknown;
    try {
      await runPykmip({ host: '127.0.0.1', port }, tls, '1.2', [{ op: 'create' }]);
    } catch (err) {
      error = err;
    }
    expect(error).to.be.instanceOf(PykmipDriverError);
    expect((error as PykmipDriverError).message).to.match(/ConnectionFailure.*Connection refused/);
    expect((error as PykmipDriverError).exitCode).to.equal(2);
  });

  it('kills a driver that hangs, and says so', async function () {
    // A TCP server that never answers the TLS handshake.
    const sockets: net.Socket[] = [];
    const silent = net.createServer((s) => sockets.push(s));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const address = silent.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    const started = Date.now();
    let error: unknown;
    try {
      await runPykmip({ host: '127.0.0.1', port }, tls, '1.2', [{ op: 'create' }], { timeoutMs: 2000 });
    } catch (err) {
      error = err;
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
    expect(error).to.be.instanceOf(PykmipDriverError);
    expect((error as Error).message).to.match(/timed out after 2000 ms/);
    expect(Date.now() - started).to.be.lessThan(10_000);
  });
});
