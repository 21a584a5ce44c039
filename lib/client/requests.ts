/**
 * One typed request builder per operation. A builder holds the operation, its payload in
 * the shape of the negotiated version, and the reader of its answer; KmipClient runs one,
 * a Batch runs several in one message. Identifiers are optional wherever the
 * specification lets the server use the ID Placeholder (the identifier an earlier batch
 * item returned).
 */
import { Enum, Tag, registry } from '../../ttlv/index.js';
import type { KmipVersion, StructureItem, TtlvItem } from '../../ttlv/index.js';
import { attributeByName, attributeByTag, nameToAttributeReference } from '../attributes/index.js';
import { attributeDef, attributesShape, readInstances, toAttributeSet, toInstances, wireAttribute } from './attributes.js';
import type { AttributeInstance, AttributeSet, Attributes, ObjectTypeName, StateName, UsageName } from './attributes.js';
import { invalidArgument } from './errors.js';
import { protocolVersion } from './message.js';
import { enumName, enumValue, enumXmlName } from './names.js';
import { objectItems, readObject, wrappingSpecification } from './objects.js';
import type { KeyFormatName, ManagedObject, ManagedObjectInput } from './objects.js';
import { child, children, enumeration, int, optionalChild, struct, text } from './ttlv.js';
import { fromItem, tagOfKey, toItem } from './values.js';
import type { KmipStruct, KmipValue } from './values.js';

export interface OperationRequest<T> {
  /** The Operation enumeration value. */
  readonly operation: number;
  /** Changes nothing on the server: safe to send again after a dropped connection. */
  readonly idempotent: boolean;
  payload(version: KmipVersion): TtlvItem[];
  parse(payload: StructureItem, version: KmipVersion): T;
}

export const operationName = (operation: number, version?: KmipVersion): string => enumName(Tag.Operation, operation, version);

const isV1 = (version: KmipVersion): boolean => version.startsWith('1.');
const present = (items: readonly (TtlvItem | undefined)[]): TtlvItem[] => items.filter((item): item is TtlvItem => item !== undefined);
const idItem = (id: string | undefined): TtlvItem | undefined => (id === undefined ? undefined : text(Tag.UniqueIdentifier, id));
const uid = (payload: StructureItem): string => child(payload, Tag.UniqueIdentifier, 'TextString').value;

/** Items of a plain request object, key by key, in the order given (the specification's order). */
function plainItems(fields: KmipStruct, version: KmipVersion): TtlvItem[] {
  const items: TtlvItem[] = [];
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    const tag = tagOfKey(key);
    const list = Array.isArray(value) && registry.maskForTag(tag) === undefined ? (value as readonly KmipValue[]) : [value];
    for (const one of list) items.push(toItem(tag, one, version, key));
  }
  return items;
}

/** An operation whose request and answer are plain fields (the cryptographic ones, Check, ...). */
function plain<T>(operation: number, fields: KmipStruct, idempotent: boolean): OperationRequest<T> {
  return { operation, idempotent, payload: (version) => plainItems(fields, version), parse: (payload, version) => fromItem(payload, version) as T };
}

/** Attributes, or a raw list of instances already built. */
export type AttributesInput = Attributes | readonly AttributeInstance[];

const instancesOf = (input: AttributesInput | undefined, version: KmipVersion): AttributeInstance[] =>
  input === undefined ? [] : Array.isArray(input) ? (input as readonly AttributeInstance[]).slice() : toInstances(input as Attributes, version);

const attributesItems = (input: AttributesInput | undefined, version: KmipVersion, v1: number | null, v2: number): TtlvItem[] =>
  input === undefined && v1 === null ? [] : attributesShape(instancesOf(input, version), version, { v1, v2 });

export interface IdResult {
  readonly uniqueIdentifier: string;
}

const idRequest = (operation: number, id: string | undefined, idempotent = false): OperationRequest<IdResult> => ({
  operation,
  idempotent,
  payload: () => present([idItem(id)]),
  parse: (payload) => ({ uniqueIdentifier: uid(payload) }),
});

// ---------------------------------------------------------------------------------------
// Objects: create, register, re-key

export interface CreateRequest {
  /** Symmetric Key by default. */
  readonly objectType?: ObjectTypeName;
  readonly attributes: AttributesInput;
}

