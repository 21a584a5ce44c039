/**
 * KmipClient: a typed, promise-based KMIP client. A pool of persistent TLS connections
 * (./pool.ts), the protocol version negotiated once with Discover Versions, one method per
 * operation, batches, cancellation (AbortSignal) and time limits per call. A refusal by
 * the server is a KmipOperationError (Result Status, Reason, Message); anything else that
 * goes wrong is a KmipClientError with a stable code.
 *
 *   const client = await KmipClient.connect({ host, certFile, keyFile, caFile });
 *   const { uniqueIdentifier } = await client.create({ attributes: { cryptographicAlgorithm: 'AES', cryptographicLength: 256 } });
 */
import { readFile } from 'node:fs/promises';
import { createSecureContext } from 'node:tls';
import { registry } from '../../ttlv/index.js';
import type { KmipVersion, StructureItem, TtlvItem } from '../../ttlv/index.js';
import type { Attributes } from './attributes.js';
import { Batch } from './batch.js';
import type { BatchOptions, BatchOutcome, CallOptions } from './batch.js';
import { KmipClientError, KmipOperationError, invalidArgument } from './errors.js';
import { readResponse, requestMessage } from './message.js';
import type { AnsweredItem, MessageOptions } from './message.js';
import { ConnectionPool } from './pool.js';
import type { PoolOptions } from './pool.js';
import * as requests from './requests.js';
import type { OperationRequest } from './requests.js';

export const DEFAULT_PORT = 5696;

/** Versions offered in Discover Versions, newest first. */
const ALL_VERSIONS: readonly KmipVersion[] = [...registry.KMIP_VERSIONS].reverse();

export interface KmipClientOptions extends Partial<Pick<PoolOptions, 'maxConnections' | 'maxPipelined' | 'maxQueued' | 'idleTimeoutMs' | 'connectTimeoutMs' | 'requestTimeoutMs' | 'maxMessageSize'>> {
  readonly host: string;
  /** 5696 by default. */
  readonly port?: number;
  /** Client certificate, private key and CA certificate(s) as PEM text or bytes... */
  readonly cert?: string | Buffer;
  readonly key?: string | Buffer;
  readonly ca?: string | Buffer;
  /** ...or as paths of PEM files. */
  readonly certFile?: string;
  readonly keyFile?: string;
  readonly caFile?: string;
  /** Name checked against the server certificate; the host by default. */
  readonly servername?: string;
  /** Speak this version and skip Discover Versions. */
  readonly version?: KmipVersion;
  /** Versions the client accepts, in order of preference (all, newest first, by default). */
  readonly versions?: readonly KmipVersion[];
  /** Largest response the server may send (Maximum Response Size in every request). */
  readonly maximumResponseSize?: number;
  /** Authentication for every request: a Credential structure, sent as it is. */
  readonly credential?: TtlvItem;
  /** Cancels connect and negotiation. */
  readonly signal?: AbortSignal;
}

async function pem(value: string | Buffer | undefined, file: string | undefined, what: string, option: string): Promise<string | Buffer> {
  if (value !== undefined && file !== undefined) throw invalidArgument(`give the ${what} as ${option} or ${option}File, not both`);
  if (value !== undefined) return value;
  if (file === undefined) throw invalidArgument(`the ${what} is missing: give ${option} (PEM) or ${option}File (a path)`);
  try {
    return await readFile(file);
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message;
    throw invalidArgument(`cannot read the ${what} ${file}: ${reason}`);
  }
}

export class KmipClient {
  private constructor(
    private readonly pool: ConnectionPool,
    /** The protocol version of every request. */
    readonly version: KmipVersion,
    private readonly messageOptions: Omit<MessageOptions, 'version'>,
    /** Versions the server listed in Discover Versions (empty when the version was given). */
    readonly serverVersions: readonly string[],
  ) {}

