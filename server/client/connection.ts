/**
 * Where `kmip` connects and with which certificates: flags first, then KMIP_* variables,
 * then the admin client of the data folder (`--dir`, KMIPD_DIR, `./kmipd-data`), so the
 * command works with no flags next to a `kmipd serve` started in the same folder.
 */
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createSecureContext } from 'node:tls';
import { SETTINGS } from '../config.js';
import { UsageError } from './errors.js';

export interface ConnectionFlags {
  readonly host?: string | undefined;
  readonly port?: number | undefined;
  readonly cert?: string | undefined;
  readonly key?: string | undefined;
  readonly ca?: string | undefined;
  readonly dir?: string | undefined;
  readonly servername?: string | undefined;
}

type Env = Readonly<Record<string, string | undefined>>;

export interface Connection {
  readonly host: string;
  readonly port: number;
  /** Paths, for error messages. */
  readonly files: { readonly cert: string; readonly key: string; readonly ca: string };
  readonly servername?: string;
}

export interface ConnectionTls {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly ca: Buffer;
}

const DEFAULT_HOST = '127.0.0.1';

/** The development PKI's file names (certs/pki.ts) inside `<data folder>/certs/`. */
const ADMIN_FILES = { cert: 'admin.pem', key: 'admin-key.pem', ca: 'ca.pem' } as const;

export function resolveConnection(flags: ConnectionFlags, env: Env): Connection {
  const certsDir = (dir: string): string => join(resolve(dir), 'certs');
  // An explicit --dir beats the KMIP_CERT/KEY/CA variables; the data folder default comes last.
  const fromFlagDir = flags.dir === undefined ? undefined : certsDir(flags.dir);
  const fallbackDir = certsDir(env[SETTINGS.dir.env] ?? SETTINGS.dir.default);
  const file = (which: keyof typeof ADMIN_FILES, flag: string | undefined, variable: string): string =>
    flag ?? (fromFlagDir === undefined ? undefined : join(fromFlagDir, ADMIN_FILES[which])) ?? env[variable] ?? join(fallbackDir, ADMIN_FILES[which]);
  return {
    host: flags.host ?? env.KMIP_HOST ?? DEFAULT_HOST,
    port: flags.port ?? portFrom(env.KMIP_PORT) ?? SETTINGS.port.default,
    files: { cert: file('cert', flags.cert, 'KMIP_CERT'), key: file('key', flags.key, 'KMIP_KEY'), ca: file('ca', flags.ca, 'KMIP_CA') },
    ...(flags.servername === undefined ? {} : { servername: flags.servername }),
  };
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
      throw new UsageError(`cannot read the ${what} ${path}: ${reason} (give --${flag} FILE or KMIP_${flag.toUpperCase()}, or --dir DATA_FOLDER)`);
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
