/**
 * Several key-encryption keys at once, for rotating the KEK online (`kmipd kek rotate`):
 * new values are wrapped under the one active KEK, and a stored value is unwrapped under
 * the KEK whose id it records, whichever that is. The store keeps the list of KEKs (which
 * is active, which retiring or retired) and hands it to the ring; the ring loads a KEK the
 * first time a value needs it, through a loader that knows where keys live (a key file
 * found by its fingerprint, or an HSM key found by its label).
 */
import { inspect } from 'node:util';
import { KekError } from './kek.js';
import type { KeyEncryptionKey } from './kek.js';

export type KekState = 'active' | 'retiring' | 'retired';
export type KekKind = 'file' | 'pkcs11';

/** One KEK as the store lists it. Nothing secret: `ref` is a file name or an HSM key label. */
export interface KekRecord {
  readonly id: string;
  readonly state: KekState;
  readonly kind: KekKind;
  readonly ref: string;
  /** ms since the epoch. */
  readonly created: number;
}

/** A KEK the ring holds, and how to let it go (wipe a file key, log out of a token). */
export interface LoadedKek {
  readonly kek: KeyEncryptionKey;
  close(): Promise<void>;
}

/** Finds and opens the KEK a record names; throws KekError KEK_UNKNOWN when it cannot. */
export type KekLoader = (record: Pick<KekRecord, 'id' | 'kind' | 'ref'>) => Promise<LoadedKek>;

export class KekRing implements KeyEncryptionKey {
  /** How the KEK the ring was opened with is registered in a store that lists none yet. */
  readonly initial: { readonly kind: KekKind; readonly ref: string };
  readonly #loader: KekLoader;
  readonly #loaded = new Map<string, LoadedKek>();
  #active: KeyEncryptionKey;
  #records: readonly KekRecord[] = [];
  #source: (() => Promise<readonly KekRecord[]>) | undefined;
  #refreshing: Promise<void> | undefined;

  constructor(initial: LoadedKek & { readonly kind: KekKind; readonly ref: string }, loader: KekLoader) {
    this.initial = { kind: initial.kind, ref: initial.ref };
    this.#loader = loader;
    this.#active = initial.kek;
    this.#loaded.set(initial.kek.id, { kek: initial.kek, close: initial.close });
  }

  /** The id of the active KEK: what new values are wrapped under. */
  get id(): string {
    return this.#active.id;
  }

  get records(): readonly KekRecord[] {
    return this.#records;
  }

  /** Where `refresh` reads the list of KEKs from (the store, once it is open). */
  attach(source: () => Promise<readonly KekRecord[]>): void {
    this.#source = source;
  }

  /** Wrap under the active KEK, and say which one it was (it may change meanwhile). */
  async wrapWithId(plain: Buffer): Promise<{ wrapped: Buffer; kekId: string }> {
    const kek = this.#active;
    return { wrapped: await kek.wrap(plain), kekId: kek.id };
  }

  async wrap(plain: Buffer): Promise<Buffer> {
    return this.#active.wrap(plain);
  }

  async unwrap(wrapped: Buffer): Promise<Buffer> {
    return this.#active.unwrap(wrapped);
  }

  /** The KEK with this id; when the ring does not know it, the list is read again first. */
  async forId(id: string): Promise<KeyEncryptionKey> {
    const held = this.#loaded.get(id);
    if (held !== undefined) return held.kek;
    if (!this.#records.some((record) => record.id === id)) await this.refresh();
    return (await this.#load(id)).kek;
  }

  /** Read the list of KEKs again and make the listed active KEK the one new values use. */
  refresh(): Promise<void> {
    this.#refreshing ??= (async () => {
      try {
        if (this.#source !== undefined) await this.sync(await this.#source());
      } finally {
        this.#refreshing = undefined;
      }
    })();
    return this.#refreshing;
  }

  /** Take a list of KEKs (from the store): the active one is loaded and used from now on. */
  async sync(records: readonly KekRecord[]): Promise<void> {
    this.#records = records;
    const active = records.find((record) => record.state === 'active');
    if (active !== undefined && active.id !== this.#active.id) this.#active = (await this.#load(active.id)).kek;
  }

  /** Close every KEK the ring opened, the initial one included. */
  async close(): Promise<void> {
    const loaded = [...this.#loaded.values()];
    this.#loaded.clear();
    for (const { close } of loaded) await close();
  }

  async #load(id: string): Promise<LoadedKek> {
    const held = this.#loaded.get(id);
    if (held !== undefined) return held;
    const record = this.#records.find((r) => r.id === id);
    if (record === undefined) {
      throw new KekError('KEK_UNKNOWN', `no KEK ${id} is listed in this store: the value was wrapped under a KEK this kmipd does not know`);
    }
    const loaded = await this.#loader(record);
    if (loaded.kek.id !== id) {
      await loaded.close();
      throw new KekError('KEK_UNKNOWN', `the ${record.kind} KEK "${record.ref}" has id ${loaded.kek.id}, not ${id}`);
    }
    // Two requests may have loaded it at the same time: keep the first.
    const raced = this.#loaded.get(id);
    if (raced !== undefined) {
      await loaded.close();
      return raced;
    }
    this.#loaded.set(id, loaded);
    return loaded;
  }

  toString(): string {
    return `KekRing<active ${this.#active.id}, ${this.#loaded.size} loaded>`;
  }

  toJSON(): string {
    return this.toString();
  }

  [inspect.custom](): string {
    return this.toString();
  }
}

/** The KEK a value wrapped under `kekId` needs: from a ring, or the one KEK at hand. */
export async function kekFor(kek: KeyEncryptionKey, kekId: string): Promise<KeyEncryptionKey> {
  return kek instanceof KekRing ? kek.forId(kekId) : kek;
}

/** Wrap under the active KEK and say which KEK that was. */
export async function wrapWithId(kek: KeyEncryptionKey, plain: Buffer): Promise<{ wrapped: Buffer; kekId: string }> {
  if (kek instanceof KekRing) return kek.wrapWithId(plain);
  return { wrapped: await kek.wrap(plain), kekId: kek.id };
}
