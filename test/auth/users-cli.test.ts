/**
 * `kmipd users` (server/users-command.ts), run as an operator runs it: the real CLI under tsx,
 * on a users file in a temporary data folder. Each run starts a process (a few seconds on a
 * busy machine), so each test chains several commands.
 */
import { expect } from 'chai';
import { execFile, spawn } from 'node:child_process';
import { chmod, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { verifyPassword } from '../../lib/auth/password.js';
import { addUser } from '../../server/users-command.js';
import { readUsersFile } from '../../server/users.js';
import { removeDir, tempDir } from '../server/helpers.js';

const TSX = import.meta.resolve('tsx');
const CLI = fileURLToPath(new URL('../../server/cli.ts', import.meta.url));

describe('kmipd users (the real CLI)', function () {
  this.timeout(60_000);
  let dir: string;
  let path: string;

  const kmipd = (args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> =>
    new Promise((resolve) => {
      const child = execFile(process.execPath, ['--import', TSX, CLI, 'users', ...args, '--dir', dir], { timeout: 30_000 }, (error, stdout, stderr) =>
        resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, stdout, stderr }),
      );
      child.stdin?.end(input ?? '');
    });
  const passwordFile = async (name: string, content: string): Promise<string> => {
    const file = join(dir, `${name}.pw`);
    await writeFile(file, content, { mode: 0o600 });
    return file;
  };

  beforeEach(async () => {
    dir = await tempDir('users-cli');
    path = join(dir, 'users.json');
  });
  afterEach(async () => {
    await removeDir(dir);
  });

  it('add (password file), list, passwd (standard input) and remove edit a users file of mode 0600 holding no password', async () => {
    const added = await kmipd(['add', 'dba', '--identity', 'db-host-1,db-host-2', '--password-file', await passwordFile('dba', 'first passphrase\n')]);
    expect(added, added.stderr).to.deep.include({ code: 0 });
    expect(added.stdout).to.include('user dba added, may log in through db-host-1, db-host-2');
    expect((await stat(path)).mode & 0o777).to.equal(0o600);
    expect((await readUsersFile(path))?.users.dba?.identities).to.deep.equal(['db-host-1', 'db-host-2']);
    expect(await readFile(path, 'utf8')).to.not.include('first passphrase');

    const listed = await kmipd(['list']);
    expect(listed.stdout).to.match(/^USER\s+IDENTITIES\s+PASSWORD SET\s+HASH\n/);
    expect(listed.stdout).to.match(/\ndba\s+db-host-1,db-host-2\s+\S+\s+scrypt ln=15,r=8,p=1\n/);

    const before = (await readUsersFile(path))?.users.dba?.password;
    const changed = await kmipd(['passwd', 'dba', '--password-stdin'], 'second passphrase\n');
    expect(changed, changed.stderr).to.deep.include({ code: 0 });
    expect((await readUsersFile(path))?.users.dba?.password).to.be.a('string').and.not.equal(before);

    expect((await kmipd(['remove', 'dba'])).code).to.equal(0);
    expect((await readUsersFile(path))?.users).to.deep.equal({});
  });

  it('refusals exit 2 with a message: a short password, an existing user, no password source off a terminal, a users file others may read', async () => {
    await addUser(path, 'ops', ['h1'], { passwordFile: await passwordFile('ops', 'long enough passphrase') });
    const short = await kmipd(['add', 'short', '--identity', 'h1', '--password-stdin'], 'abc\n');
    expect([short.code, short.stderr]).to.deep.equal([2, 'kmipd: the password is shorter than 8 characters\n']);
    const again = await kmipd(['add', 'ops', '--identity', 'h1', '--password-stdin'], 'long enough passphrase\n');
    expect([again.code, again.stderr.includes('user "ops" exists')]).to.deep.equal([2, true]);
    // Standard input is a pipe here, not a terminal: no prompt, a clear refusal.
    const noSource = await kmipd(['add', 'y', '--identity', 'h1']);
    expect([noSource.code, noSource.stderr.includes('--password-file')]).to.deep.equal([2, true]);
    await chmod(path, 0o640);
    const open = await kmipd(['list']);
    expect([open.code, open.stderr.includes(`chmod 600 ${path}`)]).to.deep.equal([2, true]);
  });

  it('add on a terminal: asks twice without echo, the password typed the moment each question shows is stored, not shown', async () => {
    const typed = await onTerminal(['users', 'add', 'dba', '--identity', 'db-host-1', '--dir', dir], 'terminal passphrase');
    expect(typed.code, typed.output).to.equal(0);
    expect(typed.output).to.include('Password: ').and.include('Password again: ').and.include('user dba added');
    expect(typed.output).to.not.include('terminal passphrase');
    const stored = (await readUsersFile(path))?.users.dba?.password;
    if (stored === undefined) throw new Error('no password stored');
    expect(await verifyPassword('terminal passphrase', stored)).to.equal(true);
  });
});

/**
 * Run kmipd under a pseudo-terminal (util-linux `script`); type `password` and Enter as soon
 * as each password question shows. Everything the terminal showed comes back, so an echo would be seen.
 */
function onTerminal(args: readonly string[], password: string): Promise<{ code: number; output: string }> {
  const quote = (word: string): string => `'${word.replace(/'/g, `'\\''`)}'`;
  const command = [process.execPath, '--import', TSX, CLI, ...args].map(quote).join(' ');
  const clean: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) if (!name.startsWith('KMIPD_')) clean[name] = value;
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qec', command, '/dev/null'], { env: clean, stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    let answered = 0;
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    const onOutput = (chunk: Buffer): void => {
      output += chunk.toString('utf8');
      const asked = output.split('Password').length - 1;
      for (; answered < asked; answered++) child.stdin.write(`${password}\r`);
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
