/**
 * Interop harness: drive a KMIP server with the real PyKMIP client.
 *
 * `runPykmip` runs test/interop/pykmip_driver.py under /usr/bin/python3
 * (Debian python3-pykmip 0.10.0): one ProxyKmipClient connection, the steps in
 * order, one JSON result per step. `startPykmipServer` starts PyKMIP's own
 * server as a side-by-side reference peer.
 *
 * Values in steps may refer to earlier results: "$N" is the value of step N
 * (0-based), "$N.field" / "$N.0" descend into it, "$$" escapes a literal "$".
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Debian's interpreter: the `python3` on PATH may not be able to import kmip. */
export const PYKMIP_PYTHON = '/usr/bin/python3';
export const PYKMIP_SERVER = '/usr/bin/pykmip-server';
export const PYKMIP_DRIVER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'pykmip_driver.py');

export type PykmipVersion = '1.0' | '1.1' | '1.2' | '1.3' | '1.4' | '2.0';
export const PYKMIP_VERSIONS: readonly PykmipVersion[] = ['1.0', '1.1', '1.2', '1.3', '1.4', '2.0'];

// ---------------------------------------------------------------------------
// Enumeration names as PyKMIP spells them (kmip.core.enums member names).
// `(string & {})` keeps the hints while accepting any other name.

type Open<T extends string> = T | (string & {});

export type UsageMaskName = Open<
  | 'SIGN' | 'VERIFY' | 'ENCRYPT' | 'DECRYPT' | 'WRAP_KEY' | 'UNWRAP_KEY' | 'EXPORT'
  | 'MAC_GENERATE' | 'MAC_VERIFY' | 'DERIVE_KEY' | 'CONTENT_COMMITMENT' | 'KEY_AGREEMENT'
  | 'CERTIFICATE_SIGN' | 'CRL_SIGN' | 'GENERATE_CRYPTOGRAM' | 'VALIDATE_CRYPTOGRAM'
  | 'TRANSLATE_ENCRYPT' | 'TRANSLATE_DECRYPT' | 'TRANSLATE_WRAP' | 'TRANSLATE_UNWRAP'
  | 'AUTHENTICATE' | 'UNRESTRICTED' | 'FPE_ENCRYPT' | 'FPE_DECRYPT'
>;
export type AlgorithmName = Open<
  'AES' | 'TRIPLE_DES' | 'RSA' | 'DSA' | 'ECDSA' | 'EC' | 'HMAC_SHA1' | 'HMAC_SHA256' | 'HMAC_SHA384' | 'HMAC_SHA512'
>;
export type ObjectTypeName = Open<
  | 'CERTIFICATE' | 'SYMMETRIC_KEY' | 'PUBLIC_KEY' | 'PRIVATE_KEY' | 'SPLIT_KEY' | 'TEMPLATE'
  | 'SECRET_DATA' | 'OPAQUE_DATA' | 'PGP_KEY' | 'CERTIFICATE_REQUEST'
>;
export type StateName = Open<
  'PRE_ACTIVE' | 'ACTIVE' | 'DEACTIVATED' | 'COMPROMISED' | 'DESTROYED' | 'DESTROYED_COMPROMISED'
>;
export type RevocationReasonName = Open<
  | 'UNSPECIFIED' | 'KEY_COMPROMISE' | 'CA_COMPROMISE' | 'AFFILIATION_CHANGED' | 'SUPERSEDED'
  | 'CESSATION_OF_OPERATION' | 'PRIVILEGE_WITHDRAWN'
>;
export type QueryFunctionName = Open<
  | 'QUERY_OPERATIONS' | 'QUERY_OBJECTS' | 'QUERY_SERVER_INFORMATION' | 'QUERY_APPLICATION_NAMESPACES'
  | 'QUERY_EXTENSION_LIST' | 'QUERY_EXTENSION_MAP' | 'QUERY_ATTESTATION_TYPES' | 'QUERY_RNGS'
  | 'QUERY_VALIDATIONS' | 'QUERY_PROFILES' | 'QUERY_CAPABILITIES' | 'QUERY_CLIENT_REGISTRATION_METHODS'
  | 'QUERY_DEFAULTS_INFORMATION' | 'QUERY_STORAGE_PROTECTION_MASKS'
