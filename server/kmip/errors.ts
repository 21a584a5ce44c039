/** How the `kmip` command ends: each failure maps to one exit code and one line on stderr. */
import { KmipClientError, KmipOperationError, oneLine } from '../../lib/client/index.js';
import type { Connection } from './connection.js';

export const EXIT = {
  ok: 0,
  /** The server refused an operation, or could not be reached or understood. */
  failed: 1,
  /** The command line cannot be acted on: a bad value, an unreadable input file. */
  usage: 2,
  /** verify / mac --verify: the signature or MAC does not match. */
  invalid: 3,
} as const;

/** The command line cannot be acted on (exit code 2). */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  readonly code = 'USAGE';
}

/** Server certificate checks that fail because of --ca. */
const UNTRUSTED_SERVER = new Set(['SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_HAS_EXPIRED']);

/** A transport error with what a person can check next: which file, which host. */
export function explain(error: KmipClientError, connection: Connection | undefined): string {
  if (connection === undefined) return error.message;
  const { host, port, files } = connection;
  const cause = error.cause as NodeJS.ErrnoException | undefined;
  const code = cause?.code ?? '';
  switch (error.code) {
    case 'CONNECT_FAILED':
      if (UNTRUSTED_SERVER.has(code)) return `${error.message} (the server certificate does not lead to the CA ${files.ca}: check --ca)`;
      if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') return `${error.message} (the server certificate does not name ${host}: give --servername with a name it holds)`;
      if (code === 'ECONNREFUSED') return `${error.message} (is kmipd running there? check --host and --port)`;
      if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return `${error.message} (unknown host ${host}: check --host)`;
      if (/alert|certificate/i.test(error.message)) return `${error.message} (does the server trust the client certificate ${files.cert}?)`;
      return error.message;
    case 'CLOSED':
      return error.message.replace('the client certificate?', `the client certificate ${files.cert}?`);
    case 'CONNECT_TIMEOUT':
    case 'TIMEOUT':
      return `${error.message} from ${host}:${port} (a slow server? --timeout SECONDS)`;
    default:
      return error.message;
  }
}

/** One line on stderr and the exit code for any failure. */
export function report(error: unknown, connection?: Connection): void {
  let message: string;
  let code: number = EXIT.failed;
  if (error instanceof UsageError) {
    message = error.message;
    code = EXIT.usage;
  } else if (error instanceof KmipClientError) {
    message = explain(error, connection);
    if (error.code === 'INVALID_ARGUMENT') code = EXIT.usage;
  } else if (error instanceof KmipOperationError) {
    message = error.message;
  } else {
    message = `unexpected error: ${error instanceof Error ? error.message : String(error)}`;
  }
  process.stderr.write(`kmip: ${oneLine(message)}\n`);
  process.exitCode = code;
}
