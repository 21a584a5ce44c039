/**
 * Get (KMIP 2.1 section 6.1.19, 1.4 section 4.11): the object itself, in the key format the
 * client asks for. Pre-Active keys are served (pg_tde never activates its keys); destroyed
 * ones are gone; archived ones must be recovered first.
 */
import { Enum, Tag } from '../../ttlv/index.js';
import type { TtlvItem } from '../../ttlv/index.js';
import { KmipError } from '../errors.js';
import { leafValue, withAttribute } from '../objects/managed.js';
import type { ManagedObject } from '../objects/types.js';
import { formatForVersion, inKeyFormat, sideOfStructure } from '../objects/asymmetric.js';
import { keyBlockOf, replaceKeyMaterial } from '../objects/structures.js';
import { bool, bytes, enumeration, struct, text } from '../protocol/build.js';
import type { Fields } from '../protocol/fields.js';
import { atLeast } from '../protocol/versions.js';
import { requireOnline } from './archive.js';
import { changed, loadObject, optionalRequestId, updateFromStored } from './common.js';
import { decodeWrappingSpec, encrypts, unwrapObject, wrapObject } from './key-wrapping.js';
import type { WrappingSpec } from './key-wrapping.js';
import { operation } from './types.js';
import { isResident, refuseResident } from './hsm-resident.js';
import type { OperationContext } from './types.js';

/** What Get and Export share (2.1 section 6.1.18: "the same semantics as for the Get operation"). */
export interface ServeRequest {
  readonly formatType: number | undefined;
  readonly compressionType: number | undefined;
  readonly wrapping: WrappingSpec | undefined;
  readonly wrapType: number | undefined;
}

interface GetRequest extends ServeRequest {
  readonly id: string | undefined;
}

const F = Enum.KeyFormatType;

export function decodeServeRequest(payload: Fields, ctx: OperationContext): ServeRequest {
  const spec = payload.optional(Tag.KeyWrappingSpecification);
  return {
    formatType: payload.optionalEnumeration(Tag.KeyFormatType),
    compressionType: payload.optionalEnumeration(Tag.KeyCompressionType),
    wrapping: spec === undefined ? undefined : decodeWrappingSpec(spec, ctx.version),
    wrapType: payload.optionalEnumeration(Tag.KeyWrapType),
  };
}

export const get = operation<GetRequest>({
  code: Enum.Operation.Get,
  since: '1.0',
  decode: (payload, ctx) => {
    const id = optionalRequestId(payload);
    const serve = decodeServeRequest(payload, ctx);
    // Field by field: V8 builds a spread followed by more properties on a slow path.
    return { id, formatType: serve.formatType, compressionType: serve.compressionType, wrapping: serve.wrapping, wrapType: serve.wrapType };
  },
  handle: async (ctx, request) => {
    const obj = await loadObject(ctx, request.id);
    const served = await serveObject(ctx, obj, request);
    await markServed(ctx, obj);
    return [enumeration(Tag.ObjectType, obj.objectType), text(Tag.UniqueIdentifier, obj.id), served];
  },
});

/** The object's structure as the request asks: in its key format, wrapped or unwrapped. */
export async function serveObject(ctx: OperationContext, obj: ManagedObject, request: ServeRequest): Promise<TtlvItem> {
  // Only an encrypted Key Value keeps a Sensitive key secret; MAC/sign alone does not.
  const stored = servable(ctx, obj, { wrapped: request.wrapping !== undefined && encrypts(request.wrapping) });
  // Only Not Wrapped has anything to wait for.
  const body = request.wrapType === Enum.KeyWrapType.NotWrapped ? await withWrapType(ctx, obj, stored, request) : stored;
  const formatType = request.formatType ?? formatForVersion(body, ctx.version);
  const converted = formatType === undefined ? body : inFormat(body, formatType);
  return request.wrapping === undefined ? converted : wrapObject(ctx, obj, converted, request.wrapping);
}

/** 1.4 section 3.34: Fresh turns False once the object has been served to a client. */
export async function markServed(ctx: OperationContext, obj: ManagedObject): Promise<ManagedObject> {
  // Concurrent first Gets all see it Fresh: one marks it, the others find it marked.
  return updateFromStored(ctx, obj, (current) => (leafValue(current, 'Fresh', 'Boolean') === true ? changed(ctx, withAttribute(current, 'Fresh', bool(Tag.Fresh, false))) : undefined));
}