  /**
   * Check the TLS files, open the first connection and agree on a version: the first of
   * `versions` the server lists in Discover Versions, unless `version` fixes it.
   */
  static async connect(options: KmipClientOptions): Promise<KmipClient> {
    const tls = {
      cert: await pem(options.cert, options.certFile, 'client certificate', 'cert'),
      key: await pem(options.key, options.keyFile, 'client key', 'key'),
      ca: await pem(options.ca, options.caFile, 'CA certificate', 'ca'),
    };
    try {
      createSecureContext(tls);
    } catch (error) {
      const files = options.certFile === undefined ? '' : ` ${options.certFile} and ${options.keyFile ?? 'its key'}`;
      throw invalidArgument(`the client certificate and key${files} cannot be used together: ${(error as Error).message}`);
    }
    const { signal, version, versions, maximumResponseSize, credential, cert: _c, key: _k, ca: _a, certFile: _cf, keyFile: _kf, caFile: _af, ...rest } = options;
    const pool = new ConnectionPool({ ...rest, ...tls, port: options.port ?? DEFAULT_PORT });
    const messageOptions = { ...(maximumResponseSize === undefined ? {} : { maximumResponseSize }), ...(credential === undefined ? {} : { authentication: credential }) };
    try {
      await pool.warmUp(signal);
      if (version !== undefined) return new KmipClient(pool, version, messageOptions, []);
      const offered = versions ?? ALL_VERSIONS;
      if (offered.length === 0) throw invalidArgument('versions is empty: offer at least one protocol version');
      const listed = await negotiate(pool, offered, messageOptions, signal);
      const chosen = offered.find((v) => listed.includes(v));
      if (chosen === undefined) {
        throw new KmipClientError('CONNECT_FAILED', `the server speaks KMIP ${listed.join(', ') || 'no version'}, none of ${offered.join(', ')} that this client offered`);
      }
      return new KmipClient(pool, chosen, messageOptions, listed);
    } catch (error) {
      pool.destroy();
      throw error;
    }
  }

  // -------------------------------------------------------------------------------------
  // Running requests

  /** Run one operation (a builder from `requests`). */
  async run<T>(request: OperationRequest<T>, options: CallOptions = {}): Promise<T> {
    const [outcome] = await this.runBatch([request], options);
    if (outcome === undefined) throw new KmipClientError('BAD_RESPONSE', 'no answer to the request');
    if (outcome.status === 'rejected') throw outcome.reason;
    return outcome.value as T;
  }

  /** Any operation as raw TTLV: the payload's children in, the Response Payload out. */
  call(operation: number, payload: readonly TtlvItem[], options: CallOptions & { idempotent?: boolean } = {}): Promise<StructureItem> {
    return this.run(requests.raw(operation, payload, options.idempotent ?? false), options);
  }

  /** A whole Request Message as raw TTLV, sent as it is; the Response Message back. */
  send(message: TtlvItem, options: CallOptions = {}): Promise<TtlvItem> {
    return this.pool.send(message, options);
  }

  /** A batch of operations sent in one message (see Batch). */
  batch(options: BatchOptions = {}): Batch {
    return new Batch((list, batchOptions) => this.runBatch(list, batchOptions), options);
  }

