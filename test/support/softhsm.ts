/**
 * A private SoftHSM2 token for tests, in a temporary folder (TOOLCHAIN.md, SoftHSM2).
 *
 * SoftHSM reads SOFTHSM2_CONF from the process environment when the module is initialised,
 * which happens when the first PKCS#11 KEK of the process opens: create the token first,
 * and close every KEK before making another token folder in the same process.
 *
 * This file is also a small tool run in a child process (`runTokenTool`) for what a test
 * must do beside the KEK: make a test-only extractable key and read key attributes. It
 * cannot run in the test's own process, because PKCS#11 state is per process and the KEK's
 * worker owns it there (a second user would share, and could finalise, its login).
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const SOFTHSM_MODULE = '/usr/lib/softhsm/libsofthsm2.so';
const SOFTHSM_UTIL = 'softhsm2-util';
const INSTALL_HINT = 'install the Debian package softhsm2 (apt-get install softhsm2; .ci/run does): the PKCS#11 tests need a real SoftHSM token and never skip';

export interface SoftHsmToken {
  readonly module: string;
  readonly tokenLabel: string;
  readonly pin: string;
  readonly soPin: string;
  /** The temporary folder: softhsm2.conf and tokens/. */
  readonly dir: string;
  readonly confPath: string;
  /** The environment for a child process that should see this token. */
  readonly env: NodeJS.ProcessEnv;
  /** Restore SOFTHSM2_CONF and delete the folder. Close every KEK first. */
  cleanup(): Promise<void>;
}

export interface SoftHsmTokenOptions {
  readonly label?: string;
  readonly pin?: string;
  readonly soPin?: string;
}

/** Make a softhsm2.conf in a new temporary folder, point SOFTHSM2_CONF at it, and initialise one token. */
export async function createSoftHsmToken(options: SoftHsmTokenOptions = {}): Promise<SoftHsmToken> {
  if (!existsSync(SOFTHSM_MODULE)) throw new Error(`${SOFTHSM_MODULE} is missing: ${INSTALL_HINT}`);
  const tokenLabel = options.label ?? 'kmipd';
  const pin = options.pin ?? '1234';
  const soPin = options.soPin ?? '5678';
  const dir = await mkdtemp(join(tmpdir(), 'kmipd-softhsm-'));
  const tokens = join(dir, 'tokens');
  const confPath = join(dir, 'softhsm2.conf');
  await mkdir(tokens);
  await writeFile(confPath, `directories.tokendir = ${tokens}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n`);
  const env = { ...process.env, SOFTHSM2_CONF: confPath };
  try {
    await run(SOFTHSM_UTIL, ['--init-token', '--free', '--label', tokenLabel, '--pin', pin, '--so-pin', soPin], env);
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  const previous = process.env['SOFTHSM2_CONF'];
  process.env['SOFTHSM2_CONF'] = confPath;
  return {
    module: SOFTHSM_MODULE,
    tokenLabel,
    pin,
    soPin,
    dir,
    confPath,
    env,
    async cleanup() {
      if (process.env['SOFTHSM2_CONF'] === confPath) {
        if (previous === undefined) delete process.env['SOFTHSM2_CONF'];
        else process.env['SOFTHSM2_CONF'] = previous;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

function run(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    execFile(command, args, { env, timeout: 30_000 }, (error, stdout, stderr) => {
      if (error === null) {
        resolvePromise(stdout);
      } else if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        reject(new Error(`${command} was not found on PATH: ${INSTALL_HINT}`, { cause: error }));
      } else {
        reject(new Error(`${command} ${args.slice(0, 2).join(' ')} failed: ${stderr.trim() || error.message}`, { cause: error }));
      }
    });
  });
}

// ---------------------------------------------------------------------------------------
// Token tool, run in a child process

export type TokenToolRequest =
  /** Generate a token AES-256 key whose value can be read: test-only, never a KEK in production. */
  | { readonly op: 'generate-extractable-aes'; readonly label: string }
  /** The key's protection attributes, and its value if the token hands it out. */
  | { readonly op: 'read-key'; readonly label: string };

export interface KeyReport {
  readonly extractable: boolean;
  readonly sensitive: boolean;
  readonly neverExtractable: boolean;
  readonly alwaysSensitive: boolean;
  readonly private: boolean;
  readonly token: boolean;
  /** The value in hex, or the CKR_* error that reading CKA_VALUE gave. */
  readonly value: { readonly ok: true; readonly hex: string } | { readonly ok: false; readonly error: string };
}

const THIS_FILE = fileURLToPath(import.meta.url);

/** Run one request against the token in a separate process. */
export async function runTokenTool(token: SoftHsmToken, request: TokenToolRequest): Promise<KeyReport> {
  const stdout = await run(process.execPath, ['--import', 'tsx', THIS_FILE, JSON.stringify({ token: { module: token.module, label: token.tokenLabel, pin: token.pin }, request })], token.env);
  return JSON.parse(stdout) as KeyReport;
}

interface ToolInput {
  readonly token: { readonly module: string; readonly label: string; readonly pin: string };
  readonly request: TokenToolRequest;
}

async function toolMain(input: ToolInput): Promise<KeyReport> {
  const graphene = await import('graphene-pk11');
  const module = graphene.Module.load(input.token.module);
  module.initialize();
  try {
    const slots = module.getSlots(true);
    let session;
    for (let i = 0; i < slots.length && session === undefined; i += 1) {
      const slot = slots.items(i);
      if (slot.getToken().label === input.token.label) session = slot.open(graphene.SessionFlag.RW_SESSION | graphene.SessionFlag.SERIAL_SESSION);
    }
    if (session === undefined) throw new Error(`no token labelled "${input.token.label}"`);
    session.login(input.token.pin);
    const { request } = input;
    if (request.op === 'generate-extractable-aes') {
      session.generateKey(graphene.KeyGenMechanism.AES, {
        class: graphene.ObjectClass.SECRET_KEY,
        keyType: graphene.KeyType.AES,
        valueLen: 32,
        label: request.label,
        token: true,
        private: true,
        sensitive: false,
        extractable: true,
        encrypt: true,
        decrypt: true,
      });
    }
    const found = session.find({ class: graphene.ObjectClass.SECRET_KEY, label: request.label });
    if (found.length !== 1) throw new Error(`${found.length} keys labelled "${request.label}"`);
    const key = found.items(0);
    const attrs: Record<string, unknown> = key.getAttribute({ extractable: null, sensitive: null, neverExtractable: null, alwaysSensitive: null, private: null, token: null });
    let value: KeyReport['value'];
    try {
      const bytes: unknown = key.getAttribute({ value: null })['value'];
      value = Buffer.isBuffer(bytes) ? { ok: true, hex: bytes.toString('hex') } : { ok: false, error: 'no CKA_VALUE' };
    } catch (error) {
      value = { ok: false, error: error instanceof Error ? (/^CKR_\w+/.exec(error.message)?.[0] ?? error.message) : String(error) };
    }
    session.logout();
    session.close();
    return {
      extractable: attrs['extractable'] === true,
      sensitive: attrs['sensitive'] === true,
      neverExtractable: attrs['neverExtractable'] === true,
      alwaysSensitive: attrs['alwaysSensitive'] === true,
      private: attrs['private'] === true,
      token: attrs['token'] === true,
      value,
    };
  } finally {
    module.finalize();
  }
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === THIS_FILE) {
  const input = JSON.parse(process.argv[2] ?? '{}') as ToolInput;
  toolMain(input).then(
    (report) => process.stdout.write(JSON.stringify(report)),
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
