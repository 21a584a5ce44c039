/**
 * Certify (KMIP 2.1 section 6.1.6, 1.4 section 4.7): an X.509 certificate issued by the
 * server for a public key, from a PKCS#10 Certificate Request (DER or PEM, in the request or
 * stored as a Certificate Request object) or from a stored Public Key with the subject given
 * in the request's attributes.
 *
 * Issuer: by default the data folder's issuing CA (certs/issuing-ca.pem), which is not the
 * CA that authenticates kmipd's TLS clients, so an issued certificate never logs in to
 * kmipd. A request may name its own issuer instead with a Link of type Certificate Link to
 * a stored CA certificate; its private key is the request's Private Key Link, or the one
 * the issuer certificate links to. That key must be Active and allow Sign or Certificate
 * Sign, like any key used for a signature.
 *
 * The certificate and the public key link to each other (Public Key Link / Certificate
 * Link); a public key known only from a request is stored as a new Public Key for that.
 */
import { createPublicKey } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { Enum, Mask, Tag } from '../../ttlv/index.js';
import type { TtlvItem } from '../../ttlv/index.js';
import { fromV2Attributes, splitTemplateAttribute } from '../attributes/index.js';
import type { AttributeInstance } from '../attributes/index.js';
import {
  alternativeNamesFromDer,
  alternativeNamesFromText,
  checkNameDer,
  issueCertificate,
  issuerCertificate,
  nameFromFields,
  nameFromText,
  pemRequestDer,
  readCertificate,
  readCertificateRequest,
} from '../crypto/x509.js';
import type { CertificateIssuer, CertificateRequestInfo, RequestedExtensions } from '../crypto/x509.js';
import { KmipError } from '../errors.js';
import * as lifecycle from '../lifecycle/index.js';
import { keyObjectOf } from '../objects/asymmetric.js';
import { NAME_FIELDS, subjectKeyAttributes } from '../objects/certificate.js';
import { leafValue } from '../objects/managed.js';
import { newManagedObject } from '../objects/new.js';
import { objectTypeName } from '../objects/structures.js';
import type { ManagedObject } from '../objects/types.js';
import { bytes, dateTime, enumeration, int, struct, text } from '../protocol/build.js';
import { Fields } from '../protocol/fields.js';
import { atLeast, isV2 } from '../protocol/versions.js';
import { advance, changed, checkProtectionStorage, checkUniqueValues, commit, loadObject, optionalRequestId, serverPolicy, stateOf } from './common.js';
import { link } from './create-key-pair.js';
import { objectForUse } from './key-use.js';
import { withTemplates } from './request-attributes.js';
import { operation } from './types.js';
import type { OperationContext } from './types.js';

const T = Enum.ObjectType;
const L = Enum.LinkType;
const U = Mask.CryptographicUsageMask;

/** Validity of a certificate whose request sets no Deactivation Date (and never past its issuer's). */
export const DEFAULT_CERTIFICATE_DAYS = 365;
const DAY_SECONDS = 86400n;

/** A certificate request given in the request itself. */
export interface GivenRequest {
  readonly type: number;
  readonly value: Uint8Array;
}

/** What Certify and Re-certify requests share. */
export interface CertificationRequest {
  readonly id: string | undefined;
  readonly csr: GivenRequest | undefined;
  /** Attributes for the new certificate, checked as a client may set them. */
  readonly attributes: readonly AttributeInstance[];
  readonly templates: readonly string[];
  /** Subject and alternative names the attributes ask for (they are no client-settable attributes of their own). */
  readonly subject: SubjectRequest | undefined;
}

/** A subject Name and Subject Alternative Names, DER. */
export interface SubjectRequest {
  readonly name: Buffer;
  readonly alternativeNames: Buffer | undefined;
}

/** The attributes that describe the subject: the server derives them from the certificate, the request uses them to build it. */
const SUBJECT_ATTRIBUTES = new Set(['X.509 Certificate Subject', 'Certificate Subject', ...NAME_FIELDS.map(([field]) => `Certificate Subject ${field}`)]);

