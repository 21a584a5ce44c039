/** Query (KMIP 2.1 section 6.1.40, 1.4 section 4.25): what this server supports. */
import { Enum, Tag, registry } from '../../ttlv/index.js';
import type { KmipVersion, TtlvItem } from '../../ttlv/index.js';
import { bool, enumeration, struct, text } from '../protocol/build.js';
import { atLeast, isV2 } from '../protocol/versions.js';
import { PRODUCT } from '../product.js';
import { serverRng } from './server-rng.js';
import { operationsFor } from './table.js';
import { operation } from './types.js';

/** Managed object types kmipd stores; each is reported to the versions that define it (Template to 1.x only). */
export const SUPPORTED_OBJECT_TYPES = [
  Enum.ObjectType.Certificate,
  Enum.ObjectType.SymmetricKey,
  Enum.ObjectType.PublicKey,
  Enum.ObjectType.PrivateKey,
  Enum.ObjectType.SplitKey,
  Enum.ObjectType.SecretData,
  Enum.ObjectType.OpaqueObject,
  Enum.ObjectType.PGPKey,
  Enum.ObjectType.CertificateRequest,
  Enum.ObjectType.Template,
] as const;

const F = Enum.QueryFunction;

export const query = operation<{ functions: Set<number> }>({
  code: Enum.Operation.Query,
  since: '1.0',
  decode: (payload) => ({ functions: new Set(payload.values(Tag.QueryFunction, 'Enumeration')) }),
  handle: async (ctx, { functions }) => {
    const out: TtlvItem[] = [];
    if (functions.has(F.QueryOperations)) {
      for (const op of operationsFor(ctx.version, ctx.testing)) out.push(enumeration(Tag.Operation, op.code));
    }
    if (functions.has(F.QueryObjects)) {
      for (const type of objectTypesFor(ctx.version)) out.push(enumeration(Tag.ObjectType, type));
    }
    if (functions.has(F.QueryServerInformation)) {
      out.push(text(Tag.VendorIdentification, PRODUCT.vendor), serverInformation(ctx.version));
    }
    // RNG Parameters arrived in KMIP 1.3.
    if (functions.has(F.QueryRNGs) && atLeast(ctx.version, '1.3')) out.push(serverRng(Tag.RNGParameters));
    if (functions.has(F.QueryCapabilities) && definesTag(ctx.version, Tag.CapabilityInformation)) out.push(capabilities());
    return out;
  },
});

function definesTag(version: KmipVersion, tag: number): boolean {
  const def = registry.tagByValue(tag);
  return def !== undefined && registry.definedIn(def, version);
}

/**
 * 2.1 section 7.5, what this server does: multi-part Encrypt/Decrypt/Sign (streaming), batch
 * Undo and Continue; no asynchronous operations or attestation. Destroy removes the
 * wrapped key material from the database (not shredded: SQLite may keep freed pages).
 */
function capabilities(): TtlvItem {
  return struct(Tag.CapabilityInformation, [
    bool(Tag.StreamingCapability, true),
    bool(Tag.AsynchronousCapability, false),
    bool(Tag.AttestationCapability, false),
    bool(Tag.BatchUndoCapability, true),
    bool(Tag.BatchContinueCapability, true),
    enumeration(Tag.UnwrapMode, Enum.UnwrapMode.NotProcessed),
    enumeration(Tag.DestroyAction, Enum.DestroyAction.KeyMaterialDeleted),
    enumeration(Tag.ShreddingAlgorithm, Enum.ShreddingAlgorithm.Unsupported),
    enumeration(Tag.RNGMode, Enum.RNGMode.SharedInstantiation),
  ]);
}

function objectTypesFor(version: KmipVersion): number[] {
  const def = registry.enumForTag(Tag.ObjectType);
  return SUPPORTED_OBJECT_TYPES.filter((type) => {
    const entry = def && registry.enumValueByValue(def, type, version);
    return entry !== undefined && registry.definedIn(entry, version);
  });
}

/** KMIP 1.x leaves Server Information to the vendor; 2.x names its fields. */
function serverInformation(version: KmipVersion): TtlvItem {
  if (!isV2(version)) return struct(Tag.ServerInformation, []);
  return struct(Tag.ServerInformation, [
    text(Tag.ServerName, PRODUCT.name),
    text(Tag.ServerVersion, PRODUCT.version),
    text(Tag.ProductName, PRODUCT.name),
  ]);
}
