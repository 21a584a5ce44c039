/**
 * `npm run bench:audit`: what the audit trail costs reads. Gets per second with the audit
 * trail off, on with auditReadDurability `process` (the default: the record is in the
 * database before the answer, synced with the next change) and on with `fsync` (every answer
 * waits for its synced record), in two settings:
 *
 * 1. The service alone (no TLS) over a real SQLite file, N concurrent callers: the store and
 *    the group commit, with how many records each audit transaction carried.
 * 2. A real kmipd over mutual TLS, N client connections each sending one request at a time.
 *
 * The modes run interleaved, round after round, so that the machine's noise falls on all of
 * them alike: read the ratios (on/off) more than the absolute figures. A benchmark, not a test.
 * 3. With BENCH_POSTGRES=1 (or BENCH_ONLY=postgres): two nodes' Create-sized commits on one
 *    throwaway PostgreSQL cluster, with and without audit records (the chain head row lock).
 *
 * BENCH_SECONDS (default 2) per figure, BENCH_ROUNDS (default 2) rounds.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tag, decodeTtlv, encodeTtlv, isConcrete, parseXml } from '../ttlv/index.js';
import type { TtlvItem } from '../ttlv/index.js';
import { indexKeys } from '../lib/attributes/index.js';
import { createKekFile, loadKekFile } from '../lib/crypto/index.js';
import { silentLogger } from '../lib/log.js';
import { createKmipService } from '../lib/service.js';
import type { KmipService } from '../lib/service.js';
import { openSqliteStore } from '../lib/store/index.js';
import type { AuditDurability, Changes, Store } from '../lib/store/index.js';
import { KmipConnection } from '../lib/client/index.js';
import { configWith } from '../server/config.js';
import { startServer } from '../server/index.js';

const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 2);
const ROUNDS = Math.max(1, Number(process.env['BENCH_ROUNDS'] ?? 2));
const CALLERS = [1, 8, 32];
const CONNECTIONS = [1, 16];
const SESSION = { identity: { name: 'bench', admin: false }, peer: '127.0.0.1:1' };

type Mode = 'off' | AuditDurability;
const MODES: readonly Mode[] = ['off', 'process', 'fsync'];

function requestXml(body: string): TtlvItem {
  const [item] = parseXml(`<RequestMessage><RequestHeader><ProtocolVersion><ProtocolVersionMajor type="Integer" value="1"/><ProtocolVersionMinor type="Integer" value="4"/></ProtocolVersion>
    <BatchCount type="Integer" value="1"/></RequestHeader><BatchItem>${body}</BatchItem></RequestMessage>`);
  if (item === undefined || !isConcrete(item)) throw new Error('bad request');
  return item;
}

const CREATE = requestXml(`<Operation type="Enumeration" value="Create"/><RequestPayload><ObjectType type="Enumeration" value="SymmetricKey"/><TemplateAttribute>
  <Attribute><AttributeName type="TextString" value="Cryptographic Algorithm"/><AttributeValue type="Enumeration" value="AES"/></Attribute>
  <Attribute><AttributeName type="TextString" value="Cryptographic Length"/><AttributeValue type="Integer" value="256"/></Attribute>
  <Attribute><AttributeName type="TextString" value="Cryptographic Usage Mask"/><AttributeValue type="Integer" value="Encrypt Decrypt"/></Attribute></TemplateAttribute></RequestPayload>`);

const getRequest = (id: string): TtlvItem =>
  requestXml(`<Operation type="Enumeration" value="Get"/><RequestPayload><UniqueIdentifier type="TextString" value="${id}"/></RequestPayload>`);

function uniqueIdentifier(response: TtlvItem): string {
  const stack = [response];
  for (let item = stack.pop(); item !== undefined; item = stack.pop()) {
    if (item.tag === Tag.UniqueIdentifier && item.type === 'TextString') return item.value;
    if (item.type === 'Structure') stack.push(...item.value);
  }
  throw new Error('no Unique Identifier in the response');
}

/** The store, counting the commits that hold only audit records (the group commits). */
function counting(store: Store, counts: { transactions: number; records: number }): Store {
  return new Proxy(store, {
    get(target, property) {
      if (property === 'commit') {
        return (changes: Changes) => {
          if ((changes.create ?? []).length === 0 && (changes.update ?? []).length === 0 && (changes.audit ?? []).length > 0) {
            counts.transactions += 1;
            counts.records += changes.audit?.length ?? 0;
          }
          return target.commit(changes);
        };
      }
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

/** Requests per second of `workers` loops each sending with `send` until the deadline. */
async function rate(workers: number, send: (worker: number) => Promise<unknown>): Promise<number> {
  const deadline = Date.now() + SECONDS * 1000;
  let done = 0;
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: workers }, async (_, worker) => {
      while (Date.now() < deadline) {
        await send(worker);
        done += 1;
      }
    }),
  );
  return done / (Number(process.hrtime.bigint() - started) / 1e9);
}

/** Best of the rounds per mode: noise only ever slows a run down. */
function best(figures: Map<Mode, number[]>, mode: Mode): number {
  return Math.max(...(figures.get(mode) ?? [0]));
}

function printRow(label: string, figures: Map<Mode, number[]>, extra = ''): void {
  const off = best(figures, 'off');
  const cells = MODES.map((mode) => Math.round(best(figures, mode)).toString().padStart(9));
  const ratios = (['process', 'fsync'] as const).map((mode) => (best(figures, mode) / off).toFixed(2).padStart(9));
  console.log(`${label.padStart(11)} ${cells.join(' ')} ${ratios.join(' ')}${extra}`);
}

const HEADER = '            off Get/s process/s   fsync/s  process/off fsync/off';

async function inProcess(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'kmipd-bench-audit-'));
  await createKekFile(join(dir, 'kek.key'));
  const store = await openSqliteStore({ path: join(dir, 'kmipd.db'), kek: await loadKekFile(join(dir, 'kek.key')), indexKeys });
  try {
    const counts = { transactions: 0, records: 0 };
    const services = new Map<Mode, KmipService>([
      ['off', createKmipService({ store, log: silentLogger, audit: false })],
      ['process', createKmipService({ store: counting(store, counts), log: silentLogger, auditReadDurability: 'process' })],
      ['fsync', createKmipService({ store: counting(store, counts), log: silentLogger, auditReadDurability: 'fsync' })],
    ]);
    const plain = services.get('off') as KmipService;
    const id = uniqueIdentifier(decodeTtlv(await plain.handle(encodeTtlv(CREATE), SESSION)));
    const get = encodeTtlv(getRequest(id));
    await plain.handle(get, SESSION); // Fresh turns False: the Gets below change nothing

    console.log(`\n1. Get through the service (no TLS), SQLite file, ${SECONDS}s per figure, best of ${ROUNDS} interleaved rounds, node ${process.version}`);
    console.log(`callers ${HEADER}   records per audit transaction (process, fsync)`);
    for (const callers of CALLERS) {
      const figures = new Map<Mode, number[]>();
      const perTransaction = new Map<Mode, number>();
      for (let round = 0; round < ROUNDS; round++) {
        for (const mode of MODES) {
          counts.transactions = 0;
          counts.records = 0;
          const service = services.get(mode) as KmipService;
          figures.set(mode, [...(figures.get(mode) ?? []), await rate(callers, () => service.handle(get, SESSION))]);
          if (mode !== 'off') perTransaction.set(mode, counts.records / Math.max(1, counts.transactions));
        }
      }
      printRow(String(callers), figures, `   ${(perTransaction.get('process') ?? 0).toFixed(1)}, ${(perTransaction.get('fsync') ?? 0).toFixed(1)}`);
    }
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

async function overTls(): Promise<void> {
  const started: { mode: Mode; dir: string; server: Awaited<ReturnType<typeof startServer>>; clients: Map<number, KmipConnection[]>; get: TtlvItem }[] = [];
  try {
    for (const mode of MODES) {
      const dir = await mkdtemp(join(tmpdir(), `kmipd-bench-audit-${mode}-`));
      const server = await startServer(configWith({ dir, host: '127.0.0.1', port: 0, audit: mode !== 'off', auditReadDurability: mode === 'fsync' ? 'fsync' : 'process' }), { log: silentLogger });
      const read = (name: string): Promise<string> => readFile(join(dir, 'certs', name), 'utf8');
      const tls = { cert: await read('admin.pem'), key: await read('admin-key.pem'), ca: await read('ca.pem') };
      const clients = new Map<number, KmipConnection[]>();
      for (const n of CONNECTIONS) clients.set(n, await Promise.all(Array.from({ length: n }, () => KmipConnection.connect(server.host, server.port, tls))));
      const first = (clients.get(1) as KmipConnection[])[0] as KmipConnection;
      const get = getRequest(uniqueIdentifier(await first.send(CREATE)));
      await first.send(get);
      started.push({ mode, dir, server, clients, get });
    }
    console.log(`\n2. Get over mutual TLS to a real kmipd (SQLite), ${SECONDS}s per figure, best of ${ROUNDS} interleaved rounds`);
    console.log(`connections${HEADER.slice(4)}`);
    for (const n of CONNECTIONS) {
      const figures = new Map<Mode, number[]>();
      for (let round = 0; round < ROUNDS; round++) {
        for (const { mode, clients, get } of started) {
          const connections = clients.get(n) as KmipConnection[];
          figures.set(mode, [...(figures.get(mode) ?? []), await rate(n, (worker) => (connections[worker] as KmipConnection).send(get))]);
        }
      }
      printRow(String(n), figures);
    }
  } finally {
    for (const { dir, server, clients } of started) {
      for (const list of clients.values()) for (const client of list) client.close();
      await server.close();
      await rm(dir, { recursive: true, force: true });
    }
  }
}

/**
 * Two kmipd nodes on one PostgreSQL (two stores, each its own pool), 8 writers each, doing
 * Create-sized commits with and without an audit record. A transaction with records locks the
 * chain head row until COMMIT (its WAL flush included), so audited transactions of all nodes
 * serialise: each node writes the commits that came meanwhile in one (group commit).
 */
async function twoPostgresNodes(): Promise<void> {
  const { startPostgres } = await import('../test/support/postgres.js');
  const { openPostgresStore } = await import('../lib/store/index.js');
  const { Enum, leaf, structure } = await import('../ttlv/index.js');
  const cluster = await startPostgres();
  const dir = await mkdtemp(join(tmpdir(), 'kmipd-bench-audit-pg-'));
  try {
    await createKekFile(join(dir, 'kek.key'));
    const kek = await loadKekFile(join(dir, 'kek.key'));
    const nodes = [
      await openPostgresStore({ connectionString: cluster.connectionString, kek, indexKeys }),
      await openPostgresStore({ connectionString: cluster.connectionString, kek, indexKeys }),
    ];
    const writersPerNode = 8;
    const commitOne = (store: Store, audited: boolean): Promise<void> => {
      const id = store.newId();
      const object = {
        id,
        objectType: Enum.ObjectType.SymmetricKey,
        owner: 'bench',
        attributes: [{ name: 'State', value: leaf(Tag.State, 'Enumeration', Enum.State.PreActive) }],
        body: structure(Tag.SymmetricKey, [structure(Tag.KeyBlock, [leaf(Tag.KeyFormatType, 'Enumeration', Enum.KeyFormatType.Raw)])]),
        revision: 1,
      };
      const entry = { time: new Date().toISOString(), identity: 'bench', peer: '127.0.0.1:1', correlation: id, clientCorrelation: null, item: 1, operation: 'Create', objects: [id], status: 'Success', reason: null, message: null };
      return store.commit(audited ? { create: [object], audit: [entry] } : { create: [object] });
    };
    console.log(`\n3. Create-sized commits on two PostgreSQL nodes (one database), ${writersPerNode} writers per node, ${SECONDS}s per figure, best of ${ROUNDS} rounds`);
    console.log('nodes   no record/s   with record/s   with/without   commits per transaction (with record)');
    for (const count of [1, 2]) {
      const figures = new Map<boolean, number[]>();
      const grouped = { commits: 0, transactions: 0 };
      for (let round = 0; round < ROUNDS; round++) {
        for (const audited of [false, true]) {
          const used = nodes.slice(0, count);
          const before = used.map((node) => node.groupCommitStats());
          figures.set(audited, [...(figures.get(audited) ?? []), await rate(writersPerNode * count, (worker) => commitOne(used[worker % count] as Store, audited))]);
          if (!audited) continue;
          const after = used.map((node) => node.groupCommitStats());
          grouped.commits += after.reduce((sum, stats, i) => sum + stats.commits - (before[i]?.commits ?? 0), 0);
          grouped.transactions += after.reduce((sum, stats, i) => sum + stats.transactions - (before[i]?.transactions ?? 0), 0);
        }
      }
      const without = Math.max(...(figures.get(false) ?? [0]));
      const withRecord = Math.max(...(figures.get(true) ?? [0]));
      console.log(`${String(count).padStart(5)} ${Math.round(without).toString().padStart(13)} ${Math.round(withRecord).toString().padStart(15)} ${(withRecord / without).toFixed(2).padStart(14)} ${(grouped.commits / Math.max(1, grouped.transactions)).toFixed(1).padStart(14)}`);
    }
    for (const node of nodes) await node.close();
  } finally {
    await cluster.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  if (process.env['BENCH_ONLY'] !== 'postgres') {
    await inProcess();
    await overTls();
  }
  // Needs PostgreSQL's server binaries (Debian postgresql), as the store tests do.
  if (process.env['BENCH_POSTGRES'] === '1' || process.env['BENCH_ONLY'] === 'postgres') await twoPostgresNodes();
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
