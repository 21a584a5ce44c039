/**
 * `npm run bench:audit`: what the audit trail costs reads. The real service over a real
 * SQLite file (synchronous=FULL), N concurrent callers doing Get, with the audit trail on
 * and off; prints Gets per second and how many records each audit transaction carried (the
 * group commit: with N callers, ideally N). In process, without TLS, so the figures show
 * the store and the group commit rather than the network. A benchmark, not a test.
 */
import { mkdtemp, rm } from 'node:fs/promises';
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
import type { Changes, Store } from '../lib/store/index.js';

const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 3);
const CALLERS = [1, 8, 32];
const SESSION = { identity: { name: 'bench', admin: false }, peer: '127.0.0.1:1' };

function message(body: string): Buffer {
  const [item] = parseXml(`<RequestMessage><RequestHeader><ProtocolVersion><ProtocolVersionMajor type="Integer" value="1"/><ProtocolVersionMinor type="Integer" value="4"/></ProtocolVersion>
    <BatchCount type="Integer" value="1"/></RequestHeader><BatchItem>${body}</BatchItem></RequestMessage>`);
  if (item === undefined || !isConcrete(item)) throw new Error('bad request');
  return encodeTtlv(item);
}

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

async function run(service: KmipService, get: Buffer, callers: number): Promise<number> {
  const deadline = Date.now() + SECONDS * 1000;
  let done = 0;
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: callers }, async () => {
      while (Date.now() < deadline) {
        await service.handle(get, SESSION);
        done += 1;
      }
    }),
  );
  return done / (Number(process.hrtime.bigint() - started) / 1e9);
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'kmipd-bench-audit-'));
  await createKekFile(join(dir, 'kek.key'));
  const store = await openSqliteStore({ path: join(dir, 'kmipd.db'), kek: await loadKekFile(join(dir, 'kek.key')), indexKeys });
  try {
    const counts = { transactions: 0, records: 0 };
    const audited = createKmipService({ store: counting(store, counts), log: silentLogger });
    const plain = createKmipService({ store, log: silentLogger, audit: false });
    const create = message(`<Operation type="Enumeration" value="Create"/><RequestPayload><ObjectType type="Enumeration" value="SymmetricKey"/><TemplateAttribute>
      <Attribute><AttributeName type="TextString" value="Cryptographic Algorithm"/><AttributeValue type="Enumeration" value="AES"/></Attribute>
      <Attribute><AttributeName type="TextString" value="Cryptographic Length"/><AttributeValue type="Integer" value="256"/></Attribute></TemplateAttribute></RequestPayload>`);
    const id = uniqueIdentifier(decodeTtlv(await plain.handle(create, SESSION)));
    const get = message(`<Operation type="Enumeration" value="Get"/><RequestPayload><UniqueIdentifier type="TextString" value="${id}"/></RequestPayload>`);
    await plain.handle(get, SESSION); // Fresh turns False: the Gets below change nothing

    console.log(`Get through the service (no TLS), ${SECONDS}s per figure, node ${process.version}, SQLite synchronous=FULL`);
    console.log('callers   audit off Get/s   audit on Get/s   records per audit transaction');
    for (const callers of CALLERS) {
      const off = await run(plain, get, callers);
      counts.transactions = 0;
      counts.records = 0;
      const on = await run(audited, get, callers);
      const perTransaction = counts.records / Math.max(1, counts.transactions);
      console.log(`${String(callers).padStart(7)} ${Math.round(off).toString().padStart(17)} ${Math.round(on).toString().padStart(16)} ${perTransaction.toFixed(1).padStart(31)}`);
    }
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
