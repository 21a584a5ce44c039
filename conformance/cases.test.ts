/**
 * The runner's plumbing: version and profile from a case's path, families that run in
 * order, --filter globs, the passing list that only grows, local corrections of errata,
 * starting a server and reading its port, and the report (table, skips, regressions, JSON).
 */
import { createCipheriv } from 'node:crypto';
import { existsSync } from 'node:fs';
import { expect } from 'chai';
import { describeCase, globMatcher, profileOf } from './cases.js';
import { Corrections, DEFAULT_CORRECTIONS_FILE, readCorrections } from './corrections.js';
import { planRecord } from './lists.js';
import { launchKmipd, listeningPort } from './launch.js';
import { buildReport, formatReport, reportJson } from './report.js';
import type { CaseResult } from './runner.js';

describe('cases: what a file name says', () => {
  it('version from the folder, profile and family from the name', () => {
    expect(describeCase('v1.4/mandatory/BL-M-1-14.xml', '/x')).to.include({ version: '1.4', profile: 'BL', family: 'BL-M', number: 1, freshServer: false });
    expect(describeCase('v2.1/mandatory/CS-AC-M-OAEP-10-21.xml', '/x')).to.include({ profile: 'CS-AC', family: 'CS-AC-M-OAEP', number: 10 });
    expect(describeCase('v1.3/mandatory/CS-BC-M-4-12-3DES-13.xml', '/x')).to.include({ profile: 'CS-BC', family: 'CS-BC-M-12-3DES', number: 4 });
    expect(describeCase('v1.0/optional/SKLC-O-1-12.xml', '/x')).to.include({ version: '1.0', profile: 'SKLC', family: 'SKLC-O' });
  });

  it('MSGENC-HTTPS is MSGENC; an unknown prefix is its own profile', () => {
    expect(profileOf('MSGENC-HTTPS')).to.equal('MSGENC');
    expect(profileOf('CS-RNG')).to.equal('CS-RNG');
    expect(profileOf('SUITEB_128')).to.equal('SUITEB_128');
  });

  it('TL cases need an empty server', () => {
    expect(describeCase('v2.1/mandatory/TL-M-3-21.xml', '/x')).to.include({ freshServer: true, family: 'TL-M', number: 3 });
  });

  it('without a version folder, the version comes from the name', () => {
    expect(describeCase('mine/QS-M-1-21.xml', '/x').version).to.equal('2.1');
  });
});

describe('cases: --filter globs', () => {
  const files = ['v1.4/mandatory/BL-M-1-14.xml', 'v2.1/mandatory/BL-M-1-21.xml', 'v2.1/optional/SKLC-O-1-21.xml', 'v2.1/mandatory/CS-BC-M-GCM-1-21.xml'];
  const pick = (...patterns: string[]): string[] => files.filter(globMatcher(patterns));

  it('* stays in a folder, ** crosses folders, {a,b} is either', () => {
    expect(pick('v2.1/*/BL-*')).to.deep.equal(['v2.1/mandatory/BL-M-1-21.xml']);
    expect(pick('**/BL-*')).to.deep.equal(['v1.4/mandatory/BL-M-1-14.xml', 'v2.1/mandatory/BL-M-1-21.xml']);
    expect(pick('v2.1/{optional,mandatory}/S*')).to.deep.equal(['v2.1/optional/SKLC-O-1-21.xml']);
  });

  it('a pattern without a folder matches file names; several patterns add up', () => {
    expect(pick('CS-BC-*', 'SKLC-*')).to.deep.equal(['v2.1/optional/SKLC-O-1-21.xml', 'v2.1/mandatory/CS-BC-M-GCM-1-21.xml']);
    expect(pick('BL-M-1-1?.xml')).to.deep.equal(['v1.4/mandatory/BL-M-1-14.xml']);
    expect(pick('BL-M-1-1[0-4].xml')).to.deep.equal(['v1.4/mandatory/BL-M-1-14.xml']);
    expect(pick('BL-M-1-[!1]*')).to.deep.equal(['v2.1/mandatory/BL-M-1-21.xml']);
  });
});

