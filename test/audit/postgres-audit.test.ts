/**
 * The audit trail on a real PostgreSQL database shared by two kmipd nodes: clients of both
 * nodes at once over mutual TLS leave one gapless chain (appends queue on the head row), it
 * verifies (also through `kmipd audit verify --store postgres`), and each way of tampering
 * with the tables directly is caught and named.
 */
import { execFile } from 'node:child_process';
import { cp } from 'node:fs/promises';
import path from 'node:path';
import { expect } from 'chai';
import { Client } from 'pg';
import { Enum, Tag } from '../../ttlv/index.js';
import { openPostgresAuditReaderAt, verifyChain } from '../../lib/audit/index.js';
import type { StoredRecord, VerifyResult } from '../../lib/audit/index.js';
import { silentLogger } from '../../lib/log.js';
import { configWith, startServer } from '../../server/index.js';
import type { RunningServer } from '../../server/index.js';
import { TestClient, answer, pkiFiles, removeDir, request, tempDir } from '../server/helpers.js';
import { projectRoot } from '../support/paths.js';
import { createAesKey, idOf, text } from './requests.js';
import { startPostgres } from '../support/postgres.js';
import type { PostgresCluster } from '../support/postgres.js';
import { scenarios } from './tamper.js';
import type { RawDb } from './tamper.js';

/** The tsx loader by path, for the kmipd command run as a process. */
const TSX = import.meta.resolve('tsx');

const createKey = createAesKey(128);

describe('audit trail on PostgreSQL shared by two kmipd nodes', function () {
  this.timeout(60_000);
  let cluster: PostgresCluster;
  let dirA: string;
  let dirB: string;
  const nodes: RunningServer[] = [];
  let requests = 0;
  let original: StoredRecord[] = [];

  before(async () => {
    cluster = await startPostgres();
    dirA = await tempDir('audit-node-a');
    dirB = await tempDir('audit-node-b');
    const settings = { store: 'postgres' as const, postgresUrl: cluster.connectionString, host: '127.0.0.1', port: 0 };
    const first = await startServer(configWith({ ...settings, dir: dirA }), { log: silentLogger });
    await first.close();
    await cp(dirA, dirB, { recursive: true }); // the same KEK and PKI, as an operator deploys them
    nodes.push(await startServer(configWith({ ...settings, dir: dirA }), { log: silentLogger }));
    nodes.push(await startServer(configWith({ ...settings, dir: dirB }), { log: silentLogger }));

    // Three clients on each node, each creating a key and reading it back three times, all at once.
    const work = nodes.flatMap((node) =>
      [0, 1, 2].map(async () => {
        const client = await TestClient.connect(node.port, pkiFiles(dirA, 'admin'));
        try {
          const id = idOf(await client.call(createKey));
          for (let i = 0; i < 3; i++) {
            expect(answer(await client.call(request(Enum.Operation.Get, [text(Tag.UniqueIdentifier, id)]))).status).to.equal(Enum.ResultStatus.Success);
          }
          expect(answer(await client.call(request(Enum.Operation.Get, [text(Tag.UniqueIdentifier, 'missing')]))).reason).to.equal(Enum.ResultReason.ItemNotFound);
        } finally {
          client.close();
        }
      }),
    );
    await Promise.all(work);
    requests = 6 * 5;
  });

  after(async () => {
    for (const node of nodes) await node.close();
    await cluster?.stop();
    await removeDir(dirA);
    await removeDir(dirB);
  });

  async function verifySchema(schema: string, options: { expect?: { seq: number; hash: string } } = {}): Promise<VerifyResult> {
    const reader = await openPostgresAuditReaderAt(cluster.connectionString, schema);
    try {
      return await verifyChain(reader, { pageSize: 7, ...options });
    } finally {
      await reader.close();
    }
  }

  it('requests through both nodes at once leave one gapless chain that verifies', async () => {
    const reader = await openPostgresAuditReaderAt(cluster.connectionString, 'kmipd');
    try {
      original = await reader.records(0, 1_000_000);
    } finally {
      await reader.close();
    }
    expect(requests).to.equal(30); // the tamper scenarios below are written for 30 records
    expect(original.map((r) => r.seq)).to.deep.equal(Array.from({ length: requests }, (_, i) => i + 1));
    expect(original.filter((r) => r.operation === 'Create')).to.have.length(6);
    expect(original.filter((r) => r.reason === 'ItemNotFound')).to.have.length(6);
    expect(await verifySchema('kmipd')).to.deep.include({ intact: true, records: requests });
  });

  it('kmipd audit verify --store postgres proves it from the command line', async () => {
    const env: NodeJS.ProcessEnv = {};
    for (const [name, value] of Object.entries(process.env)) if (!/^KMIPD?_/.test(name)) env[name] = value;
    const run = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        ['--import', TSX, path.join(projectRoot, 'server', 'cli.ts'), 'audit', 'verify', '--dir', dirA, '--store', 'postgres', '--postgres-url', cluster.connectionString],
        { env, timeout: 30_000 },
        (error, stdout, stderr) => resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1, stdout, stderr }),
      );
    });
    expect(run.code, run.stderr).to.equal(0);
    expect(run.stdout).to.include(`audit chain intact: ${requests} records`);
  });

  describe('tampering directly in the database', () => {
    let admin: Client;
    let copies = 0;

    before(async () => {
      admin = new Client({ connectionString: cluster.connectionString });
      await admin.connect();
    });
    after(async () => {
      await admin.end();
    });

    /** A copy of the trail in a schema of its own, to tamper with. */
    async function copySchema(): Promise<string> {
      const schema = `tamper_${(copies += 1)}`;
      await admin.query(`CREATE SCHEMA ${schema}`);
      await admin.query(`CREATE TABLE ${schema}.audit_log (LIKE kmipd.audit_log INCLUDING ALL)`);
      await admin.query(`INSERT INTO ${schema}.audit_log SELECT * FROM kmipd.audit_log`);
      await admin.query(`CREATE TABLE ${schema}.audit_head (LIKE kmipd.audit_head INCLUDING ALL)`);
      await admin.query(`INSERT INTO ${schema}.audit_head SELECT * FROM kmipd.audit_head`);
      return schema;
    }

    const raw = (schema: string): RawDb => ({
      run: async (sql, params = []) => {
        await admin.query(`SET search_path TO ${schema}`);
        await admin.query(sql, [...params]);
      },
      records: async () => {
        const reader = await openPostgresAuditReaderAt(cluster.connectionString, schema);
        try {
          return await reader.records(0, 1_000_000);
        } finally {
          await reader.close();
        }
      },
    });

    for (const scenario of scenarios(30)) {
      it(`catches ${scenario.name}: record ${scenario.expected.seq}, ${scenario.expected.kind}`, async () => {
        const schema = await copySchema();
        await scenario.tamper(raw(schema));
        const result = await verifySchema(schema);
        expect(result.intact, JSON.stringify(result)).to.equal(false);
        if (!result.intact) expect({ seq: result.broken.seq, kind: result.broken.kind }, result.broken.detail).to.deep.equal(scenario.expected);
      });
    }

    it('an untouched copy verifies, and against the head it had', async () => {
      const schema = await copySchema();
      const last = original[original.length - 1] as StoredRecord;
      expect(await verifySchema(schema, { expect: { seq: last.seq, hash: last.hash } })).to.deep.include({ intact: true });
    });
  });
});
