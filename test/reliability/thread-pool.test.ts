/**
 * Long cryptographic jobs take turns on libuv's thread pool (lib/crypto/thread-pool.ts): RSA
 * key generation never holds every thread, so the fdatasync of other clients' commits still
 * finds one. Before the gate, an AES Create waited for the RSA key pairs being made (34 s
 * behind six RSA-8192 pairs).
 */
import { expect } from 'chai';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { KmipClient } from '../../lib/client/index.js';
import { ThreadGate, threadSlots } from '../../lib/crypto/thread-pool.js';
import { builtProcessFixture } from '../server/built.js';

describe('reliability: long cryptographic jobs leave threads for commits', function () {
  this.timeout(120_000);
  const fixture = builtProcessFixture('thread-pool');

  it('threadSlots: the pool size less two reserved threads, at least one; libuv defaults and bounds', () => {
    expect(threadSlots(undefined)).to.equal(2);
    expect(threadSlots('8')).to.equal(6);
    expect(threadSlots('2')).to.equal(1);
    expect(threadSlots('1')).to.equal(1);
    expect(threadSlots('0')).to.equal(2);
    expect(threadSlots('junk')).to.equal(2);
    expect(threadSlots('5000')).to.equal(1022);
  });

  it('ThreadGate: at most `slots` jobs at once, the others started in arrival order', async () => {
    const gate = new ThreadGate(2);
    const started: number[] = [];
    const releases: (() => void)[] = [];
    const jobs = [0, 1, 2, 3].map((n) =>
      gate.run(async () => {
        started.push(n);
        await new Promise<void>((resolve) => releases.push(resolve));
        return n;
      }),
    );
    await new Promise((resolve) => setImmediate(resolve));
    expect(started).to.deep.equal([0, 1]);
    expect([gate.running, gate.waiting]).to.deep.equal([2, 2]);
    releases[1]?.();
    await jobs[1];
    await new Promise((resolve) => setImmediate(resolve));
    expect(started).to.deep.equal([0, 1, 2]);
    releases[0]?.();
    releases[2]?.();
    await new Promise((resolve) => setImmediate(resolve));
    releases[3]?.();
    expect(await Promise.all(jobs)).to.deep.equal([0, 1, 2, 3]);
    expect([gate.running, gate.waiting]).to.deep.equal([0, 0]);
    // A job that fails gives its slot back too.
    await gate.run(() => Promise.reject(new Error('no'))).catch(() => undefined);
    expect(gate.running).to.equal(0);
  });

  it('an AES Create is answered while RSA key pairs fill the thread pool, long before the first pair', async function () {
    const dir = join(fixture.parent, 'data');
    await mkdir(dir);
    // Two threads: one for RSA generation (the gate), one left for the commits' fdatasync.
    const running = await fixture.serve(['--dir', dir, '--port', '0'], { env: { UV_THREADPOOL_SIZE: '2' } });
    const certs = join(dir, 'certs');
    const connect = (): Promise<KmipClient> =>
      KmipClient.connect({ host: '127.0.0.1', port: running.port, certFile: join(certs, 'admin.pem'), keyFile: join(certs, 'admin-key.pem'), caFile: join(certs, 'ca.pem'), requestTimeoutMs: 110_000 });
    const clients = await Promise.all([0, 1, 2, 3].map(connect));
    try {
      const [aes, ...rsa] = clients as [KmipClient, ...KmipClient[]];
      await aes.createSymmetricKey({ cryptographicAlgorithm: 'AES', cryptographicLength: 256 });
      const started = Date.now();
      let firstPair = Number.POSITIVE_INFINITY;
      // Three RSA-4096 pairs (about a second of one core each) for the two threads.
      const pairs = rsa.map((client) =>
        client.createKeyPair({ commonAttributes: { cryptographicAlgorithm: 'RSA', cryptographicLength: 4096 } }).then(
          () => {
            firstPair = Math.min(firstPair, Date.now() - started);
          },
          // The server is stopped before the last pairs are made.
          () => undefined,
        ),
      );
      await new Promise((resolve) => setTimeout(resolve, 100));
      const before = Date.now();
      await aes.createSymmetricKey({ cryptographicAlgorithm: 'AES', cryptographicLength: 256 });
      const createMs = Date.now() - before;
      await Promise.race(pairs);
      // Without the gate, the Create's sync waited behind the generations for a thread.
      expect(createMs, `Create took ${createMs} ms; the first RSA pair came after ${firstPair} ms`).to.be.below(firstPair / 2);
    } finally {
      running.child.kill('SIGKILL');
      await running.exited;
      for (const client of clients) await client.close();
    }
  });
});
