/**
 * The conformance statement: the committed docs/conformance.md and README block are what
 * `npm run conformance:statement` writes (the --check of CI, in-process), and the
 * computation on a small fake case folder: counts, verdicts, skips, reasons kept from a run.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { findCases } from './cases.js';
import {
  BLOCK_END,
  BLOCK_START,
  DEFAULT_FILES,
  NOT_PASSING_YET,
  computeStatement,
  parseReasons,
  reasonsFromResults,
  renderReadmeBlock,
  renderStatement,
  replaceBlock,
  staleFiles,
  verdict,
  writeOutputs,
} from './statement.js';
import type { Statement, StatementFiles, StatementRow } from './statement.js';

describe('statement: the committed docs', () => {
  it('docs/conformance.md and the README block are current (else: npm run conformance:statement)', async function () {
    if (!existsSync(DEFAULT_FILES.casesDir)) this.skip();
    const stale = await staleFiles(DEFAULT_FILES);
    expect(stale, `out of date: ${stale.join(', ')}; run \`npm run conformance:statement\``).to.deep.equal([]);
  });
});

const CASES = [
  'v1.0/mandatory/OMOS-M-1-10.xml',
  'v1.0/mandatory/OMOS-M-1-11.xml',
  'v1.4/mandatory/SKLC-M-1-14.xml',
  'v1.4/mandatory/SKLC-M-2-14.xml',
  'v1.4/mandatory/AX-M-1-14.xml',
  'v1.4/mandatory/AX-M-2-14.xml',
  'v1.4/mandatory/AKLC-O-1-14.xml',
  'v1.4/optional/SKLC-O-1-14.xml',
  'v2.1/mandatory/PKCS11-M-1-21.xml',
  'v2.1/mandatory/MSGENC-XML-M-1-21.xml',
];
const PASSING = [
  'v1.0/mandatory/OMOS-M-1-10.xml',
  'v1.0/mandatory/OMOS-M-1-11.xml',
  'v1.4/mandatory/AX-M-1-14.xml',
  'v1.4/mandatory/SKLC-M-1-14.xml',
  'v1.4/mandatory/SKLC-M-2-14.xml',
  'v1.4/optional/SKLC-O-1-14.xml',
  'v2.1/mandatory/MSGENC-XML-M-1-21.xml',
];
const SKIP_REASON = 'needs the reference server | its own bytes';
const SKIPS = { 'v2.1/mandatory/PKCS11-M-1-21.xml': SKIP_REASON };
const PRODUCT = { name: 'kmipd', version: '9.9.9', description: 'a test' };
const VERSIONS = ['2.1', '1.4', '1.0'];

/** A fake project: case folder, lists, README with the markers, package.json. */
function fakeProject(): { root: string; files: StatementFiles } {
  const root = mkdtempSync(path.join(tmpdir(), 'kmipd-statement-'));
  const casesDir = path.join(root, 'cases');
  for (const file of CASES) {
    mkdirSync(path.dirname(path.join(casesDir, file)), { recursive: true });
    writeFileSync(path.join(casesDir, file), '<KMIP/>\n');
  }
  mkdirSync(path.join(root, 'docs'));
  writeFileSync(path.join(root, 'passing.json'), `${JSON.stringify(PASSING, null, 2)}\n`);
  writeFileSync(path.join(root, 'skips.json'), `${JSON.stringify(SKIPS, null, 2)}\n`);
  writeFileSync(path.join(root, 'package.json'), JSON.stringify(PRODUCT));
  writeFileSync(path.join(root, 'README.md'), `# x\n\n## Conformance\n\n${BLOCK_START}\nold\n${BLOCK_END}\n\n## After\n`);
  return {
    root,
    files: {
      casesDir,
      passingFile: path.join(root, 'passing.json'),
      skipsFile: path.join(root, 'skips.json'),
      docsFile: path.join(root, 'docs', 'conformance.md'),
      readmeFile: path.join(root, 'README.md'),
      packageFile: path.join(root, 'package.json'),
      protocolVersions: VERSIONS,
    },
  };
}

function row(statement: Statement, version: string, profile: string): StatementRow {
  const found = statement.rows.find((r) => r.version === version && r.profile === profile);
  if (found === undefined) throw new Error(`no row ${version} ${profile}`);
  return found;
}

