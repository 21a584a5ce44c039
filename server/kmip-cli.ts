#!/usr/bin/env node
/**
 * `kmip`: a KMIP client on the command line, built on the client library (lib/client).
 * Each command connects over mutually authenticated TLS (settings from flags, KMIP_*
 * variables, a profile file or the data folder), with a user name and password file when
 * the server requires a KMIP Credential, negotiates the protocol version (or uses
 * --kmip-version), prints a short result or table (JSON with --json) and closes.
 * Exit codes: 0 done; 1 the server refused (its Result Reason and Message on one stderr
 * line) or could not be reached (which host, which certificate); 2 bad usage; 3 verify /
 * mac --verify found the signature or MAC invalid.
 */
import yargs from 'yargs';
import type { Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { oneLine } from '../lib/client/index.js';
import { registry } from '../ttlv/index.js';
import { checkPort, defaultProfilePath } from './kmip/connection.js';
import type { GlobalArgs, KmipCommands } from './kmip/context.js';
import { EXIT, report } from './kmip/errors.js';
import { attributeCommands } from './kmip/commands/attributes.js';
import { cryptoCommands } from './kmip/commands/crypto.js';
import { grantCommands } from './kmip/commands/grants.js';
import { infoCommands } from './kmip/commands/info.js';
import { lifecycleCommands } from './kmip/commands/lifecycle.js';
import { objectCommands } from './kmip/commands/objects.js';

/**
 * Every group of commands; a new group is one import and one line here: a KmipCommands
 * function, or yargs command modules as `(y) => y.command(modules)` whose handlers call
 * `run(args, async (client) => ({ text, json }))` from ./kmip/context.js.
 */
const COMMANDS: readonly KmipCommands[] = [objectCommands, attributeCommands, lifecycleCommands, cryptoCommands, grantCommands, infoCommands];

function usageFailure(message: string | undefined, error: Error | undefined): never {
  process.stderr.write(`kmip: ${oneLine(message ?? error?.message ?? 'bad usage')} (see kmip --help)\n`);
  process.exit(EXIT.usage);
}

/** Variadic positionals of the commands: the only values that stay lists. */
const LIST_ARGUMENTS = new Set(['_', 'ids', 'files', 'names']);

function lastValueWins(argv: Record<string, unknown>): void {
  for (const [name, value] of Object.entries(argv)) if (Array.isArray(value) && !LIST_ARGUMENTS.has(name)) argv[name] = value[value.length - 1];
}

function refusePasswordFlag(): never {
  throw new Error('--password is not taken: a password on the command line shows in ps and shell history; put it in a file only you may read (chmod 600) and give --password-file FILE');
}

function globalOptions(argv: string[]): Argv<GlobalArgs> {
  return yargs(argv)
    .scriptName('kmip')
    // A flag given twice takes its last value, as in most commands (the middleware below);
    // yargs' own switch for that would also cut variadic positionals (<ids..>) to one.
    .middleware(lastValueWins, true)
    .usage('$0 <command> [options]: a KMIP client over mutually authenticated TLS')
    .options({
      host: { type: 'string', describe: 'server host [KMIP_HOST; profile; default 127.0.0.1]' },
      port: { type: 'number', describe: 'server port [KMIP_PORT; profile; default 5696]', coerce: (port: number) => checkPort(port, '--port') },
      cert: { type: 'string', describe: 'client certificate, PEM [KMIP_CERT; profile; default DIR/certs/admin.pem]' },
      key: { type: 'string', describe: 'client private key, PEM [KMIP_KEY; profile; default DIR/certs/admin-key.pem]' },
      ca: { type: 'string', describe: 'CA certificate the server must chain to, PEM [KMIP_CA; profile; default DIR/certs/ca.pem]' },
      dir: { type: 'string', describe: 'a kmipd data folder whose admin client and CA to use [KMIPD_DIR; default ./kmipd-data]' },
      servername: { type: 'string', describe: 'name to check in the server certificate [profile; default: the host]' },
      profile: { type: 'string', describe: `a JSON file of connection settings (host, port, cert, key, ca, servername, kmipVersion, username, passwordFile) [KMIP_PROFILE; default ${defaultProfilePath(process.env)} when it exists]` },
      'kmip-version': { type: 'string', choices: [...registry.KMIP_VERSIONS], describe: 'KMIP protocol version of the requests [KMIP_VERSION; profile; default: the newest both sides speak]' },
      username: { type: 'string', describe: 'user name of a KMIP Credential sent with every request, for a server with requireCredential [KMIP_USERNAME; profile]' },
      'password-file': { type: 'string', describe: 'file whose first line is the password of --username; others must not be able to read it (chmod 600); asked for without echo on a terminal when absent [KMIP_PASSWORD_FILE; profile passwordFile]' },
      // Refused with a reason: a password on the command line shows in ps and in shell history.
      password: { type: 'string', hidden: true, coerce: refusePasswordFlag },
      json: { type: 'boolean', default: false, describe: 'print the result as JSON' },
      timeout: { type: 'number', default: 30, describe: 'seconds allowed for connecting and for each answer' },
      connections: { type: 'number', default: 4, describe: 'connections at most for bulk commands' },
    })
    .group(['host', 'port', 'cert', 'key', 'ca', 'dir', 'servername', 'profile', 'kmip-version', 'username', 'password-file', 'timeout', 'connections'], 'Connection:') as Argv<GlobalArgs>;
}

async function main(argv: string[]): Promise<void> {
  const cli = COMMANDS.reduce((y, commands) => commands(y), globalOptions(argv));
  await cli.demandCommand(1, 'say which command').strict().fail(usageFailure).help().parseAsync();
}

main(hideBin(process.argv)).catch((error: unknown) => {
  report(error);
});
