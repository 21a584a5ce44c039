/**
 * The Credential a client sends in every request header (KmipClientOptions.credential):
 * 1.4 section 2.1.2 and 2.1 section 2.1.2 give the Username and Password type the same
 * shape in every version, the one kmipd's `requireCredential` reads (lib/auth/credential.ts).
 */
import { Enum, Tag } from '../../ttlv/index.js';
import type { StructureItem } from '../../ttlv/index.js';
import { invalidArgument } from './errors.js';
import { enumeration, struct, text } from './ttlv.js';

/** Credential { Credential Type: Username and Password, Credential Value { Username, Password } }. */
export function usernamePasswordCredential(username: string, password: string): StructureItem {
  if (username === '') throw invalidArgument('the credential needs a user name');
  if (password === '') throw invalidArgument(`the credential of user ${username} has an empty password`);
  return struct(Tag.Credential, [
    enumeration(Tag.CredentialType, Enum.CredentialType.UsernameAndPassword),
    struct(Tag.CredentialValue, [text(Tag.Username, username), text(Tag.Password, password)]),
  ]);
}
