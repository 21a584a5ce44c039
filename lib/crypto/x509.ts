/**
 * X.509 for Certify and Re-certify (KMIP 2.1 sections 6.1.6 and 6.1.45): reading a PKCS#10
 * certificate request (RFC 2986) and checking its self-signature, and issuing a certificate
 * (RFC 5280) for a public key, signed by an issuer's private key. ASN.1 through
 * @peculiar/x509; the issuer's key goes to node's WebCrypto only for the signature.
 */
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { createPublicKey, randomBytes, webcrypto } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { KmipError } from '../errors.js';

// Passed explicitly so this module never depends on, or changes, x509's global provider.
const crypto = webcrypto as unknown as NonNullable<Parameters<typeof x509.X509CertificateGenerator.create>[1]>;

/** A certification authority kmipd signs with: its certificate (DER) and private key. */
export interface CertificateIssuer {
  readonly certificate: Buffer;
  readonly privateKey: KeyObject;
}

/** Certificate extensions a request asks for; each absent when not asked. */
export interface RequestedExtensions {
  /** The Subject Alternative Name extension's value: GeneralNames, DER. */
  readonly subjectAltNames?: Buffer;
  /** x509.KeyUsageFlags bits. */
  readonly keyUsage?: number;
  /** Extended key usage OIDs. */
  readonly extendedKeyUsage?: readonly string[];
  /** Basic Constraints cA. */
  readonly ca?: boolean;
}

/** What a PKCS#10 request holds, once its self-signature has been checked. */
export interface CertificateRequestInfo {
  /** The subject Name, DER. */
  readonly subject: Buffer;
  /** SubjectPublicKeyInfo, DER. */
  readonly publicKey: Buffer;
  readonly extensions: RequestedExtensions;
}

const OID = {
  subjectAltName: '2.5.29.17',
  keyUsage: '2.5.29.15',
  extendedKeyUsage: '2.5.29.37',
  basicConstraints: '2.5.29.19',
} as const;

const PEM_REQUEST = /-----BEGIN (NEW )?CERTIFICATE REQUEST-----([A-Za-z0-9+/=\s]+)-----END (NEW )?CERTIFICATE REQUEST-----/;

function invalidCsr(why: string): KmipError {
  return new KmipError('InvalidCSR', `the Certificate Request ${why}`);
}

/** The DER of a PEM certificate request (RFC 7468 section 7, "CERTIFICATE REQUEST"). */
export function pemRequestDer(pem: Uint8Array): Buffer {
  const match = PEM_REQUEST.exec(Buffer.from(pem).toString('latin1'));
  if (match === null) throw invalidCsr('is not PEM: no "-----BEGIN CERTIFICATE REQUEST-----" block');
  return Buffer.from((match[2] ?? '').replace(/\s+/g, ''), 'base64');
}

/**
 * A PKCS#10 request, parsed and its signature verified with the public key it holds
 * (proof that the requester has the private key): Invalid CSR when it does not parse or
 * the signature does not verify.
 */
export async function readCertificateRequest(der: Uint8Array): Promise<CertificateRequestInfo> {
  let request: x509.Pkcs10CertificateRequest;
  try {
    request = new x509.Pkcs10CertificateRequest(Uint8Array.from(der));
  } catch {
    throw invalidCsr('is not a DER PKCS#10 CertificationRequest (RFC 2986)');
  }
  let valid: boolean;
  try {
    valid = await request.verify(crypto);
  } catch {
    valid = false;
  }
  if (!valid) throw invalidCsr('signature does not verify with the public key it holds (or uses an algorithm this server cannot check)');
  try {
    return {
      subject: Buffer.from(request.subjectName.toArrayBuffer()),
      publicKey: Buffer.from(request.publicKey.rawData),
      extensions: requestedExtensions(request),
    };
  } catch (error) {
    if (error instanceof KmipError) throw error;
    throw invalidCsr('holds an extension request this server cannot read');
  }
}

