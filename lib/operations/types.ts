import type { KmipVersion, TtlvItem } from '../../ttlv/index.js';
import type { Identity } from '../auth/identity.js';
import type { Logger } from '../log.js';
import type { Fields } from '../protocol/fields.js';
import type { StreamTable } from '../crypto/streams.js';
import type { HsmKeys } from '../crypto/pkcs11/resident.js';
import type { CertificateIssuer } from '../crypto/x509.js';
import type { Store } from '../store/types.js';

/** The HSM as the operations see it. */
export interface HsmContext {
  readonly keys: HsmKeys;
  /** Which new keys are generated in the HSM (server setting hsmResidentKeys). */
  readonly resident: 'off' | 'sensitive';
}

/** Everything an operation handler may use; one per batch item. */
export interface OperationContext {
  readonly identity: Identity;
  /** The protocol version of the request, which the response must fit. */
  readonly version: KmipVersion;
  /** Server time of the request, POSIX seconds. */
  readonly now: bigint;
  readonly store: Store;
  readonly log: Logger;
  readonly limits: OperationLimits;
  /** The service runs for interoperability testing: `testing` operations (Interop) are offered. */
  readonly testing: boolean;
  /** Multi-part cryptographic operations in progress (Correlation Values). */
  readonly streams: StreamTable;
  /**
   * The CA that Certify and Re-certify sign with when the request names no issuer of its
   * own (the data folder's issuing CA); absent, they need an issuer named in the request.
   */
  readonly issuer?: CertificateIssuer;
  /** The configured HSM (PKCS#11): keys held in it, and the PKCS#11 operation. Absent without one. */
  readonly hsm?: HsmContext;
  /**
   * The ID Placeholder of the batch (KMIP 2.1 section 2.1.1.2 / 1.4 section 3.1): the
   * Unique Identifier the previous operation of this batch returned, used when a request
   * leaves its Unique Identifier out.
   */
  idPlaceholder: string | undefined;
  /**
   * The Operation of the batch item being run (set by the service before each item): what
   * loadObject checks the caller may do with the object (lib/auth/permissions.ts).
   */
  operation?: number;
}

export interface OperationLimits {
  /** Largest number of objects a Locate returns when the request sets no Maximum Items. */
  readonly locateMaxItems: number;
  /**
   * Candidate objects (those the store's index finds) a Locate examines at most. Past it, a
   * Locate whose page is not full yet fails with Server Limit Exceeded rather than read on.
   */
  readonly locateMaxScan: number;
  /**
   * Candidate objects a paged Locate examines at most to count Located Items (all of them
   * must be matched to count); past it, the answer leaves Located Items out, as KMIP allows
   * (1.4 section 4.9: the server may be "unable or unwilling to determine the total count").
   */
  readonly locateMaxCount: number;
  /**
   * The Lease Time the server gives every object it creates or registers (2.1 section
   * 4.30: the longest lease it serves), seconds; 0 means leases do not expire.
   */
  readonly leaseTimeSeconds: number;
}

/**
 * One KMIP operation: `decode` turns the request payload into a typed request (throwing
 * KmipError on bad fields); `handle` does the work and returns the response payload's
 * children, built for `ctx.version`.
 */
export interface Operation<Request> {
  /** Operation enumeration value. */
  readonly code: number;
  /** First protocol version that defines this operation. */
  readonly since: KmipVersion;
  /**
   * Offered only by a service started for interoperability testing (Interop: "SHALL NOT be
   * available in a production server", 2.1 section 6.1.26).
   */
  readonly testing?: boolean;
  decode(payload: Fields, ctx: OperationContext): Request;
  handle(ctx: OperationContext, request: Request): Promise<readonly TtlvItem[]>;
}

/** Define an operation with its request type inferred. */
export function operation<Request>(def: Operation<Request>): Operation<Request> {
  return def;
}
