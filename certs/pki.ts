// The development PKI: one CA, a server certificate and client certificates, written as PEM
// files for `kmipd init`, `kmipd certs client NAME` and the integration tests.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { randomBytes, webcrypto } from 'node:crypto';
import { mkdir, readFile, stat, unlink, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';

/** Absolute paths of the files written by `createDevelopmentPki`. */
export interface PkiPaths {
  dir: string;
  ca: string;
  caKey: string;
  server: string;
  serverKey: string;
  admin: string;
  adminKey: string;
}

export interface DevelopmentPkiOptions {
  /** Extra names for the server certificate; IPv4/IPv6 literals become IP SANs. */
  hostnames?: string[];
  /** Subject CN of the first client certificate, also its file name (default "admin"). */
  adminName?: string;
  /** Validity of the server and admin certificates in days (default 825). */
  days?: number;
}

export interface ClientCertificateOptions {
  /** Validity in days (default 825). */
  days?: number;
}

/** Absolute paths of an issued client certificate and its private key. */
export interface ClientCertificateFiles {
  cert: string;
  key: string;
}

const DEFAULT_LEAF_DAYS = 825;
const CA_YEARS = 10;
const CLOCK_SKEW_MS = 60 * 60 * 1000;
const DAY_MS = 24 * 60 * 60 * 1000;
const CERT_MODE = 0o644;
const KEY_MODE = 0o600;
const DIR_MODE = 0o700;
const CLIENT_NAME = /^[A-Za-z0-9._@-]{1,64}$/;
const RESERVED_NAMES = new Set(['ca', 'server']);

// Passed explicitly so this module never depends on, or changes, x509's global provider.
const crypto = webcrypto as unknown as NonNullable<Parameters<typeof x509.X509CertificateGenerator.create>[1]>;

// RSA 2048, not P-256: every KMIP client accepts it, while ECDSA certificates still fail on older storage arrays and KMIP libraries.
const KEY_ALGORITHM: webcrypto.RsaHashedKeyGenParams = {
  name: 'RSASSA-PKCS1-v1_5',
  modulusLength: 2048,
  publicExponent: new Uint8Array([1, 0, 1]),
  hash: 'SHA-256',
};
const SIGNING_ALGORITHM = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };

type SigningKey = webcrypto.CryptoKey;

interface Authority {
  cert: x509.X509Certificate;
  key: SigningKey;
}

interface LeafProfile {
  commonName: string;
  usage: x509.ExtendedKeyUsage;
  keyUsage: x509.KeyUsageFlags;
  days: number;
  altNames?: x509.JsonGeneralNames;
}

interface NewFile {
  path: string;
  data: string;
  mode: number;
}

/** The file paths of a development PKI in `dir`, whether or not it exists yet. */
export function developmentPkiPaths(dir: string, adminName = 'admin'): PkiPaths {
  const abs = resolve(dir);
  return {
    dir: abs,
    ca: join(abs, 'ca.pem'),
    caKey: join(abs, 'ca-key.pem'),
    server: join(abs, 'server.pem'),
    serverKey: join(abs, 'server-key.pem'),
    admin: join(abs, `${adminName}.pem`),
    adminKey: join(abs, `${adminName}-key.pem`),
  };
}

/**
 * Creates `dir` (mode 0700) with a new CA, a server certificate for this machine and an
 * admin client certificate. Refuses to run where a CA already exists.
 */
export async function createDevelopmentPki(
  dir: string,
  options: DevelopmentPkiOptions = {},
): Promise<PkiPaths> {
  const adminName = options.adminName ?? 'admin';
  validateClientName(adminName);
  const days = validateDays(options.days);
  const altNames = serverAltNames(options.hostnames ?? []);
  const paths = developmentPkiPaths(dir, adminName);

  if ((await exists(paths.ca)) || (await exists(paths.caKey))) {
    throw new Error(`${paths.dir} already holds a CA (ca.pem or ca-key.pem): refusing to overwrite it`);
  }
  for (const path of [paths.server, paths.serverKey, paths.admin, paths.adminKey]) {
    if (await exists(path)) throw new Error(`${path} already exists: refusing to overwrite it`);
  }

  const ca = await createAuthority();
  const server = await issueLeaf(ca, {
    commonName: 'localhost',
    usage: x509.ExtendedKeyUsage.serverAuth,
    keyUsage: x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
    days,
    altNames,
  });
  const admin = await issueLeaf(ca, clientProfile(adminName, days));

  await mkdir(paths.dir, { recursive: true, mode: DIR_MODE });
  await writeNewFiles([
    { path: paths.ca, data: ca.cert.toString('pem'), mode: CERT_MODE },
    { path: paths.caKey, data: await privateKeyPem(ca.key), mode: KEY_MODE },
    { path: paths.server, data: server.cert, mode: CERT_MODE },
    { path: paths.serverKey, data: server.key, mode: KEY_MODE },
    { path: paths.admin, data: admin.cert, mode: CERT_MODE },
    { path: paths.adminKey, data: admin.key, mode: KEY_MODE },
  ]);
  return paths;
}

