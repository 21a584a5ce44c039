/**
 * The bounded cache of unwrapped keys in front of an HSM key-encryption key (issue 6): a hit
 * never reaches the PKCS#11 worker, the bounds hold, and a re-keyed or destroyed key is never
 * served from the cache, over a real SoftHSM2 token and a real SQLite store.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { Tag } from '../../ttlv/index.js';
import { indexKeys } from '../../lib/attributes/index.js';
import { openPkcs11Kek } from '../../lib/crypto/index.js';
import type { Pkcs11Kek } from '../../lib/crypto/index.js';
import { CachingKek } from '../../lib/crypto/unwrap-cache.js';
import { silentLogger } from '../../lib/log.js';
import { createKmipService } from '../../lib/service.js';
import { openSqliteStore } from '../../lib/store/index.js';
import type { Store } from '../../lib/store/index.js';
import { decodeTtlv, encodeTtlv, isConcrete, parseXml } from '../../ttlv/index.js';
import { createSoftHsmToken } from '../support/softhsm.js';
import type { SoftHsmToken } from '../support/softhsm.js';
import { findValue, request, results } from '../support/service.js';
import { CountingKek } from '../support/counting-kek.js';

describe('Unwrap cache in front of an HSM KEK (SoftHSM2)', function () {
  this.timeout(60_000);
  let token: SoftHsmToken;
  let hsm: Pkcs11Kek;

  before(async () => {
    token = await createSoftHsmToken({ label: 'kmipd-cache' });
    hsm = await openPkcs11Kek({ module: token.module, tokenLabel: token.tokenLabel, pin: token.pin, keyLabel: 'kek', create: true });
  });
  after(async () => {
    await hsm?.close();
    await token?.cleanup();
  });

  it('a hit skips the HSM: each distinct value is unwrapped through the worker once', async () => {
    const values = [Buffer.alloc(32, 1), Buffer.alloc(24, 2), Buffer.alloc(16, 3)];
    const wrapped = await Promise.all(values.map((v) => hsm.wrap(Buffer.from(v))));
    const counting = new CountingKek(hsm);
    const cache = new CachingKek(counting, { maxEntries: 100, maxBytes: 1 << 20, ttlMs: 60_000 });
    for (let round = 0; round < 5; round += 1) {
      for (const [i, w] of wrapped.entries()) expect((await cache.unwrap(w)).equals(values[i] as Buffer)).to.equal(true);
    }
    expect(counting.unwraps).to.equal(3);
    expect(cache.stats).to.include({ hits: 12, misses: 3, entries: 3, bytes: 72 });
  });

  it('concurrent misses of one value share one unwrap', async () => {
    const w = await hsm.wrap(Buffer.alloc(32, 9));
    const counting = new CountingKek(hsm);
    const cache = new CachingKek(counting, { maxEntries: 10, maxBytes: 1024, ttlMs: 0 });
    const all = await Promise.all(Array.from({ length: 20 }, () => cache.unwrap(w)));
    expect(counting.unwraps).to.equal(1);
    for (const plain of all) expect(plain.equals(Buffer.alloc(32, 9))).to.equal(true);
    // Each caller owns its copy: wiping one leaves the others and the cache intact.
    all[0]?.fill(0);
    expect((await cache.unwrap(w)).equals(Buffer.alloc(32, 9))).to.equal(true);
  });

  it('the bounds hold: entries and bytes; the least recently used go first', async () => {
    const wrapped = await Promise.all(Array.from({ length: 8 }, (_, i) => hsm.wrap(Buffer.alloc(32, i + 1))));
    const counting = new CountingKek(hsm);
    const byCount = new CachingKek(counting, { maxEntries: 3, maxBytes: 1 << 20, ttlMs: 0 });
    for (const w of wrapped) await byCount.unwrap(w);
    expect(byCount.stats).to.include({ entries: 3, bytes: 96, evictions: 5 });
    // The last three are held; the first was evicted and goes back to the HSM.
    const before = counting.unwraps;
    for (const w of wrapped.slice(5)) await byCount.unwrap(w);
    expect(counting.unwraps).to.equal(before);
    await byCount.unwrap(wrapped[0] as Buffer);
    expect(counting.unwraps).to.equal(before + 1);

    const byBytes = new CachingKek(hsm, { maxEntries: 1000, maxBytes: 100, ttlMs: 0 });
    for (const w of wrapped) await byBytes.unwrap(w);
    expect(byBytes.stats.bytes).to.be.at.most(100);
    expect(byBytes.stats.entries).to.equal(3);
  });

  it('0 disables it, and an entry expires after its time', async () => {
    const w = await hsm.wrap(Buffer.alloc(32, 5));
    const counting = new CountingKek(hsm);
    const off = new CachingKek(counting, { maxEntries: 0, maxBytes: 1 << 20, ttlMs: 0 });
    await off.unwrap(w);
    await off.unwrap(w);
    expect(counting.unwraps).to.equal(2);
    expect(off.stats.entries).to.equal(0);

    let now = 1_000;
    const timed = new CachingKek(counting, { maxEntries: 10, maxBytes: 1024, ttlMs: 500 }, () => now);
    await timed.unwrap(w);
    now += 499;
    await timed.unwrap(w);
    expect(counting.unwraps).to.equal(3);
    now += 500;
    await timed.unwrap(w);
    expect(counting.unwraps).to.equal(4);
  });

  describe('in the key manager (Get, Re-key, Destroy over a SQLite store)', () => {
    let dir: string;
    let store: Store;
    let counting: CountingKek;
    let send: (xml: string) => Promise<ReturnType<typeof results>>;

    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'kmipd-cache-'));
      counting = new CountingKek(hsm);
      store = await openSqliteStore({ path: join(dir, 'kmipd.db'), kek: new CachingKek(counting), indexKeys });
      const service = createKmipService({ store, log: silentLogger });
      send = async (xml) => {
        const [message] = parseXml(xml);
        if (message === undefined || !isConcrete(message)) throw new Error('bad test message');
        return results(decodeTtlv(await service.handle(encodeTtlv(message), { identity: { name: 'alice', admin: false }, peer: 'test' })));
      };
    });
    after(async () => {
      await store?.close();
      await rm(dir, { recursive: true, force: true });
    });

    const create = `<Operation type="Enumeration" value="Create"/><RequestPayload><ObjectType type="Enumeration" value="SymmetricKey"/>
      <Attributes><CryptographicAlgorithm type="Enumeration" value="AES"/><CryptographicLength type="Integer" value="256"/>
      <CryptographicUsageMask type="Integer" value="Encrypt Decrypt"/></Attributes></RequestPayload>`;
    const get = (id: string): string => `<Operation type="Enumeration" value="Get"/><RequestPayload><UniqueIdentifier type="TextString" value="${id}"/></RequestPayload>`;
    const keyOf = (item: ReturnType<typeof results>[number] | undefined): string => {
      const key = findValue(item?.payload, Tag.KeyMaterial);
      if (key?.type !== 'ByteString') throw new Error(`no key material: ${item?.status} ${item?.message}`);
      return Buffer.from(key.value).toString('hex');
    };
    const idOf = (item: ReturnType<typeof results>[number] | undefined): string => {
      const id = findValue(item?.payload, Tag.UniqueIdentifier);
      if (id?.type !== 'TextString') throw new Error(`no id: ${item?.status} ${item?.message}`);
      return id.value;
    };

    it('repeated Gets of a hot key are served without the HSM', async () => {
      const id = idOf((await send(request('2.1', create)))[0]);
      const first = keyOf((await send(request('2.1', get(id))))[0]);
      const before = counting.unwraps;
      for (let i = 0; i < 10; i += 1) expect(keyOf((await send(request('2.1', get(id))))[0])).to.equal(first);
      expect(counting.unwraps).to.equal(before);
    });

    it('after Re-key the new key is served, never the old material; after Destroy nothing is', async () => {
      const id = idOf((await send(request('2.1', create)))[0]);
      await send(request('2.1', `<Operation type="Enumeration" value="Activate"/><RequestPayload><UniqueIdentifier type="TextString" value="${id}"/></RequestPayload>`));
      const old = keyOf((await send(request('2.1', get(id))))[0]);
      const rekeyed = (await send(request('2.1', `<Operation type="Enumeration" value="ReKey"/><RequestPayload><UniqueIdentifier type="TextString" value="${id}"/></RequestPayload>`)))[0];
      const newId = idOf(rekeyed);
      const fresh = keyOf((await send(request('2.1', get(newId))))[0]);
      expect(fresh).to.not.equal(old);
      expect(keyOf((await send(request('2.1', get(id))))[0])).to.equal(old);

      const plain = await send(request('2.1', `<Operation type="Enumeration" value="Revoke"/><RequestPayload><UniqueIdentifier type="TextString" value="${newId}"/>
        <RevocationReason><RevocationReasonCode type="Enumeration" value="CessationOfOperation"/></RevocationReason></RequestPayload>`));
      expect(plain[0]?.status).to.equal('Success');
      const destroyed = await send(request('2.1', `<Operation type="Enumeration" value="Destroy"/><RequestPayload><UniqueIdentifier type="TextString" value="${newId}"/></RequestPayload>`));
      expect(destroyed[0]?.status).to.equal('Success');
      const after = (await send(request('2.1', get(newId))))[0];
      expect(after?.status).to.equal('OperationFailed');
      expect(after?.reason).to.equal('ObjectDestroyed');
    });
  });
});
