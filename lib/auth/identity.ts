/** Who is asking: derived from the TLS client certificate (and, when required, a KMIP Credential). */
export interface Identity {
  /** The identity's name: by default the client certificate subject's CN. */
  readonly name: string;
  /** Administrators see and may use every object. */
  readonly admin: boolean;
  /**
   * The identity groups it belongs to (the `identityGroups` setting, and the certificate's
   * OUs when `groupsFromCertificate` says so): grants to a group apply to its members.
   */
  readonly groups?: readonly string[];
}

/** Whom a grant can name: one identity, or every member of an identity group. */
export type GranteeKind = 'identity' | 'group';

/** What a request is checked as: the identity and its groups. */
export interface Principal {
  readonly identity: string;
  readonly groups: readonly string[];
}

export function principalOf(identity: Identity): Principal {
  return { identity: identity.name, groups: identity.groups ?? [] };
}