describe('lists: --record', () => {
  it('adds new passes, keeps what did not run, and names what no longer passes', () => {
    const ran = new Map([
      ['a.xml', true],
      ['b.xml', false],
      ['d.xml', true],
      ['s.xml', true],
    ]);
    const plan = planRecord(['a.xml', 'b.xml', 'c.xml'], ran, new Map([['s.xml', 'a skip']]));
    expect(plan.added).to.deep.equal(['d.xml']);
    expect(plan.dropped).to.deep.equal(['b.xml']);
    expect(plan.list).to.deep.equal(['a.xml', 'c.xml', 'd.xml']);
  });
});

describe('corrections: errata fixed as the text is read', () => {
  it('applies to matching files only, and counts what it changed', () => {
    const corrections = new Corrections([{ files: 'v1.0/**', find: '(value="[^"]*?[A-Za-z]) {3}(?=[A-Za-z])', replace: '$1 ', why: 'spaces' }]);
    const text = '<AttributeName type="TextString" value="Activation   Date"/>';
    expect(corrections.apply('v1.0/mandatory/X-M-1-10.xml', text)).to.equal('<AttributeName type="TextString" value="Activation Date"/>');
    expect(corrections.apply('v1.4/mandatory/X-M-1-14.xml', text)).to.equal(text);
    expect(corrections.usage()[0]).to.include({ replacements: 1, files: 1 });
  });

  it('CS-BC-M-6-13 expects the ciphertext AES-128-ECB gives (FIPS 197), not the one the 1.3 file recorded', async () => {
    const cipher = createCipheriv('aes-128-ecb', Buffer.from('0123456789abcdef0123456789abcdef', 'hex'), null).setAutoPadding(false);
    const aes = Buffer.concat([cipher.update(Buffer.from('01020304050607080910111213141516', 'hex')), cipher.final()]).toString('hex');
    const corrections = await readCorrections(DEFAULT_CORRECTIONS_FILE);
    const recorded = '<Data type="ByteString" value="fd912d102dbb482f6f6e91bd57119095"/>';
    expect(corrections.apply('v1.3/mandatory/CS-BC-M-6-13.xml', recorded)).to.equal(`<Data type="ByteString" value="${aes}"/>`);
    expect(corrections.apply('v1.4/mandatory/CS-BC-M-6-14.xml', recorded)).to.equal(recorded);
  });
});

describe('launch: the listening line', () => {
  it('takes the port from {"msg":"listening",...}', () => {
    expect(listeningPort('{"level":"info","msg":"listening","host":"127.0.0.1","port":40123}')).to.equal(40123);
    expect(listeningPort('{"msg":"starting","port":40123}')).to.equal(undefined);
    expect(listeningPort('listening on 40123')).to.equal(undefined);
  });
});

describe('launch: starting a server and reading its port and certificates', () => {
  // A stand-in for `kmipd serve --dir DIR ...`: writes DIR/certs, logs the listening line, waits for SIGTERM.
  const standIn = `
    const fs = require('node:fs'); const path = require('node:path');
    const dir = process.argv[process.argv.indexOf('--dir') + 1];
    fs.mkdirSync(path.join(dir, 'certs'), { recursive: true });
    for (const f of ['ca.pem', 'admin.pem', 'admin-key.pem']) fs.writeFileSync(path.join(dir, 'certs', f), f);
    console.log(JSON.stringify({ level: 'info', msg: 'starting' }));
    console.log(JSON.stringify({ level: 'info', msg: 'listening', host: '127.0.0.1', port: 40123 }));
    process.on('SIGTERM', () => process.exit(0));
    setInterval(() => {}, 1000);
  `;

  it('returns the port of the listening line and the admin certificate, and stop() removes the data folder', async () => {
    const server = await launchKmipd({ command: [process.execPath, '-e', standIn, '--'] });
    expect(server.port).to.equal(40123);
    expect(String(server.tls.cert)).to.equal('admin.pem');
    expect(String(server.tls.key)).to.equal('admin-key.pem');
    expect(String(server.tls.ca)).to.equal('ca.pem');
    await server.stop();
    expect(existsSync(server.dir)).to.equal(false);
  });

  it('a server that exits before listening is an error with its last output', async () => {
    const failing = `console.error('cannot open the store'); process.exit(3);`;
    let error: unknown;
    try {
      await launchKmipd({ command: [process.execPath, '-e', failing, '--'] });
    } catch (e) {
      error = e;
    }
    expect(String(error)).to.match(/kmipd did not start: it exited with code 3[\s\S]*cannot open the store/);
  });
});

