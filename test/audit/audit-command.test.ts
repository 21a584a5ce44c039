/**
 * `kmipd audit verify` and `kmipd audit export`, run as real processes on the data folder of
 * a real kmipd that clients used over mutual TLS (one of them denied), then on the same
 * folder after its database file was edited.
 */
import Database from 'better-sqlite3';
import { execFile } from 'node:child_process';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { expect } from 'chai';
import { Enum, Tag } from '../../ttlv/index.js';
import { silentLogger } from '../../lib/log.js';
import { issueClient } from '../../server/datadir.js';
import { configWith, startServer } from '../../server/index.js';
import type { RunningServer } from '../../server/index.js';
import { TestClient, answer, pkiFiles, removeDir, request, tempDir } from '../server/helpers.js';
import { projectRoot } from '../support/paths.js';
import { createAesKey, idOf, text } from './requests.js';

const CLI = path.join(projectRoot, 'server', 'cli.ts');
const TSX = import.meta.resolve('tsx');

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function kmipd(args: string[]): Promise<Run> {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) if (!/^KMIPD?_/.test(name)) env[name] = value;
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', TSX, CLI, ...args], { env, timeout: 30_000 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1, stdout, stderr });
    });
  });
}

const createKey = createAesKey(256);

describe('kmipd audit verify / export on the data folder of a real server', function () {
  this.timeout(60_000);
  let dir: string;
  let server: RunningServer | undefined;
  let keyId: string;

  before(async () => {
    dir = await tempDir('audit-cli');
    server = await startServer(configWith({ dir, host: '127.0.0.1', port: 0 }), { log: silentLogger });
    await issueClient(dir, 'mallory');
    const admin = await TestClient.connect(server.port, pkiFiles(dir, 'admin'));
    const mallory = await TestClient.connect(server.port, pkiFiles(dir, 'mallory'));
    try {
      keyId = idOf(await admin.call(createKey));
      expect(answer(await admin.call(request(Enum.Operation.Get, [text(Tag.UniqueIdentifier, keyId)]))).status).to.equal(Enum.ResultStatus.Success);
      const denied = answer(await mallory.call(request(Enum.Operation.Get, [text(Tag.UniqueIdentifier, keyId)])));
      expect(denied.reason).to.equal(Enum.ResultReason.PermissionDenied);
      await mallory.call(request(Enum.Operation.Locate, []));
      await admin.call(request(Enum.Operation.Activate, [text(Tag.UniqueIdentifier, keyId)]));
    } finally {
      admin.close();
      mallory.close();
    }
    // The audit commands read a running server's database; stop it only for the edits below.
    const verified = await kmipd(['audit', 'verify', '--dir', dir]);
    expect(verified.code, verified.stderr).to.equal(0);
    expect(verified.stdout).to.match(/^audit chain intact: 5 records; head 5:[0-9a-f]{64}\n$/);
    await server.close();
    server = undefined;
  });
  after(async () => {
    await server?.close();
    await removeDir(dir);
  });

  it('verify proves the chain intact, and --json says the same for a program', async () => {
    const run = await kmipd(['audit', 'verify', '--dir', dir, '--json']);
    expect(run.code, run.stderr).to.equal(0);
    expect(JSON.parse(run.stdout)).to.deep.include({ intact: true, records: 5 });
  });

  it('export --out writes one JSON line per record, the denial with the identity and address of the client', async () => {
    const out = path.join(dir, 'audit.jsonl');
    const run = await kmipd(['audit', 'export', '--dir', dir, '--since', '1', '--out', out]);
    expect(run.code, run.stderr).to.equal(0);
    expect(run.stderr).to.include('exported 5 audit records');
    expect((await stat(out)).mode & 0o777).to.equal(0o600);
    const lines = (await readFile(out, 'utf8')).trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines.map((l) => [l['seq'], l['identity'], l['operation'], l['status'], l['reason']])).to.deep.equal([
      [1, 'admin', 'Create', 'Success', null],
      [2, 'admin', 'Get', 'Success', null],
      [3, 'mallory', 'Get', 'OperationFailed', 'PermissionDenied'],
      [4, 'mallory', 'Locate', 'Success', null],
      [5, 'admin', 'Activate', 'Success', null],
    ]);
    expect(lines[2]?.['objects']).to.deep.equal([keyId]);
    expect(lines[2]?.['peer']).to.match(/^127\.0\.0\.1:\d+$/);
    expect(lines[1]?.['prevHash']).to.equal(lines[0]?.['hash']);
  });

  it('export --since a sequence number or a date writes to standard output', async () => {
    const [fromThree, future, past, bad] = await Promise.all(
      ['3', '2999-01-01', '2000-01-01T00:00:00Z', 'yesterday'].map((since) => kmipd(['audit', 'export', '--dir', dir, '--since', since])),
    );
    expect(fromThree?.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { seq: number }).seq)).to.deep.equal([3, 4, 5]);
    expect(future?.code).to.equal(0);
    expect(future?.stdout).to.equal('');
    expect(past?.stdout.trim().split('\n')).to.have.length(5);
    if (bad === undefined) throw new Error('no run');
    expect(bad.code).to.equal(2);
    expect(bad.stderr).to.match(/ISO 8601/);
  });

  it('verify names the record an edit of the database file broke, with exit code 3; --expect catches a consistent rewrite', async () => {
    const head = JSON.parse((await kmipd(['audit', 'verify', '--dir', dir, '--json'])).stdout) as { head: { seq: number; hash: string } };
    const db = new Database(path.join(dir, 'kmipd.db'));
    try {
      db.prepare("UPDATE audit_log SET identity = 'admin' WHERE seq = 3").run();
    } finally {
      db.close();
    }
    const run = await kmipd(['audit', 'verify', '--dir', dir]);
    expect(run.code).to.equal(3);
    expect(run.stdout).to.match(/BROKEN at record 3 \(edited\)/);
    const anchored = await kmipd(['audit', 'verify', '--dir', dir, '--expect', `${head.head.seq}:${head.head.hash}`]);
    expect(anchored.code).to.equal(3);
  });

  it('a folder without a database is a clear error (exit code 2)', async () => {
    const run = await kmipd(['audit', 'verify', '--dir', path.join(dir, 'nowhere')]);
    expect(run.code).to.equal(2);
    expect(run.stderr).to.match(/no database at/);
  });
});