export const certify = operation<CertificationRequest>({
  code: Enum.Operation.Certify,
  since: '1.0',
  decode: (payload, ctx) => decodeCertification(ctx, payload),
  handle: async (ctx, request) => {
    const attributes = await withTemplates(ctx, { instances: [...request.attributes], templates: request.templates }, T.Certificate);
    checkCertificateType(attributes);
    const source = await certificationSource(ctx, request);
    const issuer = await resolveIssuer(ctx, attributes, undefined);
    const { notBefore, notAfter } = validity(ctx, attributes, undefined, issuer.certificate);
    const extensions = chooseExtensions(source.csr?.extensions, attributes, source.spki, undefined);
    const subject = source.csr?.subject ?? request.subject?.name;
    if (subject === undefined) {
      throw new KmipError('InvalidField', 'Certify of a Public Key needs the subject: give Certificate Subject (1.x), X.509 Certificate Subject or Certificate Subject CN, O, ... attributes, or send a Certificate Request');
    }
    const der = await issueCertificate(issuer.signer, { subject, publicKey: source.spki, notBefore, notAfter, extensions: withSubjectAltNames(extensions, request.subject) });
    const dated = [...withoutIssuerLinks(attributes), ...validityDates(attributes, notBefore, notAfter)];
    const stored = await storeCertificate(ctx, { der, attributes: dated, publicKey: source.publicKey, spki: source.spki, issuerId: issuer.id, replaces: undefined });
    ctx.log.info('certificate issued', { operation: 'Certify', id: stored.id, publicKey: stored.publicKeyId, issuer: issuer.id ?? 'issuing CA' });
    return [text(Tag.UniqueIdentifier, stored.id)];
  },
});

/** The Certify / Re-certify payload: 2.x Certificate Request Value and Attributes, or 1.x Certificate Request and Template-Attribute. */
export function decodeCertification(ctx: OperationContext, payload: Fields): CertificationRequest {
  checkProtectionStorage(payload);
  const type = payload.optionalEnumeration(Tag.CertificateRequestType);
  const value = isV2(ctx.version) ? payload.optionalValue(Tag.CertificateRequestValue, 'ByteString') : payload.optionalValue(Tag.CertificateRequest, 'ByteString');
  if (value !== undefined && type === undefined) throw new KmipError('InvalidField', 'a Certificate Request needs its Certificate Request Type');
  const holder = payload.optional(isV2(ctx.version) ? Tag.Attributes : Tag.TemplateAttribute);
  const options = { version: ctx.version, objectType: T.Certificate };
  const parts = holder === undefined ? { instances: [], templates: [] } : isV2(ctx.version) ? { instances: fromV2Attributes(holder, options), templates: [] } : splitTemplateAttribute(holder, options);
  const subjectParts = parts.instances.filter((a) => SUBJECT_ATTRIBUTES.has(a.name));
  return {
    id: optionalRequestId(payload),
    // Copied: Byte Strings view the network buffer (STYLE.md).
    csr: value === undefined || type === undefined ? undefined : { type, value: Buffer.from(value) },
    attributes: parts.instances.filter((a) => !SUBJECT_ATTRIBUTES.has(a.name)),
    templates: parts.templates,
    subject: subjectRequest(subjectParts),
  };
}

/** Only X.509 certificates are issued (2.1 section 6.1.6: the Certificate Type may come in the attributes). */
function checkCertificateType(attributes: readonly AttributeInstance[]): void {
  const type = leafValue({ attributes }, 'Certificate Type', 'Enumeration');
  if (type !== undefined && type !== Enum.CertificateType.X_509) throw new KmipError('FeatureNotSupported', 'kmipd issues X.509 certificates only');
}

// ---------------------------------------------------------------------------------------
// The subject

