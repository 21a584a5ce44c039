/**
 * RNG Retrieve (KMIP 2.1 section 6.1.49, 1.4 section 4.36): random bytes from the server's
 * generator (node:crypto, OpenSSL's CTR-DRBG).
 */
import { randomBytes } from 'node:crypto';
import { Enum, Tag } from '../../ttlv/index.js';
import { KmipError } from '../errors.js';
import { bytes } from '../protocol/build.js';
import { operation } from './types.js';

/** Largest single retrieval: enough for any key, small enough to bound a response. */
export const MAX_RANDOM_BYTES = 64 * 1024;

export const rngRetrieve = operation<{ length: number }>({
  code: Enum.Operation.RNGRetrieve,
  since: '1.2',
  decode: (payload) => {
    const length = payload.value(Tag.DataLength, 'Integer');
    if (length <= 0 || length > MAX_RANDOM_BYTES) throw new KmipError('InvalidField', `Data Length must be 1 to ${MAX_RANDOM_BYTES} bytes, not ${length}`);
    return { length };
  },
  handle: async (_ctx, request) => [bytes(Tag.Data, randomBytes(request.length))],
});
