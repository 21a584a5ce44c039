/**
 * A readable, indented rendering of a TTLV tree for logs and debugging:
 *
 *   RequestMessage
 *     BatchItem
 *       Operation: Enumeration Create
 *       KeyMaterial: ByteString <32 bytes redacted>
 */
import { Placeholder } from './item.js';
import type { TemplateItem } from './item.js';
import { enumForTag, enumValueByValue, maskForTag, tagByName, tagByValue, tagHex } from './registry/index.js';
import type { KmipVersion } from './registry/index.js';

export interface FormatOptions {
  /** Protocol version whose enumeration names to use. */
  readonly version?: KmipVersion;
  /** Tags whose values are replaced by their length (key material, passwords). */
  readonly redact?: ReadonlySet<number>;
  /** Longest Byte String shown in full, in bytes; longer ones are cut. Default 64. */
  readonly maxBytes?: number;
  readonly indent?: string;
}

/** Tags whose values are secret: never print them in a log. */
export const SECRET_TAGS: ReadonlySet<number> = new Set(
  ['Key Material', 'Password', 'Private Exponent', 'Prime Exponent P', 'Prime Exponent Q', 'CRT Coefficient', 'D', 'X', 'Data', 'Secret Data']
    .map((name) => tagByName(name)?.value)
    .filter((value): value is number => value !== undefined),
);

export function formatItem(item: TemplateItem, options: FormatOptions = {}): string {
  const lines: string[] = [];
  render(item, 0, options, lines);
  return lines.join('\n');
}

function render(item: TemplateItem, depth: number, options: FormatOptions, lines: string[]): void {
  const pad = (options.indent ?? '  ').repeat(depth);
  const name = tagByValue(item.tag)?.xmlName ?? tagHex(item.tag);
  if (item.type === 'Structure') {
    lines.push(`${pad}${name}`);
    for (const child of item.value) render(child, depth + 1, options, lines);
    return;
  }
  lines.push(`${pad}${name}: ${item.type} ${describeValue(item, options)}`);
}

function describeValue(item: Exclude<TemplateItem, { type: 'Structure' }>, options: FormatOptions): string {
  const value = item.value;
  if (value instanceof Placeholder) return value.name;
  if (options.redact?.has(item.tag)) {
    const size = value instanceof Uint8Array ? value.length : String(value).length;
    return `<${size} ${value instanceof Uint8Array ? 'bytes' : 'characters'} redacted>`;
  }
  switch (item.type) {
    case 'Enumeration': {
      const def = enumForTag(item.tag);
      const named = def && enumValueByValue(def, item.value as number, options.version);
      return named ? named.xmlName : hex32(item.value as number);
    }
    case 'Integer': {
      const mask = maskForTag(item.tag);
      if (!mask) return String(value);
      const bits = mask.bits.filter((b) => ((item.value as number) & b.value) !== 0).map((b) => b.xmlName);
      return `${String(value)} (${bits.join(' ') || 'none'})`;
    }
    case 'ByteString': {
      const bytes = Buffer.from(value as Uint8Array);
      const max = options.maxBytes ?? 64;
      return bytes.length > max ? `${bytes.subarray(0, max).toString('hex')}... (${bytes.length} bytes)` : bytes.toString('hex');
    }
    case 'TextString':
      return JSON.stringify(value);
    case 'DateTime':
      return isoSeconds(value as bigint);
    case 'DateTimeExtended':
      return `${isoSeconds((value as bigint) / 1_000_000n)} (+${(value as bigint) % 1_000_000n} µs)`;
    default:
      return String(value);
  }
}

function hex32(value: number): string {
  return `0x${value.toString(16).padStart(8, '0')}`;
}

function isoSeconds(seconds: bigint): string {
  const ms = Number(seconds) * 1000;
  return Number.isFinite(ms) && Math.abs(ms) <= 8.64e15 ? new Date(ms).toISOString().replace('.000Z', 'Z') : `${seconds}s`;
}
