/**
 * `kmipd users add|passwd|identities|remove|list`: the users file of `requireCredential`
 * (server/users.ts). Passwords come from a file (`--password-file`), standard input (`--password-stdin`)
 * or are typed twice on a terminal without echo; they never appear on a command line.
 */
import { readFile, stat } from 'node:fs/promises';
import type { Argv, CommandModule } from 'yargs';
import { DEFAULT_SCRYPT, PasswordHashError, hashPassword, parsePasswordHash } from '../lib/auth/password.js';
import { settingOptions } from './commands/serve.js';
import { ConfigError } from './config.js';
import { configFromArgs } from './maintenance.js';
import { promptHidden } from './prompt.js';
import { UsersFileError, checkName, readUsersFile, usersFilePath, withUsersLock, writeUsersFile } from './users.js';
import type { UserEntry, UsersDocument } from './users.js';

const MIN_PASSWORD = 8;
const MAX_PASSWORD = 1024;

/** Where a new password comes from. */
export interface PasswordSource {
  readonly passwordFile?: string | undefined;
  /** Ask on the terminal (when standard input is one). */
  readonly prompt?: (question: string) => Promise<string>;
  /** Warnings for the operator (standard error). */
  readonly warn?: (line: string) => void;
}

export function checkPassword(password: string): string {
  if ([...password].length < MIN_PASSWORD) throw new UsersFileError(`the password is shorter than ${MIN_PASSWORD} characters`);
  if ([...password].length > MAX_PASSWORD) throw new UsersFileError(`the password is longer than ${MAX_PASSWORD} characters`);
  return password;
}

/** The new password: the file's first line, or typed twice. */
export async function readNewPassword(source: PasswordSource): Promise<string> {
  if (source.passwordFile !== undefined) {
    const file = source.passwordFile;
    if (file !== '-') {
      const info = await stat(file).catch((error: Error) => {
        throw new UsersFileError(`cannot read the password file ${file}: ${error.message}`);
      });
      if ((info.mode & 0o077) !== 0 && info.isFile()) source.warn?.(`the password file ${file} may be read by other users: chmod 600 it, or delete it now`);
    }
    const text = file === '-' ? await readStdin() : await readFile(file, 'utf8').catch((error: Error) => {
      throw new UsersFileError(`cannot read the password file ${file}: ${error.message}`);
    });
    // The first line, without its line end: `echo secret > file` works as expected.
    return checkPassword(text.split(/\r?\n/)[0] ?? '');
  }
  if (source.prompt === undefined) throw new UsersFileError('standard input is not a terminal: give the password with --password-file FILE (or - for standard input)');
  const first = checkPassword(await source.prompt('Password: '));
  const second = await source.prompt('Password again: ');
  if (first !== second) throw new UsersFileError('the two passwords differ');
  return first;
}

/** Standard input to its end (a pipe or a socket, where /dev/stdin cannot be opened). */
async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
  return Buffer.concat(chunks).toString('utf8');
}

/** Read a line from the terminal without echoing it; Ctrl-C or Ctrl-D cancels. */
export function promptPassword(question: string): Promise<string> {
  return promptHidden(question, () => new UsersFileError('cancelled'));
}

function identitiesFrom(list: readonly string[]): string[] {
  const identities = [...new Set(list.flatMap((item) => item.split(',')).map((item) => item.trim()).filter((item) => item !== ''))];
  if (identities.length === 0) throw new UsersFileError('give at least one certificate identity the user may log in through (--identity CERT_ID[,CERT_ID...])');
  return identities.map((identity) => checkName(identity, 'identity'));
}

/** Read, change and write the users file under its lock. */
async function change(path: string, edit: (users: Record<string, UserEntry>) => Promise<string>): Promise<string> {
  return withUsersLock(path, async () => {
    const users: Record<string, UserEntry> = { ...(await readUsersFile(path))?.users };
    const said = await edit(users);
    const document: UsersDocument = { users: Object.fromEntries(Object.entries(users).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) };
    await writeUsersFile(path, document);
    return said;
  });
}

function existing(users: Record<string, UserEntry>, name: string, path: string): UserEntry {
  const entry = users[name];
  if (entry === undefined) throw new UsersFileError(`no user ${JSON.stringify(name)} in ${path}`);
  return entry;
}

export async function addUser(path: string, name: string, identityList: readonly string[], source: PasswordSource): Promise<string> {
  checkName(name, 'user name');
  const identities = identitiesFrom(identityList);
  // Refuse before asking for a password: the file may be unusable or the name taken.
  const before = await readUsersFile(path);
  if (before?.users[name] !== undefined) throw new UsersFileError(`user ${JSON.stringify(name)} exists: change its password with \`kmipd users passwd\`, its identities with \`kmipd users identities\``);
  const password = await hashPassword(await readNewPassword(source));
  return change(path, async (users) => {
    if (users[name] !== undefined) throw new UsersFileError(`user ${JSON.stringify(name)} exists`);
    users[name] = { identities, password, changed: new Date().toISOString() };
    return `user ${name} added, may log in through ${identities.join(', ')} (${path})\n`;
  });
}

export async function changePassword(path: string, name: string, source: PasswordSource): Promise<string> {
  existing({ ...(await readUsersFile(path))?.users }, name, path);
  const password = await hashPassword(await readNewPassword(source));
  return change(path, async (users) => {
    users[name] = { ...existing(users, name, path), password, changed: new Date().toISOString() };
    return `password of ${name} changed (${path})\n`;
  });
}

