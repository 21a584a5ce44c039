/** The key store: the Store interface and its back ends. */
export { StoreConflictError, UniqueValueError } from './types.js';
export type { AuditDurability, Changes, LocateQuery, ObjectMetadata, Store, UniqueClaim } from './types.js';
export { OverlayStore } from './overlay.js';
export { SqliteStore, openSqliteStore, SCHEMA_VERSION as SQLITE_SCHEMA_VERSION } from './sqlite.js';
export { decodeAttributes, encodeAttributes } from './codec.js';
export type { CommitGrouping, IndexKeys, SqliteSettings, SqliteStoreOptions, StoreStats } from './sqlite.js';
export { PostgresStore, openPostgresStore, SCHEMA_VERSION as POSTGRES_SCHEMA_VERSION, type Migration, type PostgresConnection, type PostgresSettings, type PostgresStoreOptions } from './postgres.js';
export { isMaintenanceStore } from './types.js';
export { storeMember } from './members.js';
export type { ExportItem, ImportItem, ImportOptions, MaintenanceStore, StoredRow, WrappedBody } from './types.js';
export { DUE_INDEX, dueKey } from './codec.js';
export type { ObjectCount } from './types.js';
