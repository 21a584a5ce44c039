#!/usr/bin/env node
/** `kmipd`: the server and its tools. */
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { TtlvError } from '../ttlv/index.js';
import { DEFAULT_MAX_MESSAGE_SIZE } from '../ttlv/index.js';
import { InputError, decodeMessages, encodeMessages, formatMessages, parseMessages, readInput } from './commands/ttlv.js';
import type { TextFormat } from './commands/ttlv.js';
import { dataDirFrom, runInit, runIssueClient } from './commands/data.js';
import { runServe, settingOptions } from './commands/serve.js';
import { runBackup, runRestore } from './backup.js';
import { BackupError } from '../lib/store/backup.js';
import { DEFAULT_ROTATE_BATCH, kekStatus, rotateKek } from './kek-command.js';
import { configFromArgs, openForMaintenance } from './maintenance.js';
import { runInitHsm } from './hsm-init.js';
import { ConfigError } from './config.js';
import { DataDirError } from './datadir.js';
import { StartError } from './index.js';
import { KekError } from '../lib/crypto/index.js';
import { AuditChainError, ExportStartError } from '../lib/audit/index.js';
import { AuditCommandError, auditConfig, runAuditExport, runAuditVerify } from './audit-command.js';
import { usersCommand } from './users-command.js';
import { formatRecount, recountObjects } from './recount-command.js';

/** Exit code for bad input: the command was understood, the data was not. */
const EXIT_BAD_INPUT = 2;

/** Exit code when the server cannot start for a reason outside its configuration (a file, the port). */
const EXIT_START_FAILED = 1;

function fail(error: unknown): never {
  if (error instanceof TtlvError || error instanceof InputError || error instanceof ConfigError || error instanceof DataDirError || error instanceof KekError || error instanceof BackupError) {
    process.stderr.write(`kmipd: ${error.message}\n`);
    process.exit(EXIT_BAD_INPUT);
  }
  if (error instanceof StartError) {
    process.stderr.write(`kmipd: ${error.message}\n`);
    process.exit(EXIT_START_FAILED);
  }
  throw error;
}

function failAudit(error: unknown): never {
  if (error instanceof AuditCommandError || error instanceof AuditChainError || error instanceof ExportStartError) {
    process.stderr.write(`kmipd: ${error.message}\n`);
    process.exit(EXIT_BAD_INPUT);
  }
  fail(error);
}