>;
export type SecretTypeName = Open<'PASSWORD' | 'SEED'>;
export type BlockCipherModeName = Open<'CBC' | 'ECB' | 'CFB' | 'OFB' | 'CTR' | 'GCM' | 'CCM' | 'NIST_KEY_WRAP' | 'AES_KEY_WRAP_PADDING'>;
export type PaddingMethodName = Open<'NONE' | 'OAEP' | 'PKCS5' | 'PKCS1v15' | 'PSS' | 'ZEROS' | 'ANSI_X923' | 'ISO_10126'>;
export type KeyFormatTypeName = Open<'RAW' | 'OPAQUE' | 'PKCS_1' | 'PKCS_8' | 'X_509' | 'EC_PRIVATE_KEY' | 'TRANSPARENT_SYMMETRIC_KEY'>;

// ---------------------------------------------------------------------------
// Steps

/** Create a symmetric key. PyKMIP always adds ENCRYPT and DECRYPT to `usage`. */
export interface CreateStep {
  op: 'create';
  algorithm?: AlgorithmName;
  length?: number;
  name?: string;
  usage?: UsageMaskName[];
  operation_policy_name?: string;
}
export interface CreateKeyPairStep {
  op: 'create_key_pair';
  algorithm?: AlgorithmName;
  length?: number;
  public_name?: string;
  private_name?: string;
  public_usage?: UsageMaskName[];
  private_usage?: UsageMaskName[];
  operation_policy_name?: string;
}
/**
 * Register a managed object. Without `name`/`names`, PyKMIP sends its class's
 * default Name ('Symmetric Key', 'Secret Data', 'Opaque Object', 'X.509 Certificate',
 * 'Public Key', 'Private Key'); `names: []` sends no Name at all.
 */
export interface RegisterStep {
  op: 'register';
  kind: 'symmetric' | 'secret' | 'opaque' | 'certificate' | 'public_key' | 'private_key';
  value_hex: string;
  /** symmetric (default AES), public_key / private_key (default RSA). */
  algorithm?: AlgorithmName;
  /** Bits: symmetric defaults to the value's length; required for public/private keys. */
  length?: number;
  name?: string;
  names?: string[];
  usage?: UsageMaskName[];
  /** secret: default PASSWORD. */
  secret_type?: SecretTypeName;
  /** opaque: PyKMIP only knows NONE (0x80000000). */
  opaque_type?: Open<'NONE'>;
  /** public_key: default X_509; private_key: default PKCS_8. */
  key_format_type?: KeyFormatTypeName;
  operation_policy_name?: string;
}
export interface GetStep {
  op: 'get';
  uid: string;
}
export interface GetAttributesStep {
  op: 'get_attributes';
  uid: string;
  /** Attribute names as KMIP spells them, e.g. 'State', 'Cryptographic Usage Mask'. */
  names?: string[];
}
export interface GetAttributeListStep {
  op: 'get_attribute_list';
  uid: string;
}
export interface LocateStep {
  op: 'locate';
  name?: string;
  object_type?: ObjectTypeName;
  state?: StateName;
  algorithm?: AlgorithmName;
  length?: number;
  object_group?: string;
  maximum_items?: number;
  offset_items?: number;
  storage_status_mask?: number;
}
/**
 * Modify Attribute. At 1.x PyKMIP sends Attribute{Name, Index?, Value}; at 2.0
 * [Current Attribute] + New Attribute. `value` / `current` are the attribute's
 * value: a Name's text, an 'x-' custom attribute's text, an integer or a boolean.
 */
