/**
 * The server's configuration: one typed schema with defaults. Values come from, in order of
 * precedence, command-line flags, KMIPD_* environment variables, a JSON file (--config) and
 * the defaults. Everything is validated at start; every problem is reported, each naming
 * where the bad value came from. docs/configuration.md is generated from this schema
 * (server/config-doc.ts).
 */
import { readFile } from 'node:fs/promises';
import type { LogLevel } from '../lib/log.js';
import type { AuditDurability } from '../lib/store/types.js';

/** One setting: its names in every source, its type, default and documentation. */
export interface SettingDef<T> {
  /** Command-line flag, without the leading dashes. */
  readonly flag: string;
  /** Environment variable. */
  readonly env: string;
  /** One sentence or two for the reference. */
  readonly describe: string;
  /** The type as the reference shows it ("integer 1–1000"). */
  readonly type: string;
  readonly default: T;
  /** The default as the reference shows it. */
  readonly defaultText: string;
  /** Parse the text of a flag or an environment variable; throws SettingError. */
  fromText(text: string): T;
  /** Check a value from the JSON file or from code; throws SettingError. */
  fromValue(value: unknown): T;
}

/** A value that does not fit its setting; the caller adds where the value came from. */
export class SettingError extends Error {
  override readonly name = 'SettingError';
}

/** The configuration cannot be used: every problem found, one a line. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

// ---------------------------------------------------------------------------------------
// Setting kinds

interface Common {
  readonly flag: string;
  readonly env: string;
  readonly describe: string;
}

function integer(common: Common & { default: number; min: number; max: number; unit?: string }): SettingDef<number> {
  const { min, max } = common;
  const range = `from ${min} to ${max}`;
  const check = (n: number, shown: string): number => {
    if (!Number.isSafeInteger(n) || n < min || n > max) throw new SettingError(`${shown} is not a whole number ${range}`);
    return n;
  };
  return {
    flag: common.flag,
    env: common.env,
    describe: common.describe,
    type: `integer ${min}–${max}${common.unit === undefined ? '' : ` (${common.unit})`}`,
    default: common.default,
    defaultText: String(common.default),
    fromText: (text) => check(/^\s*[+-]?\d+\s*$/.test(text) ? Number(text) : Number.NaN, JSON.stringify(text)),
    fromValue: (value) => {
      if (typeof value !== 'number') throw new SettingError(`${show(value)} is not a number`);
      return check(value, String(value));
    },
  };
}

function text(common: Common & { default: string; pattern?: RegExp; patternText?: string }): SettingDef<string> {
  const check = (s: string): string => {
    if (s.trim() === '') throw new SettingError('must not be empty');
    if (common.pattern !== undefined && !common.pattern.test(s)) {
      throw new SettingError(`${JSON.stringify(s)} is not ${common.patternText ?? `of the form ${common.pattern.source}`}`);
    }
    return s;
  };
  return {
    flag: common.flag,
    env: common.env,
    describe: common.describe,
    type: 'string',
    default: common.default,
    defaultText: JSON.stringify(common.default),
    fromText: check,
    fromValue: (value) => {
      if (typeof value !== 'string') throw new SettingError(`${show(value)} is not a string`);
      return check(value);
    },
  };
}

/** A file path that, when not set, is derived from another setting (shown as `defaultText`). */
function optionalPath(common: Common & { defaultText: string }): SettingDef<string | undefined> {
  const check = (s: string): string => {
    if (s.trim() === '') throw new SettingError('must not be empty (leave the setting out to use the default)');
    return s;
  };
  return {
    flag: common.flag,
    env: common.env,
    describe: common.describe,
    type: 'path',
    default: undefined,
    defaultText: common.defaultText,
    fromText: check,
    fromValue: (value) => {
      if (value === undefined || value === null) return undefined;
      if (typeof value !== 'string') throw new SettingError(`${show(value)} is not a string`);
      return check(value);
    },
  };
}

/** A text setting with no default value. */
function optionalText(common: Common & { defaultText: string }): SettingDef<string | undefined> {
  return { ...optionalPath(common), type: 'string' };
}

function oneOf<const V extends string>(common: Common & { default: V; values: readonly V[] }): SettingDef<V> {
  const check = (s: string): V => {
    const found = common.values.find((v) => v === s);
    if (found === undefined) throw new SettingError(`${JSON.stringify(s)} is not one of ${common.values.map((v) => JSON.stringify(v)).join(', ')}`);
    return found;
  };
  return {
    flag: common.flag,
    env: common.env,
    describe: common.describe,
    type: common.values.map((v) => `\`${v}\``).join(' \\| '),
    default: common.default,
    defaultText: JSON.stringify(common.default),
    fromText: check,
    fromValue: (value) => {
      if (typeof value !== 'string') throw new SettingError(`${show(value)} is not a string`);
      return check(value);
    },
  };
}

/** On or off: `true`/`false` in flags and the environment, a JSON boolean in the file. */
function onOff(common: Common & { default: boolean }): SettingDef<boolean> {
  return {
    flag: common.flag,
    env: common.env,
    describe: common.describe,
    type: 'boolean',
    default: common.default,
    defaultText: String(common.default),
    fromText: (text) => {
      const value = text.trim().toLowerCase();
      if (value === 'true') return true;
      if (value === 'false') return false;
      throw new SettingError(`${JSON.stringify(text)} is not true or false`);
    },
    fromValue: (value) => {
      if (typeof value !== 'boolean') throw new SettingError(`${show(value)} is not true or false`);
      return value;
    },
  };
}

