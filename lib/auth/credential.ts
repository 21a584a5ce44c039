/**
 * The KMIP Credential of a request header (1.4 section 2.1.2 and 6.6, 2.1 section 2.1.2 and
 * 9.6): Authentication holds one Credential (1.0, 1.1) or several (1.2 on), each a Credential
 * Type and a Credential Value. kmipd reads the Username and Password type, the same shape in
 * every version: Credential Value { Username (Text String), Password (Text String, optional) }.
 *
 * The service asks an `Authenticator` (ServiceOptions.authenticate) whether the credential
 * may act, and as whom; the server's authenticator checks it against its users file.
 */
import { Enum, Tag } from '../../ttlv/index.js';
import { KmipError } from '../errors.js';
import { Fields } from '../protocol/fields.js';
import type { Identity } from './identity.js';

/** What a request's Authentication says, as far as kmipd reads it. */
export type RequestCredential =
  /** No Authentication in the header. */
  | { readonly kind: 'none' }
  | { readonly kind: 'password'; readonly username: string; readonly password: string | undefined }
  /** Authentication present, but without one usable Username and Password Credential. */
  | { readonly kind: 'unusable'; readonly reason: string };

/** The connection a request came on: its certificate identity, and the object caches may key on. */
export interface CredentialSession {
  readonly identity: Identity;
  readonly peer: string;
}

export type AuthenticationOutcome =
  | { readonly ok: true; readonly identity: Identity }
  | {
      readonly ok: false;
      /** For the server log only: which check failed (never the password). */
      readonly reason: string;
      /** For the client and the audit record: says nothing an attacker could use. */
      readonly message: string;
      readonly username?: string;
    };

/**
 * Decides whether a request may run, and as which identity. Called once per request message
 * with the same session object for every request of a connection; must not throw.
 */
export type Authenticator = (credential: RequestCredential, session: CredentialSession) => Promise<AuthenticationOutcome>;

export function readCredential(authentication: Fields | undefined): RequestCredential {
  if (authentication === undefined) return { kind: 'none' };
  try {
    const credentials = authentication.all(Tag.Credential);
    if (credentials.length === 0) return { kind: 'unusable', reason: 'Authentication holds no Credential' };
    const passwords: { username: string; password: string | undefined }[] = [];
    const otherTypes: number[] = [];
    for (const [index, item] of credentials.entries()) {
      const credential = Fields.of(item, `${authentication.path}/Credential[${index}]`);
      const type = credential.enumeration(Tag.CredentialType);
      if (type !== Enum.CredentialType.UsernameAndPassword) {
        otherTypes.push(type);
        continue;
      }
      const value = credential.struct(Tag.CredentialValue);
      passwords.push({ username: value.text(Tag.Username), password: value.optionalText(Tag.Password) });
    }
    const [only] = passwords;
    if (only === undefined) {
      return { kind: 'unusable', reason: `no Username and Password Credential (Credential Type ${otherTypes.map((t) => `0x${t.toString(16).padStart(8, '0')}`).join(', ')})` };
    }
    if (passwords.length > 1) return { kind: 'unusable', reason: `${passwords.length} Username and Password Credentials; one is expected` };
    return { kind: 'password', username: only.username, password: only.password };
  } catch (error) {
    if (error instanceof KmipError) return { kind: 'unusable', reason: error.message };
    throw error;
  }
}
