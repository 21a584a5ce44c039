/**
 * Transport security of a real kmipd: a client whose certificate the configured CRL revokes is
 * refused at the handshake, before any KMIP, while another client is served; the CRL file is
 * read again when it changes; only forward-secret AEAD suites are accepted by default; TLS
 * versions and groups follow the settings; a certificate's OUs become identity groups.
 */
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { expect } from 'chai';
import { X509Certificate, webcrypto } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Enum } from '../../ttlv/index.js';
import { jsonLogger } from '../../lib/log.js';
import type { RunningServer } from '../../server/index.js';
import { configWith, initDataDir, issueClient, startServer } from '../../server/index.js';
import { identityResolver } from '../../server/identity.js';
import type { CertificateNames } from '../../server/identity.js';
import { LogCapture, TestClient, answer, attempt, discoverVersions, eventually, pkiFiles, removeDir, tempDir } from '../server/helpers.js';

const crypto = webcrypto as unknown as NonNullable<Parameters<typeof x509.X509CrlGenerator.create>[1]>;

/** A CRL of the data folder's CA listing `revoked` (certificate files), valid for a day. */
async function writeCrl(dir: string, path: string, revoked: readonly string[], nextUpdate = new Date(Date.now() + 86_400_000)): Promise<void> {
  const ca = new x509.X509Certificate(await readFile(join(dir, 'certs', 'ca.pem'), 'utf8'));
  const keyDer = x509.PemConverter.decodeFirst(await readFile(join(dir, 'certs', 'ca-key.pem'), 'utf8'));
  const signingKey = await webcrypto.subtle.importKey('pkcs8', keyDer, { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, false, ['sign']);
  const entries = await Promise.all(revoked.map(async (file) => ({ serialNumber: new X509Certificate(await readFile(file)).serialNumber, revocationDate: new Date(Date.now() - 60_000) })));
  const crl = await x509.X509CrlGenerator.create(
    { issuer: ca.subject, thisUpdate: new Date(Date.now() - 60_000), nextUpdate, signingAlgorithm: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, signingKey, entries },
    crypto,
  );
  // OpenSSL reads the PEM label X509 CRL.
  await writeFile(path, x509.PemConverter.encode(crl.rawData, 'X509 CRL'));
}

describe('TLS: client certificate revocation (CRL), cipher suites and versions', function () {
  this.timeout(60_000);
  let dir: string;
  let server: RunningServer | undefined;
  let logs: LogCapture;

  before(async () => {
    dir = await tempDir('tls');
    await initDataDir(dir);
    await issueClient(dir, 'alice');
    await issueClient(dir, 'bob');
  });
  after(async () => {
    await removeDir(dir);
  });
  afterEach(async () => {
    await server?.destroy();
    server = undefined;
  });

  const start = async (settings: Parameters<typeof configWith>[0] = {}): Promise<RunningServer> => {
    logs = new LogCapture();
    server = await startServer(configWith({ dir, host: '127.0.0.1', port: 0, ...settings }), { log: jsonLogger(logs, 'debug') });
    return server;
  };

  it('a client the CRL revokes is refused before any KMIP; another client is served; a new CRL is read without a restart', async () => {
    const crlFile = join(dir, 'revoked.crl');
    await writeCrl(dir, crlFile, [pkiFiles(dir, 'bob').cert]);
    const running = await start({ tlsCrlFile: crlFile, tlsCrlCheckSeconds: 1 });

    const bob = await attempt(running.port, pkiFiles(dir, 'bob'), discoverVersions());
    expect(bob.received, 'bytes answered to the revoked client').to.equal(0);
    await eventually(() => logs.find('connection refused').some((l) => String(l.reason).includes('CERT_REVOKED') || String(l.reason).includes('revoked')), 5000, 'the refusal log line');

    const alice = await TestClient.connect(running.port, pkiFiles(dir, 'alice'));
    expect(answer(await alice.call(discoverVersions())).status).to.equal(Enum.ResultStatus.Success);
    alice.close();

    // The CA lifts bob's revocation and revokes alice: the file is polled and reloaded.
    const before = logs.find('certificate revocation list reloaded').length;
    await new Promise((resolve) => setTimeout(resolve, 1100)); // a distinct mtime
    await writeCrl(dir, crlFile, [pkiFiles(dir, 'alice').cert]);
    await eventually(() => logs.find('certificate revocation list reloaded').length > before, 10_000, 'the CRL reload');
    expect((await attempt(running.port, pkiFiles(dir, 'alice'), discoverVersions())).received).to.equal(0);
    const bobAgain = await TestClient.connect(running.port, pkiFiles(dir, 'bob'));
    expect(answer(await bobAgain.call(discoverVersions())).status).to.equal(Enum.ResultStatus.Success);
    bobAgain.close();
  });

  it('an expired CRL refuses every client (fail closed)', async () => {
    const crlFile = join(dir, 'expired.crl');
    await writeCrl(dir, crlFile, [], new Date(Date.now() - 1000));
    const running = await start({ tlsCrlFile: crlFile });
    expect((await attempt(running.port, pkiFiles(dir, 'alice'), discoverVersions())).received).to.equal(0);
  });

  it('by default only forward-secret AEAD suites: a TLS 1.2 client offering RSA key exchange or CBC is refused', async () => {
    const running = await start();
    for (const ciphers of ['AES128-GCM-SHA256', 'ECDHE-RSA-AES128-SHA256', 'AES256-SHA']) {
      const refused = await TestClient.connect(running.port, pkiFiles(dir, 'alice'), { maxVersion: 'TLSv1.2', ciphers }).then(
        () => undefined,
        (error: Error & { code?: string }) => error.code ?? error.message,
      );
      expect(refused, ciphers).to.not.equal(undefined);
    }
    const ok = await TestClient.connect(running.port, pkiFiles(dir, 'alice'), { maxVersion: 'TLSv1.2', ciphers: 'ECDHE-RSA-AES256-GCM-SHA384' });
    expect(ok.socket.getCipher().name).to.equal('ECDHE-RSA-AES256-GCM-SHA384');
    expect(ok.socket.getProtocol()).to.equal('TLSv1.2');
    ok.close();
    const tls13 = await TestClient.connect(running.port, pkiFiles(dir, 'alice'));
    expect(tls13.socket.getProtocol()).to.equal('TLSv1.3');
    tls13.close();
  });

  it('tlsMaxVersion TLSv1.2 and a chosen suite and group are what the server negotiates; a bad cipher list stops the start', async () => {
    const running = await start({ tlsMaxVersion: 'TLSv1.2', tlsCiphers: 'ECDHE-RSA-AES128-GCM-SHA256', tlsEcdhCurves: 'P-384' });
    const client = await TestClient.connect(running.port, pkiFiles(dir, 'alice'));
    expect(client.socket.getProtocol()).to.equal('TLSv1.2');
    expect(client.socket.getCipher().name).to.equal('ECDHE-RSA-AES128-GCM-SHA256');
    expect(client.socket.getEphemeralKeyInfo()).to.deep.include({ type: 'ECDH', name: 'secp384r1' });
    client.close();
    await server?.destroy();
    server = undefined;
    const failed = await startServer(configWith({ dir, host: '127.0.0.1', port: 0, tlsCiphers: 'NO-SUCH-CIPHER' }), { log: jsonLogger(new LogCapture(), 'info') }).then(
      (s) => s.destroy().then(() => 'started'),
      (error: Error) => error.message,
    );
    expect(failed).to.match(/tlsCiphers/);
  });

  it("the certificate's OUs are identity groups with groupsFromCertificate subject-ou; configured groups add to them", () => {
    const cert = (subject: Record<string, string | string[]>): CertificateNames => ({ subject, subjectaltname: '', raw: Buffer.alloc(0) }) as unknown as CertificateNames;
    const resolve = identityResolver({ source: 'subject-cn', admins: [], groups: { dba: ['alice'], ops: ['alice', 'bob'] }, groupsFromCertificate: 'subject-ou' });
    expect(resolve(cert({ CN: 'alice', OU: ['payments', 'storage'] }))).to.deep.equal({ ok: true, identity: { name: 'alice', admin: false, groups: ['dba', 'ops', 'payments', 'storage'] } });
    expect(resolve(cert({ CN: 'carol', OU: 'storage' }))).to.deep.equal({ ok: true, identity: { name: 'carol', admin: false, groups: ['storage'] } });
    const configuredOnly = identityResolver({ source: 'subject-cn', admins: [], groups: { dba: ['alice'] } });
    expect(configuredOnly(cert({ CN: 'alice', OU: 'storage' }))).to.deep.equal({ ok: true, identity: { name: 'alice', admin: false, groups: ['dba'] } });
    expect(configuredOnly(cert({ CN: 'zed' }))).to.deep.equal({ ok: true, identity: { name: 'zed', admin: false } });
  });
});
