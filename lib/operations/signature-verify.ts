/**
 * Signature Verify (KMIP 2.1 section 6.1.56, 1.4 section 4.37): whether the Signature Data
 * is a valid signature of the Data (or Digested Data) under a Public Key. A signature that
 * does not verify is a successful operation with Validity Indicator Invalid.
 */
import { Enum, Tag } from '../../ttlv/index.js';
import type { TtlvItem } from '../../ttlv/index.js';
import { signatureScheme, startVerify, verifyDigest } from '../crypto/index.js';
import type { Verifier } from '../crypto/index.js';
import { KmipError } from '../errors.js';
import { bytes, enumeration, text } from '../protocol/build.js';
import { keyPairHalf, signatureParameters } from './key-pair-use.js';
import { objectForUse } from './key-use.js';
import { decodeSignatureRequest, requireSingleInput } from './sign.js';
import type { SignatureRequest } from './sign.js';
import { operation } from './types.js';

interface VerifyRequest extends SignatureRequest {
  signature: Buffer | undefined;
}

const V = Enum.ValidityIndicator;

export const signatureVerifyOperation = operation<VerifyRequest>({
  code: Enum.Operation.SignatureVerify,
  since: '1.2',
  decode: (payload) => {
    const signature = payload.optionalValue(Tag.SignatureData, 'ByteString');
    return { ...decodeSignatureRequest(payload), signature: signature === undefined ? undefined : Buffer.from(signature) };
  },
  handle: async (ctx, request) => {
    const use = await objectForUse(ctx, request.id, 'Verify');
    const key = keyPairHalf(use, 'public', 'Signature Verify');
    const data = request.data ?? Buffer.alloc(0);
    const out: TtlvItem[] = [text(Tag.UniqueIdentifier, use.obj.id)];
    const validity = (valid: boolean): TtlvItem => enumeration(Tag.ValidityIndicator, valid ? V.Valid : V.Invalid);
    if (request.correlation !== undefined) {
      const stream = ctx.streams.continue<Verifier>('verify', request.correlation, ctx.identity.name, use.obj.id);
      stream.state.update(data);
      // 2.1 section 6.1.56: non-final parts carry no Validity Indicator.
      if (!request.final) return [...out, bytes(Tag.CorrelationValue, request.correlation)];
      const signature = requireSignature(request);
      ctx.streams.close(request.correlation);
      return [...out, validity(stream.state.final(key, signature))];
    }
    const scheme = signatureScheme(key, signatureParameters(request.params, use));
    if (request.init && !request.final) {
      const verifier = startVerify(scheme);
      verifier.update(data);
      const correlation = ctx.streams.open<Verifier>('verify', { owner: ctx.identity.name, objectId: use.obj.id, state: verifier });
      return [...out, bytes(Tag.CorrelationValue, correlation)];
    }
    requireSingleInput(request, 'Signature Verify');
    const signature = requireSignature(request);
    if (request.digested !== undefined) return [...out, validity(verifyDigest(key, scheme, request.digested, signature))];
    const verifier = startVerify(scheme);
    verifier.update(data);
    return [...out, validity(verifier.final(key, signature))];
  },
});

function requireSignature(request: VerifyRequest): Buffer {
  if (request.signature === undefined) throw new KmipError('InvalidField', 'Signature Verify needs the Signature Data to check');
  return request.signature;
}
