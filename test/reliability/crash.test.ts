/**
 * Crash safety (DESIGN.md decision 4, issue 7): a real kmipd process under a write load is
 * killed with SIGKILL at random moments and restarted on the same SQLite data folder; every
 * object whose Create or Register was acknowledged must still be there, with the same key
 * material. Ten cycles here; `npm run crash-test -- --cycles 20` runs the long version.
 */
import { expect } from 'chai';
import { runCrashTest } from '../../scripts/crash.js';

describe('reliability: SIGKILL under write load loses nothing acknowledged', function () {
  this.timeout(120_000);

  it('10 kill-and-restart cycles: every acknowledged object exists and Get returns the same key material', async function () {
    const report = await runCrashTest({ cycles: 10, writers: 6, minLoadMs: 200, maxLoadMs: 900, tsx: true });
    expect(report.lost, 'acknowledged objects missing after a restart').to.deep.equal([]);
    expect(report.changed, 'objects whose key material changed').to.deep.equal([]);
    // The kills must have hit a loaded server, or the test proves nothing.
    expect(report.acknowledged).to.be.at.least(200);
    expect(report.withKnownMaterial).to.be.at.least(100);
    expect(report.inFlightAtKill).to.be.at.least(5);
  });
});

describe('reliability: SIGKILL of a cluster (--workers 2, commits grouped after each sync) loses nothing acknowledged', function () {
  this.timeout(120_000);

  it('5 kill-and-restart cycles of the primary and its workers: every acknowledged object exists and Get returns the same key material', async function () {
    const report = await runCrashTest({ cycles: 5, writers: 6, minLoadMs: 300, maxLoadMs: 900, tsx: true, workers: 2 });
    expect(report.lost, 'acknowledged objects missing after a restart').to.deep.equal([]);
    expect(report.changed, 'objects whose key material changed').to.deep.equal([]);
    expect(report.acknowledged).to.be.at.least(100);
    expect(report.inFlightAtKill).to.be.at.least(3);
  });
});
