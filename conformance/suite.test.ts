/**
 * The OASIS conformance suite as part of `npm test`: every case recorded in passing.json
 * must still pass against a freshly started kmipd (the recorded list only grows).
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { expect } from 'chai';
import { projectRoot, sharedPath } from '../test/support/paths.js';

describe('OASIS conformance (no regression of a recorded pass)', function () {
  this.timeout(300_000);

  it('replays every case against a new kmipd and finds no recorded case failing', () => {
    const cases = sharedPath('kmip-testcases');
    const result = spawnSync(process.execPath, ['--import', 'tsx', path.join(projectRoot, 'conformance', 'cli.ts'), '--cases', cases], {
      cwd: projectRoot,
      encoding: 'utf8',
      timeout: 280_000,
    });
    const summary = result.stdout.split('\n').filter((line) => /cases:|regression/.test(line));
    expect(result.status, `${summary.join('\n')}\n${result.stderr}`).to.equal(0);
    expect(result.stdout).to.match(/0 regressions/);
  });
});
