/** `kmipd serve`: configuration from flags, environment and file; a server; clean stop on SIGTERM/SIGINT. */
import { availableParallelism, constants } from 'node:os';
import { bufferedProcessSink, jsonLogger } from '../../lib/log.js';
import type { Logger } from '../../lib/log.js';
import { isClusterWorker, runClusterPrimary, runClusterWorker } from '../cluster.js';
import { SETTINGS, SETTING_KEYS, loadConfig } from '../config.js';
import type { SettingKey } from '../config.js';
import { startServer } from '../index.js';
import type { RunningServer } from '../index.js';

/** yargs options for every setting, named after the schema (all read as text, checked by the schema). */
export function settingOptions(): Record<string, { type: 'string'; describe: string; group: string }> {
  return Object.fromEntries(
    SETTING_KEYS.map((key) => {
      const def = SETTINGS[key];
      return [def.flag, { type: 'string' as const, describe: `${def.describe} [${def.env}; default ${def.defaultText.replace(/`/g, '')}]`, group: 'Settings:' }];
    }),
  );
}

export async function runServe(args: Readonly<Record<string, unknown>>, env: Readonly<Record<string, string | undefined>>): Promise<void> {
  if (isClusterWorker(env)) return runClusterWorker(env);
  const flags: Partial<Record<SettingKey, string>> = {};
  for (const key of SETTING_KEYS) {
    const value = args[SETTINGS[key].flag];
    if (typeof value === 'string') flags[key] = value;
  }
  const configFile = typeof args.config === 'string' ? args.config : undefined;
  const { config, warnings } = await loadConfig({ configFile, env, flags });
  const log = jsonLogger(bufferedProcessSink(process.stdout), config.logLevel);
  for (const warning of warnings) log.warn(warning);
  const workers = config.workers === 0 ? availableParallelism() : config.workers;
  if (workers > 1) return runClusterPrimary(config, workers, log);
  const running = await startServer(config, { log });
  stopOnSignals(running, log);
}

/** The first SIGTERM or SIGINT stops cleanly and exits 0; a second one exits at once. */
function stopOnSignals(running: RunningServer, log: Logger): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      log.warn('second signal: exiting without finishing', { signal });
      process.exit(128 + (constants.signals[signal] ?? 0));
    }
    stopping = true;
    log.info('stopping', { signal });
    running.close().then(
      () => process.exit(0),
      (error: unknown) => {
        log.error('stopping failed', { error });
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