  private async runBatch(list: readonly OperationRequest<unknown>[], options: BatchOptions & CallOptions): Promise<BatchOutcome[]> {
    const version = this.version;
    const message = requestMessage(
      list.map((request) => ({ operation: request.operation, payload: request.payload(version) })),
      {
        version,
        ...this.messageOptions,
        ...(options.errorContinuation === undefined ? {} : { batchErrorContinuation: options.errorContinuation }),
        ...(options.batchOrder === undefined ? {} : { batchOrder: options.batchOrder }),
      },
    );
    const idempotent = list.every((request) => request.idempotent);
    const response = await this.pool.send(message, { idempotent, ...(options.signal === undefined ? {} : { signal: options.signal }), ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }) });
    const { items } = readResponse(response, list.length, version);
    return list.map((request, index) => outcomeOf(request, items[index], index, list, items, version));
  }

  // -------------------------------------------------------------------------------------
  // One method per operation

  create(request: requests.CreateRequest, options?: CallOptions) {
    return this.run(requests.create(request), options);
  }

  /** A symmetric key: `createSymmetricKey({ cryptographicAlgorithm: 'AES', cryptographicLength: 256, ... })`. */
  createSymmetricKey(attributes: Attributes, options?: CallOptions) {
    return this.run(requests.create({ attributes }), options);
  }

  createKeyPair(request: requests.KeyPairRequest, options?: CallOptions) {
    return this.run(requests.createKeyPair(request), options);
  }

  register(request: requests.RegisterRequest, options?: CallOptions) {
    return this.run(requests.register(request), options);
  }

  reKey(uniqueIdentifier: string, request: Omit<requests.ReKeyRequest, 'uniqueIdentifier'> = {}, options?: CallOptions) {
    return this.run(requests.reKey({ ...request, uniqueIdentifier }), options);
  }

  reKeyKeyPair(privateKeyUniqueIdentifier: string, request: Omit<requests.ReKeyKeyPairRequest, 'privateKeyUniqueIdentifier'> = {}, options?: CallOptions) {
    return this.run(requests.reKeyKeyPair({ ...request, privateKeyUniqueIdentifier }), options);
  }

  deriveKey(request: requests.DeriveKeyRequest, options?: CallOptions) {
    return this.run(requests.deriveKey(request), options);
  }

  certify(request: requests.CertifyRequest, options?: CallOptions) {
    return this.run(requests.certify(request), options);
  }

  locate(request: requests.LocateRequest = {}, options?: CallOptions) {
    return this.run(requests.locate(request), options);
  }

  check(request: requests.CheckRequest, options?: CallOptions) {
    return this.run(requests.check(request), options);
  }

  get(uniqueIdentifier: string, request: Omit<requests.GetRequest, 'uniqueIdentifier'> = {}, options?: CallOptions) {
    return this.run(requests.get({ ...request, uniqueIdentifier }), options);
  }

  getAttributes(uniqueIdentifier: string, attributeNames?: readonly string[], options?: CallOptions) {
    return this.run(requests.getAttributes({ uniqueIdentifier, ...(attributeNames === undefined ? {} : { attributeNames }) }), options);
  }

  getAttributeList(uniqueIdentifier: string, options?: CallOptions) {
    return this.run(requests.getAttributeList(uniqueIdentifier), options);
  }

  addAttribute(uniqueIdentifier: string, attribute: Attributes, options?: CallOptions) {
    return this.run(requests.addAttribute({ uniqueIdentifier, attribute }), options);
  }

  modifyAttribute(uniqueIdentifier: string, attribute: Attributes, which: { current?: Attributes; attributeIndex?: number } = {}, options?: CallOptions) {
    return this.run(requests.modifyAttribute({ uniqueIdentifier, attribute, ...which }), options);
  }

  setAttribute(uniqueIdentifier: string, attribute: Attributes, options?: CallOptions) {
    return this.run(requests.setAttribute({ uniqueIdentifier, attribute }), options);
  }

  deleteAttribute(uniqueIdentifier: string, which: { attributeName?: string; current?: Attributes; attributeIndex?: number }, options?: CallOptions) {
    return this.run(requests.deleteAttribute({ uniqueIdentifier, ...which }), options);
  }

  obtainLease(uniqueIdentifier: string, options?: CallOptions) {
    return this.run(requests.obtainLease(uniqueIdentifier), options);
  }

  getUsageAllocation(uniqueIdentifier: string, usageLimitsCount: bigint | number, options?: CallOptions) {
    return this.run(requests.getUsageAllocation({ uniqueIdentifier, usageLimitsCount }), options);
  }

  activate(uniqueIdentifier: string, options?: CallOptions) {
    return this.run(requests.activate(uniqueIdentifier), options);
  }

  revoke(uniqueIdentifier: string, request: Omit<requests.RevokeRequest, 'uniqueIdentifier'> = {}, options?: CallOptions) {
    return this.run(requests.revoke({ ...request, uniqueIdentifier }), options);
  }

  destroy(uniqueIdentifier: string, options?: CallOptions) {
    return this.run(requests.destroy(uniqueIdentifier), options);
  }

  archive(uniqueIdentifier: string, options?: CallOptions) {
    return this.run(requests.archive(uniqueIdentifier), options);
  }

  recover(uniqueIdentifier: string, options?: CallOptions) {
    return this.run(requests.recover(uniqueIdentifier), options);
  }

  query(functions?: readonly requests.QueryFunctionName[], options?: CallOptions) {
    return this.run(requests.query(functions), options);
  }

  discoverVersions(versions: readonly KmipVersion[] = [], options?: CallOptions) {
    return this.run(requests.discoverVersions(versions), options);
  }

  encrypt(request: requests.EncryptRequest, options?: CallOptions) {
    return this.run(requests.encrypt(request), options);
  }

  decrypt(request: requests.DecryptRequest, options?: CallOptions) {
    return this.run(requests.decrypt(request), options);
  }

  sign(request: requests.SignRequest, options?: CallOptions) {
    return this.run(requests.sign(request), options);
  }

  signatureVerify(request: requests.SignatureVerifyRequest, options?: CallOptions) {
    return this.run(requests.signatureVerify(request), options);
  }

  mac(request: requests.MacRequest, options?: CallOptions) {
    return this.run(requests.mac(request), options);
  }

  macVerify(request: requests.MacRequest & { macData: Uint8Array }, options?: CallOptions) {
    return this.run(requests.macVerify(request), options);
  }

  hash(request: { cryptographicParameters: requests.CryptographicParameters; data: Uint8Array }, options?: CallOptions) {
    return this.run(requests.hash(request), options);
  }

  rngRetrieve(dataLength: number, options?: CallOptions) {
    return this.run(requests.rngRetrieve(dataLength), options);
  }

  rngSeed(data: Uint8Array, options?: CallOptions) {
    return this.run(requests.rngSeed(data), options);
  }

  exportObject(uniqueIdentifier: string, request: Omit<requests.GetRequest, 'uniqueIdentifier' | 'keyCompressionType'> = {}, options?: CallOptions) {
    return this.run(requests.exportObject({ ...request, uniqueIdentifier }), options);
  }

  importObject(request: Parameters<typeof requests.importObject>[0], options?: CallOptions) {
    return this.run(requests.importObject(request), options);
  }

  createSplitKey(request: Parameters<typeof requests.createSplitKey>[0], options?: CallOptions) {
    return this.run(requests.createSplitKey(request), options);
  }

  joinSplitKey(request: Parameters<typeof requests.joinSplitKey>[0], options?: CallOptions) {
    return this.run(requests.joinSplitKey(request), options);
  }

  // -------------------------------------------------------------------------------------

  /** Connections open now. */
  get connections(): number {
    return this.pool.size;
  }

  /** Let the requests in flight finish, then close every connection. */
  close(): Promise<void> {
    return this.pool.close();
  }

  /** Drop every connection at once; requests in flight fail with CLOSED. (`destroy` is the KMIP operation.) */
  closeNow(): void {
    this.pool.destroy();
  }
}

