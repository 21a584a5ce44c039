/**
 * Populations for the Locate workloads: data folders holding N AES-256 keys named
 * `${seedPrefix(N)}<i>`, cached under the temporary folder and keyed by SEED_VERSION, so a
 * million objects are written once, not on every run.
 *
 * One key is made through KMIP by a real kmipd (so its attributes are exactly what Create
 * stores); the others are clones of it with their own identifier and name, committed through
 * the store API in large transactions. Every clone carries the same key material: Locate
 * never reads it, and the point is the number of objects the index has to search.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tag } from '../ttlv/index.js';
import type { TtlvItem } from '../ttlv/index.js';
import { silentLogger } from '../lib/log.js';
import { DUE_INDEX, encodeAttributes } from '../lib/store/codec.js';
import { rebuildAttributeIndex, recountObjects } from '../lib/store/sqlite.js';
import { DUE_INDEX_VERSION } from '../lib/operations/rotation.js';
import type { ManagedObject } from '../lib/objects/types.js';
import { configWith } from '../server/config.js';
import type { KmipdConfig } from '../server/config.js';
import { startServer } from '../server/index.js';
import { openConfiguredKek } from '../server/kek.js';
import { indexKeys, openStore } from '../server/store.js';
import { connect } from './bench-client.js';
import type { BenchConnection, Target } from './bench-client.js';
import { createAes256, expectSuccess, locateByName, registerNamedBatch, uniqueIdentifier, uniqueIdentifiers } from './bench-messages.js';

/** Bump when the seeded data changes shape (attributes, naming, schema). */
export const SEED_VERSION = 2;

const BATCH = 50_000;

export function seedPrefix(population: number): string {
  return `bench-${population}-`;
}

export function seedCacheDir(population: number): string {
  return join(tmpdir(), 'kmipd-bench-cache', `seed-v${SEED_VERSION}-${population}`);
}