export interface ModifyAttributeStep {
  op: 'modify_attribute';
  uid: string;
  /** KMIP attribute name ('Name', 'Contact Information', 'x-custom'). */
  name: string;
  value: string | number | boolean;
  /** 1.x only: the Attribute Index. */
  index?: number;
  /** 2.0 only: the Current Attribute value (which instance to change). */
  current?: string | number | boolean;
}
export interface ActivateStep {
  op: 'activate';
  uid: string;
}
export interface RevokeStep {
  op: 'revoke';
  uid: string;
  reason: RevocationReasonName;
  message?: string;
  /** Compromise Occurrence Date, seconds since the epoch. */
  compromise_date?: number;
}
export interface DestroyStep {
  op: 'destroy';
  uid: string;
}
export interface DiscoverVersionsStep {
  op: 'discover_versions';
  /** Versions the client offers ("1.2"...); omitted = ask for all. */
  versions?: string[];
}
export interface QueryStep {
  op: 'query';
  /** Default: QUERY_OPERATIONS, QUERY_OBJECTS, QUERY_SERVER_INFORMATION. */
  functions?: QueryFunctionName[];
}
export interface CryptoParameterFields {
  algorithm?: AlgorithmName;
  mode?: BlockCipherModeName;
  padding?: PaddingMethodName;
  random_iv?: boolean;
  iv_length?: number;
  tag_length?: number;
  iv_hex?: string;
  /** Hashing Algorithm (SHA_256, ...). */
  hash?: Open<'SHA_1' | 'SHA_224' | 'SHA_256' | 'SHA_384' | 'SHA_512'>;
  /** Digital Signature Algorithm (SHA256_WITH_RSA_ENCRYPTION, RSASSA_PSS, ...). */
  dsa?: Open<'SHA256_WITH_RSA_ENCRYPTION' | 'SHA384_WITH_RSA_ENCRYPTION' | 'SHA512_WITH_RSA_ENCRYPTION' | 'RSASSA_PSS' | 'ECDSA_WITH_SHA256'>;
}
export interface EncryptStep extends CryptoParameterFields {
  op: 'encrypt';
  uid: string;
  data_hex: string;
}
export interface DecryptStep extends CryptoParameterFields {
  op: 'decrypt';
  uid: string;
  data_hex: string;
}
/**
 * Encrypt with Authenticated Encryption Additional Data, answering the tag: through PyKMIP's
 * Encrypt payload classes on the same connection, since ProxyKmipClient.encrypt() neither
 * sends the additional data nor returns the tag.
 */
export interface EncryptAeadStep extends CryptoParameterFields {
  op: 'encrypt_aead';
  uid: string;
  data_hex: string;
  aad_hex?: string;
}
export interface DecryptAeadStep extends CryptoParameterFields {
  op: 'decrypt_aead';
  uid: string;
  data_hex: string;
  iv_hex: string;
  tag_hex: string;
  aad_hex?: string;
}
/** ProxyKmipClient.sign(). */
export interface SignStep extends CryptoParameterFields {
  op: 'sign';
  uid: string;
  data_hex: string;
}
/** ProxyKmipClient.signature_verify(): the Validity Indicator's name. */
export interface SignatureVerifyStep extends CryptoParameterFields {
  op: 'signature_verify';
  uid: string;
  data_hex: string;
  signature_hex: string;
}
/** ProxyKmipClient.mac() (algorithm default HMAC_SHA256). */
export interface MacStep {
  op: 'mac';
  uid: string;
  data_hex: string;
  algorithm?: AlgorithmName;
}
/** ProxyKmipClient.derive_key(): the new object's Unique Identifier. */
export interface DeriveKeyStep extends CryptoParameterFields {
  op: 'derive_key';
  uids: string[];
  method: Open<'PBKDF2' | 'HASH' | 'HMAC' | 'ENCRYPT' | 'NIST800_108_C' | 'HKDF'>;
  object_type?: ObjectTypeName;
  derivation_data_hex?: string;
  salt_hex?: string;
  initialization_vector_hex?: string;
  iteration_count?: number;
  derived_algorithm?: AlgorithmName;
  derived_length?: number;
}
/** Change the wire version on the live connection (`client.kmip_version = ...`). */
export interface SetVersionStep {
  op: 'set_version';
  version: PykmipVersion;
}
/** Close and reopen the connection (also recovers after a ConnectionLost). */
export interface ReconnectStep {
  op: 'reconnect';
}

