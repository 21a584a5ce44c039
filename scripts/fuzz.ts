/**
 * `npm run fuzz -- [--messages 1000000] [--seed N] [--connections 16] [--check-every 1000] [--tsx]`
 * `npm run fuzz -- --seed N --replay I[,J...]`   (one message again, printed with its answer)
 *
 * Mutated and random KMIP messages against a real kmipd over TLS (scripts/fuzz-kmip.ts).
 * Exits 1 when the server hung, died, sent something that is not a Response Message, or
 * stopped serving the well-behaved client.
 */
import { parseArgs } from 'node:util';
import { runFuzz } from './fuzz-kmip.js';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      messages: { type: 'string', default: '100000' },
      seed: { type: 'string' },
      connections: { type: 'string', default: '16' },
      'check-every': { type: 'string', default: '1000' },
      'hang-ms': { type: 'string', default: '10000' },
      replay: { type: 'string' },
      tsx: { type: 'boolean', default: false },
    },
  });
  const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(values.seed);
  const only = values.replay?.split(',').map(Number);
  console.log(`fuzzing kmipd: seed ${seed}${only === undefined ? `, ${Number(values.messages).toLocaleString('en')} messages over ${values.connections} connections` : `, replaying ${only.join(', ')}`}`);
  const report = await runFuzz({
    messages: Number(values.messages),
    seed,
    connections: only === undefined ? Number(values.connections) : 1,
    checkEvery: Number(values['check-every']),
    hangMs: Number(values['hang-ms']),
    tsx: values.tsx,
    say: (line) => console.log(line),
    progressEvery: only === undefined ? 100_000 : 0,
    ...(only === undefined ? {} : { only }),
  });
  console.log(`\n${report.messages.toLocaleString('en')} messages in ${report.seconds.toFixed(0)} s (${(report.messages / report.seconds).toFixed(0)}/s), seed ${seed}`);
  console.log(`  answered ${report.answered} (${report.kmipErrors} KMIP errors, ${report.generalFailures} with General Failure), connection closed ${report.closed}`);
  console.log(`  mutations: ${Object.entries(report.byMutation).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  console.log(`  well-behaved client: ${report.healthChecks} checks, ${report.healthFailures.length} failures${report.healthFailures.length > 0 ? `: ${report.healthFailures.slice(0, 5).join('; ')}` : ''}`);
  console.log(`  hangs ${report.hangs.length}${report.hangs.length > 0 ? ` (messages ${report.hangs.slice(0, 10).join(', ')})` : ''}, answers that are not a Response Message ${report.badAnswers.length}, server error log lines ${report.serverErrors}, server ${report.serverExit ?? 'alive'}`);
  if (report.generalFailureSamples.length > 0) console.log(`  General Failure samples (replay with --seed ${seed} --replay ...): ${report.generalFailureSamples.join(',')}`);
  if (report.hangs.length > 0 || report.badAnswers.length > 0 || report.healthFailures.length > 0 || report.serverExit !== undefined) process.exitCode = 1;
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : error);
  process.exitCode = 1;
});
