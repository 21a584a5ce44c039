/**
 * `kmipd audit verify` and `kmipd audit export`: the audit trail of the configured store (the
 * data folder's SQLite file, or the PostgreSQL database of `store: postgres`), read in one
 * snapshot while servers keep running. Neither needs the key-encryption key: records hold
 * no key material.
 */
import { once } from 'node:events';
import { createWriteStream, existsSync } from 'node:fs';
import type { Writable } from 'node:stream';
import { exportLines, openPostgresAuditReaderAt, openSqliteAuditReader, parseSince, verifyChain } from '../lib/audit/index.js';
import type { AuditReader, ChainHead, VerifyResult } from '../lib/audit/index.js';
import { SETTINGS, SETTING_KEYS, loadConfig } from './config.js';
import type { KmipdConfig, SettingKey } from './config.js';
import { dataPaths } from './datadir.js';

/** Exit code of `audit verify` when the chain is broken (0: intact; 1 and 2: the check could not run). */
export const EXIT_CHAIN_BROKEN = 3;

/** The configuration as `serve` would resolve it from the same flags, environment and file. */
export async function auditConfig(args: Readonly<Record<string, unknown>>, env: Readonly<Record<string, string | undefined>>): Promise<KmipdConfig> {
  const flags: Partial<Record<SettingKey, string>> = {};
  for (const key of SETTING_KEYS) {
    const value = args[SETTINGS[key].flag];
    if (typeof value === 'string') flags[key] = value;
  }
  const configFile = typeof args['config'] === 'string' ? args['config'] : undefined;
  return (await loadConfig({ configFile, env, flags })).config;
}

export class AuditCommandError extends Error {
  override readonly name = 'AuditCommandError';
}

export async function openConfiguredAuditReader(config: KmipdConfig): Promise<AuditReader> {
  if (config.store === 'postgres' && config.postgresUrl !== undefined) return openPostgresAuditReaderAt(config.postgresUrl, config.postgresSchema);
  const { database } = dataPaths(config.dir);
  if (!existsSync(database)) throw new AuditCommandError(`no database at ${database}: give the data folder with --dir or KMIPD_DIR`);
  return openSqliteAuditReader(database);
}

/** `--expect SEQ:HASH`, a head printed by an earlier verify. */
export function parseExpect(text: string): ChainHead {
  const match = /^(\d+):([0-9a-f]{64})$/i.exec(text.trim());
  if (match === null) throw new AuditCommandError(`--expect ${text}: give the sequence number and hash an earlier verify printed, as 1234:<64 hex digits>`);
  return { seq: Number(match[1]), hash: (match[2] as string).toLowerCase() };
}

export function describeResult(result: VerifyResult): string {
  if (result.intact) {
    return `audit chain intact: ${result.records} records; head ${result.head.seq}:${result.head.hash}\n`;
  }
  const { broken } = result;
  return `audit chain BROKEN at record ${broken.seq} (${broken.kind}): ${broken.detail}; ${result.records} records before it verified\n`;
}

/** Prints the result; the exit code is 0 when intact, EXIT_CHAIN_BROKEN when not. */
export async function runAuditVerify(config: KmipdConfig, options: { readonly expect?: string | undefined; readonly json?: boolean }, out: Writable): Promise<number> {
  const expect = options.expect === undefined ? undefined : parseExpect(options.expect);
  const reader = await openConfiguredAuditReader(config);
  let result: VerifyResult;
  try {
    result = await verifyChain(reader, expect === undefined ? {} : { expect });
  } finally {
    await reader.close();
  }
  out.write(options.json === true ? `${JSON.stringify(result)}\n` : describeResult(result));
  return result.intact ? 0 : EXIT_CHAIN_BROKEN;
}

/** Writes the lines to `--out` (created 0600) or to `stdout`; returns how many. */
export async function runAuditExport(config: KmipdConfig, options: { readonly since?: string | undefined; readonly out?: string | undefined }, stdout: Writable): Promise<number> {
  const start = options.since === undefined ? { seq: 1 } : parseSince(options.since);
  const reader = await openConfiguredAuditReader(config);
  const file = options.out === undefined ? undefined : createWriteStream(options.out, { mode: 0o600 });
  const target = file ?? stdout;
  let count = 0;
  try {
    if (file !== undefined) await once(file, 'open');
    for await (const line of exportLines(reader, start)) {
      count += 1;
      if (!target.write(line)) await once(target, 'drain');
    }
  } finally {
    await reader.close();
    if (file !== undefined) {
      file.end();
      if (!file.closed) await once(file, 'close');
    }
  }
  return count;
}
