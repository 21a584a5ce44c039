/**
 * Re-certify (KMIP 2.1 section 6.1.45, 1.4 section 4.8): a new certificate for the key of an
 * existing one, like Re-key for keys. The new certificate takes over the old one's names
 * and attributes (2.1 table 299), links to it (Replaced Object Link) as the old one links
 * to the new (Replacement Object Link), and the public key's Certificate Link moves to it.
 *
 * The subject, Subject Alternative Names and extensions come from a Certificate Request when
 * one is given (it must hold the same key), else from the attributes, else from the old
 * certificate. The issuer is the one the request names, else the old certificate's stored
 * issuer, else the server's issuing CA. Without an Offset the dates are the old ones; with
 * one they move (2.1 table 298); the new certificate lasts as long as the old one did.
 */
import { createPublicKey } from 'node:crypto';
import { Enum, Tag } from '../../ttlv/index.js';
import type { AttributeInstance } from '../attributes/index.js';
import { issueCertificate, readCertificate } from '../crypto/x509.js';
import type { CertificateRequestInfo } from '../crypto/x509.js';
import { KmipError } from '../errors.js';
import { objectTypeName } from '../objects/structures.js';
import type { ManagedObject } from '../objects/types.js';
import { text } from '../protocol/build.js';
import { Fields } from '../protocol/fields.js';
import {
  chooseExtensions,
  decodeCertification,
  linkOf,
  parseRequest,
  publicKeyOf,
  resolveIssuer,
  sameKey,
  storeCertificate,
  validity,
} from './certify.js';
import type { CertificationRequest } from './certify.js';
import { loadObject } from './common.js';
import { NOT_COPIED, replacementDates } from './rekey.js';
import { withTemplates } from './request-attributes.js';
import { operation } from './types.js';
import type { OperationContext } from './types.js';

const T = Enum.ObjectType;
const L = Enum.LinkType;

interface ReCertifyRequest extends CertificationRequest {
  readonly offset: number | undefined;
  /** 2.x: a stored Certificate Request to take the request from. */
  readonly requestId: string | undefined;
}

/** What the new certificate does not inherit beyond Re-key's list: what the server reads from the certificate itself. */
const DERIVED = new Set([
  'Certificate Type', 'Certificate Length', 'X.509 Certificate Identifier', 'X.509 Certificate Subject', 'X.509 Certificate Issuer',
  'Certificate Identifier', 'Certificate Subject', 'Certificate Issuer', 'Digital Signature Algorithm', 'Cryptographic Algorithm',
  'Cryptographic Length', 'Lease Time', 'Protection Storage Mask',
]);

