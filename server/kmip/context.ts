/**
 * Running one `kmip` command: resolve the connection (flags, variables, profile, data
 * folder), open a KmipClient (version negotiated unless --kmip-version; a Username and
 * Password Credential in every request when a user name is given), let the command work,
 * print its Output, and turn any failure into one stderr line and an exit code.
 */
import type { Argv } from 'yargs';
import { KmipClient, KmipOperationError, usernamePasswordCredential } from '../../lib/client/index.js';
import type { KmipVersion } from '../../ttlv/index.js';
import { loadPassword, loadProfile, loadTls, promptPassword, resolveConnection } from './connection.js';
import type { Connection, ConnectionFlags } from './connection.js';
import { report } from './errors.js';
import { jsonText, plainForJson } from './output.js';
import type { Output } from './output.js';

export interface GlobalArgs extends ConnectionFlags {
  readonly json: boolean;
  readonly timeout: number;
  readonly connections: number;
}

/** A group of commands: registered on the command line with one line in kmip-cli.ts. */
export type KmipCommands = (yargs: Argv<GlobalArgs>) => Argv<GlobalArgs>;

export type Work = (client: KmipClient) => Promise<Output>;

/** Connect, let `work` talk to the server, print its output; every failure becomes one stderr line. */
export async function run(args: GlobalArgs, work: Work): Promise<void> {
  let client: KmipClient | undefined;
  let connection: Connection | undefined;
  try {
    connection = resolveConnection(args, process.env, await loadProfile(args, process.env));
    const tls = await loadTls(connection);
    const { login } = connection;
    const credential = login === undefined ? undefined : usernamePasswordCredential(login.username, await loadPassword(login, process.stdin.isTTY ? promptPassword : undefined));
    const timeoutMs = args.timeout * 1000;
    client = await KmipClient.connect({
      host: connection.host,
      port: connection.port,
      ...tls,
      ...(connection.servername === undefined ? {} : { servername: connection.servername }),
      ...(connection.version === undefined ? {} : { version: connection.version }),
      connectTimeoutMs: timeoutMs,
      requestTimeoutMs: timeoutMs,
      maxConnections: args.connections,
      idleTimeoutMs: 0,
      ...(credential === undefined ? {} : { credential }),
    });
    const output = await work(client);
    process.stdout.write(args.json ? `${jsonText(plainForJson(output.json))}\n` : output.text === '' ? '' : `${output.text}\n`);
    if (output.exitCode !== undefined) process.exitCode = output.exitCode;
  } catch (error) {
    report(withLoginHint(error, connection), connection);
  } finally {
    await client?.close();
  }
}

/** Authentication Not Successful says what a person can check: the server never says which part was wrong. */
function withLoginHint(error: unknown, connection: Connection | undefined): unknown {
  if (!(error instanceof KmipOperationError) || error.resultReason !== 'AuthenticationNotSuccessful') return error;
  const login = connection?.login;
  const hint =
    login === undefined
      ? 'give --username NAME and --password-file FILE, or KMIP_USERNAME and KMIP_PASSWORD_FILE, or username and passwordFile in the profile'
      : `check the user name ${login.username}, its password${login.passwordFile === undefined ? '' : ` (${login.passwordFile})`}, and that the user may log in through the certificate ${connection?.files.cert ?? ''}`;
  return new KmipOperationError(error.operation, error.resultStatus, error.resultReason, `${error.resultMessage ?? 'refused'} (${hint})`, error.batchIndex);
}

/** The version requests are built for (for names in error messages). */
export const versionOf = (client: KmipClient): KmipVersion => client.version;

/** Run `task` over `items` with at most `limit` at once, in order of results. */
export async function eachLimited<T, R>(items: readonly T[], limit: number, task: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      results[index] = await task(items[index] as T, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