export function create(request: CreateRequest): OperationRequest<IdResult & { objectType: ObjectTypeName }> {
  return {
    operation: Enum.Operation.Create,
    idempotent: false,
    payload: (v) => [enumeration(Tag.ObjectType, Enum.ObjectType[request.objectType ?? 'SymmetricKey']), ...attributesItems(request.attributes, v, Tag.TemplateAttribute, Tag.Attributes)],
    parse: (payload, v) => ({ uniqueIdentifier: uid(payload), objectType: enumXmlName(Tag.ObjectType, child(payload, Tag.ObjectType, 'Enumeration').value, v) as ObjectTypeName }),
  };
}

export interface KeyPairRequest {
  readonly commonAttributes?: AttributesInput;
  readonly privateKeyAttributes?: AttributesInput;
  readonly publicKeyAttributes?: AttributesInput;
}

export interface KeyPairResult {
  readonly privateKeyUniqueIdentifier: string;
  readonly publicKeyUniqueIdentifier: string;
}

function keyPairItems(request: KeyPairRequest, v: KmipVersion): TtlvItem[] {
  const part = (input: AttributesInput | undefined, v1: number, v2: number): TtlvItem[] => (input === undefined ? [] : attributesItems(input, v, v1, v2));
  return [
    ...part(request.commonAttributes, Tag.CommonTemplateAttribute, Tag.CommonAttributes),
    ...part(request.privateKeyAttributes, Tag.PrivateKeyTemplateAttribute, Tag.PrivateKeyAttributes),
    ...part(request.publicKeyAttributes, Tag.PublicKeyTemplateAttribute, Tag.PublicKeyAttributes),
  ];
}

const keyPairResult = (payload: StructureItem): KeyPairResult => ({
  privateKeyUniqueIdentifier: child(payload, Tag.PrivateKeyUniqueIdentifier, 'TextString').value,
  publicKeyUniqueIdentifier: child(payload, Tag.PublicKeyUniqueIdentifier, 'TextString').value,
});

export function createKeyPair(request: KeyPairRequest): OperationRequest<KeyPairResult> {
  return { operation: Enum.Operation.CreateKeyPair, idempotent: false, payload: (v) => keyPairItems(request, v), parse: keyPairResult };
}

export interface RegisterRequest {
  readonly object: ManagedObjectInput;
  readonly attributes?: AttributesInput;
}

export function register(request: RegisterRequest): OperationRequest<IdResult> {
  return {
    operation: Enum.Operation.Register,
    idempotent: false,
    payload: (v) => {
      const { objectType, object } = objectItems(request.object, v);
      return [enumeration(Tag.ObjectType, objectType), ...attributesItems(request.attributes ?? {}, v, Tag.TemplateAttribute, Tag.Attributes), object];
    },
    parse: (payload) => ({ uniqueIdentifier: uid(payload) }),
  };
}

export interface ReKeyRequest {
  readonly uniqueIdentifier?: string;
  /** Seconds between the new key's Initialization Date and its Activation Date. */
  readonly offset?: number;
  readonly attributes?: AttributesInput;
}

export function reKey(request: ReKeyRequest = {}): OperationRequest<IdResult> {
  return {
    operation: Enum.Operation.ReKey,
    idempotent: false,
    payload: (v) =>
      present([
        idItem(request.uniqueIdentifier),
        request.offset === undefined ? undefined : toItem(Tag.Offset, request.offset, v),
        ...(request.attributes === undefined ? [] : attributesItems(request.attributes, v, Tag.TemplateAttribute, Tag.Attributes)),
      ]),
    parse: (payload) => ({ uniqueIdentifier: uid(payload) }),
  };
}

export interface ReKeyKeyPairRequest extends KeyPairRequest {
  readonly privateKeyUniqueIdentifier?: string;
  readonly offset?: number;
}

export function reKeyKeyPair(request: ReKeyKeyPairRequest = {}): OperationRequest<KeyPairResult> {
  return {
    operation: Enum.Operation.ReKeyKeyPair,
    idempotent: false,
    payload: (v) =>
      present([
        request.privateKeyUniqueIdentifier === undefined ? undefined : text(Tag.PrivateKeyUniqueIdentifier, request.privateKeyUniqueIdentifier),
        request.offset === undefined ? undefined : toItem(Tag.Offset, request.offset, v),
        ...keyPairItems(request, v),
      ]),
    parse: keyPairResult,
  };
}

