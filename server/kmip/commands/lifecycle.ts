/** kmip activate, revoke, destroy: one or many objects (a progress bar on a terminal for many). */
import { Enum, Tag } from '../../../ttlv/index.js';
import { KmipOperationError, enumValue } from '../../../lib/client/index.js';
import type { IdResult, KmipClient } from '../../../lib/client/index.js';
import { eachLimited, run } from '../context.js';
import type { KmipCommands } from '../context.js';
import { EXIT } from '../errors.js';
import { Progress } from '../output.js';
import type { Output } from '../output.js';

/**
 * The same operation on each identifier. One identifier: its failure is the command's.
 * Several: every one is tried, each line says what happened, exit code 1 if any failed.
 */
async function each(ids: readonly string[], verb: string, operation: (id: string) => Promise<IdResult>): Promise<Output> {
  if (ids.length === 1) {
    const { uniqueIdentifier } = await operation(ids[0] as string);
    return { text: `${verb} ${uniqueIdentifier}`, json: { uniqueIdentifier } };
  }
  const progress = new Progress(ids.length);
  const results = await eachLimited(ids, 4, async (id) => {
    try {
      return { uniqueIdentifier: (await operation(id)).uniqueIdentifier };
    } catch (error) {
      if (error instanceof KmipOperationError) return { uniqueIdentifier: id, error: error.message };
      throw error;
    } finally {
      progress.tick(id);
    }
  });
  progress.finish();
  const failed = results.filter((r) => r.error !== undefined).length;
  return {
    text: results.map((r) => (r.error === undefined ? `${verb} ${r.uniqueIdentifier}` : `${r.uniqueIdentifier}: ${r.error}`)).join('\n'),
    json: results,
    ...(failed === 0 ? {} : { exitCode: EXIT.failed }),
  };
}

const REASON_ALIASES = { cessation: 'CessationOfOperation', compromise: 'KeyCompromise' };

export const lifecycleCommands: KmipCommands = (yargs) =>
  yargs
    .command(
      'activate <ids..>',
      'make objects Active',
      (y) => y.positional('ids', { type: 'string', array: true, demandOption: true, describe: 'Unique Identifiers' }),
      (args) => run(args, (client) => each(args.ids, 'activated', (id) => client.activate(id))),
    )
    .command(
      'revoke <ids..>',
      'revoke objects: cessation deactivates them, compromise marks them Compromised',
      (y) =>
        y
          .positional('ids', { type: 'string', array: true, demandOption: true, describe: 'Unique Identifiers' })
          .option('reason', { type: 'string', default: 'cessation', describe: 'Revocation Reason Code: cessation, compromise, superseded, affiliation-changed, ...' })
          .option('message', { type: 'string', describe: 'a Revocation Message' })
          .option('compromise-date', { type: 'string', describe: 'when the compromise happened (ISO 8601) [default: now, for compromise]' }),
      (args) =>
        run(args, async (client: KmipClient) => {
          const code = enumValue(Tag.RevocationReasonCode, args.reason, '--reason', client.version, REASON_ALIASES);
          const reason = Object.entries(Enum.RevocationReasonCode).find(([, value]) => value === code)?.[0] as keyof typeof Enum.RevocationReasonCode;
          const compromised = code === Enum.RevocationReasonCode.KeyCompromise || code === Enum.RevocationReasonCode.CACompromise;
          const date = args['compromise-date'] === undefined ? (compromised ? new Date() : undefined) : new Date(args['compromise-date']);
          const request = { reason, ...(args.message === undefined ? {} : { message: args.message }), ...(date === undefined ? {} : { compromiseOccurrenceDate: date }) };
          return each(args.ids, 'revoked', (id) => client.revoke(id, request));
        }),
    )
    .command(
      'destroy <ids..>',
      'destroy the key material of objects',
      (y) => y.positional('ids', { type: 'string', array: true, demandOption: true, describe: 'Unique Identifiers' }),
      (args) => run(args, (client) => each(args.ids, 'destroyed', (id) => client.destroy(id))),
    );
