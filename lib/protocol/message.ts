/**
 * Request and response messages (KMIP 2.1 section 8, 1.4 section 7): header, batch items,
 * and the mapping from the TTLV tree to typed fields and back.
 */
import { Enum, Tag } from '../../ttlv/index.js';
import type { KmipVersion, TtlvItem } from '../../ttlv/index.js';
import { KmipError } from '../errors.js';
import type { ResultReasonName } from '../errors.js';
import { bytes, dateTime, enumeration, int, struct, text } from './build.js';
import { Fields } from './fields.js';
import { negotiate, parseVersion, reasonFor } from './versions.js';

export type BatchErrorContinuation = 'Stop' | 'Continue' | 'Undo';

export interface RequestHeader {
  /** The version this request is answered in. */
  readonly version: KmipVersion;
  readonly maximumResponseSize: number | undefined;
  readonly clientCorrelationValue: string | undefined;
  readonly asynchronousIndicator: boolean;
  readonly authentication: Fields | undefined;
  readonly batchErrorContinuation: BatchErrorContinuation;
  readonly batchOrder: boolean;
  readonly batchCount: number;
}

export interface RequestBatchItem {
  readonly operation: number;
  readonly uniqueBatchItemId: Uint8Array | undefined;
  readonly payload: TtlvItem | undefined;
}

export interface RequestMessage {
  readonly header: RequestHeader;
  readonly items: readonly RequestBatchItem[];
}

export type ResultStatusName = keyof typeof Enum.ResultStatus;

export interface ResponseBatchItem {
  readonly operation: number | undefined;
  readonly uniqueBatchItemId: Uint8Array | undefined;
  readonly status: ResultStatusName;
  readonly reason?: ResultReasonName;
  readonly message?: string;
  /** The Response Payload's children; undefined sends no payload. */
  readonly payload?: readonly TtlvItem[];
}

export interface ResponseHeader {
  readonly version: KmipVersion;
  readonly timeStamp: bigint;
}

/**
 * A request message, or a KmipError (Invalid Message) saying what is wrong with it. The
 * version is read first so that even a refusal answers in the client's version.
 */
export function parseRequest(item: TtlvItem, limits: { maxBatchItems: number }): RequestMessage {
  if (item.tag !== Tag.RequestMessage) throw new KmipError('InvalidMessage', 'the message is not a Request Message');
  const message = Fields.of(item);
  const header = parseHeader(message.struct(Tag.RequestHeader));
  const batch = message.all(Tag.BatchItem);
  if (batch.length === 0) throw new KmipError('InvalidMessage', 'the request has no Batch Item');
  if (batch.length > limits.maxBatchItems) {
    throw new KmipError('InvalidMessage', `the request has ${batch.length} batch items; this server accepts at most ${limits.maxBatchItems}`);
  }
  if (batch.length !== header.batchCount) {
    throw new KmipError('InvalidMessage', `Batch Count says ${header.batchCount} but the request has ${batch.length} batch items`);
  }
  const unexpected = message.item.value.find((child) => child.tag !== Tag.RequestHeader && child.tag !== Tag.BatchItem);
  if (unexpected) throw new KmipError('InvalidMessage', `unexpected item 0x${unexpected.tag.toString(16)} in Request Message`);
  return { header, items: batch.map((b, i) => parseBatchItem(Fields.of(b, `BatchItem[${i}]`), batch.length > 1)) };
}

/** The version of a request, read as early and as leniently as possible, for error answers. */
export function requestVersion(item: TtlvItem): KmipVersion | undefined {
  try {
    const header = Fields.of(item).struct(Tag.RequestHeader);
    const pv = header.struct(Tag.ProtocolVersion);
    return negotiate(pv.value(Tag.ProtocolVersionMajor, 'Integer'), pv.value(Tag.ProtocolVersionMinor, 'Integer'));
  } catch {
    return undefined;
  }
}

const CONTINUATION_NAMES: ReadonlyMap<number, BatchErrorContinuation> = new Map(
  (['Continue', 'Stop', 'Undo'] as const).map((name) => [Enum.BatchErrorContinuationOption[name], name]),
);

