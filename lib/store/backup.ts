/**
 * The backup file of `kmipd backup` / `kmipd restore`: the same for SQLite and PostgreSQL,
 * so a backup of one restores into the other. Key material stays wrapped under the KEKs
 * that wrapped it; the KEKs themselves are never in a backup (they are listed by id, kind
 * and file name or HSM label, so that a restore can say which ones it needs).
 *
 * JSON lines, UTF-8:
 *   {"format":"kmipd-backup","version":1,"created":"<ISO time>","source":"sqlite"}
 *   {"kek":{"id":"…","state":"active","kind":"file","ref":"kek.key","created":<ms>}}   (each KEK)
 *   {"row":{"id":"…","objectType":2,"owner":"…","revision":3,"attributes":"<base64>",
 *           "body":"<base64>"|null,"kekId":"…"|null,"created":<ms>,"updated":<ms>}} (each object, in creation order)
 *   {"end":{"keks":1,"objects":1234,"sha256":"<hex of every byte before this line>"}}
 * A file without its end line, with other counts, or whose checksum differs is refused whole.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { link, open, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import type { KekRecord } from '../crypto/index.js';
import type { StoredRow } from './types.js';

export const BACKUP_FORMAT = 'kmipd-backup';
export const BACKUP_VERSION = 1;

export interface BackupHeader {
  readonly format: typeof BACKUP_FORMAT;
  readonly version: number;
  readonly created: string;
  /** The back end it was taken from: sqlite or postgres. */
  readonly source: string;
}

/** What reading the whole file established before anything is restored from it. */
export interface VerifiedBackup {
  readonly header: BackupHeader;
  readonly keks: readonly KekRecord[];
  readonly objects: number;
  /** Ids of the KEKs that wrapped at least one stored body: a restore needs each of them. */
  readonly kekIdsInUse: ReadonlySet<string>;
  readonly sha256: string;
}

export class BackupError extends Error {
  override readonly name = 'BackupError';
}

/** Flush to the file once this much is buffered. */
const WRITE_CHUNK = 1 << 20;

/**
 * Write a backup of `items` (a store's `exportRows`) to `path`: a new file, mode 0600,
 * written under a temporary name, synced, and only then given its name (an existing file is
 * never overwritten). Returns the counts and checksum written in its end line.
 */
