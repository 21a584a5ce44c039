/**
 * Where `kmip` connects and with which certificates. Each setting comes from, in order:
 * its flag; its KMIP_* variable; the profile file (--profile FILE, KMIP_PROFILE, or
 * ~/.config/kmip/profile.json when it exists); the admin client of the data folder
 * (--dir, KMIPD_DIR, ./kmipd-data), so the command works with no flags next to a
 * `kmipd serve` started in the same folder. A KMIP Credential (for a server with
 * `requireCredential`) is a user name and a password file, never the password itself: a
 * command line or a profile shows in `ps`, shell history and backups.
 */
import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { createSecureContext } from 'node:tls';
import { registry } from '../../ttlv/index.js';
import type { KmipVersion } from '../../ttlv/index.js';
import { SETTINGS } from '../config.js';
import { promptHidden } from '../prompt.js';
import { UsageError } from './errors.js';

export interface ConnectionFlags {
  readonly host?: string | undefined;
  readonly port?: number | undefined;
  readonly cert?: string | undefined;
  readonly key?: string | undefined;
  readonly ca?: string | undefined;
  readonly dir?: string | undefined;
  readonly servername?: string | undefined;
  readonly profile?: string | undefined;
  readonly 'kmip-version'?: string | undefined;
  readonly username?: string | undefined;
  readonly 'password-file'?: string | undefined;
}

type Env = Readonly<Record<string, string | undefined>>;

/** The settings a profile file may hold (JSON); relative paths are relative to the file. */
export interface Profile {
  readonly host?: string;
  readonly port?: number;
  readonly cert?: string;
  readonly key?: string;
  readonly ca?: string;
  readonly servername?: string;
  readonly kmipVersion?: string;
  readonly username?: string;
  readonly passwordFile?: string;
}

const PROFILE_KEYS = ['host', 'port', 'cert', 'key', 'ca', 'servername', 'kmipVersion', 'username', 'passwordFile'] as const;

export interface Connection {
  readonly host: string;
  readonly port: number;
  /** Paths, for error messages. */
  readonly files: { readonly cert: string; readonly key: string; readonly ca: string };
  readonly servername?: string;
  /** A fixed protocol version; negotiated when undefined. */
  readonly version?: KmipVersion;
  /** The profile file read, if any. */
  readonly profile?: string;
  /** A Username and Password Credential to send: the password is read from the file, or asked for on a terminal. */
  readonly login?: { readonly username: string; readonly passwordFile?: string };
}

export interface ConnectionTls {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly ca: Buffer;
}

const DEFAULT_HOST = '127.0.0.1';

/** The development PKI's file names (certs/pki.ts) inside `<data folder>/certs/`. */
const ADMIN_FILES = { cert: 'admin.pem', key: 'admin-key.pem', ca: 'ca.pem' } as const;

/** ~/.config/kmip/profile.json (or under $XDG_CONFIG_HOME). */
export function defaultProfilePath(env: Env): string {
  return join(env.XDG_CONFIG_HOME ?? join(homedir(), '.config'), 'kmip', 'profile.json');
}

