/**
 * Decrypt (KMIP 2.1 section 6.1.11, 1.4 section 4.31): symmetric decryption in one request,
 * or in several with Init Indicator, Correlation Value and Final Indicator; RSA with a
 * Private Key (rsa-encryption.ts).
 */
import { Enum, Tag } from '../../ttlv/index.js';
import type { TtlvItem } from '../../ttlv/index.js';
import type { Decipher } from 'node:crypto';
import { decrypt as decryptOnce, finish, setTag, startDecrypt } from '../crypto/index.js';
import type { CipherSpec } from '../crypto/index.js';
import { KmipError } from '../errors.js';
import { bytes, text } from '../protocol/build.js';
import { optionalRequestId } from './common.js';
import { isKeyPairHalf } from './key-pair-use.js';
import { cipherParameters, objectForUse, symmetricKeyOf } from './key-use.js';
import { decryptWithPrivateKey } from './rsa-encryption.js';
import { decryptInHsm, isResident } from './hsm-resident.js';
import { operation } from './types.js';

interface DecryptRequest {
  id: string | undefined;
  params: TtlvItem | undefined;
  data: Buffer;
  iv: Buffer | undefined;
  aad: Buffer | undefined;
  tag: Buffer | undefined;
  correlation: Buffer | undefined;
  init: boolean;
  final: boolean;
}

interface DecryptStream {
  decipher: Decipher;
  spec: CipherSpec;
}

const copy = (b: Uint8Array | undefined): Buffer | undefined => (b === undefined ? undefined : Buffer.from(b));

export const decryptOperation = operation<DecryptRequest>({
  code: Enum.Operation.Decrypt,
  since: '1.2',
  decode: (payload) => ({
    id: optionalRequestId(payload),
    params: payload.optional(Tag.CryptographicParameters),
    data: copy(payload.optionalValue(Tag.Data, 'ByteString')) ?? Buffer.alloc(0),
    iv: copy(payload.optionalValue(Tag.IVCounterNonce, 'ByteString')),
    aad: copy(payload.optionalValue(Tag.AuthenticatedEncryptionAdditionalData, 'ByteString')),
    tag: copy(payload.optionalValue(Tag.AuthenticatedEncryptionTag, 'ByteString')),
    correlation: copy(payload.optionalValue(Tag.CorrelationValue, 'ByteString')),
    init: payload.optionalBoolean(Tag.InitIndicator) ?? false,
    final: payload.optionalBoolean(Tag.FinalIndicator) ?? false,
  }),
  handle: async (ctx, request) => {
    const inUse = await objectForUse(ctx, request.id, 'Decrypt');
    if (isKeyPairHalf(inUse)) return decryptWithPrivateKey(inUse, request);
    if (isResident(inUse.body)) return decryptInHsm(ctx, inUse, request);
    const use = symmetricKeyOf(inUse);
    try {
      const out: TtlvItem[] = [text(Tag.UniqueIdentifier, use.obj.id)];
      if (request.correlation !== undefined) {
        const stream = ctx.streams.continue<DecryptStream>('decrypt', request.correlation, ctx.identity.name, use.obj.id);
        const { decipher, spec } = stream.state;
        const parts: Buffer[] = [decipher.update(request.data)];
        if (request.final) {
          if (spec.aead) {
            if (request.tag === undefined) throw new KmipError('InvalidField', 'the last part of an authenticated decryption needs the Authenticated Encryption Tag');
            setTag(decipher, request.tag);
          }
          parts.push(finish(() => decipher.final(), spec));
          ctx.streams.close(request.correlation);
        }
        out.push(bytes(Tag.Data, Buffer.concat(parts)));
        if (!request.final) out.push(bytes(Tag.CorrelationValue, request.correlation));
        return out;
      }
      const params = cipherParameters(request.params, use);
      if (request.init && !request.final) {
        const { decipher, spec } = startDecrypt({ key: use.key, params, iv: request.iv, aad: request.aad, tag: request.tag });
        const data = decipher.update(request.data);
        const correlation = ctx.streams.open<DecryptStream>('decrypt', { owner: ctx.identity.name, objectId: use.obj.id, state: { decipher, spec } });
        out.push(bytes(Tag.Data, data), bytes(Tag.CorrelationValue, correlation));
        return out;
      }
      if (request.final && !request.init) throw new KmipError('InvalidField', 'a Final Indicator without Init Indicator needs the Correlation Value of the operation it ends');
      const data = decryptOnce({ key: use.key, params, data: request.data, iv: request.iv, aad: request.aad, tag: request.tag });
      out.push(bytes(Tag.Data, data));
      return out;
    } finally {
      use.key.fill(0);
    }
  },
});
