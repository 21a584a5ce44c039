/**
 * PKCS#11 (KMIP 2.1 section 6.1.37): PKCS#11 functions carried in KMIP, served by the HSM
 * kmipd is configured with. C_Initialize opens a PKCS#11 session of the client, named by a
 * Correlation Value (kept like a multi-part cryptographic stream, lib/crypto/streams.ts);
 * C_GetInfo answers the module's own CK_INFO; C_Finalize ends the session. The module itself
 * is shared with the KEK and keys held in the HSM, so a client's C_Initialize and C_Finalize
 * never initialise or finalise it. Other functions answer CKR_FUNCTION_NOT_SUPPORTED.
 */
import { Enum, Tag } from '../../ttlv/index.js';
import type { ModuleInfo } from '../crypto/pkcs11/resident.js';
import { KmipError } from '../errors.js';
import { bytes, enumeration } from '../protocol/build.js';
import { operation } from './types.js';

const F = Enum.PKCS_11Function;
const RC = Enum.PKCS_11ReturnCode;

/** The default interface of PKCS#11 3.0 (its CK_INTERFACE name), the only one offered. */
const DEFAULT_INTERFACE = 'PKCS 11';
/** C_Initialize's arguments are a few bytes; anything long is not PKCS#11 input. */
const MAX_INPUT_BYTES = 4096;

interface Pkcs11Request {
  readonly fn: number;
  readonly correlation: Buffer | undefined;
  readonly input: Buffer | undefined;
}

export const pkcs11Operation = operation<Pkcs11Request>({
  code: Enum.Operation.PKCS_11,
  since: '2.0',
  decode: (payload) => {
    const iface = payload.optionalText(Tag.PKCS_11Interface);
    if (iface !== undefined && iface !== DEFAULT_INTERFACE) {
      throw new KmipError('PKCS_11InvalidInterface', `PKCS#11 interface "${iface}" is not offered: only the default interface ("${DEFAULT_INTERFACE}")`);
    }
    const fn = payload.optional(Tag.PKCS_11Function);
    if (fn === undefined) throw new KmipError('InvalidField', 'PKCS#11 needs the PKCS#11 Function');
    if (fn.type === 'Integer') throw new KmipError('PKCS_11InvalidFunction', `vendor PKCS#11 function ${fn.value} is not offered`);
    if (fn.type !== 'Enumeration') throw new KmipError('InvalidField', 'the PKCS#11 Function is an Enumeration or an Integer');
    const input = payload.optionalValue(Tag.PKCS_11InputParameters, 'ByteString');
    if (input !== undefined && input.length > MAX_INPUT_BYTES) {
      throw new KmipError('PKCS_11CodecError', `PKCS#11 Input Parameters of ${input.length} bytes: at most ${MAX_INPUT_BYTES} are accepted`);
    }
    const correlation = payload.optionalValue(Tag.CorrelationValue, 'ByteString');
    return { fn: fn.value, correlation: correlation === undefined ? undefined : Buffer.from(correlation), input: input === undefined ? undefined : Buffer.from(input) };
  },
  handle: async (ctx, request) => {
    if (ctx.hsm === undefined) {
      throw new KmipError('FeatureNotSupported', 'this kmipd has no HSM: the PKCS#11 operation needs the pkcs11Module, pkcs11TokenLabel and pkcs11PinFile settings');
    }
    const fn = enumeration(Tag.PKCS_11Function, request.fn);
    const answer = (code: number, ...rest: ReturnType<typeof bytes>[]): ReturnType<typeof bytes>[] => [fn, ...rest, enumeration(Tag.PKCS_11ReturnCode, code)];
    const owner = ctx.identity.name;
    // A session is the caller's own: another identity's Correlation Value is unknown to it.
    const session = (): boolean => {
      if (request.correlation === undefined) return false;
      ctx.streams.continue('pkcs11', request.correlation, owner, '');
      return true;
    };
    switch (request.fn) {
      case F.C_Initialize: {
        if (request.correlation !== undefined && session()) return answer(RC.CRYPTOKI_ALREADY_INITIALIZED, bytes(Tag.CorrelationValue, request.correlation));
        const correlation = ctx.streams.open('pkcs11', { owner, objectId: '', state: null });
        return answer(RC.OK, bytes(Tag.CorrelationValue, correlation));
      }
      case F.C_GetInfo: {
        if (!session()) return answer(RC.CRYPTOKI_NOT_INITIALIZED);
        return answer(RC.OK, bytes(Tag.PKCS_11OutputParameters, encodeCkInfo(await ctx.hsm.keys.moduleInfo())));
      }
      case F.C_Finalize: {
        if (!session() || request.correlation === undefined) return answer(RC.CRYPTOKI_NOT_INITIALIZED);
        ctx.streams.close(request.correlation);
        return answer(RC.OK);
      }
      default:
        if (!session()) return answer(RC.CRYPTOKI_NOT_INITIALIZED);
        return answer(RC.FUNCTION_NOT_SUPPORTED, ...(request.correlation === undefined ? [] : [bytes(Tag.CorrelationValue, request.correlation)]));
    }
  },
});

/** Length of an encoded CK_INFO: version 2, manufacturerID 32, flags 8, libraryDescription 32, version 2. */
export const CK_INFO_BYTES = 76;

/**
 * CK_INFO as the KMIP PKCS#11 profile's test cases carry it: cryptokiVersion (major, minor),
 * manufacturerID (32 bytes, blank padded), flags (CK_FLAGS, 8 bytes, most significant
 * first), libraryDescription (32 bytes, blank padded), libraryVersion (major, minor).
 */
export function encodeCkInfo(info: ModuleInfo): Buffer {
  const out = Buffer.alloc(CK_INFO_BYTES, 0x20);
  out.writeUInt8(info.cryptokiVersion[0] & 0xff, 0);
  out.writeUInt8(info.cryptokiVersion[1] & 0xff, 1);
  blankPadded(info.manufacturerID).copy(out, 2);
  out.writeBigUInt64BE(BigInt(info.flags), 34);
  blankPadded(info.libraryDescription).copy(out, 42);
  out.writeUInt8(info.libraryVersion[0] & 0xff, 74);
  out.writeUInt8(info.libraryVersion[1] & 0xff, 75);
  return out;
}

/** A CK_UTF8CHAR[32] field: the text's UTF-8 bytes cut to 32 and blank padded (PKCS#11 section 3.1). */
function blankPadded(textValue: string): Buffer {
  const field = Buffer.alloc(32, 0x20);
  Buffer.from(textValue.replace(/[\s\0]+$/, ''), 'utf8').copy(field, 0, 0, 32);
  return field;
}
