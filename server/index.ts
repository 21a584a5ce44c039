/**
 * The server's public face: start a kmipd on a data folder (initialising it when absent or
 * empty) and stop it, gracefully or at once. The `kmipd serve` command and the integration
 * tests both come through here.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createSecureContext } from 'node:tls';
import { bufferedProcessSink, jsonLogger } from '../lib/log.js';
import type { Logger } from '../lib/log.js';
import { ensureIssuingCa } from '../certs/index.js';
import { createKmipService } from '../lib/service.js';
import type { KmipService } from '../lib/service.js';
import type { KmipdConfig } from './config.js';
import { prepareDataDir } from './datadir.js';
import type { DataPaths } from './datadir.js';
import { identityResolver } from './identity.js';
import { listen, secureContextOptions, watchCrlFile } from './listener.js';
import type { KmipListener, ListenerTls } from './listener.js';
import { StartError } from './errors.js';
import { openConfiguredHsm, openConfiguredKek } from './kek.js';
import { openConfiguredStore } from './store.js';
import { configuredAuthenticator } from './users.js';
import { listenHttps } from './https.js';
import { listenAdmin, serverChecks } from './admin.js';
import { ByteBudget } from './budget.js';
import type { BudgetView } from './budget.js';
import type { AdminServer } from './admin.js';
import { KmipdMetrics, offerToClusterPrimary } from './metrics.js';
import { lockDataDir } from './datadir.js';
import type { DataDirLock } from './datadir.js';
import { Scheduler } from '../lib/operations/rotation.js';
import { isMaintenanceStore } from '../lib/store/index.js';
import type { Store } from '../lib/store/index.js';

export { ConfigError, SETTINGS, SETTING_KEYS, configReference, configWith, loadConfig, resolveConfig } from './config.js';
export type { KmipdConfig, ResolvedConfig, SettingKey } from './config.js';
export { DataDirError, dataPaths, initDataDir, inspectDataDir, issueClient } from './datadir.js';
export type { DataPaths } from './datadir.js';
export type { BudgetView } from './budget.js';

export interface StartOptions {
  /** Where log lines go; by default JSON lines on standard output at `config.logLevel`. */
  readonly log?: Logger;
  /** Wraps the KMIP service (tests slow it down or watch what reaches it). */
  readonly wrapService?: (service: KmipService) => KmipService;
  /** The message of the log line said once listening (a cluster worker's is not the server's). */
  readonly listeningMessage?: string;
  /**
   * The caller already holds the data folder's lock and runs the scheduler (a cluster
   * worker, whose primary does both): this server takes neither.
   */
  readonly underPrimary?: boolean;
  /** The clock of the service and the scheduler, POSIX seconds; tests move it. */
  readonly clock?: () => bigint;
}

export interface RunningServer {
  /** The address and port actually bound (port 0 in the configuration picks one). */
  readonly host: string;
  readonly port: number;
  readonly paths: DataPaths;
  /** KMIP over HTTPS (setting `https`) and the admin endpoint (setting `admin`), when on. */
  readonly https?: { readonly host: string; readonly port: number };
  readonly admin?: { readonly host: string; readonly port: number };
  /** Request bytes held in memory by the TLS port and the HTTPS binding together (setting maxBufferedBytes). */
  readonly requestBytes: BudgetView;
  /** Stop accepting, answer the requests already received, close connections and the store. */
  close(): Promise<void>;
  /** Drop every connection at once, then close the store. */
  destroy(): Promise<void>;
}

export { StartError } from './errors.js';