function parseHeader(header: Fields): RequestHeader {
  const pv = header.struct(Tag.ProtocolVersion);
  const major = pv.value(Tag.ProtocolVersionMajor, 'Integer');
  const minor = pv.value(Tag.ProtocolVersionMinor, 'Integer');
  const version = negotiate(major, minor);
  if (version === undefined) throw new KmipError('UnsupportedProtocolVersion', `protocol version ${major}.${minor} is not supported`);
  const continuation = header.optionalEnumeration(Tag.BatchErrorContinuationOption) ?? Enum.BatchErrorContinuationOption.Stop;
  const continuationName = CONTINUATION_NAMES.get(continuation);
  if (continuationName === undefined) throw new KmipError('InvalidField', `Batch Error Continuation Option ${continuation} is not defined`);
  const maximumResponseSize = header.optionalInteger(Tag.MaximumResponseSize);
  if (maximumResponseSize !== undefined && maximumResponseSize <= 0) throw new KmipError('InvalidField', 'Maximum Response Size must be positive');
  return {
    version,
    maximumResponseSize,
    clientCorrelationValue: header.optionalText(Tag.ClientCorrelationValue),
    asynchronousIndicator: header.optionalBoolean(Tag.AsynchronousIndicator) ?? false,
    authentication: header.optionalStruct(Tag.Authentication),
    batchErrorContinuation: continuationName,
    batchOrder: header.optionalBoolean(Tag.BatchOrderOption) ?? true,
    batchCount: header.value(Tag.BatchCount, 'Integer'),
  };
}

function parseBatchItem(item: Fields, multiple: boolean): RequestBatchItem {
  const id = item.optionalValue(Tag.UniqueBatchItemID, 'ByteString');
  // 7.2: a Unique Batch Item ID is required when a message holds more than one item; be
  // lenient (clients omit it) but never invent one.
  void multiple;
  return {
    operation: item.enumeration(Tag.Operation),
    uniqueBatchItemId: id === undefined ? undefined : Buffer.from(id),
    payload: item.optional(Tag.RequestPayload),
  };
}

export function buildResponse(header: ResponseHeader, items: readonly ResponseBatchItem[]): TtlvItem {
  const { major, minor } = parseVersion(header.version);
  return struct(Tag.ResponseMessage, [
    struct(Tag.ResponseHeader, [
      struct(Tag.ProtocolVersion, [int(Tag.ProtocolVersionMajor, major), int(Tag.ProtocolVersionMinor, minor)]),
      dateTime(Tag.TimeStamp, header.timeStamp),
      // 2.1 section 9.9: the Client Correlation Value travels in requests only; the server logs it.
      // The Server Correlation Value is optional and goes to the log only: PyKMIP 0.10 cannot
      // read a response header that carries it (it expects Batch Count after Time Stamp).
      int(Tag.BatchCount, items.length),
    ]),
    ...items.map((item) => buildBatchItem(item, header.version)),
  ]);
}

/** Fields pushed as present (one array per batch item, not a list with holes filtered into another). */
function buildBatchItem(item: ResponseBatchItem, version: KmipVersion): TtlvItem {
  const fields: TtlvItem[] = [];
  if (item.operation !== undefined) fields.push(enumeration(Tag.Operation, item.operation));
  if (item.uniqueBatchItemId !== undefined) fields.push(bytes(Tag.UniqueBatchItemID, item.uniqueBatchItemId));
  fields.push(enumeration(Tag.ResultStatus, Enum.ResultStatus[item.status]));
  if (item.reason !== undefined) fields.push(enumeration(Tag.ResultReason, Enum.ResultReason[reasonFor(item.reason, version)]));
  if (item.message !== undefined) fields.push(text(Tag.ResultMessage, item.message));
  if (item.payload !== undefined) fields.push(struct(Tag.ResponsePayload, item.payload));
  return { tag: Tag.BatchItem, type: 'Structure', value: fields };
}