function requestedExtensions(request: x509.Pkcs10CertificateRequest): RequestedExtensions {
  const out: { -readonly [K in keyof RequestedExtensions]: RequestedExtensions[K] } = {};
  const san = request.getExtension(OID.subjectAltName);
  if (san !== null) out.subjectAltNames = Buffer.from(san.value);
  const keyUsage = request.getExtension(OID.keyUsage);
  if (keyUsage !== null) out.keyUsage = new x509.KeyUsagesExtension(keyUsage.rawData).usages;
  const eku = request.getExtension(OID.extendedKeyUsage);
  if (eku !== null) out.extendedKeyUsage = new x509.ExtendedKeyUsageExtension(eku.rawData).usages.map(String);
  const basic = request.getExtension(OID.basicConstraints);
  if (basic !== null) out.ca = new x509.BasicConstraintsExtension(basic.rawData).ca;
  return out;
}

/** What a certificate says, as a renewal (Re-certify) starts from. */
export interface CertificateInfo {
  /** The subject Name, DER. */
  readonly subject: Buffer;
  /** SubjectPublicKeyInfo, DER. */
  readonly publicKey: Buffer;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly extensions: RequestedExtensions;
}

export function readCertificate(der: Uint8Array): CertificateInfo {
  let certificate: x509.X509Certificate;
  try {
    certificate = new x509.X509Certificate(Uint8Array.from(der));
  } catch {
    throw new KmipError('InvalidField', 'the certificate is not X.509 DER');
  }
  const out: { -readonly [K in keyof RequestedExtensions]: RequestedExtensions[K] } = {};
  const san = certificate.getExtension(OID.subjectAltName);
  if (san !== null) out.subjectAltNames = Buffer.from(san.value);
  const keyUsage = certificate.getExtension(x509.KeyUsagesExtension);
  if (keyUsage !== null) out.keyUsage = keyUsage.usages;
  const eku = certificate.getExtension(x509.ExtendedKeyUsageExtension);
  if (eku !== null) out.extendedKeyUsage = eku.usages.map(String);
  const basic = certificate.getExtension(x509.BasicConstraintsExtension);
  if (basic !== null) out.ca = basic.ca;
  return {
    subject: Buffer.from(certificate.subjectName.toArrayBuffer()),
    publicKey: Buffer.from(certificate.publicKey.rawData),
    notBefore: certificate.notBefore,
    notAfter: certificate.notAfter,
    extensions: out,
  };
}

/** What the new certificate says. */
export interface CertificateProfile {
  /** The subject Name, DER. */
  readonly subject: Buffer;
  /** SubjectPublicKeyInfo, DER. */
  readonly publicKey: Buffer;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly extensions: RequestedExtensions;
}

/** The issuer's certificate, checked as one that may sign certificates (RFC 5280 sections 4.2.1.3, 4.2.1.9). */
export function issuerCertificate(issuer: CertificateIssuer): x509.X509Certificate {
  let certificate: x509.X509Certificate;
  try {
    certificate = new x509.X509Certificate(Uint8Array.from(issuer.certificate));
  } catch {
    throw new KmipError('InvalidField', 'the issuer certificate is not an X.509 certificate');
  }
  const basic = certificate.getExtension(x509.BasicConstraintsExtension);
  if (basic === null || !basic.ca) throw new KmipError('InvalidField', 'the issuer certificate is not a CA certificate (Basic Constraints cA is not set)');
  const usage = certificate.getExtension(x509.KeyUsagesExtension);
  if (usage !== null && (usage.usages & x509.KeyUsageFlags.keyCertSign) === 0) {
    throw new KmipError('InvalidField', 'the issuer certificate\'s Key Usage does not include keyCertSign');
  }
  const issuerKey = createPublicKey({ key: Buffer.from(certificate.publicKey.rawData), format: 'der', type: 'spki' });
  if (!issuerKey.equals(createPublicKey(issuer.privateKey))) throw new KmipError('InvalidField', 'the issuer\'s private key does not belong to the issuer certificate');
  return certificate;
}

