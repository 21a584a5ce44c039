/**
 * Request payloads of the `kmip` command in the shape of the chosen protocol version:
 * KMIP 1.x carries attributes as Attribute{Attribute Name, Attribute Value} (inside a
 * Template-Attribute for Create and Register), KMIP 2.x as tagged items in Attributes
 * (1.4 section 2.1.1, 2.1 section 2.1.1).
 */
import { Enum, Tag, registry } from '../../ttlv/index.js';
import type { KmipVersion, TtlvItem } from '../../ttlv/index.js';
import { bytes, enumeration, int, struct, text } from './ttlv.js';

const isV2 = (version: KmipVersion): boolean => version.startsWith('2.');

/** An attribute by its own tag: Cryptographic Algorithm as an Enumeration 0x420028, Name as a Structure. */
export type AttributeItem = TtlvItem;

function v1Attribute(item: AttributeItem): TtlvItem {
  const name = registry.tagByValue(item.tag)?.name;
  if (name === undefined) throw new Error(`no attribute name for tag ${registry.tagHex(item.tag)}`);
  return struct(Tag.Attribute, [text(Tag.AttributeName, name), { ...item, tag: Tag.AttributeValue } as TtlvItem]);
}

/** Attributes of a Create or Register. */
function template(version: KmipVersion, attributes: readonly AttributeItem[]): TtlvItem {
  return isV2(version) ? struct(Tag.Attributes, attributes) : struct(Tag.TemplateAttribute, attributes.map(v1Attribute));
}

/** Attributes a Locate matches. */
function filter(version: KmipVersion, attributes: readonly AttributeItem[]): TtlvItem[] {
  if (isV2(version)) return [struct(Tag.Attributes, attributes)];
  return attributes.map(v1Attribute);
}

export const nameAttribute = (name: string): AttributeItem =>
  struct(Tag.Name, [text(Tag.NameValue, name), enumeration(Tag.NameType, Enum.NameType.UninterpretedTextString)]);

export const usageAttribute = (mask: number): AttributeItem => int(Tag.CryptographicUsageMask, mask);

export const idItem = (id: string): TtlvItem => text(Tag.UniqueIdentifier, id);

export interface CreateRequest {
  readonly algorithm: number;
  readonly length: number;
  readonly usage: number;
  readonly name?: string | undefined;
}

export function createPayload(version: KmipVersion, request: CreateRequest): TtlvItem[] {
  const attributes = [
    enumeration(Tag.CryptographicAlgorithm, request.algorithm),
    int(Tag.CryptographicLength, request.length),
    usageAttribute(request.usage),
    ...(request.name === undefined ? [] : [nameAttribute(request.name)]),
  ];
  return [enumeration(Tag.ObjectType, Enum.ObjectType.SymmetricKey), template(version, attributes)];
}

export interface RegisterKeyRequest {
  readonly algorithm: number;
  readonly material: Buffer;
  readonly usage: number;
  readonly name?: string | undefined;
}

export function registerKeyPayload(version: KmipVersion, request: RegisterKeyRequest): TtlvItem[] {
  const attributes = [usageAttribute(request.usage), ...(request.name === undefined ? [] : [nameAttribute(request.name)])];
  const keyBlock = struct(Tag.KeyBlock, [
    enumeration(Tag.KeyFormatType, Enum.KeyFormatType.Raw),
    struct(Tag.KeyValue, [bytes(Tag.KeyMaterial, request.material)]),
    enumeration(Tag.CryptographicAlgorithm, request.algorithm),
    int(Tag.CryptographicLength, request.material.length * 8),
  ]);
  return [enumeration(Tag.ObjectType, Enum.ObjectType.SymmetricKey), template(version, attributes), struct(Tag.SymmetricKey, [keyBlock])];
}

export interface RegisterSecretRequest {
  readonly secretType: number;
  readonly material: Buffer;
  readonly name?: string | undefined;
}

export function registerSecretPayload(version: KmipVersion, request: RegisterSecretRequest): TtlvItem[] {
  const attributes = request.name === undefined ? [] : [nameAttribute(request.name)];
  const keyBlock = struct(Tag.KeyBlock, [enumeration(Tag.KeyFormatType, Enum.KeyFormatType.Opaque), struct(Tag.KeyValue, [bytes(Tag.KeyMaterial, request.material)])]);
  return [
    enumeration(Tag.ObjectType, Enum.ObjectType.SecretData),
    template(version, attributes),
    struct(Tag.SecretData, [enumeration(Tag.SecretDataType, request.secretType), keyBlock]),
  ];
}

export function getPayload(id: string, keyFormat: number | undefined): TtlvItem[] {
  return [idItem(id), keyFormat === undefined ? undefined : enumeration(Tag.KeyFormatType, keyFormat)].filter((item): item is TtlvItem => item !== undefined);
}

export interface LocateRequest {
  readonly name?: string | undefined;
  readonly state?: number | undefined;
  readonly objectType?: number | undefined;
  readonly max?: number | undefined;
}

export function locatePayload(version: KmipVersion, request: LocateRequest): TtlvItem[] {
  const attributes: AttributeItem[] = [];
  if (request.objectType !== undefined) attributes.push(enumeration(Tag.ObjectType, request.objectType));
  if (request.state !== undefined) attributes.push(enumeration(Tag.State, request.state));
  if (request.name !== undefined) attributes.push(nameAttribute(request.name));
  return [...(request.max === undefined ? [] : [int(Tag.MaximumItems, request.max)]), ...filter(version, attributes)];
}

export function revokePayload(id: string, reason: number): TtlvItem[] {
  return [idItem(id), struct(Tag.RevocationReason, [enumeration(Tag.RevocationReasonCode, reason)])];
}

export interface CipherRequest {
  readonly mode: number;
  readonly padding?: number | undefined;
  /** Bytes of the GCM tag. */
  readonly tagLength?: number | undefined;
  readonly data: Buffer;
  readonly iv?: Buffer | undefined;
  readonly aad?: Buffer | undefined;
  /** Decrypt only: the GCM tag to check. */
  readonly tag?: Buffer | undefined;
}

/** Encrypt and Decrypt (2.1 sections 6.1.17 and 6.1.12): fields in the order the specification lists them. */
export function cipherPayload(id: string, request: CipherRequest): TtlvItem[] {
  const params = struct(Tag.CryptographicParameters, [
    enumeration(Tag.BlockCipherMode, request.mode),
    request.padding === undefined ? undefined : enumeration(Tag.PaddingMethod, request.padding),
    request.tagLength === undefined ? undefined : int(Tag.TagLength, request.tagLength),
  ]);
  return [
    idItem(id),
    params,
    bytes(Tag.Data, request.data),
    request.iv === undefined ? undefined : bytes(Tag.IVCounterNonce, request.iv),
    request.aad === undefined ? undefined : bytes(Tag.AuthenticatedEncryptionAdditionalData, request.aad),
    request.tag === undefined ? undefined : bytes(Tag.AuthenticatedEncryptionTag, request.tag),
  ].filter((item): item is TtlvItem => item !== undefined);
}

export function queryPayload(): TtlvItem[] {
  const F = Enum.QueryFunction;
  return [F.QueryOperations, F.QueryObjects, F.QueryServerInformation].map((f) => enumeration(Tag.QueryFunction, f));
}
