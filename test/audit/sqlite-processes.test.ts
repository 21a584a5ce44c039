/**
 * Several processes (node:cluster workers) share one SQLite file: each commit is BEGIN
 * IMMEDIATE, so reading the chain head and appending happen under the file's one write lock,
 * and the chain written by three processes at once is one gapless sequence that verifies.
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { indexKeys } from '../../lib/attributes/index.js';
import { openSqliteAuditReader, verifyChain } from '../../lib/audit/index.js';
import { createKekFile, loadKekFile } from '../../lib/crypto/index.js';
import { openSqliteStore } from '../../lib/store/index.js';

const WORKER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'append-worker.ts');
const TSX = import.meta.resolve('tsx');
const PER_WORKER = 150;

function runWorker(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--import', TSX, WORKER, ...args], { timeout: 50_000 }, (error, _stdout, stderr) => (error === null ? resolve() : reject(new Error(`${error.message}\n${stderr}`))));
  });
}

describe('audit chain of one SQLite file written by several processes at once', function () {
  this.timeout(60_000);
  let dir: string;

  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'kmipd-audit-processes-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it(`three processes × ${PER_WORKER} commits: one gapless chain, every commit once, intact`, async () => {
    const database = path.join(dir, 'kmipd.db');
    const kekFile = path.join(dir, 'kek.key');
    await createKekFile(kekFile);
    // Created (and migrated) once first, as the cluster primary does before it forks.
    await (await openSqliteStore({ path: database, kek: await loadKekFile(kekFile), indexKeys })).close();
    await Promise.all(['one', 'two', 'three'].map((name) => runWorker([database, kekFile, name, String(PER_WORKER), '3'])));
    const reader = openSqliteAuditReader(database);
    try {
      const records = await reader.records(0, 1_000_000);
      expect(records.map((r) => r.seq)).to.deep.equal(Array.from({ length: 3 * PER_WORKER }, (_, i) => i + 1));
      expect(new Set(records.map((r) => r.correlation)).size).to.equal(3 * PER_WORKER);
      // The processes really interleaved: the chain changes writer many times.
      const switches = records.filter((r, i) => i > 0 && r.identity !== records[i - 1]?.identity).length;
      expect(switches).to.be.greaterThan(2);
      expect(await verifyChain(reader)).to.deep.include({ intact: true, records: 3 * PER_WORKER });
    } finally {
      await reader.close();
    }
  });
});