export async function setIdentities(path: string, name: string, identityList: readonly string[]): Promise<string> {
  const identities = identitiesFrom(identityList);
  return change(path, async (users) => {
    users[name] = { ...existing(users, name, path), identities };
    return `user ${name} may log in through ${identities.join(', ')} (${path})\n`;
  });
}

export async function removeUser(path: string, name: string): Promise<string> {
  return change(path, async (users) => {
    existing(users, name, path);
    delete users[name];
    return `user ${name} removed (${path})\n`;
  });
}

/** One line a user: name, identities, when its password was set, and the hash's scrypt cost. */
export async function listUsers(path: string, json: boolean): Promise<string> {
  const document = await readUsersFile(path);
  const entries = Object.entries(document?.users ?? {});
  if (json) return `${JSON.stringify(entries.map(([name, entry]) => ({ name, identities: entry.identities, changed: entry.changed })))}\n`;
  if (document === undefined) return `no users file at ${path}\n`;
  if (entries.length === 0) return `no users in ${path}\n`;
  const rows = entries.map(([name, entry]) => {
    const { params } = parsePasswordHash(entry.password);
    const weak = params.logN < DEFAULT_SCRYPT.logN || params.r < DEFAULT_SCRYPT.r ? ' (below the current default: set the password again)' : '';
    return [name, entry.identities.join(','), entry.changed || '-', `scrypt ln=${params.logN},r=${params.r},p=${params.p}${weak}`];
  });
  const header = ['USER', 'IDENTITIES', 'PASSWORD SET', 'HASH'];
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]?.length ?? 0)));
  const line = (cells: readonly string[]): string => `${cells.map((cell, column) => (column === cells.length - 1 ? cell : cell.padEnd(widths[column] ?? 0))).join('  ')}\n`;
  return line(header) + rows.map(line).join('');
}

// ---------------------------------------------------------------------------------------
// The command line

type Args = Readonly<Record<string, unknown>>;

/** Print the answer, or the UsersFileError (and other known errors) with exit code 2. */
async function runCommand(args: Args, run: (path: string) => Promise<string>): Promise<void> {
  try {
    const config = await configFromArgs(args, process.env);
    process.stdout.write(await run(usersFilePath(config)));
  } catch (error) {
    if (error instanceof UsersFileError || error instanceof ConfigError || error instanceof PasswordHashError) {
      process.stderr.write(`kmipd: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
}

function passwordSource(args: Args): PasswordSource {
  const file = args['password-stdin'] === true ? '-' : typeof args['password-file'] === 'string' ? args['password-file'] : undefined;
  return {
    passwordFile: file,
    ...(file === undefined && process.stdin.isTTY ? { prompt: promptPassword } : {}),
    warn: (line) => void process.stderr.write(`kmipd: ${line}\n`),
  };
}

const where = (y: Argv): Argv =>
  y.option('config', { type: 'string', describe: 'a JSON configuration file [KMIPD_CONFIG]' }).options(settingOptions());

const identityOption = { type: 'string', array: true, demandOption: true, describe: 'a certificate identity (as identitySource names it) the user may log in through; comma-separated or repeated' } as const;
const passwordOption = { type: 'string', describe: 'read the password from the first line of this file; default: ask on the terminal' } as const;
const stdinOption = { type: 'boolean', conflicts: 'password-file', describe: 'read the password from the first line of standard input' } as const;

/** `kmipd users ...`, registered in server/cli.ts. */
export const usersCommand: CommandModule = {
  command: 'users',
  describe: 'the users of requireCredential (KMIP Username and Password): add, passwd, identities, remove, list',
  builder: (users) =>
    users
      .command(
        'add <name>',
        'add a user who may log in through the given certificate identities',
        (y) => where(y).positional('name', { type: 'string', demandOption: true }).option('identity', identityOption).option('password-file', passwordOption).option('password-stdin', stdinOption),
        (args) => runCommand(args, (path) => addUser(path, String(args.name), args.identity as string[], passwordSource(args))),
      )
      .command(
        'passwd <name>',
        "set a user's password",
        (y) => where(y).positional('name', { type: 'string', demandOption: true }).option('password-file', passwordOption).option('password-stdin', stdinOption),
        (args) => runCommand(args, (path) => changePassword(path, String(args.name), passwordSource(args))),
      )
      .command(
        'identities <name>',
        'replace the certificate identities a user may log in through',
        (y) => where(y).positional('name', { type: 'string', demandOption: true }).option('identity', identityOption),
        (args) => runCommand(args, (path) => setIdentities(path, String(args.name), args.identity as string[])),
      )
      .command(
        'remove <name>',
        'remove a user (its objects stay, owned by its name)',
        (y) => where(y).positional('name', { type: 'string', demandOption: true }),
        (args) => runCommand(args, (path) => removeUser(path, String(args.name))),
      )
      .command(
        'list',
        'the users, the identities they may log in through, when their passwords were set',
        (y) => where(y).option('json', { type: 'boolean', default: false, describe: 'print JSON' }),
        (args) => runCommand(args, (path) => listUsers(path, args.json === true)),
      )
      .demandCommand(1, 'say add, passwd, identities, remove or list'),
  handler: () => undefined,
};
