/**
 * The backup file of `kmipd backup` / `kmipd restore`: the same for SQLite and PostgreSQL,
 * so a backup of one restores into the other. Key material stays wrapped under the KEKs
 * that wrapped it; the KEKs themselves are never in a backup (they are listed by id, kind
 * and file name or HSM label, so that a restore can say which ones it needs).
 *
 * JSON lines, UTF-8 (format version 2; version 1, without grants and audit, is still read):
 *   {"format":"kmipd-backup","version":2,"created":"<ISO time>","source":"sqlite"}
 *   {"kek":{"id":"…","state":"active","kind":"file","ref":"kek.key","created":<ms>}}   (each KEK)
 *   {"row":{"id":"…","objectType":2,"owner":"…","revision":3,"attributes":"<base64>",
 *           "body":"<base64>"|null,"kekId":"…"|null,"created":<ms>,"updated":<ms>}} (each object, in creation order)
 *   {"grant":{"targetKind":"object","target":"…","scopeOwner":null,"granteeKind":"identity",
 *             "grantee":"…","permission":"Get","grantedBy":"…","created":<ms>}}     (each grant, oldest first)
 *   {"audit":{"seq":1,"time":"…","identity":"…",…,"objectsJson":"[…]",…,"prevHash":"…","hash":"…"}}
 *                                                        (each audit record exactly as stored, by number)
 *   {"auditHead":{"seq":1234,"hash":"…"}}                (the chain head, when the source had one)
 *   {"end":{"keks":1,"objects":1234,"grants":5,"audit":1234,"sha256":"<hex of every byte before this line>"}}
 * A file without its end line, with other counts, or whose checksum differs is refused whole.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { link, open, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import type { AuditReader, ChainHead, StoredRecord } from '../audit/record.js';
import type { KekRecord } from '../crypto/index.js';
import { RESERVED_KEK_IDS } from './codec.js';
import type { ExportItem, GrantRecord, ImportItem, StoredRow } from './types.js';

export const BACKUP_FORMAT = 'kmipd-backup';
/** What this kmipd writes. */
export const BACKUP_VERSION = 2;
/** What it reads: version 1 holds no grants and no audit trail. */
export const READABLE_VERSIONS: readonly number[] = [1, 2];

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
  /** Objects whose key material is held inside an HSM (codec.ts RESERVED_KEK_IDS): no KEK wraps them. */
  readonly residentObjects: number;
  readonly grants: number;
  /** Whether the backup carries the audit trail (version 2 on): a restore replaces the store's with it. */
  readonly hasAudit: boolean;
  readonly auditRecords: number;
  /** The audit chain head the source held; undefined when it had none (or a version 1 backup). */
  readonly auditHead: ChainHead | undefined;
  readonly sha256: string;
}