/** Derive Key (2.1 section 6.1.13): the derived key's identifier. */
export interface DeriveKeyRequest {
  readonly objectType?: ObjectTypeName;
  readonly uniqueIdentifiers: readonly string[];
  readonly derivationMethod: keyof typeof Enum.DerivationMethod;
  readonly derivationParameters: KmipStruct;
  readonly attributes: AttributesInput;
}

export function deriveKey(request: DeriveKeyRequest): OperationRequest<IdResult> {
  return {
    operation: Enum.Operation.DeriveKey,
    idempotent: false,
    payload: (v) => [
      enumeration(Tag.ObjectType, Enum.ObjectType[request.objectType ?? 'SymmetricKey']),
      ...request.uniqueIdentifiers.map((id) => text(Tag.UniqueIdentifier, id)),
      enumeration(Tag.DerivationMethod, Enum.DerivationMethod[request.derivationMethod]),
      toItem(Tag.DerivationParameters, request.derivationParameters, v),
      ...attributesItems(request.attributes, v, Tag.TemplateAttribute, Tag.Attributes),
    ],
    parse: (payload) => ({ uniqueIdentifier: uid(payload) }),
  };
}

/** Certify (2.1 section 6.1.7): a certificate for a public key, or from a request. */
export interface CertifyRequest {
  readonly uniqueIdentifier?: string;
  readonly certificateRequestType?: keyof typeof Enum.CertificateRequestType;
  readonly certificateRequestValue?: Uint8Array;
  readonly attributes?: AttributesInput;
}

export function certify(request: CertifyRequest = {}): OperationRequest<IdResult> {
  return {
    operation: Enum.Operation.Certify,
    idempotent: false,
    payload: (v) =>
      present([
        idItem(request.uniqueIdentifier),
        request.certificateRequestType === undefined ? undefined : enumeration(Tag.CertificateRequestType, Enum.CertificateRequestType[request.certificateRequestType]),
        request.certificateRequestValue === undefined ? undefined : toItem(Tag.CertificateRequestValue, request.certificateRequestValue, v),
        ...(request.attributes === undefined ? [] : attributesItems(request.attributes, v, Tag.TemplateAttribute, Tag.Attributes)),
      ]),
    parse: (payload) => ({ uniqueIdentifier: uid(payload) }),
  };
}

// ---------------------------------------------------------------------------------------
// Finding and reading

export interface LocateRequest {
  readonly attributes?: AttributesInput;
  readonly maximumItems?: number;
  readonly offsetItems?: number;
  /** 'OnLineStorage', 'ArchivalStorage', 'DestroyedStorage' (2.x). */
  readonly storageStatusMask?: readonly string[];
  readonly objectGroupMember?: 'GroupMemberFresh' | 'GroupMemberDefault';
}

export interface LocateResult {
  readonly uniqueIdentifiers: string[];
  /** How many objects matched in all (when the server says). */
  readonly locatedItems: number | undefined;
}

export function locate(request: LocateRequest = {}): OperationRequest<LocateResult> {
  return {
    operation: Enum.Operation.Locate,
    idempotent: true,
    payload: (v) =>
      present([
        request.maximumItems === undefined ? undefined : int(Tag.MaximumItems, request.maximumItems),
        request.offsetItems === undefined ? undefined : int(Tag.OffsetItems, request.offsetItems),
        request.storageStatusMask === undefined ? undefined : toItem(Tag.StorageStatusMask, request.storageStatusMask, v),
        request.objectGroupMember === undefined ? undefined : enumeration(Tag.ObjectGroupMember, Enum.ObjectGroupMember[request.objectGroupMember]),
        ...attributesItems(request.attributes ?? {}, v, null, Tag.Attributes),
      ]),
    parse: (payload) => ({
      uniqueIdentifiers: children(payload, Tag.UniqueIdentifier, 'TextString').map((item) => item.value),
      locatedItems: optionalChild(payload, Tag.LocatedItems, 'Integer')?.value,
    }),
  };
}

export interface CheckRequest {
  readonly uniqueIdentifier?: string;
  readonly usageLimitsCount?: bigint | number;
  readonly cryptographicUsageMask?: readonly UsageName[];
  readonly leaseTime?: number;
}

export interface CheckResult {
  readonly uniqueIdentifier: string;
  readonly usageLimitsCount?: bigint;
  readonly cryptographicUsageMask?: UsageName[];
  readonly leaseTime?: number;
}