export const reCertify = operation<ReCertifyRequest>({
  code: Enum.Operation.ReCertify,
  since: '1.0',
  decode: (payload, ctx) => ({
    ...decodeCertification(ctx, payload),
    offset: payload.optionalValue(Tag.Offset, 'Interval'),
    requestId: payload.optionalText(Tag.CertificateRequestUniqueIdentifier),
  }),
  handle: async (ctx, request) => {
    const old = await loadObject(ctx, request.id);
    if (old.objectType !== T.Certificate) throw new KmipError('InvalidObjectType', `Re-certify renews a Certificate; object ${old.id} is a ${objectTypeName(old.objectType)}`);
    if (old.body === undefined) throw new KmipError('ObjectDestroyed', `certificate ${old.id} has been destroyed`);
    const oldFields = Fields.of(old.body, 'Certificate');
    if (oldFields.enumeration(Tag.CertificateType) !== Enum.CertificateType.X_509) throw new KmipError('FeatureNotSupported', 'kmipd renews X.509 certificates only');
    const previous = readCertificate(oldFields.value(Tag.CertificateValue, 'ByteString'));

    const publicKey = await certifiedKey(ctx, old, previous.publicKey);
    const csr = await requestOf(ctx, request);
    if (csr !== undefined && !sameKey(createPublicKey({ key: previous.publicKey, format: 'der', type: 'spki' }), csr.publicKey)) {
      throw new KmipError('InvalidCSR', `Re-certify renews the certificate of the same key; the Certificate Request holds another key than certificate ${old.id}`);
    }

    const requested = await withTemplates(ctx, { instances: [...request.attributes], templates: request.templates }, T.Certificate);
    const overridden = new Set(requested.map((a) => a.name));
    const inherited = old.attributes.filter((a) => !NOT_COPIED.has(a.name) && !DERIVED.has(a.name) && !overridden.has(a.name));
    const dates = replacementDates(old, request.offset, ctx.now).filter((a) => !overridden.has(a.name));
    const attributes: AttributeInstance[] = [...inherited, ...requested, ...dates];

    const issuer = await resolveIssuer(ctx, requested, linkOf(old.attributes, L.CertificateLink));
    const lifetime = BigInt(Math.max(1, Math.floor((previous.notAfter.getTime() - previous.notBefore.getTime()) / 1000)));
    const { notBefore, notAfter } = validity(ctx, attributes, lifetime, issuer.certificate);
    const extensions = chooseExtensions(csr?.extensions, requested, previous.publicKey, previous.extensions);
    const subject = csr?.subject ?? request.subject?.name ?? previous.subject;
    const subjectAltNames = csr?.extensions.subjectAltNames ?? request.subject?.alternativeNames ?? extensions.subjectAltNames;
    const der = await issueCertificate(issuer.signer, {
      subject,
      publicKey: previous.publicKey,
      notBefore,
      notAfter,
      extensions: { ...extensions, ...(subjectAltNames === undefined ? {} : { subjectAltNames }) },
    });
    const stored = await storeCertificate(ctx, {
      der,
      attributes: attributes.filter((a) => !(a.name === 'Link' && isPrivateKeyLink(a))),
      publicKey: await loadPublicKey(ctx, publicKey),
      spki: previous.publicKey,
      issuerId: issuer.id,
      replaces: old,
    });
    ctx.log.info('certificate renewed', { operation: 'ReCertify', id: stored.id, replaced: old.id, issuer: issuer.id ?? 'issuing CA' });
    return [text(Tag.UniqueIdentifier, stored.id)];
  },
});

/** The Public Key the old certificate links to, checked to hold the certified key; undefined when it links to none. */
async function certifiedKey(ctx: OperationContext, old: ManagedObject, spki: Buffer): Promise<string | undefined> {
  const id = linkOf(old.attributes, L.PublicKeyLink);
  if (id === undefined) return undefined;
  const key = await loadObject(ctx, id);
  if (key.objectType !== T.PublicKey || !sameKey(publicKeyOf(key), spki)) {
    throw new KmipError('InvalidField', `certificate ${old.id}'s Public Key Link names object ${id}, which does not hold the certified key`);
  }
  return id;
}

async function loadPublicKey(ctx: OperationContext, id: string | undefined): Promise<ManagedObject | undefined> {
  // Loaded again just before the commit: the freshest revision takes the new Certificate Link.
  return id === undefined ? undefined : loadObject(ctx, id);
}

/** The request's Certificate Request, or the stored one it names (2.x Certificate Request Unique Identifier). */
async function requestOf(ctx: OperationContext, request: ReCertifyRequest): Promise<CertificateRequestInfo | undefined> {
  if (request.csr !== undefined) return parseRequest(request.csr);
  if (request.requestId === undefined) return undefined;
  const stored = await loadObject(ctx, request.requestId);
  if (stored.objectType !== T.CertificateRequest || stored.body === undefined) {
    throw new KmipError('InvalidObjectType', `Certificate Request Unique Identifier names object ${stored.id}, a ${objectTypeName(stored.objectType)}`);
  }
  const fields = Fields.of(stored.body, 'CertificateRequest');
  return parseRequest({ type: fields.enumeration(Tag.CertificateRequestType), value: fields.value(Tag.CertificateRequestValue, 'ByteString') });
}

function isPrivateKeyLink(a: AttributeInstance): boolean {
  return a.value.type === 'Structure' && Fields.of(a.value, 'Link').optionalEnumeration(Tag.LinkType) === L.PrivateKeyLink;
}
