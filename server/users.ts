/**
 * The users of the optional KMIP Credential (issue 6, setting `requireCredential`): a JSON
 * file, mode 0600 like the KEK file, naming each user, the scrypt hash of its password
 * (lib/auth/password.ts) and the certificate identities it may log in through:
 *
 *   { "users": { "backup-svc": { "identities": ["db-host-1"], "password": "$scrypt$...", "changed": "2025-..." } } }
 *
 * `kmipd users` edits it (server/users-command.ts); a running server reads it again within a
 * second of a change, so adding, removing or changing a password needs no restart.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Authenticator, AuthenticationOutcome, CredentialSession } from '../lib/auth/credential.js';
import type { Identity } from '../lib/auth/identity.js';
import { PasswordHashError, hashPassword, parsePasswordHash, verifyPassword } from '../lib/auth/password.js';
import type { PasswordHash } from '../lib/auth/password.js';
import { LoginLockout } from '../lib/auth/lockout.js';
import type { Lockout, LockoutPolicy, LockoutScope } from '../lib/auth/lockout.js';
import type { Logger } from '../lib/log.js';
import type { KmipdConfig } from './config.js';
import { StartError } from './errors.js';
import { groupResolver, withGroups } from './identity.js';

export interface UserEntry {
  /** The certificate identities (as `identitySource` names them) the user may log in through. */
  readonly identities: readonly string[];
  /** The PHC string of the password's scrypt hash. */
  readonly password: string;
  /** When the password was last set (ISO 8601). */
  readonly changed: string;
}

export interface UsersDocument {
  readonly users: Readonly<Record<string, UserEntry>>;
}

/** The users file is missing, unreadable, not private or not valid; the message says which and how to fix it. */
export class UsersFileError extends Error {
  override readonly name = 'UsersFileError';
}

export function usersFilePath(config: Pick<KmipdConfig, 'usersFile' | 'dir'>): string {
  return config.usersFile ?? join(config.dir, 'users.json');
}

const MAX_NAME_LENGTH = 256;

/** A user or identity name: no spaces around it, no control characters. */
export function checkName(name: string, what: string): string {
  if (name === '' || name !== name.trim()) throw new UsersFileError(`${what} ${JSON.stringify(name)} is empty or has spaces around it`);
  if (name.length > MAX_NAME_LENGTH) throw new UsersFileError(`${what} ${JSON.stringify(name.slice(0, 40))}... is longer than ${MAX_NAME_LENGTH} characters`);
  if ([...name].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f)) throw new UsersFileError(`${what} ${JSON.stringify(name)} holds a control character`);
  return name;
}