/** A new certificate for `profile`, signed by `issuer`; DER. */
export async function issueCertificate(issuer: CertificateIssuer, profile: CertificateProfile): Promise<Buffer> {
  const authority = issuerCertificate(issuer);
  if (profile.notAfter.getTime() <= profile.notBefore.getTime()) throw new KmipError('InvalidField', 'the certificate would expire before it becomes valid');
  // RFC 5280 section 4.2.1.9: under a CA of path length 0 (the issuing CA) no certificate may be a CA.
  if (profile.extensions.ca === true && authority.getExtension(x509.BasicConstraintsExtension)?.pathLength === 0) {
    throw new KmipError('InvalidField', 'the issuer may not certify CAs (its Basic Constraints path length is 0): ask for an end-entity certificate, without Certificate Sign');
  }
  if (profile.notAfter.getTime() > authority.notAfter.getTime()) {
    throw new KmipError('InvalidField', `the certificate cannot outlive its issuer, valid until ${authority.notAfter.toISOString()}`);
  }
  let publicKey: x509.PublicKey;
  try {
    publicKey = new x509.PublicKey(Uint8Array.from(profile.publicKey));
  } catch {
    throw new KmipError('InvalidField', 'the public key is not a SubjectPublicKeyInfo');
  }
  const { signingKey, signingAlgorithm } = await webCryptoSigner(issuer.privateKey);
  const requested = profile.extensions;
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(requested.ca === true, undefined, true),
    new x509.KeyUsagesExtension(requested.keyUsage ?? x509.KeyUsageFlags.digitalSignature, true),
    await x509.SubjectKeyIdentifierExtension.create(publicKey, false, crypto),
    await authorityKeyIdentifier(authority),
  ];
  if (requested.extendedKeyUsage !== undefined && requested.extendedKeyUsage.length > 0) extensions.push(new x509.ExtendedKeyUsageExtension([...requested.extendedKeyUsage], false));
  // RFC 5280 section 4.2.1.6: critical when the subject name is empty.
  if (requested.subjectAltNames !== undefined) extensions.push(new x509.Extension(OID.subjectAltName, profile.subject.length <= 2, Uint8Array.from(requested.subjectAltNames)));
  try {
    const certificate = await x509.X509CertificateGenerator.create(
      {
        serialNumber: serialNumber(),
        subject: new x509.Name(Uint8Array.from(profile.subject)),
        issuer: authority.subjectName,
        notBefore: profile.notBefore,
        notAfter: profile.notAfter,
        publicKey,
        signingKey,
        signingAlgorithm,
        extensions,
      },
      crypto,
    );
    return Buffer.from(certificate.rawData);
  } catch {
    throw new KmipError('CryptographicFailure', 'the certificate could not be signed with the issuer\'s key');
  }
}

/** 16 random octets, positive (RFC 5280 section 4.1.2.2 allows up to 20; unpredictable, as CA/B Baseline Requirements 7.1 ask). */
function serialNumber(): string {
  const bytes = randomBytes(16);
  bytes[0] = ((bytes[0] ?? 0) & 0x3f) | 0x40;
  return bytes.toString('hex');
}

/** RFC 5280 section 4.2.1.1: the issuer's own Subject Key Identifier, when it has one. */
async function authorityKeyIdentifier(authority: x509.X509Certificate): Promise<x509.AuthorityKeyIdentifierExtension> {
  const ski = authority.getExtension(x509.SubjectKeyIdentifierExtension);
  if (ski !== null) return new x509.AuthorityKeyIdentifierExtension(ski.keyId, false);
  return x509.AuthorityKeyIdentifierExtension.create(authority.publicKey, false, crypto);
}

type SigningAlgorithm = NonNullable<Parameters<typeof x509.X509CertificateGenerator.create>[0]['signingAlgorithm']>;

