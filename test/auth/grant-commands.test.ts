/**
 * `kmip grant`, `kmip grants`, `kmip revoke-grant` against a real kmipd over TLS: the owner
 * lets bob decrypt, bob can, then cannot once the grant is revoked; Locate shows bob the key
 * only while it is granted; an Object Group grant is scoped to its granter's objects (the
 * store suite and test/auth/permissions.test.ts prove what it covers); nobody but the owner
 * manages the object's grants.
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { jsonLogger } from '../../lib/log.js';
import type { RunningServer } from '../../server/index.js';
import { configWith, initDataDir, issueClient, startServer } from '../../server/index.js';
import { LogCapture, removeDir, tempDir } from '../server/helpers.js';
import { projectRoot } from '../support/paths.js';

const CLI = path.join(projectRoot, 'server', 'kmip-cli.ts');
const TSX = import.meta.resolve('tsx');

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) if (!/^KMIPD?_/.test(name)) env[name] = value;
  return env;
}

describe('kmip grant / grants / revoke-grant against a running kmipd', function () {
  this.timeout(60_000);
  let dir: string;
  let server: RunningServer;
  const logs = new LogCapture();

  const as = (who: string, ...args: string[]): Promise<Run> =>
    new Promise((resolve) => {
      const certs = path.join(dir, 'certs');
      const connection = ['--port', String(server.port), '--ca', path.join(certs, 'ca.pem'), '--cert', path.join(certs, `${who}.pem`), '--key', path.join(certs, `${who}-key.pem`)];
      execFile(process.execPath, ['--import', TSX, CLI, ...connection, ...args], { env: cleanEnv(), timeout: 20_000 }, (error, stdout, stderr) => {
        resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1, stdout, stderr });
      });
    });
  const ok = async (who: string, ...args: string[]): Promise<string> => {
    const run = await as(who, ...args);
    expect(run.code, `${who}: kmip ${args.join(' ')}: ${run.stderr}`).to.equal(0);
    return run.stdout.trim();
  };

  before(async () => {
    dir = await tempDir('grant-cli');
    await initDataDir(dir);
    for (const name of ['alice', 'bob', 'carol']) await issueClient(dir, name);
    server = await startServer(configWith({ dir, host: '127.0.0.1', port: 0, identityGroups: { dba: ['carol'] } }), { log: jsonLogger(logs, 'info') });
  });
  after(async () => {
    await server.close();
    await removeDir(dir);
  });

  it('grant lets bob decrypt and find the key; revoke-grant takes it back; only the owner manages grants', async () => {
    const id = await ok('alice', 'create', '--name', 'shared-key');
    await ok('alice', 'activate', id);
    const sealed = JSON.parse(await ok('alice', '--json', 'encrypt', id, '--hex', '00112233')) as { data: string; iv: string };
    const denied = await as('bob', 'decrypt', id, '--hex', sealed.data, '--iv', sealed.iv);
    expect(denied.code).to.equal(1);
    expect(denied.stderr).to.match(/Permission Denied/);
    expect(await ok('bob', 'locate', '--name', 'shared-key')).to.equal('');

    expect(await ok('alice', 'grant', id, 'bob', 'decrypt')).to.equal('granted');
    expect(await ok('bob', 'decrypt', id, '--hex', sealed.data, '--iv', sealed.iv)).to.equal('data: 00112233');
    expect(await ok('bob', 'locate', '--name', 'shared-key')).to.equal(id);
    // A different permission still refuses Get.
    expect((await as('bob', 'get', id)).stderr).to.match(/Permission Denied/);
    // bob cannot pass the key on, nor see its grants.
    expect((await as('bob', 'grant', id, 'carol', 'decrypt')).stderr).to.match(/Permission Denied/);
    expect((await as('bob', 'grants', id)).stderr).to.match(/Permission Denied/);

    const listed = JSON.parse(await ok('alice', '--json', 'grants', id)) as { grants: unknown[] };
    expect(listed.grants).to.deep.equal([{ uniqueIdentifier: id, identity: 'bob', permissions: ['decrypt'], grantedBy: 'alice' }]);
    const mine = JSON.parse(await ok('bob', '--json', 'grants')) as { grants: unknown[] };
    expect(mine.grants).to.have.length(1);

    expect(await ok('alice', 'revoke-grant', id, 'bob')).to.equal('revoked 1 permission');
    expect((await as('bob', 'decrypt', id, '--hex', sealed.data, '--iv', sealed.iv)).stderr).to.match(/Permission Denied/);
    expect(await ok('bob', 'locate', '--name', 'shared-key')).to.equal('');
  });

  it('an Object Group grant to an identity group is scoped to the granter\'s objects; a bad permission is a usage error', async () => {
    const other = await ok('bob', 'create', '--name', 'bobs-key');
    expect(await ok('alice', 'grant', '--group', 'payroll', '--to-group', 'dba', 'get,locate')).to.equal('granted');
    const grants = JSON.parse(await ok('alice', '--json', 'grants', '--group', 'payroll')) as { grants: unknown[] };
    expect(grants.grants).to.deep.equal([{ objectGroup: 'payroll', scopeOwner: 'alice', group: 'dba', permissions: ['locate', 'get'], grantedBy: 'alice' }]);
    expect((await as('carol', 'get', other)).stderr, "bob's object is not covered by alice's grant").to.match(/Permission Denied/);
    expect((await as('alice', 'grant', 'payroll', 'bob', 'nonsense')).code).to.equal(2);
  });
});