/** The subject the attributes ask for: X.509 Certificate Subject (DER), else 1.x Certificate Subject (text), else the 2.x name fields. */
function subjectRequest(instances: readonly AttributeInstance[]): SubjectRequest | undefined {
  const x509Subject = instances.find((a) => a.name === 'X.509 Certificate Subject')?.value;
  if (x509Subject !== undefined) {
    const fields = Fields.of(x509Subject, 'X509CertificateSubject');
    const alternatives = fields.values(Tag.SubjectAlternativeName, 'ByteString');
    return { name: checkNameDer(fields.value(Tag.SubjectDistinguishedName, 'ByteString')), alternativeNames: alternatives.length === 0 ? undefined : alternativeNamesFromDer(alternatives) };
  }
  const textSubject = instances.find((a) => a.name === 'Certificate Subject')?.value;
  if (textSubject !== undefined) {
    const fields = Fields.of(textSubject, 'CertificateSubject');
    const alternatives = fields.values(Tag.CertificateSubjectAlternativeName, 'TextString');
    return { name: nameFromText(fields.text(Tag.CertificateSubjectDistinguishedName)), alternativeNames: alternatives.length === 0 ? undefined : alternativeNamesFromText(alternatives) };
  }
  const parts: [string, string][] = [];
  for (const [field, oid] of NAME_FIELDS) {
    for (const a of instances.filter((i) => i.name === `Certificate Subject ${field}`)) if (a.value.type === 'TextString') parts.push([oid, a.value.value]);
  }
  // X.500 order: most significant first (C, ST, L, O, OU, CN): the order a DN is usually read in reverse.
  const order = ['2.5.4.6', '2.5.4.8', '2.5.4.7', '0.9.2342.19200300.100.1.25', '2.5.4.10', '2.5.4.11', '2.5.4.3'];
  const rank = (oid: string): number => (order.includes(oid) ? order.indexOf(oid) : order.length);
  parts.sort((a, b) => rank(a[0]) - rank(b[0]));
  return parts.length === 0 ? undefined : { name: nameFromFields(parts), alternativeNames: undefined };
}

function withSubjectAltNames(extensions: RequestedExtensions, subject: SubjectRequest | undefined): RequestedExtensions {
  if (extensions.subjectAltNames !== undefined || subject?.alternativeNames === undefined) return extensions;
  return { ...extensions, subjectAltNames: subject.alternativeNames };
}

// ---------------------------------------------------------------------------------------
// What is certified

interface CertificationSource {
  /** The PKCS#10 request, verified; undefined when certifying a stored Public Key alone. */
  readonly csr: CertificateRequestInfo | undefined;
  readonly spki: Buffer;
  /** The stored Public Key certified, when there is one. */
  readonly publicKey: ManagedObject | undefined;
}

/**
 * The public key to certify: the request's Certificate Request (checking that it holds the
 * key of a Public Key also named), a stored Certificate Request, or a stored Public Key.
 */
async function certificationSource(ctx: OperationContext, request: CertificationRequest): Promise<CertificationSource> {
  if (request.csr !== undefined) {
    const csr = await parseRequest(request.csr);
    if (request.id === undefined) return { csr, spki: csr.publicKey, publicKey: undefined };
    const named = await loadObject(ctx, request.id);
    if (named.objectType !== T.PublicKey) throw new KmipError('InvalidObjectType', `with a Certificate Request, the Unique Identifier names its Public Key; object ${named.id} is a ${objectTypeName(named.objectType)}`);
    if (!sameKey(publicKeyOf(named), csr.publicKey)) throw new KmipError('InvalidCSR', `the Certificate Request holds another public key than object ${named.id}`);
    return { csr, spki: csr.publicKey, publicKey: named };
  }
  const named = await loadObject(ctx, request.id);
  if (named.objectType === T.CertificateRequest) {
    const fields = Fields.of(requireBody(named), 'CertificateRequest');
    const csr = await parseRequest({ type: fields.enumeration(Tag.CertificateRequestType), value: fields.value(Tag.CertificateRequestValue, 'ByteString') });
    return { csr, spki: csr.publicKey, publicKey: undefined };
  }
  if (named.objectType !== T.PublicKey) {
    throw new KmipError('InvalidObjectType', `Certify certifies a Public Key or a Certificate Request; object ${named.id} is a ${objectTypeName(named.objectType)}`);
  }
  return { csr: undefined, spki: publicKeyOf(named).export({ format: 'der', type: 'spki' }), publicKey: named };
}

