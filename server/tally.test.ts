import { expect } from 'chai';
import { AggregatorRegistry, Counter, Histogram, Registry } from 'prom-client';
import { TallyCounter, TallyHistogram } from './tally.js';

const BUCKETS = [0.001, 0.01, 0.1, 1];
/** Values on, between, under and over the bounds, for three series. */
const OBSERVATIONS: readonly [string, number][] = [
  ['Get', 0.0004],
  ['Get', 0.001],
  ['Get', 0.0011],
  ['Create', 0.05],
  ['Get', 0.5],
  ['Create', 7],
  ['Locate', 0.1],
  ['Get', 0],
];

/** The same metric as prom-client's own and as ours, in two registries. */
function pair(): { theirs: Registry; ours: Registry; tallyHistogram: TallyHistogram<'operation'>; tallyCounter: TallyCounter<'operation' | 'status'> } {
  const theirs = new Registry();
  const ours = new Registry();
  const histogram = { name: 'op_seconds', help: 'Time of an operation.', labelNames: ['operation'] as const, buckets: BUCKETS };
  const counter = { name: 'ops_total', help: 'Operations.', labelNames: ['operation', 'status'] as const };
  const theirHistogram = new Histogram({ ...histogram, labelNames: [...histogram.labelNames], registers: [theirs] });
  const theirCounter = new Counter({ ...counter, labelNames: [...counter.labelNames], registers: [theirs] });
  const tallyHistogram = new TallyHistogram({ ...histogram, labelNames: [...histogram.labelNames], registers: [ours] });
  const tallyCounter = new TallyCounter({ ...counter, labelNames: [...counter.labelNames], registers: [ours] });
  for (const [operation, seconds] of OBSERVATIONS) {
    const status = seconds > 1 ? 'Failed' : 'Success';
    theirHistogram.observe({ operation }, seconds);
    theirCounter.inc({ operation, status });
    tallyHistogram.record(operation, () => ({ operation }), seconds);
    tallyCounter.count(`${operation}/${status}`, () => ({ operation, status }));
  }
  return { theirs, ours, tallyHistogram, tallyCounter };
}

describe('server/tally.ts: request metrics kept in plain numbers', () => {
  it('the Prometheus text is the same as prom-client metrics given the same observations', async () => {
    const { theirs, ours } = pair();
    const text = await ours.metrics();
    expect(text).to.equal(await theirs.metrics());
    expect(text).to.include('op_seconds_bucket{le="0.001",operation="Get"} 3');
    expect(text).to.include('op_seconds_bucket{le="+Inf",operation="Create"} 2');
    expect(text).to.include('ops_total{operation="Get",status="Success"} 5');
  });

  it('the JSON a cluster worker sends, and the sum the primary makes of two workers, are the same', async () => {
    const one = pair();
    const two = pair();
    expect(asSent(await one.ours.getMetricsAsJSON())).to.deep.equal(asSent(await one.theirs.getMetricsAsJSON()));
    const theirSum = AggregatorRegistry.aggregate([await one.theirs.getMetricsAsJSON(), await two.theirs.getMetricsAsJSON()]);
    const ourSum = AggregatorRegistry.aggregate([await one.ours.getMetricsAsJSON(), await two.ours.getMetricsAsJSON()]);
    expect(await ourSum.metrics()).to.equal(await theirSum.metrics());
    expect(await ourSum.metrics()).to.include('op_seconds_count{operation="Get"} 10');
  });

  it('counts go on after a scrape and start again from zero after a reset', async () => {
    const { ours, tallyHistogram, tallyCounter } = pair();
    await ours.metrics();
    tallyCounter.count('Get/Success', () => ({ operation: 'Get', status: 'Success' }));
    tallyHistogram.record('Get', () => ({ operation: 'Get' }), 0.002);
    const text = await ours.metrics();
    expect(text).to.include('ops_total{operation="Get",status="Success"} 6');
    expect(text).to.include('op_seconds_count{operation="Get"} 6');
    expect(text).to.include('op_seconds_bucket{le="0.01",operation="Get"} 5');
    ours.resetMetrics();
    tallyCounter.count('Get/Success', () => ({ operation: 'Get', status: 'Success' }));
    const after = await ours.metrics();
    expect(after).to.include('ops_total{operation="Get",status="Success"} 1');
    expect(after).not.to.include('op_seconds_count');
  });

  it('refuses a value that is not a finite number, as prom-client does', () => {
    const { tallyHistogram } = pair();
    expect(() => tallyHistogram.record('Get', () => ({ operation: 'Get' }), Number.NaN)).to.throw(TypeError);
    expect(() => tallyHistogram.record('Get', () => ({ operation: 'Get' }), Number.POSITIVE_INFINITY)).to.throw(TypeError);
    // A series is named by its key: prom-client's observe, which has none, is refused rather than kept apart.
    expect(() => tallyHistogram.observe({ operation: 'Get' }, 0.001)).to.throw(/record/);
  });
});

/**
 * The metrics as a worker sends them to the primary (JSON over IPC: no functions, no undefined),
 * without the `exemplar: null` prom-client puts on every histogram value when exemplars are off.
 */
function asSent<T>(metrics: T): T {
  return JSON.parse(JSON.stringify(metrics, (key, value: unknown) => (key === 'exemplar' && value === null ? undefined : value))) as T;
}
