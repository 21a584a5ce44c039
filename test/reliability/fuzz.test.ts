/**
 * Fuzzing over real connections (issue 7): 20,000 mutated and random messages over 16 TLS
 * connections to a real kmipd process. Every message gets a Response Message or the close of
 * its connection, none hangs, the process survives, and a separate client is served after
 * every 500 messages. `npm run fuzz -- --messages 1000000` runs the long version.
 */
import { expect } from 'chai';
import { corpus, fuzzMessage, runFuzz } from '../../scripts/fuzz-kmip.js';

describe('reliability: fuzzing kmipd over TLS', function () {
  this.timeout(180_000);

  it('message i of a seed is the same every time (a failure can be replayed alone)', function () {
    const messages = corpus('00000000-0000-0000-0000-000000000000');
    for (const index of [0, 1, 777, 19_999]) {
      expect(fuzzMessage(42, index, messages).bytes.equals(fuzzMessage(42, index, messages).bytes)).to.equal(true);
    }
    expect(fuzzMessage(42, 5, messages).bytes.equals(fuzzMessage(43, 5, messages).bytes)).to.equal(false);
  });

  it('20,000 mutated and random messages: each answered with a Response Message or its connection closed; no hang, no crash; another client served throughout', async function () {
    const seed = Math.floor(Math.random() * 2 ** 31);
    const report = await runFuzz({ messages: 20_000, seed, connections: 16, checkEvery: 500, hangMs: 10_000, tsx: true });
    const context = `seed ${seed} (replay: npm run fuzz -- --seed ${seed} --replay INDEX)`;
    expect(report.serverExit, context).to.equal(undefined);
    expect(report.hangs, `messages that got no answer, ${context}`).to.deep.equal([]);
    expect(report.badAnswers, `answers that are not a Response Message, ${context}`).to.deep.equal([]);
    expect(report.healthFailures, context).to.deep.equal([]);
    expect(report.messages).to.equal(20_000);
    expect(report.healthChecks).to.be.at.least(40);
    // The mutations must reach the decoder and the handlers, not only the framer.
    expect(report.kmipErrors).to.be.above(10_000);
    expect(report.closed + (report.byMutation['random-stream'] ?? 0)).to.be.above(100);
  });
});
