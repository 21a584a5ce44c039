/** `kmipd init` and `kmipd certs client NAME`: the data folder and its development PKI. */
import { SETTINGS } from '../config.js';
import { initDataDir, issueClient } from '../datadir.js';

/** The data folder from --dir, else KMIPD_DIR, else the default. */
export function dataDirFrom(flag: string | undefined, env: Readonly<Record<string, string | undefined>>): string {
  return flag ?? env[SETTINGS.dir.env] ?? SETTINGS.dir.default;
}

export async function runInit(dir: string, hostnames: readonly string[]): Promise<string> {
  const { paths, pki } = await initDataDir(dir, { hostnames });
  return [
    `initialised ${paths.dir}`,
    `  database             ${paths.database}`,
    `  key-encryption key   ${paths.kek} (mode 0600: back it up, no stored key can be read without it)`,
    `  CA certificate       ${pki.ca}`,
    `  server certificate   ${pki.server} (key ${pki.serverKey})`,
    `  admin client         ${pki.admin} (key ${pki.adminKey})`,
    '',
  ].join('\n');
}

export async function runIssueClient(dir: string, name: string): Promise<string> {
  const files = await issueClient(dir, name);
  return [`issued client certificate "${name}"`, `  certificate  ${files.cert}`, `  key          ${files.key}`, ''].join('\n');
}
