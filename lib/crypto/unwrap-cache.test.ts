/**
 * The unwrap cache in front of a file KEK (issue 7): a hot value is unwrapped once, callers
 * get copies of their own, and an entry's material is zeroed when it expires even if nothing
 * uses the cache again. (Over an HSM KEK: test/hsm/unwrap-cache.test.ts.)
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'chai';
import { FileKek, KeyMaterial } from './kek.js';
import { CachingKek } from './unwrap-cache.js';
import { CountingKek } from '../../test/support/counting-kek.js';

describe('Unwrap cache in front of a file KEK', () => {
  const file = new FileKek(KeyMaterial.random(32));
  after(() => file.wipe());

  it('a hot value is unwrapped by the KEK once; every caller gets its own copy', async () => {
    const plain = randomBytes(120);
    const wrapped = await file.wrap(plain);
    const counting = new CountingKek(file);
    const cache = new CachingKek(counting, { maxEntries: 10, maxBytes: 4096, ttlMs: 60_000 });
    const first = await cache.unwrap(wrapped);
    const second = await cache.unwrap(wrapped);
    expect(first.equals(plain) && second.equals(plain)).to.equal(true);
    expect(counting.unwraps).to.equal(1);
    first.fill(0);
    expect((await cache.unwrap(wrapped)).equals(plain)).to.equal(true);
    expect(cache.stats).to.include({ hits: 2, misses: 1, entries: 1, bytes: 120 });
    cache.clear();
  });

  it('an entry is dropped (and zeroed) when it expires, though nothing uses the cache after it', async () => {
    const wrapped = await file.wrap(randomBytes(32));
    const cache = new CachingKek(file, { maxEntries: 10, maxBytes: 4096, ttlMs: 40 });
    await cache.unwrap(wrapped);
    expect(cache.stats).to.include({ entries: 1, bytes: 32 });
    await sleep(150);
    expect(cache.stats).to.include({ entries: 0, bytes: 0 });
  });

  it('a used entry lives on after its first expiry time, then goes too', async () => {
    const wrapped = await file.wrap(randomBytes(32));
    // Margins wide enough for a loaded machine: used at 0 and ~200 ms, held at ~400 ms, gone after ~800 ms.
    const cache = new CachingKek(file, { maxEntries: 10, maxBytes: 4096, ttlMs: 600 });
    await cache.unwrap(wrapped);
    await sleep(200);
    await cache.unwrap(wrapped);
    await sleep(200);
    expect(cache.stats).to.include({ entries: 1, hits: 1 });
    await sleep(900);
    expect(cache.stats).to.include({ entries: 0, bytes: 0 });
  });

  it('a wrong wrapped value is refused as without the cache, and nothing is kept', async () => {
    const wrapped = await file.wrap(randomBytes(32));
    wrapped.writeUInt8(wrapped.readUInt8(5) ^ 1, 5);
    const cache = new CachingKek(file, { maxEntries: 10, maxBytes: 4096, ttlMs: 0 });
    let code: unknown;
    await cache.unwrap(wrapped).catch((error: unknown) => {
      code = (error as { code?: unknown }).code;
    });
    expect(code).to.equal('KEK_UNWRAP_FAILED');
    expect(cache.stats).to.include({ entries: 0 });
  });
});
