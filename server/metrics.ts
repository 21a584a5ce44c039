/**
 * kmipd's metrics in the Prometheus text format (prom-client), served by the admin endpoint
 * (server/admin.ts): operations by result and their latency, connections, TLS refusals,
 * objects by type and state, store commit and KEK timings, password verifications and
 * lockouts, and Node's process metrics.
 *
 * Each process has its own registry. In cluster mode (`--workers N`) each worker answers the
 * primary's requests for its registry (prom-client's AggregatorRegistry), and the primary's
 * admin endpoint serves the sum: counters and histograms add up; `kmipd_objects`, which
 * every worker reads from the same store, is taken from one worker.
 */
import { AggregatorRegistry, Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { Enum } from '../ttlv/index.js';
import type { LogFields, Logger } from '../lib/log.js';
import type { OperationEvent } from '../lib/service.js';
import type { CredentialEvent } from './users.js';
import { storeMember } from '../lib/store/index.js';
import type { ObjectCount, Store } from '../lib/store/index.js';
import { PRODUCT } from '../lib/product.js';
import type { BudgetView } from './budget.js';
import { TallyCounter, TallyHistogram } from './tally.js';

export type Transport = 'tls' | 'https';

/** Seconds: from a cached Get (~0.1 ms) to an RSA-8192 key pair or a slow HSM (seconds). */
const OPERATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
/** Seconds: an fsync'd SQLite commit is ~0.1–1 ms here; PostgreSQL over a network a few ms. */
const COMMIT_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5];
/** `kmipd_objects` is read from the store at most this often; scrapes in between get the last count. */
export const OBJECT_COUNT_MAX_AGE_MS = 5_000;

const OBJECT_TYPE_NAMES = invert(Enum.ObjectType);
const COMMIT_OK = (): { result: string } => ({ result: 'ok' });
const COMMIT_ERROR = (): { result: string } => ({ result: 'error' });
const STATE_NAMES = invert(Enum.State);

export class KmipdMetrics {
  readonly registry = new Registry();
  readonly #operations: TallyCounter<'operation' | 'status' | 'reason'>;
  readonly #latency: TallyHistogram<'operation'>;
  readonly #connectionsOpened: Counter<'transport'>;
  readonly #connectionsRefused: Counter<'transport' | 'reason'>;
  readonly #handshakeFailures: Counter<'transport' | 'reason'>;
  readonly #invalidMessages: Counter;
  readonly #httpsRequests: Counter<'encoding' | 'code'>;
  readonly #commits: TallyHistogram<'result'>;
  readonly #kekProbes: Histogram<'result'>;
  readonly #objectCountErrors: Counter;
  readonly #credentialVerifications: Counter<'result'>;
  readonly #credentialLockouts: Counter<'scope'>;
  readonly #credentialLockedRefusals: Counter<'scope'>;
  readonly #openConnections = new Map<Transport, () => number>();
  #requestBuffer: BudgetView | undefined;
  #store: Store | undefined;
  #objects: { readonly at: number; readonly counts: readonly ObjectCount[] } | undefined;

