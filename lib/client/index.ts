/** The KMIP client library: `import { KmipClient } from 'kmipd/client'`. */
export { KmipConnection, DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_REQUEST_TIMEOUT_MS } from './connection.js';
export type { ClientTlsOptions, ConnectionOptions, SendOptions } from './connection.js';
export { KmipClientError, KmipOperationError } from './errors.js';
export type { KmipClientErrorCode, ResultReasonName, ResultStatusName } from './errors.js';
