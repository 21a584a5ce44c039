/**
 * The attributes the server takes from an X.509 certificate it stores (KMIP 2.1 sections
 * 4.6, 4.22, 4.61-4.63; 1.4 sections 3.9-3.16): the subject and issuer names, field by field
 * (2.x "Certificate Subject CN", ...) and whole (X.509 Certificate Subject / Issuer as DER,
 * 1.x Certificate Subject / Issuer as text), the identifier (issuer and serial number), the
 * Digital Signature Algorithm, and the Cryptographic Algorithm and Length of the public key
 * it certifies. A value that does not parse as X.509 gets none of them.
 */
import 'reflect-metadata';
import { createPublicKey } from 'node:crypto';
import { IssuerAlternativeNameExtension, Name, SubjectAlternativeNameExtension, X509Certificate } from '@peculiar/x509';
import { Enum, Tag } from '../../ttlv/index.js';
import type { TtlvItem } from '../../ttlv/index.js';
import type { AttributeInstance } from '../attributes/types.js';
import { keyBits } from '../crypto/asymmetric.js';
import { bytes, enumeration, int, struct, text } from '../protocol/build.js';

/** 2.1 section 4.6: the name fields KMIP gives an attribute each, by X.500 attribute type. */
export const NAME_FIELDS: readonly (readonly [field: string, oid: string])[] = [
  ['CN', '2.5.4.3'],
  ['O', '2.5.4.10'],
  ['OU', '2.5.4.11'],
  ['Email', '1.2.840.113549.1.9.1'],
  ['C', '2.5.4.6'],
  ['ST', '2.5.4.8'],
  ['L', '2.5.4.7'],
  ['UID', '0.9.2342.19200300.100.1.1'],
  ['Serial Number', '2.5.4.5'],
  ['Title', '2.5.4.12'],
  ['DC', '0.9.2342.19200300.100.1.25'],
  ['DN Qualifier', '2.5.4.46'],
];

const DSA = Enum.DigitalSignatureAlgorithm;

/** Signature algorithm and hash, as @peculiar/x509 names them, to KMIP's Digital Signature Algorithm. */
const SIGNATURE_ALGORITHMS: ReadonlyMap<string, number> = new Map([
  ['RSASSA-PKCS1-v1_5/SHA-1', DSA.SHA_1WithRSAEncryption],
  ['RSASSA-PKCS1-v1_5/SHA-224', DSA.SHA_224WithRSAEncryption],
  ['RSASSA-PKCS1-v1_5/SHA-256', DSA.SHA_256WithRSAEncryption],
  ['RSASSA-PKCS1-v1_5/SHA-384', DSA.SHA_384WithRSAEncryption],
  ['RSASSA-PKCS1-v1_5/SHA-512', DSA.SHA_512WithRSAEncryption],
  ['RSA-PSS', DSA.RSASSA_PSS],
  ['ECDSA/SHA-1', DSA.ECDSAWithSHA_1],
  ['ECDSA/SHA-224', DSA.ECDSAWithSHA224],
  ['ECDSA/SHA-256', DSA.ECDSAWithSHA256],
  ['ECDSA/SHA-384', DSA.ECDSAWithSHA384],
  ['ECDSA/SHA-512', DSA.ECDSAWithSHA512],
]);

/** The attributes of an X.509 certificate's value; none when the value is not X.509 DER. */
export function x509Attributes(der: Uint8Array): AttributeInstance[] {
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(Uint8Array.from(der));
  } catch {
    return [];
  }
  const subject = certificate.subjectName;
  const issuer = certificate.issuerName;
  const serial = Buffer.from(certificate.serialNumber, 'hex');
  const subjectAlt = alternativeNames(certificate, SubjectAlternativeNameExtension);
  const issuerAlt = alternativeNames(certificate, IssuerAlternativeNameExtension);
  const out: AttributeInstance[] = [
    ...nameFields('Subject', subject),
    ...nameFields('Issuer', issuer),
    attribute('X.509 Certificate Identifier', struct(Tag.X_509CertificateIdentifier, [bytes(Tag.IssuerDistinguishedName, nameDer(issuer)), bytes(Tag.CertificateSerialNumber, serial)])),
    attribute('X.509 Certificate Subject', struct(Tag.X_509CertificateSubject, [bytes(Tag.SubjectDistinguishedName, nameDer(subject)), ...subjectAlt.map((n) => bytes(Tag.SubjectAlternativeName, n.der))])),
    attribute('X.509 Certificate Issuer', struct(Tag.X_509CertificateIssuer, [bytes(Tag.IssuerDistinguishedName, nameDer(issuer)), ...issuerAlt.map((n) => bytes(Tag.IssuerAlternativeName, n.der))])),
    // KMIP 1.0's text forms (deprecated since 1.1, still defined in 1.4).
    attribute('Certificate Identifier', struct(Tag.CertificateIdentifier, [text(Tag.Issuer, issuer.toString()), text(Tag.SerialNumber, certificate.serialNumber)])),
    attribute('Certificate Subject', struct(Tag.CertificateSubject, [text(Tag.CertificateSubjectDistinguishedName, subject.toString()), ...subjectAlt.map((n) => text(Tag.CertificateSubjectAlternativeName, n.text))])),
    attribute('Certificate Issuer', struct(Tag.CertificateIssuer, [text(Tag.CertificateIssuerDistinguishedName, issuer.toString()), ...issuerAlt.map((n) => text(Tag.CertificateIssuerAlternativeName, n.text))])),
  ];
  const algorithm = signatureAlgorithm(certificate);
  if (algorithm !== undefined) out.push(attribute('Digital Signature Algorithm', enumeration(Tag.DigitalSignatureAlgorithm, algorithm)));
  out.push(...subjectKeyAttributes(new Uint8Array(certificate.publicKey.rawData)));
  return out;
}

