/**
 * The key-encryption key kmipd serves with: the data folder's file, or a key held in an
 * HSM over PKCS#11 (DESIGN.md decision 3).
 */
import { stat, readFile } from 'node:fs/promises';
import { loadKekFile, openPkcs11Kek, Pkcs11KekError } from '../lib/crypto/index.js';
import type { KeyEncryptionKey } from '../lib/crypto/index.js';
import type { Logger } from '../lib/log.js';
import type { KmipdConfig } from './config.js';
import { StartError } from './errors.js';

export interface OpenedKek {
  readonly kek: KeyEncryptionKey;
  /** Forget the key: wipe the file key, or log out of the token. */
  close(): Promise<void>;
}

/**
 * Open the configured KEK. An HSM key is generated in the token only when the data folder
 * is new (`fresh`): on an existing folder a missing key means a wrong label or token, and
 * a new key would make every stored object unreadable.
 */
export async function openConfiguredKek(config: KmipdConfig, kekFile: string, fresh: boolean, log: Logger): Promise<OpenedKek> {
  if (config.kek !== 'pkcs11') {
    const kek = await loadKekFile(kekFile);
    return { kek, close: async () => kek.wipe() };
  }
  const { pkcs11Module, pkcs11TokenLabel, pkcs11PinFile, pkcs11KeyLabel } = config;
  if (pkcs11Module === undefined || pkcs11TokenLabel === undefined || pkcs11PinFile === undefined) {
    throw new StartError('kek "pkcs11" needs pkcs11Module, pkcs11TokenLabel and pkcs11PinFile');
  }
  const pin = await readPinFile(pkcs11PinFile);
  const options = { module: pkcs11Module, tokenLabel: pkcs11TokenLabel, pin, keyLabel: pkcs11KeyLabel };
  try {
    const kek = await openPkcs11Kek(options);
    log.info('key-encryption key opened', { kek: 'pkcs11', id: kek.id, token: pkcs11TokenLabel, key: pkcs11KeyLabel });
    return { kek, close: () => kek.close() };
  } catch (error) {
    if (!(fresh && error instanceof Pkcs11KekError && error.reason === 'KEY_NOT_FOUND')) throw error;
    const kek = await openPkcs11Kek({ ...options, create: true });
    log.info('key-encryption key generated in the HSM', { kek: 'pkcs11', id: kek.id, token: pkcs11TokenLabel, key: pkcs11KeyLabel });
    return { kek, close: () => kek.close() };
  }
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
