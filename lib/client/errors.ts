/**
 * What the client fails with. Two families, never mixed up:
 * - KmipClientError: the conversation itself failed (connect, TLS, timeout, closed
 *   connection, an answer KMIP does not shape that way, a bad argument) with a stable `code`;
 * - KmipOperationError: the server answered, and the answer is a failure: its Result
 *   Status, Result Reason and Result Message.
 */
import { Enum, registry, Tag } from '../../ttlv/index.js';
import type { KmipVersion } from '../../ttlv/index.js';

export type KmipClientErrorCode =
  | 'CONNECT_FAILED'
  | 'CONNECT_TIMEOUT'
  | 'TIMEOUT'
  | 'CLOSED'
  | 'ABORTED'
  | 'QUEUE_FULL'
  | 'BAD_RESPONSE'
  | 'NOT_EXECUTED'
  | 'INVALID_ARGUMENT';

export class KmipClientError extends Error {
  override readonly name = 'KmipClientError';
  constructor(
    readonly code: KmipClientErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export const badResponse = (message: string): KmipClientError => new KmipClientError('BAD_RESPONSE', message);
export const invalidArgument = (message: string): KmipClientError => new KmipClientError('INVALID_ARGUMENT', message);

export type ResultStatusName = keyof typeof Enum.ResultStatus;
export type ResultReasonName = keyof typeof Enum.ResultReason;

/** The server refused an operation (one batch item). */
export class KmipOperationError extends Error {
  override readonly name = 'KmipOperationError';
  constructor(
    /** The operation's specification name: "Get", "Re-key". */
    readonly operation: string,
    readonly resultStatus: ResultStatusName,
    /** The Result Reason's normalised name ("ItemNotFound"); undefined when the server gave none. */
    readonly resultReason: ResultReasonName | undefined,
    readonly resultMessage: string | undefined,
    /** Position of the batch item in its request (0 for a single operation). */
    readonly batchIndex = 0,
  ) {
    super(`${operation} failed: ${reasonText(resultStatus, resultReason)}${resultMessage === undefined ? '' : `: ${oneLine(resultMessage)}`}`);
  }

  /** "Item Not Found", as the specification writes it. */
  get reasonText(): string {
    return reasonText(this.resultStatus, this.resultReason);
  }
}

function reasonText(status: ResultStatusName, reason: ResultReasonName | undefined, version?: KmipVersion): string {
  const tag = reason === undefined ? Tag.ResultStatus : Tag.ResultReason;
  const def = registry.enumForTag(tag);
  const name = reason ?? status;
  return (def && registry.enumValueByName(def, name, version)?.name) ?? name;
}

/** Collapse line breaks so that an error stays one line in a log or on stderr. */
export function oneLine(text: string): string {
  return text.replace(/\s*[\r\n]+\s*/g, ' ').trim();
}
