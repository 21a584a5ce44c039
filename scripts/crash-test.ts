/**
 * `npm run crash-test -- [--cycles 20] [--writers 8] [--min-ms 200] [--max-ms 2000] [--workers 1] [--tsx] [--keep]`
 *
 * Kills a loaded kmipd with SIGKILL `cycles` times and checks after every restart that each
 * acknowledged Create and Register survived with its key material (scripts/crash.ts).
 * Exits 1 when anything acknowledged was lost or changed.
 */
import { parseArgs } from 'node:util';
import { runCrashTest } from './crash.js';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      cycles: { type: 'string', default: '20' },
      writers: { type: 'string', default: '8' },
      'min-ms': { type: 'string', default: '200' },
      'max-ms': { type: 'string', default: '2000' },
      workers: { type: 'string', default: '1' },
      tsx: { type: 'boolean', default: false },
      keep: { type: 'boolean', default: false },
    },
  });
  const started = Date.now();
  const report = await runCrashTest({
    cycles: Number(values.cycles),
    writers: Number(values.writers),
    minLoadMs: Number(values['min-ms']),
    maxLoadMs: Number(values['max-ms']),
    workers: Number(values.workers),
    tsx: values.tsx,
    keep: values.keep,
    say: (line) => console.log(line),
  });
  console.log(
    `\n${report.cycles} SIGKILL cycles in ${((Date.now() - started) / 1000).toFixed(0)} s: ${report.acknowledged} objects acknowledged ` +
      `(${report.withKnownMaterial} with key material known before the kill), ${report.inFlightAtKill} requests in flight at the kills; ` +
      `lost ${report.lost.length}, key material changed ${report.changed.length}`,
  );
  if (values.keep) console.log(`data folder kept: ${report.dir}`);
  if (report.lost.length > 0 || report.changed.length > 0) {
    console.log(`lost: ${report.lost.slice(0, 10).join(', ')}\nchanged: ${report.changed.slice(0, 10).join(', ')}`);
    process.exitCode = 1;
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : error);
  process.exitCode = 1;
});
