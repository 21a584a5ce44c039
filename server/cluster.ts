/**
 * `kmipd serve --workers N` (DESIGN.md decision 7): N processes serve KMIP on one port
 * through node:cluster, each with its own store connection. The primary prepares the data
 * folder, the key-encryption key and the store once, forks the workers, says `listening`
 * once all of them listen, restarts a worker that dies (backing off, and giving up with exit
 * code 1 when they keep dying), and on SIGTERM or SIGINT has every worker close gracefully.
 */
import cluster from 'node:cluster';
import type { Worker } from 'node:cluster';
import { constants } from 'node:os';
import { bufferedProcessSink, jsonLogger } from '../lib/log.js';
import type { Logger } from '../lib/log.js';
import { configWith } from './config.js';
import type { KmipdConfig } from './config.js';
import { prepareServer, startScheduler, startServer } from './index.js';
import { lockDataDir } from './datadir.js';
import type { DataPaths } from './datadir.js';
import { openConfiguredKek } from './kek.js';
import { openConfiguredStore } from './store.js';
import type { RunningServer } from './index.js';
import { listenAdmin } from './admin.js';
import type { AdminServer } from './admin.js';
import { clusterMetricsSource } from './metrics.js';

/** The resolved configuration, as JSON, that the primary hands each worker. */
export const WORKER_CONFIG_ENV = 'KMIPD_CLUSTER_WORKER_CONFIG';

/** Deaths within RESTART_WINDOW_MS that stop the server instead of another restart. */
const MAX_RECENT_DEATHS = 5;
const RESTART_WINDOW_MS = 60_000;
const FIRST_BACKOFF_MS = 250;
const MAX_BACKOFF_MS = 10_000;

type WorkerMessage = { readonly kmipd: 'ready'; readonly host: string; readonly port: number; readonly httpsPort?: number } | { readonly kmipd: 'stop' };

function isMessage(value: unknown): value is WorkerMessage {
  return typeof value === 'object' && value !== null && 'kmipd' in value && (value.kmipd === 'ready' || value.kmipd === 'stop');
}

/** True in a process the primary forked. */
export function isClusterWorker(env: Readonly<Record<string, string | undefined>>): boolean {
  return cluster.isWorker && env[WORKER_CONFIG_ENV] !== undefined;
}

