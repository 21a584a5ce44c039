/**
 * The key-encryption key kmipd serves with: the data folder's file, or a key held in an
 * HSM over PKCS#11 (DESIGN.md decision 3). Either way it comes as a KekRing, so that a KEK
 * rotation (`kmipd kek rotate`) can run while the server serves: the ring loads the other
 * KEKs the store lists when a value needs them.
 */
import { readdir, stat, readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { KekError, KekRing, loadKekFile, openPkcs11Kek, Pkcs11KekError } from '../lib/crypto/index.js';
import type { FileKek, KekLoader, KeyEncryptionKey, LoadedKek } from '../lib/crypto/index.js';
import { CachingKek } from '../lib/crypto/unwrap-cache.js';
import { HsmKeys } from '../lib/crypto/pkcs11/resident.js';
import type { HsmContext } from '../lib/operations/types.js';
import type { UnwrapCacheLimits } from '../lib/crypto/unwrap-cache.js';
import type { Logger } from '../lib/log.js';
import type { KmipdConfig } from './config.js';
import { StartError } from './errors.js';

export interface OpenedKek {
  readonly kek: KeyEncryptionKey;
  /** Forget the keys: wipe file keys, log out of the token. */
  close(): Promise<void>;
}

/** The PKCS#11 settings of `config`, with the PIN read from its file; undefined without a module. */
export interface HsmAccess {
  readonly module: string;
  readonly tokenLabel: string;
  readonly pin: string;
  readonly keyLabel: string;
}

/**
 * Open the configured KEK. An HSM key is generated in the token only when the data folder
 * is new (`fresh`): on an existing folder a missing key means a wrong label or token, and
 * a new key would make every stored object unreadable.
 */
export async function openConfiguredKek(config: KmipdConfig, kekFile: string, fresh: boolean, log: Logger): Promise<OpenedKek> {
  const dir = dirname(kekFile);
  if (config.kek !== 'pkcs11') {
    const kek = await loadKekFile(kekFile);
    // An HSM also configured: the store may list HSM KEKs too (a rotation from or to the HSM).
    const hsmConfigured = config.pkcs11Module !== undefined && config.pkcs11TokenLabel !== undefined && config.pkcs11PinFile !== undefined;
    const hsm = hsmConfigured ? await hsmAccess(config) : undefined;
    // RFC 5649 unwrap runs OpenSSL's AES one 64-bit block at a time (~30 us for a 120-byte
    // body, a sixth of a Get): with kekCacheFile, hot keys come from the bounded cache an HSM KEK uses.
    const cached = new CachingKek(kek, fileKekCacheLimits(config));
    const ring = new KekRing({ kek: cached, kind: 'file', ref: basename(kekFile), close: async () => closeCachedFile(cached, kek) }, kekLoader(dir, hsm, unwrapCacheLimits(config), fileKekCacheLimits(config)));
    return { kek: ring, close: () => ring.close() };
  }
  const hsm = await hsmAccess(config);
  let kek;
  try {
    kek = await openPkcs11Kek(hsm);
    log.info('key-encryption key opened', { kek: 'pkcs11', id: kek.id, token: hsm.tokenLabel, key: hsm.keyLabel });
  } catch (error) {
    if (!(fresh && error instanceof Pkcs11KekError && error.reason === 'KEY_NOT_FOUND')) throw error;
    kek = await openPkcs11Kek({ ...hsm, create: true });
    log.info('key-encryption key generated in the HSM', { kek: 'pkcs11', id: kek.id, token: hsm.tokenLabel, key: hsm.keyLabel });
  }
  const opened = kek;
  // Every load of a key unwraps through the HSM worker: a bounded cache serves hot keys.
  const cached = new CachingKek(opened, unwrapCacheLimits(config));
  const ring = new KekRing({ kek: cached, kind: 'pkcs11', ref: hsm.keyLabel, close: () => closeCached(cached, opened) }, kekLoader(dir, hsm, unwrapCacheLimits(config), fileKekCacheLimits(config)));
  return { kek: ring, close: () => ring.close() };
}

/** The configured PKCS#11 module, token, key label and PIN (read from the PIN file). */
export async function hsmAccess(config: KmipdConfig): Promise<HsmAccess> {
  const { pkcs11Module, pkcs11TokenLabel, pkcs11PinFile, pkcs11KeyLabel } = config;
  if (pkcs11Module === undefined || pkcs11TokenLabel === undefined || pkcs11PinFile === undefined) {
    throw new StartError('kek "pkcs11" needs pkcs11Module, pkcs11TokenLabel and pkcs11PinFile');
  }
  return { module: pkcs11Module, tokenLabel: pkcs11TokenLabel, pin: await readPinFile(pkcs11PinFile), keyLabel: pkcs11KeyLabel };
}

/**
 * Finds the KEKs a store lists: a file KEK is any `kek*.key` of the data folder whose
 * fingerprint is the id (so renaming the files never loses one, and another node's copy
 * may have another name); an HSM KEK is the key with the listed label in the configured token.
 */
export function kekLoader(dir: string, hsm: HsmAccess | undefined, cache?: UnwrapCacheLimits, fileCache: UnwrapCacheLimits | undefined = cache): KekLoader {
  return async (record): Promise<LoadedKek> => {
    if (record.kind === 'pkcs11') {
      if (hsm === undefined) {
        throw new KekError('KEK_UNKNOWN', `KEK ${record.id} is the HSM key "${record.ref}", but no PKCS#11 module is configured (pkcs11Module, pkcs11TokenLabel, pkcs11PinFile)`);
      }
      const kek = await openPkcs11Kek({ ...hsm, keyLabel: record.ref });
      if (cache === undefined) return { kek, close: () => kek.close() };
      const cached = new CachingKek(kek, cache);
      return { kek: cached, close: () => closeCached(cached, kek) };
    }
    const names = (await readdir(dir)).filter((name) => /^kek.*\.key$/.test(name));
    // The recorded name first: usually it is the right file.
    names.sort((a, b) => Number(b === record.ref) - Number(a === record.ref));
    for (const name of names) {
      const kek = await loadKekFile(join(dir, name));
      if (kek.id === record.id) {
        if (fileCache === undefined) return { kek, close: async () => kek.wipe() };
        const cached = new CachingKek(kek, fileCache);
        return { kek: cached, close: async () => closeCachedFile(cached, kek) };
      }
      kek.wipe();
    }
    throw new KekError(
      'KEK_UNKNOWN',
      `KEK ${record.id} (recorded as ${record.ref}) is not in ${dir}: stored keys wrapped under it cannot be read until its key file is back there (any name kek*.key, mode 0600)`,
    );
  };
}

/** The unwrap cache settings of a file KEK: those of an HSM KEK with kekCacheFile, none without. */
export function fileKekCacheLimits(config: KmipdConfig): UnwrapCacheLimits {
  return config.kekCacheFile ? unwrapCacheLimits(config) : { ...unwrapCacheLimits(config), maxEntries: 0 };
}

/** The unwrap cache settings of an HSM KEK (lib/crypto/unwrap-cache.ts). */
export function unwrapCacheLimits(config: KmipdConfig): UnwrapCacheLimits {
  return { maxEntries: config.kekCacheKeys, maxBytes: config.kekCacheBytes, ttlMs: config.kekCacheSeconds * 1000 };
}

async function closeCached(cached: CachingKek, kek: { close(): Promise<void> }): Promise<void> {
  cached.clear();
  await kek.close();
}

function closeCachedFile(cached: CachingKek, kek: FileKek): void {
  cached.clear();
  kek.wipe();
}

/** The PIN file must be as private as a key file. */
async function readPinFile(path: string): Promise<string> {
  const info = await stat(path).catch(() => {
    throw new StartError(`cannot read the PKCS#11 PIN file ${path}`);
  });
  if ((info.mode & 0o077) !== 0) throw new StartError(`the PKCS#11 PIN file ${path} is readable by others: run chmod 600 ${path}`);
  const pin = (await readFile(path, 'utf8')).trim();
  if (pin === '') throw new StartError(`the PKCS#11 PIN file ${path} is empty`);
  return pin;
}

/**
 * The HSM for keys held in it and for the PKCS#11 operation, when the pkcs11 settings are
 * given (whatever the KEK is: keys made in the HSM stay usable if hsmResidentKeys is turned off).
 */
export async function openConfiguredHsm(config: KmipdConfig): Promise<HsmContext | undefined> {
  if (config.pkcs11Module === undefined || config.pkcs11TokenLabel === undefined || config.pkcs11PinFile === undefined) return undefined;
  const access = await hsmAccess(config);
  const keys = await HsmKeys.open({ module: access.module, tokenLabel: access.tokenLabel, pin: access.pin });
  return { keys, resident: config.hsmResidentKeys };
}