export const check = (request: CheckRequest = {}): OperationRequest<CheckResult> => plain(Enum.Operation.Check, { ...request }, true);

export interface GetRequest {
  readonly uniqueIdentifier?: string;
  readonly keyFormatType?: KeyFormatName;
  readonly keyCompressionType?: keyof typeof Enum.KeyCompressionType;
  /** 'AsRegistered' or 'NotWrapped'. */
  readonly keyWrapType?: keyof typeof Enum.KeyWrapType;
  /**
   * Wrap the key under another: `{ wrappingMethod: 'Encrypt', encryptionKeyInformation:
   * { uniqueIdentifier, cryptographicParameters: { blockCipherMode: 'NISTKeyWrap' } } }`.
   */
  readonly keyWrappingSpecification?: KmipStruct;
}

export interface GetResult {
  readonly uniqueIdentifier: string;
  readonly object: ManagedObject;
}

export function get(request: GetRequest = {}): OperationRequest<GetResult> {
  return {
    operation: Enum.Operation.Get,
    idempotent: true,
    payload: (v) =>
      present([
        idItem(request.uniqueIdentifier),
        request.keyFormatType === undefined ? undefined : enumeration(Tag.KeyFormatType, enumValue(Tag.KeyFormatType, request.keyFormatType, 'keyFormatType', v)),
        request.keyWrapType === undefined ? undefined : enumeration(Tag.KeyWrapType, Enum.KeyWrapType[request.keyWrapType]),
        request.keyCompressionType === undefined ? undefined : enumeration(Tag.KeyCompressionType, Enum.KeyCompressionType[request.keyCompressionType]),
        request.keyWrappingSpecification === undefined ? undefined : wrappingSpecification(request.keyWrappingSpecification, v),
      ]),
    parse: (payload, v) => ({ uniqueIdentifier: uid(payload), object: readObject(payload, v) }),
  };
}

/** An attribute named by key (`cryptographicLength`), specification name, or custom name (`x-Department`). */
function referenceItem(name: string, version: KmipVersion): TtlvItem {
  const def = attributeByName(name) ?? attributeDef(name);
  const reference = nameToAttributeReference(def.name, version);
  if (reference === undefined) throw invalidArgument(`KMIP ${version} cannot name the attribute ${def.name}`);
  return reference;
}

export interface GetAttributesResult {
  readonly uniqueIdentifier: string;
  readonly attributes: AttributeSet;
  /** Every instance as TTLV under the attribute's own tag. */
  readonly instances: AttributeInstance[];
}

export function getAttributes(request: { uniqueIdentifier?: string; attributeNames?: readonly string[] } = {}): OperationRequest<GetAttributesResult> {
  return {
    operation: Enum.Operation.GetAttributes,
    idempotent: true,
    payload: (v) => present([idItem(request.uniqueIdentifier), ...(request.attributeNames ?? []).map((name) => referenceItem(name, v))]),
    parse: (payload, v) => {
      const v2 = optionalChild(payload, Tag.Attributes, 'Structure');
      const instances = readInstances(v2 === undefined ? children(payload, Tag.Attribute, 'Structure') : v2.value);
      return { uniqueIdentifier: uid(payload), attributes: toAttributeSet(instances, v), instances };
    },
  };
}

export function getAttributeList(uniqueIdentifier?: string): OperationRequest<{ uniqueIdentifier: string; attributeNames: string[] }> {
  return {
    operation: Enum.Operation.GetAttributeList,
    idempotent: true,
    payload: () => present([idItem(uniqueIdentifier)]),
    parse: (payload) => ({
      uniqueIdentifier: uid(payload),
      attributeNames: payload.value.flatMap((item) => {
        if (item.tag === Tag.AttributeName && item.type === 'TextString') return [item.value];
        if (item.tag !== Tag.AttributeReference) return [];
        if (item.type === 'Enumeration') return [attributeNameOfTag(item.value)];
        if (item.type !== 'Structure') return [];
        const field = (tag: number): string => optionalChild(item, tag, 'TextString')?.value ?? '';
        return [`${field(Tag.VendorIdentification)}-${field(Tag.AttributeName)}`];
      }),
    }),
  };
}

const attributeNameOfTag = (tag: number): string => attributeByTag(tag)?.name ?? registry.tagHex(tag);