/**
 * Issues a client certificate with subject CN `name` from the CA in `dir`, written as
 * `NAME.pem` and `NAME-key.pem` (0600). Returns their absolute paths.
 */
export async function issueClientCertificate(
  dir: string,
  name: string,
  options: ClientCertificateOptions = {},
): Promise<ClientCertificateFiles> {
  validateClientName(name);
  const days = validateDays(options.days);
  const paths = developmentPkiPaths(dir, name);
  for (const path of [paths.admin, paths.adminKey]) {
    if (await exists(path)) throw new Error(`${path} already exists: refusing to overwrite client certificate "${name}"`);
  }

  const ca = await loadAuthority(paths);
  const leaf = await issueLeaf(ca, clientProfile(name, days));
  await writeNewFiles([
    { path: paths.admin, data: leaf.cert, mode: CERT_MODE },
    { path: paths.adminKey, data: leaf.key, mode: KEY_MODE },
  ]);
  return { cert: paths.admin, key: paths.adminKey };
}

function clientProfile(name: string, days: number): LeafProfile {
  // PyKMIP's server, with client authentication on, refuses certificates without clientAuth.
  return {
    commonName: name,
    usage: x509.ExtendedKeyUsage.clientAuth,
    keyUsage: x509.KeyUsageFlags.digitalSignature,
    days,
  };
}

function validateClientName(name: string): void {
  if (!CLIENT_NAME.test(name)) {
    throw new Error(
      `invalid client name ${JSON.stringify(name)}: use 1 to 64 letters, digits, ".", "_", "-" or "@"`,
    );
  }
  if (name.startsWith('.') || name.startsWith('-')) {
    throw new Error(`invalid client name "${name}": it must not start with "." or "-"`);
  }
  if (RESERVED_NAMES.has(name.toLowerCase())) {
    throw new Error(`invalid client name "${name}": "${name}.pem" is reserved for the PKI itself`);
  }
  // NAME-key.pem of one client must never be the certificate file of another.
  if (name.toLowerCase().endsWith('-key')) {
    throw new Error(`invalid client name "${name}": names ending in "-key" would clash with key files`);
  }
}

function validateDays(days: number | undefined): number {
  if (days === undefined) return DEFAULT_LEAF_DAYS;
  if (!Number.isInteger(days) || days < 1) {
    throw new Error(`invalid validity ${days}: days must be a positive whole number`);
  }
  return days;
}

function serverAltNames(extra: string[]): x509.JsonGeneralNames {
  const dns = new Map<string, string>();
  const ips = new Set<string>(['127.0.0.1', '::1']);
  for (const name of ['localhost', hostname(), ...extra]) {
    const trimmed = name.trim();
    if (isIP(trimmed) !== 0) {
      ips.add(trimmed);
    } else if (/^[A-Za-z0-9*_]([A-Za-z0-9._-]*[A-Za-z0-9])?$/.test(trimmed)) {
      dns.set(trimmed.toLowerCase(), trimmed);
    } else if (extra.includes(name)) {
      throw new Error(`invalid server host name ${JSON.stringify(name)}`);
    }
    // An unusual os.hostname() is skipped rather than failing `kmipd init`.
  }
  return [
    ...[...dns.values()].map((value) => ({ type: 'dns' as const, value })),
    ...[...ips].map((value) => ({ type: 'ip' as const, value })),
  ];
}

async function generateKeyPair(): Promise<webcrypto.CryptoKeyPair> {
  return webcrypto.subtle.generateKey(KEY_ALGORITHM, true, ['sign', 'verify']);
}

async function privateKeyPem(key: SigningKey): Promise<string> {
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', key);
  return x509.PemConverter.encode(pkcs8, 'PRIVATE KEY');
}

