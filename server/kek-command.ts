/**
 * `kmipd kek rotate` and `kmipd kek status`: a new key-encryption key, and every stored body
 * wrapped again under it, while servers keep serving (issue 6).
 *
 * The store lists its KEKs (lib/store: keks). A rotation
 *   1. makes the new KEK: a new key file `kek-<id>.key` in the data folder, or a new
 *      non-extractable AES-256 key in the HSM token, labelled `<key label>-<time>`;
 *   2. lists it as active and the old one as retiring, in one transaction; from then on the
 *      store refuses any body wrapped under the old KEK, so every server (which reads both
 *      KEKs) switches to wrapping under the new one at its next write;
 *   3. wraps every body still under the old KEK again, one row at a time, each replaced only
 *      if unchanged meanwhile (a concurrent update wins: it already used the new KEK);
 *   4. marks the old KEK retired once no row refers to it, and (file KEKs) makes `kek.key`
 *      the new key, keeping the old one as `kek-<old id>.key`.
 * Killed at any point, nothing is lost (both KEKs stay readable) and running it again
 * resumes at step 3.
 */
import { link, open, rename } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { createKekFile, loadKekFile, openPkcs11Kek } from '../lib/crypto/index.js';
import type { KekRecord } from '../lib/crypto/index.js';
import { RESERVED_KEK_IDS } from '../lib/store/codec.js';
import type { KmipdConfig } from './config.js';
import { hsmAccess } from './kek.js';
import type { OpenedForMaintenance } from './maintenance.js';

export interface RotateOptions {
  /** Bodies read and rewritten per page. */
  readonly batchSize?: number;
  /** At most this many bodies rewritten a second (0: no limit), to spare a busy server. */
  readonly maxPerSecond?: number;
  /** One line per page and per step. */
  readonly progress?: (line: string) => void;
}

export interface RotateResult {
  readonly from: string;
  readonly to: string;
  readonly rewrapped: number;
  readonly resumed: boolean;
}

export const DEFAULT_ROTATE_BATCH = 200;

export async function rotateKek(config: KmipdConfig, opened: OpenedForMaintenance, options: RotateOptions = {}): Promise<RotateResult> {
  const { store, ring, paths } = opened;
  const say = options.progress ?? (() => undefined);
  const batchSize = Math.max(1, Math.trunc(options.batchSize ?? DEFAULT_ROTATE_BATCH));
  let keks = await store.keks();
  let retiring = keks.find((k) => k.state === 'retiring');
  const resumed = retiring !== undefined;
  if (retiring === undefined) {
    const active = keks.find((k) => k.state === 'active');
    if (active === undefined) throw new Error('the store lists no active KEK');
    const next = await createNextKek(config, paths.dir);
    say(`new KEK ${next.id} (${next.kind} ${next.ref})`);
    await store.beginKekRotation(next);
    await ring.refresh();
    keks = await store.keks();
    retiring = keks.find((k) => k.state === 'retiring');
    if (retiring === undefined) throw new Error('the rotation did not start');
  } else {
    say(`resuming the rotation away from KEK ${retiring.id}`);
  }
  const target = keks.find((k) => k.state === 'active');
  if (target === undefined) throw new Error('the store lists no active KEK');
  // Rows of keys held inside the HSM carry a reserved KEK id, never a listed KEK's: the pages
  // below (bodies wrapped under the retiring KEK) never include them.
  if (RESERVED_KEK_IDS.has(retiring.id) || RESERVED_KEK_IDS.has(target.id)) throw new Error(`the store lists a KEK under a reserved id (${retiring.id}, ${target.id})`);
  const from = await ring.forId(retiring.id);
  const to = await ring.forId(target.id);

  let rewrapped = 0;
  const started = Date.now();
  for (;;) {
    let after: string | undefined;
    let seen = 0;
    for (;;) {
      const page = await store.wrappedWith(retiring.id, after, batchSize);
      for (const row of page) {
        const clear = await from.unwrap(row.body);
        let body: Buffer;
        try {
          body = await to.wrap(clear);
        } finally {
          clear.fill(0);
        }
        if (await store.rewrapBody(row, { body, kekId: to.id })) rewrapped += 1;
        if ((options.maxPerSecond ?? 0) > 0) {
          const due = started + (rewrapped * 1000) / (options.maxPerSecond ?? 1);
          if (due > Date.now()) await delay(due - Date.now());
        }
      }
      seen += page.length;
      if (page.length > 0) say(`rewrapped ${rewrapped}`);
      if (page.length < batchSize) break;
      after = page[page.length - 1]?.id;
    }
    // A pass that found nothing, and a store that agrees: nothing refers to the old KEK.
    if (seen === 0 && (await store.retireKek(retiring.id))) break;
  }
  say(`KEK ${retiring.id} retired: no stored key refers to it any more`);
  if (retiring.kind === 'file' && target.kind === 'file') await promoteKekFile(opened, retiring, target);
  return { from: retiring.id, to: target.id, rewrapped, resumed };
}