/** The counts and checksum of the end line. */
export interface BackupCounts {
  readonly keks: number;
  readonly objects: number;
  readonly grants: number;
  readonly audit: number;
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
export async function writeBackup(path: string, source: string, items: AsyncIterable<ExportItem>): Promise<BackupCounts & { readonly auditHead: ChainHead | undefined }> {
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
  let grants = 0;
  let audit = 0;
  let auditHead: ChainHead | undefined;
  let done = false;
  try {
    const header: BackupHeader = { format: BACKUP_FORMAT, version: BACKUP_VERSION, created: new Date().toISOString(), source };
    await put(header);
    for await (const item of items) {
      if ('kek' in item) {
        keks += 1;
        await put({ kek: item.kek });
      } else if ('grant' in item) {
        grants += 1;
        await put({ grant: item.grant });
      } else if ('audit' in item) {
        audit += 1;
        await put({ audit: item.audit });
      } else if ('auditHead' in item) {
        auditHead = item.auditHead;
        await put({ auditHead: item.auditHead });
      } else {
        objects += 1;
        await put({ row: rowToJson(item) });
      }
    }
    const sha256 = hash.digest('hex');
    await put({ end: { keks, objects, grants, audit, sha256 } satisfies BackupCounts }, false);
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
    return { keks, objects, grants, audit, sha256, auditHead };
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
  let residentObjects = 0;
  let objects = 0;
  let grants = 0;
  let auditRecords = 0;
  let auditHead: ChainHead | undefined;
  let end: BackupCounts | undefined;
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
      end = checkEnd(path, value.end, header?.version ?? BACKUP_VERSION);
      continue;
    }
    hash.update(`${line}\n`, 'utf8');
    const item = itemFromLine(path, lineNumber, value, header?.version ?? BACKUP_VERSION);
    if ('kek' in item) keks.push(item.kek);
    else if ('grant' in item) grants += 1;
    else if ('audit' in item) auditRecords += 1;
    else if ('auditHead' in item) {
      if (auditHead !== undefined) throw new BackupError(`${path}: line ${lineNumber} is a second audit chain head`);
      auditHead = item.auditHead;
    } else {
      if (item.kekId !== null && RESERVED_KEK_IDS.has(item.kekId)) residentObjects += 1;
      else if (item.kekId !== null) kekIdsInUse.add(item.kekId);
      objects += 1;
    }
  }
  if (header === undefined) throw new BackupError(`${path} is empty: not a kmipd backup`);
  if (end === undefined) throw new BackupError(`${path} has no end line: the backup is truncated (was it interrupted or cut short in a copy?)`);
  const sha256 = hash.digest('hex');
  if (sha256 !== end.sha256) throw new BackupError(`${path}: checksum mismatch (computed ${sha256}, the file says ${end.sha256}): the file was changed or damaged`);
  if (end.keks !== keks.length || end.objects !== objects || end.grants !== grants || end.audit !== auditRecords) {
    throw new BackupError(
      `${path}: holds ${keks.length} KEKs, ${objects} objects, ${grants} grants and ${auditRecords} audit records; its end line says ${end.keks}, ${end.objects}, ${end.grants} and ${end.audit}`,
    );
  }
  return { header, keks, objects, kekIdsInUse, residentObjects, grants, hasAudit: header.version >= 2, auditRecords, auditHead, sha256 };
}

/** The objects of a backup already verified, in order (the file is read again). */
export async function* backupRows(path: string): AsyncIterable<StoredRow> {
  for await (const item of backupItems(path)) if ('id' in item) yield item;
}

/** Everything of a backup already verified but its KEK records, in file order: what a store imports. */
export async function* backupItems(path: string): AsyncIterable<ImportItem> {
  let lineNumber = 0;
  let version = BACKUP_VERSION;
  for await (const line of lines(path)) {
    lineNumber += 1;
    const value = parseLine(path, lineNumber, line);
    if (lineNumber === 1) {
      version = checkHeader(path, value).version;
      continue;
    }
    if (isObject(value.end)) return;
    const item = itemFromLine(path, lineNumber, value, version);
    if (!('kek' in item)) yield item;
  }
}

/**
 * The audit trail of a backup already verified, as an AuditReader (lib/audit verifyChain reads
 * it as it reads a store's). Records come in file order, one pass: pages must be asked for in
 * order, as the verifier does.
 */
export function backupAuditReader(path: string, head: ChainHead | undefined): AuditReader {
  const records = (async function* (): AsyncGenerator<StoredRecord> {
    for await (const item of backupItems(path)) if ('audit' in item) yield item.audit;
  })();
  return {
    head: async () => head,
    records: async (_afterSeq, limit) => {
      const page: StoredRecord[] = [];
      while (page.length < limit) {
        const next = await records.next();
        if (next.done === true) break;
        page.push(next.value);
      }
      return page;
    },
    close: async () => {
      await records.return(undefined);
    },
  };
}

type BackupLine = StoredRow | { readonly kek: KekRecord } | { readonly grant: GrantRecord } | { readonly audit: StoredRecord } | { readonly auditHead: ChainHead };

