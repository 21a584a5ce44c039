/**
 * One primary per SQLite data folder: a second `kmipd serve` on the same folder refuses to
 * start with a StartError naming the holder; the lock of a process killed with SIGKILL is
 * taken over at once (the operating system released it).
 */
import { expect } from 'chai';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import { silentLogger } from '../../lib/log.js';
import { configWith } from '../../server/config.js';
import { DataDirLockedError, readHolder } from '../../server/datadir.js';
import { StartError, startServer } from '../../server/index.js';
import { initialisedCopy, kmipdCli, removeDir } from './helpers.js';

describe('one primary per SQLite data folder (kmipd.lock)', function () {
  this.timeout(60_000);
  let dir: string;
  before(async () => {
    dir = await initialisedCopy('lock');
  });
  after(async () => {
    await removeDir(dirname(dir));
  });
  const config = () => configWith({ dir, host: '127.0.0.1', port: 0, schedulerIntervalSeconds: 0 });

  it('a second server on the folder is refused with a StartError naming pid and host; once the first stops, it starts', async () => {
    const first = await startServer(config(), { log: silentLogger });
    try {
      let refused: unknown;
      try {
        const second = await startServer(config(), { log: silentLogger });
        await second.close();
      } catch (error) {
        refused = error;
      }
      expect(refused).to.be.instanceOf(DataDirLockedError).and.instanceOf(StartError);
      expect((refused as Error).message).to.contain(`pid ${process.pid} on host ${hostname()}`).and.contain('stop that one first');
    } finally {
      await first.close();
    }
    const again = await startServer(config(), { log: silentLogger });
    await again.close();
  });

  it('a server process killed with SIGKILL leaves a stale lock that the next server takes over', async () => {
    const child = kmipdCli(['serve', '--dir', dir, '--port', '0', '--scheduler-interval-seconds', '0']);
    await child.waitFor(/"listening"/);
    expect(readHolder(dir)?.pid).to.equal(child.child.pid);
    // While it lives, this process is refused, naming it.
    try {
      const blocked = await startServer(config(), { log: silentLogger });
      await blocked.close();
      expect.fail('expected a refusal');
    } catch (error) {
      expect((error as Error).message).to.contain(`pid ${child.child.pid ?? 0}`);
    }
    child.child.kill('SIGKILL');
    await child.exited;
    const next = await startServer(config(), { log: silentLogger });
    try {
      expect(readHolder(dir)?.pid).to.equal(process.pid);
    } finally {
      await next.close();
    }
  });

  it('a second kmipd serve process on the folder exits with code 1 and says why', async () => {
    const first = await startServer(config(), { log: silentLogger });
    try {
      const second = kmipdCli(['serve', '--dir', dir, '--port', '0']);
      expect(await second.exited).to.equal(1);
      expect(second.output()).to.match(/is in use by another kmipd: pid \d+ on host/);
    } finally {
      await first.close();
    }
  });
});
