/** Who is asking: derived from the TLS client certificate (and, later, a KMIP Credential). */
export interface Identity {
  /** The identity's name: by default the client certificate subject's CN. */
  readonly name: string;
  /** Administrators see and may use every object. */
  readonly admin: boolean;
}