export async function writeBackup(
  path: string,
  source: string,
  items: AsyncIterable<StoredRow | { readonly kek: KekRecord }>,
): Promise<{ keks: number; objects: number; sha256: string }> {
  const temporary = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.partial`);
  const handle = await open(temporary, 'wx', 0o600);
  const hash = createHash('sha256');
  let pending: string[] = [];
  let pendingBytes = 0;
  const flush = async (): Promise<void> => {
    if (pending.length === 0) return;
    await handle.write(pending.join(''));
    pending = [];
    pendingBytes = 0;
  };
  const put = async (value: unknown, hashed = true): Promise<void> => {
    const line = `${JSON.stringify(value)}\n`;
    if (hashed) hash.update(line, 'utf8');
    pending.push(line);
    pendingBytes += line.length;
    if (pendingBytes >= WRITE_CHUNK) await flush();
  };
  let keks = 0;
  let objects = 0;
  let done = false;
  try {
    const header: BackupHeader = { format: BACKUP_FORMAT, version: BACKUP_VERSION, created: new Date().toISOString(), source };
    await put(header);
    for await (const item of items) {
      if ('kek' in item) {
        keks += 1;
        await put({ kek: item.kek });
      } else {
        objects += 1;
        await put({ row: rowToJson(item) });
      }
    }
    const sha256 = hash.digest('hex');
    await put({ end: { keks, objects, sha256 } }, false);
    await flush();
    await handle.sync();
    await handle.close();
    // link(2) fails on an existing name: a backup never replaces a file.
    try {
      await link(temporary, path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw new BackupError(`${path} already exists: refusing to overwrite it`);
      throw error;
    }
    await unlink(temporary);
    await syncDirectory(dirname(path));
    done = true;
    return { keks, objects, sha256 };
  } finally {
    if (!done) {
      await handle.close().catch(() => undefined);
      await unlink(temporary).catch(() => undefined);
    }
  }
}

/** Read the whole file once: header, every line well formed, counts and checksum as its end line says. */
export async function verifyBackup(path: string): Promise<VerifiedBackup> {
  const hash = createHash('sha256');
  let header: BackupHeader | undefined;
  const keks: KekRecord[] = [];
  const kekIdsInUse = new Set<string>();
  let objects = 0;
  let end: { keks: number; objects: number; sha256: string } | undefined;
  let lineNumber = 0;
  for await (const line of lines(path)) {
    lineNumber += 1;
    if (end !== undefined) throw new BackupError(`${path}: line ${lineNumber} follows the end line`);
    const value = parseLine(path, lineNumber, line);
    if (lineNumber === 1) {
      header = checkHeader(path, value);
      hash.update(`${line}\n`, 'utf8');
      continue;
    }
    if (isObject(value.end)) {
      end = checkEnd(path, value.end);
      continue;
    }
    hash.update(`${line}\n`, 'utf8');
    if (isObject(value.kek)) keks.push(kekFromJson(path, lineNumber, value.kek));
    else if (isObject(value.row)) {
      const row = rowFromJson(path, lineNumber, value.row);
      if (row.kekId !== null) kekIdsInUse.add(row.kekId);
      objects += 1;
    } else throw new BackupError(`${path}: line ${lineNumber} is neither a KEK, an object nor the end`);
  }
  if (header === undefined) throw new BackupError(`${path} is empty: not a kmipd backup`);
  if (end === undefined) throw new BackupError(`${path} has no end line: the backup is truncated (was it interrupted or cut short in a copy?)`);
  const sha256 = hash.digest('hex');
  if (sha256 !== end.sha256) throw new BackupError(`${path}: checksum mismatch (computed ${sha256}, the file says ${end.sha256}): the file was changed or damaged`);
  if (end.keks !== keks.length || end.objects !== objects) {
    throw new BackupError(`${path}: holds ${keks.length} KEKs and ${objects} objects, its end line says ${end.keks} and ${end.objects}`);
  }
  return { header, keks, objects, kekIdsInUse, sha256 };
}

/** The objects of a backup already verified, in order (the file is read again). */
export async function* backupRows(path: string): AsyncIterable<StoredRow> {
  let lineNumber = 0;
  for await (const line of lines(path)) {
    lineNumber += 1;
    if (lineNumber === 1) continue;
    const value = parseLine(path, lineNumber, line);
    if (isObject(value.row)) yield rowFromJson(path, lineNumber, value.row);
  }
}

function lines(path: string): AsyncIterable<string> {
  return createInterface({ input: createReadStream(path, { encoding: 'utf8' }), crlfDelay: Number.POSITIVE_INFINITY });
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseLine(path: string, lineNumber: number, line: string): Json {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw new BackupError(`${path}: line ${lineNumber} is not JSON${lineNumber === 1 ? ': not a kmipd backup' : ''}`);
  }
  if (!isObject(value)) throw new BackupError(`${path}: line ${lineNumber} is not a JSON object`);
  return value;
}

function checkHeader(path: string, value: Json): BackupHeader {
  if (value.format !== BACKUP_FORMAT) throw new BackupError(`${path} is not a kmipd backup (no "format": "${BACKUP_FORMAT}" header)`);
  if (value.version !== BACKUP_VERSION) {
    throw new BackupError(`${path} is a kmipd backup of format version ${String(value.version)}; this kmipd reads version ${BACKUP_VERSION}`);
  }
  return { format: BACKUP_FORMAT, version: BACKUP_VERSION, created: String(value.created), source: String(value.source) };
}

function checkEnd(path: string, value: Json): { keks: number; objects: number; sha256: string } {
  const { keks, objects, sha256 } = value;
  if (typeof keks !== 'number' || typeof objects !== 'number' || typeof sha256 !== 'string') throw new BackupError(`${path}: the end line is malformed`);
  return { keks, objects, sha256 };
}

function rowToJson(row: StoredRow): Json {
  return {
    id: row.id,
    objectType: row.objectType,
    owner: row.owner,
    revision: row.revision,
    attributes: row.attributes.toString('base64'),
    body: row.body === null ? null : row.body.toString('base64'),
    kekId: row.kekId,
    created: row.created,
    updated: row.updated,
  };
}

function rowFromJson(path: string, lineNumber: number, value: Json): StoredRow {
  const bad = (field: string): BackupError => new BackupError(`${path}: line ${lineNumber}: the object's ${field} is missing or malformed`);
  const text = (field: string): string => {
    const v = value[field];
    if (typeof v !== 'string') throw bad(field);
    return v;
  };
  const integer = (field: string): number => {
    const v = value[field];
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw bad(field);
    return v;
  };
  const base64 = (field: string): Buffer => {
    const v = text(field);
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(v)) throw bad(field);
    return Buffer.from(v, 'base64');
  };
  const body = value.body === null ? null : base64('body');
  const kekId = value.kekId === null ? null : text('kekId');
  if ((body === null) !== (kekId === null)) throw bad('body or kekId');
  return {
    id: text('id'),
    objectType: integer('objectType'),
    owner: text('owner'),
    revision: integer('revision'),
    attributes: base64('attributes'),
    body,
    kekId,
    created: integer('created'),
    updated: integer('updated'),
  };
}

function kekFromJson(path: string, lineNumber: number, value: Json): KekRecord {
  const { id, state, kind, ref, created } = value;
  if (
    typeof id !== 'string' ||
    (state !== 'active' && state !== 'retiring' && state !== 'retired') ||
    (kind !== 'file' && kind !== 'pkcs11') ||
    typeof ref !== 'string' ||
    typeof created !== 'number'
  ) {
    throw new BackupError(`${path}: line ${lineNumber}: a KEK record is malformed`);
  }
  return { id, state, kind, ref, created };
}

async function syncDirectory(dir: string): Promise<void> {
  try {
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // Some platforms cannot fsync a directory; the file itself is synced.
  }
}