/** The profile named by --profile or KMIP_PROFILE (which must exist), or the default one when present. */
export async function loadProfile(flags: ConnectionFlags, env: Env): Promise<{ path: string; profile: Profile } | undefined> {
  const named = flags.profile ?? env.KMIP_PROFILE;
  const path = named ?? defaultProfilePath(env);
  if (named === undefined && !existsSync(path)) return undefined;
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read the profile ${path}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`the profile ${path} is not JSON: ${(error as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new UsageError(`the profile ${path} must hold one JSON object`);
  const record = parsed as Record<string, unknown>;
  if ('password' in record) throw new UsageError(`the profile ${path} holds a password: remove it, put it alone in a file only you may read (chmod 600) and name that file with passwordFile`);
  const unknown = Object.keys(record).filter((key) => !(PROFILE_KEYS as readonly string[]).includes(key));
  if (unknown.length > 0) throw new UsageError(`the profile ${path} has unknown settings ${unknown.join(', ')}: it may hold ${PROFILE_KEYS.join(', ')}`);
  for (const key of PROFILE_KEYS) {
    const value = record[key];
    if (value === undefined) continue;
    if (key === 'port' ? typeof value !== 'number' : typeof value !== 'string') throw new UsageError(`the profile ${path}: ${key} must be a ${key === 'port' ? 'number' : 'string'}`);
  }
  // Certificate and password file paths in a profile are relative to the profile's folder.
  const base = dirname(resolve(path));
  const file = (value: unknown): string | undefined => (typeof value === 'string' ? (isAbsolute(value) ? value : join(base, value)) : undefined);
  const profile: Profile = {
    ...(typeof record.host === 'string' ? { host: record.host } : {}),
    ...(typeof record.port === 'number' ? { port: checkPort(record.port, `the profile's port`) } : {}),
    ...(file(record.cert) === undefined ? {} : { cert: file(record.cert) as string }),
    ...(file(record.key) === undefined ? {} : { key: file(record.key) as string }),
    ...(file(record.ca) === undefined ? {} : { ca: file(record.ca) as string }),
    ...(typeof record.servername === 'string' ? { servername: record.servername } : {}),
    ...(typeof record.kmipVersion === 'string' ? { kmipVersion: record.kmipVersion } : {}),
    ...(typeof record.username === 'string' ? { username: record.username } : {}),
    ...(file(record.passwordFile) === undefined ? {} : { passwordFile: file(record.passwordFile) as string }),
  };
  return { path, profile };
}

export function resolveConnection(flags: ConnectionFlags, env: Env, loaded?: { path: string; profile: Profile }): Connection {
  const profile = loaded?.profile ?? {};
  const certsDir = (dir: string): string => join(resolve(dir), 'certs');
  // An explicit --dir beats the KMIP_CERT/KEY/CA variables and the profile; the data folder default comes last.
  const fromFlagDir = flags.dir === undefined ? undefined : certsDir(flags.dir);
  const fallbackDir = certsDir(env[SETTINGS.dir.env] ?? SETTINGS.dir.default);
  const file = (which: keyof typeof ADMIN_FILES, flag: string | undefined, variable: string): string =>
    flag ?? (fromFlagDir === undefined ? undefined : join(fromFlagDir, ADMIN_FILES[which])) ?? env[variable] ?? profile[which] ?? join(fallbackDir, ADMIN_FILES[which]);
  const versionText = flags['kmip-version'] ?? env.KMIP_VERSION ?? profile.kmipVersion;
  const servername = flags.servername ?? profile.servername;
  const login = loginOf(flags, env, profile);
  return {
    host: flags.host ?? env.KMIP_HOST ?? profile.host ?? DEFAULT_HOST,
    port: flags.port ?? portFrom(env.KMIP_PORT) ?? profile.port ?? SETTINGS.port.default,
    files: { cert: file('cert', flags.cert, 'KMIP_CERT'), key: file('key', flags.key, 'KMIP_KEY'), ca: file('ca', flags.ca, 'KMIP_CA') },
    ...(servername === undefined ? {} : { servername }),
    ...(versionText === undefined ? {} : { version: versionOf(versionText) }),
    ...(loaded === undefined ? {} : { profile: loaded.path }),
    ...(login === undefined ? {} : { login }),
  };
}

/** User name and password file, each from its flag, its variable or the profile. */
function loginOf(flags: ConnectionFlags, env: Env, profile: Profile): Connection['login'] {
  const username = nonEmpty(flags.username) ?? nonEmpty(env.KMIP_USERNAME) ?? profile.username;
  const passwordFile = nonEmpty(flags['password-file']) ?? nonEmpty(env.KMIP_PASSWORD_FILE) ?? profile.passwordFile;
  if (username === undefined) {
    if (passwordFile !== undefined) throw new UsageError(`a password file (${passwordFile}) is given but no user name: give --username NAME, KMIP_USERNAME or username in the profile`);
    return undefined;
  }
  if (username !== username.trim()) throw new UsageError(`the user name ${JSON.stringify(username)} has spaces around it`);
  return { username, ...(passwordFile === undefined ? {} : { passwordFile: resolve(passwordFile) }) };
}