describe('statement: the computation', () => {
  let project: { root: string; files: StatementFiles };
  let statement: Statement;

  before(() => {
    project = fakeProject();
    statement = computeStatement({
      cases: findCases(project.files.casesDir),
      passing: PASSING,
      skips: new Map(Object.entries(SKIPS)),
      product: PRODUCT,
      protocolVersions: VERSIONS,
    });
  });
  after(() => rmSync(project.root, { recursive: true, force: true }));

  it('counts per version and profile, mandatory and optional apart', () => {
    expect(statement.rows.map((r) => `${r.version} ${r.profile}`)).to.deep.equal(['1.0 OMOS', '1.4 SKLC', '1.4 AKLC', '1.4 AX', '2.1 MSGENC', '2.1 PKCS11']);
    expect(row(statement, '1.4', 'SKLC')).to.deep.include({ mandatory: { total: 2, passed: 2, skipped: 0, open: 0 }, optional: { total: 1, passed: 1, skipped: 0, open: 0 } });
    expect(row(statement, '1.4', 'AX').mandatory).to.deep.equal({ total: 2, passed: 1, skipped: 0, open: 1 });
    expect(row(statement, '2.1', 'PKCS11').mandatory).to.deep.equal({ total: 1, passed: 0, skipped: 1, open: 0 });
    expect(statement.totals.mandatory).to.deep.equal({ total: 8, passed: 6, skipped: 1, open: 1 });
    expect(statement.totals.optional).to.deep.equal({ total: 2, passed: 1, skipped: 0, open: 1 });
  });

  it('the name decides mandatory or optional: an -O- case in the mandatory folder is optional', () => {
    const c = statement.cases.find((x) => x.file === 'v1.4/mandatory/AKLC-O-1-14.xml');
    expect(c).to.deep.include({ mandatory: false, misfiled: true, state: 'open', reason: NOT_PASSING_YET });
    expect(row(statement, '1.4', 'AKLC').mandatory.total).to.equal(0);
  });

  it('verdicts: conformant, partial (n of m mandatory), a skip is not a pass, MSGENC (replayed over HTTPS) is claimed', () => {
    expect(verdict(row(statement, '1.4', 'SKLC'))).to.equal('conformant');
    expect(verdict(row(statement, '1.4', 'AX'))).to.equal('partial (1 of 2 mandatory)');
    expect(verdict(row(statement, '2.1', 'PKCS11'))).to.equal('partial (0 of 1 mandatory)');
    expect(verdict(row(statement, '2.1', 'MSGENC'))).to.equal('conformant');
    expect(verdict(row(statement, '1.4', 'AKLC'))).to.equal('optional cases only');
  });

  it('the protocol version comes from the name: the 1.0 set holds 1.0 and 1.1 files', () => {
    expect(statement.cases.filter((c) => c.profile === 'OMOS').map((c) => c.protocol)).to.deep.equal(['1.0', '1.1']);
  });

  it('the statement: product, protocol versions, spelled-out profiles, table, exceptions, no date', () => {
    const doc = renderStatement(statement);
    expect(doc).to.match(/^# KMIP conformance statement: kmipd 9\.9\.9\n/);
    expect(doc).to.include('**kmipd 9.9.9** passes 7 of the 10 OASIS KMIP Profiles test cases: 6 of 8 mandatory, 1 of 2 optional.');
    expect(doc).to.include('| KMIP protocol versions | 2.1, 1.4 and 1.0 |');
    expect(doc).to.include('| AES XTS Server (AX) | — | partial (1 of 2 mandatory) | — |');
    expect(doc).to.include('- Symmetric Key Lifecycle Server: KMIP 1.4');
    expect(doc).to.include('| 1.4 | AX | 2 | 1 | 0 | 1 | 0 | partial (1 of 2 mandatory) |');
    expect(doc).to.include('| **total** |  | 10 | 7 | 1 | 1 | 1 |  |');
    // The skip's reason, with its | escaped for the table.
    expect(doc).to.include('| `v2.1/mandatory/PKCS11-M-1-21.xml` | PKCS11 | yes | needs the reference server \\| its own bytes |');
    expect(doc).to.include(`#### AES XTS Server (AX)\n\n- \`v1.4/mandatory/AX-M-2-14.xml\`: ${NOT_PASSING_YET}\n`);
    expect(doc).to.include('The 1.4 mandatory folder also holds 1 optional case (-O- in the name: AKLC-O-1-14)');
    expect(doc).to.include('The 1.0 case set replays its cases in protocol versions 1.0 and 1.1');
    expect(doc).to.include('- HTTPS, JSON and XML Server: KMIP 2.1');
    expect(doc).not.to.include('Not claimed: HTTPS, JSON and XML Server');
    expect(doc).to.include('npm run conformance');
    expect(doc).not.to.match(/\b20[0-9]{2}-[0-9]{2}-[0-9]{2}\b/);
  });

  it('the README block: one row per profile with mandatory cases, passed/total per version, a summary and the link', () => {
    const block = renderReadmeBlock(statement);
    expect(block.startsWith(`${BLOCK_START}\n`) && block.endsWith(`\n${BLOCK_END}`)).to.equal(true);
    expect(block).to.include('7 of 10 cases pass (6 of 8 mandatory); every mandatory case of SKLC, OMOS and MSGENC passes in every version.');
    expect(block).to.include('[docs/conformance.md](docs/conformance.md)');
    expect(block).to.include('| Server profile | 1.0 | 1.4 | 2.1 |');
    expect(block).to.include('| AES XTS Server (AX) |  | 1/2 |  |');
    expect(block).to.include('| PKCS#11 Server (PKCS11) |  |  | 0/1 (1 skipped) |');
    expect(block).not.to.include('AKLC'); // optional cases only
  });
});

describe('statement: reasons', () => {
  it('from a --json run: step and first difference, long hex cut, a pass not recorded said so', () => {
    const hex = 'ab'.repeat(40);
    const reasons = reasonsFromResults({
      cases: [
        { file: 'a.xml', status: 'fail', step: 1, reason: `X/Data: expected ByteString ${hex}... (256 bytes), actual ByteString 00` },
        { file: 'b.xml', status: 'fail', reason: 'server closed the connection' },
        { file: 'c.xml', status: 'pass' },
        { file: 'd.xml', status: 'skip', reason: 'whatever' },
      ],
    });
    expect(reasons.get('a.xml')).to.equal('step 1: `X/Data: expected ByteString abababababababab… (256 bytes), actual ByteString 00`');
    expect(reasons.get('b.xml')).to.equal('`server closed the connection`');
    expect(reasons.get('c.xml')).to.match(/^passes, not yet recorded/);
    expect(reasons.has('d.xml')).to.equal(false);
    expect(() => reasonsFromResults([1, 2])).to.throw(/--json/);
  });

  it('read back from a statement: the "- `file`: reason" lines', () => {
    const doc = '# x\n\n- `v1.4/mandatory/AX-M-2-14.xml`: step 1: `BatchCount: expected 4`\n- Baseline Server: KMIP 2.1\n';
    expect([...parseReasons(doc)]).to.deep.equal([['v1.4/mandatory/AX-M-2-14.xml', 'step 1: `BatchCount: expected 4`']]);
  });
});

describe('statement: the files', () => {
  let project: { root: string; files: StatementFiles };
  beforeEach(() => {
    project = fakeProject();
  });
  afterEach(() => rmSync(project.root, { recursive: true, force: true }));

  it('writes both; --check then finds them current; a new pass in passing.json makes both stale', async () => {
    expect(await staleFiles(project.files)).to.deep.equal([project.files.docsFile, project.files.readmeFile]);
    await writeOutputs(project.files);
    expect(await staleFiles(project.files)).to.deep.equal([]);
    const readme = await readFile(project.files.readmeFile, 'utf8');
    expect(readme).to.match(/^# x\n\n## Conformance\n\n<!-- conformance:start -->\n/);
    expect(readme).to.match(/\n<!-- conformance:end -->\n\n## After\n$/);
    expect(readme).not.to.include('\nold\n');

    writeFileSync(project.files.passingFile, JSON.stringify([...PASSING, 'v1.4/mandatory/AX-M-2-14.xml'].sort()));
    expect(await staleFiles(project.files)).to.deep.equal([project.files.docsFile, project.files.readmeFile]);
    await writeOutputs(project.files);
    expect(await readFile(project.files.docsFile, 'utf8')).to.include('| AES XTS Server (AX) | — | conformant | — |');
  });

  it('the reasons of a --results run stay when regenerated (and checked) without one', async () => {
    const results = path.join(project.root, 'results.json');
    writeFileSync(results, JSON.stringify({ cases: [{ file: 'v1.4/mandatory/AX-M-2-14.xml', status: 'fail', step: 1, reason: 'BatchCount: expected Integer 4, actual Integer 2' }] }));
    const first = await writeOutputs({ ...project.files, resultsFile: results });
    expect(first.docs).to.include('- `v1.4/mandatory/AX-M-2-14.xml`: step 1: `BatchCount: expected Integer 4, actual Integer 2`');
    expect(await staleFiles(project.files)).to.deep.equal([]);
    const again = await writeOutputs(project.files);
    expect(again.docs).to.equal(first.docs);
  });

  it('a README without the markers, or with them twice, is an error', () => {
    expect(() => replaceBlock('# x\n', 'b')).to.throw(/conformance:start/);
    expect(() => replaceBlock(`${BLOCK_START}\n${BLOCK_END}\n${BLOCK_START}\n${BLOCK_END}\n`, 'b')).to.throw(/more than once/);
    expect(replaceBlock(`a\n${BLOCK_START}\nold\n${BLOCK_END}\nz\n`, 'NEW')).to.equal('a\nNEW\nz\n');
  });
});
