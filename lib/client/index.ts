/**
 * The KMIP client library: `import { KmipClient, requests } from 'kmipd/client'`.
 *
 * KmipClient (pooled, typed, negotiated) for applications; KmipConnection (one TLS
 * connection, raw TTLV messages) for tests and tools that need the wire itself.
 */
export { KmipClient, DEFAULT_PORT } from './client.js';
export type { KmipClientOptions } from './client.js';
export { usernamePasswordCredential } from './credential.js';
export { Batch } from './batch.js';
export type { BatchOptions, BatchOutcome, CallOptions } from './batch.js';
export * as requests from './requests.js';
export type {
  OperationRequest,
  IdResult,
  CreateRequest,
  KeyPairRequest,
  KeyPairResult,
  RegisterRequest,
  LocateRequest,
  LocateResult,
  GetRequest,
  GetResult,
  GetAttributesResult,
  QueryResult,
  EncryptRequest,
  EncryptResult,
  DecryptRequest,
  SignRequest,
  SignatureVerifyRequest,
  MacRequest,
  RevokeRequest,
  CryptographicParameters,
} from './requests.js';
export { toInstances, toAttributeSet } from './attributes.js';
export type { Attributes, AttributeSet, AttributeInstance, NameValue, LinkValue, AlgorithmName, ObjectTypeName, StateName, UsageName } from './attributes.js';
export type { ManagedObject, ManagedObjectInput, KeyFormatName } from './objects.js';
export { fromItem, toItem, keyOfTag, tagOfKey } from './values.js';
export type { KmipValue, KmipStruct } from './values.js';
export { enumValue, enumName, maskValue } from './names.js';
export { ConnectionPool, POOL_DEFAULTS } from './pool.js';
export type { PoolOptions, PoolSendOptions } from './pool.js';
export { KmipConnection, DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_REQUEST_TIMEOUT_MS } from './connection.js';
export type { ClientTlsOptions, ConnectionOptions, SendOptions } from './connection.js';
export { KmipClientError, KmipOperationError, oneLine } from './errors.js';
export type { KmipClientErrorCode, ResultReasonName, ResultStatusName } from './errors.js';
export type { BatchErrorContinuation } from './message.js';
export { KeyMaterial } from '../crypto/index.js';
// Raw TTLV: builders and checked readers, for payloads of operations (or vendor extensions) the typed methods do not cover.
export { bool, bytes, child, children, dateTime, enumeration, int, interval, long, optionalChild, struct, text } from './ttlv.js';
