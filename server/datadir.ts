/**
 * The data folder of the embedded default: `kmipd.db` (SQLite), `kek.key` (the key-encryption
 * key, mode 0600) and `certs/` (the development PKI), in a folder of mode 0700.
 */
import Database from 'better-sqlite3';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { chmod, mkdir, readdir, rm, rmdir, stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { createDevelopmentPki, ensureIssuingCa, issueClientCertificate } from '../certs/index.js';
import type { ClientCertificateFiles, PkiPaths } from '../certs/index.js';
import { createKekFile } from '../lib/crypto/index.js';
import { StartError } from './errors.js';
import { openStore } from './store.js';

export interface DataPaths {
  readonly dir: string;
  readonly database: string;
  readonly kek: string;
  readonly certsDir: string;
}

/** What `init` creates; a folder holding all of them is initialised. */
const ENTRIES = ['kmipd.db', 'kek.key', 'certs'] as const;
/** SQLite's companions of kmipd.db, removed with it when an init fails half-way. */
const DATABASE_COMPANIONS = ['kmipd.db-wal', 'kmipd.db-shm'] as const;

const DIR_MODE = 0o700;

export function dataPaths(dir: string): DataPaths {
  const abs = resolve(dir);
  return { dir: abs, database: join(abs, 'kmipd.db'), kek: join(abs, 'kek.key'), certsDir: join(abs, 'certs') };
}

export type DataDirState =
  | { readonly kind: 'absent' }
  | { readonly kind: 'empty' }
  | { readonly kind: 'initialised' }
  /** Some of kmipd's files are there, not all: a failed or damaged init. */
  | { readonly kind: 'incomplete'; readonly present: readonly string[]; readonly missing: readonly string[] }
  /** Other files, none of kmipd's: not a folder to fill with secrets unasked. */
  | { readonly kind: 'foreign'; readonly entries: number };

/** Something wrong with the data folder that the user must resolve (exit code 2). */
export class DataDirError extends Error {
  override readonly name = 'DataDirError';
}

export async function inspectDataDir(dir: string): Promise<DataDirState> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { kind: 'absent' };
    if (code === 'ENOTDIR') throw new DataDirError(`${dir} is not a folder`);
    throw error;
  }
  if (names.length === 0) return { kind: 'empty' };
  const present = ENTRIES.filter((name) => names.includes(name));
  if (present.length === ENTRIES.length) return { kind: 'initialised' };
  if (present.length === 0) return { kind: 'foreign', entries: names.length };
  return { kind: 'incomplete', present, missing: ENTRIES.filter((name) => !names.includes(name)) };
}

export interface InitOptions {
  /** Extra names (or addresses) for the server certificate, beside localhost and this host's name. */
  readonly hostnames?: readonly string[];
}

export interface InitResult {
  readonly paths: DataPaths;
  readonly pki: PkiPaths;
}

/**
 * Create the data folder: KEK, development PKI, database. Only in an absent or empty folder;
 * if any step fails, what this call created is removed so the folder can be initialised again.
 */
export async function initDataDir(dir: string, options: InitOptions = {}): Promise<InitResult> {
  const paths = dataPaths(dir);
  const state = await inspectDataDir(paths.dir);
  if (state.kind !== 'absent' && state.kind !== 'empty') throw new DataDirError(refusal(paths.dir, state));

  await mkdir(paths.dir, { recursive: true, mode: DIR_MODE });
  // Whatever the umask, and for a folder that existed empty: it will hold the KEK.
  await chmod(paths.dir, DIR_MODE);
  try {
    const kek = await createKekFile(paths.kek);
    try {
      const pki = await createDevelopmentPki(paths.certsDir, { hostnames: [...(options.hostnames ?? [])] });
      // Made with the folder, so that every copy of it (several nodes) issues from the same CA.
      await ensureIssuingCa(paths.certsDir);
      const store = await openStore(paths.database, kek);
      await store.close();
      return { paths, pki };
    } finally {
      kek.wipe();
    }
  } catch (error) {
    await removeCreated(paths, state.kind === 'absent');
    throw error;
  }
}

function refusal(dir: string, state: DataDirState): string {
  switch (state.kind) {
    case 'initialised':
      return `${dir} is already initialised (kmipd.db, kek.key, certs/): refusing to overwrite it. Its KEK protects every stored key; move the folder away first if you really mean to start again`;
    case 'incomplete':
      return `${dir} holds part of a kmipd data folder (${state.present.join(', ')}; missing ${state.missing.join(', ')}): refusing to touch it. Restore the missing files, or move the folder away and initialise again`;
    case 'foreign':
      return `${dir} is not empty (${state.entries} entries) and is not a kmipd data folder: refusing to initialise it. Choose an absent or empty folder with --dir`;
    default:
      return `${dir} cannot be initialised`;
  }
}

async function removeCreated(paths: DataPaths, removeDir: boolean): Promise<void> {
  const names = [...ENTRIES, ...DATABASE_COMPANIONS];
  await Promise.all(names.map((name) => rm(join(paths.dir, name), { recursive: true, force: true }).catch(() => undefined)));
  if (removeDir) await rmdir(paths.dir).catch(() => undefined);
}

/**
 * For `serve`: initialise an absent or empty folder, accept an initialised one, refuse
 * anything else. Says whether it initialised.
 */
