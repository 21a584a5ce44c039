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
  const threshold = LEVELS[level];
  const plainBase = allPlain(base);
  const emit = (lvl: LogLevel, msg: string, fields?: LogFields): void => {
    if (LEVELS[lvl] < threshold) return;
    const line = { time: new Date().toISOString(), level: lvl, msg, ...base, ...fields };
    // The replacer changes only values that are not strings, numbers, booleans or null; it
    // costs about as much as the rest of the line (a line per operation), so only they pay.
    const plain = plainBase && (fields === undefined || allPlain(fields));
    sink.write(`${plain ? JSON.stringify(line) : JSON.stringify(line, replacer)}\n`);
  };
  return {
    debug: (msg, fields) => emit('debug', msg, fields),
    info: (msg, fields) => emit('info', msg, fields),
    warn: (msg, fields) => emit('warn', msg, fields),
    error: (msg, fields) => emit('error', msg, fields),
    child: (fields) => jsonLogger(sink, level, { ...base, ...fields }),
  };
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
