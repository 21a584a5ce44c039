/**
 * A new managed object: the attributes the server sets on every object it creates or
 * registers (KMIP 2.1 section 4, "When implicitly set"), merged with the client's.
 */
import * as crypto from 'node:crypto';
import { Enum, Tag, encodeTtlv } from '../../ttlv/index.js';
import type { TtlvItem } from '../../ttlv/index.js';
import type { AttributeInstance } from '../attributes/index.js';
import { bool, bytes, dateTime, enumeration, int, struct, text } from '../protocol/build.js';
import { x509Attributes } from './certificate.js';
import { keyBlockOf, rawKeyBytes } from './structures.js';
import type { ManagedObject } from './types.js';

export interface NewObject {
  readonly id: string;
  readonly objectType: number;
  readonly owner: string;
  readonly body: TtlvItem;
  /** What the client asked for, already checked against the attribute rules. */
  readonly clientAttributes: readonly AttributeInstance[];
  readonly now: bigint;
  /**
   * Attributes the server sets by its own policy, over any the client gave: Lease Time
   * (2.1 section 4.30), the Random Number Generator of material it generated (4.46).
   */
  readonly policy?: readonly AttributeInstance[];
}

/** Revision 1 of a new object in state Pre-Active; date-driven transitions are applied by the caller. */
/** Attributes that make an object part of a rotation set (2.1 sections 4.48, 4.51, 4.53). */
const ROTATION_SET = new Set(['Rotate Automatic', 'Rotate Interval', 'Rotate Name']);

export function newManagedObject(spec: NewObject): ManagedObject {
  const server: AttributeInstance[] = [
    { name: 'Unique Identifier', value: text(Tag.UniqueIdentifier, spec.id) },
    { name: 'Object Type', value: enumeration(Tag.ObjectType, spec.objectType) },
    shortUniqueIdentifier(spec.id),
    ...keyBlockAttributes(spec.body),
    ...certificateAttributes(spec.body),
    ...(spec.policy ?? []),
  ];
  const given = new Set(spec.clientAttributes.map((a) => a.name));
  // A Template is no cryptographic object: it has no State, key flags or Digest (1.4 section 3, "Applies to").
  const cryptographic = spec.objectType !== Enum.ObjectType.Template;
  const defaults: AttributeInstance[] = [
    ...(cryptographic ? [{ name: 'State', value: enumeration(Tag.State, Enum.State.PreActive) }] : []),
    { name: 'Initial Date', value: dateTime(Tag.InitialDate, spec.now) },
    { name: 'Last Change Date', value: dateTime(Tag.LastChangeDate, spec.now) },
    { name: 'Original Creation Date', value: dateTime(Tag.OriginalCreationDate, spec.now) },
    // 2.1 sections 4.50 and 4.52: an object that starts a rotation set is its generation 0 and its latest.
    ...(spec.clientAttributes.some((a) => ROTATION_SET.has(a.name))
      ? [
          { name: 'Rotate Generation', value: int(Tag.RotateGeneration, 0) },
          { name: 'Rotate Latest', value: bool(Tag.RotateLatest, true) },
        ]
      : []),
    ...(cryptographic
      ? [
          // 1.1 section 3.34: a key is Fresh until it has been served (Get) once.
          { name: 'Fresh', value: bool(Tag.Fresh, true) },
          { name: 'Sensitive', value: bool(Tag.Sensitive, false) },
          { name: 'Always Sensitive', value: bool(Tag.AlwaysSensitive, false) },
          { name: 'Extractable', value: bool(Tag.Extractable, true) },
          { name: 'Never Extractable', value: bool(Tag.NeverExtractable, false) },
          ...digest(spec.body),
        ]
      : []),
  ].filter((a) => !given.has(a.name) || a.name === 'State');
  const serverNames = new Set(server.map((a) => a.name));
  const client = spec.clientAttributes.filter((a) => !serverNames.has(a.name)).map(usageLimitsAtStart);
  const attributes = [...server, ...client, ...defaults];
  return { id: spec.id, objectType: spec.objectType, owner: spec.owner, attributes: fixSensitivity(attributes), body: spec.body, revision: 1 };
}

/**
 * 1.4 section 3.21: when Usage Limits is set on a new object its count starts at the total,
 * and "the server SHALL ignore the Usage Limits Count value" the client gave.
 */
function usageLimitsAtStart(attribute: AttributeInstance): AttributeInstance {
  if (attribute.name !== 'Usage Limits' || attribute.value.type !== 'Structure') return attribute;
  const fields = attribute.value.value;
  const total = fields.find((field) => field.tag === Tag.UsageLimitsTotal);
  if (total === undefined) return attribute;
  const others = fields.filter((field) => field.tag !== Tag.UsageLimitsTotal && field.tag !== Tag.UsageLimitsCount);
  return { ...attribute, value: { ...attribute.value, value: [total, { ...total, tag: Tag.UsageLimitsCount }, ...others] } };
}

