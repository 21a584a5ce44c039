/**
 * The scheduler (issue 6, "Automatic rotation"), with a moved clock: Activation and
 * Deactivation Dates are stored when they come although no client reads the object, and an
 * object with Rotate Automatic is re-keyed on schedule (old and new linked, the old one
 * deactivated, Rotate Latest on the new generation), a key pair through Re-key Key Pair;
 * every change is in the audit chain as the scheduler's; a store written before the due
 * index gets its due rows at the first start; on PostgreSQL, two nodes sweeping at once
 * rotate a due key once.
 */
import Database from 'better-sqlite3';
import { expect } from 'chai';
import { dirname, join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { Enum, Tag, leaf } from '../../ttlv/index.js';
import { residentBody, residentUri } from '../../lib/crypto/pkcs11/resident.js';
import { formatDateTime } from '../../ttlv/text-values.js';
import { loadKekFile } from '../../lib/crypto/index.js';
import { silentLogger } from '../../lib/log.js';
import { leafValue } from '../../lib/objects/managed.js';
import { DEFAULT_SERVICE_LIMITS } from '../../lib/service.js';
import { DUE_INDEX_VERSION, Scheduler } from '../../lib/operations/rotation.js';
import { openSqliteAuditReader, verifyChain } from '../../lib/audit/index.js';
import type { StoredRecord } from '../../lib/audit/index.js';
import { DUE_INDEX } from '../../lib/store/index.js';
import { SQLITE_SCHEMA_VERSION, openPostgresStore, openSqliteStore } from '../../lib/store/index.js';
import { configWith } from '../../server/config.js';
import { startServer } from '../../server/index.js';
import { indexKeys } from '../../server/store.js';
import { startPostgres } from '../support/postgres.js';
import { connectAdmin, find, findAll, initialisedCopy, removeDir, textOf } from './helpers.js';
import type { Client } from './helpers.js';

const START = 1_900_000_000n;

const rotateXml = (name: string, interval: number): string =>
  `<RotateAutomatic type="Boolean" value="true"/><RotateInterval type="Interval" value="${interval}"/>
   <RotateName><RotateNameValue type="TextString" value="${name}"/><RotateNameType type="Enumeration" value="UninterpretedTextString"/></RotateName>`;
const latestXml = (name: string): string =>
  `<RotateName><RotateNameValue type="TextString" value="${name}"/><RotateNameType type="Enumeration" value="UninterpretedTextString"/></RotateName><RotateLatest type="Boolean" value="true"/>`;

/** The State of an object as stored (not as a Get would compute it), from a connection of its own. */
async function storedState(dir: string, id: string): Promise<number | undefined> {
  const kek = await loadKekFile(join(dir, 'kek.key'));
  const store = await openSqliteStore({ path: join(dir, 'kmipd.db'), kek, indexKeys });
  try {
    const object = await store.loadMetadata(id);
    return object === undefined ? undefined : leafValue(object, 'State', 'Enumeration');
  } finally {
    await store.close();
    kek.wipe();
  }
}

async function eventually<T>(what: string, probe: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const value = await probe();
    if (done(value)) return value;
    if (Date.now() > deadline) expect.fail(`${what}: still ${JSON.stringify(value)}`);
    await delay(100);
  }
}

function attribute(response: Parameters<typeof find>[0], tag: number): unknown {
  const item = find(response, tag);
  return item === undefined ? undefined : item.value;
}

/** Every audit record of the folder's database, after checking the chain is intact. */
async function auditRecords(dir: string): Promise<StoredRecord[]> {
  const reader = openSqliteAuditReader(join(dir, 'kmipd.db'));
  try {
    const result = await verifyChain(reader);
    expect(result.intact, JSON.stringify(result)).to.equal(true);
  } finally {
    await reader.close();
  }
  const again = openSqliteAuditReader(join(dir, 'kmipd.db'));
  try {
    return await again.records(0, 100_000);
  } finally {
    await again.close();
  }
}

