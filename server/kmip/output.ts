/** What a command prints: lines for a person (tables), or JSON for scripts (--json). */

export interface Output {
  readonly text: string;
  readonly json: unknown;
  /** The exit code when the command ran but its answer is a "no" (verify: invalid). */
  readonly exitCode?: number;
}

/** Columns padded to their widest cell; the last column is not padded. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((header, i) => Math.max(header.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** JSON of values the client returns: Byte Strings as hex, big integers as strings, dates as ISO. */
export function jsonText(value: unknown): string {
  return JSON.stringify(
    value,
    (_key, v: unknown) => {
      if (typeof v === 'bigint') return v.toString();
      if (v instanceof Uint8Array) return Buffer.from(v).toString('hex');
      if (v instanceof Map) return Object.fromEntries(v);
      return v;
    },
    2,
  );
}

/** Buffer.toJSON runs before the replacer sees it: turn bytes into hex first. */
export function plainForJson(value: unknown): unknown {
  if (value instanceof Uint8Array) return Buffer.from(value).toString('hex');
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'bigint') return value.toString();
  if (Array.isArray(value)) return value.map(plainForJson);
  if (value instanceof Map) return Object.fromEntries([...value].map(([k, v]) => [k, plainForJson(v)]));
  if (typeof value === 'object' && value !== null) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plainForJson(v)]));
  return value;
}

/** One line for a value in a human listing. */
export function describe(value: unknown): string {
  if (value instanceof Uint8Array) return Buffer.from(value).toString('hex');
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.every((v) => typeof v === 'string') ? value.join(', ') : value.map(describe).join('; ');
  if (typeof value === 'object' && value !== null) {
    return Object.entries(value)
      .map(([k, v]) => (typeof v === 'object' && v !== null && !(v instanceof Uint8Array) && !(v instanceof Date) ? `${upper(k)}{${describe(v)}}` : `${upper(k)}=${typeof v === 'string' && isStructText(k) ? JSON.stringify(v) : describe(v)}`))
      .join(', ');
  }
  return String(value);
}

const upper = (key: string): string => key.charAt(0).toUpperCase() + key.slice(1);
/** Text fields quoted inside structures (NameValue="k1"), as the specification's examples show them. */
const isStructText = (key: string): boolean => key === 'nameValue';

/**
 * A progress bar on stderr for bulk commands, drawn only on a terminal (a pipe or a log
 * file gets nothing): `[#####.....] 12/40 keys/k12.pem`.
 */
export class Progress {
  private done = 0;
  private readonly enabled: boolean;

  constructor(
    private readonly total: number,
    private readonly stream: NodeJS.WriteStream = process.stderr,
  ) {
    this.enabled = stream.isTTY === true && total > 1;
  }

  tick(label: string): void {
    this.done++;
    if (!this.enabled) return;
    const width = 30;
    const filled = Math.round((this.done / this.total) * width);
    const columns = this.stream.columns ?? 80;
    const line = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${this.done}/${this.total} ${label}`;
    this.stream.write(`\r${line.slice(0, columns - 1).padEnd(Math.min(columns - 1, line.length + 10))}`);
  }

  finish(): void {
    if (this.enabled) this.stream.write('\n');
  }
}
