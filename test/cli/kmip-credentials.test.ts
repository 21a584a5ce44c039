/**
 * `kmip` with a KMIP Credential: the real command against a real kmipd over TLS with
 * `requireCredential` on and a users file written by the `kmipd users add` code. The user
 * name comes from --username, KMIP_USERNAME or the profile, the password from a private file
 * (--password-file, KMIP_PASSWORD_FILE, passwordFile) or a terminal prompt without echo; the
 * server log says the request acted as the user, not as the certificate.
 */
import { spawn } from 'node:child_process';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { expect } from 'chai';
import { jsonLogger } from '../../lib/log.js';
import { configWith, initDataDir, startServer } from '../../server/index.js';
import type { RunningServer } from '../../server/index.js';
import { addUser } from '../../server/users-command.js';
import { LogCapture, removeDir, tempDir } from '../server/helpers.js';
import { projectRoot } from '../support/paths.js';
import { kmipIn, lines } from './helpers.js';
import type { Run } from './helpers.js';

const PASSWORD = 'correct horse battery staple';

describe('kmip --username / --password-file: a KMIP Credential for a server with requireCredential', function () {
  this.timeout(60_000);
  let parent: string;
  let dataDir: string;
  let server: RunningServer;
  let logs: LogCapture;
  /** A profile with address and certificates only. */
  let plainProfile: string;
  let passwordFile: string;
  let wrongFile: string;
  const env = (): Record<string, string> => ({ XDG_CONFIG_HOME: path.join(parent, 'elsewhere') });

  const kmip = (args: readonly string[], extraEnv: Record<string, string> = {}, profile = plainProfile): Promise<Run> =>
    kmipIn(parent, ['--profile', profile, ...args], { ...env(), ...extraEnv });
  const ok = async (args: readonly string[], extraEnv: Record<string, string> = {}, profile = plainProfile): Promise<string> => {
    const result = await kmip(args, extraEnv, profile);
    expect(result.code, `kmip ${args.join(' ')}: ${result.stderr}`).to.equal(0);
    return result.stdout;
  };
  /** The identity the server logged for the last operation named `operation`. */
  const actedAs = (operation: string): unknown => logs.find('operation').filter((line) => line.operation === operation).at(-1)?.identity;

  async function writeProfile(name: string, settings: Record<string, unknown>): Promise<string> {
    const dir = path.join(parent, 'config', name);
    await mkdir(dir, { recursive: true });
    const file = path.join(dir, 'profile.json');
    const certs = path.relative(dir, path.join(dataDir, 'certs'));
    await writeFile(file, JSON.stringify({ host: '127.0.0.1', port: server.port, cert: `${certs}/admin.pem`, key: `${certs}/admin-key.pem`, ca: `${certs}/ca.pem`, ...settings }));
    return file;
  }

  async function start(requireCredential: boolean): Promise<void> {
    logs = new LogCapture();
    server = await startServer(configWith({ dir: dataDir, host: '127.0.0.1', port: 0, requireCredential }), { log: jsonLogger(logs, 'info') });
    plainProfile = await writeProfile('plain', {});
  }

  before(async () => {
    parent = await tempDir('kmip-credentials');
    dataDir = path.join(parent, 'data');
    await initDataDir(dataDir);
    passwordFile = path.join(parent, 'svc.pw');
    await writeFile(passwordFile, `${PASSWORD}\n`, { mode: 0o600 });
    wrongFile = path.join(parent, 'wrong.pw');
    await writeFile(wrongFile, 'Tr0ub4dor&3-wrong\n', { mode: 0o600 });
    // svc may log in through the data folder's admin certificate (identity "admin"), as `kmipd users add svc --identity admin` does.
    await addUser(path.join(dataDir, 'users.json'), 'svc', ['admin'], { passwordFile });
  });
  after(async () => {
    await removeDir(parent);
  });

  describe('on a server with requireCredential', () => {
    before(() => start(true));
    after(() => server.close());

    it('--username and --password-file: served, and the request acts as the user', async () => {
      const id = (await ok(['--username', 'svc', '--password-file', passwordFile, 'create', '--algorithm', 'AES', '--length', '256'])).trim();
      expect(id).to.match(/\S/);
      expect(actedAs('Create')).to.equal('svc');
      const attributes = await ok(['--username', 'svc', '--password-file', passwordFile, '--json', 'attributes', 'get', id]);
      expect(attributes).to.include('AES');
    });

    it('the same Credential in KMIP 1.4 and 1.2 requests', async () => {
      for (const version of ['1.4', '1.2']) {
        const id = (await ok(['--username', 'svc', '--password-file', passwordFile, '--kmip-version', version, 'create', '--algorithm', 'AES', '--length', '128'])).trim();
        expect(id, version).to.match(/\S/);
        expect(actedAs('Create'), version).to.equal('svc');
      }
    });

    it('KMIP_USERNAME and KMIP_PASSWORD_FILE: served', async () => {
      await ok(['create', '--algorithm', 'AES', '--length', '256'], { KMIP_USERNAME: 'svc', KMIP_PASSWORD_FILE: passwordFile });
      expect(actedAs('Create')).to.equal('svc');
    });

    it('username and passwordFile in the profile, the file relative to the profile: served', async () => {
      const profile = await writeProfile('login', { username: 'svc', passwordFile: 'svc.pw' });
      await writeFile(path.join(path.dirname(profile), 'svc.pw'), PASSWORD, { mode: 0o600 });
      await ok(['create', '--algorithm', 'AES', '--length', '256'], {}, profile);
      expect(actedAs('Create')).to.equal('svc');
    });

    it('precedence: a flag beats its variable, a variable beats the profile', async () => {
      const profile = await writeProfile('stale', { username: 'nobody', passwordFile: wrongFile });
      // The variables beat the profile's wrong user and password.
      await ok(['create', '--algorithm', 'AES', '--length', '256'], { KMIP_USERNAME: 'svc', KMIP_PASSWORD_FILE: passwordFile }, profile);
      // The flags beat wrong variables.
      await ok(['--username', 'svc', '--password-file', passwordFile, 'create', '--algorithm', 'AES', '--length', '256'], { KMIP_USERNAME: 'nobody', KMIP_PASSWORD_FILE: wrongFile });
      // And the profile's wrong password is really used when nothing overrides it.
      const refused = await kmip(['create', '--algorithm', 'AES', '--length', '256'], { KMIP_USERNAME: 'svc' }, profile);
      expect(refused.code, refused.stderr).to.equal(1);
      expect(refused.stderr).to.include(`check the user name svc, its password (${wrongFile})`);
    });

    it('a wrong password: exit 1 and one line that says what to check', async () => {
      const result = await kmip(['--username', 'svc', '--password-file', wrongFile, 'create', '--algorithm', 'AES', '--length', '256']);
      expect(result.code, result.stderr).to.equal(1);
      expect(lines(result.stderr)).to.have.length(1);
      expect(result.stderr).to.match(/^kmip: Discover Versions failed: Authentication Not Successful: /);
      expect(result.stderr).to.include(`check the user name svc, its password (${wrongFile}), and that the user may log in through the certificate`);
      expect(result.stderr).not.to.include('Tr0ub4dor');
      expect(result.stdout).to.equal('');
    });

    it('an unknown user and a fixed version (no Discover Versions): the same refusal from the operation itself', async () => {
      const result = await kmip(['--username', 'mallory', '--password-file', passwordFile, '--kmip-version', '2.1', 'query']);
      expect(result.code, result.stderr).to.equal(1);
      expect(result.stderr).to.match(/^kmip: Query failed: Authentication Not Successful: .*check the user name mallory/);
    });

    it('no user name: exit 1, and the line says the server wants --username and --password-file', async () => {
      const result = await kmip(['query']);
      expect(result.code, result.stderr).to.equal(1);
      expect(result.stderr).to.match(/Authentication Not Successful: .*give --username NAME and --password-file FILE/);
    });

    it('only --username on a terminal: the password is asked for without echo', async function () {
      const typed = await onTerminal(parent, ['--profile', plainProfile, '--username', 'svc', 'create', '--algorithm', 'AES', '--length', '256'], env(), PASSWORD);
      expect(typed.code, typed.output).to.equal(0);
      expect(typed.output).to.include('Password of svc: ');
      expect(typed.output).not.to.include(PASSWORD);
      expect(actedAs('Create')).to.equal('svc');
    });
  });

  describe('refused before connecting (exit 2)', () => {
    before(() => start(true));
    after(() => server.close());

    it('a password file others may read: refused with its mode and a chmod hint, nothing sent', async () => {
      const loose = path.join(parent, 'loose.pw');
      await writeFile(loose, PASSWORD);
      await chmod(loose, 0o644);
      const before = logs.find('operation').length;
      const result = await kmip(['--username', 'svc', '--password-file', loose, 'query']);
      expect(result.code, result.stderr).to.equal(2);
      expect(result.stderr).to.include(`the password file ${loose} has mode 0644: others may read the password; run chmod 600 ${loose}`);
      // Group-readable is refused too, as the server refuses its users file.
      await chmod(loose, 0o640);
      const group = await kmip(['query'], { KMIP_USERNAME: 'svc', KMIP_PASSWORD_FILE: loose });
      expect(group.code, group.stderr).to.equal(2);
      expect(group.stderr).to.include('has mode 0640');
      expect(logs.find('operation').length).to.equal(before);
    });

    it('a missing or empty password file, a password file without a user name', async () => {
      const missing = await kmip(['--username', 'svc', '--password-file', path.join(parent, 'none.pw'), 'query']);
      expect([missing.code, missing.stderr]).to.deep.equal([2, `kmip: cannot read the password file ${path.join(parent, 'none.pw')}: no such file\n`]);
      const empty = path.join(parent, 'empty.pw');
      await writeFile(empty, '\n', { mode: 0o600 });
      const blank = await kmip(['--username', 'svc', '--password-file', empty, 'query']);
      expect(blank.code).to.equal(2);
      expect(blank.stderr).to.include('holds no password');
      const anonymous = await kmip(['--password-file', passwordFile, 'query']);
      expect(anonymous.code).to.equal(2);
      expect(anonymous.stderr).to.include('no user name: give --username NAME');
    });

    it('only --username without a terminal: exit 2, naming the ways to give the password', async () => {
      const result = await kmip(['--username', 'svc', 'query']);
      expect(result.code, result.stderr).to.equal(2);
      expect(result.stderr).to.include('user svc needs a password: give --password-file FILE, KMIP_PASSWORD_FILE or passwordFile in the profile');
    });

    it('the password itself on the command line or in the profile is refused', async () => {
      for (const args of [['--username', 'svc', '--password', PASSWORD, 'query'], ['--username', 'svc', `--password=${PASSWORD}`, 'query']]) {
        const result = await kmip(args);
        expect(result.code, result.stderr).to.equal(2);
        expect(result.stderr).to.include('--password is not taken: a password on the command line shows in ps and shell history');
      }
      const profile = await writeProfile('secret', { username: 'svc', password: PASSWORD });
      const result = await kmip(['query'], {}, profile);
      expect(result.code, result.stderr).to.equal(2);
      expect(result.stderr).to.include('holds a password: remove it');
    });
  });

  describe('on a server without requireCredential', () => {
    before(() => start(false));
    after(() => server.close());

    it('a CLI that sends a Credential is served, as its certificate', async () => {
      const id = (await ok(['--username', 'svc', '--password-file', passwordFile, 'create', '--algorithm', 'AES', '--length', '256'])).trim();
      expect(id).to.match(/\S/);
      expect(actedAs('Create')).to.equal('admin');
      // Even a wrong password: the server does not check a Credential it does not require.
      await ok(['--username', 'svc', '--password-file', wrongFile, 'attributes', 'get', id]);
    });
  });
});

/**
 * Run kmip under a pseudo-terminal (util-linux `script`), type `password` and Enter once the
 * prompt shows; everything the terminal showed comes back, so an echo would be seen.
 */
function onTerminal(cwd: string, args: readonly string[], env: Record<string, string>, password: string): Promise<{ code: number; output: string }> {
  const quote = (word: string): string => `'${word.replace(/'/g, `'\\''`)}'`;
  const command = [process.execPath, '--import', import.meta.resolve('tsx'), path.join(projectRoot, 'server', 'kmip-cli.ts'), ...args].map(quote).join(' ');
  const clean: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) if (!/^KMIPD?_/.test(name) && name !== 'XDG_CONFIG_HOME') clean[name] = value;
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qec', command, '/dev/null'], { cwd, env: { ...clean, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    let typed = false;
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    const onOutput = (chunk: Buffer): void => {
      output += chunk.toString('utf8');
      if (!typed && output.includes('Password of ')) {
        typed = true;
        child.stdin.write(`${password}\r`);
      }
    };
    child.stdout.on('data', onOutput);
    child.stderr.on('data', onOutput);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      child.stdin.destroy();
      resolve({ code: code ?? -1, output });
    });
  });
}
