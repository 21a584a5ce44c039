/**
 * Errors that know their KMIP Result Reason. The dispatcher turns a KmipError into the
 * batch item's Result Status (Operation Failed), Result Reason and Result Message; any
 * other exception becomes General Failure and is logged with context.
 */
import { Enum } from '../ttlv/index.js';

export type ResultReasonName = keyof typeof Enum.ResultReason;

export class KmipError extends Error {
  override readonly name = 'KmipError';
  constructor(
    /** The KMIP 2.1 Result Reason; the protocol layer maps it for older versions. */
    readonly reason: ResultReasonName,
    /** A Result Message a person can act on. Never holds key material. */
    message: string,
  ) {
    super(message);
  }
}

export const notFound = (id: string): KmipError => new KmipError('ItemNotFound', `no object with Unique Identifier ${JSON.stringify(id)}`);
export const invalidField = (message: string): KmipError => new KmipError('InvalidField', message);