async function main(argv: string[]): Promise<void> {
  await yargs(argv)
    .scriptName('kmipd')
    .command('ttlv', 'convert between binary TTLV and KMIP XML/JSON', (ttlv) =>
      ttlv
        .command(
          'decode [file]',
          'binary TTLV (file, stdin, or hex lines) to KMIP XML or JSON',
          (y) =>
            y
              .positional('file', { type: 'string', describe: 'binary TTLV or hex text; - or absent for stdin' })
              .option('hex', { type: 'string', describe: 'the message as hex digits' })
              .option('format', { choices: ['xml', 'json'] as const, default: 'xml' as const, describe: 'output encoding' })
              .option('max-message-size', { type: 'number', default: DEFAULT_MAX_MESSAGE_SIZE, describe: 'largest message accepted, in bytes' }),
          (args) => {
            try {
              const input = args.hex !== undefined ? Buffer.from(args.hex) : readInput(args.file);
              process.stdout.write(formatMessages(decodeMessages(input, args['max-message-size']), args.format as TextFormat));
            } catch (error) {
              fail(error);
            }
          },
        )
        .command(
          'encode [file]',
          'KMIP XML or JSON (file or stdin) to binary TTLV, or hex with --hex',
          (y) =>
            y
              .positional('file', { type: 'string', describe: 'XML or JSON; - or absent for stdin' })
              .option('hex', { type: 'boolean', default: false, describe: 'write one hex line per message' }),
          (args) => {
            try {
              process.stdout.write(encodeMessages(parseMessages(readInput(args.file).toString('utf8')), args.hex));
            } catch (error) {
              fail(error);
            }
          },
        )
        .demandCommand(1, 'say decode or encode'),
    )
    .command(
      'init',
      'create the data folder: SQLite database, key-encryption key, development PKI',
      (y) =>
        y
          .option('dir', { type: 'string', describe: 'the data folder [KMIPD_DIR; default ./kmipd-data]' })
          .option('hostname', { type: 'string', array: true, describe: 'another name or address for the server certificate (repeatable)' })
          .option('hsm', { type: 'boolean', default: false, describe: 'generate the key-encryption key in an HSM token (PKCS#11) and write <dir>/kmipd.json for `serve --config`' })
          .option('pkcs11-module', { type: 'string', describe: 'with --hsm: the PKCS#11 library, e.g. /usr/lib/softhsm/libsofthsm2.so' })
          .option('pkcs11-token-label', { type: 'string', describe: 'with --hsm: the label of the token' })
          .option('pkcs11-pin-file', { type: 'string', describe: 'with --hsm: a file (mode 0600) holding the token user PIN' })
          .option('pkcs11-key-label', { type: 'string', describe: 'with --hsm: the label of the new key [default kmipd-kek]' }),
      async (args) => {
        try {
          if (args.hsm) {
            const { 'pkcs11-module': module, 'pkcs11-token-label': tokenLabel, 'pkcs11-pin-file': pinFile } = args;
            if (module === undefined || tokenLabel === undefined || pinFile === undefined) {
              throw new InputError('init --hsm needs --pkcs11-module, --pkcs11-token-label and --pkcs11-pin-file');
            }
            const options = { module, tokenLabel, pinFile, keyLabel: args['pkcs11-key-label'], hostnames: args.hostname ?? [] };
            process.stdout.write(await runInitHsm(dataDirFrom(args.dir, process.env), options));
            return;
          }
          process.stdout.write(await runInit(dataDirFrom(args.dir, process.env), args.hostname ?? []));
        } catch (error) {
          fail(error);
        }
      },
    )
    .command('certs', 'development PKI', (certs) =>
      certs
        .command(
          'client <name>',
          'issue a client certificate whose identity (subject CN) is NAME, from the data folder CA',
          (y) =>
            y
              .positional('name', { type: 'string', demandOption: true, describe: 'the identity: letters, digits, ".", "_", "-", "@"' })
              .option('dir', { type: 'string', describe: 'the data folder [KMIPD_DIR; default ./kmipd-data]' }),
          async (args) => {
            try {
              process.stdout.write(await runIssueClient(dataDirFrom(args.dir, process.env), args.name));
            } catch (error) {
              fail(error);
            }
          },
        )
        .demandCommand(1, 'say client'),
    )
    .command('kek', 'the key-encryption key: rotate it online, show rotation progress', (kek) =>
      kek
        .command(
          'rotate',
          'a new KEK (key file, or HSM key), every stored key wrapped again under it while servers keep serving; resumes an interrupted rotation',
          (y) =>
            y
              .option('config', { type: 'string', describe: 'a JSON configuration file [KMIPD_CONFIG]' })
              .options(settingOptions())
              .option('batch-size', { type: 'number', default: DEFAULT_ROTATE_BATCH, describe: 'stored keys read and rewritten per page' })
              .option('max-per-second', { type: 'number', default: 0, describe: 'at most this many stored keys rewritten a second, to spare a busy server (0: no limit)' }),
          async (args) => {
            try {
              const opened = await openForMaintenance(await configFromArgs(args, process.env));
              try {
                const progress = (line: string): void => void process.stderr.write(`kmipd: ${line}\n`);
                const result = await rotateKek(await configFromArgs(args, process.env), opened, { batchSize: Number(args['batch-size']), maxPerSecond: Number(args['max-per-second']), progress });
                process.stdout.write(`KEK rotated: ${result.from} -> ${result.to}, ${result.rewrapped} stored keys wrapped again${result.resumed ? ' (resumed)' : ''}\n`);
              } finally {
                await opened.close();
              }
            } catch (error) {
              fail(error);
            }
          },
        )
        .command(
          'status',
          'the KEKs of the store, their states, how many stored keys each wraps, and rotation progress',
          (y) => y.option('config', { type: 'string', describe: 'a JSON configuration file [KMIPD_CONFIG]' }).options(settingOptions()),
          async (args) => {
            try {
              const opened = await openForMaintenance(await configFromArgs(args, process.env));
              try {
                process.stdout.write(await kekStatus(opened));
              } finally {
                await opened.close();
              }
            } catch (error) {
              fail(error);
            }
          },
        )
        .demandCommand(1, 'say rotate or status'),
    )
    .command(
      'backup <file>',
      'write every object (key material still wrapped; the KEKs are not in it) to FILE, online and consistent',
      (y) =>
        y
          .positional('file', { type: 'string', demandOption: true, describe: 'the backup file to create (never overwritten)' })
          .option('config', { type: 'string', describe: 'a JSON configuration file [KMIPD_CONFIG]' })
          .options(settingOptions()),
      async (args) => {
        try {
          process.stdout.write(await runBackup(await configFromArgs(args, process.env), String(args.file)));
        } catch (error) {
          fail(error);
        }
      },
    )
    .command(
      'restore <file>',
      'restore a backup into a new (absent or empty) data folder, or an empty database; --force replaces the objects of one that holds some',
      (y) =>
        y
          .positional('file', { type: 'string', demandOption: true, describe: 'a file written by kmipd backup' })
          .option('kek-file', { type: 'string', array: true, describe: 'a key file of a KEK the backup needs (repeatable); copied into the data folder' })
          .option('force', { type: 'boolean', default: false, describe: 'replace every object of a store that holds some' })
          .option('config', { type: 'string', describe: 'a JSON configuration file [KMIPD_CONFIG]' })
          .options(settingOptions()),
      async (args) => {
        try {
          process.stdout.write(await runRestore(await configFromArgs(args, process.env), String(args.file), { kekFiles: ([] as unknown[]).concat(args['kek-file'] ?? []).map(String), force: String(args.force) === 'true' }));
        } catch (error) {
          fail(error);
        }
      },
    )
    .command(
      'recount-objects',
      'count the objects by type and State for kmipd_objects anew (after nodes of an older release wrote without counting), while servers keep serving',
      (y) => y.option('config', { type: 'string', describe: 'a JSON configuration file [KMIPD_CONFIG]' }).options(settingOptions()),
      async (args) => {
        try {
          const opened = await openForMaintenance(await configFromArgs(args, process.env));
          try {
            process.stdout.write(formatRecount(await recountObjects(opened)));
          } finally {
            await opened.close();
          }
        } catch (error) {
          fail(error);
        }
      },
    )
    .command(
      'serve',
      'run the KMIP server (initialises an absent or empty data folder first)',
      (y) => y.option('config', { type: 'string', describe: 'a JSON configuration file [KMIPD_CONFIG]' }).options(settingOptions()),
      async (args) => {
        try {
          await runServe(args, process.env);
        } catch (error) {
          fail(error);
        }
      },
    )
    .command('audit', 'the tamper-evident audit trail of the configured store', (audit) =>
      audit
        .command(
          'verify',
          'prove the hash chain intact, or name the first broken record and why (exit code 3)',
          (y) =>
            y
              .options(settingOptions())
              .option('config', { type: 'string', describe: 'a JSON configuration file [KMIPD_CONFIG]' })
              .option('expect', { type: 'string', describe: 'SEQ:HASH, a head printed by an earlier verify, that must still hold' })
              .option('json', { type: 'boolean', default: false, describe: 'print the result as JSON' }),
          async (args) => {
            try {
              process.exitCode = await runAuditVerify(await auditConfig(args, process.env), { expect: args.expect, json: args.json }, process.stdout);
            } catch (error) {
              failAudit(error);
            }
          },
        )
        .command(
          'export',
          'write the audit records as JSON lines (for a SIEM), oldest first',
          (y) =>
            y
              .options(settingOptions())
              .option('config', { type: 'string', describe: 'a JSON configuration file [KMIPD_CONFIG]' })
              .option('since', { type: 'string', describe: 'a sequence number, or an ISO 8601 date or time (UTC unless it says otherwise); default: every record' })
              .option('out', { type: 'string', describe: 'the file to write (created with mode 0600); default: standard output' }),
          async (args) => {
            try {
              const count = await runAuditExport(await auditConfig(args, process.env), { since: args.since, out: args.out }, process.stdout);
              process.stderr.write(`kmipd: exported ${count} audit records\n`);
            } catch (error) {
              failAudit(error);
            }
          },
        )
        .demandCommand(1, 'say verify or export'),
    )
    .command(usersCommand)
    .demandCommand(1)
    .strict()
    .help()
    .parseAsync();
}

main(hideBin(process.argv)).catch((error: unknown) => {
  process.stderr.write(`kmipd: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
