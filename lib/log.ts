/**
 * Structured logs: one JSON object a line. Callers pass fields, never key material; values
 * of type KeyMaterial redact themselves when serialised.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every line. */
  child(fields: LogFields): Logger;
}

export interface LogSink {
  write(line: string): unknown;
}

export function jsonLogger(sink: LogSink, level: LogLevel = 'info', base: LogFields = {}): Logger {
  return new JsonLogger(sink, level, base);
}

/**
 * A line per operation goes through here. The line is written as text: the child's fields
 * are turned into JSON once, with the first line, not spread into an object for each line;
 * a line whose fields would override a child's (or time, level, msg) is built as an object
 * instead, so that JSON.stringify's order and overriding decide it as before.
 */
class JsonLogger implements Logger {
  readonly #sink: LogSink;
  readonly #level: LogLevel;
  readonly #threshold: number;
  readonly #base: LogFields;
  /**
   * What the first line learns of the base (a child per request is made and mostly never
   * writes a line at the configured level): whether its values are all plain, whether its
   * fields can be written after time, level and msg as text (false when one takes their
   * place: every line is then built as an object), and its members as JSON text.
   */
  #shape: { readonly plain: boolean; readonly inline: boolean; readonly text: string } | undefined;

  constructor(sink: LogSink, level: LogLevel, base: LogFields) {
    this.#sink = sink;
    this.#level = level;
    this.#threshold = LEVELS[level];
    this.#base = base;
  }