/**
 * 2.1 section 6.1.19 Key Wrap Type: As Registered is the key as it is stored; Not Wrapped
 * asks for plain material: a key stored wrapped is unwrapped when its wrapping keys are
 * the owner's keys on this server and allow Unwrap Key, and refused otherwise.
 */
async function withWrapType(ctx: OperationContext, obj: ManagedObject, body: TtlvItem, request: ServeRequest): Promise<TtlvItem> {
  if (request.wrapType !== Enum.KeyWrapType.NotWrapped) return body;
  if (request.wrapping !== undefined) throw new KmipError('InvalidField', 'Key Wrap Type Not Wrapped contradicts the Key Wrapping Specification');
  if (keyBlockOf(body)?.wrapped !== true) return body;
  if (!keyBlockHasWrappingData(body)) {
    throw new KmipError('KeyWrapTypeNotSupported', `object ${obj.id} was registered wrapped without Key Wrapping Data; it is served only as registered`);
  }
  const unwrapped = await unwrapObject(ctx, obj, obj.objectType, body, 'when-held');
  if (unwrapped === body) {
    throw new KmipError('KeyWrapTypeNotSupported', `object ${obj.id} was registered wrapped under keys this server does not hold for its owner; it is served only as registered`);
  }
  return unwrapped;
}

function keyBlockHasWrappingData(body: TtlvItem): boolean {
  const block = body.type === 'Structure' ? body.value.find((child) => child.tag === Tag.KeyBlock) : undefined;
  return block?.type === 'Structure' && block.value.some((child) => child.tag === Tag.KeyWrappingData);
}

/**
 * The object's structure, if it may leave the server now. A Sensitive object leaves only
 * `wrapped` (2.1 section 4.55).
 */
export function servable(ctx: OperationContext, obj: ManagedObject, options: { wrapped: boolean } = { wrapped: false }): TtlvItem {
  if (obj.body === undefined) {
    // 2.1 names the case; older versions only know Item Not Found (INTEROP.md).
    throw new KmipError(atLeast(ctx.version, '2.1') ? 'ObjectDestroyed' : 'ItemNotFound', `object ${obj.id} has been destroyed`);
  }
  requireOnline(obj);
  if (isResident(obj.body)) refuseResident(obj, options.wrapped);
  if (leafValue(obj, 'Extractable', 'Boolean') === false) {
    throw new KmipError('NotExtractable', `object ${obj.id} is not extractable`);
  }
  if (leafValue(obj, 'Sensitive', 'Boolean') === true && !options.wrapped) {
    throw new KmipError('Sensitive', `object ${obj.id} is sensitive: it may only leave the server wrapped`);
  }
  return obj.body;
}

/** The object with its Key Block in `formatType`, converting where the formats allow. */
function inFormat(body: TtlvItem, formatType: number): TtlvItem {
  const view = keyBlockOf(body);
  if (view === undefined) {
    // Certificates, opaque objects: Key Format Type does not apply; only their own format is served.
    throw new KmipError('KeyFormatTypeNotSupported', 'Key Format Type applies only to objects with a Key Block');
  }
  if (view.formatType === formatType) return body;
  if (view.wrapped || view.material === undefined) {
    throw new KmipError('KeyFormatTypeNotSupported', 'the stored key is wrapped and cannot be converted');
  }
  const side = sideOfStructure(body);
  if (side !== undefined) return inKeyFormat(side, body, formatType);
  const raw = rawMaterial(view.formatType, view.material);
  if (raw !== undefined && (formatType === F.Raw || formatType === F.Opaque || formatType === F.TransparentSymmetricKey)) {
    const material = formatType === F.TransparentSymmetricKey ? struct(Tag.KeyMaterial, [bytes(Tag.Key, raw)]) : bytes(Tag.KeyMaterial, raw);
    return replaceKeyMaterial(body, formatType, material);
  }
  throw new KmipError('KeyFormatTypeNotSupported', `the key cannot be converted to Key Format Type 0x${formatType.toString(16).padStart(8, '0')}`);
}

/** The plain key bytes of a symmetric or secret key, in Raw/Opaque or Transparent Symmetric form. */
function rawMaterial(formatType: number, material: TtlvItem): Uint8Array | undefined {
  if ((formatType === F.Raw || formatType === F.Opaque) && material.type === 'ByteString') return material.value;
  if (formatType === F.TransparentSymmetricKey && material.type === 'Structure') {
    const key = material.value.find((child) => child.tag === Tag.Key);
    if (key?.type === 'ByteString') return key.value;
  }
  return undefined;
}