export type Step =
  | CreateStep
  | CreateKeyPairStep
  | RegisterStep
  | GetStep
  | GetAttributesStep
  | GetAttributeListStep
  | LocateStep
  | ModifyAttributeStep
  | ActivateStep
  | RevokeStep
  | DestroyStep
  | DiscoverVersionsStep
  | QueryStep
  | EncryptStep
  | DecryptStep
  | EncryptAeadStep
  | DecryptAeadStep
  | SignStep
  | SignatureVerifyStep
  | MacStep
  | DeriveKeyStep
  | SetVersionStep
  | ReconnectStep;

export type StepOp = Step['op'];

// ---------------------------------------------------------------------------
// Results

export interface GetValue {
  object_type: ObjectTypeName;
  value_hex: string;
  algorithm?: AlgorithmName;
  length?: number;
  key_format_type?: KeyFormatTypeName;
  secret_type?: SecretTypeName;
  opaque_type?: string;
  certificate_type?: string;
}
/**
 * Attribute name -> value as a string; an attribute present several times
 * (e.g. two Names) gives a list. Enumerations are PyKMIP names ('AES', 'ACTIVE',
 * 'SYMMETRIC_KEY'), integers decimal ('256'), Cryptographic Usage Mask its flags
 * joined with '|' ('ENCRYPT|DECRYPT'), dates ISO 8601 UTC, booleans 'true'/'false',
 * byte strings hex, other structures compact JSON.
 */
export type AttributesValue = Record<string, string | string[]>;
export interface QueryValue {
  operations: string[];
  object_types: string[];
  vendor_identification: string | null;
  server_information: unknown;
}
export interface KeyPairValue {
  public_uid: string;
  private_uid: string;
}
export interface ModifyAttributeValue {
  uid: string;
  /** 1.x: the attribute as the server returned it (AttributesValue shape); 2.0: null. */
  attribute: AttributesValue | null;
}
export interface EncryptValue {
  data_hex: string;
  /** The IV the server generated (random_iv), else null. */
  iv_hex: string | null;
}
export interface DecryptValue {
  data_hex: string;
}
export interface AeadValue {
  data_hex: string;
  iv_hex: string | null;
  tag_hex: string | null;
}
export interface MacValue {
  uid: string;
  mac_hex: string;
}

export interface ValueByOp {
  create: string;
  create_key_pair: KeyPairValue;
  register: string;
  get: GetValue;
  get_attributes: AttributesValue;
  get_attribute_list: string[];
  locate: string[];
  modify_attribute: ModifyAttributeValue;
  activate: null;
  revoke: null;
  destroy: null;
  discover_versions: string[];
  query: QueryValue;
  encrypt: EncryptValue;
  decrypt: DecryptValue;
  encrypt_aead: AeadValue;
  decrypt_aead: DecryptValue;
  sign: { signature_hex: string };
  signature_verify: Open<'VALID' | 'INVALID' | 'UNKNOWN'>;
  mac: MacValue;
  derive_key: string;
  set_version: PykmipVersion;
  reconnect: null;
}

/** With `trace: true`: the TTLV bytes of each message of the step, hex. */
export interface WireExchange {
  request?: string;
  response?: string;
}

export type PykmipSuccess = {
  [O in StepOp]: { op: O; ok: true; value: ValueByOp[O]; wire?: WireExchange[] };
}[StepOp];

/**
 * error: the Python exception class. 'KmipOperationFailure' = the server answered
 * with a failed Result Status (status/reason/message are its Result Status,
 * Result Reason and Result Message as PyKMIP enum names). Others: decoding errors
 * ('where' = innermost PyKMIP frame), socket errors ('EOFError', 'ConnectionResetError',
 * 'TimeoutError'...), after which the remaining steps report 'ConnectionLost'
 * until a 'reconnect' step; 'StepError' / 'BadReference' for bad step arguments.
 */
export interface PykmipFailure {
  op: string;
  ok: false;
  error: string;
  status?: string | null;
  reason?: string | null;
  message?: string | null;
  where?: string;
  wire?: WireExchange[];
}

