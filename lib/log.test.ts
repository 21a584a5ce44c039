/**
 * The JSON log line: what a line holds, and that bytes, keys, bigints and errors are written
 * the same whether they come in a line's fields or in a child logger's fields.
 */
import { expect } from 'chai';
import { KeyMaterial } from './crypto/kek.js';
import { spawn } from 'node:child_process';
import { TurnBufferedSink, jsonLogger } from './log.js';
import type { Logger } from './log.js';

/** A logger writing into `raw`; `lines()` parses what it wrote. */
function recording(level: 'debug' | 'info' | 'warn' = 'info'): { log: Logger; raw: string[]; lines: () => Record<string, unknown>[] } {
  const raw: string[] = [];
  const log = jsonLogger({ write: (line: string) => raw.push(line) }, level);
  return { log, raw, lines: () => raw.map((line) => JSON.parse(line) as Record<string, unknown>) };
}

describe('jsonLogger', () => {
  it('writes one JSON object a line: time, level, msg, then the child fields, then the line fields', () => {
    const { log, raw } = recording();
    log.child({ peer: '203.0.113.7:50122', identity: 'alice' }).info('operation', { operation: 'Get', status: 'Success', items: 2, ok: true, none: null, absent: undefined });
    expect(raw).to.have.length(1);
    expect(raw[0]).to.match(/^\{"time":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z","level":"info","msg":"operation",/);
    expect(raw[0]?.endsWith('\n')).to.equal(true);
    const { time: _time, ...rest } = JSON.parse(raw[0] ?? '') as Record<string, unknown>;
    expect(rest).to.deep.equal({ level: 'info', msg: 'operation', peer: '203.0.113.7:50122', identity: 'alice', operation: 'Get', status: 'Success', items: 2, ok: true, none: null });
    expect(Object.keys(rest)).to.deep.equal(['level', 'msg', 'peer', 'identity', 'operation', 'status', 'items', 'ok', 'none']);
  });

  it('a line field overrides a child field of the same name; a child of a child keeps both sets', () => {
    const { log, lines } = recording();
    log.child({ a: 1, b: 2 }).child({ b: 3, c: 4 }).warn('m', { c: 5 });
    expect(lines()[0]).to.include({ level: 'warn', a: 1, b: 3, c: 5 });
  });

  it('writes bytes (Buffer or Uint8Array) as their length, bigints as text, errors as name, message and stack, keys redacted: in line fields and in child fields', () => {
    const secret = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
    const error = new RangeError('too far');
    const values = { bytes: new Uint8Array(secret), buffer: secret, big: 1234567890123456789n, error, key: KeyMaterial.copyOf(secret), nested: { inner: new Uint8Array(3) } };
    const { log, raw, lines } = recording();
    log.error('line', values);
    log.child(values).error('child');
    expect(raw).to.have.length(2);
    for (const line of raw) expect(line).to.not.include('00112233');
    for (const line of lines()) {
      expect(line).to.deep.include({ bytes: '<16 bytes>', buffer: '<16 bytes>', big: '1234567890123456789', key: 'KeyMaterial<16 bytes>', nested: { inner: '<3 bytes>' } });
      expect(line.error).to.deep.equal({ name: 'RangeError', message: 'too far', stack: error.stack });
    }
  });

  it('a field named time, level or msg, one that overrides a child field, and an array-index name are written exactly where JSON.stringify of the whole line puts them', () => {
    const { log, raw } = recording();
    const cases: [Record<string, unknown>, string, Record<string, unknown> | undefined][] = [
      [{ msg: 'from the child' }, 'm', { a: 1 }],
      [{}, 'm', { level: 'custom', b: 2 }],
      [{ b: 1 }, 'm', { 2: 'two', c: 3 }],
      [{ a: 1, b: 2 }, 'm', { a: undefined, c: 3 }],
      [{ 7: 'seven' }, 'm', undefined],
      [{ peer: 'p' }, 'm', { operation: 'Get' }],
    ];
    for (const [base, msg, fields] of cases) log.child(base).info(msg, fields);
    expect(raw).to.have.length(cases.length);
    cases.forEach(([base, msg, fields], i) => {
      const line = raw[i] ?? '';
      const time = /"time":"([^"]+)"/.exec(line)?.[1];
      expect(line).to.equal(`${JSON.stringify({ time, level: 'info', msg, ...base, ...fields })}\n`);
    });
  });

  it('writes any strings, numbers, booleans and nulls exactly as JSON.stringify of the whole line would (quotes, backslashes, control characters, lone surrogates, NaN, -0)', () => {
    const { log, raw } = recording();
    // A fixed pseudo-random sequence: the same 400 lines on every run.
    let seed = 7;
    const next = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    const pieces = ['a', 'Z', ' ', '"', '\\', '/', '\n', '\u0001', '\u001f', '\u007f', 'é', '\u2028', '\ud800', '\udc00', '😀', '<', '~'];
    const text = (): string => Array.from({ length: next(6) }, () => pieces[next(pieces.length)]).join('');
    const values = (): unknown[] => [text(), next(1000), -0, Number.NaN, Number.POSITIVE_INFINITY, 1e21, 0.1 * next(10), true, false, null, undefined];
    const expected: string[] = [];
    for (let i = 0; i < 400; i++) {
      const fields: Record<string, unknown> = {};
      const base: Record<string, unknown> = {};
      for (let k = next(4); k > 0; k--) fields[`f${text()}`] = values()[next(11)];
      for (let k = next(3); k > 0; k--) base[`b${text()}`] = values()[next(11)];
      const msg = text();
      log.child(base).info(msg, fields);
      const line = raw[raw.length - 1] ?? '';
      const time = /"time":"([^"]+)"/.exec(line)?.[1];
      expected.push(`${JSON.stringify({ time, level: 'info', msg, ...base, ...fields })}\n`);
    }
    expect(raw).to.deep.equal(expected);
  });

  it('writes nothing below its level', () => {
    const { log, raw } = recording('warn');
    log.debug('d', { big: 1n });
    log.child({ x: 1 }).info('i');
    log.warn('w');
    expect(raw.map((line) => (JSON.parse(line) as { msg: string }).msg)).to.deep.equal(['w']);
  });
});