export async function startServer(config: KmipdConfig, options: StartOptions = {}): Promise<RunningServer> {
  const log = options.log ?? jsonLogger(bufferedProcessSink(process.stdout), config.logLevel);
  const { paths, initialised, warnings } = await prepareDataDir(config.dir, { hostnames: certificateHostnames(config.host) });
  if (initialised) log.info('data folder initialised', { dir: paths.dir });
  for (const warning of warnings) log.warn(warning);

  // One primary per SQLite folder (a cluster's primary holds it for its workers).
  const lock = config.store === 'sqlite' && options.underPrimary !== true ? lockDataDir(paths.dir) : undefined;
  try {
    return await serveFrom(config, options, log, paths, initialised, lock);
  } catch (error) {
    lock?.release();
    throw error;
  }
}

async function serveFrom(config: KmipdConfig, options: StartOptions, log: Logger, paths: DataPaths, initialised: boolean, lock: DataDirLock | undefined): Promise<RunningServer> {
  const tls = await readTls(config, paths);
  // Certify's issuing CA, apart from the TLS CA (certs/issuer.ts); made here for data folders older than it.
  const issuer = await ensureIssuingCa(paths.certsDir).catch((error: unknown) => {
    throw new StartError(`the issuing CA of Certify in ${paths.certsDir} cannot be used: ${(error as Error).message}`);
  });
  const { kek, close: closeKek } = await openConfiguredKek(config, paths.kek, initialised, log);
  const store = await openConfiguredStore(config, paths.database, kek, log).catch(async (error: unknown) => {
    await closeKek();
    throw error;
  });
  // Keys held in the HSM and the PKCS#11 operation (lib/operations/hsm-resident.ts, pkcs11.ts).
  const hsm = await openConfiguredHsm(config).catch(async (error: unknown) => {
    await store.close();
    await closeKek();
    throw error;
  });
  const scheduler = options.underPrimary === true ? undefined : startScheduler(config, store, log, options.clock);
  let released: Promise<void> | undefined;
  const release = (): Promise<void> =>
    (released ??= (async () => {
      await scheduler?.stop();
      await store.close();
      await hsm?.keys.close();
      await closeKek();
      lock?.release();
    })());

  // Metrics (server/metrics.ts): a cluster worker's go to its primary's admin endpoint.
  const metrics = new KmipdMetrics();
  metrics.watchStore(store);
  if (options.underPrimary === true) offerToClusterPrimary(metrics);
  // The TLS port and KMIP over HTTPS share limits and the way identities are derived.
  const connectionLimits = {
    maxMessageSize: config.maxMessageSize,
    maxConnections: config.maxConnections,
    maxPendingRequestsPerConnection: config.maxPendingRequestsPerConnection,
    idleTimeoutMs: config.idleTimeoutSeconds * 1000,
    handshakeTimeoutMs: config.handshakeTimeoutSeconds * 1000,
    requestTimeoutMs: config.requestTimeoutSeconds * 1000,
    shutdownTimeoutMs: config.shutdownTimeoutSeconds * 1000,
  };
  // One budget of request bytes for the TLS port and the HTTPS binding (server/budget.ts).
  const budget = new ByteBudget(config.maxBufferedBytes);
  metrics.watchRequestBuffer(budget);
  const identify = identityResolver({ source: config.identitySource, admins: config.adminIdentities, groups: config.identityGroups, groupsFromCertificate: config.groupsFromCertificate });
  let listener: KmipListener;
  let service: KmipService;
  try {
    // requireCredential: the users file is read now, so that a missing or open one stops the start.
    const authenticate = await configuredAuthenticator(config, log, { observe: metrics.observeCredential, ...(options.clock === undefined ? {} : { clock: options.clock }) });
    const core = createKmipService({
      store: metrics.timeCommits(store),
      log,
      observe: metrics.observeOperation,
      limits: { maxDepth: config.maxDepth, maxBatchItems: config.maxBatchItems, locateMaxItems: config.locateMaxItems, locateMaxScan: config.locateMaxScan, locateMaxCount: config.locateMaxCount, leaseTimeSeconds: config.leaseTimeSeconds },
      interopTesting: config.interopTesting,
      ...(options.clock === undefined ? {} : { clock: options.clock }),
      issuer,
      ...(hsm === undefined ? {} : { hsm }),
      audit: config.audit,
      auditReadDurability: config.auditReadDurability,
      ...(authenticate === undefined ? {} : { authenticate }),
    });
    service = options.wrapService?.(core) ?? core;
    listener = await listen({
      host: config.host,
      port: config.port,
      tls,
      limits: connectionLimits,
      identify,
      service,
      log: metrics.countLogEvents(log, 'tls'),
      budget,
    });
  } catch (error) {
    await release();
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') {
      throw new StartError(`cannot listen on ${config.host}:${config.port}: ${(error as Error).message}`);
    }
    throw error;
  }
  metrics.watchConnections('tls', () => listener.connections);
  // KMIP over HTTPS beside the TLS port: the same TLS settings, identities, service and limits.
  let https: KmipListener | undefined;
  let admin: AdminServer | undefined;
  let serving = true;
  try {
    if (config.https) {
      https = await listenHttps({
        host: config.httpsHost ?? config.host,
        port: config.httpsPort,
        tls,
        limits: connectionLimits,
        maxDepth: config.maxDepth,
        identify,
        service,
        log,
        metrics,
        budget,
      });
      const httpsListener = https;
      metrics.watchConnections('https', () => httpsListener.connections);
    }
    // A cluster's primary serves the admin endpoint for all its workers (server/cluster.ts).
    if (config.admin && options.underPrimary !== true) {
      admin = await listenAdmin({ host: config.adminHost, port: config.adminPort, metrics: metrics.registry, log, checks: serverChecks({ store, kek, serving: () => serving, metrics }) });
    }
  } catch (error) {
    await https?.destroy();
    await listener.destroy();
    await release();
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') {
      const [what, host, port] = https === undefined && config.https ? ['HTTPS', config.httpsHost ?? config.host, config.httpsPort] : ['admin', config.adminHost, config.adminPort];
      throw new StartError(`cannot listen (${what}) on ${host}:${port}: ${(error as Error).message}`);
    }
    throw error;
  }
  const extraPorts = { ...(https === undefined ? {} : { httpsPort: https.port }), ...(admin === undefined ? {} : { adminPort: admin.port }) };
  log.info(options.listeningMessage ?? 'listening', { host: listener.host, port: listener.port, dir: paths.dir, ...extraPorts });

  const bound = listener;
  const httpsBound = https;
  const adminBound = admin;
  const stopHttpsCrlWatch = httpsBound === undefined || config.tlsCrlFile === undefined ? (): void => {} : watchCrlFile(config.tlsCrlFile, tls, httpsBound, log, config.tlsCrlCheckSeconds * 1000);
  const stopListeners = async (how: (l: KmipListener) => Promise<void>): Promise<void> => {
    serving = false;
    stopHttpsCrlWatch();
    await Promise.all([how(bound), ...(httpsBound === undefined ? [] : [how(httpsBound)])]);
  };
  const stopCrlWatch = config.tlsCrlFile === undefined ? (): void => {} : watchCrlFile(config.tlsCrlFile, tls, bound, log, config.tlsCrlCheckSeconds * 1000);
  let stopped: Promise<void> | undefined;
  // close() then destroy() (a second signal) is allowed: the store closes once, after the connections.
  const stop = async (how: () => Promise<void>): Promise<void> => {
    stopCrlWatch();
    await how();
    stopped ??= release().then(() => log.info('stopped', { dir: paths.dir }));
    await stopped;
    await adminBound?.close();
  };
  return {
    host: bound.host,
    port: bound.port,
    paths,
    ...(httpsBound === undefined ? {} : { https: { host: httpsBound.host, port: httpsBound.port } }),
    ...(adminBound === undefined ? {} : { admin: { host: adminBound.host, port: adminBound.port } }),
    requestBytes: budget,
    close: () => stop(() => stopListeners((l) => l.close())),
    destroy: () => stop(() => stopListeners((l) => l.destroy())),
  };
}

