/**
 * `kmipd init --hsm`: a data folder whose key-encryption key is a new non-extractable
 * AES-256 key generated in an HSM token (PKCS#11), and a configuration file beside it, so
 * that `kmipd serve --config <dir>/kmipd.json` is the second and last command.
 */
import { open } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { silentLogger } from '../lib/log.js';
import { Pkcs11KekError, openPkcs11Kek } from '../lib/crypto/index.js';
import { configWith } from './config.js';
import type { KmipdConfig } from './config.js';
import { DataDirError, initDataDir } from './datadir.js';
import { hsmAccess, openConfiguredKek } from './kek.js';
import { openConfiguredStore } from './store.js';

export interface HsmInitOptions {
  readonly module: string;
  readonly tokenLabel: string;
  readonly pinFile: string;
  readonly keyLabel?: string | undefined;
  readonly hostnames?: readonly string[];
}

/** The configuration file `init --hsm` writes in the data folder. */
export const HSM_CONFIG_FILE = 'kmipd.json';

export async function runInitHsm(dir: string, options: HsmInitOptions): Promise<string> {
  const values: Partial<KmipdConfig> = {
    dir: resolve(dir),
    kek: 'pkcs11',
    pkcs11Module: resolve(options.module),
    pkcs11TokenLabel: options.tokenLabel,
    pkcs11PinFile: resolve(options.pinFile),
    ...(options.keyLabel === undefined ? {} : { pkcs11KeyLabel: options.keyLabel }),
  };
  const config = configWith(values);
  const hsm = await hsmAccess(config); // the PIN file is checked before anything is created
  const { paths, pki } = await initDataDir(dir, { hostnames: options.hostnames ?? [] });
  // The key is generated only if the token has none with this label: an existing one may be
  // another server's KEK, and taking it over silently would mix two deployments' keys.
  let opened;
  try {
    const created = await openPkcs11Kek({ ...hsm, create: true });
    await created.close();
    opened = await openConfiguredKek(config, paths.kek, false, silentLogger);
  } catch (error) {
    if (error instanceof Pkcs11KekError) throw new DataDirError(`the HSM refused: ${error.message} (${paths.dir} was created, without an HSM KEK: remove it before trying again)`);
    throw error;
  }
  try {
    // Opening the store lists the HSM key as the active KEK of the new database.
    const store = await openConfiguredStore(config, paths.database, opened.kek, silentLogger);
    await store.close();
    const kekId = opened.kek.id;
    const configPath = join(paths.dir, HSM_CONFIG_FILE);
    const settings = {
      dir: values.dir,
      kek: 'pkcs11',
      pkcs11Module: values.pkcs11Module,
      pkcs11TokenLabel: values.pkcs11TokenLabel,
      pkcs11KeyLabel: config.pkcs11KeyLabel,
      pkcs11PinFile: values.pkcs11PinFile,
    };
    const handle = await open(configPath, 'wx', 0o600);
    try {
      await handle.writeFile(`${JSON.stringify(settings, null, 2)}\n`);
      await handle.sync();
    } finally {
      await handle.close();
    }
    return [
      `initialised ${paths.dir} with its key-encryption key in the HSM`,
      `  KEK                  ${kekId}: AES-256 key "${config.pkcs11KeyLabel}" on token "${options.tokenLabel}" (non-extractable, never leaves the HSM)`,
      `  configuration        ${configPath}`,
      `  database             ${paths.database}`,
      `  CA certificate       ${pki.ca}`,
      `  admin client         ${pki.admin} (key ${pki.adminKey})`,
      `start the server with: kmipd serve --config ${configPath}`,
      '',
    ].join('\n');
  } finally {
    await opened.close();
  }
}