describe('TurnBufferedSink', () => {
  it("writes a turn's lines when the turn ends, in whole-line chunks of at most 4096 bytes (a longer line alone)", async () => {
    const writes: string[] = [];
    const log = jsonLogger(new TurnBufferedSink({ write: (chunk: string) => writes.push(chunk) }));
    for (let i = 0; i < 100; i++) log.info('operation', { i, name: 'é'.repeat(20) });
    log.info('long', { text: 'x'.repeat(5000) });
    log.info('after');
    expect(writes, 'nothing is written within the turn').to.have.length(0);
    await new Promise((resolve) => setImmediate(resolve));
    expect(writes.length).to.be.above(3);
    const lines = writes.join('').split('\n').slice(0, -1);
    expect(lines.map((line) => (JSON.parse(line) as { msg: string; i?: number }).i ?? (JSON.parse(line) as { msg: string }).msg)).to.deep.equal([
      ...Array.from({ length: 100 }, (_, i) => i),
      'long',
      'after',
    ]);
    for (const chunk of writes) {
      expect(chunk.endsWith('\n'), 'every chunk ends a line').to.equal(true);
      if (!chunk.includes('"long"')) expect(Buffer.byteLength(chunk)).to.be.at.most(4096);
    }
    expect(writes.filter((chunk) => chunk.includes('"long"')), 'the long line alone').to.have.length(1);
    expect(writes.find((chunk) => chunk.includes('"long"'))?.split('\n')).to.have.length(2);
  });

  it('writes at once past 64 KiB held within one turn, and nothing more when the turn ends with nothing held', async () => {
    const writes: string[] = [];
    const sink = new TurnBufferedSink({ write: (chunk: string) => writes.push(chunk) });
    const log = jsonLogger(sink);
    for (let i = 0; i < 400; i++) log.info('operation', { text: 'y'.repeat(200) });
    expect(writes.length, 'written before the turn ended').to.be.above(0);
    await new Promise((resolve) => setImmediate(resolve));
    expect(writes.join('').split('\n').slice(0, -1)).to.have.length(400);
  });

  it("a process's lines held when it exits on an uncaught exception are written to its stdout", async () => {
    const script = `
      import { bufferedProcessSink, jsonLogger } from ${JSON.stringify(new URL('./log.ts', import.meta.url).href)};
      const log = jsonLogger(bufferedProcessSink(process.stdout));
      log.info('first');
      setImmediate(() => {
        for (let i = 0; i < 50; i++) log.info('held', { i });
        throw new Error('boom');
      });`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code).to.equal(1);
    const msgs = Buffer.concat(out).toString('utf8').split('\n').slice(0, -1).map((line) => (JSON.parse(line) as { msg: string }).msg);
    expect(msgs).to.deep.equal(['first', ...Array.from({ length: 50 }, () => 'held')]);
  });
});