/** A list of names: a JSON array in the file, comma-separated in flags and the environment. */
function nameList(common: Common & { default: readonly string[] }): SettingDef<readonly string[]> {
  const check = (names: readonly string[]): readonly string[] => {
    for (const name of names) {
      if (name.trim() === '' || name !== name.trim()) throw new SettingError(`${JSON.stringify(name)} is not a name (empty, or spaces around it)`);
    }
    return Object.freeze([...new Set(names)]);
  };
  return {
    flag: common.flag,
    env: common.env,
    describe: common.describe,
    type: 'list of strings',
    default: Object.freeze([...common.default]),
    defaultText: JSON.stringify(common.default),
    fromText: (s) => (s.trim() === '' ? check([]) : check(s.split(',').map((part) => part.trim()))),
    fromValue: (value) => {
      if (!Array.isArray(value) || !value.every((v): v is string => typeof v === 'string')) {
        throw new SettingError(`${show(value)} is not an array of strings`);
      }
      return check(value);
    },
  };
}

/**
 * Identity groups: a JSON object of group name to member identities in the file
 * (`{"dba": ["alice", "bob"]}`); `dba=alice+bob;ops=carol` in flags and the environment.
 */
function groupMap(common: Common): SettingDef<Readonly<Record<string, readonly string[]>>> {
  const check = (groups: Record<string, unknown>): Readonly<Record<string, readonly string[]>> => {
    const out: Record<string, readonly string[]> = {};
    for (const [group, members] of Object.entries(groups)) {
      if (group.trim() === '' || group !== group.trim()) throw new SettingError(`${JSON.stringify(group)} is not a group name (empty, or spaces around it)`);
      if (!Array.isArray(members) || !members.every((m): m is string => typeof m === 'string' && m !== '' && m === m.trim())) {
        throw new SettingError(`the members of group ${JSON.stringify(group)} must be an array of identity names`);
      }
      out[group] = Object.freeze([...new Set(members)]);
    }
    return Object.freeze(out);
  };
  return {
    flag: common.flag,
    env: common.env,
    describe: common.describe,
    type: 'object of lists of strings',
    default: Object.freeze({}),
    defaultText: '{}',
    fromText: (text) => {
      const groups: Record<string, string[]> = {};
      for (const part of text.split(';').map((p) => p.trim()).filter((p) => p !== '')) {
        const eq = part.indexOf('=');
        if (eq <= 0) throw new SettingError(`${JSON.stringify(part)} is not GROUP=member+member`);
        groups[part.slice(0, eq).trim()] = part.slice(eq + 1).split('+').map((m) => m.trim()).filter((m) => m !== '');
      }
      return check(groups);
    },
    fromValue: (value) => {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new SettingError(`${show(value)} is not an object of group name to identity names`);
      return check(value as Record<string, unknown>);
    },
  };
}

function show(value: unknown): string {
  const json = JSON.stringify(value);
  return json === undefined ? String(value) : json.length > 40 ? `${json.slice(0, 40)}...` : json;
}

// ---------------------------------------------------------------------------------------
// The schema

const MIB = 1024 * 1024;

/**
 * XML and JSON spell each item out (names, types, hex): a body of the HTTPS binding may be
 * this many times maxMessageSize; the TTLV it converts to must still fit maxMessageSize.
 */
export const TEXT_BODY_FACTOR = 4;

export type IdentitySource = 'subject-cn' | 'subject-dn' | 'san-email';
export type TlsMinVersion = 'TLSv1.2' | 'TLSv1.3';
export type StoreKind = 'sqlite' | 'postgres';
export type KekKind = 'file' | 'pkcs11';
export type HsmResidentKeys = 'off' | 'sensitive';
export type RetireOldPolicy = 'deactivate' | 'keep';
export type TlsMaxVersion = 'TLSv1.2' | 'TLSv1.3';
export type CertificateGroups = 'none' | 'subject-ou';

/**
 * Forward-secret AEAD suites only: the TLS 1.3 suites (all of them are), then ECDHE with
 * AES-GCM or ChaCha20-Poly1305 for TLS 1.2 (KMIP 2.1 profiles' TLS 1.2 suites include
 * ECDHE-ECDSA/RSA-AES128/256-GCM).
 */
export const DEFAULT_TLS_CIPHERS = [
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'TLS_AES_128_GCM_SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
].join(':');

