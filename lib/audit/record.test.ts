/**
 * The hashed form of a record, stated byte for byte here (a JSON array in a fixed order,
 * UTF-8, SHA-256), so that a change to it cannot pass unnoticed: every stored chain would
 * stop verifying. And `--since` parsing for export.
 */
import { createHash } from 'node:crypto';
import { expect } from 'chai';
import { ExportStartError, parseSince } from './export.js';
import { GENESIS_HASH, chainEntries } from './record.js';
import type { AuditEntry } from './record.js';

const entry: AuditEntry = {
  time: '2024-05-01T12:00:00.000Z',
  identity: 'alice',
  peer: '203.0.113.7:50122',
  correlation: 'c1',
  clientCorrelation: null,
  item: 1,
  operation: 'Get',
  objects: ['k1'],
  status: 'Success',
  reason: null,
  message: null,
};

const sha256 = (text: string): string => createHash('sha256').update(Buffer.from(text, 'utf8')).digest('hex');

describe('audit record hashing', () => {
  it('record 1 hashes the JSON array ["kmipd-audit-1", seq, prev, time, identity, peer, correlation, client correlation, item, operation, objects JSON, status, reason, message]', () => {
    const { records, head } = chainEntries({ seq: 0, hash: GENESIS_HASH }, [entry, { ...entry, item: 2, objects: [], status: 'OperationFailed', reason: 'ItemNotFound', message: 'Zoë' }]);
    const first = sha256(`["kmipd-audit-1",1,"${GENESIS_HASH}","2024-05-01T12:00:00.000Z","alice","203.0.113.7:50122","c1",null,1,"Get","[\\"k1\\"]","Success",null,null]`);
    expect(records[0]).to.include({ seq: 1, prevHash: GENESIS_HASH, hash: first });
    const second = sha256(`["kmipd-audit-1",2,"${first}","2024-05-01T12:00:00.000Z","alice","203.0.113.7:50122","c1",null,2,"Get","[]","OperationFailed","ItemNotFound","Zoë"]`);
    expect(records[1]).to.include({ seq: 2, prevHash: first, hash: second });
    expect(head).to.deep.equal({ seq: 2, hash: second });
  });

  it('continues from the head it is given', () => {
    const { records } = chainEntries({ seq: 41, hash: 'ab'.repeat(32) }, [entry]);
    expect(records[0]).to.include({ seq: 42, prevHash: 'ab'.repeat(32) });
  });

  it('makes text storable: U+0000 and lone surrogates become U+FFFD, repeated identifiers are kept once', () => {
    const { records } = chainEntries({ seq: 0, hash: GENESIS_HASH }, [{ ...entry, identity: 'a\u0000b', message: 'x\uD800y', objects: ['k1', 'k1', 'k2'] }]);
    expect(records[0]).to.include({ identity: 'a\uFFFDb', message: 'x\uFFFDy' });
    expect(records[0]?.objects).to.deep.equal(['k1', 'k2']);
  });

  it('keeps an identifier named twice once, also when two differ only before being made storable', () => {
    const objectsOf = (objects: string[]): readonly string[] | undefined => chainEntries({ seq: 0, hash: GENESIS_HASH }, [{ ...entry, objects }]).records[0]?.objects;
    expect(objectsOf([])).to.deep.equal([]);
    expect(objectsOf(['k\u0000'])).to.deep.equal(['k\uFFFD']);
    expect(objectsOf(['k1', 'k1'])).to.deep.equal(['k1']);
    expect(objectsOf(['k1', 'k2'])).to.deep.equal(['k1', 'k2']);
    expect(objectsOf(['k\u0000', 'k\uFFFD'])).to.deep.equal(['k\uFFFD']);
  });
});

describe('audit export --since', () => {
  it('reads a sequence number, a date (UTC midnight), a date-time with or without a zone', () => {
    expect(parseSince('1234')).to.deep.equal({ seq: 1234 });
    expect(parseSince('2024-05-01')).to.deep.equal({ time: '2024-05-01T00:00:00.000Z' });
    expect(parseSince('2024-05-01T12:30:00Z')).to.deep.equal({ time: '2024-05-01T12:30:00.000Z' });
    expect(parseSince('2024-05-01T12:30')).to.deep.equal({ time: '2024-05-01T12:30:00.000Z' });
    expect(parseSince('2024-05-01T14:30:00+02:00')).to.deep.equal({ time: '2024-05-01T12:30:00.000Z' });
  });

  it('refuses anything else, saying what it takes', () => {
    for (const text of ['yesterday', '05/01/2024', '2024-13-45', '-3', '']) expect(() => parseSince(text), text).to.throw(ExportStartError);
  });
});