/**
 * SHA-256 of `data` (text in UTF-8). The one-shot crypto.hash (Node 20.12 and later) makes no
 * Hash object: two of these per new object.
 */
const sha256: (data: string | Uint8Array) => Buffer =
  typeof crypto.hash === 'function' ? (data) => crypto.hash('sha256', data, 'buffer') : (data) => crypto.createHash('sha256').update(data).digest();

/** 2.1 section 4.56: "SHOULD be generated as a SHA-256 hash of the Unique Identifier". */
function shortUniqueIdentifier(id: string): AttributeInstance {
  return { name: 'Short Unique Identifier', value: bytes(Tag.ShortUniqueIdentifier, sha256(id)) };
}

/** Cryptographic Algorithm, Length and (2.x) Key Format Type from the Key Block. */
function keyBlockAttributes(body: TtlvItem): AttributeInstance[] {
  const view = keyBlockOf(body);
  if (view === undefined) return [];
  const out: AttributeInstance[] = [];
  if (view.algorithm !== undefined) out.push({ name: 'Cryptographic Algorithm', value: enumeration(Tag.CryptographicAlgorithm, view.algorithm) });
  if (view.length !== undefined) out.push({ name: 'Cryptographic Length', value: int(Tag.CryptographicLength, view.length) });
  out.push({ name: 'Key Format Type', value: enumeration(Tag.KeyFormatType, view.formatType) });
  return out;
}

function certificateAttributes(body: TtlvItem): AttributeInstance[] {
  if (body.tag !== Tag.Certificate || body.type !== 'Structure') return [];
  const type = body.value.find((c) => c.tag === Tag.CertificateType);
  const value = body.value.find((c) => c.tag === Tag.CertificateValue);
  const out: AttributeInstance[] = [];
  if (type?.type === 'Enumeration') out.push({ name: 'Certificate Type', value: enumeration(Tag.CertificateType, type.value) });
  if (value?.type === 'ByteString') out.push({ name: 'Certificate Length', value: int(Tag.CertificateLength, value.value.length) });
  if (type?.type === 'Enumeration' && type.value === Enum.CertificateType.X_509 && value?.type === 'ByteString') out.push(...x509Attributes(value.value));
  return out;
}

/** 1.4 section 3.17: a SHA-256 digest of the key material (or certificate, opaque value) as stored. */
function digest(body: TtlvItem): AttributeInstance[] {
  const material = rawKeyBytes(body) ?? valueBytes(body) ?? encodedKeyMaterial(body);
  if (material === undefined) return [];
  const formatType = keyBlockOf(body)?.formatType;
  return [
    {
      name: 'Digest',
      value: struct(Tag.Digest, [
        enumeration(Tag.HashingAlgorithm, Enum.HashingAlgorithm.SHA_256),
        bytes(Tag.DigestValue, sha256(material)),
        formatType === undefined ? undefined : enumeration(Tag.KeyFormatType, formatType),
      ]),
    },
  ];
}

/** 2.1 section 4.21: a Key Material structure (Transparent RSA or EC keys) is digested TTLV-encoded. */
function encodedKeyMaterial(body: TtlvItem): Uint8Array | undefined {
  const view = keyBlockOf(body);
  return view !== undefined && !view.wrapped && view.material?.type === 'Structure' ? encodeTtlv(view.material) : undefined;
}

function valueBytes(body: TtlvItem): Uint8Array | undefined {
  if (body.type !== 'Structure') return undefined;
  const value = body.value.find((c) => c.tag === Tag.CertificateValue || c.tag === Tag.OpaqueDataValue);
  return value?.type === 'ByteString' ? value.value : undefined;
}

/** Always Sensitive follows a client's Sensitive=True; Never Extractable follows Extractable=False. */
function fixSensitivity(attributes: AttributeInstance[]): AttributeInstance[] {
  const flag = (name: string): boolean | undefined => {
    const v = attributes.find((a) => a.name === name)?.value;
    return v?.type === 'Boolean' ? v.value : undefined;
  };
  const sensitive = flag('Sensitive') === true;
  const extractable = flag('Extractable') !== false;
  return attributes.map((a) => {
    if (a.name === 'Always Sensitive') return { name: a.name, value: bool(Tag.AlwaysSensitive, sensitive) };
    if (a.name === 'Never Extractable') return { name: a.name, value: bool(Tag.NeverExtractable, !extractable) };
    return a;
  });
}
