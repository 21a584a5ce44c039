/** The embedded store of a data folder: SQLite, key material wrapped under the file KEK. */
import { indexKeys } from '../lib/attributes/index.js';
import type { KeyEncryptionKey } from '../lib/crypto/index.js';
import { openSqliteStore } from '../lib/store/index.js';
import type { SqliteStore } from '../lib/store/index.js';

export function openStore(path: string, kek: KeyEncryptionKey): Promise<SqliteStore> {
  return openSqliteStore({ path, kek, indexKeys });
}