/** KMIP's Cryptographic Algorithm for a node key type; ECDH for the Montgomery curves (RFC 7748). */
const KEY_ALGORITHMS: Readonly<Record<string, number>> = {
  rsa: Enum.CryptographicAlgorithm.RSA,
  'rsa-pss': Enum.CryptographicAlgorithm.RSA,
  ec: Enum.CryptographicAlgorithm.EC,
  ed25519: Enum.CryptographicAlgorithm.Ed25519,
  ed448: Enum.CryptographicAlgorithm.Ed448,
  x25519: Enum.CryptographicAlgorithm.ECDH,
  x448: Enum.CryptographicAlgorithm.ECDH,
  dsa: Enum.CryptographicAlgorithm.DSA,
};

/**
 * The Cryptographic Algorithm and Length of the key a certificate certifies (2.1 sections
 * 4.7 and 4.9 apply them to certificates); none for a key node cannot read.
 */
export function subjectKeyAttributes(spki: Uint8Array): AttributeInstance[] {
  try {
    const key = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
    const type = key.asymmetricKeyType ?? '';
    const algorithm = KEY_ALGORITHMS[type];
    if (algorithm === undefined) return [];
    const out = [attribute('Cryptographic Algorithm', enumeration(Tag.CryptographicAlgorithm, algorithm))];
    const bits = type === 'dsa' || type === 'rsa-pss' ? key.asymmetricKeyDetails?.modulusLength : keyBits(key);
    if (bits !== undefined) out.push(attribute('Cryptographic Length', int(Tag.CryptographicLength, bits)));
    return out;
  } catch {
    return [];
  }
}

function attribute(name: string, value: TtlvItem): AttributeInstance {
  return { name, value };
}

function nameDer(name: Name): Uint8Array {
  return new Uint8Array(name.toArrayBuffer());
}

/** "Certificate Subject CN", "Certificate Issuer O", ...: one instance per value, in certificate order. */
function nameFields(who: 'Subject' | 'Issuer', name: Name): AttributeInstance[] {
  return NAME_FIELDS.flatMap(([field, oid]) => {
    const tag = Tag[`Certificate${who}${field.replace(/ /g, '')}` as keyof typeof Tag];
    return name.getField(oid).map((value) => attribute(`Certificate ${who} ${field}`, text(tag, value)));
  });
}

interface AlternativeName {
  /** The GeneralName, DER. */
  readonly der: Uint8Array;
  /** "DNS:host.example", as the 1.x text attributes carry it. */
  readonly text: string;
}

function alternativeNames(certificate: X509Certificate, type: typeof SubjectAlternativeNameExtension | typeof IssuerAlternativeNameExtension): AlternativeName[] {
  try {
    const extension = certificate.getExtension(type);
    if (extension === null) return [];
    return extension.names.items.map((name) => ({ der: new Uint8Array(name.rawData), text: `${name.type}:${name.value}` }));
  } catch {
    // A name form the parser does not read (otherName, X.400 address): left out.
    return [];
  }
}

function signatureAlgorithm(certificate: X509Certificate): number | undefined {
  const { name, hash } = certificate.signatureAlgorithm as { name: string; hash?: { name: string } };
  return SIGNATURE_ALGORITHMS.get(hash === undefined || name === 'RSA-PSS' ? name : `${name}/${hash.name}`);
}
