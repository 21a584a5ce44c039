/**
 * `verifyChain` over a real SQLite file: a trail written by the real service (operations that
 * succeed, fail, are denied, and a message that cannot be read) verifies intact; then each
 * way of tampering with the file directly (edit, delete, reorder, insert) is caught, and the
 * verifier names the record and the kind of break.
 */
import Database from 'better-sqlite3';
import { expect } from 'chai';
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Tag, decodeTtlv, encodeTtlv, isConcrete, parseXml } from '../../ttlv/index.js';
import { indexKeys } from '../../lib/attributes/index.js';
import { openSqliteAuditReader, recordHash, verifyChain } from '../../lib/audit/index.js';
import type { StoredRecord, VerifyResult } from '../../lib/audit/index.js';
import { createKekFile, loadKekFile } from '../../lib/crypto/index.js';
import { silentLogger } from '../../lib/log.js';
import { createKmipService } from '../../lib/service.js';
import { openSqliteStore } from '../../lib/store/index.js';
import { findValue, request, results, textOf } from '../support/service.js';
import { scenarios, sqliteParams } from './tamper.js';
import type { RawDb } from './tamper.js';

const CREATE = `<Operation type="Enumeration" value="Create"/><RequestPayload><ObjectType type="Enumeration" value="SymmetricKey"/><TemplateAttribute>
  <Attribute><AttributeName type="TextString" value="Cryptographic Algorithm"/><AttributeValue type="Enumeration" value="AES"/></Attribute>
  <Attribute><AttributeName type="TextString" value="Cryptographic Length"/><AttributeValue type="Integer" value="128"/></Attribute>
  <Attribute><AttributeName type="TextString" value="Cryptographic Usage Mask"/><AttributeValue type="Integer" value="Encrypt Decrypt"/></Attribute></TemplateAttribute></RequestPayload>`;
const byId = (op: string, id: string): string => `<Operation type="Enumeration" value="${op}"/><RequestPayload><UniqueIdentifier type="TextString" value="${id}"/></RequestPayload>`;

/** A trail of 11 records written by the service; returns the database file (closed, WAL checkpointed). */
export async function writeTrail(dir: string): Promise<string> {
  const file = path.join(dir, 'kmipd.db');
  await createKekFile(path.join(dir, 'kek.key'));
  const store = await openSqliteStore({ path: file, kek: await loadKekFile(path.join(dir, 'kek.key')), indexKeys });
  const service = createKmipService({ store, log: silentLogger });
  const send = async (identity: string, ...items: string[]): Promise<ReturnType<typeof results>> => {
    const [message] = parseXml(request('1.4', ...items));
    if (message === undefined || !isConcrete(message)) throw new Error('bad test message');
    return results(decodeTtlv(await service.handle(encodeTtlv(message), { identity: { name: identity, admin: false }, peer: `192.0.2.${identity.length}:5000` })));
  };
  try {
    const [created] = await send('alice', CREATE);
    const id = textOf(findValue(created?.payload, Tag.UniqueIdentifier));
    await send('alice', byId('Get', id));
    await send('alice', byId('Get', id));
    await send('alice', byId('Get', 'no-such-key'));
    expect((await send('mallory', byId('Get', id)))[0]?.reason).to.equal('PermissionDenied');
    await send('alice', byId('Activate', id));
    await send('alice', `<Operation type="Enumeration" value="Locate"/><RequestPayload/>`);
    await send('alice', byId('Destroy', id));
    await service.handle(Buffer.from('4200780100000010', 'hex'), { identity: { name: 'bob', admin: false }, peer: '192.0.2.3:1' });
    await send('bob', CREATE);
    await send('alice', byId('Revoke', id));
  } finally {
    await store.close();
  }
  if (existsSync(`${file}-wal`)) throw new Error('the store left its WAL behind after close');
  return file;
}

function rawSqlite(file: string): RawDb & { close(): void } {
  const db = new Database(file);
  return {
    run: async (sql, params = []) => {
      const statement = sqliteParams(sql, params);
      db.prepare(statement.sql).run(...statement.params);
    },
    records: async () => {
      const reader = openSqliteAuditReader(file);
      try {
        return await reader.records(0, 1_000_000);
      } finally {
        await reader.close();
      }
    },
    close: () => db.close(),
  };
}