/** A new KEK of the configured kind, ready to be listed: its id, kind and where it lives. */
async function createNextKek(config: KmipdConfig, dir: string): Promise<Pick<KekRecord, 'id' | 'kind' | 'ref'>> {
  if (config.kek === 'pkcs11') {
    const hsm = await hsmAccess(config);
    const keyLabel = `${hsm.keyLabel}-${new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}`;
    const kek = await openPkcs11Kek({ ...hsm, keyLabel, create: true });
    const id = kek.id;
    await kek.close();
    return { id, kind: 'pkcs11', ref: keyLabel };
  }
  // Created under a temporary name, then named after its id; a rotation killed before it is
  // listed leaves an unused file, which is harmless.
  const temporary = join(dir, `kek-new-${randomBytes(6).toString('hex')}.key`);
  const kek = await createKekFile(temporary);
  const id = kek.id;
  kek.wipe();
  const ref = `kek-${id}.key`;
  await rename(temporary, join(dir, ref));
  await syncDirectory(dir);
  return { id, kind: 'file', ref };
}

/**
 * `kek.key` becomes the new KEK, so that the file to back up is the one that matters; the
 * old key stays as `kek-<id>.key` for backups made before the rotation. A link first, then
 * a rename over `kek.key`: at every moment `kek.key` exists and every KEK can be found.
 */
async function promoteKekFile(opened: OpenedForMaintenance, old: KekRecord, next: KekRecord): Promise<void> {
  const { store, paths } = opened;
  const current = await loadKekFile(paths.kek);
  const currentId = current.id;
  current.wipe();
  if (currentId === next.id) return;
  if (currentId === old.id) {
    const keep = join(paths.dir, `kek-${old.id}.key`);
    await link(paths.kek, keep).catch((error: unknown) => {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    });
    await store.setKekRef(old.id, `kek-${old.id}.key`);
  }
  await rename(join(paths.dir, next.ref), paths.kek);
  await syncDirectory(paths.dir);
  await store.setKekRef(next.id, 'kek.key');
}

async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** `kmipd kek status`: every KEK, its state, and how many stored keys it wraps. */
export async function kekStatus(opened: OpenedForMaintenance): Promise<string> {
  const keks = await opened.store.keks();
  const usage = await opened.store.kekUsage();
  const lines = [`${'KEK'.padEnd(16)}  ${'state'.padEnd(8)}  ${'kind'.padEnd(6)}  ${'objects'.padStart(9)}  where`];
  for (const kek of keks) {
    lines.push(`${kek.id.padEnd(16)}  ${kek.state.padEnd(8)}  ${kek.kind.padEnd(6)}  ${String(usage.get(kek.id) ?? 0).padStart(9)}  ${kek.kind === 'file' ? kek.ref : `HSM key "${kek.ref}"`}`);
  }
  // Values of the KEK column that name no KEK (keys held inside the HSM): nothing to rotate.
  const wrapped = [...usage.entries()].filter((entry): entry is [string, number] => entry[0] !== null && !RESERVED_KEK_IDS.has(entry[0]));
  const unlisted = wrapped.filter(([id]) => !keks.some((k) => k.id === id));
  for (const [id, count] of unlisted) lines.push(`${id.padEnd(16)}  ${'unlisted'.padEnd(8)}  ${'?'.padEnd(6)}  ${String(count).padStart(9)}  not known to this store`);
  const resident = [...RESERVED_KEK_IDS].reduce((sum, id) => sum + (usage.get(id) ?? 0), 0);
  if (resident > 0) lines.push(`keys held inside the HSM (no KEK wraps them, a rotation leaves them as they are): ${resident}`);
  lines.push(`destroyed objects (no key material): ${usage.get(null) ?? 0}`);
  const retiring = keks.find((k) => k.state === 'retiring');
  if (retiring !== undefined) {
    const left = usage.get(retiring.id) ?? 0;
    const total = wrapped.reduce((sum, [, n]) => sum + n, 0);
    lines.push(`rotation in progress: ${total - left} of ${total} stored keys under the new KEK, ${left} left; run \`kmipd kek rotate\` to finish`);
  }
  return `${lines.join('\n')}\n`;
}