/** Read and check the users file; undefined when it does not exist. */
export async function readUsersFile(path: string): Promise<UsersDocument | undefined> {
  let info;
  try {
    info = await stat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new UsersFileError(`cannot read the users file ${path}: ${(error as Error).message}`);
  }
  if (!info.isFile()) throw new UsersFileError(`the users file ${path} is not a regular file`);
  if ((info.mode & 0o077) !== 0) {
    throw new UsersFileError(`the users file ${path} has mode ${(info.mode & 0o777).toString(8).padStart(4, '0')}: others may read its password hashes; run chmod 600 ${path}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(path, 'utf8'));
  } catch (error) {
    throw new UsersFileError(`the users file ${path} is not valid JSON: ${(error as Error).message}`);
  }
  try {
    return checkDocument(parsed);
  } catch (error) {
    if (error instanceof UsersFileError) throw new UsersFileError(`the users file ${path}: ${error.message}`);
    throw error;
  }
}

function checkDocument(value: unknown): UsersDocument {
  const users = typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as { users?: unknown }).users : undefined;
  if (typeof users !== 'object' || users === null || Array.isArray(users)) throw new UsersFileError('expected an object {"users": {NAME: {...}}}');
  const out: Record<string, UserEntry> = {};
  for (const [name, entry] of Object.entries(users)) {
    checkName(name, 'user name');
    const { identities, password, changed } = (typeof entry === 'object' && entry !== null ? entry : {}) as Partial<Record<keyof UserEntry, unknown>>;
    if (!Array.isArray(identities) || identities.length === 0 || !identities.every((i): i is string => typeof i === 'string')) {
      throw new UsersFileError(`user ${JSON.stringify(name)}: "identities" must be a non-empty array of certificate identities`);
    }
    identities.forEach((identity) => checkName(identity, `user ${JSON.stringify(name)}: identity`));
    if (typeof password !== 'string') throw new UsersFileError(`user ${JSON.stringify(name)}: "password" must be an scrypt hash string`);
    try {
      parsePasswordHash(password);
    } catch (error) {
      if (error instanceof PasswordHashError) throw new UsersFileError(`user ${JSON.stringify(name)}: ${error.message}`);
      throw error;
    }
    out[name] = { identities: [...new Set(identities)], password, changed: typeof changed === 'string' ? changed : '' };
  }
  return { users: out };
}

/**
 * Replace the users file atomically (a new file of mode 0600, flushed, renamed over the old
 * one): a server reading it sees the old version or the new, never half of one.
 */
export async function writeUsersFile(path: string, document: UsersDocument): Promise<void> {
  const temporary = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const handle = await open(temporary, 'wx', 0o600);
  try {
    // Whatever the umask.
    await handle.chmod(0o600);
    await handle.writeFile(`${JSON.stringify(document, null, 2)}\n`);
    await handle.sync();
  } catch (error) {
    await handle.close();
    await unlink(temporary).catch(() => undefined);
    throw error;
  }
  await handle.close();
  await rename(temporary, path);
  const folder = await open(dirname(path), 'r');
  try {
    await folder.sync();
  } finally {
    await folder.close();
  }
}

/** Run `change` while holding `<file>.lock`, so two `kmipd users` commands never lose each other's edit. */
export async function withUsersLock<T>(path: string, change: () => Promise<T>): Promise<T> {
  const lock = `${path}.lock`;
  let handle;
  try {
    handle = await open(lock, 'wx', 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new UsersFileError(`${lock} exists: another kmipd users command is running (if none is, one was interrupted: remove ${lock})`);
    }
    const missing = (error as NodeJS.ErrnoException).code === 'ENOENT' ? ` (the folder does not exist: give --dir of an initialised data folder, or --users-file)` : '';
    throw new UsersFileError(`cannot create ${lock}: ${(error as Error).message}${missing}`);
  }
  try {
    return await change();
  } finally {
    await handle.close();
    await unlink(lock).catch(() => undefined);
  }
}

// ---------------------------------------------------------------------------------------
// The server's view of the file

interface User {
  readonly hash: PasswordHash;
  readonly identities: ReadonlySet<string>;
}

/** One version of the file as loaded; `generation` changes with every reload. */
export interface UsersSnapshot {
  readonly generation: number;
  readonly users: ReadonlyMap<string, User>;
}

/** How long a read of the file is trusted before its status is looked at again. */
const CHECK_MS = 1000;

function snapshotOf(document: UsersDocument, generation: number): UsersSnapshot {
  const users = new Map<string, User>();
  for (const [name, entry] of Object.entries(document.users)) users.set(name, { hash: parsePasswordHash(entry.password), identities: new Set(entry.identities) });
  return { generation, users };
}

/**
 * The users file as the server sees it: loaded at start, and looked at again (one `stat`)
 * when a request needs it and the last look is more than a second old; a changed file is
 * read again. A changed file that cannot be used (deleted, made readable by others, not
 * valid) is logged and the version before it stays in force, as with the CRL.
 */
export class UserDirectory {
  #snapshot: UsersSnapshot;
  #signature: string;
  #checkedAt: number;
  #checking: Promise<void> | undefined;

  private constructor(
    readonly path: string,
    private readonly log: Logger,
    snapshot: UsersSnapshot,
    signature: string,
    private readonly checkMs: number,
  ) {
    this.#snapshot = snapshot;
    this.#signature = signature;
    this.#checkedAt = Date.now();
  }

  /** Load the file; a missing or unusable one is a StartError. */
  static async open(path: string, log: Logger, checkMs = CHECK_MS): Promise<UserDirectory> {
    const signature = await signatureOf(path);
    let document;
    try {
      document = await readUsersFile(path);
    } catch (error) {
      if (error instanceof UsersFileError) throw new StartError(`${error.message} (setting usersFile)`);
      throw error;
    }
    if (document === undefined) {
      throw new StartError(`requireCredential is on but the users file ${path} does not exist: add a user with \`kmipd users add NAME --identity CERTIFICATE_IDENTITY\` (setting usersFile)`);
    }
    const directory = new UserDirectory(path, log, snapshotOf(document, 1), signature, checkMs);
    const count = Object.keys(document.users).length;
    if (count === 0) log.warn('requireCredential is on and the users file has no user: every request will be refused', { file: path });
    else log.info('users loaded', { file: path, users: count });
    return directory;
  }

  /** The users now, after a look at the file if the last one is old. */
  async current(): Promise<UsersSnapshot> {
    if (Date.now() - this.#checkedAt >= this.checkMs) {
      this.#checking ??= this.#check().finally(() => {
        this.#checking = undefined;
      });
      await this.#checking;
    }
    return this.#snapshot;
  }

  async #check(): Promise<void> {
    const signature = await signatureOf(this.path);
    this.#checkedAt = Date.now();
    if (signature === this.#signature) return;
    this.#signature = signature;
    try {
      const document = await readUsersFile(this.path);
      if (document === undefined) throw new UsersFileError(`the users file ${this.path} was removed`);
      this.#snapshot = snapshotOf(document, this.#snapshot.generation + 1);
      this.log.info('users reloaded', { file: this.path, users: this.#snapshot.users.size });
    } catch (error) {
      this.log.error('users file not reloaded: the previous users stay in force', { file: this.path, error: (error as Error).message });
    }
  }
}

/** What tells one version of the file from the next: a rename gives a new inode, an edit a new time or size. */
async function signatureOf(path: string): Promise<string> {
  try {
    const info = await stat(path, { bigint: true });
    return `${info.ino}:${info.size}:${info.mtimeNs}:${info.ctimeNs}`;
  } catch {
    return 'absent';
  }
}

// ---------------------------------------------------------------------------------------
// The authenticator

/** What the authenticator tells its observer (metrics): every verification, lockout and lockout refusal. */
export type CredentialEvent =
  /** One scrypt verification ran. */
  | { readonly kind: 'verified'; readonly accepted: boolean }
  /** Failed logins locked a user name or a certificate identity out. */
  | { readonly kind: 'lockout'; readonly scope: LockoutScope }
  /** A login refused for a lockout, without a verification. */
  | { readonly kind: 'locked refusal'; readonly scope: LockoutScope };

export interface CredentialCheckOptions {
  readonly directory: UserDirectory;
  /** The identity a user acts as: its name, whether an administrator, its groups. */
  readonly identityOf: (user: string) => Identity;
  /** Says (debug) each scrypt verification run, with its user and verdict; warns of each lockout. */
  readonly log?: Logger;
  /** Failed logins that lock a user name or a certificate identity out; absent: none do. */
  readonly lockout?: LoginLockout;
  readonly observe?: (event: CredentialEvent) => void;
}

type Verdict = 'accepted' | 'unknown user' | 'wrong password' | { readonly lockedOut: Lockout };

interface CachedVerdict {
  readonly generation: number;
  readonly verdict: Promise<Verdict>;
}

/** Credentials remembered per connection: a client uses one, a few at most. */
const CACHE_PER_CONNECTION = 8;
/** scrypt verifications running at once (each holds 32 MiB and a thread-pool thread). */
const PARALLEL_VERIFICATIONS = 2;

/**
 * Checks a request's Username and Password against the users file. A verified credential is
 * remembered for its connection (keyed by an HMAC of username and password, never the
 * password itself) until the file changes, so a pipelining client pays scrypt once; requests
 * that arrive while it runs wait for the same verification.
 *
 * Each verification that ends in a refusal counts as a failed login of the user name and of
 * the certificate identity (`options.lockout`); a locked-out login is refused before any
 * scrypt runs, with the message a wrong password gets. A credential already verified on the
 * connection is no new guess: its remembered verdict stands during a lockout.
 */
export function credentialAuthenticator(options: CredentialCheckOptions): Authenticator {
  const { lockout, observe } = options;
  const caches = new WeakMap<CredentialSession, Map<string, CachedVerdict>>();
  const gate = new Gate(PARALLEL_VERIFICATIONS);
  // Cache keys are keyed hashes, so the memory of the process holds nothing to test guesses against.
  const cacheKey = randomBytes(32);
  // An unknown user costs the same scrypt as a known one: timing does not tell which names exist.
  let decoy: Promise<string> | undefined;

  const verify = (username: string, user: User | undefined, password: string, identity: string): Promise<Verdict> =>
    gate.run(async () => {
      // A lockout may have started while this verification waited for its turn.
      const lockedOut = lockout?.refusal(username, identity);
      if (lockedOut !== undefined) return { lockedOut };
      let verdict: Verdict;
      if (user === undefined) {
        decoy ??= hashPassword(randomBytes(16).toString('hex'));
        await verifyPassword(password, await decoy);
        verdict = 'unknown user';
      } else {
        verdict = (await verifyPassword(password, user.hash)) ? 'accepted' : 'wrong password';
      }
      options.log?.debug('credential verified', { username, verdict });
      observe?.({ kind: 'verified', accepted: verdict === 'accepted' });
      // Counted before the slot passes on: a verification waiting for it must see the lockout this one starts.
      record(verdict === 'accepted' && user !== undefined && user.identities.has(identity), username, identity);
      return verdict;
    });

  const refusedLockedOut = (lockedOut: Lockout, notAccepted: string, username: string, identity: string): AuthenticationOutcome => {
    observe?.({ kind: 'locked refusal', scope: lockedOut.scope });
    const who = lockedOut.scope === 'user' ? `user ${shortName(username)}` : `certificate identity ${identity}`;
    const setting = lockedOut.scope === 'user' ? 'credentialLockoutFailures' : 'credentialSourceLockoutFailures';
    return refused(`${who} is locked out for ${Math.ceil(lockedOut.ms / 1000)} s more after repeated failed logins (${setting}); the password was not checked`, notAccepted, username);
  };

  /**
   * Count a verified login: a success clears the user's failures; any refusal adds one, a right
   * password through a certificate the user may not use included (otherwise whether a lockout
   * follows would tell a right password from a wrong one).
   */
  function record(accepted: boolean, username: string, identity: string): void {
    if (lockout === undefined) return;
    if (accepted) return lockout.succeeded(username);
    for (const started of lockout.failed(username, identity)) {
      options.log?.warn('credential lockout', { scope: started.scope, username: shortName(username), identity, seconds: Math.ceil(started.ms / 1000), lockouts: started.count });
      observe?.({ kind: 'lockout', scope: started.scope });
    }
  }

  return async (credential, session): Promise<AuthenticationOutcome> => {
    if (credential.kind === 'none') return refused('the request has no Credential', NO_CREDENTIAL);
    if (credential.kind === 'unusable') return refused(credential.reason, NO_CREDENTIAL);
    const { username } = credential;
    const identity = session.identity.name;
    const notAccepted = `the Username and Password Credential of ${shortName(username)} was not accepted`;
    if (credential.password === undefined) return refused('the Credential has no Password', notAccepted, username);
    const snapshot = await options.directory.current();
    const user = snapshot.users.get(username);

    let cache = caches.get(session);
    if (cache === undefined) caches.set(session, (cache = new Map()));
    const key = createHmac('sha256', cacheKey).update(username).update('\0').update(credential.password).digest('base64');
    let cached = cache.get(key);
    if (cached === undefined || cached.generation !== snapshot.generation) {
      const lockedOut = lockout?.refusal(username, identity);
      if (lockedOut !== undefined) return refusedLockedOut(lockedOut, notAccepted, username, identity);
      cached = { generation: snapshot.generation, verdict: verify(username, user, credential.password, identity) };
      cache.delete(key);
      cache.set(key, cached);
      const oldest = cache.keys().next().value;
      if (cache.size > CACHE_PER_CONNECTION && oldest !== undefined) cache.delete(oldest);
    }
    let verdict: Verdict;
    try {
      verdict = await cached.verdict;
    } catch (error) {
      if (cache.get(key) === cached) cache.delete(key);
      return refused(`the password could not be verified: ${(error as Error).message}`, notAccepted, username);
    }
    if (typeof verdict === 'object') {
      // Not remembered: once the lockout ends, this password gets its verification.
      if (cache.get(key) === cached) cache.delete(key);
      return refusedLockedOut(verdict.lockedOut, notAccepted, username, identity);
    }
    if (verdict !== 'accepted' || user === undefined) return refused(verdict, notAccepted, username);
    if (!user.identities.has(identity)) {
      return refused(`user ${username} may not log in through certificate identity ${identity} (usersFile lists ${[...user.identities].join(', ')})`, notAccepted, username);
    }
    return { ok: true, identity: options.identityOf(username) };
  };
}

/** A user name as messages show it: quoted, and cut when long. */
function shortName(username: string): string {
  return JSON.stringify(username.length > 64 ? `${username.slice(0, 64)}...` : username);
}

const NO_CREDENTIAL = 'this server requires a Username and Password Credential (Authentication in the request header) besides the client certificate';

function refused(reason: string, message: string, username?: string): AuthenticationOutcome {
  return { ok: false, reason, message, ...(username === undefined ? {} : { username }) };
}

/** At most `limit` tasks at once; the others wait in order. */
class Gate {
  #running = 0;
  readonly #waiting: (() => void)[] = [];
  constructor(private readonly limit: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    // A finishing task hands its slot to the next waiter, so no newcomer slips in between.
    if (this.#running >= this.limit) await new Promise<void>((resolve) => this.#waiting.push(resolve));
    else this.#running++;
    try {
      return await task();
    } finally {
      const next = this.#waiting.shift();
      if (next === undefined) this.#running--;
      else next();
    }
  }
}

/** What the server gives its authenticator besides the configuration. */
export interface AuthenticatorOptions {
  readonly observe?: (event: CredentialEvent) => void;
  /** The service's clock, POSIX seconds (tests move it); lockouts are timed by it. */
  readonly clock?: () => bigint;
}

/**
 * The server's authenticator when `requireCredential` is on: the users file of `config`, and
 * users acting with the administrators and identity groups of the configuration. (A
 * certificate's OUs describe the certificate's holder, not the user: they give no groups here.)
 * Failed logins lock out as the credentialLockout* settings say, counted in this process.
 */
export async function configuredAuthenticator(config: KmipdConfig, log: Logger, options: AuthenticatorOptions = {}): Promise<Authenticator | undefined> {
  if (!config.requireCredential) return undefined;
  const directory = await UserDirectory.open(usersFilePath(config), log);
  const admins = new Set(config.adminIdentities);
  const groupsOf = groupResolver(config.identityGroups);
  const { clock } = options;
  const lockout = new LoginLockout(lockoutPolicy(config), clock === undefined ? Date.now : () => Number(clock()) * 1000);
  return credentialAuthenticator({
    directory,
    log,
    lockout,
    ...(options.observe === undefined ? {} : { observe: options.observe }),
    identityOf: (user) => withGroups({ name: user, admin: admins.has(user) }, groupsOf(user)),
  });
}

function lockoutPolicy(config: KmipdConfig): LockoutPolicy {
  return {
    failures: config.credentialLockoutFailures,
    sourceFailures: config.credentialSourceLockoutFailures,
    lockoutMs: config.credentialLockoutSeconds * 1000,
    maxLockoutMs: config.credentialLockoutMaxSeconds * 1000,
    windowMs: config.credentialLockoutWindowSeconds * 1000,
    maxEntries: config.credentialLockoutEntries,
  };
}
