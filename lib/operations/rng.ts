/**
 * RNG Retrieve and RNG Seed (KMIP 2.1 sections 6.1.49 and 6.1.50, 1.4 sections 4.35 and
 * 4.36): random bytes from the server's generator (node:crypto, OpenSSL's CTR-DRBG), and
 * seed material offered for it.
 */
import { randomBytes } from 'node:crypto';
import { Enum, Tag } from '../../ttlv/index.js';
import { KmipError } from '../errors.js';
import { bytes, int } from '../protocol/build.js';
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

/**
 * RNG Seed: node:crypto offers no way to add entropy to OpenSSL's DRBG from JavaScript, so
 * the seed is not used, and the answer says so truthfully with a Data Length of 0, which
 * 2.1 section 6.1.50 allows ("The server MAY elect to ignore the information provided ...
 * and MAY indicate this to the client by returning zero"). The generator stays seeded by
 * the operating system.
 */
export const rngSeed = operation<Record<string, never>>({
  code: Enum.Operation.RNGSeed,
  since: '1.2',
  decode: (payload) => {
    payload.value(Tag.Data, 'ByteString'); // required (2.1 table 319)
    return {};
  },
  handle: async () => [int(Tag.DataLength, 0)],
});