  constructor(options: { readonly processMetrics?: boolean } = {}) {
    const registers = [this.registry];
    this.#operations = new TallyCounter({
      name: 'kmipd_operations_total',
      help: 'KMIP batch items handled, by operation, Result Status and Result Reason ("none" on success).',
      labelNames: ['operation', 'status', 'reason'],
      registers,
    });
    this.#latency = new TallyHistogram({
      name: 'kmipd_operation_duration_seconds',
      help: 'Time to handle one KMIP batch item, commit included, by operation.',
      labelNames: ['operation'],
      buckets: OPERATION_BUCKETS,
      registers,
    });
    this.#connectionsOpened = new Counter({
      name: 'kmipd_connections_total',
      help: 'Connections authenticated (TLS handshake done, client certificate accepted), by transport.',
      labelNames: ['transport'],
      registers,
    });
    this.#connectionsRefused = new Counter({
      name: 'kmipd_connections_refused_total',
      help: 'Connections closed before any request for a limit: max_connections reached, or shutting_down.',
      labelNames: ['transport', 'reason'],
      registers,
    });
    this.#handshakeFailures = new Counter({
      name: 'kmipd_tls_handshake_failures_total',
      help: 'Connections refused at TLS: handshake (protocol, cipher, timeout), no_client_certificate, certificate_rejected (not from the CA, expired, revoked), no_identity.',
      labelNames: ['transport', 'reason'],
      registers,
    });
    this.#invalidMessages = new Counter({
      name: 'kmipd_invalid_messages_total',
      help: 'Request messages answered Invalid Message before any batch item could be read (malformed TTLV, XML or JSON; a stream that cannot be framed).',
      registers,
    });
    this.#httpsRequests = new Counter({
      name: 'kmipd_https_requests_total',
      help: 'HTTP requests on the KMIP HTTPS port, by message encoding (ttlv, xml, json, none) and HTTP status code.',
      labelNames: ['encoding', 'code'],
      registers,
    });
    this.#commits = new TallyHistogram({
      name: 'kmipd_store_commit_duration_seconds',
      help: 'Time of store commits (one durable transaction each: objects, index rows, audit records), by result.',
      labelNames: ['result'],
      buckets: COMMIT_BUCKETS,
      registers,
    });
    this.#kekProbes = new Histogram({
      name: 'kmipd_kek_probe_duration_seconds',
      help: 'Time to wrap and unwrap a probe value with the key-encryption key (file or HSM) on each /readyz, by result.',
      labelNames: ['result'],
      buckets: COMMIT_BUCKETS,
      registers,
    });
    this.#objectCountErrors = new Counter({
      name: 'kmipd_object_count_errors_total',
      help: 'Scrapes whose count of objects by state failed (kmipd_objects is then absent from that scrape).',
      registers,
    });
    this.#credentialVerifications = new Counter({
      name: 'kmipd_credential_verifications_total',
      help: 'scrypt verifications of a KMIP Username and Password (requireCredential), by result: accepted, rejected (wrong password or unknown user).',
      labelNames: ['result'],
      registers,
    });
    this.#credentialLockouts = new Counter({
      name: 'kmipd_credential_lockouts_total',
      help: 'Lockouts started by failed logins (credentialLockoutFailures, credentialSourceLockoutFailures), by scope: user (a user name), identity (a client certificate identity).',
      labelNames: ['scope'],
      registers,
    });
    this.#credentialLockedRefusals = new Counter({
      name: 'kmipd_credential_locked_refusals_total',
      help: 'Logins refused during a lockout without verifying the password, by scope: user, identity.',
      labelNames: ['scope'],
      registers,
    });
    const openConnections = this.#openConnections;
    new Gauge({
      name: 'kmipd_connections_open',
      help: 'Authenticated connections open now, by transport.',
      labelNames: ['transport'],
      registers,
      collect() {
        this.reset();
        for (const [transport, count] of openConnections) this.set({ transport }, count());
      },
    });
    const metrics = this;
    new Gauge({
      name: 'kmipd_objects',
      help: 'Managed objects in the store by Object Type and State (state "none": objects without one), read from the store at scrape time.',
      labelNames: ['object_type', 'state'],
      // Every worker of a cluster counts the same store.
      aggregator: 'max',
      registers,
      async collect() {
        this.reset();
        const counts = await metrics.#objectCounts();
        for (const { objectType, state, count } of counts ?? []) {
          this.inc({ object_type: OBJECT_TYPE_NAMES.get(objectType) ?? hex(objectType), state: state === undefined ? 'none' : (STATE_NAMES.get(state) ?? hex(state)) }, count);
        }
      },
    });
    new Gauge({
      name: 'kmipd_build_info',
      help: 'The kmipd version, as a label; the value is 1.',
      labelNames: ['version'],
      aggregator: 'max',
      registers,
      collect() {
        this.set({ version: PRODUCT.version }, 1);
      },
    });
    this.#requestBufferMetrics(registers);
    if (options.processMetrics !== false) collectDefaultMetrics({ register: this.registry });
  }

  /** The budget of request bytes (server/budget.ts), read at scrape time; a cluster's sum is over its processes. */
  #requestBufferMetrics(registers: Registry[]): void {
    const metrics = this;
    const gauge = (name: string, help: string, read: (view: BudgetView) => number): void => {
      new Gauge({
        name,
        help,
        registers,
        collect() {
          const view = metrics.#requestBuffer;
          if (view !== undefined) this.set(read(view));
        },
      });
    };
    gauge('kmipd_request_buffer_bytes', 'Request bytes held in memory now: messages being received (counted whole from their header) and requests not yet answered, TLS port and HTTPS together.', (v) => v.held);
    gauge('kmipd_request_buffer_limit_bytes', 'The most request bytes held at once (setting maxBufferedBytes); reading stops at it.', (v) => v.limit);
    gauge('kmipd_request_buffer_waiting', 'Connections not read now because the request byte budget is spent.', (v) => v.waiting);
    new Counter({
      name: 'kmipd_request_buffer_waits_total',
      help: 'Times a connection had to wait for the request byte budget before its next bytes were read.',
      registers,
      collect() {
        const view = metrics.#requestBuffer;
        this.reset();
        if (view !== undefined) this.inc(view.waits);
      },
    });
  }

  /** The lib/service.ts observer: one call per batch item. */
  readonly observeOperation = (event: OperationEvent): void => {
    // An operation code KMIP does not name would make a new series per code a client invents.
    const operation = event.operation.startsWith('0x') && event.reason === 'OperationNotSupported' ? 'unsupported' : event.operation;
    const reason = event.reason ?? 'none';
    this.#operations.count(`${operation}\u0000${event.status}\u0000${reason}`, () => ({ operation, status: event.status, reason }));
    this.#latency.record(operation, () => ({ operation }), event.seconds);
  };

  /** The authenticator's observer (server/users.ts): verifications, lockouts and refusals for one. */
  readonly observeCredential = (event: CredentialEvent): void => {
    if (event.kind === 'verified') this.#credentialVerifications.inc({ result: event.accepted ? 'accepted' : 'rejected' });
    else if (event.kind === 'lockout') this.#credentialLockouts.inc({ scope: event.scope });
    else this.#credentialLockedRefusals.inc({ scope: event.scope });
  };

  /** Count objects from this store at scrape time (its `countByState`, when it has one). */
  watchStore(store: Store): void {
    this.#store = store;
    this.#objects = undefined;
  }

  /** Report the budget of request bytes at scrape time. */
  watchRequestBuffer(view: BudgetView): void {
    this.#requestBuffer = view;
  }

  /** Report `count()` as the open connections of a transport at scrape time. */
  watchConnections(transport: Transport, count: () => number): void {
    this.#openConnections.set(transport, count);
  }

  connectionOpened(transport: Transport): void {
    this.#connectionsOpened.inc({ transport });
  }

  connectionRefused(transport: Transport, reason: 'max_connections' | 'shutting_down'): void {
    this.#connectionsRefused.inc({ transport, reason });
  }

  handshakeFailed(transport: Transport, reason: 'handshake' | 'no_client_certificate' | 'certificate_rejected' | 'no_identity'): void {
    this.#handshakeFailures.inc({ transport, reason });
  }

  invalidMessage(): void {
    this.#invalidMessages.inc();
  }

  httpsRequest(encoding: 'ttlv' | 'xml' | 'json' | 'none', code: number): void {
    this.#httpsRequests.inc({ encoding, code: String(code) });
  }

  kekProbe(seconds: number, ok: boolean): void {
    this.#kekProbes.observe({ result: ok ? 'ok' : 'error' }, seconds);
  }

  /**
   * The store with every commit timed (`kmipd_store_commit_duration_seconds`); every other
   * member is the store's own, so type checks such as isMaintenanceStore still hold.
   */
  timeCommits<S extends Store>(store: S): S {
    const commits = this.#commits;
    // One function for every access (every request's commit reads it), timed like startTimer but without its closure.
    const commit = async (changes: Parameters<Store['commit']>[0]): Promise<void> => {
      const started = performance.now();
      try {
        await store.commit(changes);
        commits.record('ok', COMMIT_OK, (performance.now() - started) / 1000);
      } catch (error) {
        commits.record('error', COMMIT_ERROR, (performance.now() - started) / 1000);
        throw error;
      }
    };
    return new Proxy(store, {
      get(target, property) {
        if (property === 'commit') return commit;
        // Methods run on the store itself: its private fields are not reachable through a proxy.
        return storeMember(target, property);
      },
    });
  }

  /**
   * A logger that also counts the events the TLS listener and the KMIP service log (a
   * refused connection and its reason, an opened connection, a refused message): they are
   * reported there and nowhere else, so the log lines are what is counted.
   */
  countLogEvents(log: Logger, transport: Transport): Logger {
    return tapLogger(log, (msg, fields) => this.#countEvent(transport, msg, fields));
  }

  #countEvent(transport: Transport, msg: string, fields: LogFields | undefined): void {
    switch (msg) {
      case 'connection opened':
        return this.connectionOpened(transport);
      case 'request refused':
      case 'unframeable stream':
        return this.invalidMessage();
      case 'connection refused': {
        const reason = typeof fields?.['reason'] === 'string' ? fields['reason'] : '';
        if (reason.startsWith('TLS handshake failed')) return this.handshakeFailed(transport, 'handshake');
        if (reason === 'no client certificate') return this.handshakeFailed(transport, 'no_client_certificate');
        if (reason.startsWith('client certificate not accepted')) return this.handshakeFailed(transport, 'certificate_rejected');
        if (reason.startsWith('no identity')) return this.handshakeFailed(transport, 'no_identity');
        if (reason.includes('maxConnections')) return this.connectionRefused(transport, 'max_connections');
        if (reason.includes('shutting down')) return this.connectionRefused(transport, 'shutting_down');
        return;
      }
      default:
        return;
    }
  }

  async #objectCounts(): Promise<readonly ObjectCount[] | undefined> {
    const store = this.#store;
    if (store?.countByState === undefined) return undefined;
    const cached = this.#objects;
    if (cached !== undefined && Date.now() - cached.at < OBJECT_COUNT_MAX_AGE_MS) return cached.counts;
    try {
      const counts = await store.countByState();
      this.#objects = { at: Date.now(), counts };
      return counts;
    } catch {
      // A closed or unreachable store: /readyz says so; the scrape itself still succeeds.
      this.#objects = undefined;
      this.#objectCountErrors.inc();
      return undefined;
    }
  }
}