export async function prepareDataDir(
  dir: string,
  options: InitOptions = {},
): Promise<{ paths: DataPaths; initialised: boolean; warnings: string[] }> {
  const paths = dataPaths(dir);
  const state = await inspectDataDir(paths.dir);
  if (state.kind === 'initialised') {
    // Not fatal: loadKekFile enforces the KEK file's own mode, which is what matters.
    const mode = (await stat(paths.dir)).mode & 0o777;
    const warnings = (mode & 0o077) === 0 ? [] : [`${paths.dir} has mode ${mode.toString(8).padStart(4, '0')}: other users may list it; \`chmod 700 ${paths.dir}\``];
    return { paths, initialised: false, warnings };
  }
  if (state.kind === 'absent' || state.kind === 'empty') {
    await initDataDir(paths.dir, options);
    return { paths, initialised: true, warnings: [] };
  }
  throw new DataDirError(
    state.kind === 'incomplete'
      ? `${paths.dir} holds part of a kmipd data folder (missing ${state.missing.join(', ')}): cannot serve from it. Restore the missing files, or move the folder away to start afresh`
      : `${paths.dir} is not empty and is not a kmipd data folder: run \`kmipd init --dir DIR\` on an absent or empty folder, or point --dir at one`,
  );
}

/** `kmipd certs client NAME`: a client certificate from the data folder's development CA. */
export async function issueClient(dir: string, name: string): Promise<ClientCertificateFiles> {
  const paths = dataPaths(dir);
  const state = await inspectDataDir(paths.dir);
  if (state.kind !== 'initialised') {
    throw new DataDirError(`${paths.dir} is not an initialised kmipd data folder: run \`kmipd init --dir ${dir}\` first`);
  }
  try {
    return await issueClientCertificate(paths.certsDir, name);
  } catch (error) {
    // The PKI's refusals (bad name, existing files) are the user's to fix.
    throw new DataDirError(error instanceof Error ? error.message : String(error));
  }
}

// ---------------------------------------------------------------------------------------
// One primary per data folder

/** The lock itself: a small SQLite file held in EXCLUSIVE locking mode, so the OS releases it when its holder dies. */
const LOCK_FILE = 'kmipd.lock';
/** Who holds the lock, written by the holder once it has it: for the refusal message. */
const HOLDER_FILE = 'kmipd.pid';

export interface DataDirLock {
  /** The holder written for others to read: pid, host, start time. */
  readonly holder: LockHolder;
  release(): void;
}

export interface LockHolder {
  readonly pid: number;
  readonly host: string;
  readonly started: string;
}

/** Another process serves from the folder (or a restore is writing it). */
export class DataDirLockedError extends StartError {
  constructor(
    readonly dir: string,
    readonly holder: LockHolder | undefined,
  ) {
    super(
      holder === undefined
        ? `${dir} is in use by another kmipd process (its lock ${join(dir, LOCK_FILE)} is held): two servers on one SQLite data folder would each think they are the only one. Stop the other one, or use --workers N for more processes`
        : `${dir} is in use by another kmipd: pid ${holder.pid} on host ${holder.host}, since ${holder.started}. Two servers on one SQLite data folder would each think they are the only one: stop that one first, or use --workers N for more processes`,
    );
  }
}

/**
 * Take the data folder's lock for this process, or throw DataDirLockedError naming the
 * holder. The lock is an operating-system lock (SQLite's, on `kmipd.lock`): a holder that
 * dies, even by SIGKILL, releases it, so a stale lock needs no clean-up; the `kmipd.pid`
 * it leaves behind is overwritten by the next holder. Cluster workers never call this:
 * their primary holds the lock for them.
 */
export function lockDataDir(dir: string): DataDirLock {
  const path = join(dir, LOCK_FILE);
  let db: Database.Database | undefined;
  try {
    db = new Database(path, { timeout: 0 });
    db.pragma('locking_mode = EXCLUSIVE');
    // The first write takes the EXCLUSIVE lock, and EXCLUSIVE locking mode keeps it until close.
    db.exec('CREATE TABLE IF NOT EXISTS lock (id INTEGER PRIMARY KEY)');
    db.exec('BEGIN EXCLUSIVE');
    db.exec('COMMIT');
  } catch (error) {
    db?.close();
    if (error instanceof Database.SqliteError && error.code.startsWith('SQLITE_BUSY')) throw new DataDirLockedError(dir, readHolder(dir));
    throw new StartError(`cannot take the data folder lock ${path}: ${(error as Error).message}`);
  }
  chmodSync(path, 0o600);
  const holder: LockHolder = { pid: process.pid, host: hostname(), started: new Date().toISOString() };
  writeFileSync(join(dir, HOLDER_FILE), `${JSON.stringify(holder)}\n`, { mode: 0o600 });
  const held = db;
  let released = false;
  return {
    holder,
    release: () => {
      if (released) return;
      released = true;
      held.close();
    },
  };
}

/** The holder a lock's owner wrote, if it is readable. */
export function readHolder(dir: string): LockHolder | undefined {
  try {
    const value = JSON.parse(readFileSync(join(dir, HOLDER_FILE), 'utf8')) as Partial<LockHolder>;
    if (typeof value.pid !== 'number' || typeof value.host !== 'string' || typeof value.started !== 'string') return undefined;
    return { pid: value.pid, host: value.host, started: value.started };
  } catch {
    return undefined;
  }
}