export const SETTINGS = {
  dir: text({
    flag: 'dir',
    env: 'KMIPD_DIR',
    default: './kmipd-data',
    describe: 'The data folder: the SQLite database (`kmipd.db`), the key-encryption key (`kek.key`) and the development PKI (`certs/`). `serve` initialises it when it is absent or empty.',
  }),
  host: text({
    flag: 'host',
    env: 'KMIPD_HOST',
    default: '127.0.0.1',
    describe: 'The address to listen on. `0.0.0.0` or `::` listens on every interface.',
  }),
  port: integer({
    flag: 'port',
    env: 'KMIPD_PORT',
    default: 5696,
    min: 0,
    max: 65535,
    describe: 'The TCP port for KMIP over TLS (5696 is the IANA port). 0 picks a free port; the `listening` log line tells which.',
  }),
  https: onOff({
    flag: 'https',
    env: 'KMIPD_HTTPS',
    default: false,
    describe: 'Also serve KMIP over HTTPS (the KMIP HTTPS Profile): `POST /kmip` with a binary TTLV (`application/octet-stream`), KMIP XML (`text/xml`) or KMIP JSON (`application/json`) body, answered in the same encoding. Same TLS settings, client certificates, identities and limits as the TLS port; XML and JSON bodies may be up to 4 × `maxMessageSize`.',
  }),
  httpsHost: optionalText({
    flag: 'https-host',
    env: 'KMIPD_HTTPS_HOST',
    defaultText: 'the `host` setting',
    describe: 'The address the HTTPS listener binds, when `https` is on.',
  }),
  httpsPort: integer({
    flag: 'https-port',
    env: 'KMIPD_HTTPS_PORT',
    default: 5697,
    min: 0,
    max: 65535,
    describe: 'The TCP port of KMIP over HTTPS, when `https` is on. 0 picks a free port; the `listening` log line tells which (`httpsPort`).',
  }),
  admin: onOff({
    flag: 'admin',
    env: 'KMIPD_ADMIN',
    default: false,
    describe: 'Serve the admin endpoint over plain HTTP on `adminHost`:`adminPort`: `/metrics` (Prometheus text format), `/healthz` (the process runs) and `/readyz` (store reachable, KEK usable, listeners up; 503 otherwise). It has no authentication: keep it on loopback or a management network. With `workers` > 1 the primary process serves it, with every worker\'s metrics added up.',
  }),
  adminHost: text({
    flag: 'admin-host',
    env: 'KMIPD_ADMIN_HOST',
    default: '127.0.0.1',
    describe: 'The address of the admin endpoint, when `admin` is on.',
  }),
  adminPort: integer({
    flag: 'admin-port',
    env: 'KMIPD_ADMIN_PORT',
    default: 9696,
    min: 0,
    max: 65535,
    describe: 'The TCP port of the admin endpoint, when `admin` is on. 0 picks a free port; the `listening` log line tells which (`adminPort`).',
  }),
  workers: integer({
    flag: 'workers',
    env: 'KMIPD_WORKERS',
    default: 1,
    min: 0,
    max: 64,
    describe: 'Processes that serve KMIP, sharing the port (node:cluster); each has its own store connection. 0 runs one per CPU core. With more than one, a primary process starts them, restarts one that dies, and passes SIGTERM and SIGINT on; worker log lines carry their `pid`.',
  }),
  logLevel: oneOf<LogLevel>({
    flag: 'log-level',
    env: 'KMIPD_LOG_LEVEL',
    default: 'info',
    values: ['debug', 'info', 'warn', 'error'],
    describe: 'The least severe log level written to standard output (JSON lines). Key material and whole messages are never logged.',
  }),
  tlsMinVersion: oneOf<TlsMinVersion>({
    flag: 'tls-min-version',
    env: 'KMIPD_TLS_MIN_VERSION',
    default: 'TLSv1.2',
    values: ['TLSv1.2', 'TLSv1.3'],
    describe: 'The oldest TLS version accepted.',
  }),
  tlsMaxVersion: oneOf<TlsMaxVersion>({
    flag: 'tls-max-version',
    env: 'KMIPD_TLS_MAX_VERSION',
    default: 'TLSv1.3',
    values: ['TLSv1.2', 'TLSv1.3'],
    describe: 'The newest TLS version offered (not below `tlsMinVersion`).',
  }),
  tlsCiphers: text({
    flag: 'tls-ciphers',
    env: 'KMIPD_TLS_CIPHERS',
    default: DEFAULT_TLS_CIPHERS,
    describe: 'The cipher suites accepted, OpenSSL names separated by colons (TLS 1.3 suites and TLS 1.2 ciphers in one list). The default allows only forward-secret AEAD suites; the server refuses to start with a list OpenSSL rejects.',
  }),
  tlsEcdhCurves: text({
    flag: 'tls-ecdh-curves',
    env: 'KMIPD_TLS_ECDH_CURVES',
    default: 'X25519:P-256:P-384',
    describe: 'The key-exchange groups offered, by OpenSSL name, separated by colons.',
  }),
  tlsCrlFile: optionalPath({
    flag: 'tls-crl-file',
    env: 'KMIPD_TLS_CRL_FILE',
    defaultText: 'none',
    describe: 'A certificate revocation list (PEM) of the client CA: a client whose certificate it lists is refused at the handshake, before any KMIP. It must come from the CA that issued the client certificates and be current (an expired CRL refuses every client). Read again when the file changes.',
  }),
  tlsCrlCheckSeconds: integer({
    flag: 'tls-crl-check-seconds',
    env: 'KMIPD_TLS_CRL_CHECK_SECONDS',
    default: 30,
    min: 1,
    max: 86_400,
    unit: 'seconds',
    describe: 'How often the `tlsCrlFile` is checked for a new version; a changed file is loaded for the handshakes from then on (one that cannot be used is logged and the previous CRL stays).',
  }),
  tlsCertFile: optionalPath({
    flag: 'tls-cert-file',
    env: 'KMIPD_TLS_CERT_FILE',
    defaultText: '`<dir>/certs/server.pem`',
    describe: "The server's certificate chain (PEM).",
  }),
  tlsKeyFile: optionalPath({
    flag: 'tls-key-file',
    env: 'KMIPD_TLS_KEY_FILE',
    defaultText: '`<dir>/certs/server-key.pem`',
    describe: "The server certificate's private key (PEM).",
  }),
  tlsCaFile: optionalPath({
    flag: 'tls-ca-file',
    env: 'KMIPD_TLS_CA_FILE',
    defaultText: '`<dir>/certs/ca.pem`',
    describe: 'The CA certificates (PEM) that client certificates must chain to. Only these are trusted, not the system store.',
  }),
  identitySource: oneOf<IdentitySource>({
    flag: 'identity-source',
    env: 'KMIPD_IDENTITY_SOURCE',
    default: 'subject-cn',
    values: ['subject-cn', 'subject-dn', 'san-email'],
    describe: "Where a client's identity comes from in its certificate: the subject's Common Name, the whole subject DN (`C=..,O=..,CN=..`, in certificate order), or the one email address in the Subject Alternative Name. A certificate without it (or with several) is refused.",
  }),
  adminIdentities: nameList({
    flag: 'admin-identities',
    env: 'KMIPD_ADMIN_IDENTITIES',
    default: ['admin'],
    describe: 'Identities that administer the server: they see and may use every object. Comma-separated in a flag or the environment.',
  }),
  identityGroups: groupMap({
    flag: 'identity-groups',
    env: 'KMIPD_IDENTITY_GROUPS',
    describe: 'Groups of identities that grants can name (`kmip grant ID --to-group dba decrypt`): `{"dba": ["alice", "bob"]}` in the file, `dba=alice+bob;ops=carol` in a flag or the environment.',
  }),
  groupsFromCertificate: oneOf<CertificateGroups>({
    flag: 'groups-from-certificate',
    env: 'KMIPD_GROUPS_FROM_CERTIFICATE',
    default: 'none',
    values: ['none', 'subject-ou'],
    describe: "`subject-ou`: each Organizational Unit (OU) of the client certificate's subject is also a group of the identity, as vouched for by the CA. `none`: only `identityGroups`.",
  }),
  requireCredential: onOff({
    flag: 'require-credential',
    env: 'KMIPD_REQUIRE_CREDENTIAL',
    default: false,
    describe: 'Require a KMIP Username and Password Credential in every request, besides the client certificate: the user must be in `usersFile` and allowed to log in through the certificate\'s identity, and the request then acts as that user (its owner name, `adminIdentities`, `identityGroups`). Anything else answers Authentication Not Successful. Off: a Credential is not checked and the certificate\'s identity acts.',
  }),
  usersFile: optionalPath({
    flag: 'users-file',
    env: 'KMIPD_USERS_FILE',
    defaultText: '`<dir>/users.json`',
    describe: 'The users of `requireCredential` (`kmipd users add`, `passwd`, `identities`, `remove`, `list`): scrypt password hashes and the certificate identities each user may log in through. Mode 0600 (refused if others may read it); read again within a second of a change.',
  }),
  credentialLockoutFailures: integer({
    flag: 'credential-lockout-failures',
    env: 'KMIPD_CREDENTIAL_LOCKOUT_FAILURES',
    default: 5,
    min: 0,
    max: 1000,
    describe: 'With `requireCredential`: failed logins of one user name in a row (from any client) after which that name is locked out for `credentialLockoutSeconds`. Attempts while locked out are answered Authentication Not Successful, as a wrong password is, without checking the password; names that do not exist are counted alike. A successful login clears the count; a connection that already logged in with the same password goes on being served. 0: no lockout by user name.',
  }),
  credentialSourceLockoutFailures: integer({
    flag: 'credential-source-lockout-failures',
    env: 'KMIPD_CREDENTIAL_SOURCE_LOCKOUT_FAILURES',
    default: 20,
    min: 0,
    max: 100_000,
    describe: 'With `requireCredential`: failed logins through one client certificate identity, whatever user names they try, after which every login through that identity is locked out for `credentialLockoutSeconds`. A success does not clear this count (one known password must not clear the guesses at others); `credentialLockoutWindowSeconds` without a failure does. 0: no lockout by certificate.',
  }),
  credentialLockoutSeconds: integer({
    flag: 'credential-lockout-seconds',
    env: 'KMIPD_CREDENTIAL_LOCKOUT_SECONDS',
    default: 60,
    min: 1,
    max: 86_400,
    unit: 'seconds',
    describe: 'The first lockout of a user name or certificate identity; each further lockout in a row lasts twice as long as the one before, up to `credentialLockoutMaxSeconds`.',
  }),
  credentialLockoutMaxSeconds: integer({
    flag: 'credential-lockout-max-seconds',
    env: 'KMIPD_CREDENTIAL_LOCKOUT_MAX_SECONDS',
    default: 3600,
    min: 1,
    max: 604_800,
    unit: 'seconds',
    describe: 'The longest lockout. With the defaults a guesser gets 30 tries at one user name in the first hour (5 before each lockout of 1, 2, 4, ... 32 minutes), then 5 an hour; pacing the tries below the lockouts gives 4 an hour.',
  }),
  credentialLockoutWindowSeconds: integer({
    flag: 'credential-lockout-window-seconds',
    env: 'KMIPD_CREDENTIAL_LOCKOUT_WINDOW_SECONDS',
    default: 3600,
    min: 1,
    max: 604_800,
    unit: 'seconds',
    describe: 'A user name or certificate identity with no failed login (and no lockout ending) for this long is forgotten: its failures and the growth of its lockouts start again from nothing. Keep it at least `credentialLockoutMaxSeconds`, or waiting it out is cheaper for a guesser than the longest lockout.',
  }),
  credentialLockoutEntries: integer({
    flag: 'credential-lockout-entries',
    env: 'KMIPD_CREDENTIAL_LOCKOUT_ENTRIES',
    default: 10_000,
    min: 100,
    max: 10_000_000,
    describe: 'User names, and apart from them certificate identities, whose failures each process keeps (about 200 bytes each): past it the least recently failed is forgotten, so a flood of made-up user names cannot grow the process without limit.',
  }),
  maxConnections: integer({
    flag: 'max-connections',
    env: 'KMIPD_MAX_CONNECTIONS',
    default: 1000,
    min: 1,
    max: 1_000_000,
    describe: 'Connections open at once (including those still in the TLS handshake). Further connections are closed at once and logged.',
  }),
  maxMessageSize: integer({
    flag: 'max-message-size',
    env: 'KMIPD_MAX_MESSAGE_SIZE',
    default: MIB,
    min: 1024,
    max: 64 * MIB,
    unit: 'bytes',
    describe: 'The largest request accepted, TTLV header included. A longer declared length gets an Invalid Message answer and the connection is closed, before anything is buffered for it.',
  }),
  maxBufferedBytes: integer({
    flag: 'max-buffered-bytes',
    env: 'KMIPD_MAX_BUFFERED_BYTES',
    default: 256 * MIB,
    min: 1024,
    max: 2 ** 40,
    unit: 'bytes',
    describe:
      'The most request bytes the process holds at once, over every connection of the TLS port and the HTTPS binding: messages being received (counted whole from their header, or an HTTP body from its Content-Length) and requests read but not yet answered. When it is reached the server stops reading (backpressure) until answers free some, serving readers in the order they came; no connection is refused for it. Per process (each of `workers` has its own). At least `maxMessageSize`, and 4 × `maxMessageSize` with `https` on. Shown as `kmipd_request_buffer_bytes` in the metrics.',
  }),
  maxBatchItems: integer({
    flag: 'max-batch-items',
    env: 'KMIPD_MAX_BATCH_ITEMS',
    default: 64,
    min: 1,
    max: 4096,
    describe: 'Batch items accepted in one request.',
  }),
  maxDepth: integer({
    flag: 'max-depth',
    env: 'KMIPD_MAX_DEPTH',
    default: 32,
    min: 8,
    max: 256,
    describe: 'How deeply structures may nest in a request.',
  }),
  locateMaxItems: integer({
    flag: 'locate-max-items',
    env: 'KMIPD_LOCATE_MAX_ITEMS',
    default: 1000,
    min: 1,
    max: 1_000_000,
    describe: 'Objects a Locate returns when the request sets no Maximum Items.',
  }),
  locateMaxScan: integer({
    flag: 'locate-max-scan',
    env: 'KMIPD_LOCATE_MAX_SCAN',
    default: 100_000,
    min: 1000,
    max: 100_000_000,
    describe:
      "Candidate objects a Locate examines at most: those its indexed attributes (Name, Object Group, Cryptographic Algorithm, links, custom attributes...) and Object Type select, which are then matched on the rest (dates, State, masks, Booleans). A Locate whose page is not full by then fails with Server Limit Exceeded (General Failure before KMIP 2.0) instead of reading on: each candidate costs about 10-25 us of CPU, so the default bounds one Locate to a few seconds of one core.",
  }),
  locateMaxCount: integer({
    flag: 'locate-max-count',
    env: 'KMIPD_LOCATE_MAX_COUNT',
    default: 10_000,
    min: 0,
    max: 100_000_000,
    describe:
      'Candidate objects a paged Locate (one with Maximum Items or Offset Items) examines at most to count Located Items, which means matching every candidate; with more, the answer leaves Located Items out, as KMIP allows, and only the page is matched. Taken as locateMaxScan when larger.',
  }),
  store: oneOf<StoreKind>({
    flag: 'store',
    env: 'KMIPD_STORE',
    default: 'sqlite',
    values: ['sqlite', 'postgres'],
    describe: 'Where objects are kept: `sqlite`, the embedded database in the data folder; or `postgres`, a PostgreSQL database that several kmipd nodes share (give `postgresUrl`; every node needs the same key-encryption key file).',
  }),
  postgresUrl: optionalText({
    flag: 'postgres-url',
    env: 'KMIPD_POSTGRES_URL',
    defaultText: 'none',
    describe: 'The PostgreSQL connection string (`postgres://user@host:5432/db`), for `store` `postgres`. Prefer the environment variable or a PGPASSFILE to keep a password off the command line.',
  }),
  postgresSchema: text({
    flag: 'postgres-schema',
    env: 'KMIPD_POSTGRES_SCHEMA',
    default: 'kmipd',
    pattern: /^[a-z_][a-z0-9_]{0,62}$/,
    patternText: 'a plain lower-case PostgreSQL name',
    describe: 'The PostgreSQL schema that holds kmipd\'s tables; created and migrated at start.',
  }),
  kek: oneOf<KekKind>({
    flag: 'kek',
    env: 'KMIPD_KEK',
    default: 'file',
    values: ['file', 'pkcs11'],
    describe: 'The key-encryption key that wraps all key material: `file`, the 256-bit key in `<dir>/kek.key`; or `pkcs11`, an AES-256 key that never leaves an HSM (give the pkcs11 settings; the key is generated in the token when the data folder is new).',
  }),
  pkcs11Module: optionalPath({
    flag: 'pkcs11-module',
    env: 'KMIPD_PKCS11_MODULE',
    defaultText: 'none',
    describe: 'The PKCS#11 library of the HSM, e.g. `/usr/lib/softhsm/libsofthsm2.so`, for `kek` `pkcs11`.',
  }),
  pkcs11TokenLabel: optionalText({
    flag: 'pkcs11-token-label',
    env: 'KMIPD_PKCS11_TOKEN_LABEL',
    defaultText: 'none',
    describe: 'The label of the HSM token that holds the key-encryption key (slot numbers are not stable).',
  }),
  pkcs11KeyLabel: text({
    flag: 'pkcs11-key-label',
    env: 'KMIPD_PKCS11_KEY_LABEL',
    default: 'kmipd-kek',
    describe: 'The label of the key-encryption key object in the token.',
  }),
  pkcs11PinFile: optionalPath({
    flag: 'pkcs11-pin-file',
    env: 'KMIPD_PKCS11_PIN_FILE',
    defaultText: 'none',
    describe: 'A file holding the token user PIN (mode 0600, like the KEK file: the server refuses a file others can read). The PIN is never taken from the command line.',
  }),
  hsmResidentKeys: oneOf<HsmResidentKeys>({
    flag: 'hsm-resident-keys',
    env: 'KMIPD_HSM_RESIDENT_KEYS',
    default: 'off',
    values: ['off', 'sensitive'],
    describe: 'Keys that live inside the HSM (needs the pkcs11 settings): `sensitive` makes every AES key created with Sensitive true or Extractable false a non-extractable key in the token; Encrypt, Decrypt, MAC and MAC Verify with it run in the HSM, Get and Export of it are refused, Destroy destroys the token object. `off`: every key is stored wrapped.',
  }),
  kekCacheKeys: integer({
    flag: 'kek-cache-keys',
    env: 'KMIPD_KEK_CACHE_KEYS',
    default: 10_000,
    min: 0,
    max: 10_000_000,
    describe: 'How many unwrapped keys are kept in memory so that a hot key is not unwrapped at every use: through the HSM with an HSM KEK, by an RFC 5649 unwrap (about a sixth of a Get\'s CPU) with the file KEK (0 disables the cache). Entries are keyed by the wrapped bytes, so a changed or destroyed key is never served from it.',
  }),
  kekCacheFile: onOff({
    flag: 'kek-cache-file',
    env: 'KMIPD_KEK_CACHE_FILE',
    default: false,
    describe: 'Also keep keys unwrapped by the file KEK in the cache (kekCacheKeys, kekCacheBytes, kekCacheSeconds): a Get then skips the RFC 5649 unwrap, about a sixth of its CPU, but the clear material of the keys used in the last kekCacheSeconds stays in memory, a destroyed key\'s included. Off by default: unwrapped keys live only as long as a request needs them (DESIGN.md decision 3). An HSM KEK always uses the cache (each unwrap is a round trip to the token).',
  }),
  kekCacheBytes: integer({
    flag: 'kek-cache-bytes',
    env: 'KMIPD_KEK_CACHE_BYTES',
    default: 64 * 1024 * 1024,
    min: 0,
    max: 2 ** 40,
    unit: 'bytes',
    describe: 'The most unwrapped key material the cache holds (0 disables the cache); the least recently used keys are evicted and zeroed first.',
  }),
  kekCacheSeconds: integer({
    flag: 'kek-cache-seconds',
    env: 'KMIPD_KEK_CACHE_SECONDS',
    default: 300,
    min: 0,
    max: 86_400,
    unit: 'seconds',
    describe: 'How long an unwrapped key unused stays in the cache before it is zeroed, by a timer if nothing else comes (0: until evicted). This bounds how long the material of a destroyed key stays in memory.',
  }),
  leaseTimeSeconds: integer({
    flag: 'lease-time-seconds',
    env: 'KMIPD_LEASE_TIME_SECONDS',
    default: 3600,
    min: 0,
    max: 4_294_967_295,
    unit: 'seconds',
    describe: 'The Lease Time of every new object: how long a client may use it before it asks again with Obtain Lease (0: leases do not expire).',
  }),
  interopTesting: onOff({
    flag: 'interop-testing',
    env: 'KMIPD_INTEROP_TESTING',
    default: false,
    describe: 'Offer the KMIP Interop operation that conformance test harnesses send at the start and end of each test; KMIP forbids it in a production server.',
  }),
  audit: onOff({
    flag: 'audit',
    env: 'KMIPD_AUDIT',
    default: true,
    describe: 'Record every request in the hash-chained audit trail of the store (who, from where, which operation on which objects, with what result), before the answer is sent (see auditReadDurability). Check it with `kmipd audit verify`; export it with `kmipd audit export`.',
  }),
  auditReadDurability: oneOf<AuditDurability>({
    flag: 'audit-read-durability',
    env: 'KMIPD_AUDIT_READ_DURABILITY',
    default: 'process',
    values: ['process', 'fsync'],
    describe:
      'How durable the audit record of a request item that changes nothing (Get, Locate, a failure, a refusal) is before its answer is sent. A change (Create, Register, Destroy, a grant...) always commits its record in its own synced transaction, in either mode. `process`: the record is appended to the chain in the database before the answer (visible to `kmipd audit verify`, kept if kmipd crashes or is killed) without waiting for a disk sync of its own (SQLite: written to the WAL with synchronous=NORMAL; PostgreSQL: synchronous_commit off for that transaction). Only an OS crash or power loss (with PostgreSQL, also a crash of the database server) can lose the last such records; the next synced change commit syncs every earlier one, so what survives is a prefix of the chain and it verifies. `fsync`: every answer waits until its record is synced to disk (group commit: one sync for the records of all concurrent requests), at a cost of read throughput.',
  }),
  maxPendingRequestsPerConnection: integer({
    flag: 'max-pending-requests-per-connection',
    env: 'KMIPD_MAX_PENDING_REQUESTS_PER_CONNECTION',
    default: 16,
    min: 1,
    max: 1024,
    describe: 'Pipelined requests held per connection (the one being handled included). When a connection has this many, the server stops reading from it until one is answered (backpressure).',
  }),
  idleTimeoutSeconds: integer({
    flag: 'idle-timeout-seconds',
    env: 'KMIPD_IDLE_TIMEOUT_SECONDS',
    default: 300,
    min: 1,
    max: 86_400,
    unit: 'seconds',
    describe: 'A connection with no request in progress and no traffic for this long is closed.',
  }),
  handshakeTimeoutSeconds: integer({
    flag: 'handshake-timeout-seconds',
    env: 'KMIPD_HANDSHAKE_TIMEOUT_SECONDS',
    default: 10,
    min: 1,
    max: 300,
    unit: 'seconds',
    describe: 'A connection that has not completed its TLS handshake after this long is closed.',
  }),
  requestTimeoutSeconds: integer({
    flag: 'request-timeout-seconds',
    env: 'KMIPD_REQUEST_TIMEOUT_SECONDS',
    default: 30,
    min: 1,
    max: 3600,
    unit: 'seconds',
    describe: 'A request must arrive in full within this long of its first byte: a client that sends slower than that (a byte now and then, which resets the idle timer) gets an Invalid Message answer and the connection is closed.',
  }),
  shutdownTimeoutSeconds: integer({
    flag: 'shutdown-timeout-seconds',
    env: 'KMIPD_SHUTDOWN_TIMEOUT_SECONDS',
    default: 30,
    min: 1,
    max: 3600,
    unit: 'seconds',
    describe: 'On SIGTERM or SIGINT the server stops accepting, finishes the requests it has received and sends their answers; connections still open after this long are dropped.',
  }),
  schedulerIntervalSeconds: integer({
    flag: 'scheduler-interval-seconds',
    env: 'KMIPD_SCHEDULER_INTERVAL_SECONDS',
    default: 60,
    min: 0,
    max: 86_400,
    unit: 'seconds',
    describe: 'How often the server applies what is due by date without a client asking: Activation and Deactivation Dates reached, and automatic rotation (Rotate Automatic, Rotate Interval). A change is stored at most this long after its date (clients see it at once anyway). One process runs it: the primary with --workers, one node at a time on PostgreSQL. 0 turns it off.',
  }),
  rotationRetireOld: oneOf<RetireOldPolicy>({
    flag: 'rotation-retire-old',
    env: 'KMIPD_ROTATION_RETIRE_OLD',
    default: 'deactivate',
    values: ['deactivate', 'keep'],
    describe: 'What automatic rotation does with the key it replaces: `deactivate` gives it a Deactivation Date at the replacement\'s Activation Date (now, or Rotate Offset later), so it only decrypts and verifies from then on; `keep` leaves it Active until its own dates.',
  }),
} as const;