// ---------------------------------------------------------------------------------------
// Changing attributes

/** One attribute instance: `{ objectGroup: 'backup' }`, `{ name: 'k1' }`, `{ 'x-Department': 'finance' }`. */
export type OneAttribute = Attributes;

function single(attribute: OneAttribute, version: KmipVersion): AttributeInstance {
  const instances = toInstances(attribute, version);
  const [only, ...rest] = instances;
  if (only === undefined || rest.length > 0) throw invalidArgument(`give exactly one attribute value, not ${instances.length}`);
  return only;
}

const attributeResult = (payload: StructureItem): IdResult => ({ uniqueIdentifier: uid(payload) });

export function addAttribute(request: { uniqueIdentifier?: string; attribute: OneAttribute }): OperationRequest<IdResult> {
  return {
    operation: Enum.Operation.AddAttribute,
    idempotent: false,
    payload: (v) => {
      const instance = single(request.attribute, v);
      return present([idItem(request.uniqueIdentifier), isV1(v) ? wireAttribute(instance, v) : struct(Tag.NewAttribute, [wireAttribute(instance, v)])]);
    },
    parse: attributeResult,
  };
}

/**
 * Modify Attribute: the new value of a single-valued attribute; for a multi-valued one,
 * `current` says which instance changes (2.x Current Attribute; 1.x uses its index).
 */
export function modifyAttribute(request: { uniqueIdentifier?: string; attribute: OneAttribute; current?: OneAttribute; attributeIndex?: number }): OperationRequest<IdResult> {
  return {
    operation: Enum.Operation.ModifyAttribute,
    idempotent: false,
    payload: (v) => {
      const instance = single(request.attribute, v);
      if (isV1(v)) {
        const item = wireAttribute(instance, v) as StructureItem;
        const index = request.attributeIndex === undefined ? [] : [int(Tag.AttributeIndex, request.attributeIndex)];
        const [name, ...rest] = item.value;
        return present([idItem(request.uniqueIdentifier), struct(Tag.Attribute, [name, ...index, ...rest])]);
      }
      const current = request.current === undefined ? undefined : struct(Tag.CurrentAttribute, [wireAttribute(single(request.current, v), v)]);
      return present([idItem(request.uniqueIdentifier), current, struct(Tag.NewAttribute, [wireAttribute(instance, v)])]);
    },
    parse: attributeResult,
  };
}

/** Set Attribute (2.0 and later): the one value of a single-valued attribute, added or replaced. */
export function setAttribute(request: { uniqueIdentifier?: string; attribute: OneAttribute }): OperationRequest<IdResult> {
  return {
    operation: Enum.Operation.SetAttribute,
    idempotent: false,
    payload: (v) => present([idItem(request.uniqueIdentifier), struct(Tag.NewAttribute, [wireAttribute(single(request.attribute, v), v)])]),
    parse: attributeResult,
  };
}

/** Delete Attribute: every instance of `attributeName`, or the one equal to `current` (2.x) / at `attributeIndex` (1.x). */
export function deleteAttribute(request: { uniqueIdentifier?: string; attributeName?: string; current?: OneAttribute; attributeIndex?: number }): OperationRequest<IdResult> {
  return {
    operation: Enum.Operation.DeleteAttribute,
    idempotent: false,
    payload: (v) => {
      const name = request.attributeName ?? (request.current === undefined ? undefined : single(request.current, v).name);
      if (name === undefined) throw invalidArgument('say which attribute to delete: attributeName or current');
      if (isV1(v)) {
        return present([idItem(request.uniqueIdentifier), referenceItem(name, v), request.attributeIndex === undefined ? undefined : int(Tag.AttributeIndex, request.attributeIndex)]);
      }
      const target = request.current === undefined ? referenceItem(name, v) : struct(Tag.CurrentAttribute, [wireAttribute(single(request.current, v), v)]);
      return present([idItem(request.uniqueIdentifier), target]);
    },
    parse: attributeResult,
  };
}

// ---------------------------------------------------------------------------------------
// Lifecycle