/** What a cluster worker does so that the primary can collect its metrics. */
export function offerToClusterPrimary(metrics: KmipdMetrics): void {
  AggregatorRegistry.setRegistries([metrics.registry]);
  // Constructing one installs prom-client's listener for the primary's requests.
  new AggregatorRegistry();
}

/** The primary's view: every worker's registry, aggregated (prom-client's IPC, 5 s timeout). */
export function clusterMetricsSource(): { readonly contentType: string; metrics(): Promise<string> } {
  const aggregator = new AggregatorRegistry();
  return { contentType: aggregator.contentType, metrics: () => aggregator.clusterMetrics() };
}

/** A logger that calls `listener` with every line (whatever its level) before passing it on. */
export function tapLogger(log: Logger, listener: (msg: string, fields: LogFields | undefined) => void): Logger {
  return new TappedLogger(log, listener);
}

/** Methods on a class, not closures: the KMIP service makes a child logger for every request. */
class TappedLogger implements Logger {
  constructor(
    private readonly log: Logger,
    private readonly listener: (msg: string, fields: LogFields | undefined) => void,
  ) {}

  debug(msg: string, fields?: LogFields): void {
    this.tap(msg, fields);
    this.log.debug(msg, fields);
  }
  info(msg: string, fields?: LogFields): void {
    this.tap(msg, fields);
    this.log.info(msg, fields);
  }
  warn(msg: string, fields?: LogFields): void {
    this.tap(msg, fields);
    this.log.warn(msg, fields);
  }
  error(msg: string, fields?: LogFields): void {
    this.tap(msg, fields);
    this.log.error(msg, fields);
  }
  child(fields: LogFields): Logger {
    return new TappedLogger(this.log.child(fields), this.listener);
  }

  private tap(msg: string, fields: LogFields | undefined): void {
    try {
      this.listener(msg, fields);
    } catch {
      // Counting never stops a log line.
    }
  }
}

function invert(values: Readonly<Record<string, number>>): Map<number, string> {
  return new Map(Object.entries(values).map(([name, value]) => [value, name]));
}

function hex(value: number): string {
  return `0x${value.toString(16).padStart(8, '0')}`;
}
