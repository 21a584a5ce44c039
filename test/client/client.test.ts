/**
 * The client library (lib/client) against a real kmipd over mutual TLS, on a free loopback
 * port with a fresh data folder and its development PKI.
 */
import { createServer as createTlsServer } from 'node:tls';
import type { Server as TlsServer } from 'node:tls';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { expect } from 'chai';
import { createDevelopmentPki, developmentPkiPaths } from '../../certs/index.js';
import { jsonLogger } from '../../lib/log.js';
import { KmipClient, KmipClientError, KmipOperationError, requests } from '../../lib/client/index.js';
import type { KmipClientOptions } from '../../lib/client/index.js';
import type { KmipService } from '../../lib/service.js';
import { configWith, initDataDir, startServer } from '../../server/index.js';
import { addUser } from '../../server/users-command.js';
import type { RunningServer } from '../../server/index.js';
import { LogCapture, delay, eventually, removeDir, tempDir } from '../server/helpers.js';
import { rejection } from '../support/rejection.js';

describe('lib/client: KmipClient against a running kmipd', function () {
  this.timeout(60_000);
  let dir: string;
  let server: RunningServer;
  const logs = new LogCapture();
  /** Milliseconds each request waits in the server before it is handled (0: none). */
  let serverDelayMs = 0;
  let tls: { cert: Buffer; key: Buffer; ca: Buffer };
  const clients: KmipClient[] = [];

  const slowed = (inner: KmipService): KmipService => ({
    handle: async (request, session) => {
      if (serverDelayMs > 0) await delay(serverDelayMs);
      return inner.handle(request, session);
    },
    unframeable: (error) => inner.unframeable(error),
  });

  const start = async (port: number): Promise<RunningServer> =>
    startServer(configWith({ dir, host: '127.0.0.1', port }), { log: jsonLogger(logs, 'debug'), wrapService: slowed });

  const connect = async (options: Partial<KmipClientOptions> = {}): Promise<KmipClient> => {
    const client = await KmipClient.connect({ host: '127.0.0.1', port: server.port, ...tls, ...options });
    clients.push(client);
    return client;
  };

  before(async function () {
    dir = await tempDir('client');
    server = await start(0);
    const certs = path.join(dir, 'certs');
    const read = (name: string): Promise<Buffer> => readFile(path.join(certs, name));
    tls = { cert: await read('admin.pem'), key: await read('admin-key.pem'), ca: await read('ca.pem') };
  });

  afterEach(async function () {
    serverDelayMs = 0;
    await Promise.all(clients.splice(0).map((client) => client.close()));
  });

  after(async function () {
    await server.close();
    await removeDir(dir);
  });

  describe('version negotiation', () => {
    it('Discover Versions picks the newest version both sides speak: 2.1, or 1.4 when the client offers 1.x only', async () => {
      const newest = await connect();
      expect(newest.version).to.equal('2.1');
      expect(newest.serverVersions[0]).to.equal('2.1');
      const older = await connect({ versions: ['1.4', '1.3'] });
      expect(older.version).to.equal('1.4');
      const fixed = await connect({ version: '1.2' });
      expect(fixed.version).to.equal('1.2');
      expect(fixed.serverVersions).to.deep.equal([]);
    });
  });

  for (const version of ['2.1', '1.4'] as const) {
    it(`KMIP ${version}: typed attributes in and out — create, locate by name and group, get, attributes, add/modify/delete attribute, activate, revoke, destroy`, async () => {
      const client = await connect({ version });
      const name = `typed-${version}`;
      const { uniqueIdentifier: id, objectType } = await client.create({
        attributes: { cryptographicAlgorithm: 'AES', cryptographicLength: 256, cryptographicUsageMask: ['Encrypt', 'Decrypt'], name, objectGroup: `group-${version}` },
      });
      expect(objectType).to.equal('SymmetricKey');
      expect((await client.locate({ attributes: { name } })).uniqueIdentifiers).to.deep.equal([id]);
      expect((await client.locate({ attributes: { objectGroup: `group-${version}`, state: 'PreActive' } })).uniqueIdentifiers).to.deep.equal([id]);

      const { object } = await client.get(id);
      expect(object.objectType).to.equal('SymmetricKey');
      expect(object.cryptographicAlgorithm).to.equal('AES');
      expect(object.material?.length).to.equal(32);
      // Key material never prints.
      expect(String(object.material)).not.to.include(object.material?.bytes.toString('hex'));

      const { attributes, instances } = await client.getAttributes(id);
      expect(attributes.cryptographicAlgorithm).to.equal('AES');
      expect(attributes.cryptographicLength).to.equal(256);
      expect(attributes.cryptographicUsageMask).to.have.members(['Encrypt', 'Decrypt']);
      expect(attributes.state).to.equal('PreActive');
      expect(attributes.name).to.deep.equal([{ nameValue: name, nameType: 'UninterpretedTextString' }]);
      expect(attributes.objectGroup).to.deep.equal([`group-${version}`]);
      expect(attributes.initialDate).to.be.instanceOf(Date);
      expect(instances.find((i) => i.name === 'Cryptographic Algorithm')?.value.type).to.equal('Enumeration');
      expect((await client.getAttributeList(id)).attributeNames).to.include.members(['Cryptographic Algorithm', 'Name', 'State']);

      await client.addAttribute(id, { contactInformation: 'ops@example.com' });
      await client.modifyAttribute(id, { contactInformation: 'security@example.com' });
      expect((await client.getAttributes(id, ['contactInformation'])).attributes.contactInformation).to.equal('security@example.com');
      await client.deleteAttribute(id, { attributeName: 'contactInformation' });
      expect((await client.getAttributes(id, ['contactInformation'])).attributes.contactInformation).to.equal(undefined);

      await client.activate(id);
      expect((await client.getAttributes(id, ['state'])).attributes.state).to.equal('Active');
      await client.revoke(id, { reason: 'CessationOfOperation' });
      await client.destroy(id);
      const gone = await rejection(client.get(id));
      expect(gone).to.be.instanceOf(KmipOperationError);
      // Object Destroyed is a Result Reason of KMIP 2.0 and later.
      expect(gone).to.include({ operation: 'Get', resultStatus: 'OperationFailed', resultReason: version === '1.4' ? 'ItemNotFound' : 'ObjectDestroyed' });
    });
  }

  it('register (symmetric key, secret data, certificate) and get gives the same bytes back; re-key links a new key', async () => {
    const client = await connect();
    const key = Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex');
    const { uniqueIdentifier: keyId } = await client.register({ object: { type: 'SymmetricKey', algorithm: 'AES', material: key }, attributes: { cryptographicUsageMask: ['Encrypt', 'Decrypt'] } });
    const { uniqueIdentifier: secretId } = await client.register({ object: { type: 'SecretData', secretDataType: 'Password', material: Buffer.from('hunter2') } });
    const certDer = Buffer.from((await readFile(path.join(dir, 'certs', 'ca.pem'), 'utf8')).replace(/-----[^-]+-----|\s/g, ''), 'base64');
    const { uniqueIdentifier: certId } = await client.register({ object: { type: 'Certificate', value: certDer } });
    const [gotKey, gotSecret, gotCert] = await Promise.all([client.get(keyId), client.get(secretId), client.get(certId)]);
    expect(gotKey.object.material?.bytes.equals(key)).to.equal(true);
    expect(gotSecret.object.material?.bytes.toString()).to.equal('hunter2');
    expect(gotCert.object.objectType).to.equal('Certificate');
    expect(gotCert.object.material?.bytes.equals(certDer)).to.equal(true);
    const transparent = await client.get(keyId, { keyFormatType: 'TransparentSymmetricKey' });
    expect(transparent.object.keyFormatType).to.equal('TransparentSymmetricKey');
    expect(transparent.object.material?.bytes.equals(key)).to.equal(true);

    await client.activate(keyId);
    const { uniqueIdentifier: newId } = await client.reKey(keyId);
    expect(newId).not.to.equal(keyId);
    const links = (await client.getAttributes(newId, ['link'])).attributes.link;
    expect(links).to.deep.include({ linkType: 'ReplacedObjectLink', linkedObjectIdentifier: keyId });
  });

  it('get with key wrapping: the key comes wrapped (NIST Key Wrap) under another key, and unwraps to the original', async () => {
    const client = await connect();
    // The wrapping key says how it wraps (a structured attribute, 2.1 section 4.11).
    const kek = (
      await client.createSymmetricKey({
        cryptographicAlgorithm: 'AES',
        cryptographicLength: 256,
        cryptographicUsageMask: ['WrapKey', 'UnwrapKey', 'Encrypt', 'Decrypt'],
        cryptographicParameters: { blockCipherMode: 'NISTKeyWrap' },
      })
    ).uniqueIdentifier;
    const key = (await client.createSymmetricKey({ cryptographicAlgorithm: 'AES', cryptographicLength: 128, cryptographicUsageMask: ['Encrypt', 'Decrypt', 'Export'] })).uniqueIdentifier;
    await Promise.all([client.activate(kek), client.activate(key)]);
    const plain = (await client.get(key)).object.material?.bytes;
    const wrapped = await client.get(key, {
      // No Encoding: the key bytes themselves are wrapped, not their TTLV Key Value.
      keyWrappingSpecification: { wrappingMethod: 'Encrypt', encryptionKeyInformation: { uniqueIdentifier: kek, cryptographicParameters: { blockCipherMode: 'NISTKeyWrap' } }, encodingOption: 'NoEncoding' },
    });
    expect(wrapped.object.keyWrappingData).to.deep.include({ wrappingMethod: 'Encrypt' });
    expect(wrapped.object.material?.length).to.equal(24);
    const kekBytes = (await client.get(kek)).object.material?.bytes as Buffer;
    const { createDecipheriv } = await import('node:crypto');
    const unwrap = createDecipheriv('id-aes256-wrap', kekBytes, Buffer.from('a6a6a6a6a6a6a6a6', 'hex'));
    const unwrapped = Buffer.concat([unwrap.update(wrapped.object.material?.bytes as Buffer), unwrap.final()]);
    expect(unwrapped.equals(plain as Buffer)).to.equal(true);
  });

  it('cryptographic services: encrypt/decrypt (GCM), MAC and MAC Verify, sign and verify with a key pair, hash, RNG', async () => {
    const client = await connect();
    const aes = (await client.createSymmetricKey({ cryptographicAlgorithm: 'AES', cryptographicLength: 256, cryptographicUsageMask: ['Encrypt', 'Decrypt'] })).uniqueIdentifier;
    const hmac = (await client.createSymmetricKey({ cryptographicAlgorithm: 'HMAC_SHA256', cryptographicLength: 256, cryptographicUsageMask: ['MACGenerate', 'MACVerify'] })).uniqueIdentifier;
    const pair = await client.createKeyPair({
      commonAttributes: { cryptographicAlgorithm: 'RSA', cryptographicLength: 2048 },
      privateKeyAttributes: { cryptographicUsageMask: ['Sign'] },
      publicKeyAttributes: { cryptographicUsageMask: ['Verify'] },
    });
    await Promise.all([aes, hmac, pair.privateKeyUniqueIdentifier, pair.publicKeyUniqueIdentifier].map((id) => client.activate(id)));

    const data = Buffer.from('attack at dawn');
    const params = { blockCipherMode: 'GCM', tagLength: 16 };
    const iv = Buffer.from('000102030405060708090a0b', 'hex');
    const sealed = await client.encrypt({ uniqueIdentifier: aes, cryptographicParameters: params, data, ivCounterNonce: iv });
    expect(sealed.authenticatedEncryptionTag).to.have.length(16);
    const opened = await client.decrypt({ uniqueIdentifier: aes, cryptographicParameters: params, data: sealed.data as Uint8Array, ivCounterNonce: iv, authenticatedEncryptionTag: sealed.authenticatedEncryptionTag as Uint8Array });
    expect(Buffer.from(opened.data as Uint8Array).toString()).to.equal('attack at dawn');

    const { macData } = await client.mac({ uniqueIdentifier: hmac, cryptographicParameters: { cryptographicAlgorithm: 'HMAC_SHA256' }, data });
    expect(macData).to.have.length(32);
    expect((await client.macVerify({ uniqueIdentifier: hmac, cryptographicParameters: { cryptographicAlgorithm: 'HMAC_SHA256' }, data, macData: macData as Uint8Array })).validityIndicator).to.equal('Valid');

    const signing = { digitalSignatureAlgorithm: 'SHA256WithRSAEncryption' };
    const { signatureData } = await client.sign({ uniqueIdentifier: pair.privateKeyUniqueIdentifier, cryptographicParameters: signing, data });
    const verify = (bytes: Buffer) => client.signatureVerify({ uniqueIdentifier: pair.publicKeyUniqueIdentifier, cryptographicParameters: signing, data: bytes, signatureData: signatureData as Uint8Array });
    expect((await verify(data)).validityIndicator).to.equal('Valid');
    expect((await verify(Buffer.from('attack at dusk'))).validityIndicator).to.equal('Invalid');

    const { createHash } = await import('node:crypto');
    const digest = await client.hash({ cryptographicParameters: { hashingAlgorithm: 'SHA_256' }, data });
    expect(Buffer.from(digest.data as Uint8Array).toString('hex')).to.equal(createHash('sha256').update(data).digest('hex'));
    expect((await client.rngRetrieve(32)).data).to.have.length(32);
    expect((await client.query()).operations).to.include.members(['Create', 'Encrypt', 'Sign']);
  });

  describe('batches', () => {
    it('the ID Placeholder: create, activate and get in one message, items without an identifier work on the created key', async () => {
      const client = await connect();
      const batch = client.batch();
      const created = batch.add(requests.create({ attributes: { cryptographicAlgorithm: 'AES', cryptographicLength: 128, cryptographicUsageMask: ['Encrypt'] } }));
      const activated = batch.add(requests.activate());
      const state = batch.add(requests.getAttributes({ attributeNames: ['state'] }));
      const outcomes = await batch.send();
      expect(outcomes.map((o) => o.status)).to.deep.equal(['fulfilled', 'fulfilled', 'fulfilled']);
      const id = (await created).uniqueIdentifier;
      expect((await activated).uniqueIdentifier).to.equal(id);
      expect((await state).attributes.state).to.equal('Active');
    });

    it('Stop: items after a failure do not run (NOT_EXECUTED); Continue: they do; Undo: nothing is kept', async () => {
      const client = await connect();
      const stop = client.batch();
      const missing = stop.add(requests.activate('no-such-object'));
      const after = stop.add(requests.query(['QueryOperations']));
      await stop.send();
      expect(await rejection(missing)).to.be.instanceOf(KmipOperationError).and.include({ resultReason: 'ItemNotFound', batchIndex: 0 });
      expect(await rejection(after)).to.be.instanceOf(KmipClientError).and.include({ code: 'NOT_EXECUTED' });

      const go = client.batch({ errorContinuation: 'Continue' });
      go.add(requests.activate('no-such-object'));
      const ran = go.add(requests.discoverVersions());
      await go.send();
      expect((await ran)[0]).to.equal('2.1');

      const undo = client.batch({ errorContinuation: 'Undo' });
      const kept = undo.add(requests.create({ attributes: { cryptographicAlgorithm: 'AES', cryptographicLength: 128, name: 'undone-key' } }));
      undo.add(requests.activate('no-such-object'));
      await undo.send();
      expect(await rejection(kept)).to.be.instanceOf(KmipOperationError).and.include({ resultStatus: 'OperationUndone' });
      expect((await client.locate({ attributes: { name: 'undone-key' } })).uniqueIdentifiers).to.deep.equal([]);
    });
  });

  describe('errors', () => {
    it('a refusal is a KmipOperationError with Result Status, Reason and Message; a bad argument is a KmipClientError', async () => {
      const client = await connect();
      const error = await rejection(client.activate('no-such-object'));
      expect(error).to.be.instanceOf(KmipOperationError);
      const refusal = error as KmipOperationError;
      expect(refusal.resultStatus).to.equal('OperationFailed');
      expect(refusal.resultReason).to.equal('ItemNotFound');
      expect(refusal.reasonText).to.equal('Item Not Found');
      expect(refusal.resultMessage).to.include('no-such-object');
      expect(refusal.message).to.match(/^Activate failed: Item Not Found: /);

      const bad = await rejection(client.createSymmetricKey({ cryptographicAlgorithm: 'NOPE' as 'AES', cryptographicLength: 1 }));
      expect(bad).to.be.instanceOf(KmipClientError).and.include({ code: 'INVALID_ARGUMENT' });
      expect(bad.message).to.match(/"NOPE" is not a Cryptographic Algorithm/);
    });

    it('transport failures are KmipClientErrors: nothing listening (CONNECT_FAILED), an untrusted server CA, a client certificate the server refuses', async () => {
      const other = await tempDir('client-other-pki');
      try {
        await createDevelopmentPki(other);
        const otherPki = developmentPkiPaths(other);
        const closedPort = await rejection(KmipClient.connect({ host: '127.0.0.1', port: 1, ...tls }));
        expect(closedPort).to.be.instanceOf(KmipClientError).and.include({ code: 'CONNECT_FAILED' });
        const base = { host: '127.0.0.1', port: server.port };
        const untrusted = await rejection(KmipClient.connect({ ...base, cert: tls.cert, key: tls.key, caFile: otherPki.ca }));
        expect(untrusted).to.be.instanceOf(KmipClientError).and.include({ code: 'CONNECT_FAILED' });
        const refused = await rejection(KmipClient.connect({ ...base, certFile: otherPki.admin, keyFile: otherPki.adminKey, ca: tls.ca }));
        expect(refused).to.be.instanceOf(KmipClientError);
        expect(refused.message).to.match(/closed the connection|certificate/);
        const missing = await rejection(KmipClient.connect({ ...base, certFile: path.join(other, 'absent.pem'), key: tls.key, ca: tls.ca }));
        expect(missing).to.include({ code: 'INVALID_ARGUMENT' });
        expect(missing.message).to.match(/cannot read the client certificate .*absent\.pem: no such file/);
      } finally {
        await removeDir(other);
      }
    });
  });

  describe('a server that requires a Credential', () => {
    it('connect without one rejects at Discover Versions with a KmipOperationError, reason Authentication Not Successful (no fallback to 1.0)', async () => {
      const locked = await tempDir('client-credential');
      await initDataDir(locked);
      const passwordFile = path.join(locked, 'svc.pw');
      await writeFile(passwordFile, 'a long enough passphrase\n', { mode: 0o600 });
      await addUser(path.join(locked, 'users.json'), 'svc', ['admin'], { passwordFile });
      const strict = await startServer(configWith({ dir: locked, host: '127.0.0.1', port: 0, requireCredential: true }), { log: jsonLogger(new LogCapture(), 'debug') });
      try {
        const read = (name: string): Promise<Buffer> => readFile(path.join(locked, 'certs', name));
        const lockedTls = { cert: await read('admin.pem'), key: await read('admin-key.pem'), ca: await read('ca.pem') };
        const offers: Partial<KmipClientOptions>[] = [{}, { versions: ['1.4', '1.3', '1.0'] }];
        for (const options of offers) {
          const error = await rejection(KmipClient.connect({ host: '127.0.0.1', port: strict.port, ...lockedTls, ...options }));
          expect(error).to.be.instanceOf(KmipOperationError);
          const refusal = error as KmipOperationError;
          expect(refusal.operation).to.equal('Discover Versions');
          expect(refusal.resultStatus).to.equal('OperationFailed');
          expect(refusal.resultReason).to.equal('AuthenticationNotSuccessful');
        }
      } finally {
        await strict.close();
        await removeDir(locked);
      }
    });
  });

  describe('connection pool', () => {
    it('200 concurrent requests share at most maxConnections connections (4), and each gets its own answer', async () => {
      const opened = logs.find('connection opened').length;
      const client = await connect({ maxConnections: 4, maxPipelined: 8 });
      const ids = await Promise.all(
        Array.from({ length: 20 }, (_, i) => client.createSymmetricKey({ cryptographicAlgorithm: 'AES', cryptographicLength: 128, name: `pool-${i}` }).then((r) => r.uniqueIdentifier)),
      );
      serverDelayMs = 5;
      const located = await Promise.all(Array.from({ length: 200 }, (_, i) => client.locate({ attributes: { name: `pool-${i % 20}` } })));
      located.forEach((answer, i) => expect(answer.uniqueIdentifiers).to.deep.equal([ids[i % 20]]));
      expect(client.connections).to.equal(4);
      expect(logs.find('connection opened').length - opened).to.equal(4);
    });

    it('connections idle for idleTimeoutMs close; the next request opens a new one', async () => {
      const client = await connect({ idleTimeoutMs: 200 });
      expect(client.connections).to.equal(1);
      await eventually(() => client.connections === 0, 3_000, 'the idle connection to close');
      expect((await client.discoverVersions())[0]).to.equal('2.1');
      expect(client.connections).to.equal(1);
    });

    it('a dropped connection recovers: after the server restarts on the same port, the next request reconnects', async () => {
      const client = await connect();
      const { uniqueIdentifier } = await client.createSymmetricKey({ cryptographicAlgorithm: 'AES', cryptographicLength: 128 });
      const port = server.port;
      await server.destroy();
      server = await start(port);
      // A read is sent again on a fresh connection when its connection turns out closed.
      const { object } = await client.get(uniqueIdentifier);
      expect(object.material?.length).to.equal(16);
      await client.activate(uniqueIdentifier);
    });

    it('an AbortSignal cancels a request (ABORTED) and the connection stays usable; timeoutMs gives TIMEOUT', async () => {
      const client = await connect({ maxConnections: 1 });
      serverDelayMs = 300;
      const controller = new AbortController();
      const pending = client.query(['QueryOperations'], { signal: controller.signal });
      setTimeout(() => controller.abort(new Error('user pressed ^C')), 50);
      const aborted = await rejection(pending);
      expect(aborted).to.be.instanceOf(KmipClientError).and.include({ code: 'ABORTED' });
      expect(aborted.message).to.include('user pressed ^C');
      serverDelayMs = 0;
      expect((await client.discoverVersions())[0]).to.equal('2.1');
      expect(client.connections).to.equal(1);
      expect(await rejection(client.query(undefined, { signal: AbortSignal.abort() }))).to.include({ code: 'ABORTED' });

      serverDelayMs = 500;
      const slow = await rejection(client.query(['QueryOperations'], { timeoutMs: 100 }));
      expect(slow).to.be.instanceOf(KmipClientError).and.include({ code: 'TIMEOUT' });
      serverDelayMs = 0;
      expect((await client.discoverVersions())[0]).to.equal('2.1');
    });
  });

  it('a server that accepts TLS but never answers: connect fails with TIMEOUT, not a hang', async () => {
    const certs = developmentPkiPaths(path.join(dir, 'certs'));
    const silent: TlsServer = createTlsServer({ cert: await readFile(certs.server), key: await readFile(certs.serverKey), ca: tls.ca, requestCert: true });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const port = (silent.address() as { port: number }).port;
      const error = await rejection(KmipClient.connect({ host: '127.0.0.1', port, ...tls, requestTimeoutMs: 300 }));
      expect(error).to.be.instanceOf(KmipClientError).and.include({ code: 'TIMEOUT' });
    } finally {
      silent.close();
    }
  });
});
