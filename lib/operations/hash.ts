/** Hash (KMIP 2.1 section 6.1.24, 1.4 section 4.38): a digest of the data, no key involved. */
import { Enum, Tag } from '../../ttlv/index.js';
import { digest } from '../crypto/index.js';
import { KmipError } from '../errors.js';
import { bytes } from '../protocol/build.js';
import { Fields } from '../protocol/fields.js';
import { operation } from './types.js';

export const hashOperation = operation<{ algorithm: number; data: Buffer }>({
  code: Enum.Operation.Hash,
  since: '1.2',
  decode: (payload) => {
    if (payload.has(Tag.CorrelationValue) || payload.has(Tag.InitIndicator)) {
      throw new KmipError('FeatureNotSupported', 'multi-part Hash is not offered: send the whole data in one request');
    }
    const params = Fields.of(payload.required(Tag.CryptographicParameters), 'CryptographicParameters');
    const data = payload.optionalValue(Tag.Data, 'ByteString');
    if (data === undefined) throw new KmipError('InvalidField', 'Hash needs the Data to digest');
    return { algorithm: params.enumeration(Tag.HashingAlgorithm), data: Buffer.from(data) };
  },
  handle: async (_ctx, request) => [bytes(Tag.Data, digest(request.algorithm, request.data))],
});
