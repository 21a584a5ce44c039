/**
 * The client's identity from its verified TLS certificate: the subject CN by default, or the
 * whole subject DN, or the SAN email address (the `identitySource` setting).
 */
import { X509Certificate } from 'node:crypto';
import type { PeerCertificate } from 'node:tls';
import type { Identity } from '../lib/auth/identity.js';
import type { CertificateGroups, IdentitySource } from './config.js';

export type IdentityResult = { readonly ok: true; readonly identity: Identity } | { readonly ok: false; readonly reason: string };

export interface IdentityRules {
  readonly source: IdentitySource;
  readonly admins: readonly string[];
  /** Configured identity groups: group name to member identities. */
  readonly groups?: Readonly<Record<string, readonly string[]>>;
  /** Whether the certificate subject's OUs are groups of the identity too. */
  readonly groupsFromCertificate?: CertificateGroups;
}

/** The subject and SAN of a certificate, as node:tls reports them. */
export type CertificateNames = Pick<PeerCertificate, 'subject' | 'subjectaltname' | 'raw'>;

export function identityResolver(rules: IdentityRules): (cert: CertificateNames) => IdentityResult {
  const admins = new Set(rules.admins);
  const groupsOf = groupResolver(rules.groups ?? {});
  return (cert) => {
    const name = identityName(cert, rules.source);
    if (!name.ok) return name;
    const fromCertificate = rules.groupsFromCertificate === 'subject-ou' ? subjectOus(cert) : [];
    return { ok: true, identity: withGroups({ name: name.name, admin: admins.has(name.name) }, [...groupsOf(name.name), ...fromCertificate]) };
  };
}

/** The configured groups of an identity name. */
export function groupResolver(groups: Readonly<Record<string, readonly string[]>>): (name: string) => string[] {
  const byMember = new Map<string, string[]>();
  for (const [group, members] of Object.entries(groups)) {
    for (const member of members) byMember.set(member, [...(byMember.get(member) ?? []), group]);
  }
  return (name) => byMember.get(name) ?? [];
}

/** The identity with its groups (none: no `groups` field, as before groups existed). */
export function withGroups(identity: Identity, groups: readonly string[]): Identity {
  const unique = [...new Set(groups)].sort();
  return unique.length === 0 ? identity : { ...identity, groups: unique };
}

/** The subject's Organizational Units: node:tls gives one as a string, several as an array. */
function subjectOus(cert: CertificateNames): string[] {
  const ou: unknown = cert.subject?.OU;
  const values = typeof ou === 'string' ? [ou] : Array.isArray(ou) ? ou : [];
  return values.filter((v): v is string => typeof v === 'string' && v !== '');
}

type NameResult = { readonly ok: true; readonly name: string } | { readonly ok: false; readonly reason: string };

export function identityName(cert: CertificateNames, source: IdentitySource): NameResult {
  switch (source) {
    case 'subject-cn':
      return subjectCn(cert);
    case 'subject-dn':
      return subjectDn(cert);
    case 'san-email':
      return sanEmail(cert);
  }
}

function subjectCn(cert: CertificateNames): NameResult {
  // node:tls gives an array when the subject holds several CNs: which one names the client is ambiguous.
  const cn: unknown = cert.subject?.CN;
  if (typeof cn === 'string' && cn !== '') return { ok: true, name: cn };
  if (Array.isArray(cn)) return { ok: false, reason: `the certificate subject has ${cn.length} Common Names` };
  return { ok: false, reason: 'the certificate subject has no Common Name' };
}

function subjectDn(cert: CertificateNames): NameResult {
  if (cert.raw === undefined || cert.raw.length === 0) return { ok: false, reason: 'no certificate' };
  // OpenSSL prints one "TYPE=value" a line in certificate order; commas in values are escaped
  // so that the joined DN cannot be mistaken for another.
  const lines = new X509Certificate(cert.raw).subject.split('\n').filter((line) => line !== '');
  if (lines.length === 0) return { ok: false, reason: 'the certificate subject is empty' };
  return {
    ok: true,
    name: lines
      .map((line) => {
        const eq = line.indexOf('=');
        return `${line.slice(0, eq + 1)}${line.slice(eq + 1).replace(/[\\,]/g, '\\$&')}`;
      })
      .join(','),
  };
}

function sanEmail(cert: CertificateNames): NameResult {
  const emails = subjectAltNames(cert.subjectaltname ?? '')
    .filter((entry) => entry.type === 'email')
    .map((entry) => entry.value);
  const [email] = emails;
  if (email === undefined || email === '') return { ok: false, reason: 'the certificate has no email address in its Subject Alternative Name' };
  if (emails.length > 1) return { ok: false, reason: `the certificate has ${emails.length} email addresses in its Subject Alternative Name` };
  return { ok: true, name: email };
}

/**
 * Entries of node:tls's `subjectaltname` text: `email:a@b, DNS:x`. Since Node 17 a value that
 * holds a comma or a quote is written as a JSON string, so splitting on commas is safe outside quotes.
 */
export function subjectAltNames(text: string): { type: string; value: string }[] {
  const entries: { type: string; value: string }[] = [];
  let i = 0;
  while (i < text.length) {
    while (text[i] === ' ') i++;
    const colon = text.indexOf(':', i);
    if (colon < 0) break;
    const type = text.slice(i, colon);
    let j = colon + 1;
    let value: string;
    if (text[j] === '"') {
      let k = j + 1;
      while (k < text.length && text[k] !== '"') k += text[k] === '\\' ? 2 : 1;
      value = parseQuoted(text.slice(j, k + 1));
      j = k + 1;
    } else {
      const comma = text.indexOf(',', j);
      const end = comma < 0 ? text.length : comma;
      value = text.slice(j, end);
      j = end;
    }
    entries.push({ type, value });
    i = text.indexOf(',', j);
    if (i < 0) break;
    i++;
  }
  return entries;
}

function parseQuoted(quoted: string): string {
  try {
    const value: unknown = JSON.parse(quoted);
    return typeof value === 'string' ? value : quoted;
  } catch {
    return quoted;
  }
}