export type PykmipResult = PykmipSuccess | PykmipFailure;

export interface PykmipRun {
  version: string;
  results: PykmipResult[];
  /** The driver's stderr: one line per failed step, tracebacks of unexpected errors. */
  stderr: string;
}

export interface PykmipServerAddress {
  host: string;
  port: number;
}
/** Client side TLS files: certificate + key (PEM) and the CA that signed the server. */
export interface PykmipTls {
  cert: string;
  key: string;
  ca: string;
}

export interface RunPykmipOptions {
  /** Kill the driver (its whole process group) after this long. Default 60 000 ms. */
  timeoutMs?: number;
  /** 'user:pass' written as username/password in the client config; ':' = empty strings. */
  credential?: string;
  /** Record each step's request/response TTLV (hex) in `wire`. */
  trace?: boolean;
  /** PyKMIP's socket timeout in seconds (default 30). */
  socketTimeoutS?: number;
  /** PyKMIP DEBUG logging (with hex dumps) in stderr. */
  debug?: boolean;
  /** Connect without a client certificate (`tls.cert` / `tls.key` are not sent). */
  withoutClientCertificate?: boolean;
}

export class PykmipDriverError extends Error {
  constructor(
    message: string,
    readonly stderr: string,
    readonly exitCode: number | null,
  ) {
    super(message);
    this.name = 'PykmipDriverError';
  }
}

function tail(text: string, max = 4000): string {
  return text.length <= max ? text : `...${text.slice(-max)}`;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function parseResults(stdout: string, stderr: string, code: number | null): PykmipRun {
  let doc: unknown;
  try {
    doc = JSON.parse(stdout) as unknown;
  } catch {
    throw new PykmipDriverError(
      `pykmip driver (exit ${String(code)}) printed no JSON: ${tail(stdout, 500)}\nstderr:\n${tail(stderr)}`,
      stderr,
      code,
    );
  }
  if (!isRecord(doc)) throw new PykmipDriverError(`pykmip driver printed ${tail(stdout, 500)}`, stderr, code);
  if (code !== 0 || typeof doc['error'] === 'string') {
    const type = typeof doc['type'] === 'string' ? `${doc['type']}: ` : '';
    throw new PykmipDriverError(
      `pykmip driver failed (exit ${String(code)}): ${type}${String(doc['error'])}\nstderr:\n${tail(stderr)}`,
      stderr,
      code,
    );
  }
  const results = doc['results'];
  if (!Array.isArray(results)) throw new PykmipDriverError(`pykmip driver: no results in ${tail(stdout, 500)}`, stderr, code);
  for (const r of results as unknown[]) {
    if (!isRecord(r) || typeof r['op'] !== 'string' || typeof r['ok'] !== 'boolean') {
      throw new PykmipDriverError(`pykmip driver: malformed result ${JSON.stringify(r)}`, stderr, code);
    }
  }
  return { version: String(doc['version']), results: results as PykmipResult[], stderr };
}

/** Send SIGKILL to a detached child's process group (and the child), ignoring ESRCH. */
function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      /* already gone */
    }
  }
}

