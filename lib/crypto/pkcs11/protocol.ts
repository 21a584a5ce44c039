/**
 * Messages between the main thread and the PKCS#11 worker. Every request carries an `id`;
 * the worker answers each exactly once with the same `id`. Byte values travel as
 * Uint8Arrays whose ArrayBuffer is transferred, never copied through the structured clone.
 */
import type { KekErrorCode } from '../kek.js';
import type { Pkcs11FailureReason } from './errors.js';

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