function itemFromLine(path: string, lineNumber: number, value: Json, version: number): BackupLine {
  if (isObject(value.kek)) return { kek: kekFromJson(path, lineNumber, value.kek) };
  if (isObject(value.row)) return rowFromJson(path, lineNumber, value.row);
  if (version >= 2) {
    if (isObject(value.grant)) return { grant: grantFromJson(path, lineNumber, value.grant) };
    if (isObject(value.audit)) return { audit: auditFromJson(path, lineNumber, value.audit) };
    if (isObject(value.auditHead)) return { auditHead: headFromJson(path, lineNumber, value.auditHead) };
  }
  throw new BackupError(`${path}: line ${lineNumber} is not a line a version ${version} backup holds (a KEK, an object${version >= 2 ? ', a grant, an audit record or head' : ''}, or the end)`);
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
  const version = value.version;
  if (typeof version !== 'number' || !READABLE_VERSIONS.includes(version)) {
    throw new BackupError(`${path} is a kmipd backup of format version ${String(version)}; this kmipd reads versions ${READABLE_VERSIONS.join(' and ')}: use a newer kmipd`);
  }
  return { format: BACKUP_FORMAT, version, created: String(value.created), source: String(value.source) };
}

function checkEnd(path: string, value: Json, version: number): BackupCounts {
  const { keks, objects, sha256 } = value;
  // Version 1 end lines have no grant or audit counts: there are none.
  const grants = version >= 2 ? value.grants : 0;
  const audit = version >= 2 ? value.audit : 0;
  if (typeof keks !== 'number' || typeof objects !== 'number' || typeof grants !== 'number' || typeof audit !== 'number' || typeof sha256 !== 'string') {
    throw new BackupError(`${path}: the end line is malformed`);
  }
  return { keks, objects, grants, audit, sha256 };
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

function grantFromJson(path: string, lineNumber: number, value: Json): GrantRecord {
  const { targetKind, target, scopeOwner, granteeKind, grantee, permission, grantedBy, created } = value;
  if (
    (targetKind !== 'object' && targetKind !== 'group') ||
    (granteeKind !== 'identity' && granteeKind !== 'group') ||
    typeof target !== 'string' ||
    (scopeOwner !== null && typeof scopeOwner !== 'string') ||
    typeof grantee !== 'string' ||
    typeof permission !== 'string' ||
    typeof grantedBy !== 'string' ||
    typeof created !== 'number' ||
    !Number.isSafeInteger(created)
  ) {
    throw new BackupError(`${path}: line ${lineNumber}: a grant is malformed`);
  }
  return { targetKind, target, scopeOwner, granteeKind, grantee, permission, grantedBy, created };
}

function auditFromJson(path: string, lineNumber: number, value: Json): StoredRecord {
  const bad = (): BackupError => new BackupError(`${path}: line ${lineNumber}: an audit record is malformed`);
  const text = (field: string): string => {
    const v = value[field];
    if (typeof v !== 'string') throw bad();
    return v;
  };
  const maybeText = (field: string): string | null => (value[field] === null ? null : text(field));
  const { seq, item } = value;
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 1) throw bad();
  if (item !== null && (typeof item !== 'number' || !Number.isSafeInteger(item))) throw bad();
  return {
    seq,
    time: text('time'),
    identity: text('identity'),
    peer: text('peer'),
    correlation: text('correlation'),
    clientCorrelation: maybeText('clientCorrelation'),
    item,
    operation: maybeText('operation'),
    objectsJson: text('objectsJson'),
    status: text('status'),
    reason: maybeText('reason'),
    message: maybeText('message'),
    prevHash: text('prevHash'),
    hash: text('hash'),
  };
}

function headFromJson(path: string, lineNumber: number, value: Json): ChainHead {
  const { seq, hash } = value;
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0 || typeof hash !== 'string') throw new BackupError(`${path}: line ${lineNumber}: the audit chain head is malformed`);
  return { seq, hash };
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