export type SettingKey = keyof typeof SETTINGS;

type ValueOfSetting<S> = S extends SettingDef<infer T> ? T : never;

/** The validated configuration. */
export type KmipdConfig = { readonly [K in SettingKey]: ValueOfSetting<(typeof SETTINGS)[K]> };

export const SETTING_KEYS = Object.keys(SETTINGS) as SettingKey[];

/** The environment variable naming the JSON configuration file (the `--config` flag wins). */
export const CONFIG_FILE_ENV = 'KMIPD_CONFIG';

// ---------------------------------------------------------------------------------------
// Resolution

export interface ConfigSources {
  /** The parsed JSON configuration file and its path (for messages). */
  readonly file?: { readonly path: string; readonly values: unknown };
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Flag texts by setting key; undefined when the flag was not given. */
  readonly flags?: Readonly<Partial<Record<SettingKey, string | undefined>>>;
  /** Typed values from code (tests, embedding); they take the place of flags. */
  readonly values?: Partial<KmipdConfig>;
}

export interface ResolvedConfig {
  readonly config: KmipdConfig;
  /** Things worth a log line that do not stop the server (an unknown KMIPD_ variable). */
  readonly warnings: readonly string[];
}

/** Merge the sources over the defaults; throws ConfigError listing every problem. */
export function resolveConfig(sources: ConfigSources): ResolvedConfig {
  const problems: string[] = [];
  const warnings: string[] = [];
  const config: Record<string, unknown> = {};
  const fileValues = fileObject(sources.file, problems);
  const env = sources.env ?? {};

  for (const key of SETTING_KEYS) {
    const def: SettingDef<unknown> = SETTINGS[key];
    const attempt = (where: string, parse: () => unknown): void => {
      try {
        config[key] = parse();
      } catch (error) {
        if (!(error instanceof SettingError)) throw error;
        problems.push(`${where}: ${error.message}`);
      }
    };
    config[key] = def.default;
    if (fileValues !== undefined && Object.prototype.hasOwnProperty.call(fileValues, key)) {
      attempt(`${sources.file?.path ?? 'config file'}: "${key}"`, () => def.fromValue(fileValues[key]));
    }
    const fromEnv = env[def.env];
    if (fromEnv !== undefined) attempt(def.env, () => def.fromText(fromEnv));
    const fromFlag = sources.flags?.[key];
    if (fromFlag !== undefined) attempt(`--${def.flag}`, () => def.fromText(fromFlag));
    if (sources.values !== undefined && Object.prototype.hasOwnProperty.call(sources.values, key)) {
      attempt(key, () => def.fromValue(sources.values?.[key]));
    }
  }

  const knownEnv = new Set<string>([CONFIG_FILE_ENV, ...SETTING_KEYS.map((key) => SETTINGS[key].env)]);
  for (const name of Object.keys(env)) {
    if (name.startsWith('KMIPD_') && !knownEnv.has(name)) warnings.push(`environment variable ${name} is not a kmipd setting (ignored)`);
  }

  if (config['store'] === 'postgres' && config['postgresUrl'] === undefined) {
    problems.push('store "postgres" needs postgresUrl (--postgres-url or KMIPD_POSTGRES_URL)');
  }
  if (config['kek'] === 'pkcs11') {
    for (const key of ['pkcs11Module', 'pkcs11TokenLabel', 'pkcs11PinFile'] as const) {
      if (config[key] === undefined) problems.push(`kek "pkcs11" needs ${key} (--${SETTINGS[key].flag} or ${SETTINGS[key].env})`);
    }
  }
  if (config['hsmResidentKeys'] !== 'off') {
    for (const key of ['pkcs11Module', 'pkcs11TokenLabel', 'pkcs11PinFile'] as const) {
      if (config[key] === undefined) problems.push(`hsmResidentKeys "${String(config['hsmResidentKeys'])}" needs ${key} (--${SETTINGS[key].flag} or ${SETTINGS[key].env})`);
    }
  }
  if (typeof config['credentialLockoutMaxSeconds'] === 'number' && typeof config['credentialLockoutSeconds'] === 'number' && config['credentialLockoutMaxSeconds'] < config['credentialLockoutSeconds']) {
    problems.push(`credentialLockoutMaxSeconds ${config['credentialLockoutMaxSeconds']} is below credentialLockoutSeconds ${config['credentialLockoutSeconds']}`);
  }
  problems.push(...bufferProblems(config));
  if (config['tlsMinVersion'] === 'TLSv1.3' && config['tlsMaxVersion'] === 'TLSv1.2') {
    problems.push('tlsMaxVersion "TLSv1.2" is below tlsMinVersion "TLSv1.3"');
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return { config: Object.freeze(config) as KmipdConfig, warnings };
}

/** The budget of request bytes must hold the largest single request, or that request would wait for ever. */
function bufferProblems(config: Record<string, unknown>): string[] {
  const budget = config['maxBufferedBytes'];
  const message = config['maxMessageSize'];
  if (typeof budget !== 'number' || typeof message !== 'number') return [];
  if (budget < message) return [`maxBufferedBytes (${budget}) is below maxMessageSize (${message}): a request of the largest size could never be read`];
  const body = TEXT_BODY_FACTOR * message;
  if (config['https'] === true && budget < body) {
    return [`maxBufferedBytes (${budget}) is below ${TEXT_BODY_FACTOR} × maxMessageSize (${body}), the largest XML or JSON body of the HTTPS binding (https is on)`];
  }
  return [];
}

function fileObject(file: ConfigSources['file'], problems: string[]): Record<string, unknown> | undefined {
  if (file === undefined) return undefined;
  const { values } = file;
  if (typeof values !== 'object' || values === null || Array.isArray(values)) {
    problems.push(`${file.path}: the configuration file must hold a JSON object of settings`);
    return undefined;
  }
  const known = new Set<string>(SETTING_KEYS);
  for (const key of Object.keys(values)) {
    if (!known.has(key)) problems.push(`${file.path}: unknown setting "${key}"${suggest(key)}`);
  }
  return values as Record<string, unknown>;
}

/** ' (did you mean "maxConnections"?)' for a misspelt key, when one setting is close. */
function suggest(key: string): string {
  const lower = key.toLowerCase().replace(/[-_]/g, '');
  const match = SETTING_KEYS.find((k) => k.toLowerCase() === lower) ?? SETTING_KEYS.find((k) => editDistance(k.toLowerCase(), lower) <= 2);
  return match === undefined ? '' : ` (did you mean "${match}"?)`;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

/** The configuration from code: defaults overridden by `values`, validated (throws ConfigError). */
export function configWith(values: Partial<KmipdConfig> = {}): KmipdConfig {
  return resolveConfig({ values }).config;
}

export interface LoadConfigOptions {
  /** The JSON configuration file (--config); KMIPD_CONFIG when undefined. */
  readonly configFile?: string | undefined;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly flags?: Readonly<Partial<Record<SettingKey, string | undefined>>>;
}

/** Read the configuration file, if any, and resolve it with the environment and the flags. */
export async function loadConfig(options: LoadConfigOptions): Promise<ResolvedConfig> {
  const path = options.configFile ?? options.env[CONFIG_FILE_ENV];
  let file: ConfigSources['file'];
  if (path !== undefined) {
    let textValue: string;
    try {
      textValue = await readFile(path, 'utf8');
    } catch (error) {
      throw new ConfigError([`cannot read the configuration file ${path}: ${(error as Error).message}`]);
    }
    try {
      file = { path, values: JSON.parse(textValue) as unknown };
    } catch (error) {
      throw new ConfigError([`${path} is not valid JSON: ${(error as Error).message}`]);
    }
  }
  return resolveConfig({ ...(file === undefined ? {} : { file }), env: options.env, ...(options.flags === undefined ? {} : { flags: options.flags }) });
}

// ---------------------------------------------------------------------------------------
// The reference documentation

/** docs/configuration.md, generated from SETTINGS. */
export function configReference(): string {
  const rows = SETTING_KEYS.map((key) => {
    const def: SettingDef<unknown> = SETTINGS[key];
    return `| \`${key}\` | \`--${def.flag}\` | \`${def.env}\` | ${def.type} | ${def.defaultText.startsWith('`') ? def.defaultText : `\`${def.defaultText}\``} | ${def.describe} |`;
  });
  return [
    '# Configuration reference',
    '',
    '<!-- Generated from the schema in server/config.ts by `tsx server/config-doc.ts`: do not edit by hand. -->',
    '',
    '`kmipd serve` reads its settings from four places; the first that sets a value wins:',
    '',
    '1. command-line flags (`kmipd serve --port 5697`);',
    '2. environment variables (`KMIPD_PORT=5697`);',
    `3. a JSON configuration file given with \`--config FILE\` (or \`${CONFIG_FILE_ENV}=FILE\`), an object whose keys are the setting names below (\`{"port": 5697, "adminIdentities": ["alice"]}\`);`,
    '4. the defaults.',
    '',
    'Every value is checked at start: the server refuses to start (exit code 2) and lists every',
    'problem, each with the flag, variable or file key it came from. Relative paths are resolved',
    'against the working directory. Lists are JSON arrays in the file and comma-separated in',
    'flags and variables.',
    '',
    '| Setting | Flag | Environment | Type | Default | Meaning |',
    '|---|---|---|---|---|---|',
    ...rows,
    '',
  ].join('\n');
}
