/**
 * Messages between the main thread and the PKCS#11 worker. Every request carries an `id`;
 * the worker answers each exactly once with the same `id`. Byte values travel as
 * Uint8Arrays whose ArrayBuffer is transferred, never copied through the structured clone.
 */
import type { KekErrorCode } from '../kek.js';
import type { Pkcs11FailureReason } from './errors.js';
import type { ResultReasonName } from '../../errors.js';

export interface OpenRequest {
  readonly tokenLabel: string;
  readonly pin: string;
  readonly keyLabel: string;
  readonly create: boolean;
  readonly allowExtractable: boolean;
}

/** What the worker learned when it opened the KEK. Nothing here is secret. */
export interface OpenedKek {
  /** "pkcs11:" and 8 bytes of AES-ECB under the KEK of a fixed block: names the key itself. */
  readonly id: string;
  readonly created: boolean;
  readonly token: { readonly label: string; readonly serial: string; readonly manufacturer: string; readonly model: string };
  readonly key: { readonly label: string; readonly extractable: boolean; readonly sensitive: boolean };
}

/** Each operation: what the request adds to `{ id, op }`, and what a success returns. */
export interface Operations {
  open: { request: OpenRequest; result: { readonly handle: number; readonly opened: OpenedKek } };
  wrap: { request: { readonly handle: number; readonly data: Uint8Array }; result: Uint8Array };
  unwrap: { request: { readonly handle: number; readonly data: Uint8Array }; result: Uint8Array };
  close: { request: { readonly handle: number }; result: null };
  /** Finalise the module; the worker is terminated after the answer. */
  shutdown: { request: Record<string, never>; result: null };
}

export type OperationName = keyof Operations;

export type Request = { [K in OperationName]: { readonly id: number; readonly op: K } & Operations[K]['request'] }[OperationName];

/** An error as it crosses the thread boundary: a KekError code, or a PKCS#11 failure reason. */
export type WireError =
  | { readonly kind: 'kek'; readonly code: KekErrorCode; readonly message: string }
  | { readonly kind: 'pkcs11'; readonly reason: Pkcs11FailureReason; readonly message: string };

export type Reply =
  | { readonly id: number; readonly ok: true; readonly result: Operations[OperationName]['result'] }
  | { readonly id: number; readonly ok: false; readonly error: WireError };

/** What the worker is started with. */
export interface WorkerConfig {
  readonly modulePath: string;
}

// ---------------------------------------------------------------------------------------
// Keys held in the HSM (resident.ts, resident-token.ts) and the module's own information

/** What C_GetInfo returns; strings exactly as the module gives them (blank padded). */
export interface ModuleInfo {
  readonly cryptokiVersion: readonly [number, number];
  readonly manufacturerID: string;
  readonly flags: number;
  readonly libraryDescription: string;
  readonly libraryVersion: readonly [number, number];
}

/** A PKCS#11 mechanism a resident key is used with, and its parameters. */
export type ResidentMechanism =
  | { readonly name: 'AES_ECB' }
  | { readonly name: 'AES_CBC' | 'AES_CBC_PAD'; readonly iv: Uint8Array }
  | { readonly name: 'AES_GCM'; readonly iv: Uint8Array; readonly aad: Uint8Array; readonly tagBits: number }
  | { readonly name: 'AES_CMAC' | 'SHA_1_HMAC' | 'SHA224_HMAC' | 'SHA256_HMAC' | 'SHA384_HMAC' | 'SHA512_HMAC' };

/** The kind of secret key generated in the token. */
export type ResidentKeyType = 'AES' | 'GENERIC_SECRET';

/** A resident key is found by CKA_LABEL (and CKA_ID): the managed object's Unique Identifier. */
export interface ResidentKeyRef {
  readonly handle: number;
  readonly label: string;
}

/**
 * What a resident-key operation gives back: its value, or a refusal that is a KMIP answer
 * (a failed tag, a missing key), as opposed to a device failure, which is an error.
 */
export type ResidentOutcome<T> = { readonly value: T } | { readonly refused: { readonly reason: ResultReasonName; readonly message: string } };

export interface ResidentKeyAttributes {
  readonly extractable: boolean;
  readonly sensitive: boolean;
  readonly token: boolean;
  readonly keyType: string;
  readonly bytes: number;
}

// Declaration merging: these operations join the ones above (one worker serves both).
export interface Operations {
  /** Open a logged-in session on the token for resident keys. */
  residentOpen: { request: { readonly tokenLabel: string; readonly pin: string }; result: ResidentOutcome<{ readonly handle: number; readonly token: OpenedKek['token'] }> };
  residentGenerate: { request: ResidentKeyRef & { readonly keyType: ResidentKeyType; readonly bytes: number }; result: ResidentOutcome<null> };
  residentEncrypt: { request: ResidentKeyRef & { readonly mechanism: ResidentMechanism; readonly data: Uint8Array }; result: ResidentOutcome<Uint8Array> };
  residentDecrypt: { request: ResidentKeyRef & { readonly mechanism: ResidentMechanism; readonly data: Uint8Array }; result: ResidentOutcome<Uint8Array> };
  residentSign: { request: ResidentKeyRef & { readonly mechanism: ResidentMechanism; readonly data: Uint8Array }; result: ResidentOutcome<Uint8Array> };
  /** The number of token objects destroyed (0 when none had the label). */
  residentDestroy: { request: ResidentKeyRef; result: ResidentOutcome<number> };
  /** The protection attributes of a resident key, or null when the token has none with the label. */
  residentAttributes: { request: ResidentKeyRef; result: ResidentOutcome<ResidentKeyAttributes | null> };
  residentClose: { request: { readonly handle: number }; result: ResidentOutcome<null> };
  /** C_GetInfo of the module. */
  moduleInfo: { request: Record<string, never>; result: ResidentOutcome<ModuleInfo> };
}

export type ResidentOperationName = 'residentOpen' | 'residentGenerate' | 'residentEncrypt' | 'residentDecrypt' | 'residentSign' | 'residentDestroy' | 'residentAttributes' | 'residentClose' | 'moduleInfo';
