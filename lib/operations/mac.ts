/**
 * MAC and MAC Verify (KMIP 2.1 sections 6.1.32 and 6.1.33, 1.4 sections 4.34 and 4.35). The
 * MAC algorithm is the request's (or the key's) Cryptographic Parameters algorithm, else the
 * key's own: an HMAC key makes HMACs, an AES key makes CMACs.
 */
import { Enum, Tag } from '../../ttlv/index.js';
import type { TtlvItem } from '../../ttlv/index.js';
import { mac as computeMac, macMatches } from '../crypto/index.js';
import { KmipError } from '../errors.js';
import { bytes, enumeration, text } from '../protocol/build.js';
import { optionalRequestId } from './common.js';
import { chargeUsage, cipherParameters, objectForUse, symmetricKeyOf } from './key-use.js';
import { isResident, macInHsm } from './hsm-resident.js';
import { operation } from './types.js';

interface MacRequest {
  id: string | undefined;
  params: TtlvItem | undefined;
  data: Buffer;
  macData: Buffer | undefined;
}

function decodeMac(payload: import('../protocol/fields.js').Fields): MacRequest {
  if (payload.has(Tag.CorrelationValue) || payload.has(Tag.InitIndicator)) {
    throw new KmipError('FeatureNotSupported', 'multi-part MAC is not offered: send the whole data in one request');
  }
  const data = payload.optionalValue(Tag.Data, 'ByteString');
  if (data === undefined) throw new KmipError('InvalidField', 'MAC needs the Data to authenticate');
  const macData = payload.optionalValue(Tag.MACData, 'ByteString');
  return {
    id: optionalRequestId(payload),
    params: payload.optional(Tag.CryptographicParameters),
    data: Buffer.from(data),
    macData: macData === undefined ? undefined : Buffer.from(macData),
  };
}

export const macOperation = operation<MacRequest>({
  code: Enum.Operation.MAC,
  since: '1.2',
  decode: decodeMac,
  handle: async (ctx, request) => {
    const inUse = await objectForUse(ctx, request.id, 'MACGenerate');
    if (isResident(inUse.body)) return macInHsm(ctx, inUse, request);
    const use = symmetricKeyOf(inUse);
    try {
      await chargeUsage(ctx, use, request.data.length);
      const params = cipherParameters(request.params, use);
      return [text(Tag.UniqueIdentifier, use.obj.id), bytes(Tag.MACData, computeMac(params.algorithm, params.mode, use.key, request.data))];
    } finally {
      use.key.fill(0);
    }
  },
});

export const macVerifyOperation = operation<MacRequest>({
  code: Enum.Operation.MACVerify,
  since: '1.2',
  decode: (payload) => {
    const request = decodeMac(payload);
    if (request.macData === undefined) throw new KmipError('InvalidField', 'MAC Verify needs the MAC Data to check');
    return request;
  },
  handle: async (ctx, request) => {
    const inUse = await objectForUse(ctx, request.id, 'MACVerify');
    if (isResident(inUse.body)) return macInHsm(ctx, inUse, request, request.macData);
    const use = symmetricKeyOf(inUse);
    try {
      const params = cipherParameters(request.params, use);
      const expected = computeMac(params.algorithm, params.mode, use.key, request.data);
      const valid = request.macData !== undefined && macMatches(expected, request.macData);
      return [text(Tag.UniqueIdentifier, use.obj.id), enumeration(Tag.ValidityIndicator, valid ? Enum.ValidityIndicator.Valid : Enum.ValidityIndicator.Invalid)];
    } finally {
      use.key.fill(0);
    }
  },
});