  debug(msg: string, fields?: LogFields): void {
    if (LEVELS.debug >= this.#threshold) this.#emit('debug', msg, fields);
  }
  info(msg: string, fields?: LogFields): void {
    if (LEVELS.info >= this.#threshold) this.#emit('info', msg, fields);
  }
  warn(msg: string, fields?: LogFields): void {
    if (LEVELS.warn >= this.#threshold) this.#emit('warn', msg, fields);
  }
  error(msg: string, fields?: LogFields): void {
    if (LEVELS.error >= this.#threshold) this.#emit('error', msg, fields);
  }

  child(fields: LogFields): Logger {
    return new JsonLogger(this.#sink, this.#level, { ...this.#base, ...fields });
  }

  #emit(lvl: LogLevel, msg: string, fields: LogFields | undefined): void {
    const base = this.#base;
    const shape = (this.#shape ??= shapeOf(base));
    if (shape.inline && (fields === undefined || (!hasToJson(fields) && inlineKeys(fields, base)))) {
      const fieldText = fields === undefined ? '' : members(fields, allPlain(fields));
      this.#sink.write(`{"time":"${isoNow()}","level":"${lvl}","msg":${JSON.stringify(msg)}${shape.text}${fieldText}}\n`);
      return;
    }
    const line = { time: isoNow(), level: lvl, msg, ...base, ...fields };
    // The replacer changes only values that are not strings, numbers, booleans or null; it
    // costs about as much as the rest of the line (a line per operation), so only they pay.
    const plain = shape.plain && (fields === undefined || allPlain(fields));
    this.#sink.write(`${plain ? JSON.stringify(line) : JSON.stringify(line, replacer)}\n`);
  }
}

function shapeOf(base: LogFields): { readonly plain: boolean; readonly inline: boolean; readonly text: string } {
  const plain = allPlain(base);
  const inline = !hasToJson(base) && inlineKeys(base, undefined);
  return { plain, inline, text: inline ? members(base, plain) : '' };
}

/** The members of `fields` as they appear inside a JSON object, after a comma ("" when none is written). */
function members(fields: LogFields, plain: boolean): string {
  const written = plain ? plainMembers(fields) : undefined;
  if (written !== undefined) return written;
  const json = plain ? JSON.stringify(fields) : JSON.stringify(fields, replacer);
  return json.length > 2 ? `,${json.slice(1, -1)}` : '';
}

/** Printable ASCII but the quote and the backslash: what JSON.stringify writes as it is. */
const VERBATIM = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

/**
 * What JSON.stringify writes for fields of strings, numbers, booleans and null (a line's
 * usual fields), written directly: about 40 % cheaper than stringifying an object and
 * slicing its braces off. Undefined when a value is of another kind.
 */
function plainMembers(fields: LogFields): string | undefined {
  let out = '';
  const keys = Object.keys(fields);
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i] as string;
    const value = fields[key];
    let text: string;
    if (typeof value === 'string') text = VERBATIM.test(value) ? `"${value}"` : JSON.stringify(value);
    else if (typeof value === 'number') text = Number.isFinite(value) ? String(value) : 'null';
    else if (typeof value === 'boolean') text = value ? 'true' : 'false';
    else if (value === null) text = 'null';
    else if (value === undefined) continue;
    else return undefined;
    out += VERBATIM.test(key) ? `,"${key}":${text}` : `,${JSON.stringify(key)}:${text}`;
  }
  return out;
}

/**
 * Whether `fields` can follow time, level, msg (and `base`) as text: none of its keys is one
 * of theirs, and none is an array index, which JSON.stringify would write first.
 */
function inlineKeys(fields: LogFields, base: LogFields | undefined): boolean {
  for (const key in fields) {
    if (key === 'time' || key === 'level' || key === 'msg') return false;
    const first = key.charCodeAt(0);
    if (first >= 0x30 && first <= 0x39) return false;
    if (base !== undefined && Object.prototype.hasOwnProperty.call(base, key)) return false;
  }
  return true;
}

/** An object JSON.stringify would replace by its toJSON: spread into a line, it is not. */
function hasToJson(fields: LogFields): boolean {
  return typeof (fields as { toJSON?: unknown }).toJSON === 'function';
}

/** The time of the last line, to the millisecond: many lines share one. */
let isoMs = Number.NaN;
let isoText = '';

function isoNow(): string {
  const now = Date.now();
  if (now !== isoMs) {
    isoMs = now;
    isoText = new Date(now).toISOString();
  }
  return isoText;
}

/** What one write may hold: a pipe takes up to PIPE_BUF bytes (4096 on Linux) in one piece. */
const ATOMIC_WRITE_BYTES = 4096;

/** Lines held before a write even within one turn of the event loop (counted in characters: a JSON line is nearly all ASCII). */
const MAX_HELD_BYTES = 64 * 1024;

/**
 * Lines gathered during one turn of the event loop and written when it ends, in chunks of
 * whole lines of at most ATOMIC_WRITE_BYTES (a longer line alone): a line per operation
 * cost a write call each, about a tenth of a Get. A chunk that fits is one write, which a
 * pipe shared by a cluster's processes never interleaves with another's. What is held is
 * written at the process's exit (process.exit, an uncaught exception); a SIGKILL loses at
 * most the current turn's lines, which the audit log does not depend on.
 */
export class TurnBufferedSink implements LogSink {
  readonly #target: LogSink;
  #lines: string[] = [];
  #bytes = 0;
  #scheduled = false;

  constructor(target: LogSink) {
    this.#target = target;
  }

  write(line: string): void {
    this.#lines.push(line);
    this.#bytes += line.length;
    if (this.#bytes >= MAX_HELD_BYTES) this.flush();
    else if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** Write every held line now. */
  flush(): void {
    this.#scheduled = false;
    const lines = this.#lines;
    if (lines.length === 0) return;
    this.#lines = [];
    this.#bytes = 0;
    let chunk = '';
    let chunkBytes = 0;
    for (const line of lines) {
      const bytes = Buffer.byteLength(line);
      if (chunkBytes > 0 && chunkBytes + bytes > ATOMIC_WRITE_BYTES) {
        this.#target.write(chunk);
        chunk = '';
        chunkBytes = 0;
      }
      chunk += line;
      chunkBytes += bytes;
    }
    this.#target.write(chunk);
  }
}

const processSinks = new Map<LogSink, TurnBufferedSink>();

/** The one buffered sink of a process-wide stream such as process.stdout, flushed at exit. */
export function bufferedProcessSink(target: LogSink): TurnBufferedSink {
  let sink = processSinks.get(target);
  if (sink === undefined) {
    const created = new TurnBufferedSink(target);
    process.on('exit', () => created.flush());
    processSinks.set(target, created);
    sink = created;
  }
  return sink;
}

/** Every value a string, number, boolean, null or undefined: JSON.stringify writes it as the replacer would. */
function allPlain(fields: LogFields): boolean {
  for (const key in fields) {
    const value = fields[key];
    if ((typeof value === 'object' && value !== null) || typeof value === 'bigint') return false;
  }
  return true;
}

/** Errors as {name, message, stack}; bigints as strings; bytes never as content. */
function replacer(this: Readonly<Record<string, unknown>>, key: string, value: unknown): unknown {
  // JSON.stringify hands over a Buffer already turned into { type, data } by its toJSON:
  // the holder still has the Buffer itself.
  const given = this[key];
  if (given instanceof Uint8Array) return `<${given.length} bytes>`;
  if (value instanceof Error) return { name: value.name, message: value.message, stack: value.stack };
  if (typeof value === 'bigint') return value.toString();
  return value;
}

/** A logger that drops everything (tests that do not look at logs). */
export const silentLogger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  child: () => silentLogger,
};