describe('report: the table, the skips, the regressions', () => {
  const result = (file: string, status: 'pass' | 'fail'): CaseResult => ({
    case: describeCase(file, `/x/${file}`),
    status,
    steps: 3,
    advisories: [],
    durationMs: 1,
    ...(status === 'fail' ? { step: 1, difference: { path: 'ResponseMessage/BatchItem[0]/ResultStatus', expected: 'Enumeration Success', actual: 'Enumeration OperationFailed' } } : {}),
  });
  const results = [
    result('v2.1/mandatory/BL-M-1-21.xml', 'pass'),
    result('v2.1/mandatory/BL-M-2-21.xml', 'fail'),
    result('v2.1/mandatory/PKCS11-M-1-21.xml', 'pass'),
    result('v1.4/mandatory/SUITEB_128-M-1-14.xml', 'fail'),
  ];
  const skips = new Map([
    ['v2.1/mandatory/PKCS11-M-1-21.xml', 'reference bytes'],
    ['v9.9/gone.xml', 'stale'],
  ]);
  const report = buildReport(results, skips, ['v2.1/mandatory/BL-M-2-21.xml'], new Set(results.map((r) => r.case.file)));

  it('one row per version and profile, in version then profile order', () => {
    expect(report.rows.map((r) => [r.version, r.profile, r.passed, r.failed, r.skipped])).to.deep.equal([
      ['1.4', 'SUITEB_128', 0, 1, 0],
      ['2.1', 'BL', 1, 1, 0],
      ['2.1', 'PKCS11', 0, 0, 1],
    ]);
  });

  it('a recorded case that fails is a regression; a skip that passes is reported; a stale skip too', () => {
    expect(report.regressions.map((c) => c.file)).to.deep.equal(['v2.1/mandatory/BL-M-2-21.xml']);
    expect(report.unexpectedPasses.map((c) => c.file)).to.deep.equal(['v2.1/mandatory/PKCS11-M-1-21.xml']);
    expect(report.staleSkips).to.deep.equal(['v9.9/gone.xml']);
    expect(report.newPasses.map((c) => c.file)).to.deep.equal(['v2.1/mandatory/BL-M-1-21.xml']);
  });

  it('JSON: file, version, profile, status, reason, step, difference', () => {
    const json = JSON.parse(reportJson(report)) as { cases: Record<string, unknown>[] };
    expect(json.cases[1]).to.deep.include({
      file: 'v2.1/mandatory/BL-M-2-21.xml',
      version: '2.1',
      profile: 'BL',
      status: 'fail',
      step: 1,
      difference: 'ResponseMessage/BatchItem[0]/ResultStatus: expected Enumeration Success, actual Enumeration OperationFailed',
    });
    expect(json.cases[2]).to.deep.include({ status: 'skip', reason: 'reference bytes', unexpectedPass: true });
  });

  it('the text names each failure with its step and first difference', () => {
    const text = formatReport(report, { header: ['header'] });
    expect(text).to.contain('REGRESSION v2.1/mandatory/BL-M-2-21.xml step 1: ResponseMessage/BatchItem[0]/ResultStatus: expected Enumeration Success, actual Enumeration OperationFailed');
    expect(text).to.contain('v2.1/mandatory/PKCS11-M-1-21.xml [PASSES]: reference bytes');
  });
});
