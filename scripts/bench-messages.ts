/**
 * The requests the load generator sends (KMIP 1.4 binary TTLV, which kmipd and PyKMIP's
 * server both speak) and cheap readers of the responses: the load generator shares the
 * machine with the server, so it reads the few fields it needs straight from the bytes
 * instead of decoding every answer.
 */
import { randomBytes } from 'node:crypto';
import { Enum, Mask, Tag, encodeTtlv, leaf, structure } from '../ttlv/index.js';
import type { TtlvItem } from '../ttlv/index.js';

const int = (tag: number, value: number): TtlvItem => leaf(tag, 'Integer', value);
const enumeration = (tag: number, value: number): TtlvItem => leaf(tag, 'Enumeration', value);
const text = (tag: number, value: string): TtlvItem => leaf(tag, 'TextString', value);
const bytes = (tag: number, value: Uint8Array): TtlvItem => leaf(tag, 'ByteString', value);

function attribute(name: string, value: TtlvItem): TtlvItem {
  return structure(Tag.Attribute, [text(Tag.AttributeName, name), { ...value, tag: Tag.AttributeValue }]);
}

function nameValue(name: string): TtlvItem {
  return structure(Tag.AttributeValue, [text(Tag.NameValue, name), enumeration(Tag.NameType, Enum.NameType.UninterpretedTextString)]);
}

export interface BatchItemSpec {
  readonly operation: number;
  readonly payload: readonly TtlvItem[];
}

/** A RequestMessage in KMIP 1.4 with one batch item per spec (at most 256). */
export function requestMessage(items: readonly BatchItemSpec[]): Buffer {
  const header = structure(Tag.RequestHeader, [
    structure(Tag.ProtocolVersion, [int(Tag.ProtocolVersionMajor, 1), int(Tag.ProtocolVersionMinor, 4)]),
    int(Tag.BatchCount, items.length),
  ]);
  // Several items need a Unique Batch Item ID each (1.4 section 7.2); PyKMIP insists.
  const id = (i: number): TtlvItem[] => (items.length > 1 ? [bytes(Tag.UniqueBatchItemID, Buffer.from([i]))] : []);
  const batch = items.map((item, i) => structure(Tag.BatchItem, [enumeration(Tag.Operation, item.operation), ...id(i), structure(Tag.RequestPayload, item.payload)]));
  return encodeTtlv(structure(Tag.RequestMessage, [header, ...batch]));
}

const single = (operation: number, payload: readonly TtlvItem[]): Buffer => requestMessage([{ operation, payload }]);

/** Create an AES-256 key for Encrypt and Decrypt, optionally with a Name. */
export function createAes256(name?: string): Buffer {
  const attributes = [
    attribute('Cryptographic Algorithm', enumeration(0, Enum.CryptographicAlgorithm.AES)),
    attribute('Cryptographic Length', int(0, 256)),
    attribute('Cryptographic Usage Mask', int(0, Mask.CryptographicUsageMask.Encrypt | Mask.CryptographicUsageMask.Decrypt)),
    ...(name === undefined ? [] : [structure(Tag.Attribute, [text(Tag.AttributeName, 'Name'), nameValue(name)])]),
  ];
  return single(Enum.Operation.Create, [enumeration(Tag.ObjectType, Enum.ObjectType.SymmetricKey), structure(Tag.TemplateAttribute, attributes)]);
}

export function getRequest(id: string): Buffer {
  return single(Enum.Operation.Get, [text(Tag.UniqueIdentifier, id)]);
}

/** Ten Gets of the same object in one message (one batch). */
export function batchGetRequest(id: string, count: number): Buffer {
  return requestMessage(Array.from({ length: count }, () => ({ operation: Enum.Operation.Get, payload: [text(Tag.UniqueIdentifier, id)] })));
}

export function destroyRequest(id: string): Buffer {
  return single(Enum.Operation.Destroy, [text(Tag.UniqueIdentifier, id)]);
}

export function activateRequest(id: string): Buffer {
  return single(Enum.Operation.Activate, [text(Tag.UniqueIdentifier, id)]);
}

/** Register Secret Data (a Seed, Opaque format) of `material` bytes, as MongoDB registers its 96-byte key. */
export function registerSecretData(material: Uint8Array, name?: string): Buffer {
  const attributes = [
    attribute('Cryptographic Usage Mask', int(0, Mask.CryptographicUsageMask.Encrypt | Mask.CryptographicUsageMask.Decrypt)),
    ...(name === undefined ? [] : [structure(Tag.Attribute, [text(Tag.AttributeName, 'Name'), nameValue(name)])]),
  ];
  const secret = structure(Tag.SecretData, [
    enumeration(Tag.SecretDataType, Enum.SecretDataType.Seed),
    structure(Tag.KeyBlock, [enumeration(Tag.KeyFormatType, Enum.KeyFormatType.Opaque), structure(Tag.KeyValue, [bytes(Tag.KeyMaterial, material)])]),
  ]);
  return single(Enum.Operation.Register, [enumeration(Tag.ObjectType, Enum.ObjectType.SecretData), structure(Tag.TemplateAttribute, attributes), secret]);
}