/** A data folder with `population` named keys, built when not cached yet; returns its path. */
export async function seededDataDir(population: number, say: (line: string) => void): Promise<string> {
  const dir = seedCacheDir(population);
  const marker = join(dir, 'seeded.json');
  if (existsSync(marker)) {
    const info = JSON.parse(await readFile(marker, 'utf8')) as { population?: number };
    if (info.population === population) {
      await warmPageCache(join(dir, 'kmipd.db'), say);
      return dir;
    }
  }
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const started = Date.now();
  say(`seeding ${population.toLocaleString('en')} objects into ${dir} (once; cached for later runs)`);

  const config = configWith({ dir, host: '127.0.0.1', port: 0 });
  const server = await startServer(config, { log: silentLogger });
  let templateId: string;
  try {
    const tls = await clientTls(dir);
    const client = await connect({ host: server.host, port: server.port, tls });
    const response = await client.call(createAes256(`${seedPrefix(population)}0`));
    expectSuccess(response, 'Create of the template key');
    templateId = uniqueIdentifier(response) ?? '';
    await client.close();
  } finally {
    await server.close();
  }

  await cloneTemplate(dir, config, templateId, population, say);
  await writeFile(marker, JSON.stringify({ population, seedVersion: SEED_VERSION, seconds: (Date.now() - started) / 1000 }));
  say(`seeded in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  await warmPageCache(join(dir, 'kmipd.db'), say);
  return dir;
}

/**
 * Read the database file once, so that the Locate figures are those of a server whose
 * working set is in the operating system's page cache (one that has been running), not of
 * its first minutes after a boot, when every lookup among a million objects reads the disk.
 */
async function warmPageCache(path: string, say: (line: string) => void): Promise<void> {
  const started = Date.now();
  let bytes = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) bytes += (chunk as Buffer).length;
  say(`read ${(bytes / 2 ** 30).toFixed(1)} GiB of ${path} into the page cache in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

/**
 * Write `population - 1` clones of the template straight into the SQLite file, in the
 * store's own encoding (lib/store/codec.ts): the template's wrapped body is reused as is,
 * and the attribute indexes are dropped during the load and rebuilt once at the end,
 * which is far faster than a million random inserts into them.
 */
async function cloneTemplate(dir: string, config: KmipdConfig, templateId: string, population: number, say: (line: string) => void): Promise<void> {
  const path = join(dir, 'kmipd.db');
  const { kek, close: closeKek } = await openConfiguredKek(config, join(dir, 'kek.key'), false, silentLogger);
  let template: ManagedObject | undefined;
  try {
    const store = await openStore(path, kek);
    template = await store.load(templateId);
    await store.close();
  } finally {
    await closeKek();
  }
  if (template === undefined) throw new Error('the template key is not in the store');

  const db = new Database(path);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = OFF');
    db.pragma('cache_size = -1000000');
    const row = db.prepare<[string], { seq: number; body: Buffer; kek_id: string; object_type: number; owner: string; created: number }>(
      'SELECT seq, body, kek_id, object_type, owner, created FROM objects WHERE id = ?',
    ).get(templateId);
    if (row === undefined) throw new Error('the template row is missing');
    const insertObject = db.prepare(
      'INSERT INTO objects (id, seq, object_type, owner, revision, attributes, body, kek_id, created, updated) VALUES (?, ?, ?, ?, 1, ?, ?, ?, ?, ?)',
    );
    const load = db.transaction((first: number, count: number) => {
      for (let i = first; i < first + count; i++) {
        const id = randomUUID();
        const clone = cloneAs(template, id, `${seedPrefix(population)}${i}`);
        insertObject.run(id, row.seq + i, row.object_type, row.owner, encodeAttributes(clone.attributes), row.body, row.kek_id, row.created, row.created);
      }
    });
    for (let first = 1; first < population; first += BATCH) {
      load(first, Math.min(BATCH, population - first));
      if (first > 1 && (first - 1) % 100_000 === 0) say(`  ${(first - 1).toLocaleString('en')} objects`);
    }
    say('  writing the attribute index');
    db.transaction(() => {
      rebuildAttributeIndex(db, indexKeys);
      recountObjects(db);
    })();
    db.exec('ANALYZE');
    db.pragma('wal_checkpoint(TRUNCATE)');
  } finally {
    db.close();
  }
  // The rows above include the scheduler's due rows: walk its backfill to the end here, so
  // that the server measured is in the steady state, not backfilling a million objects.
  say('  recording the due index as complete');
  const reopened = await openConfiguredKek(config, join(dir, 'kek.key'), false, silentLogger);
  try {
    const store = await openStore(path, reopened.kek);
    try {
      while (!(await store.refreshIndex(DUE_INDEX, DUE_INDEX_VERSION, 10_000)).done);
    } finally {
      await store.close();
    }
  } finally {
    await reopened.close();
  }
}

/** The template with another identifier and name: the attributes derived from either are rewritten. */
function cloneAs(template: ManagedObject, id: string, name: string): ManagedObject {
  const attributes = template.attributes.map((attribute) => {
    if (attribute.name === 'Unique Identifier') return { ...attribute, value: { ...attribute.value, value: id } as TtlvItem };
    if (attribute.name === 'Short Unique Identifier') {
      return { ...attribute, value: { ...attribute.value, value: createHash('sha256').update(id, 'utf8').digest() } as TtlvItem };
    }
    if (attribute.name === 'Name' && attribute.value.type === 'Structure') {
      const value = attribute.value.value.map((part) => (part.tag === Tag.NameValue ? ({ ...part, value: name } as TtlvItem) : part));
      return { ...attribute, value: { ...attribute.value, value } };
    }
    return attribute;
  });
  return { ...template, id, attributes };
}

export async function clientTls(dir: string): Promise<{ cert: Buffer; key: Buffer; ca: Buffer }> {
  const read = (name: string): Promise<Buffer> => readFile(join(dir, 'certs', name));
  return { cert: await read('admin.pem'), key: await read('admin-key.pem'), ca: await read('ca.pem') };
}

/**
 * For a server the benchmark did not start: register the population over KMIP (batches of
 * Secret Data, several connections) unless its last name is found already.
 */
export async function seedOverWire(target: Target, population: number, say: (line: string) => void): Promise<void> {
  const prefix = seedPrefix(population);
  const probe = await connect(target);
  try {
    const found = uniqueIdentifiers(await probe.call(locateByName(`${prefix}${population - 1}`)));
    if (found.length > 0) return;
  } finally {
    await probe.close();
  }
  say(`registering ${population.toLocaleString('en')} named objects on ${target.host}:${target.port} over KMIP`);
  const started = Date.now();
  const perMessage = 50;
  let next = 0;
  const worker = async (connection: BenchConnection): Promise<void> => {
    for (let first = next; first < population; first = next) {
      next += perMessage;
      const count = Math.min(perMessage, population - first);
      expectSuccess(await connection.call(registerNamedBatch(prefix, first, count), 120_000), 'Register batch', count);
      if (first % 100_000 === 0 && first > 0) say(`  ${first.toLocaleString('en')} objects`);
    }
  };
  const connections = await Promise.all(Array.from({ length: 8 }, () => connect(target)));
  try {
    await Promise.all(connections.map(worker));
  } finally {
    await Promise.all(connections.map((c) => c.close()));
  }
  say(`registered in ${((Date.now() - started) / 1000).toFixed(0)} s`);
}