export const activate = (uniqueIdentifier?: string): OperationRequest<IdResult> => idRequest(Enum.Operation.Activate, uniqueIdentifier);
export const destroy = (uniqueIdentifier?: string): OperationRequest<IdResult> => idRequest(Enum.Operation.Destroy, uniqueIdentifier);
export const archive = (uniqueIdentifier?: string): OperationRequest<IdResult> => idRequest(Enum.Operation.Archive, uniqueIdentifier);
export const recover = (uniqueIdentifier?: string): OperationRequest<IdResult> => idRequest(Enum.Operation.Recover, uniqueIdentifier);

export interface RevokeRequest {
  readonly uniqueIdentifier?: string;
  /** 'CessationOfOperation' by default; 'KeyCompromise' makes the object Compromised. */
  readonly reason?: keyof typeof Enum.RevocationReasonCode;
  readonly message?: string;
  /** Required with KeyCompromise and CACompromise. */
  readonly compromiseOccurrenceDate?: Date;
}

export function revoke(request: RevokeRequest = {}): OperationRequest<IdResult> {
  return {
    operation: Enum.Operation.Revoke,
    idempotent: false,
    payload: (v) =>
      present([
        idItem(request.uniqueIdentifier),
        struct(Tag.RevocationReason, [
          enumeration(Tag.RevocationReasonCode, Enum.RevocationReasonCode[request.reason ?? 'CessationOfOperation']),
          request.message === undefined ? undefined : text(Tag.RevocationMessage, request.message),
        ]),
        request.compromiseOccurrenceDate === undefined ? undefined : toItem(Tag.CompromiseOccurrenceDate, request.compromiseOccurrenceDate, v),
      ]),
    parse: attributeResult,
  };
}

export const obtainLease = (uniqueIdentifier?: string): OperationRequest<{ uniqueIdentifier: string; leaseTime: number; lastChangeDate: Date }> =>
  plain(Enum.Operation.ObtainLease, { uniqueIdentifier }, false);

export const getUsageAllocation = (request: { uniqueIdentifier?: string; usageLimitsCount: bigint | number }): OperationRequest<IdResult> =>
  plain(Enum.Operation.GetUsageAllocation, { ...request }, false);

// ---------------------------------------------------------------------------------------
// Server information

export type QueryFunctionName = keyof typeof Enum.QueryFunction;

export interface QueryResult {
  /** Operation names as the specification writes them ("Re-key"). */
  readonly operations: string[];
  readonly objectTypes: ObjectTypeName[];
  readonly vendorIdentification: string | undefined;
  readonly serverInformation: KmipStruct | undefined;
  /** The whole answer as plain values. */
  readonly all: KmipStruct;
}

export function query(functions: readonly QueryFunctionName[] = ['QueryOperations', 'QueryObjects', 'QueryServerInformation']): OperationRequest<QueryResult> {
  return {
    operation: Enum.Operation.Query,
    idempotent: true,
    payload: () => functions.map((f) => enumeration(Tag.QueryFunction, Enum.QueryFunction[f])),
    parse: (payload, v) => {
      const info = optionalChild(payload, Tag.ServerInformation, 'Structure');
      return {
        operations: children(payload, Tag.Operation, 'Enumeration').map((op) => enumName(Tag.Operation, op.value, v)),
        objectTypes: children(payload, Tag.ObjectType, 'Enumeration').map((type) => enumXmlName(Tag.ObjectType, type.value, v) as ObjectTypeName),
        vendorIdentification: optionalChild(payload, Tag.VendorIdentification, 'TextString')?.value,
        serverInformation: info === undefined ? undefined : (fromItem(info, v) as KmipStruct),
        all: fromItem(payload, v) as KmipStruct,
      };
    },
  };
}

/** Discover Versions: the versions the server speaks among `offered` (all when empty), preferred first. */
export function discoverVersions(offered: readonly KmipVersion[] = []): OperationRequest<string[]> {
  return {
    operation: Enum.Operation.DiscoverVersions,
    idempotent: true,
    payload: () => offered.map(protocolVersion),
    parse: (payload) =>
      children(payload, Tag.ProtocolVersion, 'Structure').map((pv) => `${child(pv, Tag.ProtocolVersionMajor, 'Integer').value}.${child(pv, Tag.ProtocolVersionMinor, 'Integer').value}`),
  };
}

// ---------------------------------------------------------------------------------------
// Cryptographic services

/** Cryptographic Parameters: `{ blockCipherMode: 'GCM', tagLength: 16 }`, `{ hashingAlgorithm: 'SHA_256' }`, ... */
export type CryptographicParameters = KmipStruct;

