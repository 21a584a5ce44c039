/** Small builders for response items. */
import type { TtlvItem } from '../../ttlv/index.js';

export const struct = (tag: number, value: readonly (TtlvItem | undefined)[]): TtlvItem => ({
  tag,
  type: 'Structure',
  value: value.filter((child): child is TtlvItem => child !== undefined),
});
export const text = (tag: number, value: string): TtlvItem => ({ tag, type: 'TextString', value });
export const bytes = (tag: number, value: Uint8Array): TtlvItem => ({ tag, type: 'ByteString', value });
export const int = (tag: number, value: number): TtlvItem => ({ tag, type: 'Integer', value });
export const long = (tag: number, value: bigint): TtlvItem => ({ tag, type: 'LongInteger', value });
export const enumeration = (tag: number, value: number): TtlvItem => ({ tag, type: 'Enumeration', value });
export const bool = (tag: number, value: boolean): TtlvItem => ({ tag, type: 'Boolean', value });
export const dateTime = (tag: number, seconds: bigint): TtlvItem => ({ tag, type: 'DateTime', value: seconds });
export const interval = (tag: number, seconds: number): TtlvItem => ({ tag, type: 'Interval', value: seconds });

