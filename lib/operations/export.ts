/**
 * Export (KMIP 2.1 section 6.1.18, 1.4 section 4.40): the object with all its attributes,
 * for moving it to another server. Key Format Type, Key Wrap Type, Key Compression Type and
 * Key Wrapping Specification mean what they mean for Get; a destroyed object is exported
 * without its key material ("SHALL not be returned"), its attributes only.
 */
import { Enum, Tag } from '../../ttlv/index.js';
import { loadObject, optionalRequestId } from './common.js';
import { decodeServeRequest, markServed, serveObject } from './get.js';
import type { ServeRequest } from './get.js';
import { attributesFor } from './get-attributes.js';
import { enumeration, text } from '../protocol/build.js';
import { operation } from './types.js';

interface ExportRequest extends ServeRequest {
  readonly id: string | undefined;
}

export const exportOperation = operation<ExportRequest>({
  code: Enum.Operation.Export,
  since: '1.4',
  decode: (payload, ctx) => ({ id: optionalRequestId(payload), ...decodeServeRequest(payload, ctx) }),
  handle: async (ctx, request) => {
    const obj = await loadObject(ctx, request.id);
    const head = [enumeration(Tag.ObjectType, obj.objectType), text(Tag.UniqueIdentifier, obj.id)];
    if (obj.body === undefined) return [...head, ...attributesFor(ctx.version, obj.attributes)];
    const served = await serveObject(ctx, obj, request);
    const current = await markServed(ctx, obj);
    return [...head, ...attributesFor(ctx.version, current.attributes), served];
  },
});
