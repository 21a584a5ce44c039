/**
 * auditReadDurability `process` (the default): the record of a read is in the database before
 * its answer, though not synced. A real kmipd process serving Gets on four connections is
 * killed with SIGKILL while they are answered, then restarted on the same folder: the record
 * of every Get whose answer arrived is in the chain, and the chain verifies.
 */
import { expect } from 'chai';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isConcrete, parseXml } from '../../ttlv/index.js';
import type { TtlvItem } from '../../ttlv/index.js';
import { openSqliteAuditReader, verifyChain } from '../../lib/audit/index.js';
import { KmipConnection } from '../../lib/client/index.js';
import { startKmipd } from '../../scripts/bench-process.js';
import type { ServerProcess } from '../../scripts/bench-process.js';

function request(body: string, clientCorrelation: string): TtlvItem {
  const [item] = parseXml(`<RequestMessage><RequestHeader><ProtocolVersion><ProtocolVersionMajor type="Integer" value="1"/><ProtocolVersionMinor type="Integer" value="4"/></ProtocolVersion>
    <ClientCorrelationValue type="TextString" value="${clientCorrelation}"/><BatchCount type="Integer" value="1"/></RequestHeader><BatchItem>${body}</BatchItem></RequestMessage>`);
  if (item === undefined || !isConcrete(item)) throw new Error('bad request');
  return item;
}

const CREATE = `<Operation type="Enumeration" value="Create"/><RequestPayload><ObjectType type="Enumeration" value="SymmetricKey"/><TemplateAttribute>
  <Attribute><AttributeName type="TextString" value="Cryptographic Algorithm"/><AttributeValue type="Enumeration" value="AES"/></Attribute>
  <Attribute><AttributeName type="TextString" value="Cryptographic Length"/><AttributeValue type="Integer" value="256"/></Attribute></TemplateAttribute></RequestPayload>`;

function findText(item: TtlvItem, tag: number): string | undefined {
  const stack = [item];
  for (let next = stack.pop(); next !== undefined; next = stack.pop()) {
    if (next.tag === tag && next.type === 'TextString') return next.value;
    if (next.type === 'Structure') stack.push(...next.value);
  }
  return undefined;
}

const UNIQUE_IDENTIFIER = 0x420094;
const RESULT_STATUS = 0x42007f;

function succeeded(response: TtlvItem): boolean {
  const stack = [response];
  for (let next = stack.pop(); next !== undefined; next = stack.pop()) {
    if (next.tag === RESULT_STATUS && next.type === 'Enumeration') return next.value === 0;
    if (next.type === 'Structure') stack.push(...next.value);
  }
  return false;
}

function kill(server: ServerProcess): void {
  try {
    process.kill(-server.pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

describe('audit: records of reads survive SIGKILL of kmipd (auditReadDurability process)', function () {
  this.timeout(120_000);
  let work: string;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'kmipd-audit-kill-'));
  });
  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it('3 cycles: Gets answered on 4 connections, SIGKILL, restart: every answered Get is recorded and the chain verifies', async function () {
    const dir = join(work, 'data');
    const start = (): Promise<ServerProcess> => startKmipd({ dir, workers: 1, logLevel: 'warn', tsx: true, logFile: join(work, 'kmipd.log') });
    const answered: string[] = [];
    let inFlightAtKill = 0;
    for (let cycle = 1; cycle <= 3; cycle++) {
      const server = await start();
      const read = (name: string): Promise<string> => readFile(join(dir, 'certs', name), 'utf8');
      const tls = { cert: await read('admin.pem'), key: await read('admin-key.pem'), ca: await read('ca.pem') };
      const clients = await Promise.all(Array.from({ length: 4 }, () => KmipConnection.connect(server.host, server.port, tls)));
      const id = findText(await (clients[0] as KmipConnection).send(request(CREATE, `create-${cycle}`)), UNIQUE_IDENTIFIER);
      expect(id, 'the Create answered an identifier').to.be.a('string');
      let killed = false;
      const loops = clients.map(async (client, c) => {
        for (let n = 0; !killed; n++) {
          const correlation = `get-${cycle}-${c}-${n}`;
          try {
            const response = await client.send(request(`<Operation type="Enumeration" value="Get"/><RequestPayload><UniqueIdentifier type="TextString" value="${id}"/></RequestPayload>`, correlation));
            expect(succeeded(response), `${correlation} succeeded`).to.equal(true);
            // Answered (a response after the kill cannot exist: the process is gone).
            answered.push(correlation);
          } catch (error) {
            if (!killed) throw error;
            inFlightAtKill += 1;
            return;
          }
        }
      });
      await new Promise((resolve) => setTimeout(resolve, 300 + cycle * 150));
      // Killed while the Gets are being answered, with no change after them to sync the WAL.
      killed = true;
      kill(server);
      await Promise.all(loops);
      for (const client of clients) client.close();
      await server.stop(0);
    }
    // A restart recovers the WAL, as after a real crash; then the trail is read from the file.
    const server = await start();
    await server.stop();
    const reader = openSqliteAuditReader(join(dir, 'kmipd.db'));
    try {
      const records = await reader.records(0, 10_000_000);
      const recorded = new Set(records.map((r) => r.clientCorrelation));
      const missing = answered.filter((correlation) => !recorded.has(correlation));
      expect(missing, 'answered Gets without a record').to.deep.equal([]);
      expect(answered.length, 'Gets answered before the kills').to.be.at.least(30);
      expect(records.filter((r) => r.operation === 'Create' && r.status === 'Success')).to.have.length(3);
      expect(await verifyChain(reader)).to.deep.include({ intact: true });
    } finally {
      await reader.close();
    }
    expect(inFlightAtKill, 'requests cut by the kills').to.be.at.least(1);
  });
});