const pairXml = (rotate: string, activation: bigint): string => `
  <Operation type="Enumeration" value="CreateKeyPair"/><RequestPayload>
    <CommonAttributes><CryptographicAlgorithm type="Enumeration" value="EC"/>
      <CryptographicDomainParameters><RecommendedCurve type="Enumeration" value="P_256"/></CryptographicDomainParameters>
      <ActivationDate type="DateTime" value="${formatDateTime(activation)}"/></CommonAttributes>
    <PrivateKeyAttributes><CryptographicUsageMask type="Integer" value="Sign"/>${rotate}</PrivateKeyAttributes>
    <PublicKeyAttributes><CryptographicUsageMask type="Integer" value="Verify"/></PublicKeyAttributes>
  </RequestPayload>`;

/** The Linked Object Identifiers of links of `type` in a Get Attributes response. */
function linked(response: Parameters<typeof find>[0], type: number): string[] {
  return findAll(response, Tag.Link).flatMap((link) => {
    const linkType = find(link, Tag.LinkType);
    return linkType?.value === type ? [textOf(find(link, Tag.LinkedObjectIdentifier))] : [];
  });
}

describe('the scheduler: date-driven changes and automatic rotation on schedule', function () {
  this.timeout(60_000);

  describe('SQLite, through a real server with a moved clock', () => {
    let dir: string;
    let now = START;
    let server: Awaited<ReturnType<typeof startServer>>;
    let client: Client;
    before(async () => {
      dir = await initialisedCopy('scheduler');
      server = await startServer(configWith({ dir, host: '127.0.0.1', port: 0, schedulerIntervalSeconds: 1 }), { log: silentLogger, clock: () => now });
      client = await connectAdmin(server, dir);
    });
    after(async () => {
      await client?.close();
      await server?.close();
      await removeDir(dirname(dir));
    });

    it('stores Activation and Deactivation Date transitions when their dates pass, with no client reading the object', async () => {
      const id = await client.createKey(
        'dated',
        `<ActivationDate type="DateTime" value="${formatDateTime(START + 100n)}"/><DeactivationDate type="DateTime" value="${formatDateTime(START + 200n)}"/>`,
      );
      await delay(1500); // a sweep or more: nothing is due yet
      expect(await storedState(dir, id)).to.equal(Enum.State.PreActive);
      now = START + 150n;
      await eventually('activation stored', () => storedState(dir, id), (state) => state === Enum.State.Active);
      now = START + 250n;
      await eventually('deactivation stored', () => storedState(dir, id), (state) => state === Enum.State.Deactivated);
    });

    it('re-keys an object with Rotate Automatic when Rotate Interval has passed: linked, old deactivated, Locate with Rotate Latest finds each generation', async () => {
      now = START + 1000n;
      const first = await client.createKey('rotating', rotateXml('db-master', 3600));
      await client.activate(first);
      const firstMaterial = await client.material(first);
      expect(await client.locate(latestXml('db-master'))).to.deep.equal([first]);
      await delay(1200);
      expect(await client.locate(latestXml('db-master')), 'not due yet').to.deep.equal([first]);

      now = START + 1000n + 3600n;
      const [second] = await eventually('first rotation', () => client.locate(latestXml('db-master')), (ids) => ids.length === 1 && ids[0] !== first);
      const secondId = second ?? '';
      expect(await client.material(secondId)).to.not.equal(firstMaterial);
      expect(await client.material(first)).to.equal(firstMaterial);
      const newAttributes = await client.attributes(secondId);
      expect(attribute(newAttributes, Tag.RotateGeneration)).to.equal(1);
      expect(attribute(newAttributes, Tag.State)).to.equal(Enum.State.Active);
      expect(textOf(find(newAttributes, Tag.LinkedObjectIdentifier))).to.equal(first);
      const oldAttributes = await client.attributes(first);
      expect(attribute(oldAttributes, Tag.RotateLatest)).to.equal(false);
      expect(textOf(find(oldAttributes, Tag.LinkedObjectIdentifier))).to.equal(secondId);
      expect(await storedState(dir, first), 'old key deactivated (policy deactivate)').to.equal(Enum.State.Deactivated);
      // The Name moved to the current generation.
      expect(await client.locate(`<Name><NameValue type="TextString" value="rotating"/><NameType type="Enumeration" value="UninterpretedTextString"/></Name>`)).to.deep.equal([secondId]);

      now += 3600n;
      const [third] = await eventually('second rotation', () => client.locate(latestXml('db-master')), (ids) => ids.length === 1 && ids[0] !== secondId);
      expect(attribute(await client.attributes(third ?? ''), Tag.RotateGeneration)).to.equal(2);
      expect(await client.locate(`<RotateName><RotateNameValue type="TextString" value="db-master"/><RotateNameType type="Enumeration" value="UninterpretedTextString"/></RotateName>`)).to.have.length(3);
    });

    it('rotates a key pair whose Private Key has Rotate Automatic, by Re-key Key Pair: a new pair linked to the old, next generation, old pair deactivated', async () => {
      now = START + 20_000n;
      const created = await client.send(pairXml(rotateXml('signing', 600), now));
      const oldPrivate = textOf(find(created, Tag.PrivateKeyUniqueIdentifier));
      const oldPublic = textOf(find(created, Tag.PublicKeyUniqueIdentifier));
      expect(await client.locate(latestXml('signing'))).to.deep.equal([oldPrivate]);
      now += 601n;
      const [rotated] = await eventually('key pair rotation', () => client.locate(latestXml('signing')), (ids) => ids.length === 1 && ids[0] !== oldPrivate);
      const newPrivate = rotated ?? '';
      const privateAttributes = await client.attributes(newPrivate);
      expect(attribute(privateAttributes, Tag.ObjectType)).to.equal(Enum.ObjectType.PrivateKey);
      expect(attribute(privateAttributes, Tag.RotateGeneration)).to.equal(1);
      expect(attribute(privateAttributes, Tag.State)).to.equal(Enum.State.Active);
      expect(linked(privateAttributes, Enum.LinkType.ReplacedObjectLink)).to.deep.equal([oldPrivate]);
      const [newPublic] = linked(privateAttributes, Enum.LinkType.PublicKeyLink);
      expect(newPublic).to.be.a('string').and.not.equal(oldPublic);
      const publicAttributes = await client.attributes(newPublic ?? '');
      expect(linked(publicAttributes, Enum.LinkType.ReplacedObjectLink)).to.deep.equal([oldPublic]);
      expect(linked(publicAttributes, Enum.LinkType.PrivateKeyLink)).to.deep.equal([newPrivate]);
      expect(linked(await client.attributes(oldPrivate), Enum.LinkType.ReplacementObjectLink)).to.deep.equal([newPrivate]);
      expect(attribute(await client.attributes(oldPrivate), Tag.RotateLatest)).to.equal(false);
      expect(await storedState(dir, oldPrivate), 'old private key deactivated').to.equal(Enum.State.Deactivated);
      expect(await storedState(dir, oldPublic), 'old public key deactivated').to.equal(Enum.State.Deactivated);
    });

    it('records every change it makes in the audit chain, as kmipd:scheduler, with the objects it changed', async () => {
      const records = (await auditRecords(dir)).filter((r) => r.identity === 'kmipd:scheduler');
      const operations = new Set(records.map((r) => r.operation));
      for (const operation of ['Activate', 'Deactivate', 'ReKey', 'ReKeyKeyPair']) expect(operations, operation).to.include(operation);
      for (const record of records) {
        expect(record).to.include({ peer: 'kmipd', status: 'Success', reason: null });
        expect(JSON.parse(record.objectsJson)).to.be.an('array').that.is.not.empty;
      }
      // A rotation's record names the old key and its replacement; a key pair's, all four keys.
      expect(records.filter((r) => r.operation === 'ReKey').every((r) => (JSON.parse(r.objectsJson) as string[]).length === 2)).to.equal(true);
      expect(records.filter((r) => r.operation === 'ReKeyKeyPair').every((r) => (JSON.parse(r.objectsJson) as string[]).length === 4)).to.equal(true);
    });
  });

  describe('keys held inside the HSM', () => {
    it('are not rotated automatically (a Re-key would make the replacement outside the HSM): the sweep reports a failure and writes nothing', async () => {
      const dir = await initialisedCopy('scheduler-resident');
      const kek = await loadKekFile(join(dir, 'kek.key'));
      const store = await openSqliteStore({ path: join(dir, 'kmipd.db'), kek, indexKeys });
      try {
        const id = store.newId();
        const attributes = [
          { name: 'Object Type', value: leaf(Tag.ObjectType, 'Enumeration', Enum.ObjectType.SymmetricKey) },
          { name: 'State', value: leaf(Tag.State, 'Enumeration', Enum.State.Active) },
          { name: 'Initial Date', value: leaf(Tag.InitialDate, 'DateTime', START) },
          { name: 'Rotate Automatic', value: leaf(Tag.RotateAutomatic, 'Boolean', true) },
          { name: 'Rotate Interval', value: leaf(Tag.RotateInterval, 'Interval', 600) },
        ];
        const body = residentBody(Enum.CryptographicAlgorithm.AES, 256, residentUri('kmipd', id));
        await store.commit({ create: [{ id, objectType: Enum.ObjectType.SymmetricKey, owner: 'admin', attributes, body, revision: 1 }] });
        const scheduler = new Scheduler({ store, log: silentLogger, clock: () => START + 601n, intervalSeconds: 60, retireOld: 'deactivate', limits: { ...DEFAULT_SERVICE_LIMITS, leaseTimeSeconds: 3600 } });
        const result = await scheduler.sweep();
        expect(result).to.include({ rotations: 0, failures: 1 });
        expect(await store.locate({})).to.deep.equal([id]);
        expect((await store.loadMetadata(id))?.revision).to.equal(1);
      } finally {
        await store.close();
        kek.wipe();
        await removeDir(dirname(dir));
      }
    });
  });

  describe('a store written before the due index', () => {
    it('gives the event loop a turn between backfill pages, so a large store keeps serving (and can stop) while it is indexed', async () => {
      // Only the backfill matters here: a store that has 50 pages to index and nothing due.
      const pages = 50;
      let served = 0;
      const store = {
        exclusively: async (_name: string, work: () => Promise<void>) => (await work(), true),
        refreshIndex: async () => ({ objects: 100, done: ++served >= pages }),
        indexRange: async () => [],
      } as unknown as ConstructorParameters<typeof Scheduler>[0]['store'];
      const scheduler = new Scheduler({ store, log: silentLogger, clock: () => START, intervalSeconds: 60, retireOld: 'keep', limits: { ...DEFAULT_SERVICE_LIMITS, leaseTimeSeconds: 3600 } });
      let pagesWhenTimersRan: number | undefined;
      setImmediate(() => {
        pagesWhenTimersRan = served;
      });
      const result = await scheduler.sweep();
      expect(result.backfilled).to.equal(pages * 100);
      expect(pagesWhenTimersRan, 'other work ran before the backfill ended').to.be.a('number').and.below(pages);
    });

    it('gets a due row for every object at the first start, then applies its dates and rotations', async () => {
      const dir = await initialisedCopy('scheduler-backfill');
      const database = join(dir, 'kmipd.db');
      let now = START;
      const config = configWith({ dir, host: '127.0.0.1', port: 0, schedulerIntervalSeconds: 1 });
      try {
        let server = await startServer(config, { log: silentLogger, clock: () => now });
        let client = await connectAdmin(server, dir);
        let dated: string;
        let rotating: string;
        try {
          dated = await client.createKey('old-dated', `<ActivationDate type="DateTime" value="${formatDateTime(START + 100n)}"/>`);
          rotating = await client.createKey('old-rotating', rotateXml('old-set', 600));
          await client.activate(rotating);
        } finally {
          await client.close();
          await server.close();
        }
        // As a kmipd before the due index left it: no due rows, schema version 4, no progress or counts table.
        const db = new Database(database);
        try {
          db.prepare('DELETE FROM attribute_index WHERE name = ?').run(DUE_INDEX);
          db.exec('DROP TABLE maintenance_state');
          db.exec('DROP TABLE object_counts');
          db.pragma('user_version = 4');
        } finally {
          db.close();
        }

        now = START + 700n;
        server = await startServer(config, { log: silentLogger, clock: () => now });
        client = await connectAdmin(server, dir);
        try {
          await eventually('activation of an object from before', () => storedState(dir, dated), (state) => state === Enum.State.Active);
          const [latest] = await eventually('rotation of an object from before', () => client.locate(latestXml('old-set')), (ids) => ids.length === 1 && ids[0] !== rotating);
          expect(latest).to.be.a('string');
        } finally {
          await client.close();
          await server.close();
        }
        const check = new Database(database, { readonly: true });
        try {
          // Schema 6 rebuilds the index rows (with the due rows); the backfill then finds them done.
          expect(check.pragma('user_version', { simple: true })).to.equal(SQLITE_SCHEMA_VERSION);
          const progress = check.prepare<[], string>("SELECT value FROM maintenance_state WHERE name LIKE '%kmipd:due'").pluck().get();
          expect(JSON.parse(progress ?? '{}')).to.deep.equal({ version: DUE_INDEX_VERSION, after: null });
        } finally {
          check.close();
        }
      } finally {
        await removeDir(dirname(dir));
      }
    });
  });

  describe('PostgreSQL: two nodes', () => {
    it('two schedulers sweeping at the same moment rotate a due key exactly once', async () => {
      const cluster = await startPostgres();
      const dir = await initialisedCopy('scheduler-pg');
      let now = START;
      const config = configWith({ dir, host: '127.0.0.1', port: 0, store: 'postgres', postgresUrl: cluster.connectionString, schedulerIntervalSeconds: 0 });
      const server = await startServer(config, { log: silentLogger, clock: () => now });
      const kek = await loadKekFile(join(dir, 'kek.key'));
      const stores = [
        await openPostgresStore({ connectionString: cluster.connectionString, kek, indexKeys }),
        await openPostgresStore({ connectionString: cluster.connectionString, kek, indexKeys }),
      ];
      const client = await connectAdmin(server, dir);
      try {
        const id = await client.createKey('pg-rotating', rotateXml('pg-set', 600));
        await client.activate(id);
        now = START + 601n;
        const schedulers = stores.map(
          (store) => new Scheduler({ store, log: silentLogger, clock: () => now, intervalSeconds: 60, retireOld: 'keep', limits: { ...DEFAULT_SERVICE_LIMITS, leaseTimeSeconds: 3600 } }),
        );
        const results = await Promise.all(schedulers.map((s) => s.sweep()));
        expect(results.reduce((sum, r) => sum + r.rotations, 0)).to.equal(1);
        const generations = await client.locate(`<RotateName><RotateNameValue type="TextString" value="pg-set"/><RotateNameType type="Enumeration" value="UninterpretedTextString"/></RotateName>`);
        expect(generations).to.have.length(2);
        // Policy keep: the old key stays Active.
        expect(attribute(await client.attributes(id), Tag.State)).to.equal(Enum.State.Active);
      } finally {
        await client.close();
        for (const store of stores) await store.close();
        kek.wipe();
        await server.close();
        await cluster.stop();
        await removeDir(dirname(dir));
      }
    });
  });
});
