/**
 * `npm run bench:server`: a real kmipd (in this process, SQLite, file KEK) driven over
 * mutual TLS by N client connections, each sending requests one after another. Prints
 * requests per second for Get of one key, Create, and Locate by name. A benchmark, not a
 * test: the machines are shared and noisy, so read the ratios (one connection against
 * several, Get against Create) more than the absolute figures. Each request runs unmeasured
 * for BENCH_WARMUP_SECONDS (default 1) first, so that the first figure does not carry the
 * JIT, the TLS session set-up and the SQLite page cache's first fill.
 */
import { readFile, rm } from 'node:fs/promises';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isConcrete, parseXml } from '../ttlv/index.js';
import type { TtlvItem } from '../ttlv/index.js';
import { silentLogger } from '../lib/log.js';
import { KmipConnection } from '../lib/client/index.js';
import { configWith } from '../server/config.js';
import { startServer } from '../server/index.js';

const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 3);
const WARMUP_SECONDS = Number(process.env['BENCH_WARMUP_SECONDS'] ?? 1);
const CONNECTIONS = [1, 8];

function request(body: string): TtlvItem {
  const [item] = parseXml(`<RequestMessage><RequestHeader><ProtocolVersion><ProtocolVersionMajor type="Integer" value="1"/><ProtocolVersionMinor type="Integer" value="4"/></ProtocolVersion>
    <BatchCount type="Integer" value="1"/></RequestHeader><BatchItem>${body}</BatchItem></RequestMessage>`);
  if (item === undefined || !isConcrete(item)) throw new Error('bad request');
  return item;
}

const create = request(`<Operation type="Enumeration" value="Create"/><RequestPayload><ObjectType type="Enumeration" value="SymmetricKey"/><TemplateAttribute>
  <Attribute><AttributeName type="TextString" value="Cryptographic Algorithm"/><AttributeValue type="Enumeration" value="AES"/></Attribute>
  <Attribute><AttributeName type="TextString" value="Cryptographic Length"/><AttributeValue type="Integer" value="256"/></Attribute>
  <Attribute><AttributeName type="TextString" value="Cryptographic Usage Mask"/><AttributeValue type="Integer" value="Encrypt Decrypt"/></Attribute></TemplateAttribute></RequestPayload>`);

function uniqueIdentifier(response: TtlvItem): string {
  const stack = [response];
  for (let item = stack.pop(); item !== undefined; item = stack.pop()) {
    if (item.tag === 0x420094 && item.type === 'TextString') return item.value;
    if (item.type === 'Structure') stack.push(...item.value);
  }
  throw new Error('no Unique Identifier in the response');
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'kmipd-bench-'));
  const server = await startServer(configWith({ dir, host: '127.0.0.1', port: 0 }), { log: silentLogger });
  try {
    const read = (name: string): Promise<string> => readFile(join(dir, 'certs', name), 'utf8');
    const tls = { cert: await read('admin.pem'), key: await read('admin-key.pem'), ca: await read('ca.pem') };
    const connect = (): Promise<KmipConnection> => KmipConnection.connect(server.host, server.port, tls);
    const first = await connect();
    const id = uniqueIdentifier(await first.send(create));
    first.close();
    const get = request(`<Operation type="Enumeration" value="Get"/><RequestPayload><UniqueIdentifier type="TextString" value="${id}"/></RequestPayload>`);
    const named = request(`<Operation type="Enumeration" value="Locate"/><RequestPayload><Attribute><AttributeName type="TextString" value="Unique Identifier"/><AttributeValue type="TextString" value="${id}"/></Attribute></RequestPayload>`);
    const phases = [['Get', get], ['Locate', named], ['Create', create]] as const;

    /** `message` sent one after another on each connection for `seconds`: requests per second. */
    const drive = async (connections: number, message: TtlvItem, seconds: number): Promise<number> => {
      const clients = await Promise.all(Array.from({ length: connections }, connect));
      try {
        const deadline = Date.now() + seconds * 1000;
        let done = 0;
        const started = process.hrtime.bigint();
        await Promise.all(
          clients.map(async (client) => {
            while (Date.now() < deadline) {
              await client.send(message);
              done++;
            }
          }),
        );
        return done / (Number(process.hrtime.bigint() - started) / 1e9);
      } finally {
        for (const client of clients) client.close();
      }
    };

    if (WARMUP_SECONDS > 0) {
      for (const [, message] of phases) await drive(Math.max(...CONNECTIONS), message, WARMUP_SECONDS);
    }
    console.log(`kmipd over TLS: requests/s, ${SECONDS}s per figure after a ${WARMUP_SECONDS}s warm-up per request, node ${process.version}, SQLite with synchronous=FULL`);
    console.log('request      connections   requests/s');
    for (const [name, message] of phases) {
      for (const connections of CONNECTIONS) {
        const rate = await drive(connections, message, SECONDS);
        console.log(`${name.padEnd(12)} ${String(connections).padStart(11)} ${Math.round(rate).toString().padStart(12)}`);
      }
    }
  } finally {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
