/**
 * `kmipd backup FILE` and `kmipd restore FILE` (issue 7, "Several nodes"): a consistent,
 * online copy of every object with its key material still wrapped, the grants and the audit
 * trail (lib/store/backup.ts), and its restore into a new data folder or an empty database,
 * from SQLite or PostgreSQL into either. The KEKs are not in a backup: a restore needs the key
 * files (--kek-file) or the HSM keys the backup lists, and says which before it writes anything.
 *
 * A restore puts back the audit trail exactly (records and chain head), so `kmipd audit
 * verify` passes on the restored store as it did on the source, then appends one record of
 * its own: operation Restore, by the local user who ran it, naming the backup's SHA-256.
 */
import { randomUUID } from 'node:crypto';
import { copyFile, readdir, rename, rm, rmdir } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { basename, join } from 'node:path';
import { verifyChain } from '../lib/audit/index.js';
import type { AuditEntry, AuditSource, ChainHead, VerifyResult } from '../lib/audit/index.js';
import { loadKekFile } from '../lib/crypto/index.js';
import type { KekRecord } from '../lib/crypto/index.js';
import { backupAuditReader, backupItems, verifyBackup, writeBackup } from '../lib/store/backup.js';
import type { VerifiedBackup } from '../lib/store/backup.js';
import { RESIDENT_BODY } from '../lib/store/codec.js';
import type { MaintenanceStore } from '../lib/store/index.js';
import type { KmipdConfig } from './config.js';
import { DataDirError, dataPaths, initDataDir, inspectDataDir, lockDataDir } from './datadir.js';
import { hsmAccess, kekLoader } from './kek.js';
import { openForMaintenance } from './maintenance.js';

export async function runBackup(config: KmipdConfig, file: string): Promise<string> {
  const opened = await openForMaintenance(config);
  try {
    const { keks, objects, grants, audit, auditHead, sha256 } = await writeBackup(file, config.store, opened.store.exportRows());
    const kekList = (await opened.store.keks()).map((k) => `${k.id} (${k.kind === 'file' ? k.ref : `HSM key "${k.ref}"`}, ${k.state})`);
    const resident = (await opened.store.kekUsage()).get(RESIDENT_BODY) ?? 0;
    return [
      `wrote ${file}: ${objects} objects, ${keks} KEK records, ${grants} grants, ${audit} audit records${auditHead === undefined ? '' : ` (head ${auditHead.seq}:${auditHead.hash})`}, sha256 ${sha256}`,
      ...(resident > 0 ? [`  ${resident} of the objects are keys held inside the HSM: the backup holds only their location; they work only with that HSM token`] : []),
      `  key material in it is wrapped; to restore it you need these KEKs, which are NOT in the backup:`,
      ...kekList.map((line) => `    ${line}`),
      `  keep a copy of the data folder's kek*.key files (or the HSM keys) with it, stored apart from it`,
      '',
    ].join('\n');
  } finally {
    await opened.close();
  }
}

export interface RestoreOptions {
  /** Key files the backup's KEKs are in (file KEKs), copied into the data folder. */
  readonly kekFiles: readonly string[];
  /** Replace the objects of a store that holds some. */
  readonly force: boolean;
}

