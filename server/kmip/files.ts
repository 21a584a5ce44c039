/**
 * Bytes in and out of the `kmip` command: hex or files for data, key and certificate
 * files in raw, PEM or DER form for Register, and secrets written only to new files.
 */
import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { KeyMaterial } from '../../lib/crypto/index.js';
import type { ManagedObjectInput } from '../../lib/client/index.js';
import { UsageError } from './errors.js';

export function hexBytes(hex: string, option: string): Buffer {
  const digits = hex.replace(/\s+/g, '').replace(/^0x/i, '');
  if (!/^(?:[0-9a-fA-F]{2})*$/.test(digits)) throw new UsageError(`--${option} needs hex digits, two for each byte`);
  return Buffer.from(digits, 'hex');
}

export async function readInput(path: string, option: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message;
    throw new UsageError(`cannot read --${option} ${path}: ${reason}`);
  }
}

/** The data of a command from exactly one of --hex and --file. */
export async function inputBytes(args: { readonly hex?: string | undefined; readonly file?: string | undefined }): Promise<Buffer> {
  if (args.hex !== undefined && args.file === undefined) return hexBytes(args.hex, 'hex');
  if (args.file === undefined || args.hex !== undefined) throw new UsageError('give the data with exactly one of --hex HEX and --file FILE');
  return readInput(args.file, 'file');
}

/**
 * Secret bytes go to a new file only its owner can read: an existing file would keep its
 * own, perhaps wider, permissions.
 */
export async function writeSecret(path: string, bytes: Uint8Array): Promise<void> {
  try {
    await writeFile(path, bytes, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    const exists = (error as NodeJS.ErrnoException).code === 'EEXIST';
    throw new UsageError(`cannot write --out ${path}: ${exists ? 'the file exists (kmip writes secrets only to a new file)' : (error as Error).message}`);
  }
}

/** DER bytes in PEM armour. */
export function pem(label: string, der: Uint8Array): string {
  const base64 = Buffer.from(der).toString('base64').replace(/.{1,64}/g, '$&\n');
  return `-----BEGIN ${label}-----\n${base64}-----END ${label}-----\n`;
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/;

export type FileKind = 'certificate' | 'private-key' | 'public-key' | 'raw';

/** A key or certificate file, told apart by its PEM label or, for DER, by what parses. */
export interface ParsedFile {
  readonly kind: FileKind;
  readonly object: ManagedObjectInput | undefined;
  /** For raw files: the bytes. */
  readonly bytes: Buffer;
}

function asymmetric(key: KeyObject, type: 'PrivateKey' | 'PublicKey'): ManagedObjectInput {
  const details = key.asymmetricKeyDetails ?? {};
  const family = key.asymmetricKeyType;
  const algorithm = family === 'rsa' || family === 'rsa-pss' ? 'RSA' : family === 'ec' ? 'ECDSA' : family === 'ed25519' ? 'Ed25519' : family === 'ed448' ? 'Ed448' : undefined;
  if (algorithm === undefined) throw new UsageError(`${family ?? 'this'} keys are not registered by kmip: RSA, EC, Ed25519 and Ed448 are`);
  const curveBits: Record<string, number> = { prime256v1: 256, secp384r1: 384, secp521r1: 521, 'P-256': 256, 'P-384': 384, 'P-521': 521 };
  const length = details.modulusLength ?? (details.namedCurve === undefined ? undefined : curveBits[details.namedCurve]) ?? (family === 'ed25519' ? 256 : 456);
  // Private keys go as PKCS#8, public keys as SubjectPublicKeyInfo (Key Format Type X.509).
  const material = type === 'PrivateKey' ? key.export({ format: 'der', type: 'pkcs8' }) : key.export({ format: 'der', type: 'spki' });
  return { type, material, format: type === 'PrivateKey' ? 'PKCS_8' : 'X_509', algorithm, length };
}

/** What a file holds: a PEM or DER certificate or key, or raw bytes. */
export function parseKeyFile(bytes: Buffer): ParsedFile {
  try {
    return parseKeyBytes(bytes);
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError(`not a readable certificate or key: ${(error as Error).message}`);
  }
}

function parseKeyBytes(bytes: Buffer): ParsedFile {
  const text = bytes.toString('latin1');
  const block = PEM_BLOCK.exec(text);
  if (block !== null) {
    const label = block[1] ?? '';
    if (label === 'CERTIFICATE' || label === 'X509 CERTIFICATE') {
      return { kind: 'certificate', object: { type: 'Certificate', value: new X509Certificate(text).raw }, bytes };
    }
    if (label.endsWith('PRIVATE KEY')) {
      if (label.includes('ENCRYPTED')) throw new UsageError('the private key is encrypted: decrypt it first (openssl pkey -in FILE -out PLAIN)');
      return { kind: 'private-key', object: asymmetric(createPrivateKey(text), 'PrivateKey'), bytes };
    }
    if (label.endsWith('PUBLIC KEY')) return { kind: 'public-key', object: asymmetric(createPublicKey(text), 'PublicKey'), bytes };
    throw new UsageError(`PEM "${label}" blocks are not registered by kmip: CERTIFICATE, PRIVATE KEY and PUBLIC KEY are`);
  }
  // DER: a certificate, a PKCS#8 or PKCS#1 private key, a SubjectPublicKeyInfo; else raw bytes.
  if (bytes.length > 32 && bytes[0] === 0x30) {
    const attempts: (() => ParsedFile)[] = [
      () => ({ kind: 'certificate', object: { type: 'Certificate', value: new X509Certificate(bytes).raw }, bytes }),
      () => ({ kind: 'private-key', object: asymmetric(createPrivateKey({ key: bytes, format: 'der', type: 'pkcs8' }), 'PrivateKey'), bytes }),
      () => ({ kind: 'private-key', object: asymmetric(createPrivateKey({ key: bytes, format: 'der', type: 'pkcs1' }), 'PrivateKey'), bytes }),
      () => ({ kind: 'public-key', object: asymmetric(createPublicKey({ key: bytes, format: 'der', type: 'spki' }), 'PublicKey'), bytes }),
    ];
    for (const attempt of attempts) {
      try {
        return attempt();
      } catch (error) {
        if (error instanceof UsageError) throw error;
      }
    }
  }
  return { kind: 'raw', object: undefined, bytes };
}

/** Wipe a clear copy of secret bytes when done with it. */
export function wipe(bytes: Buffer): void {
  new KeyMaterial(bytes).wipe();
}
