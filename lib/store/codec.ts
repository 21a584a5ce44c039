/**
 * How every store back end persists an object: attributes as one TTLV structure, the body
 * wrapped under the KEK and unwrapped with a check of which KEK wrapped it.
 */
import { Tag, decodeTtlv, encodeTtlv, leaf, structure } from '../../ttlv/index.js';
import type { TtlvItem } from '../../ttlv/index.js';
import type { AttributeInstance } from '../attributes/types.js';
import { KekError, KekRing, kekFor, wrapWithId } from '../crypto/index.js';
import type { KeyEncryptionKey } from '../crypto/index.js';
import { residentLocation } from '../crypto/pkcs11/resident.js';

// Stored values were accepted by the codec inside a message, so they are already bounded;
// the attribute encoding adds two levels (Attributes, Attribute) around each value.
export const STORED_MAX_DEPTH = 64;

/** Attributes as one TTLV structure; each value keeps its own tag, so decoding is exact. */
export function encodeAttributes(attributes: readonly AttributeInstance[]): Buffer {
  const items: TtlvItem[] = attributes.map((a) => structure<never>(Tag.Attribute, [leaf(Tag.AttributeName, 'TextString', a.name), a.value]));
  return encodeTtlv(structure(Tag.Attributes, items));
}

export function decodeAttributes(bytes: Buffer, id: string): AttributeInstance[] {
  const corrupt = (why: string): Error => new Error(`object ${id}: stored attributes are corrupt (${why})`);
  const root = decodeTtlv(bytes, { maxDepth: STORED_MAX_DEPTH });
  if (root.tag !== Tag.Attributes || root.type !== 'Structure') throw corrupt('no Attributes structure');
  return root.value.map((attribute) => {
    if (attribute.tag !== Tag.Attribute || attribute.type !== 'Structure' || attribute.value.length !== 2) {
      throw corrupt('an Attribute is not { Attribute Name, value }');
    }
    const [name, value] = attribute.value as [TtlvItem, TtlvItem];
    if (name.tag !== Tag.AttributeName || name.type !== 'TextString') throw corrupt('an Attribute Name is missing');
    return { name: name.value, value };
  });
}

/** The stored body of object `id`, unwrapped; a KEK other than the one that wrapped it is refused by name. */
export async function unwrapBody(store: KeyEncryptionKey, id: string, wrapped: Buffer, kekId: string | null): Promise<TtlvItem> {
  if (kekId === RESIDENT_BODY) return residentBodyOf(id, wrapped);
  // A ring (KEK rotation) holds several KEKs: take the one the value names.
  const kek = kekId !== null && store instanceof KekRing ? await kekFor(store, kekId) : store;
  if (kekId !== kek.id) {
    throw new KekError(
      'KEK_MISMATCH',
      `object ${id}: its key material is wrapped under KEK ${String(kekId)}, but this store has KEK ${kek.id}: start kmipd with the KEK it was created with`,
    );
  }
  let clear: Buffer;
  try {
    clear = await kek.unwrap(wrapped);
  } catch (error) {
    if (error instanceof KekError) throw new KekError(error.code, `object ${id}: ${error.message}`, { cause: error });
    throw error;
  }
  // The body's Byte Strings view `clear`, a buffer of its own: nothing else holds it.
  return decodeTtlv(clear, { maxDepth: STORED_MAX_DEPTH });
}

/**
 * The KEK column of a body that is not wrapped because it holds no key material: the body of
 * a key held inside the HSM (lib/crypto/pkcs11/resident.ts), a Key Block whose Key Value
 * Location names the token object. No KEK has this id, so a KEK rotation never touches it.
 */
export const RESIDENT_BODY = 'hsm-resident';

/**
 * Values of the KEK column that name no KEK: nothing to load, list, rotate or bring to a
 * restore (`kmipd kek`, `kmipd backup`/`restore` skip them). Every such value is listed here.
 */
export const RESERVED_KEK_IDS: ReadonlySet<string> = new Set([RESIDENT_BODY]);

function residentBodyOf(id: string, stored: Buffer): TtlvItem {
  const body = decodeTtlv(stored, { maxDepth: STORED_MAX_DEPTH });
  if (residentLocation(body) === undefined) throw new Error(`object ${id}: a stored HSM key reference is corrupt (no Key Value Location)`);
  return body;
}

/**
 * What a back end is given to index attributes for Locate (see LocateQuery in types.ts):
 * the rows an object is found by. A null key says "has an instance of `name`" for an
 * attribute whose values have no key; the back end adds no rows of its own.
 */
export type IndexKeys = (attributes: readonly AttributeInstance[]) => { name: string; key: string | null }[];

export interface IndexRow {
  readonly name: string;
  /** Null: the object has an instance of `name` whose value has no key. */
  readonly key: string | null;
}

/**
 * A row's identity, for comparing stored rows with wanted ones: the name's length before it
 * makes the text unambiguous, and a null key adds nothing where a text key adds '=' and itself.
 */
export const indexRowKey = (row: IndexRow): string => (row.key === null ? `${row.name.length}:${row.name}` : `${row.name.length}:${row.name}=${row.key}`);

/**
 * The index rows of an object, as `indexKeys` gives them, each once. LocateQuery.has is
 * answered by any row of the name, so a name needs a null-key row only when it has no other.
 */
export function indexRows(attributes: readonly AttributeInstance[], indexKeys: IndexKeys): IndexRow[] {
  const seen = new Set<string>();
  const rows: IndexRow[] = [];
  for (const { name, key } of indexKeys(attributes)) {
    if (typeof name !== 'string' || (key !== null && typeof key !== 'string')) throw new TypeError('indexKeys must return string names and string or null keys');
    const id = indexRowKey({ name, key });
    if (seen.has(id)) continue;
    seen.add(id);
    rows.push({ name, key });
  }
  return rows;
}

/** Wrap a body's TTLV (zeroed afterwards) under the store's active KEK, saying which KEK that was. */
export async function wrapBody(kek: KeyEncryptionKey, body: TtlvItem): Promise<{ wrapped: Buffer; kekId: string }> {
  // A key held in the HSM: its body is only the token object's location, stored as is.
  if (residentLocation(body) !== undefined) return { wrapped: encodeTtlv(body), kekId: RESIDENT_BODY };
  const clear = encodeTtlv(body);
  try {
    return await wrapWithId(kek, clear);
  } finally {
    clear.fill(0);
  }
}

/**
 * The name of the index rows that say when an object is next due for a date-driven change
 * (lib/lifecycle/scheduler.ts). A ':' never appears in an attribute name, so no Locate
 * condition can name it.
 */
export const DUE_INDEX = 'kmipd:due';

/** A date as a due index key: zero-padded decimal seconds, so text order is time order. */
export function dueKey(seconds: bigint): string {
  const clamped = seconds < 0n ? 0n : seconds;
  return clamped.toString().padStart(20, '0');
}
