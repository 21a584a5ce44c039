/**
 * Certify on a real kmipd over TLS: the server started by `startServer` on a fresh data
 * folder signs with the issuing CA `kmipd init` made (certs/issuing-ca.pem), and a
 * certificate it issues can never authenticate to kmipd itself, even one whose subject is
 * an administrator's name: the TLS listener trusts only the development CA (certs/ca.pem).
 */
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { expect } from 'chai';
import { KmipClient } from '../../lib/client/client.js';
import { jsonLogger } from '../../lib/log.js';
import { bytes, enumeration, struct } from '../../lib/protocol/build.js';
import { StartError, configWith, initDataDir, startServer } from '../../server/index.js';
import type { RunningServer } from '../../server/index.js';
import { Enum, Tag } from '../../ttlv/index.js';
import type { TtlvItem } from '../../ttlv/index.js';
import { LogCapture, discoverVersions, pkiFiles, removeDir, tempDir } from '../server/helpers.js';

const field = (item: TtlvItem, tag: number): TtlvItem | undefined => (item.type === 'Structure' ? item.value.find((c) => c.tag === tag) : undefined);

describe('Certify on a running kmipd: the issuing CA of the data folder, never trusted for TLS', function () {
  this.timeout(60_000);
  let dir: string;
  let server: RunningServer;
  let client: KmipClient;

  before(async () => {
    dir = await tempDir('certify-server');
    server = await startServer(configWith({ dir, host: '127.0.0.1', port: 0 }), { log: jsonLogger(new LogCapture(), 'info') });
    const files = pkiFiles(dir, 'admin');
    client = await KmipClient.connect({ host: '127.0.0.1', port: server.port, certFile: files.cert, keyFile: files.key, caFile: files.ca, servername: 'localhost', version: '2.1' });
  });
  after(async () => {
    await client?.close();
    await server?.close();
    await removeDir(dir);
  });

  it('a data folder whose issuing CA lost its key does not start, and says which file is missing', async () => {
    const broken = await tempDir('certify-broken');
    try {
      await initDataDir(broken);
      await rm(join(broken, 'certs', 'issuing-ca-key.pem'));
      const error = await startServer(configWith({ dir: broken, host: '127.0.0.1', port: 0 }), { log: jsonLogger(new LogCapture(), 'info') }).then(
        async (started) => {
          await started.close();
          return undefined;
        },
        (e: unknown) => e,
      );
      expect(error).to.be.instanceOf(StartError);
      expect((error as Error).message).to.match(/issuing-ca-key\.pem is missing/);
    } finally {
      await removeDir(broken);
    }
  });

  it('issues a client-auth certificate for CN=admin from a CSR: it chains to issuing-ca.pem, not to ca.pem, and kmipd refuses it at the TLS handshake', async () => {
    const key = join(dir, 'csr-key.pem');
    const csr = execFileSync('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-subj', '/CN=admin', '-addext', 'extendedKeyUsage=clientAuth', '-outform', 'DER'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const certified = await client.call(Enum.Operation.Certify, [enumeration(Tag.CertificateRequestType, Enum.CertificateRequestType.PKCS_10), bytes(Tag.CertificateRequestValue, csr), struct(Tag.Attributes, [])]);
    const id = field(certified, Tag.UniqueIdentifier);
    expect(id?.type).to.equal('TextString');
    const got = await client.call(Enum.Operation.Get, [id as TtlvItem]);
    const value = field(field(got, Tag.Certificate) ?? got, Tag.CertificateValue);
    const der = value?.type === 'ByteString' ? Buffer.from(value.value) : Buffer.alloc(0);
    const issued = new X509Certificate(der);
    const issuing = new X509Certificate(await readFile(join(dir, 'certs', 'issuing-ca.pem')));
    const tlsCa = new X509Certificate(await readFile(join(dir, 'certs', 'ca.pem')));
    expect(issued.subject).to.equal('CN=admin');
    expect(issued.verify(issuing.publicKey)).to.equal(true);
    expect(issued.verify(tlsCa.publicKey)).to.equal(false);

    const answered = async (cert: string | Buffer, privateKey: Buffer): Promise<number> => {
      const socket = connect({ host: '127.0.0.1', port: server.port, cert, key: privateKey, ca: tlsCa.toString(), servername: 'localhost' });
      let received = 0;
      socket.on('secureConnect', () => socket.write(discoverVersions()));
      socket.on('data', (chunk: Buffer) => {
        received += chunk.length;
        socket.end();
      });
      socket.on('error', () => undefined);
      const timer = setTimeout(() => socket.destroy(), 10_000);
      await new Promise<void>((resolve) => socket.once('close', () => resolve()));
      clearTimeout(timer);
      return received;
    };
    // The same probe with the real administrator's certificate is answered.
    const admin = pkiFiles(dir, 'admin');
    expect(await answered(await readFile(admin.cert), await readFile(admin.key))).to.be.greaterThan(0);
    const received = await answered(issued.toString(), await readFile(key));
    expect(received, 'no KMIP byte answers a certificate from the issuing CA').to.equal(0);
  });
});
