/**
 * The JSON log line: what a line holds, and that bytes, keys, bigints and errors are written
 * the same whether they come in a line's fields or in a child logger's fields.
 */
import { expect } from 'chai';
import { KeyMaterial } from './crypto/kek.js';
import { jsonLogger } from './log.js';
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

  it('writes nothing below its level', () => {
    const { log, raw } = recording('warn');
    log.debug('d', { big: 1n });
    log.child({ x: 1 }).info('i');
    log.warn('w');
    expect(raw.map((line) => (JSON.parse(line) as { msg: string }).msg)).to.deep.equal(['w']);
  });
});