export async function parseRequest(given: GivenRequest): Promise<CertificateRequestInfo> {
  const R = Enum.CertificateRequestType;
  if (given.type === R.PKCS_10) return readCertificateRequest(given.value);
  if (given.type === R.PEM) return readCertificateRequest(pemRequestDer(given.value));
  throw new KmipError('FeatureNotSupported', `Certificate Request Type ${given.type === R.CRMF ? 'CRMF' : given.type === R.PGP ? 'PGP' : given.type} is not supported: send a PKCS#10 request, DER (PKCS_10) or PEM`);
}

function requireBody(obj: ManagedObject): TtlvItem {
  if (obj.body === undefined) throw new KmipError('ObjectDestroyed', `object ${obj.id} has been destroyed`);
  return obj.body;
}

export function publicKeyOf(obj: ManagedObject): KeyObject {
  return keyObjectOf('public', requireBody(obj));
}

export function sameKey(key: KeyObject, spki: Buffer): boolean {
  try {
    return key.equals(createPublicKey({ key: spki, format: 'der', type: 'spki' }));
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------
// The issuer

export interface ResolvedIssuer {
  readonly signer: CertificateIssuer;
  /** The stored issuer Certificate; undefined for the server's issuing CA. */
  readonly id: string | undefined;
  readonly certificate: Buffer;
}

/** The Link of `type` among attributes, when there is one. */
export function linkOf(attributes: readonly AttributeInstance[], type: number): string | undefined {
  for (const a of attributes) {
    if (a.name !== 'Link' || a.value.type !== 'Structure') continue;
    const fields = Fields.of(a.value, 'Link');
    const target = fields.optional(Tag.LinkedObjectIdentifier);
    if (fields.optionalEnumeration(Tag.LinkType) === type && target?.type === 'TextString') return target.value;
  }
  return undefined;
}

/**
 * The issuer: the request's Certificate Link (a stored CA certificate) with its private key,
 * else `inherited` (Re-certify: the issuer of the certificate renewed), else the server's
 * issuing CA.
 */
export async function resolveIssuer(ctx: OperationContext, attributes: readonly AttributeInstance[], inherited: string | undefined): Promise<ResolvedIssuer> {
  const issuerId = linkOf(attributes, L.CertificateLink) ?? inherited;
  if (issuerId === undefined) {
    if (ctx.issuer === undefined) throw new KmipError('FeatureNotSupported', 'this server has no issuing CA: name the issuer with a Link of type Certificate Link to a stored CA certificate');
    return { signer: ctx.issuer, id: undefined, certificate: ctx.issuer.certificate };
  }
  const certificate = await loadObject(ctx, issuerId);
  if (certificate.objectType !== T.Certificate) throw new KmipError('InvalidObjectType', `the issuer (Certificate Link) must be a Certificate; object ${issuerId} is a ${objectTypeName(certificate.objectType)}`);
  const state = stateOf(certificate);
  if (state === Enum.State.Compromised || state === Enum.State.DestroyedCompromised) throw new KmipError('WrongKeyLifecycleState', `issuer certificate ${issuerId} is compromised`);
  const value = Fields.of(requireBody(certificate), 'Certificate').value(Tag.CertificateValue, 'ByteString');
  const keyId = linkOf(attributes, L.PrivateKeyLink) ?? (await issuerPrivateKeyId(ctx, certificate));
  const signing = await signingKey(ctx, keyId);
  const signer: CertificateIssuer = { certificate: Buffer.from(value), privateKey: signing };
  issuerCertificate(signer);
  // loadObject moved the ID Placeholder; Certify sets it to the new certificate at the end.
  return { signer, id: certificate.id, certificate: signer.certificate };
}

/** The issuer certificate's private key: its Private Key Link, or its Public Key's Private Key Link. */
async function issuerPrivateKeyId(ctx: OperationContext, certificate: ManagedObject): Promise<string> {
  const direct = linkOf(certificate.attributes, L.PrivateKeyLink);
  if (direct !== undefined) return direct;
  const publicId = linkOf(certificate.attributes, L.PublicKeyLink);
  if (publicId !== undefined) {
    const publicKey = await loadObject(ctx, publicId);
    const viaPublic = linkOf(publicKey.attributes, L.PrivateKeyLink);
    if (viaPublic !== undefined) return viaPublic;
  }
  throw new KmipError('ItemNotFound', `issuer certificate ${certificate.id} links to no Private Key: add a Link of type Private Key Link to the request`);
}

/** The issuer's private key, Active and allowed to sign (Sign or Certificate Sign in its Cryptographic Usage Mask). */
async function signingKey(ctx: OperationContext, id: string): Promise<KeyObject> {
  const obj = await loadObject(ctx, id);
  if (obj.objectType !== T.PrivateKey) throw new KmipError('InvalidObjectType', `the issuer's key must be a Private Key; object ${id} is a ${objectTypeName(obj.objectType)}`);
  const mask = leafValue(obj, 'Cryptographic Usage Mask', 'Integer') ?? 0;
  const use = await objectForUse(ctx, id, (mask & U.CertificateSign) !== 0 ? 'CertificateSign' : 'Sign');
  // Certificate Sign is not among the usages that "protect"; issuing a certificate still needs an Active key.
  if (!lifecycle.canProtect(stateOf(use.obj))) throw new KmipError('WrongKeyLifecycleState', `the issuer's private key ${id} is ${lifecycle.stateName(stateOf(use.obj))}: it cannot sign`);
  return keyObjectOf('private', use.body);
}

function withoutIssuerLinks(attributes: readonly AttributeInstance[]): AttributeInstance[] {
  // The Certificate Link stays: on a certificate it names the issuer's certificate (2.1 section 4.31).
  return attributes.filter((a) => !(a.name === 'Link' && linkTypeOf(a.value) === L.PrivateKeyLink));
}

function linkTypeOf(value: TtlvItem): number | undefined {
  return value.type === 'Structure' ? Fields.of(value, 'Link').optionalEnumeration(Tag.LinkType) : undefined;
}

// ---------------------------------------------------------------------------------------
// Validity and extensions

/**
 * notBefore: the Activation Date asked for, else now; notAfter: the Deactivation Date asked
 * for, else `defaultSeconds` later (DEFAULT_CERTIFICATE_DAYS), never past the issuer's own end.
 */
export function validity(ctx: OperationContext, attributes: readonly AttributeInstance[], defaultSeconds: bigint | undefined, issuerDer: Buffer): { notBefore: Date; notAfter: Date } {
  const activation = leafValue({ attributes }, 'Activation Date', 'DateTime');
  const deactivation = leafValue({ attributes }, 'Deactivation Date', 'DateTime');
  const start = activation ?? ctx.now;
  const toDate = (seconds: bigint): Date => new Date(Number(seconds) * 1000);
  if (deactivation !== undefined) {
    if (deactivation <= start) throw new KmipError('InvalidField', 'the Deactivation Date must come after the Activation Date (the certificate\'s notBefore)');
    return { notBefore: toDate(start), notAfter: toDate(deactivation) };
  }
  const issuerEnd = BigInt(Math.floor(issuerNotAfter(issuerDer).getTime() / 1000));
  const end = start + (defaultSeconds ?? BigInt(DEFAULT_CERTIFICATE_DAYS) * DAY_SECONDS);
  return { notBefore: toDate(start), notAfter: toDate(end < issuerEnd ? end : issuerEnd) };
}

/**
 * The object's Activation and Deactivation Dates are the certificate's validity when the
 * request sets none (2.1 section 4.1: Certify sets Activation Date implicitly): the
 * certificate is Active while it is valid and Deactivated once it has expired.
 */
function validityDates(attributes: readonly AttributeInstance[], notBefore: Date, notAfter: Date): AttributeInstance[] {
  const seconds = (date: Date): bigint => BigInt(Math.floor(date.getTime() / 1000));
  const out: AttributeInstance[] = [];
  if (!attributes.some((a) => a.name === 'Activation Date')) out.push({ name: 'Activation Date', value: dateTime(Tag.ActivationDate, seconds(notBefore)) });
  if (!attributes.some((a) => a.name === 'Deactivation Date')) out.push({ name: 'Deactivation Date', value: dateTime(Tag.DeactivationDate, seconds(notAfter)) });
  return out;
}

function issuerNotAfter(der: Buffer): Date {
  return readCertificate(der).notAfter;
}

/** x509 Key Usage bits (RFC 5280 section 4.2.1.3). */
const KU = { digitalSignature: 1, nonRepudiation: 2, keyEncipherment: 4, dataEncipherment: 8, keyAgreement: 16, keyCertSign: 32, cRLSign: 64 } as const;

/** The Key Usage a Cryptographic Usage Mask asks for; undefined when it names none that maps. */
function keyUsageOfMask(mask: number): number | undefined {
  let usage = 0;
  if (mask & (U.Sign | U.Verify)) usage |= KU.digitalSignature;
  if (mask & U.ContentCommitmentNonRepudiation) usage |= KU.nonRepudiation;
  if (mask & (U.WrapKey | U.UnwrapKey)) usage |= KU.keyEncipherment;
  if (mask & (U.Encrypt | U.Decrypt)) usage |= KU.dataEncipherment;
  if (mask & U.KeyAgreement) usage |= KU.keyAgreement;
  if (mask & U.CertificateSign) usage |= KU.keyCertSign;
  if (mask & U.CRLSign) usage |= KU.cRLSign;
  return usage === 0 ? undefined : usage;
}

/** What a key of this type is for when nothing says: signatures (RSA also key transport), key agreement for X25519 / X448. */
function defaultKeyUsage(spki: Buffer): number {
  const type = createPublicKey({ key: spki, format: 'der', type: 'spki' }).asymmetricKeyType;
  if (type === 'x25519' || type === 'x448') return KU.keyAgreement;
  if (type === 'rsa') return KU.digitalSignature | KU.keyEncipherment;
  return KU.digitalSignature;
}

/**
 * The extensions of the new certificate. The Certificate Request takes precedence over the
 * attributes (2.1 section 6.1.6), the attributes over `previous` (the renewed certificate's).
 * A CA certificate is issued only when its Key Usage includes keyCertSign.
 */
export function chooseExtensions(fromCsr: RequestedExtensions | undefined, attributes: readonly AttributeInstance[], spki: Buffer, previous: RequestedExtensions | undefined): RequestedExtensions {
  const mask = leafValue({ attributes }, 'Cryptographic Usage Mask', 'Integer');
  const keyUsage = fromCsr?.keyUsage ?? (mask === undefined ? undefined : keyUsageOfMask(mask)) ?? previous?.keyUsage ?? defaultKeyUsage(spki);
  const wantsCa = fromCsr?.ca ?? (mask === undefined ? undefined : (mask & U.CertificateSign) !== 0) ?? previous?.ca ?? false;
  const subjectAltNames = fromCsr?.subjectAltNames ?? previous?.subjectAltNames;
  const extendedKeyUsage = fromCsr?.extendedKeyUsage ?? previous?.extendedKeyUsage;
  return {
    keyUsage,
    ca: wantsCa && (keyUsage & KU.keyCertSign) !== 0,
    ...(subjectAltNames === undefined ? {} : { subjectAltNames }),
    ...(extendedKeyUsage === undefined ? {} : { extendedKeyUsage }),
  };
}

// ---------------------------------------------------------------------------------------
// Storing

export interface NewCertificate {
  readonly der: Buffer;
  readonly attributes: readonly AttributeInstance[];
  /** The stored Public Key certified; undefined: one is stored from `spki`. */
  readonly publicKey: ManagedObject | undefined;
  readonly spki: Buffer;
  readonly issuerId: string | undefined;
  /** Re-certify: the certificate renewed, which gets its Replacement Link and gives up its names. */
  readonly replaces: ManagedObject | undefined;
}

/**
 * The certificate object, linked to its public key both ways (the key's Certificate Link
 * now names the new certificate), and to its issuer; everything commits together.
 */
export async function storeCertificate(ctx: OperationContext, spec: NewCertificate): Promise<{ id: string; publicKeyId: string }> {
  const id = ctx.store.newId();
  const publicKeyId = spec.publicKey?.id ?? ctx.store.newId();
  const links: AttributeInstance[] = [{ name: 'Link', value: link(L.PublicKeyLink, publicKeyId) }];
  if (spec.issuerId !== undefined && linkOf(spec.attributes, L.CertificateLink) === undefined) links.push({ name: 'Link', value: link(L.CertificateLink, spec.issuerId) });
  if (spec.replaces !== undefined) links.push({ name: 'Link', value: link(L.ReplacedObjectLink, spec.replaces.id) });
  const body = struct(Tag.Certificate, [enumeration(Tag.CertificateType, Enum.CertificateType.X_509), bytes(Tag.CertificateValue, spec.der)]);
  const certificate = advance(
    newManagedObject({ id, objectType: T.Certificate, owner: spec.replaces?.owner ?? ctx.identity.name, body, clientAttributes: [...spec.attributes, ...links], now: ctx.now, policy: serverPolicy(ctx, 'registered') }),
    ctx.now,
  );
  const create: ManagedObject[] = [certificate];
  const update: ManagedObject[] = [];
  const certificateLink = { name: 'Link', value: link(L.CertificateLink, id) };
  if (spec.publicKey === undefined) {
    create.push(publicKeyFromRequest(ctx, publicKeyId, spec, certificateLink));
  } else {
    // The key's Certificate Link names its newest certificate (2.1 section 6.1.45).
    const others = spec.publicKey.attributes.filter((a) => !(a.name === 'Link' && linkTypeOf(a.value) === L.CertificateLink));
    update.push(changed(ctx, { ...spec.publicKey, attributes: [...others, certificateLink] }));
  }
  if (spec.replaces !== undefined) {
    const old = spec.replaces;
    const kept = old.attributes.filter((a) => a.name !== 'Name');
    update.push(changed(ctx, { ...old, attributes: [...kept, { name: 'Link', value: link(L.ReplacementObjectLink, id) }] }));
  }
  await checkUniqueValues(ctx, certificate, spec.replaces === undefined ? [] : [spec.replaces.id]);
  await commit(ctx, { create, update });
  ctx.idPlaceholder = id;
  return { id, publicKeyId };
}

/** The public key of a Certificate Request, stored so that the certificate has a key to link to. */
function publicKeyFromRequest(ctx: OperationContext, id: string, spec: NewCertificate, certificateLink: AttributeInstance): ManagedObject {
  const keyAttributes = subjectKeyAttributes(spec.spki);
  let algorithm = leafValue({ attributes: keyAttributes }, 'Cryptographic Algorithm', 'Enumeration');
  const length = leafValue({ attributes: keyAttributes }, 'Cryptographic Length', 'Integer');
  if (algorithm === undefined || length === undefined) throw new KmipError('InvalidCSR', 'the Certificate Request holds a public key of a type this server does not keep');
  // KMIP 1.0 and 1.1 know EC keys only as ECDSA.
  if (algorithm === Enum.CryptographicAlgorithm.EC && !atLeast(ctx.version, '1.2')) algorithm = Enum.CryptographicAlgorithm.ECDSA;
  const body = struct(Tag.PublicKey, [
    struct(Tag.KeyBlock, [
      enumeration(Tag.KeyFormatType, Enum.KeyFormatType.X_509),
      struct(Tag.KeyValue, [bytes(Tag.KeyMaterial, spec.spki)]),
      enumeration(Tag.CryptographicAlgorithm, algorithm),
      int(Tag.CryptographicLength, length),
    ]),
  ]);
  const carried = spec.attributes.filter((a) => ['Cryptographic Usage Mask', 'Activation Date', 'Deactivation Date', 'Object Group'].includes(a.name));
  return advance(
    newManagedObject({ id, objectType: T.PublicKey, owner: ctx.identity.name, body, clientAttributes: [...carried, certificateLink], now: ctx.now, policy: serverPolicy(ctx, 'registered') }),
    ctx.now,
  );
}