export interface StreamFields {
  readonly correlationValue?: Uint8Array;
  readonly initIndicator?: boolean;
  readonly finalIndicator?: boolean;
}

export interface EncryptRequest extends StreamFields {
  readonly uniqueIdentifier?: string;
  readonly cryptographicParameters?: CryptographicParameters;
  readonly data: Uint8Array;
  readonly ivCounterNonce?: Uint8Array;
  readonly authenticatedEncryptionAdditionalData?: Uint8Array;
}

export interface EncryptResult {
  readonly uniqueIdentifier: string;
  readonly data?: Uint8Array;
  readonly ivCounterNonce?: Uint8Array;
  readonly authenticatedEncryptionTag?: Uint8Array;
  readonly correlationValue?: Uint8Array;
}

export const encrypt = (request: EncryptRequest): OperationRequest<EncryptResult> => plain(Enum.Operation.Encrypt, cryptoFields(request), false);

export interface DecryptRequest extends EncryptRequest {
  readonly authenticatedEncryptionTag?: Uint8Array;
}

export const decrypt = (request: DecryptRequest): OperationRequest<{ uniqueIdentifier: string; data?: Uint8Array; correlationValue?: Uint8Array }> =>
  plain(Enum.Operation.Decrypt, cryptoFields(request), false);

export interface SignRequest extends StreamFields {
  readonly uniqueIdentifier?: string;
  readonly cryptographicParameters?: CryptographicParameters;
  /** The data to sign, or `digestedData` already hashed. */
  readonly data?: Uint8Array;
  readonly digestedData?: Uint8Array;
}

export const sign = (request: SignRequest): OperationRequest<{ uniqueIdentifier: string; signatureData?: Uint8Array; correlationValue?: Uint8Array }> =>
  plain(Enum.Operation.Sign, cryptoFields(request), false);

export type ValidityName = keyof typeof Enum.ValidityIndicator;

export interface SignatureVerifyRequest extends SignRequest {
  readonly signatureData?: Uint8Array;
}

export const signatureVerify = (request: SignatureVerifyRequest): OperationRequest<{ uniqueIdentifier: string; validityIndicator: ValidityName }> =>
  plain(Enum.Operation.SignatureVerify, cryptoFields(request), false);

export interface MacRequest extends StreamFields {
  readonly uniqueIdentifier?: string;
  readonly cryptographicParameters?: CryptographicParameters;
  readonly data?: Uint8Array;
}

export const mac = (request: MacRequest): OperationRequest<{ uniqueIdentifier: string; macData?: Uint8Array; correlationValue?: Uint8Array }> =>
  plain(Enum.Operation.MAC, cryptoFields(request), false);

export const macVerify = (request: MacRequest & { macData: Uint8Array }): OperationRequest<{ uniqueIdentifier: string; validityIndicator: ValidityName }> =>
  plain(Enum.Operation.MACVerify, cryptoFields(request), false);

export const hash = (request: { cryptographicParameters: CryptographicParameters; data: Uint8Array } & StreamFields): OperationRequest<{ data?: Uint8Array; correlationValue?: Uint8Array }> =>
  plain(Enum.Operation.Hash, cryptoFields(request), true);

export const rngRetrieve = (dataLength: number): OperationRequest<{ data: Uint8Array }> => plain(Enum.Operation.RNGRetrieve, { dataLength }, false);

export const rngSeed = (data: Uint8Array): OperationRequest<{ dataLength: number }> => plain(Enum.Operation.RNGSeed, { data }, false);

/**
 * The fields of a cryptographic request in the specification's order (2.1 section 6.1):
 * identifier, parameters, data, then the rest as given.
 */
function cryptoFields(request: object): KmipStruct {
  const fields = request as KmipStruct;
  const { uniqueIdentifier, cryptographicParameters, data, digestedData, ...rest } = fields;
  return { uniqueIdentifier, cryptographicParameters, data, digestedData, ...rest };
}

// ---------------------------------------------------------------------------------------
// Operations of KMIP 2.x under construction on the server: thin typed builders

export interface ExportResult {
  readonly uniqueIdentifier: string;
  readonly attributes: AttributeSet;
  readonly object: ManagedObject;
}

