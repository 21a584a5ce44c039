/**
 * The two metrics every request updates, kept in plain numbers and handed to prom-client
 * only when scraped. prom-client's own Counter.inc and Histogram.observe hash and validate
 * the label object and allocate on every call: with one of each per batch item they were
 * about 6 % of a Get's CPU (measured with --cpu-prof under `npm run bench -- --workload get`).
 *
 * Both stay prom-client metrics (registered, aggregated across cluster workers, reset), so
 * the text the admin endpoint serves is unchanged.
 */
import { Counter, Histogram } from 'prom-client';
import type { HistogramConfiguration, LabelValues, MetricType, MetricObjectWithValues, MetricValue, MetricValueWithName } from 'prom-client';

/** prom-client's declarations type a metric's `type` as a numeric enum; its code and its output use the string. */
const HISTOGRAM = 'histogram' as unknown as MetricType;

interface Pending<T extends string> {
  readonly labels: LabelValues<T>;
  n: number;
}

/**
 * A Counter whose increments by a label key (a string the caller builds, one per label set)
 * are summed here and added to the Counter when it is collected.
 */
export class TallyCounter<T extends string> extends Counter<T> {
  readonly #pending = new Map<string, Pending<T>>();

  /** One more for the label set named `key`; `labels` is read only the first time a key is seen. */
  count(key: string, labels: () => LabelValues<T>): void {
    const pending = this.#pending.get(key);
    if (pending === undefined) this.#pending.set(key, { labels: labels(), n: 1 });
    else pending.n += 1;
  }

  /** Add what was counted since the last flush to the Counter. */
  flush(): void {
    for (const pending of this.#pending.values()) {
      if (pending.n === 0) continue;
      this.inc(pending.labels, pending.n);
      pending.n = 0;
    }
  }

  override reset(): void {
    // prom-client's constructor calls reset before this class's fields exist.
    if (#pending in this) for (const pending of this.#pending.values()) pending.n = 0;
    super.reset();
  }

  override async get(): Promise<MetricObjectWithValues<MetricValue<T>>> {
    this.flush();
    return super.get();
  }
}

interface Series<T extends string> {
  readonly labels: LabelValues<T>;
  /** Observations at or below each upper bound, not cumulated; the last slot is above them all. */
  readonly buckets: Float64Array;
  sum: number;
  count: number;
}

/**
 * A Histogram kept here: observations go straight into per-series bucket counts; the values
 * prom-client would report are built when it is read (cumulative buckets, +Inf, _sum, _count).
 */
export class TallyHistogram<T extends string> extends Histogram<T> {
  readonly #name: string;
  readonly #help: string;
  readonly #bounds: readonly number[];
  readonly #series = new Map<string, Series<T>>();

  constructor(configuration: HistogramConfiguration<T> & { readonly buckets: readonly number[] }) {
    super({ ...configuration, buckets: [...configuration.buckets] });
    this.#name = configuration.name;
    this.#help = configuration.help;
    // Not kept here (prom-client sets its own on the instance): a series is named by the caller's key (record).
    this.observe = () => {
      throw new TypeError(`${configuration.name}: observations go through record(key, labels, value)`);
    };
    const bounds = [...configuration.buckets].sort((a, b) => a - b);
    if (bounds.some((bound, i) => !Number.isFinite(bound) || bound === bounds[i - 1])) throw new TypeError(`${configuration.name}: buckets must be distinct finite numbers`);
    this.#bounds = bounds;
  }

  /** Observe `value` for the label set named `key`; `labels` is read only the first time a key is seen. */
  record(key: string, labels: () => LabelValues<T>, value: number): void {
    if (!Number.isFinite(value)) throw new TypeError(`${this.#name}: not a finite number: ${String(value)}`);
    let series = this.#series.get(key);
    if (series === undefined) {
      series = { labels: labels(), buckets: new Float64Array(this.#bounds.length + 1), sum: 0, count: 0 };
      this.#series.set(key, series);
    }
    const bounds = this.#bounds;
    let i = 0;
    while (i < bounds.length && value > (bounds[i] ?? Infinity)) i++;
    series.buckets[i] = (series.buckets[i] ?? 0) + 1;
    series.sum += value;
    series.count += 1;
  }

  override reset(): void {
    // prom-client's constructor calls reset before this class's fields exist.
    if (#series in this) this.#series.clear();
    super.reset();
  }

  override async get(): Promise<MetricObjectWithValues<MetricValueWithName<T>>> {
    return { name: this.#name, help: this.#help, type: HISTOGRAM, aggregator: 'sum', collect: () => undefined, values: this.#values() };
  }

  /** What the registry's text output reads (prom-client asks for this one when a metric has it). */
  async getForPromString(): Promise<MetricObjectWithValues<MetricValueWithName<T>>> {
    return this.get();
  }

  #values(): MetricValueWithName<T>[] {
    const values: MetricValueWithName<T>[] = [];
    const bucket = `${this.#name}_bucket`;
    for (const series of this.#series.values()) {
      let cumulative = 0;
      this.#bounds.forEach((le, i) => {
        cumulative += series.buckets[i] ?? 0;
        values.push({ metricName: bucket, labels: withLabel(series.labels, le), value: cumulative });
      });
      values.push({ metricName: bucket, labels: withLabel(series.labels, '+Inf'), value: series.count });
      values.push({ metricName: `${this.#name}_sum`, labels: { ...series.labels }, value: series.sum });
      values.push({ metricName: `${this.#name}_count`, labels: { ...series.labels }, value: series.count });
    }
    return values;
  }
}

/** A series' labels with its bucket's upper bound, as prom-client writes them (le first). */
function withLabel<T extends string>(labels: LabelValues<T>, le: number | string): LabelValues<T> {
  const out: Record<string, string | number | undefined> = { le };
  return Object.assign(out, labels) as LabelValues<T>;
}
