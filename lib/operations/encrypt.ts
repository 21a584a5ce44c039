/**
 * Encrypt (KMIP 2.1 section 6.1.17, 1.4 section 4.30): symmetric encryption in one request,
 * or in several with Init Indicator, Correlation Value and Final Indicator; RSA with a
 * Public Key (rsa-encryption.ts).
 */
import { Enum, Tag } from '../../ttlv/index.js';
import type { TtlvItem } from '../../ttlv/index.js';
import type { Cipher, CipherGCM } from 'node:crypto';
import { encrypt as encryptOnce, finish, startEncrypt } from '../crypto/index.js';
import type { CipherSpec } from '../crypto/index.js';
import { KmipError } from '../errors.js';
import { bytes, text } from '../protocol/build.js';
import { optionalRequestId } from './common.js';
import { isKeyPairHalf } from './key-pair-use.js';
import { chargeUsage, cipherParameters, objectForUse, symmetricKeyOf } from './key-use.js';
import { encryptWithPublicKey } from './rsa-encryption.js';
import { encryptInHsm, isResident } from './hsm-resident.js';
import { operation } from './types.js';

interface EncryptRequest {
  id: string | undefined;
  params: TtlvItem | undefined;
  data: Buffer;
  iv: Buffer | undefined;
  aad: Buffer | undefined;
  correlation: Buffer | undefined;
  init: boolean;
  final: boolean;
}

interface EncryptStream {
  cipher: Cipher;
  spec: CipherSpec;
}

const copy = (b: Uint8Array | undefined): Buffer | undefined => (b === undefined ? undefined : Buffer.from(b));

export const encryptOperation = operation<EncryptRequest>({
  code: Enum.Operation.Encrypt,
  since: '1.2',
  decode: (payload) => ({
    id: optionalRequestId(payload),
    params: payload.optional(Tag.CryptographicParameters),
    data: copy(payload.optionalValue(Tag.Data, 'ByteString')) ?? Buffer.alloc(0),
    iv: copy(payload.optionalValue(Tag.IVCounterNonce, 'ByteString')),
    aad: copy(payload.optionalValue(Tag.AuthenticatedEncryptionAdditionalData, 'ByteString')),
    correlation: copy(payload.optionalValue(Tag.CorrelationValue, 'ByteString')),
    init: payload.optionalBoolean(Tag.InitIndicator) ?? false,
    final: payload.optionalBoolean(Tag.FinalIndicator) ?? false,
  }),
  handle: async (ctx, request) => {
    const inUse = await objectForUse(ctx, request.id, 'Encrypt');
    if (isKeyPairHalf(inUse)) return encryptWithPublicKey(ctx, inUse, request);
    if (isResident(inUse.body)) return encryptInHsm(ctx, inUse, request);
    const use = symmetricKeyOf(inUse);
    try {
      await chargeUsage(ctx, use, request.data.length);
      const out: TtlvItem[] = [text(Tag.UniqueIdentifier, use.obj.id)];
      if (request.correlation !== undefined) {
        // A later part of a multi-part encryption.
        const stream = ctx.streams.continue<EncryptStream>('encrypt', request.correlation, ctx.identity.name, use.obj.id);
        const { cipher, spec } = stream.state;
        const parts: Buffer[] = [cipher.update(request.data)];
        if (request.final) {
          parts.push(finish(() => cipher.final(), spec));
          ctx.streams.close(request.correlation);
        }
        out.push(bytes(Tag.Data, Buffer.concat(parts)));
        if (!request.final) out.push(bytes(Tag.CorrelationValue, request.correlation));
        if (request.final && spec.aead) out.push(bytes(Tag.AuthenticatedEncryptionTag, (cipher as CipherGCM).getAuthTag()));
        return out;
      }
      const params = cipherParameters(request.params, use);
      if (request.init && !request.final) {
        const { cipher, spec, generatedIv } = startEncrypt({ key: use.key, params, iv: request.iv, aad: request.aad });
        const data = cipher.update(request.data);
        const correlation = ctx.streams.open<EncryptStream>('encrypt', { owner: ctx.identity.name, objectId: use.obj.id, state: { cipher, spec } });
        out.push(bytes(Tag.Data, data));
        if (generatedIv !== undefined) out.push(bytes(Tag.IVCounterNonce, generatedIv));
        out.push(bytes(Tag.CorrelationValue, correlation));
        return out;
      }
      if (request.final && !request.init) throw new KmipError('InvalidField', 'a Final Indicator without Init Indicator needs the Correlation Value of the operation it ends');
      const result = encryptOnce({ key: use.key, params, data: request.data, iv: request.iv, aad: request.aad });
      out.push(bytes(Tag.Data, result.data));
      if (result.generatedIv !== undefined) out.push(bytes(Tag.IVCounterNonce, result.generatedIv));
      if (result.tag !== undefined) out.push(bytes(Tag.AuthenticatedEncryptionTag, result.tag));
      return out;
    } finally {
      use.key.fill(0);
    }
  },
});