export async function runRestore(config: KmipdConfig, file: string, options: RestoreOptions): Promise<string> {
  const backup = await verifyBackup(file);
  const paths = dataPaths(config.dir);
  const state = await inspectDataDir(paths.dir);
  const created = state.kind === 'absent' || state.kind === 'empty';
  if (created) {
    // Checked before the folder is made: a restore that cannot read its keys makes nothing.
    await checkGivenKeks(config, backup, options.kekFiles);
    await initDataDir(paths.dir);
  } else if (state.kind !== 'initialised') {
    throw new DataDirError(`${paths.dir} is neither empty nor a kmipd data folder: restore into a new (absent or empty) folder, or an initialised one`);
  }
  // A server serving this folder would not see the restore: refuse while one runs.
  const lock = config.store === 'sqlite' ? lockDataDir(paths.dir) : undefined;
  try {
    try {
      await installKekFiles(paths.dir, paths.kek, backup, options.kekFiles, created);
      await checkKeksAvailable(config, paths.dir, backup);
    } catch (error) {
      // Nothing was restored: leave no half-made data folder behind.
      if (created) {
        lock?.release();
        await removeDataDir(paths.dir, state.kind === 'absent');
      }
      throw error;
    }
    const opened = await openForMaintenance(config);
    try {
      const where = config.store === 'sqlite' ? `database of ${paths.dir}` : 'PostgreSQL schema';
      if (!options.force && !(await opened.store.isEmpty())) {
        throw new DataDirError(`the ${where} already holds objects: refusing to overwrite them (give --force to replace them all with the backup)`);
      }
      const existing = await auditHeadOf(opened.store);
      if (backup.hasAudit && !options.force && existing.seq > 0) {
        throw new DataDirError(`the audit trail of the ${where} already holds ${existing.seq} records: refusing to replace it with the backup's (give --force to replace it)`);
      }
      // The backup's own chain, checked before anything is written: a break is reported, not hidden.
      const chain = backup.hasAudit ? await verifyBackupChain(file, backup) : undefined;
      const entry = restoreEntry(file, backup, backup.hasAudit && existing.seq > 0 ? existing : undefined, chain);
      const count = await opened.store.importRows(backup.keks, backupItems(file), { replace: options.force, restoreAudit: backup.hasAudit, appendAudit: [entry] });
      const restored = await verifyStoreChain(opened.store);
      return [
        `restored ${count} objects, ${backup.keks.length} KEK records, ${backup.grants} grants and ${backup.auditRecords} audit records from ${file} (format ${backup.header.version}, taken ${backup.header.created} from ${backup.header.source}) into ${config.store === 'sqlite' ? paths.database : `PostgreSQL schema ${config.postgresSchema}`}`,
        ...(backup.hasAudit ? [] : [`  a format 1 backup holds no grants and no audit trail: the store's own audit trail was kept`]),
        ...(chain !== undefined && !chain.intact ? [`  WARNING: the backup's audit chain is broken at record ${chain.broken.seq} (${chain.broken.kind}): ${chain.broken.detail}; it was restored as it is`] : []),
        `  the restore is recorded in the audit trail: ${restored}`,
        ...residentNote(config, backup),
        '',
      ].join('\n');
    } finally {
      await opened.close();
    }
  } finally {
    lock?.release();
  }
}

/**
 * Copy the given key files into the folder (named after their ids). In a folder made for the
 * restore, `kek.key` (a fresh key nothing is wrapped under) becomes the backup's active KEK.
 */
async function installKekFiles(dir: string, kekPath: string, backup: VerifiedBackup, files: readonly string[], fresh: boolean): Promise<void> {
  const active = backup.keks.find((k) => k.state === 'active');
  for (const file of files) {
    const kek = await loadKekFile(file);
    const id = kek.id;
    kek.wipe();
    if (!backup.keks.some((k) => k.id === id) && !backup.kekIdsInUse.has(id)) {
      throw new DataDirError(`${file} holds KEK ${id}, which the backup does not list (it lists ${backup.keks.map((k) => k.id).join(', ') || 'none'})`);
    }
    const target = fresh && id === active?.id ? kekPath : join(dir, `kek-${id}.key`);
    const temporary = `${target}.restoring`;
    await copyFile(file, temporary);
    await rename(temporary, target);
  }
}

/** The audit chain head of a store (none: an empty chain). */
async function auditHeadOf(store: MaintenanceStore): Promise<ChainHead> {
  if (!isAuditSource(store)) return { seq: 0, hash: '' };
  const reader = await store.auditReader();
  try {
    return (await reader.head()) ?? { seq: 0, hash: '' };
  } finally {
    await reader.close();
  }
}

function isAuditSource(store: MaintenanceStore): store is MaintenanceStore & AuditSource {
  return typeof (store as Partial<AuditSource>).auditReader === 'function';
}

async function verifyBackupChain(file: string, backup: VerifiedBackup): Promise<VerifyResult> {
  const reader = backupAuditReader(file, backup.auditHead);
  try {
    return await verifyChain(reader);
  } finally {
    await reader.close();
  }
}

/** One line on the restored store's chain, as `kmipd audit verify` would judge it. */
async function verifyStoreChain(store: MaintenanceStore): Promise<string> {
  if (!isAuditSource(store)) return 'this store has no audit trail to verify';
  const reader = await store.auditReader();
  try {
    const result = await verifyChain(reader);
    return result.intact
      ? `chain intact, ${result.records} records, head ${result.head.seq}:${result.head.hash}`
      : `chain BROKEN at record ${result.broken.seq} (${result.broken.kind}): ${result.broken.detail}`;
  } finally {
    await reader.close();
  }
}

/** Who runs this command, as the audit record names them. */
function localUser(): string {
  try {
    return userInfo().username;
  } catch {
    // No passwd entry (a container's arbitrary uid): the number is all there is.
    return `uid ${process.getuid?.() ?? '?'}`;
  }
}

