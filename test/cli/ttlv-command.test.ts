/**
 * `kmipd ttlv decode|encode`, run as a real process the way a person runs it.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { isConcrete, parseXml, toXmlDocument } from '../../ttlv/index.js';
import type { TtlvItem } from '../../ttlv/index.js';
import { projectRoot, sharedPath } from '../support/paths.js';

function kmipd(args: string[], input?: string | Buffer): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, ['--import', 'tsx', path.join(projectRoot, 'server', 'cli.ts'), ...args], {
    ...(input === undefined ? {} : { input: typeof input === 'string' ? Buffer.from(input) : input }),
    cwd: projectRoot,
    timeout: 30_000,
  });
  return { status: result.status, stdout: result.stdout.toString('utf8'), stderr: result.stderr.toString('utf8') };
}

describe('kmipd ttlv encode and decode', function () {
  this.timeout(60_000);
  // The OASIS files hold placeholders ($NOW) in their responses: a document of the
  // concrete messages of one of them is what a person would encode.
  const oasisFile = sharedPath('kmip-testcases', 'v1.4', 'mandatory', 'MSGENC-XML-M-1-14.xml');
  const messages: TtlvItem[] = parseXml(readFileSync(oasisFile, 'utf8')).filter(isConcrete);
  const dir = mkdtempSync(path.join(tmpdir(), 'kmipd-ttlv-'));
  const caseFile = path.join(dir, 'requests.xml');
  const xml = toXmlDocument(messages);
  writeFileSync(caseFile, xml);
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('encode of a <KMIP> document writes one hex line per message, and decode of those lines gives the same messages back', () => {
    expect(messages.length).to.be.greaterThan(1);
    const encoded = kmipd(['ttlv', 'encode', '--hex', caseFile]);
    expect(encoded.status, encoded.stderr).to.equal(0);
    const lines = encoded.stdout.trim().split('\n');
    expect(lines).to.have.length(messages.length);
    const decoded = kmipd(['ttlv', 'decode'], encoded.stdout);
    expect(decoded.status, decoded.stderr).to.equal(0);
    expect(decoded.stdout.startsWith('<KMIP>')).to.equal(true);
    expect(parseXml(decoded.stdout)).to.deep.equal(messages);
  });

  it('the first request of the MSGENC case encodes to the bytes the encodings specification prints', () => {
    // Additional Message Encodings 1.0 section 7.1.1 gives this request's TTLV as hex.
    const expected =
      '42007801000000904200770100000048420069010000002042006a02000000040000000100000000' +
      '42006b020000000400000000000000004200500200000004000001000000000042000d0200000004' +
      '000000010000000042000f010000003842005c050000000400000018000000004200790100000020' +
      '4200740500000004000000010000000042007405000000040000000200000000';
    const request = kmipd(['ttlv', 'decode', '--hex', expected]);
    expect(request.status, request.stderr).to.equal(0);
    const reencoded = kmipd(['ttlv', 'encode', '--hex'], request.stdout);
    expect(reencoded.stdout.trim()).to.equal(expected);
  });

  it('decode prints KMIP JSON with --format json, and encode reads it back', () => {
    const hex = kmipd(['ttlv', 'encode', '--hex', caseFile]).stdout.trim().split('\n')[0] ?? '';
    const json = kmipd(['ttlv', 'decode', '--format', 'json', '--hex', hex]);
    expect(json.status, json.stderr).to.equal(0);
    expect(JSON.parse(json.stdout)).to.have.property('tag', 'RequestMessage');
    expect(kmipd(['ttlv', 'encode', '--hex'], json.stdout).stdout.trim()).to.equal(hex);
  });

  it('binary in, binary out: encode without --hex writes TTLV bytes that decode reads from stdin', () => {
    const result = spawnSync(process.execPath, ['--import', 'tsx', path.join(projectRoot, 'server', 'cli.ts'), 'ttlv', 'encode', caseFile], { cwd: projectRoot });
    expect(result.status).to.equal(0);
    expect(result.stdout.readUInt8(0)).to.equal(0x42);
    const decoded = kmipd(['ttlv', 'decode'], result.stdout);
    expect(decoded.status, decoded.stderr).to.equal(0);
    expect(parseXml(decoded.stdout)).to.have.length(messages.length);
  });

  it('encode of an OASIS file whose responses hold placeholders says which message, exit code 2', () => {
    const result = kmipd(['ttlv', 'encode', oasisFile]);
    expect(result.status).to.equal(2);
    expect(result.stderr).to.match(/message \d+ holds a test-case placeholder/);
  });

  const bad: [string, string[], string | undefined, RegExp][] = [
    ['a truncated message', ['ttlv', 'decode', '--hex', '4200780100000010420077'], undefined, /ends inside a message/],
    ['a wrong item length', ['ttlv', 'decode', '--hex', '42007801000000104200690200000008000000010000000'.padEnd(48, '0')], undefined, /offset \d+/],
    ['an odd number of hex digits', ['ttlv', 'decode', '--hex', '420'], undefined, /odd number of digits/],
    ['malformed XML', ['ttlv', 'encode'], '<RequestMessage><BatchCount type="Integer" value="1"></RequestMessage>', /line \d+/],
    ['an unknown tag name', ['ttlv', 'encode'], '<NoSuchTag type="Integer" value="1"/>', /NoSuchTag/],
    ['a placeholder where a value is needed', ['ttlv', 'encode'], '<UniqueIdentifier type="TextString" value="$UNIQUE_IDENTIFIER_0"/>', /placeholder/],
  ];
  for (const [what, args, input, message] of bad) {
    it(`${what} gets a one-line error and exit code 2, never a stack trace`, () => {
      const result = kmipd(args, input);
      expect(result.status).to.equal(2);
      expect(result.stderr).to.match(message);
      expect(result.stderr.trim().split('\n')).to.have.length(1);
      expect(result.stderr).not.to.match(/\n\s+at /);
    });
  }
});
