/** What kmipd says about itself (Query Server Information, logs). */
import { readFileSync } from 'node:fs';

/** package.json is one folder up from lib/ in the sources and two up from dist/lib/. */
function packageVersion(): string {
  for (const relative of ['../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(relative, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'kmipd' && pkg.version !== undefined) return pkg.version;
    } catch {
      // try the next location
    }
  }
  return '0.0.0';
}

export const PRODUCT = {
  vendor: 'kmipd',
  name: 'kmipd',
  version: packageVersion(),
} as const;
