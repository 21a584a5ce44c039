/**
 * Interop (KMIP 2.1 section 6.1.26): a test harness tells the server that a test case
 * begins or ends. The operation "SHALL NOT be available in a production server", so it is
 * `testing`: the dispatcher and Query offer it only when the service runs for interop
 * testing. Begin and End mark the test in the log; no object is touched.
 */
import { Enum, Tag } from '../../ttlv/index.js';
import { KmipError } from '../errors.js';
import { operation } from './types.js';

const F = Enum.InteropFunction;

interface InteropRequest {
  fn: number;
  identifier: string;
}

export const interop = operation<InteropRequest>({
  code: Enum.Operation.Interop,
  since: '2.0',
  testing: true,
  decode: (payload) => ({ fn: payload.enumeration(Tag.InteropFunction), identifier: payload.text(Tag.InteropIdentifier) }),
  handle: async (ctx, { fn, identifier }) => {
    switch (fn) {
      case F.Begin:
        ctx.log.info('interop test begins', { interopIdentifier: identifier });
        return [];
      case F.End:
        ctx.log.info('interop test ends', { interopIdentifier: identifier });
        return [];
      case F.Reset:
        // Going back to the start of a session would mean erasing the store.
        throw new KmipError('FeatureNotSupported', 'Interop Reset is not offered: kmipd does not erase its objects on request');
      default:
        throw new KmipError('InvalidField', `Interop Function 0x${fn.toString(16).padStart(8, '0')} is not Begin, End or Reset`);
    }
  },
});
