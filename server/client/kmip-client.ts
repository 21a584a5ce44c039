export { KmipConnection as KmipClient, KmipClientError, type ClientTlsOptions, type ConnectionOptions as ClientOptions, type KmipClientErrorCode } from '../../lib/client/index.js';