async function verifyFile(file: string, expect?: { seq: number; hash: string }): Promise<VerifyResult> {
  const reader = openSqliteAuditReader(file);
  try {
    return await verifyChain(reader, { pageSize: 3, ...(expect === undefined ? {} : { expect }) });
  } finally {
    await reader.close();
  }
}

describe('audit verify over a real SQLite file', function () {
  this.timeout(60_000);
  let dir: string;
  let trail: string;
  let original: StoredRecord[];
  let copies = 0;

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'kmipd-audit-verify-'));
    trail = await writeTrail(dir);
    const raw = rawSqlite(trail);
    original = await raw.records();
    raw.close();
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const copy = (): string => {
    const target = path.join(dir, `copy-${(copies += 1)}.db`);
    copyFileSync(trail, target);
    return target;
  };

  it('the trail holds one record per item, the denial and the unreadable message included', () => {
    expect(original.map((r) => [r.seq, r.identity, r.operation, r.status, r.reason])).to.deep.equal([
      [1, 'alice', 'Create', 'Success', null],
      [2, 'alice', 'Get', 'Success', null],
      [3, 'alice', 'Get', 'Success', null],
      [4, 'alice', 'Get', 'OperationFailed', 'ItemNotFound'],
      [5, 'mallory', 'Get', 'OperationFailed', 'PermissionDenied'],
      [6, 'alice', 'Activate', 'Success', null],
      [7, 'alice', 'Locate', 'Success', null],
      [8, 'alice', 'Destroy', 'OperationFailed', 'WrongKeyLifecycleState'],
      [9, 'bob', null, 'OperationFailed', 'InvalidMessage'],
      [10, 'bob', 'Create', 'Success', null],
      [11, 'alice', 'Revoke', 'OperationFailed', 'InvalidField'],
    ]);
  });

  it('an intact chain verifies, and names its head', async () => {
    const last = original[original.length - 1];
    expect(await verifyFile(trail)).to.deep.equal({ intact: true, records: original.length, head: { seq: last?.seq, hash: last?.hash } });
  });

  for (const scenario of scenarios(11)) {
    it(`catches ${scenario.name}: record ${scenario.expected.seq}, ${scenario.expected.kind}`, async () => {
      const file = copy();
      const raw = rawSqlite(file);
      try {
        await scenario.tamper(raw);
      } finally {
        raw.close();
      }
      const result = await verifyFile(file);
      expect(result.intact, JSON.stringify(result)).to.equal(false);
      if (result.intact) return;
      expect({ seq: result.broken.seq, kind: result.broken.kind }, result.broken.detail).to.deep.equal(scenario.expected);
      expect(result.broken.detail).to.include(String(scenario.expected.seq));
    });
  }

  it('a trail rewritten consistently from record 4 on (hashes and head too) verifies, but not against a head recorded earlier', async () => {
    const file = copy();
    const db = new Database(file);
    try {
      let prevHash = original[2]?.hash ?? '';
      for (const record of original.slice(3)) {
        const rewritten = { ...record, identity: 'nobody', prevHash };
        const hash = recordHash({ ...rewritten, hash: '' });
        db.prepare('UPDATE audit_log SET identity = ?, prev_hash = ?, hash = ? WHERE seq = ?').run('nobody', prevHash, hash, record.seq);
        prevHash = hash;
      }
      db.prepare('UPDATE audit_head SET hash = ? WHERE id = 1').run(prevHash);
    } finally {
      db.close();
    }
    expect(await verifyFile(file)).to.deep.include({ intact: true });
    const earlier = original[5] as StoredRecord;
    const result = await verifyFile(file, { seq: earlier.seq, hash: earlier.hash });
    expect(result).to.deep.include({ intact: false });
    if (!result.intact) expect(result.broken).to.include({ seq: 6, kind: 'edited' });
  });

  it('a deleted chain head is reported', async () => {
    const file = copy();
    const db = new Database(file);
    db.prepare('DELETE FROM audit_head').run();
    db.close();
    const result = await verifyFile(file);
    expect(result.intact).to.equal(false);
    if (!result.intact) expect(result.broken.kind).to.equal('head');
  });
});
