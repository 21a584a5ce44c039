/**
 * The store kmipd serves from: the embedded SQLite database of the data folder, or a
 * PostgreSQL database several nodes share. Key material is wrapped under the KEK in both.
 */
import { indexKeys as attributeIndexKeys } from '../lib/attributes/index.js';
import type { AttributeInstance } from '../lib/attributes/index.js';
import { dueIndexKeys } from '../lib/operations/rotation.js';
import type { KeyEncryptionKey } from '../lib/crypto/index.js';
import type { Logger } from '../lib/log.js';
import { openPostgresStore, openSqliteStore } from '../lib/store/index.js';
import type { CommitGrouping, SqliteStore, Store } from '../lib/store/index.js';
import type { KmipdConfig } from './config.js';

/** Locate's index keys, and the due date the scheduler finds objects by (lib/operations/rotation.ts). */
export function indexKeys(attributes: readonly AttributeInstance[]): { name: string; key: string | null }[] {
  return [...attributeIndexKeys(attributes), ...dueIndexKeys(attributes)];
}

/** `commitGrouping`: see CommitGrouping; 'deferred' when several processes write the file. */
export function openStore(path: string, kek: KeyEncryptionKey, commitGrouping: CommitGrouping = 'open'): Promise<SqliteStore> {
  return openSqliteStore({ path, kek, indexKeys, commitGrouping });
}

/** The store `config` asks for; `databasePath` is the data folder's SQLite file. */
export async function openConfiguredStore(config: KmipdConfig, databasePath: string, kek: KeyEncryptionKey, log: Logger): Promise<Store> {
  if (config.store === 'postgres' && config.postgresUrl !== undefined) {
    const store = await openPostgresStore({ connectionString: config.postgresUrl, kek, indexKeys, schema: config.postgresSchema });
    log.info('store opened', { store: 'postgres', schema: config.postgresSchema });
    return store;
  }
  // Cluster workers (and their primary) share the file: no batch holds the write lock across a sync.
  return openStore(databasePath, kek, config.workers <= 1 ? 'open' : 'deferred');
}