/** Export (2.1 section 6.1.21): the object and its attributes. */
export function exportObject(request: Omit<GetRequest, 'keyCompressionType'> = {}): OperationRequest<ExportResult> {
  const base = get(request);
  return {
    operation: Enum.Operation.Export,
    idempotent: true,
    payload: base.payload,
    parse: (payload, v) => {
      const attributes = optionalChild(payload, Tag.Attributes, 'Structure');
      return { uniqueIdentifier: uid(payload), attributes: toAttributeSet(readInstances(attributes?.value ?? []), v), object: readObject(payload, v) };
    },
  };
}

/** Import (2.1 section 6.1.31): an object under an identifier the client chooses. */
export function importObject(request: { uniqueIdentifier: string; object: ManagedObjectInput; replaceExisting?: boolean; keyWrapType?: keyof typeof Enum.KeyWrapType; attributes?: AttributesInput }): OperationRequest<IdResult> {
  return {
    operation: Enum.Operation.Import,
    idempotent: false,
    payload: (v) => {
      const { objectType, object } = objectItems(request.object, v);
      return present([
        text(Tag.UniqueIdentifier, request.uniqueIdentifier),
        enumeration(Tag.ObjectType, objectType),
        request.replaceExisting === undefined ? undefined : toItem(Tag.ReplaceExisting, request.replaceExisting, v),
        request.keyWrapType === undefined ? undefined : enumeration(Tag.KeyWrapType, Enum.KeyWrapType[request.keyWrapType]),
        ...attributesItems(request.attributes ?? {}, v, Tag.TemplateAttribute, Tag.Attributes),
        object,
      ]);
    },
    parse: (payload) => ({ uniqueIdentifier: uid(payload) }),
  };
}

/** Create Split Key (2.1 section 6.1.9): the identifiers of the parts. */
export function createSplitKey(request: {
  objectType?: ObjectTypeName;
  uniqueIdentifier?: string;
  splitKeyParts: number;
  splitKeyThreshold: number;
  splitKeyMethod: keyof typeof Enum.SplitKeyMethod;
  primeFieldSize?: bigint;
  attributes?: AttributesInput;
}): OperationRequest<{ uniqueIdentifiers: string[] }> {
  return {
    operation: Enum.Operation.CreateSplitKey,
    idempotent: false,
    payload: (v) =>
      present([
        enumeration(Tag.ObjectType, Enum.ObjectType[request.objectType ?? 'SymmetricKey']),
        idItem(request.uniqueIdentifier),
        int(Tag.SplitKeyParts, request.splitKeyParts),
        int(Tag.SplitKeyThreshold, request.splitKeyThreshold),
        enumeration(Tag.SplitKeyMethod, Enum.SplitKeyMethod[request.splitKeyMethod]),
        request.primeFieldSize === undefined ? undefined : { tag: Tag.PrimeFieldSize, type: 'BigInteger', value: request.primeFieldSize },
        ...attributesItems(request.attributes ?? {}, v, Tag.TemplateAttribute, Tag.Attributes),
      ]),
    parse: (payload) => ({ uniqueIdentifiers: children(payload, Tag.UniqueIdentifier, 'TextString').map((item) => item.value) }),
  };
}

/** Join Split Key (2.1 section 6.1.33): the key the parts make. */
export function joinSplitKey(request: { objectType?: ObjectTypeName; uniqueIdentifiers: readonly string[]; secretDataType?: keyof typeof Enum.SecretDataType; attributes?: AttributesInput }): OperationRequest<IdResult> {
  return {
    operation: Enum.Operation.JoinSplitKey,
    idempotent: false,
    payload: (v) =>
      present([
        enumeration(Tag.ObjectType, Enum.ObjectType[request.objectType ?? 'SymmetricKey']),
        ...request.uniqueIdentifiers.map((id) => text(Tag.UniqueIdentifier, id)),
        request.secretDataType === undefined ? undefined : enumeration(Tag.SecretDataType, Enum.SecretDataType[request.secretDataType]),
        ...attributesItems(request.attributes ?? {}, v, Tag.TemplateAttribute, Tag.Attributes),
      ]),
    parse: (payload) => ({ uniqueIdentifier: uid(payload) }),
  };
}

/** Any operation as raw TTLV: the payload's children in, the Response Payload out. */
export function raw(operation: number, payload: readonly TtlvItem[], idempotent = false): OperationRequest<StructureItem> {
  return { operation, idempotent, payload: () => payload.slice(), parse: (answer) => answer };
}

export type { StateName };