const nonEmpty = (text: string | undefined): string | undefined => (text === '' ? undefined : text);

function versionOf(text: string): KmipVersion {
  const version = (registry.KMIP_VERSIONS as readonly string[]).find((v) => v === text);
  if (version === undefined) throw new UsageError(`--kmip-version ${text} is not one of ${registry.KMIP_VERSIONS.join(', ')}`);
  return version as KmipVersion;
}

export function checkPort(port: number, source: string): number {
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UsageError(`${source} ${String(port)} is not a port number from 1 to 65535`);
  return port;
}

function portFrom(text: string | undefined): number | undefined {
  return text === undefined || text === '' ? undefined : checkPort(Number(text), 'KMIP_PORT');
}

/** Read the three PEM files and check that certificate and key belong together, before any socket. */
export async function loadTls(connection: Connection): Promise<ConnectionTls> {
  const { files } = connection;
  const read = async (path: string, what: string, flag: string): Promise<Buffer> => {
    try {
      return await readFile(path);
    } catch (error) {
      const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message;
      throw new UsageError(`cannot read the ${what} ${path}: ${reason} (give --${flag} FILE or KMIP_${flag.toUpperCase()}, a profile, or --dir DATA_FOLDER)`);
    }
  };
  const tls = {
    cert: await read(files.cert, 'client certificate', 'cert'),
    key: await read(files.key, 'client key', 'key'),
    ca: await read(files.ca, 'CA certificate', 'ca'),
  };
  try {
    createSecureContext(tls);
  } catch (error) {
    throw new UsageError(`the client certificate ${files.cert} and key ${files.key} cannot be used together (--cert, --key): ${(error as Error).message}`);
  }
  return tls;
}

/** Longest password read (the users file accepts 1024 characters; UTF-8 takes up to 4 bytes each). */
const MAX_PASSWORD_BYTES = 4096;

/**
 * The password of `login`: the first line of its password file, which others must not be able
 * to read (checked like kmipd checks its users file), or typed on the terminal without echo.
 */
export async function loadPassword(login: NonNullable<Connection['login']>, prompt: ((question: string) => Promise<string>) | undefined): Promise<string> {
  const file = login.passwordFile;
  if (file === undefined) {
    if (prompt === undefined) {
      throw new UsageError(`user ${login.username} needs a password: give --password-file FILE, KMIP_PASSWORD_FILE or passwordFile in the profile (a file only you may read), or run kmip on a terminal to type it`);
    }
    return checkedPassword(await prompt(`Password of ${login.username}: `), 'the password typed');
  }
  let info;
  try {
    info = await stat(file);
  } catch (error) {
    throw new UsageError(`cannot read the password file ${file}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message}`);
  }
  if (info.isDirectory()) throw new UsageError(`the password file ${file} is a folder`);
  if ((info.mode & 0o077) !== 0) {
    throw new UsageError(`the password file ${file} has mode ${(info.mode & 0o777).toString(8).padStart(4, '0')}: others may read the password; run chmod 600 ${file}`);
  }
  if (info.isFile() && info.size > MAX_PASSWORD_BYTES) throw new UsageError(`the password file ${file} is larger than ${MAX_PASSWORD_BYTES} bytes: it must hold the password alone`);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read the password file ${file}: ${(error as Error).message}`);
  }
  // The first line without its line end, as `kmipd users add --password-file` reads it: `echo secret > file` works.
  return checkedPassword(text.split(/\r?\n/)[0] ?? '', `the password file ${file}`);
}

function checkedPassword(password: string, source: string): string {
  if (password === '') throw new UsageError(`${source} holds no password (its first line is empty)`);
  if (Buffer.byteLength(password) > MAX_PASSWORD_BYTES) throw new UsageError(`${source} holds a password longer than ${MAX_PASSWORD_BYTES} bytes`);
  return password;
}

/** Ask on the terminal without echo (standard input must be a TTY); Ctrl-C or Ctrl-D cancels. */
export function promptPassword(question: string): Promise<string> {
  return promptHidden(question, () => new UsageError('no password typed: cancelled'));
}
