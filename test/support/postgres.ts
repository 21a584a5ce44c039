/**
 * A throwaway PostgreSQL cluster for tests: initdb into a temporary folder, a postmaster on a
 * free loopback port with its socket in that folder, and `stop()` to shut it down and remove
 * everything. About a second to start.
 *
 * initdb refuses to run as root, so as root the server binaries run as the `postgres` user
 * (created by Debian's postgresql package); otherwise they run as the current user. When the
 * binaries are missing this fails with a message saying what to install: a PostgreSQL test
 * never skips silently.
 */
import { execFile, spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, readdirSync, rmSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface PostgresCluster {
  /** postgresql://postgres@127.0.0.1:<port>/postgres (trust authentication). */
  readonly connectionString: string;
  readonly port: number;
  /** The cluster's data directory (heap files, WAL), for tests that inspect what is on disk. */
  readonly dataDir: string;
  /** Fast shutdown, then the temporary folder is removed. Safe to call twice. */
  stop(): Promise<void>;
}

/** Where the server binaries are looked for, first match wins. */
const BIN_ENV = 'KMIPD_PG_BIN';
const DEBIAN_ROOT = '/usr/lib/postgresql';

/** Finds the folder holding initdb and pg_ctl, or throws saying how to get them. */
export function postgresBinDir(): string {
  const candidates: string[] = [];
  const fromEnv = process.env[BIN_ENV];
  if (fromEnv !== undefined && fromEnv !== '') candidates.push(fromEnv);
  if (existsSync(DEBIAN_ROOT)) {
    const versions = readdirSync(DEBIAN_ROOT).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a));
    candidates.push(...versions.map((v) => path.join(DEBIAN_ROOT, v, 'bin')));
  }
  candidates.push(...(process.env['PATH'] ?? '').split(path.delimiter).filter((p) => p !== ''));
  const found = candidates.find((dir) => isExecutable(path.join(dir, 'initdb')) && isExecutable(path.join(dir, 'pg_ctl')));
  if (found === undefined) {
    throw new Error(
      `PostgreSQL server binaries (initdb, pg_ctl) not found in $${BIN_ENV}, ${DEBIAN_ROOT}/<version>/bin or PATH: ` +
        'install the Debian package postgresql (.ci/run does) or set ' + BIN_ENV,
    );
  }
  return found;
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

interface RunAs {
  readonly uid: number;
  readonly gid: number;
}

/** As root, the `postgres` user; otherwise undefined (run as ourselves). */
async function serverUser(): Promise<RunAs | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  let entry: string;
  try {
    entry = await run('getent', ['passwd', 'postgres'], {});
  } catch {
    throw new Error('running as root, and initdb refuses root: the tests need a `postgres` user (the Debian postgresql package creates it)');
  }
  const [, , uid, gid] = entry.trim().split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

function run(file: string, args: readonly string[], options: { readonly as?: RunAs; readonly cwd?: string }): Promise<string> {
  return new Promise((resolve, reject) => {
    // libuv drops supplementary groups when it changes uid, so the child is plainly `postgres`.
    const spawnOptions = { ...options.as, ...(options.cwd === undefined ? {} : { cwd: options.cwd }), env: { ...process.env, LC_ALL: 'C.UTF-8' } };
    execFile(file, args, spawnOptions, (error, stdout, stderr) => {
      if (error === null) resolve(stdout);
      else reject(new Error(`${path.basename(file)} ${args.join(' ')} failed: ${error.message}\n${stderr}`));
    });
  });
}

/** A port nobody listens on right now (another process may still take it: start retries). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export async function startPostgres(): Promise<PostgresCluster> {
  const bin = postgresBinDir();
  const as = await serverUser();
  const root = await mkdtemp(path.join(tmpdir(), 'kmipd-pg-'));
  const dataDir = path.join(root, 'data');
  const runDir = path.join(root, 'run');
  let running = false;
  const pgCtlStopSync = (): void => {
    if (running) spawnSync(path.join(bin, 'pg_ctl'), ['-D', dataDir, '-m', 'immediate', 'stop'], { ...as, cwd: root, stdio: 'ignore' });
    rmSync(root, { recursive: true, force: true });
  };
  // If the test process ends without calling stop(), leave no postmaster behind.
  process.once('exit', pgCtlStopSync);
  try {
    if (root.includes("'")) throw new Error(`${root}: a temporary folder whose name holds a quote cannot be handed to pg_ctl`);
    await chmod(root, 0o755); // the postgres user must reach data/ and run/
    await mkdir(dataDir, { mode: 0o700 });
    await mkdir(runDir, { mode: 0o755 });
    if (as !== undefined) {
      await chown(dataDir, as.uid, as.gid);
      await chown(runDir, as.uid, as.gid);
    }
    const user = as === undefined ? {} : { as };
    await run(path.join(bin, 'initdb'), ['-D', dataDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C.UTF-8', '-N'], { ...user, cwd: root });
    const logFile = path.join(runDir, 'postgres.log');
    let port = 0;
    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      // pg_ctl hands -o to /bin/sh: quote the folder (mkdtemp names hold no quote of their own).
      const serverOptions = `-p ${port} -k '${runDir}' -c listen_addresses=127.0.0.1`;
      try {
        await run(path.join(bin, 'pg_ctl'), ['-D', dataDir, '-l', logFile, '-w', '-t', '30', '-o', serverOptions, 'start'], { ...user, cwd: root });
        running = true;
        break;
      } catch (error) {
        const log = await readFile(logFile, 'utf8').catch(() => '');
        // Someone took the port between freePort and the postmaster's bind: try another.
        if (attempt < 3 && /could not bind|Address already in use/.test(log)) continue;
        throw new Error(`${(error as Error).message}\n--- postgres.log ---\n${log}`);
      }
    }
    const stop = async (): Promise<void> => {
      process.removeListener('exit', pgCtlStopSync);
      if (running) {
        running = false;
        await run(path.join(bin, 'pg_ctl'), ['-D', dataDir, '-m', 'fast', '-w', 'stop'], { ...user, cwd: root });
      }
      await rm(root, { recursive: true, force: true });
    };
    return { connectionString: `postgresql://postgres@127.0.0.1:${port}/postgres`, port, dataDir, stop };
  } catch (error) {
    process.removeListener('exit', pgCtlStopSync);
    pgCtlStopSync();
    throw error;
  }
}

/**
 * SQL that makes every COMMIT inserting an object of owner 'refused' into kmipd's `schema`
 * fail (a deferred constraint trigger): a COMMIT refused after its statements succeeded.
 */
export function refuseOwnerAtCommit(schema: string): string {
  return `
    CREATE FUNCTION ${schema}.refuse_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF convert_from(NEW.owner, 'UTF8') = 'refused' THEN RAISE EXCEPTION 'refused at commit'; END IF;
      RETURN NULL;
    END $$;
    CREATE CONSTRAINT TRIGGER refuse_at_commit AFTER INSERT ON ${schema}.objects DEFERRABLE INITIALLY DEFERRED
      FOR EACH ROW EXECUTE FUNCTION ${schema}.refuse_at_commit();`;
}