/** Like runPykmip, but also returns the driver's stderr and the version it used. */
export function runPykmipDetailed(
  server: PykmipServerAddress,
  tls: PykmipTls,
  version: PykmipVersion | (string & {}),
  steps: readonly Step[],
  options: RunPykmipOptions = {},
): Promise<PykmipRun> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const args = [
    PYKMIP_DRIVER,
    '--host', server.host,
    '--port', String(server.port),
    ...(options.withoutClientCertificate ? [] : ['--cert', tls.cert, '--key', tls.key]),
    '--ca', tls.ca,
    '--version', version,
  ];
  if (options.credential !== undefined) args.push('--credential', options.credential);
  if (options.trace) args.push('--trace');
  if (options.debug) args.push('--debug');
  if (options.socketTimeoutS !== undefined) args.push('--timeout', String(options.socketTimeoutS));

  return new Promise<PykmipRun>((resolve, reject) => {
    const child = spawn(PYKMIP_PYTHON, args, {
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true, // own process group, so a timeout kills everything it started
      env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1', PYTHONUNBUFFERED: '1' },
    });
    let stdout = '';
    let stderr = '';
    let settled = false;
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      if (settled) return;
      settled = true;
      killGroup(child, 'SIGKILL');
      reject(
        new PykmipDriverError(
          `pykmip driver timed out after ${timeoutMs} ms (${steps.length} steps, version ${version}, ` +
            `${server.host}:${server.port}); killed its process group.\nstderr:\n${tail(stderr)}`,
          stderr,
          null,
        ),
      );
    }, timeoutMs);
    child.on('error', (err) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(new PykmipDriverError(`cannot start ${PYKMIP_PYTHON}: ${err.message}`, stderr, null));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (settled) return;
      settled = true;
      try {
        resolve(parseResults(stdout, stderr, code));
      } catch (err) {
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    });
    child.stdin.on('error', () => {
      /* the driver exited early (bad arguments): reported through 'close' */
    });
    child.stdin.end(JSON.stringify(steps));
  });
}

/**
 * Run `steps` in order on ONE PyKMIP ProxyKmipClient connection speaking `version`.
 * Resolves with one result per step (operation failures are results); rejects
 * with a PykmipDriverError when the driver cannot work (bad arguments, connection
 * or TLS handshake refused, timeout), with the driver's stderr in the message.
 */
export async function runPykmip(
  server: PykmipServerAddress,
  tls: PykmipTls,
  version: PykmipVersion | (string & {}),
  steps: readonly Step[],
  options: RunPykmipOptions = {},
): Promise<PykmipResult[]> {
  return (await runPykmipDetailed(server, tls, version, steps, options)).results;
}

/** The value of a successful result of operation `op`; throws a readable error otherwise. */
export function valueOf<O extends StepOp>(result: PykmipResult | undefined, op: O): ValueByOp[O] {
  if (result === undefined) throw new Error(`no result for ${op}`);
  if (result.op !== op) throw new Error(`expected a ${op} result, got ${result.op}`);
  if (!result.ok) {
    throw new Error(
      `${op} failed: ${result.error}` +
        (result.reason ? ` ${result.status ?? ''}/${result.reason}` : '') +
        (result.message ? `: ${result.message}` : '') +
        (result.where ? ` (at ${result.where})` : ''),
    );
  }
  return result.value as ValueByOp[O];
}

// ---------------------------------------------------------------------------
// PyKMIP's own server, as a reference peer

export interface PykmipServerCerts {
  /** Server certificate and key (PEM). */
  cert: string;
  key: string;
  /** CA that signed the client certificates (and is sent to the client). */
  ca: string;
}

export interface PykmipServerOptions {
  /** Give up waiting for the port after this long. Default 30 000 ms. */
  startTimeoutMs?: number;
  /** Time between SIGTERM and SIGKILL in stop(). Default 5 000 ms. */
  stopGraceMs?: number;
  /** Require clientAuth EKU on client certificates (default true). */
  enableTlsClientAuth?: boolean;
  /** PyKMIP's logging level (default INFO; DEBUG dumps every message). */
  loggingLevel?: 'DEBUG' | 'INFO' | 'WARNING' | 'ERROR';
}

export interface PykmipServer {
  host: string;
  port: number;
  logPath: string;
  configPath: string;
  /** SIGTERM, then SIGKILL to the process group after the grace period. Idempotent. */
  stop(): Promise<void>;
}

/** A port free on 127.0.0.1 right now (the OS picks it). */
export async function freeLoopbackPort(): Promise<number> {
  const srv = net.createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const addr = srv.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  if (!port) throw new Error('could not get a free port');
  return port;
}

function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host, port });
    sock.setTimeout(1000);
    const done = (ok: boolean): void => {
      sock.destroy();
      resolve(ok);
    };
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
    sock.once('timeout', () => done(false));
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function readTail(file: string): Promise<string> {
  try {
    return tail(await readFile(file, 'utf8'));
  } catch {
    return '(no log)';
  }
}

