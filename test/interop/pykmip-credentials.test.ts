/**
 * Interoperability: the real PyKMIP client (Debian python3-pykmip 0.10.0) against a kmipd
 * that requires a KMIP Username and Password Credential (`requireCredential`, issue 6).
 * PyKMIP sends the `username` and `password` of its client configuration as a Credential in
 * every request header; with the right ones it is served as the user (objects it creates are
 * the user's, whichever allowed certificate it comes through), with a wrong password or
 * PyKMIP's empty Credential it gets Authentication Not Successful.
 */
import { expect } from 'chai';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { jsonLogger } from '../../lib/log.js';
import { configWith, initDataDir, issueClient, startServer } from '../../server/index.js';
import type { RunningServer } from '../../server/index.js';
import { addUser } from '../../server/users-command.js';
import { LogCapture, pkiFiles, removeDir, tempDir } from '../server/helpers.js';
import { runPykmip, valueOf } from './pykmip.js';
import type { PykmipResult, PykmipVersion } from './pykmip.js';

const PASSWORD = 'pykmip interop passphrase';

function refusal(result: PykmipResult | undefined): string | null | undefined {
  if (result === undefined || result.ok) throw new Error(`expected a failure, got ${JSON.stringify(result)}`);
  return result.reason;
}

describe('PyKMIP with a Username and Password Credential (requireCredential)', function () {
  this.timeout(60_000);
  let dir: string;
  let server: RunningServer;
  let logs: LogCapture;

  before(async () => {
    dir = await tempDir('pykmip-credential');
    await initDataDir(dir);
    await issueClient(dir, 'alice');
    await issueClient(dir, 'bob');
    const passwordFile = join(dir, 'storage.pw');
    await writeFile(passwordFile, PASSWORD, { mode: 0o600 });
    await addUser(join(dir, 'users.json'), 'storage-array', ['alice', 'bob'], { passwordFile });
    logs = new LogCapture();
    server = await startServer(configWith({ dir, host: '127.0.0.1', port: 0, requireCredential: true }), { log: jsonLogger(logs, 'info') });
  });
  after(async () => {
    await server?.destroy();
    await removeDir(dir);
  });

  const address = (): { host: string; port: number } => ({ host: '127.0.0.1', port: server.port });

  for (const version of ['1.0', '1.4', '2.0'] as const satisfies readonly PykmipVersion[]) {
    it(`KMIP ${version}: the right password is served as the user; another allowed certificate gets the user's key`, async () => {
      const made = await runPykmip(
        address(),
        pkiFiles(dir, 'alice'),
        version,
        [
          { op: 'create', algorithm: 'AES', length: 256, name: `credential-${version}` }, // 0
          { op: 'activate', uid: '$0' }, // 1
          { op: 'get', uid: '$0' }, // 2
        ],
        { credential: `storage-array:${PASSWORD}` },
      );
      const uid = valueOf(made[0], 'create');
      expect(valueOf(made[2], 'get')).to.include({ object_type: 'SYMMETRIC_KEY', algorithm: 'AES', length: 256 });
      const key = valueOf(made[2], 'get');

      const again = await runPykmip(address(), pkiFiles(dir, 'bob'), version, [{ op: 'get', uid }, { op: 'locate', name: `credential-${version}` }], { credential: `storage-array:${PASSWORD}` });
      expect(valueOf(again[0], 'get')).to.deep.equal(key);
      expect(valueOf(again[1], 'locate')).to.deep.equal([uid]);
      const created = logs.find('operation').find((line) => line.operation === 'Create' && line.status === 'Success' && line.certificate === 'alice');
      expect(created).to.deep.include({ identity: 'storage-array' });
    });
  }

  it('a wrong password, an unknown user and the empty Credential get Authentication Not Successful', async () => {
    const wrong = await runPykmip(address(), pkiFiles(dir, 'alice'), '1.4', [{ op: 'create', algorithm: 'AES', length: 128 }], { credential: 'storage-array:not the password' });
    expect(refusal(wrong[0])).to.equal('AUTHENTICATION_NOT_SUCCESSFUL');
    const unknown = await runPykmip(address(), pkiFiles(dir, 'alice'), '2.0', [{ op: 'locate' }], { credential: `nobody:${PASSWORD}` });
    expect(refusal(unknown[0])).to.equal('AUTHENTICATION_NOT_SUCCESSFUL');
    const empty = await runPykmip(address(), pkiFiles(dir, 'bob'), '1.2', [{ op: 'create', algorithm: 'AES', length: 128 }], { credential: ':' });
    expect(refusal(empty[0])).to.equal('AUTHENTICATION_NOT_SUCCESSFUL');
    expect(JSON.stringify(logs.lines)).to.not.include('not the password');
  });
});
