#!/usr/bin/env node
/** `kmipd`: the server and its tools. */
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { TtlvError } from '../ttlv/index.js';
import { DEFAULT_MAX_MESSAGE_SIZE } from '../ttlv/index.js';
import { InputError, decodeMessages, encodeMessages, formatMessages, parseMessages, readInput } from './commands/ttlv.js';
import type { TextFormat } from './commands/ttlv.js';

/** Exit code for bad input: the command was understood, the data was not. */
const EXIT_BAD_INPUT = 2;

function fail(error: unknown): never {
  if (error instanceof TtlvError || error instanceof InputError) {
    process.stderr.write(`kmipd: ${error.message}\n`);
    process.exit(EXIT_BAD_INPUT);
  }
  throw error;
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
    .demandCommand(1)
    .strict()
    .help()
    .parseAsync();
}

main(hideBin(process.argv)).catch((error: unknown) => {
  process.stderr.write(`kmipd: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
