// The issuing CA of Certify and Re-certify: kept apart from the development CA that
// authenticates TLS clients, so a certificate issued through KMIP can never log in to kmipd.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { createPrivateKey, createPublicKey, randomBytes, webcrypto } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';

/** The issuing CA's files inside a certificates folder (a data folder's `certs/`). */
export interface IssuingCaPaths {
  readonly certificate: string;
  readonly key: string;
}

/** The issuing CA loaded: certificate (DER) and private key. */
export interface IssuingCa {
  readonly certificate: Buffer;
  readonly privateKey: KeyObject;
}

const CA_YEARS = 10;
const CLOCK_SKEW_MS = 60 * 60 * 1000;

const crypto = webcrypto as unknown as NonNullable<Parameters<typeof x509.X509CertificateGenerator.create>[1]>;

// RSA 3072: a ten-year CA outlives 2030, after which NIST SP 800-57 retires 2048-bit RSA.
const KEY_ALGORITHM: webcrypto.RsaHashedKeyGenParams = {
  name: 'RSASSA-PKCS1-v1_5',
  modulusLength: 3072,
  publicExponent: new Uint8Array([1, 0, 1]),
  hash: 'SHA-256',
};

export function issuingCaPaths(certsDir: string): IssuingCaPaths {
  const dir = resolve(certsDir);
  return { certificate: join(dir, 'issuing-ca.pem'), key: join(dir, 'issuing-ca-key.pem') };
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Creates the issuing CA in `certsDir` (which must exist) unless it is there; loads it.
 * Refuses a half-present pair rather than overwriting either file.
 */
export async function ensureIssuingCa(certsDir: string): Promise<IssuingCa> {
  const paths = issuingCaPaths(certsDir);
  const [hasCert, hasKey] = await Promise.all([exists(paths.certificate), exists(paths.key)]);
  if (hasCert !== hasKey) {
    throw new Error(`${hasCert ? paths.key : paths.certificate} is missing beside ${hasCert ? paths.certificate : paths.key}: restore it, or move both away to make a new issuing CA`);
  }
  if (!hasCert) await createIssuingCa(paths);
  return loadIssuingCa(certsDir);
}

async function createIssuingCa(paths: IssuingCaPaths): Promise<void> {
  const keys = await webcrypto.subtle.generateKey(KEY_ALGORITHM, true, ['sign', 'verify']);
  const notBefore = new Date(Date.now() - CLOCK_SKEW_MS);
  const notAfter = new Date(notBefore);
  notAfter.setUTCFullYear(notAfter.getUTCFullYear() + CA_YEARS);
  const serial = randomBytes(16);
  serial[0] = ((serial[0] ?? 0) & 0x3f) | 0x40;
  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: serial.toString('hex'),
      // The random suffix keeps two installations' CAs apart in trust stores and logs.
      name: [{ CN: [`kmipd issuing CA ${randomBytes(4).toString('hex')}`] }],
      notBefore,
      notAfter,
      signingAlgorithm: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
      keys,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
      ],
    },
    crypto,
  );
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  // The key first, so that a certificate never stands without its key; 'wx' never overwrites.
  await writeFile(paths.key, x509.PemConverter.encode(pkcs8, 'PRIVATE KEY'), { mode: 0o600, flag: 'wx' });
  await writeFile(paths.certificate, cert.toString('pem'), { mode: 0o644, flag: 'wx' });
}

export async function loadIssuingCa(certsDir: string): Promise<IssuingCa> {
  const paths = issuingCaPaths(certsDir);
  const [certPem, keyPem] = await Promise.all([readFile(paths.certificate, 'utf8'), readFile(paths.key, 'utf8')]);
  const certificate = new x509.X509Certificate(certPem);
  const privateKey = createPrivateKey(keyPem);
  const publicKey = createPublicKey({ key: Buffer.from(certificate.publicKey.rawData), format: 'der', type: 'spki' });
  if (!publicKey.equals(createPublicKey(privateKey))) throw new Error(`${paths.key} is not the key of ${paths.certificate}`);
  return { certificate: Buffer.from(certificate.rawData), privateKey };
}
