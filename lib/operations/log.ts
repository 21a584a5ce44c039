/**
 * Log (KMIP 2.1 section 6.1.29): a client asks the server to write a message to its log.
 * The message goes on one structured line with the client's identity (every request log
 * line carries it), cut to a length that keeps a client from flooding the log.
 */
import { Enum, Tag } from '../../ttlv/index.js';
import { operation } from './types.js';

/** Characters of a Log Message kept in the log line. */
const MAX_LOGGED = 4096;

export const logOperation = operation<{ message: string }>({
  code: Enum.Operation.Log,
  since: '2.0',
  decode: (payload) => ({ message: payload.text(Tag.LogMessage) }),
  handle: async (ctx, { message }) => {
    const truncated = message.length > MAX_LOGGED;
    ctx.log.info('client log message', { logMessage: truncated ? message.slice(0, MAX_LOGGED) : message, ...(truncated ? { truncatedFrom: message.length } : {}) });
    return [];
  },
});