/** The record a restore appends after the restored chain, in the restore's transaction. */
function restoreEntry(file: string, backup: VerifiedBackup, replaced: ChainHead | undefined, chain: VerifyResult | undefined): AuditEntry {
  const parts = [
    `restored backup ${basename(file)} sha256 ${backup.sha256} (format ${backup.header.version}, taken ${backup.header.created} from ${backup.header.source})`,
    `${backup.objects} objects, ${backup.grants} grants, ${backup.auditRecords} audit records`,
  ];
  if (replaced !== undefined) parts.push(`replaced an audit trail whose head was ${replaced.seq}:${replaced.hash}`);
  if (chain !== undefined && !chain.intact) parts.push(`the backup's audit chain is broken at record ${chain.broken.seq} (${chain.broken.kind})`);
  return {
    time: new Date().toISOString(),
    identity: `local:${localUser()}`,
    peer: 'kmipd',
    correlation: randomUUID(),
    clientCorrelation: null,
    item: 1,
    operation: 'Restore',
    objects: [],
    status: 'Success',
    reason: null,
    message: parts.join('; '),
  };
}

/** Keys held inside an HSM are restored as references: say what they need. */
function residentNote(config: KmipdConfig, backup: VerifiedBackup): string[] {
  if (backup.residentObjects === 0) return [];
  const hsm = config.pkcs11Module !== undefined && config.pkcs11TokenLabel !== undefined;
  return [
    `  ${backup.residentObjects} keys are held inside an HSM (the backup has only their location): they work only with the HSM token that holds them${hsm ? '' : '; no HSM is configured here, so they cannot be used until one is'}`,
  ];
}

/** The KEKs a restore needs: every one that wraps a stored body, and the backup's active one. */
function neededKeks(backup: VerifiedBackup): Pick<KekRecord, 'id' | 'kind' | 'ref'>[] {
  const ids = new Set([...backup.kekIdsInUse, ...backup.keks.filter((k) => k.state === 'active').map((k) => k.id)]);
  return [...ids].map((id) => backup.keks.find((k) => k.id === id) ?? { id, kind: 'file', ref: 'kek.key' });
}

function missingKeks(missing: readonly Pick<KekRecord, 'id' | 'kind' | 'ref'>[]): DataDirError {
  const named = missing.map((record) => `${record.id} (${record.kind === 'file' ? `key file, was ${record.ref}` : `HSM key "${record.ref}"`})`);
  return new DataDirError(
    `the backup's keys are wrapped under KEKs this data folder does not have: ${named.join(', ')}. Give each key file with --kek-file (or configure the HSM that holds them); nothing was restored`,
  );
}

/** For a new folder: the given key files and the configured HSM must hold every KEK needed. */
async function checkGivenKeks(config: KmipdConfig, backup: VerifiedBackup, files: readonly string[]): Promise<void> {
  const given = new Set<string>();
  for (const file of files) {
    const kek = await loadKekFile(file);
    given.add(kek.id);
    kek.wipe();
  }
  const hsmConfigured = config.pkcs11Module !== undefined && config.pkcs11TokenLabel !== undefined && config.pkcs11PinFile !== undefined;
  const hsm = hsmConfigured ? await hsmAccess(config) : undefined;
  const missing: Pick<KekRecord, 'id' | 'kind' | 'ref'>[] = [];
  for (const record of neededKeks(backup)) {
    if (record.kind === 'file') {
      if (!given.has(record.id)) missing.push(record);
      continue;
    }
    try {
      const loaded = await kekLoader('.', hsm)(record);
      await loaded.close();
    } catch {
      missing.push(record);
    }
  }
  if (missing.length > 0) throw missingKeks(missing);
}

/** Every KEK that wraps a stored body of the backup must be at hand before anything is written. */
async function checkKeksAvailable(config: KmipdConfig, dir: string, backup: VerifiedBackup): Promise<void> {
  const hsmConfigured = config.pkcs11Module !== undefined && config.pkcs11TokenLabel !== undefined && config.pkcs11PinFile !== undefined;
  const load = kekLoader(dir, hsmConfigured ? await hsmAccess(config) : undefined);
  const missing: Pick<KekRecord, 'id' | 'kind' | 'ref'>[] = [];
  for (const record of neededKeks(backup)) {
    try {
      const loaded = await load(record);
      await loaded.close();
    } catch {
      missing.push(record);
    }
  }
  if (missing.length > 0) throw missingKeks(missing);
}

/** A folder this restore initialised, emptied again (and removed if it was absent). */
async function removeDataDir(dir: string, removeFolder: boolean): Promise<void> {
  for (const name of await readdir(dir)) await rm(join(dir, name), { recursive: true, force: true });
  if (removeFolder) await rmdir(dir);
}