/** Register `count` Secret Data objects named `${prefix}${first + i}` in one batch. */
export function registerNamedBatch(prefix: string, first: number, count: number): Buffer {
  return requestMessage(
    Array.from({ length: count }, (_, i) => {
      const attributes = [structure(Tag.Attribute, [text(Tag.AttributeName, 'Name'), nameValue(`${prefix}${first + i}`)])];
      const secret = structure(Tag.SecretData, [
        enumeration(Tag.SecretDataType, Enum.SecretDataType.Seed),
        structure(Tag.KeyBlock, [enumeration(Tag.KeyFormatType, Enum.KeyFormatType.Opaque), structure(Tag.KeyValue, [bytes(Tag.KeyMaterial, randomBytes(32))])]),
      ]);
      return { operation: Enum.Operation.Register, payload: [enumeration(Tag.ObjectType, Enum.ObjectType.SecretData), structure(Tag.TemplateAttribute, attributes), secret] };
    }),
  );
}

/** Locate by Name (KMIP 1.x Attribute shape). */
export function locateByName(name: string): Buffer {
  return single(Enum.Operation.Locate, [structure(Tag.Attribute, [text(Tag.AttributeName, 'Name'), nameValue(name)])]);
}

/** Encrypt `data` with AES-GCM under key `id`, a fresh 96-bit IV each time, a 128-bit tag. */
export function encryptGcm(id: string, data: Uint8Array, iv: Uint8Array = randomBytes(12)): Buffer {
  const parameters = structure(Tag.CryptographicParameters, [
    enumeration(Tag.BlockCipherMode, Enum.BlockCipherMode.GCM),
    enumeration(Tag.CryptographicAlgorithm, Enum.CryptographicAlgorithm.AES),
    int(Tag.TagLength, 16),
  ]);
  return single(Enum.Operation.Encrypt, [text(Tag.UniqueIdentifier, id), parameters, bytes(Tag.Data, data), bytes(Tag.IVCounterNonce, iv)]);
}

// ---------------------------------------------------------------------------------------
// Reading responses

/** The offset of the value of the first item with this tag and type, or -1. */
function findItem(frame: Buffer, tag: number, type: number, from = 0): number {
  const header = Buffer.from([(tag >> 16) & 0xff, (tag >> 8) & 0xff, tag & 0xff, type]);
  const at = frame.indexOf(header, from);
  return at < 0 ? -1 : at + 4;
}

const TYPE_ENUMERATION = 0x05;
const TYPE_TEXT = 0x07;

/** Result Status values of every batch item (0 is Success). */
export function resultStatuses(frame: Buffer): number[] {
  const statuses: number[] = [];
  for (let at = findItem(frame, Tag.ResultStatus, TYPE_ENUMERATION); at >= 0 && at + 8 <= frame.length; at = findItem(frame, Tag.ResultStatus, TYPE_ENUMERATION, at)) {
    statuses.push(frame.readUInt32BE(at + 4));
  }
  return statuses;
}

/** The first Result Message, for error reports. */
export function resultMessage(frame: Buffer): string | undefined {
  return textAt(frame, findItem(frame, Tag.ResultMessage, TYPE_TEXT));
}

/** The first Unique Identifier in the response. */
export function uniqueIdentifier(frame: Buffer): string | undefined {
  return textAt(frame, findItem(frame, Tag.UniqueIdentifier, TYPE_TEXT));
}

/** Every Unique Identifier in the response (Locate, batches). */
export function uniqueIdentifiers(frame: Buffer): string[] {
  const ids: string[] = [];
  for (let at = findItem(frame, Tag.UniqueIdentifier, TYPE_TEXT); at >= 0; at = findItem(frame, Tag.UniqueIdentifier, TYPE_TEXT, at)) {
    const id = textAt(frame, at);
    if (id === undefined) break;
    ids.push(id);
  }
  return ids;
}

/** The first Key Material byte string (Get of a Raw or Opaque key). */
export function keyMaterial(frame: Buffer): Buffer | undefined {
  const at = findItem(frame, Tag.KeyMaterial, 0x08);
  if (at < 0 || at + 4 > frame.length) return undefined;
  const length = frame.readUInt32BE(at);
  return at + 4 + length <= frame.length ? Buffer.from(frame.subarray(at + 4, at + 4 + length)) : undefined;
}

function textAt(frame: Buffer, at: number): string | undefined {
  if (at < 0 || at + 4 > frame.length) return undefined;
  const length = frame.readUInt32BE(at);
  return at + 4 + length <= frame.length ? frame.toString('utf8', at + 4, at + 4 + length) : undefined;
}

/** Throws with the server's Result Message unless every batch item succeeded. */
export function expectSuccess(frame: Buffer, what: string, items = 1): void {
  const statuses = resultStatuses(frame);
  if (statuses.length !== items || statuses.some((s) => s !== Enum.ResultStatus.Success)) {
    throw new Error(`${what} failed: status ${statuses.join(',') || 'none'}${resultMessage(frame) === undefined ? '' : `: ${resultMessage(frame) ?? ''}`}`);
  }
}
