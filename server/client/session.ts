export type { KmipClient as KmipSession } from '../../lib/client/index.js';
