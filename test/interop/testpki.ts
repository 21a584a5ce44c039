/**
 * Throwaway PKI for the interop harness, made with the `openssl` command line.
 *
 * Temporary: the project's real PKI lives in certs/ and will replace this. The
 * shapes PyKMIP needs are what matter here:
 * - the server certificate has serverAuth and SAN 127.0.0.1 / localhost
 *   (PyKMIP's client checks the chain against its CA file, not the host name);
 * - client certificates carry the clientAuth extended key usage, which
 *   pykmip-server (enable_tls_client_auth=True) insists on;
 * - the client identity PyKMIP's server uses is the certificate's CN.
 * EC P-256 keys: quick to generate, and in the cipher list of PyKMIP's TLS1.2 suite.
 */
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** A certificate and its private key, PEM files. */
export interface CertKeyPair {
  cert: string;
  key: string;
}

export interface TestPki {
  dir: string;
  /** CA certificate (PEM): the trust anchor for both sides. */
  ca: string;
  caKey: string;
  server: CertKeyPair;
  client: CertKeyPair;
}

export interface ClientCertOptions {
  /** Subject CN; PyKMIP's server uses it as the client identity. Default: the file name. */
  commonName?: string;
  /** Include extendedKeyUsage=clientAuth (default true). */
  clientAuthEku?: boolean;
}

async function openssl(args: readonly string[], cwd: string): Promise<void> {
  try {
    await execFileAsync('openssl', [...args], { cwd, timeout: 30_000 });
  } catch (err) {
    const e = err as { stderr?: string; message?: string };
    throw new Error(`openssl ${args.join(' ')} failed: ${e.stderr ?? e.message ?? String(err)}`);
  }
}

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

async function issue(
  dir: string,
  name: string,
  subjectCn: string,
  extensions: readonly string[],
): Promise<CertKeyPair> {
  const key = path.join(dir, `${name}.key`);
  const csr = path.join(dir, `${name}.csr`);
  const cert = path.join(dir, `${name}.crt`);
  const ext = path.join(dir, `${name}.ext`);
  await writeFile(ext, extensions.join('\n') + '\n');
  await openssl(['req', '-new', ...EC_KEY, '-keyout', key, '-out', csr, '-subj', `/CN=${subjectCn}`], dir);
  await openssl(
    [
      'x509', '-req', '-in', csr, '-CA', path.join(dir, 'ca.crt'), '-CAkey', path.join(dir, 'ca.key'),
      '-set_serial', `0x${randomBytes(12).toString('hex')}`, '-days', '2', '-sha256',
      '-extfile', ext, '-out', cert,
    ],
    dir,
  );
  return { cert, key };
}

/** Issue another client certificate signed by the test CA (e.g. a second identity). */
export async function issueTestClientCert(
  pki: TestPki,
  name: string,
  options: ClientCertOptions = {},
): Promise<CertKeyPair> {
  if (!/^[A-Za-z0-9_-]+$/.test(name)) throw new Error(`bad certificate file name ${name}`);
  const ext = ['basicConstraints=critical,CA:FALSE', 'keyUsage=critical,digitalSignature,keyAgreement'];
  if (options.clientAuthEku ?? true) ext.push('extendedKeyUsage=clientAuth');
  return issue(pki.dir, name, options.commonName ?? name, ext);
}

/** Make a CA, a server certificate and one client certificate in `dir` (created if missing). */
export async function createTestPki(dir: string): Promise<TestPki> {
  await mkdir(dir, { recursive: true });
  const ca = path.join(dir, 'ca.crt');
  const caKey = path.join(dir, 'ca.key');
  await openssl(
    [
      'req', '-x509', ...EC_KEY, '-keyout', caKey, '-out', ca, '-days', '2', '-sha256',
      '-subj', '/CN=kmipd interop test CA',
      '-addext', 'basicConstraints=critical,CA:TRUE',
      '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
    ],
    dir,
  );
  const server = await issue(dir, 'server', 'localhost', [
    'basicConstraints=critical,CA:FALSE',
    'keyUsage=critical,digitalSignature,keyAgreement',
    'extendedKeyUsage=serverAuth',
    'subjectAltName=IP:127.0.0.1,DNS:localhost',
  ]);
  const pki: TestPki = { dir, ca, caKey, server, client: { cert: '', key: '' } };
  pki.client = await issueTestClientCert(pki, 'client', { commonName: 'interop-client' });
  return pki;
}