async function startOnce(
  dir: string,
  certs: PykmipServerCerts,
  port: number,
  options: PykmipServerOptions,
): Promise<PykmipServer> {
  const host = '127.0.0.1';
  const policyDir = path.join(dir, 'policies'); // must exist; empty = built-in policies only
  await mkdir(policyDir, { recursive: true });
  const configPath = path.join(dir, 'server.conf');
  const logPath = path.join(dir, 'server.log');
  const config = [
    '[server]',
    `hostname=${host}`,
    `port=${port}`,
    `certificate_path=${path.resolve(certs.cert)}`,
    `key_path=${path.resolve(certs.key)}`,
    `ca_path=${path.resolve(certs.ca)}`,
    // Not 'Basic': that is TLS 1.0 and fails on OpenSSL 3.
    'auth_suite=TLS1.2',
    `policy_path=${policyDir}`,
    `enable_tls_client_auth=${options.enableTlsClientAuth ?? true ? 'True' : 'False'}`,
    `logging_level=${options.loggingLevel ?? 'INFO'}`,
    `database_path=${path.join(dir, 'pykmip.db')}`,
    '',
  ].join('\n');
  await writeFile(configPath, config);

  const child = spawn(PYKMIP_SERVER, ['-f', configPath, '-l', logPath], {
    cwd: dir,
    detached: true, // its multiprocessing helpers share the group: stop() kills them all
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' },
  });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (output = tail(output + d)));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (output = tail(output + d)));
  let exited = child.exitCode !== null;
  const exitedPromise = new Promise<void>((resolve) => {
    child.once('close', () => {
      exited = true;
      resolve();
    });
  });
  child.once('error', (err) => {
    output += `\nspawn error: ${err.message}`;
  });

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      if (!exited && child.pid !== undefined) {
        try {
          process.kill(child.pid, 'SIGTERM');
        } catch {
          /* gone */
        }
        // Its accept() loop only notices the signal when accept() returns
        // (10 s socket timeout): connect once to wake it up.
        const poke = async (): Promise<void> => {
          for (const delay of [200, 1000]) {
            await sleep(delay);
            if (exited) return;
            await canConnect(host, port);
          }
        };
        const grace = sleep(options.stopGraceMs ?? 5000);
        void poke();
        await Promise.race([exitedPromise, grace]);
      }
      killGroup(child, 'SIGKILL'); // the server if still there, and any helpers it left
      await Promise.race([exitedPromise, sleep(2000)]);
    })();
    return stopping;
  };

  const deadline = Date.now() + (options.startTimeoutMs ?? 30_000);
  while (!exited) {
    if (await canConnect(host, port)) return { host, port, logPath, configPath, stop };
    if (Date.now() > deadline) {
      await stop();
      throw new Error(
        `pykmip-server did not accept connections on ${host}:${port} within ${options.startTimeoutMs ?? 30_000} ms\n` +
          `output:\n${output}\nlog:\n${await readTail(logPath)}`,
      );
    }
    await sleep(100);
  }
  await stop();
  throw new Error(
    `pykmip-server exited during start-up (code ${String(child.exitCode)})\noutput:\n${output}\nlog:\n${await readTail(logPath)}`,
  );
}

/**
 * Start /usr/bin/pykmip-server on a free loopback port, its config, log,
 * policy folder and SQLite database in `dir`; resolves once the port accepts
 * connections. Clients need certificates with the clientAuth EKU (unless
 * enableTlsClientAuth is false) signed by `certs.ca`.
 */
export async function startPykmipServer(
  dir: string,
  certs: PykmipServerCerts,
  options: PykmipServerOptions = {},
): Promise<PykmipServer> {
  await mkdir(dir, { recursive: true });
  let lastError: unknown;
  // The free port can be taken between our probe and PyKMIP's bind: retry.
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freeLoopbackPort();
    try {
      return await startOnce(dir, certs, port, options);
    } catch (err) {
      lastError = err;
      if (!(err instanceof Error) || !/exited during start-up/.test(err.message)) break;
    }
  }
  throw lastError instanceof Error ? lastError : new Error(String(lastError));
}
