/**
 * Request messages out and response messages in (2.1 section 8, 1.4 section 7): header,
 * batch items, and the Result Status / Reason / Message of each answered item.
 */
import { Enum, Tag, registry } from '../../ttlv/index.js';
import type { KmipVersion, StructureItem, TtlvItem } from '../../ttlv/index.js';
import { badResponse } from './errors.js';
import type { ResultReasonName, ResultStatusName } from './errors.js';
import { enumXmlName } from './names.js';
import { bool, bytes, child, children, enumeration, int, optionalChild, struct } from './ttlv.js';

export type BatchErrorContinuation = 'Stop' | 'Continue' | 'Undo';

export interface MessageOptions {
  readonly version: KmipVersion;
  /** Largest response the server may send, in bytes (Maximum Response Size). */
  readonly maximumResponseSize?: number;
  /** What the server does after a failed item (Batch Error Continuation Option; Stop by default). */
  readonly batchErrorContinuation?: BatchErrorContinuation;
  /** Items run in order (Batch Order Option). */
  readonly batchOrder?: boolean;
  /** Authentication, sent as it is (a Credential structure). */
  readonly authentication?: TtlvItem;
}

export interface OutgoingItem {
  readonly operation: number;
  readonly payload: readonly TtlvItem[];
}

export interface AnsweredItem {
  readonly operation: number | undefined;
  readonly status: ResultStatusName;
  readonly reason: ResultReasonName | undefined;
  readonly message: string | undefined;
  readonly payload: StructureItem;
}

export function protocolVersion(version: KmipVersion): StructureItem {
  const [major, minor] = version.split('.').map(Number);
  return struct(Tag.ProtocolVersion, [int(Tag.ProtocolVersionMajor, major ?? 0), int(Tag.ProtocolVersionMinor, minor ?? 0)]);
}

/** A Request Message; items of a batch get Unique Batch Item IDs 1, 2, ... to match the answers. */
export function requestMessage(items: readonly OutgoingItem[], options: MessageOptions): StructureItem {
  const batched = items.length > 1;
  const continuation = options.batchErrorContinuation === undefined ? undefined : Enum.BatchErrorContinuationOption[options.batchErrorContinuation];
  const header = struct(Tag.RequestHeader, [
    protocolVersion(options.version),
    options.maximumResponseSize === undefined ? undefined : int(Tag.MaximumResponseSize, options.maximumResponseSize),
    options.authentication === undefined ? undefined : struct(Tag.Authentication, [options.authentication]),
    continuation === undefined ? undefined : enumeration(Tag.BatchErrorContinuationOption, continuation),
    options.batchOrder === undefined ? undefined : bool(Tag.BatchOrderOption, options.batchOrder),
    int(Tag.BatchCount, items.length),
  ]);
  return struct(Tag.RequestMessage, [
    header,
    ...items.map((item, i) =>
      struct(Tag.BatchItem, [
        enumeration(Tag.Operation, item.operation),
        batched ? bytes(Tag.UniqueBatchItemID, batchItemId(i)) : undefined,
        struct(Tag.RequestPayload, item.payload),
      ]),
    ),
  ]);
}

function batchItemId(index: number): Uint8Array {
  const id = Buffer.alloc(4);
  id.writeUInt32BE(index + 1);
  return id;
}

/**
 * The answers of a Response Message, in request order: `undefined` for an item the server
 * did not answer (after a failure, with Stop).
 */
export function readResponse(response: TtlvItem, count: number, version: KmipVersion): { version: KmipVersion | undefined; items: (AnsweredItem | undefined)[] } {
  if (response.tag !== Tag.ResponseMessage || response.type !== 'Structure') throw badResponse('the answer is not a Response Message');
  const header = child(response, Tag.ResponseHeader, 'Structure');
  const pv = child(header, Tag.ProtocolVersion, 'Structure');
  const answeredIn = registry.versionOf(child(pv, Tag.ProtocolVersionMajor, 'Integer').value, child(pv, Tag.ProtocolVersionMinor, 'Integer').value);
  const items: (AnsweredItem | undefined)[] = new Array<AnsweredItem | undefined>(count).fill(undefined);
  const batch = children(response, Tag.BatchItem, 'Structure');
  batch.forEach((item, position) => {
    const id = optionalChild(item, Tag.UniqueBatchItemID, 'ByteString')?.value;
    const index = id !== undefined && id.length === 4 && count > 1 ? Buffer.from(id).readUInt32BE(0) - 1 : position;
    if (index < 0 || index >= count) throw badResponse(`the answer holds a batch item nobody asked for (#${index + 1})`);
    items[index] = answeredItem(item, answeredIn ?? version);
  });
  return { version: answeredIn, items };
}

function answeredItem(item: StructureItem, version: KmipVersion): AnsweredItem {
  const status = child(item, Tag.ResultStatus, 'Enumeration').value;
  const reason = optionalChild(item, Tag.ResultReason, 'Enumeration')?.value;
  const operation = optionalChild(item, Tag.Operation, 'Enumeration')?.value;
  return {
    operation,
    status: enumXmlName(Tag.ResultStatus, status, version) as ResultStatusName,
    reason: reason === undefined ? undefined : (enumXmlName(Tag.ResultReason, reason, version) as ResultReasonName),
    message: optionalChild(item, Tag.ResultMessage, 'TextString')?.value,
    payload: optionalChild(item, Tag.ResponsePayload, 'Structure') ?? struct(Tag.ResponsePayload, []),
  };
}
