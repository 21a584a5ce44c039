/**
 * Sign (KMIP 2.1 section 6.1.55, 1.4 section 4.36): a signature with a Private Key over the
 * Data (in one request, or in several with Init Indicator, Correlation Value and Final
 * Indicator) or over Digested Data the client computed.
 */
import { Enum, Tag } from '../../ttlv/index.js';
import type { TtlvItem } from '../../ttlv/index.js';
import { signDigest, signatureScheme, startSign } from '../crypto/index.js';
import type { Signer } from '../crypto/index.js';
import { KmipError } from '../errors.js';
import { bytes, text } from '../protocol/build.js';
import type { Fields } from '../protocol/fields.js';
import { optionalRequestId } from './common.js';
import { keyPairHalf, signatureParameters } from './key-pair-use.js';
import { chargeUsage, objectForUse } from './key-use.js';
import { operation } from './types.js';

/** What Sign and Signature Verify requests share. */
export interface SignatureRequest {
  id: string | undefined;
  params: TtlvItem | undefined;
  data: Buffer | undefined;
  digested: Buffer | undefined;
  correlation: Buffer | undefined;
  init: boolean;
  final: boolean;
}

const copy = (b: Uint8Array | undefined): Buffer | undefined => (b === undefined ? undefined : Buffer.from(b));

export function decodeSignatureRequest(payload: Fields): SignatureRequest {
  const request = {
    id: optionalRequestId(payload),
    params: payload.optional(Tag.CryptographicParameters),
    data: copy(payload.optionalValue(Tag.Data, 'ByteString')),
    digested: copy(payload.optionalValue(Tag.DigestedData, 'ByteString')),
    correlation: copy(payload.optionalValue(Tag.CorrelationValue, 'ByteString')),
    init: payload.optionalBoolean(Tag.InitIndicator) ?? false,
    final: payload.optionalBoolean(Tag.FinalIndicator) ?? false,
  };
  if (request.data !== undefined && request.digested !== undefined) throw new KmipError('InvalidField', 'give the Data or its Digested Data, not both');
  if (request.digested !== undefined && (request.init || request.correlation !== undefined)) {
    throw new KmipError('InvalidField', 'Digested Data is signed in one request: it takes no Init Indicator or Correlation Value');
  }
  if (request.final && !request.init && request.correlation === undefined) {
    throw new KmipError('InvalidField', 'a Final Indicator without Init Indicator needs the Correlation Value of the operation it ends');
  }
  return request;
}

/** A single-part request must carry something to sign or verify. */
export function requireSingleInput(request: SignatureRequest, operation: string): void {
  if (request.data === undefined && request.digested === undefined) throw new KmipError('InvalidField', `${operation} needs the Data or the Digested Data`);
}

export const signOperation = operation<SignatureRequest>({
  code: Enum.Operation.Sign,
  since: '1.2',
  decode: decodeSignatureRequest,
  handle: async (ctx, request) => {
    const use = await objectForUse(ctx, request.id, 'Sign');
    const key = keyPairHalf(use, 'private', 'Sign');
    const data = request.data ?? Buffer.alloc(0);
    // 2.1 section 6.1.55: the allocation comes out of the Usage Limits before signing.
    const allocate = (): Promise<void> => chargeUsage(ctx, use, request.digested?.length ?? data.length);
    const out: TtlvItem[] = [text(Tag.UniqueIdentifier, use.obj.id)];
    if (request.correlation !== undefined) {
      const stream = ctx.streams.continue<Signer>('sign', request.correlation, ctx.identity.name, use.obj.id);
      await allocate();
      stream.state.update(data);
      if (!request.final) return [...out, bytes(Tag.CorrelationValue, request.correlation)];
      ctx.streams.close(request.correlation);
      return [...out, bytes(Tag.SignatureData, stream.state.final(key))];
    }
    const scheme = signatureScheme(key, signatureParameters(request.params, use));
    if (!request.init || request.final) requireSingleInput(request, 'Sign');
    await allocate();
    if (request.init && !request.final) {
      const signer = startSign(scheme);
      signer.update(data);
      const correlation = ctx.streams.open<Signer>('sign', { owner: ctx.identity.name, objectId: use.obj.id, state: signer });
      return [...out, bytes(Tag.CorrelationValue, correlation)];
    }
    if (request.digested !== undefined) return [...out, bytes(Tag.SignatureData, signDigest(key, scheme, request.digested))];
    const signer = startSign(scheme);
    signer.update(data);
    return [...out, bytes(Tag.SignatureData, signer.final(key))];
  },
});