/**
 * Discover Versions in KMIP 1.1 (the first version that has it, so older and newer
 * servers both read the header); a server that refuses that header is asked in the
 * newest offered version; a 1.0 server, which has no Discover Versions, speaks 1.0.
 */
async function negotiate(pool: ConnectionPool, offered: readonly KmipVersion[], options: Omit<MessageOptions, 'version'>, signal: AbortSignal | undefined): Promise<string[]> {
  const request = requests.discoverVersions(offered);
  const attempt = async (version: KmipVersion): Promise<string[] | undefined> => {
    const message = requestMessage([{ operation: request.operation, payload: request.payload(version) }], { version, ...options });
    const { items } = readResponse(await pool.send(message, { idempotent: true, ...(signal === undefined ? {} : { signal }) }), 1, version);
    const item = items[0];
    // A refused Credential is final: falling back to 1.0 would only hide it behind the next operation's failure.
    if (item?.reason === 'AuthenticationNotSuccessful') throw new KmipOperationError(requests.operationName(request.operation, version), item.status, item.reason, item.message);
    return item?.status === 'Success' ? request.parse(item.payload, version) : undefined;
  };
  const newest = offered[0] as KmipVersion;
  return (await attempt('1.1')) ?? (newest === '1.1' ? undefined : await attempt(newest)) ?? (offered.includes('1.0') ? ['1.0'] : []);
}

function outcomeOf(
  request: OperationRequest<unknown>,
  item: AnsweredItem | undefined,
  index: number,
  list: readonly OperationRequest<unknown>[],
  items: readonly (AnsweredItem | undefined)[],
  version: KmipVersion,
): BatchOutcome {
  const name = requests.operationName(request.operation, version);
  if (item === undefined) {
    const failed = items.findIndex((answered) => answered !== undefined && answered.status === 'OperationFailed');
    const cause = failed < 0 ? 'the server did not answer it' : `item ${failed + 1} (${requests.operationName(list[failed]?.operation ?? 0, version)}) failed and the batch stops at the first failure`;
    return { status: 'rejected', reason: new KmipClientError('NOT_EXECUTED', `${name} (batch item ${index + 1}) did not run: ${cause}`) };
  }
  if (item.status !== 'Success') return { status: 'rejected', reason: new KmipOperationError(name, item.status, item.reason, item.message, index) };
  try {
    return { status: 'fulfilled', value: request.parse(item.payload, version) };
  } catch (error) {
    return { status: 'rejected', reason: error as Error };
  }
}
