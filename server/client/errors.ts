/** What the `kmip` command can fail with, each mapped to one exit code by the CLI. */

/** The command line cannot be acted on: a bad value, an unreadable input file (exit code 2). */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  readonly code = 'USAGE';
}

/** The server answered an operation with a failure: its Result Reason and Result Message (exit code 1). */
export class OperationFailedError extends Error {
  override readonly name = 'OperationFailedError';
  readonly code = 'OPERATION_FAILED';
  constructor(
    readonly operation: string,
    readonly reason: string,
    readonly resultMessage: string | undefined,
  ) {
    super(`${operation} failed: ${reason}${resultMessage === undefined ? '' : `: ${oneLine(resultMessage)}`}`);
  }
}

/** The server's answer does not have the shape KMIP gives it (exit code 1). */
export class BadResponseError extends Error {
  override readonly name = 'BadResponseError';
  readonly code = 'BAD_RESPONSE';
}

/** Collapse line breaks so that an error always stays one line on stderr. */
export function oneLine(text: string): string {
  return text.replace(/\s*[\r\n]+\s*/g, ' ').trim();
}
