/**
 * The admin endpoint: plain HTTP on its own port, loopback by default (settings `admin`,
 * `adminHost`, `adminPort`). No KMIP and no key material goes through it:
 *
 *   GET /metrics   Prometheus text format (server/metrics.ts)
 *   GET /healthz   200 while the process runs (liveness)
 *   GET /readyz    200 when every check passes (store reachable, KEK usable, listeners up),
 *                  503 otherwise; the body (JSON) says which check failed and why
 *
 * It has no authentication: keep it on loopback or a management network.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import type { KeyEncryptionKey } from '../lib/crypto/index.js';
import type { Logger } from '../lib/log.js';
import type { Store } from '../lib/store/index.js';
import type { KmipdMetrics } from './metrics.js';

/** Something that renders metrics: a prom-client registry, or the cluster primary's aggregation. */
export interface MetricsSource {
  readonly contentType: string;
  metrics(): Promise<string>;
}

/** One readiness check: resolves when fine, throws (with a reason) when not. */
export type ReadinessCheck = () => Promise<void>;

export interface AdminOptions {
  readonly host: string;
  readonly port: number;
  readonly metrics: MetricsSource;
  /** By name, run in parallel on every /readyz. */
  readonly checks: Readonly<Record<string, ReadinessCheck>>;
  readonly log: Logger;
  /** A check that has not answered after this long fails. Default 5 s. */
  readonly checkTimeoutMs?: number;
}

export interface AdminServer {
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}

export interface ReadinessReport {
  readonly ready: boolean;
  readonly checks: Readonly<Record<string, { readonly ok: boolean; readonly error?: string }>>;
}

const DEFAULT_CHECK_TIMEOUT_MS = 5_000;
/** Scrapers and probes send small requests; anything slower is dropped. */
const REQUEST_TIMEOUT_MS = 10_000;
const MAX_CONNECTIONS = 64;

export async function listenAdmin(options: AdminOptions): Promise<AdminServer> {
  const { log } = options;
  const server: Server = createServer((request, response) => {
    handle(request, response, options).catch((error: unknown) => {
      log.error('admin request failed', { error, path: request.url });
      if (!response.headersSent) send(response, 500, 'text/plain; charset=utf-8', 'internal error\n');
      else response.destroy();
    });
  });
  server.requestTimeout = REQUEST_TIMEOUT_MS;
  server.headersTimeout = REQUEST_TIMEOUT_MS;
  server.maxConnections = MAX_CONNECTIONS;
  server.on('clientError', (_error, socket) => socket.destroy());

  await new Promise<void>((resolve, reject) => {
    const onError = (error: Error): void => reject(error);
    server.once('error', onError);
    server.listen(options.port, options.host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  server.on('error', (error) => log.error('admin listener error', { error }));
  const address = server.address() as AddressInfo;
  let closing: Promise<void> | undefined;
  return {
    host: address.address,
    port: address.port,
    close: () =>
      (closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        // A scraper's keep-alive connection would hold close() open.
        server.closeIdleConnections();
        setTimeout(() => server.closeAllConnections(), 1000).unref();
      })),
  };
}

async function handle(request: IncomingMessage, response: ServerResponse, options: AdminOptions): Promise<void> {
  // The body of a GET is never read: drop whatever comes.
  request.resume();
  const path = (request.url ?? '/').split('?')[0];
  const known = path === '/metrics' || path === '/healthz' || path === '/readyz';
  if (!known) return send(response, 404, 'text/plain; charset=utf-8', 'not found: the admin endpoint serves /metrics, /healthz and /readyz\n');
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    response.setHeader('Allow', 'GET, HEAD');
    return send(response, 405, 'text/plain; charset=utf-8', `method ${request.method ?? ''} not allowed: use GET\n`);
  }
  switch (path) {
    case '/metrics':
      return send(response, 200, options.metrics.contentType, await options.metrics.metrics());
    case '/healthz':
      return send(response, 200, 'text/plain; charset=utf-8', 'ok\n');
    default: {
      const report = await readiness(options.checks, options.checkTimeoutMs ?? DEFAULT_CHECK_TIMEOUT_MS);
      if (!report.ready) options.log.warn('not ready', { checks: report.checks });
      return send(response, report.ready ? 200 : 503, 'application/json', `${JSON.stringify(report)}\n`);
    }
  }
}

/** Run every check at once, each bounded by `timeoutMs`. */
export async function readiness(checks: Readonly<Record<string, ReadinessCheck>>, timeoutMs: number): Promise<ReadinessReport> {
  const entries = await Promise.all(
    Object.entries(checks).map(async ([name, check]) => {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      });
      try {
        await Promise.race([check(), timeout]);
        return [name, { ok: true }] as const;
      } catch (error) {
        return [name, { ok: false, error: error instanceof Error ? error.message : String(error) }] as const;
      } finally {
        clearTimeout(timer);
      }
    }),
  );
  return { ready: entries.every(([, result]) => result.ok), checks: Object.fromEntries(entries) };
}

function send(response: ServerResponse, status: number, contentType: string, body: string): void {
  const bytes = Buffer.from(body, 'utf8');
  response.writeHead(status, { 'Content-Type': contentType, 'Content-Length': bytes.length, 'Cache-Control': 'no-store' });
  response.end(response.req.method === 'HEAD' ? undefined : bytes);
}

/** A server's own checks: its store answers, its KEK wraps and unwraps, its listeners accept. */
export function serverChecks(parts: {
  readonly store: Pick<Store, 'loadMetadata'>;
  readonly kek: KeyEncryptionKey;
  readonly serving: () => boolean;
  readonly metrics?: KmipdMetrics;
}): Record<string, ReadinessCheck> {
  return {
    listeners: async () => {
      if (!parts.serving()) throw new Error('the server is shutting down');
    },
    // A read of an identifier no object has: the database answers, nothing is unwrapped.
    store: async () => {
      await parts.store.loadMetadata('kmipd-readiness-probe');
    },
    kek: async () => {
      const started = performance.now();
      let ok = false;
      try {
        const probe = randomBytes(32);
        const unwrapped = await parts.kek.unwrap(await parts.kek.wrap(probe));
        if (!unwrapped.equals(probe)) throw new Error('the key-encryption key did not unwrap what it wrapped');
        ok = true;
      } finally {
        parts.metrics?.kekProbe((performance.now() - started) / 1000, ok);
      }
    },
  };
}