/** The issuer's key as WebCrypto signs with it: RSA PKCS#1 v1.5 with SHA-256, ECDSA with the curve's hash, Ed25519, Ed448. */
async function webCryptoSigner(key: KeyObject): Promise<{ signingKey: webcrypto.CryptoKey; signingAlgorithm: SigningAlgorithm }> {
  const pkcs8 = key.export({ format: 'der', type: 'pkcs8' });
  const importAs = async (algorithm: webcrypto.AlgorithmIdentifier | webcrypto.RsaHashedImportParams | webcrypto.EcKeyImportParams): Promise<webcrypto.CryptoKey> =>
    webcrypto.subtle.importKey('pkcs8', pkcs8, algorithm, false, ['sign']);
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return { signingKey: await importAs({ name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }), signingAlgorithm: { name: 'RSASSA-PKCS1-v1_5' } };
    case 'ec': {
      const curve = { prime256v1: ['P-256', 'SHA-256'], secp384r1: ['P-384', 'SHA-384'], secp521r1: ['P-521', 'SHA-512'] }[key.asymmetricKeyDetails?.namedCurve ?? ''];
      if (curve === undefined) break;
      const [namedCurve, hash] = curve;
      return { signingKey: await importAs({ name: 'ECDSA', namedCurve: namedCurve ?? '' }), signingAlgorithm: { name: 'ECDSA', hash } as SigningAlgorithm };
    }
    case 'ed25519':
      return { signingKey: await importAs({ name: 'Ed25519' }), signingAlgorithm: { name: 'Ed25519' } };
    case 'ed448':
      return { signingKey: await importAs({ name: 'Ed448' }), signingAlgorithm: { name: 'Ed448' } };
  }
  throw new KmipError('FeatureNotSupported', `an issuer key of type ${key.asymmetricKeyType ?? 'unknown'}${key.asymmetricKeyType === 'ec' ? ` on ${key.asymmetricKeyDetails?.namedCurve ?? 'an unnamed curve'}` : ''} cannot sign certificates here: use RSA, ECDSA on P-256/384/521, Ed25519 or Ed448`);
}

/** Subject Alternative Names from text ("DNS:host.example", "IP:192.0.2.1", "email:a@b"): GeneralNames, DER. */
export function alternativeNamesFromText(names: readonly string[]): Buffer {
  const types: Record<string, x509.GeneralNameType> = { dns: 'dns', ip: 'ip', email: 'email', url: 'url', uri: 'url', upn: 'upn', guid: 'guid' };
  const json = names.map((name): x509.JsonGeneralName => {
    const at = name.indexOf(':');
    const type = at < 0 ? undefined : types[name.slice(0, at).trim().toLowerCase()];
    if (type === undefined) throw new KmipError('InvalidField', `Subject Alternative Name ${JSON.stringify(name)} must be written TYPE:value with TYPE one of DNS, IP, email, URI, UPN, GUID`);
    return { type, value: name.slice(at + 1).trim() };
  });
  try {
    return Buffer.from(new x509.SubjectAlternativeNameExtension(json).value);
  } catch {
    throw new KmipError('InvalidField', 'a Subject Alternative Name is not valid for its type');
  }
}

/** GeneralNames (the extension value) from single GeneralName encodings (2.x X.509 Certificate Subject). */
export function alternativeNamesFromDer(names: readonly Uint8Array[]): Buffer {
  const body = Buffer.concat(names.map((n) => Buffer.from(n)));
  return Buffer.concat([Buffer.from([0x30]), derLength(body.length), body]);
}

function derLength(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  const bytes: number[] = [];
  for (let n = length; n > 0; n = Math.floor(n / 256)) bytes.unshift(n & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

/** A Name's DER from its RFC 4514 text ("CN=host, O=Example"). */
export function nameFromText(text: string): Buffer {
  try {
    return Buffer.from(new x509.Name(text).toArrayBuffer());
  } catch {
    throw new KmipError('InvalidField', `${JSON.stringify(text)} is not a distinguished name (RFC 4514, e.g. "CN=host, O=Example")`);
  }
}

/** A Name's DER from its attribute values, in order (OID, value). */
export function nameFromFields(fields: readonly (readonly [oid: string, value: string])[]): Buffer {
  const json: x509.JsonName = fields.map(([oid, value]) => ({ [oid]: [value] }));
  try {
    return Buffer.from(new x509.Name(json).toArrayBuffer());
  } catch {
    throw new KmipError('InvalidField', 'the subject name fields do not form a distinguished name');
  }
}

/** Whether `der` parses as a Name (X.509 Certificate Subject's Subject Distinguished Name). */
export function checkNameDer(der: Uint8Array): Buffer {
  try {
    return Buffer.from(new x509.Name(Uint8Array.from(der)).toArrayBuffer());
  } catch {
    throw new KmipError('InvalidField', 'the Subject Distinguished Name is not a DER Name');
  }
}
