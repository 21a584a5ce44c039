import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root. */
export const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** `../shared` beside the checkout: the OASIS test cases and the specification data. */
export const sharedDir = path.resolve(projectRoot, '..', 'shared');

/** A file under ../shared, failing loudly when the folder is missing rather than skipping. */
export function sharedPath(...parts: string[]): string {
  const file = path.join(sharedDir, ...parts);
  if (!existsSync(file)) throw new Error(`${file} is missing: the tests need ../shared beside the checkout`);
  return file;
}