// 16 random bytes, top bit clear (positive) and next bit set (no leading zero is dropped).
function serialNumber(): string {
  const bytes = randomBytes(16);
  bytes[0] = ((bytes[0] ?? 0) & 0x3f) | 0x40;
  return bytes.toString('hex');
}

function commonName(value: string): x509.JsonName {
  return [{ CN: [value] }];
}

async function createAuthority(): Promise<Authority> {
  const keys = await generateKeyPair();
  const notBefore = new Date(Date.now() - CLOCK_SKEW_MS);
  const notAfter = new Date(notBefore);
  notAfter.setUTCFullYear(notAfter.getUTCFullYear() + CA_YEARS);
  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: serialNumber(),
      // The random suffix keeps two installations' CAs apart in trust stores and logs.
      name: commonName(`kmipd development CA ${randomBytes(4).toString('hex')}`),
      notBefore,
      notAfter,
      signingAlgorithm: SIGNING_ALGORITHM,
      keys,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
      ],
    },
    crypto,
  );
  return { cert, key: keys.privateKey };
}

async function loadAuthority(paths: PkiPaths): Promise<Authority> {
  let certPem: string;
  let keyPem: string;
  try {
    certPem = await readFile(paths.ca, 'utf8');
    keyPem = await readFile(paths.caKey, 'utf8');
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new Error(`no development CA in ${paths.dir} (ca.pem and ca-key.pem): ${reason}`);
  }
  const cert = new x509.X509Certificate(certPem);
  const key = await webcrypto.subtle.importKey(
    'pkcs8',
    x509.PemConverter.decodeFirst(keyPem),
    { name: KEY_ALGORITHM.name, hash: KEY_ALGORITHM.hash },
    false,
    ['sign'],
  );
  return { cert, key };
}

async function issueLeaf(ca: Authority, profile: LeafProfile): Promise<{ cert: string; key: string }> {
  const keys = await generateKeyPair();
  const { publicKey } = keys;
  const notBefore = new Date(Date.now() - CLOCK_SKEW_MS);
  // A leaf that outlives its CA is useless: stop at the CA's end.
  const notAfter = new Date(Math.min(notBefore.getTime() + profile.days * DAY_MS, ca.cert.notAfter.getTime()));
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(profile.keyUsage, true),
    new x509.ExtendedKeyUsageExtension([profile.usage], false),
    await x509.SubjectKeyIdentifierExtension.create(publicKey, false, crypto),
    await authorityKeyIdentifier(ca.cert),
  ];
  if (profile.altNames !== undefined) {
    extensions.push(new x509.SubjectAlternativeNameExtension(profile.altNames, false));
  }
  const cert = await x509.X509CertificateGenerator.create(
    {
      serialNumber: serialNumber(),
      subject: commonName(profile.commonName),
      issuer: ca.cert.subjectName,
      notBefore,
      notAfter,
      signingAlgorithm: SIGNING_ALGORITHM,
      publicKey,
      signingKey: ca.key,
      extensions,
    },
    crypto,
  );
  if (!(await cert.verify({ publicKey: ca.cert, signatureOnly: true }, crypto))) {
    throw new Error('ca-key.pem does not match ca.pem: the issued certificate does not verify');
  }
  return { cert: cert.toString('pem'), key: await privateKeyPem(keys.privateKey) };
}

async function authorityKeyIdentifier(caCert: x509.X509Certificate): Promise<x509.AuthorityKeyIdentifierExtension> {
  const ski = caCert.getExtension(x509.SubjectKeyIdentifierExtension);
  if (ski !== null) return new x509.AuthorityKeyIdentifierExtension(ski.keyId, false);
  return x509.AuthorityKeyIdentifierExtension.create(caCert.publicKey, false, crypto);
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if (err instanceof Error && 'code' in err && err.code === 'ENOENT') return false;
    throw err;
  }
}

// All or nothing: 'wx' never replaces a file, and a failure removes what this call wrote.
async function writeNewFiles(files: NewFile[]): Promise<void> {
  const written: string[] = [];
  try {
    for (const file of files) {
      await writeFile(file.path, file.data, { mode: file.mode, flag: 'wx' });
      written.push(file.path);
    }
  } catch (err) {
    await Promise.all(written.map((path) => unlink(path).catch(() => undefined)));
    throw err;
  }
}