export async function runClusterPrimary(config: KmipdConfig, workerCount: number, log: Logger): Promise<void> {
  const paths = await prepareServer(config, log);
  // The primary holds the folder's lock for its workers, and runs the one scheduler.
  const lock = config.store === 'sqlite' ? lockDataDir(paths.dir) : undefined;
  const background = await openBackground(config, paths, log).catch((error: unknown) => {
    lock?.release();
    throw error;
  });
  const workerEnv = { [WORKER_CONFIG_ENV]: JSON.stringify(config) };
  const ready = new Set<Worker>();
  const live = new Set<Worker>();
  const restarts = new Set<NodeJS.Timeout>();
  const deaths: number[] = [];
  let announced = false;
  let stopping = false;
  let exitCode = 0;

  const fork = (): void => {
    const worker = cluster.fork(workerEnv);
    live.add(worker);
    worker.on('message', (message: unknown) => {
      if (!isMessage(message) || message.kmipd !== 'ready' || stopping) return;
      ready.add(worker);
      if (announced) {
        log.info('worker restarted', { pid: worker.process.pid });
      } else if (ready.size === workerCount) {
        announced = true;
        // As one process says it: the HTTPS port the workers share (port 0 picks it), then the admin port.
        const httpsPort = message.httpsPort === undefined ? {} : { httpsPort: message.httpsPort };
        log.info('listening', { host: message.host, port: message.port, dir: paths.dir, ...httpsPort, ...(admin === undefined ? {} : { adminPort: admin.port }) });
      }
    });
  };

  const finishIfDone = (): void => {
    if (!stopping || live.size > 0) return;
    void background.close().finally(() => {
      log.info('stopped', { dir: paths.dir });
      process.exit(exitCode);
    });
  };

  const stopAll = (code: number): void => {
    if (stopping) return;
    stopping = true;
    exitCode = code;
    for (const timer of restarts) clearTimeout(timer);
    restarts.clear();
    for (const worker of live) {
      if (worker.isConnected()) worker.send({ kmipd: 'stop' } satisfies WorkerMessage);
      else worker.process.kill('SIGTERM');
    }
    finishIfDone();
  };

  cluster.on('exit', (worker: Worker, code: number | null, signal: string | null) => {
    live.delete(worker);
    const wasReady = ready.delete(worker);
    if (stopping) {
      if (code !== 0) {
        log.warn('worker exited', { pid: worker.process.pid, code, signal });
        exitCode ||= 1;
      }
      finishIfDone();
      return;
    }
    if (!announced && !wasReady) {
      // A worker that cannot start now will not start later: the port, the files, the store.
      log.error('worker failed to start', { pid: worker.process.pid, code, signal });
      stopAll(code !== null && code !== 0 ? code : 1);
      return;
    }
    const now = Date.now();
    deaths.push(now);
    while (deaths.length > 0 && (deaths[0] ?? now) < now - RESTART_WINDOW_MS) deaths.shift();
    if (deaths.length >= MAX_RECENT_DEATHS) {
      log.error('workers keep dying: stopping', { pid: worker.process.pid, code, signal, deaths: deaths.length, windowMs: RESTART_WINDOW_MS });
      stopAll(1);
      return;
    }
    const backoffMs = Math.min(FIRST_BACKOFF_MS * 2 ** (deaths.length - 1), MAX_BACKOFF_MS);
    log.error('worker died', { pid: worker.process.pid, code, signal, restartInMs: backoffMs });
    const timer = setTimeout(() => {
      restarts.delete(timer);
      if (!stopping) fork();
    }, backoffMs);
    restarts.add(timer);
  });

  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      log.warn('second signal: exiting without finishing', { signal });
      for (const worker of live) worker.process.kill('SIGKILL');
      process.exit(128 + (constants.signals[signal] ?? 0));
    }
    log.info('stopping', { signal, workers: live.size });
    stopAll(0);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  // The admin endpoint for all workers: their metrics added up, ready when all of them are.
  const admin: AdminServer | undefined = config.admin
    ? await listenAdmin({
        host: config.adminHost,
        port: config.adminPort,
        metrics: clusterMetricsSource(),
        log,
        checks: {
          workers: async () => {
            if (stopping) throw new Error('the server is shutting down');
            if (ready.size < workerCount) throw new Error(`${ready.size} of ${workerCount} workers are serving`);
          },
        },
      })
    : undefined;
  for (let i = 0; i < workerCount; i++) fork();
}

/** A worker: serve with the primary's configuration; stop gracefully when told, signalled or orphaned. */
export async function runClusterWorker(env: Readonly<Record<string, string | undefined>>): Promise<void> {
  const config = configWith(JSON.parse(env[WORKER_CONFIG_ENV] ?? '{}') as Partial<KmipdConfig>);
  const sink = bufferedProcessSink(process.stdout);
  const log = jsonLogger(sink, config.logLevel, { pid: process.pid });
  let running: RunningServer | undefined;
  let stopRequested = false;
  let stopping = false;
  const stop = (): void => {
    stopRequested = true;
    if (running === undefined || stopping) return;
    stopping = true;
    running.close().then(
      () => process.exit(0),
      (error: unknown) => {
        log.error('stopping failed', { error });
        process.exit(1);
      },
    );
  };
  // Signals reach workers too (Ctrl-C goes to the whole process group): they mean the same as
  // the primary's stop message, and a second one is the primary's to act on.
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.on('message', (message: unknown) => {
    if (isMessage(message) && message.kmipd === 'stop') stop();
  });
  process.on('disconnect', stop);

  running = await startServer(config, { log, listeningMessage: 'worker listening', underPrimary: true });
  sink.flush(); // its `worker listening` comes before the primary's `listening`, which this message brings about
  process.send?.({ kmipd: 'ready', host: running.host, port: running.port, ...(running.https === undefined ? {} : { httpsPort: running.https.port }) } satisfies WorkerMessage);
  if (stopRequested) stop();
}

/** The primary's own store and KEK, for the scheduler; closed after the workers stop. */
async function openBackground(config: KmipdConfig, paths: DataPaths, log: Logger): Promise<{ close(): Promise<void> }> {
  if (config.schedulerIntervalSeconds === 0) return { close: async () => undefined };
  const { kek, close: closeKek } = await openConfiguredKek(config, paths.kek, false, log);
  try {
    const store = await openConfiguredStore(config, paths.database, kek, log);
    const scheduler = startScheduler(config, store, log);
    return {
      close: async () => {
        await scheduler?.stop();
        await store.close();
        await closeKek();
      },
    };
  } catch (error) {
    await closeKek();
    throw error;
  }
}
