/**
 * The file KEK kmipd serves with has the bounded unwrap cache (issue 7) only with
 * kekCacheFile (off by default: DESIGN.md decision 3), sized by kekCacheKeys, kekCacheBytes
 * and kekCacheSeconds like an HSM KEK's; kekCacheKeys 0 turns it off; closing the KEK empties it.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { expect } from 'chai';
import { KekRing, createKekFile } from '../../lib/crypto/index.js';
import { CachingKek } from '../../lib/crypto/unwrap-cache.js';
import { silentLogger } from '../../lib/log.js';
import { configWith } from '../../server/config.js';
import { openConfiguredKek } from '../../server/kek.js';
import { removeDir, tempDir } from './helpers.js';

describe('the file KEK of kmipd serve and its unwrap cache', () => {
  let dir: string;
  let kekFile: string;

  before(async () => {
    dir = await tempDir('kek-cache');
    kekFile = join(dir, 'kek.key');
    (await createKekFile(kekFile)).wipe();
  });
  after(() => removeDir(dir));

  /** The cache in front of the ring's active file KEK. */
  async function activeCache(kek: unknown): Promise<CachingKek> {
    if (!(kek instanceof KekRing)) throw new Error('the configured KEK is not a ring');
    const active = await kek.forId(kek.id);
    if (!(active instanceof CachingKek)) throw new Error('the active file KEK has no cache');
    return active;
  }

  it('by default nothing unwrapped is kept: every unwrap goes to the file KEK', async () => {
    const opened = await openConfiguredKek(configWith({ dir }), kekFile, false, silentLogger);
    try {
      const cache = await activeCache(opened.kek);
      const plain = randomBytes(120);
      const wrapped = await opened.kek.wrap(plain);
      for (let i = 0; i < 3; i += 1) expect((await opened.kek.unwrap(wrapped)).equals(plain)).to.equal(true);
      expect(cache.enabled).to.equal(false);
      expect(cache.stats).to.include({ hits: 0, entries: 0, bytes: 0 });
    } finally {
      await opened.close();
    }
  });

  it('kekCacheFile: a value is unwrapped through the file once, then served from the cache; closing empties it', async () => {
    const opened = await openConfiguredKek(configWith({ dir, kekCacheFile: true }), kekFile, false, silentLogger);
    const cache = await activeCache(opened.kek);
    const plain = randomBytes(120);
    const wrapped = await opened.kek.wrap(plain);
    // What was just wrapped is cached already (a new key is used at once).
    for (let i = 0; i < 3; i += 1) expect((await opened.kek.unwrap(wrapped)).equals(plain)).to.equal(true);
    expect(cache.stats).to.include({ hits: 3, misses: 0, entries: 1, bytes: 120 });
    await opened.close();
    expect(cache.stats).to.include({ entries: 0, bytes: 0 });
  });

  it('kekCacheKeys 0 turns it off: every unwrap goes to the file KEK', async () => {
    const opened = await openConfiguredKek(configWith({ dir, kekCacheFile: true, kekCacheKeys: 0 }), kekFile, false, silentLogger);
    try {
      const cache = await activeCache(opened.kek);
      const plain = randomBytes(48);
      const wrapped = await opened.kek.wrap(plain);
      expect((await opened.kek.unwrap(wrapped)).equals(plain)).to.equal(true);
      expect(cache.enabled).to.equal(false);
      expect(cache.stats).to.include({ hits: 0, entries: 0 });
    } finally {
      await opened.close();
    }
  });
});
