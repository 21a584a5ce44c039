/**
 * Writes docs/configuration.md from the configuration schema (server/config.ts).
 * `tsx server/config-doc.ts` writes it; `--check` exits 1 when the committed file differs.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { configReference } from './config.js';

const CONFIG_DOC = join(dirname(fileURLToPath(import.meta.url)), '..', 'docs', 'configuration.md');

async function main(args: readonly string[]): Promise<void> {
  const expected = configReference();
  if (args.includes('--check')) {
    const actual = await readFile(CONFIG_DOC, 'utf8').catch(() => '');
    if (actual !== expected) {
      process.stderr.write(`${CONFIG_DOC} is out of date: run \`tsx server/config-doc.ts\`\n`);
      process.exit(1);
    }
    return;
  }
  await writeFile(CONFIG_DOC, expected);
  process.stdout.write(`wrote ${CONFIG_DOC}\n`);
}

main(process.argv.slice(2)).catch((error: unknown) => {
  process.stderr.write(`config-doc: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
