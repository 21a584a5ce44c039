/**
 * The scheduler (issue 6, "Automatic rotation"), with a moved clock: Activation and
 * Deactivation Dates are stored when they come although no client reads the object, and an
 * object with Rotate Automatic is re-keyed on schedule (old and new linked, the old one
 * deactivated, Rotate Latest on the new generation); on PostgreSQL, two nodes sweeping at
 * once rotate a due key once.
 */
import { expect } from 'chai';
import { dirname, join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { Enum, Tag } from '../../ttlv/index.js';
import { formatDateTime } from '../../ttlv/text-values.js';
import { loadKekFile } from '../../lib/crypto/index.js';
import { silentLogger } from '../../lib/log.js';
import { leafValue } from '../../lib/objects/managed.js';
import { Scheduler } from '../../lib/operations/rotation.js';
import { openPostgresStore, openSqliteStore } from '../../lib/store/index.js';
import { configWith } from '../../server/config.js';
import { startServer } from '../../server/index.js';
import { indexKeys } from '../../server/store.js';
import { startPostgres } from '../support/postgres.js';
import { connectAdmin, find, initialisedCopy, removeDir, textOf } from './helpers.js';
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
          (store) => new Scheduler({ store, log: silentLogger, clock: () => now, intervalSeconds: 60, retireOld: 'keep', limits: { locateMaxItems: 1000, leaseTimeSeconds: 3600 } }),
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
