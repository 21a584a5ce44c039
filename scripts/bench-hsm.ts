/**
 * Get throughput with the key-encryption key in an HSM (SoftHSM2 over PKCS#11), with and
 * without the unwrap cache (lib/crypto/unwrap-cache.ts). In process, over a real SQLite
 * store, so the figures show the KEK's share and not TLS.
 *
 *   npm run bench:hsm -- [--keys 200] [--gets 5000] [--concurrency 32]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Enum, Tag, decodeTtlv, encodeTtlv } from '../ttlv/index.js';
import type { TtlvItem } from '../ttlv/index.js';
import { indexKeys } from '../lib/attributes/index.js';
import { openPkcs11Kek } from '../lib/crypto/index.js';
import type { KeyEncryptionKey, Pkcs11Kek } from '../lib/crypto/index.js';
import { CachingKek, DEFAULT_UNWRAP_CACHE } from '../lib/crypto/unwrap-cache.js';
import { silentLogger } from '../lib/log.js';
import { createKmipService } from '../lib/service.js';
import { openSqliteStore } from '../lib/store/index.js';
import { createSoftHsmToken } from '../test/support/softhsm.js';

const { values } = parseArgs({
  options: { keys: { type: 'string', default: '200' }, gets: { type: 'string', default: '5000' }, concurrency: { type: 'string', default: '32' } },
});
const KEYS = Number(values.keys);
const GETS = Number(values.gets);
const CONCURRENCY = Number(values.concurrency);

const struct = (tag: number, value: TtlvItem[]): TtlvItem => ({ tag, type: 'Structure', value });
const int = (tag: number, value: number): TtlvItem => ({ tag, type: 'Integer', value });
const enumeration = (tag: number, value: number): TtlvItem => ({ tag, type: 'Enumeration', value });
const text = (tag: number, value: string): TtlvItem => ({ tag, type: 'TextString', value });

function message(operation: number, payload: TtlvItem[]): Buffer {
  return encodeTtlv(
    struct(Tag.RequestMessage, [
      struct(Tag.RequestHeader, [struct(Tag.ProtocolVersion, [int(Tag.ProtocolVersionMajor, 2), int(Tag.ProtocolVersionMinor, 1)]), int(Tag.BatchCount, 1)]),
      struct(Tag.BatchItem, [enumeration(Tag.Operation, operation), struct(Tag.RequestPayload, payload)]),
    ]),
  );
}

function find(item: TtlvItem, tag: number): TtlvItem | undefined {
  if (item.tag === tag) return item;
  if (item.type !== 'Structure') return undefined;
  for (const child of item.value) {
    const found = find(child, tag);
    if (found !== undefined) return found;
  }
  return undefined;
}

async function run(label: string, hsm: Pkcs11Kek, wrap: (kek: Pkcs11Kek) => KeyEncryptionKey): Promise<number> {
  const dir = await mkdtemp(join(tmpdir(), 'kmipd-bench-hsm-'));
  const store = await openSqliteStore({ path: join(dir, 'kmipd.db'), kek: wrap(hsm), indexKeys });
  try {
    const service = createKmipService({ store, log: silentLogger });
    const session = { identity: { name: 'bench', admin: false }, peer: 'bench' };
    const ids: string[] = [];
    for (let i = 0; i < KEYS; i += 1) {
      const response = decodeTtlv(
        await service.handle(
          message(Enum.Operation.Create, [
            enumeration(Tag.ObjectType, Enum.ObjectType.SymmetricKey),
            struct(Tag.Attributes, [enumeration(Tag.CryptographicAlgorithm, Enum.CryptographicAlgorithm.AES), int(Tag.CryptographicLength, 256)]),
          ]),
          session,
        ),
      );
      const id = find(response, Tag.UniqueIdentifier);
      if (id?.type !== 'TextString') throw new Error('Create failed');
      ids.push(id.value);
    }
    // Fresh is turned False by the first Get of each key: do that before timing.
    for (const id of ids) await service.handle(message(Enum.Operation.Get, [text(Tag.UniqueIdentifier, id)]), session);
    let next = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < GETS) {
          const id = ids[next % ids.length] as string;
          next += 1;
          const response = decodeTtlv(await service.handle(message(Enum.Operation.Get, [text(Tag.UniqueIdentifier, id)]), session));
          if (find(response, Tag.KeyMaterial) === undefined) throw new Error('Get failed');
        }
      }),
    );
    const rate = GETS / ((performance.now() - started) / 1000);
    process.stdout.write(`${label.padEnd(34)} ${rate.toFixed(0).padStart(8)} Gets/s  (${GETS} Gets of ${KEYS} keys, ${CONCURRENCY} in flight)\n`);
    return rate;
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

const token = await createSoftHsmToken({ label: 'kmipd-bench' });
const hsm = await openPkcs11Kek({ module: token.module, tokenLabel: token.tokenLabel, pin: token.pin, keyLabel: 'kek', create: true });
try {
  const without = await run('HSM KEK, no cache', hsm, (kek) => kek);
  const withCache = await run('HSM KEK, unwrap cache (defaults)', hsm, (kek) => new CachingKek(kek, DEFAULT_UNWRAP_CACHE));
  process.stdout.write(`cache speed-up: ${(withCache / without).toFixed(2)}x\n`);
} finally {
  await hsm.close();
  await token.cleanup();
}