/**
 * What startServer does before it listens, done once and undone: initialise the data folder
 * when absent or empty, open the key-encryption key (generating an HSM key for a new folder)
 * and open the store (creating or migrating its tables). A cluster primary runs this before
 * it forks, so that its workers never race on any of it.
 */
export async function prepareServer(config: KmipdConfig, log: Logger): Promise<DataPaths> {
  const { paths, initialised, warnings } = await prepareDataDir(config.dir, { hostnames: certificateHostnames(config.host) });
  if (initialised) log.info('data folder initialised', { dir: paths.dir });
  for (const warning of warnings) log.warn(warning);
  await readTls(config, paths);
  await configuredAuthenticator(config, log);
  const { kek, close: closeKek } = await openConfiguredKek(config, paths.kek, initialised, log);
  try {
    const store = await openConfiguredStore(config, paths.database, kek, log);
    await store.close();
  } finally {
    await closeKek();
  }
  return paths;
}

/** The listening host goes into the server certificate that `serve` makes on a new folder. */
function certificateHostnames(host: string): string[] {
  return host === '0.0.0.0' || host === '::' || host === 'localhost' ? [] : [host];
}

async function readTls(config: KmipdConfig, paths: DataPaths): Promise<ListenerTls> {
  const read = async (file: string | undefined, fallback: string, setting: string, what: string): Promise<Buffer> => {
    const path = file ?? fallback;
    try {
      return await readFile(path);
    } catch (error) {
      throw new StartError(`cannot read the ${what} ${path} (setting ${setting}): ${(error as Error).message}`);
    }
  };
  const tls: ListenerTls = {
    cert: await read(config.tlsCertFile, join(paths.certsDir, 'server.pem'), 'tlsCertFile', 'server certificate'),
    key: await read(config.tlsKeyFile, join(paths.certsDir, 'server-key.pem'), 'tlsKeyFile', 'server key'),
    ca: await read(config.tlsCaFile, join(paths.certsDir, 'ca.pem'), 'tlsCaFile', 'client CA certificates'),
    minVersion: config.tlsMinVersion,
    maxVersion: config.tlsMaxVersion,
    ciphers: config.tlsCiphers,
    ecdhCurve: config.tlsEcdhCurves,
    ...(config.tlsCrlFile === undefined ? {} : { crl: await read(config.tlsCrlFile, config.tlsCrlFile, 'tlsCrlFile', 'certificate revocation list') }),
  };
  try {
    createSecureContext({ cert: tls.cert, key: tls.key, ca: tls.ca });
  } catch (error) {
    throw new StartError(`the TLS files cannot be used (settings tlsCertFile, tlsKeyFile, tlsCaFile): ${(error as Error).message}`);
  }
  try {
    createSecureContext(secureContextOptions(tls));
  } catch (error) {
    throw new StartError(`the TLS settings cannot be used (tlsCiphers, tlsEcdhCurves, tlsCrlFile): ${(error as Error).message}`);
  }
  return tls;
}

/** The scheduler (lib/operations/rotation.ts), unless turned off (schedulerIntervalSeconds 0). */
export function startScheduler(config: KmipdConfig, store: Store, log: Logger, clock?: () => bigint): Scheduler | undefined {
  if (config.schedulerIntervalSeconds === 0 || !isMaintenanceStore(store)) return undefined;
  const scheduler = new Scheduler({
    store,
    log: log.child({ component: 'scheduler' }),
    intervalSeconds: config.schedulerIntervalSeconds,
    retireOld: config.rotationRetireOld,
    audit: config.audit,
    limits: { locateMaxItems: config.locateMaxItems, locateMaxScan: config.locateMaxScan, locateMaxCount: config.locateMaxCount, leaseTimeSeconds: config.leaseTimeSeconds },
    ...(clock === undefined ? {} : { clock }),
  });
  scheduler.start();
  return scheduler;
}
