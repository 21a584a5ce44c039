/**
 * What the operational commands (`kmipd kek`, `kmipd backup`, `kmipd restore`) share: the
 * configuration as `serve` reads it, and the store and KEK of an existing data folder (or
 * PostgreSQL database) opened alongside a running server, never initialising anything.
 */
import { silentLogger } from '../lib/log.js';
import { isMaintenanceStore } from '../lib/store/index.js';
import type { MaintenanceStore } from '../lib/store/index.js';
import { KekRing } from '../lib/crypto/index.js';
import { SETTINGS, SETTING_KEYS, loadConfig } from './config.js';
import type { KmipdConfig, SettingKey } from './config.js';
import { DataDirError, dataPaths, inspectDataDir } from './datadir.js';
import type { DataPaths } from './datadir.js';
import { openConfiguredKek } from './kek.js';
import { openConfiguredStore } from './store.js';

/** The configuration from --config, KMIPD_* and the setting flags, as `serve` reads it. */
export async function configFromArgs(args: Readonly<Record<string, unknown>>, env: Readonly<Record<string, string | undefined>>): Promise<KmipdConfig> {
  const flags: Partial<Record<SettingKey, string>> = {};
  for (const key of SETTING_KEYS) {
    const value = args[SETTINGS[key].flag];
    if (typeof value === 'string') flags[key] = value;
  }
  const configFile = typeof args.config === 'string' ? args.config : undefined;
  return (await loadConfig({ configFile, env, flags })).config;
}

export interface OpenedForMaintenance {
  readonly paths: DataPaths;
  readonly store: MaintenanceStore;
  readonly ring: KekRing;
  close(): Promise<void>;
}

/** The store and KEK ring of an initialised data folder; a server may be running on it. */
export async function openForMaintenance(config: KmipdConfig): Promise<OpenedForMaintenance> {
  const paths = dataPaths(config.dir);
  const state = await inspectDataDir(paths.dir);
  if (state.kind !== 'initialised') {
    throw new DataDirError(`${paths.dir} is not an initialised kmipd data folder (it holds the KEK file and certificates even with PostgreSQL): give --dir`);
  }
  const { kek, close: closeKek } = await openConfiguredKek(config, paths.kek, false, silentLogger);
  try {
    if (!(kek instanceof KekRing)) throw new Error('the configured KEK is not a KEK ring');
    const store = await openConfiguredStore(config, paths.database, kek, silentLogger);
    if (!isMaintenanceStore(store)) {
      await store.close();
      throw new Error('this store back end cannot be maintained online');
    }
    return {
      paths,
      store,
      ring: kek,
      close: async () => {
        await store.close();
        await closeKek();
      },
    };
  } catch (error) {
    await closeKek();
    throw error;
  }
}
