/**
 * The `kmip` commands beyond the key lifecycle (kmip-command.test.ts): profiles, key pairs,
 * registering files and folders, wrapped and PEM output, locate filters, attribute changes,
 * bulk commands, signatures and MACs; each run as a real process against a real kmipd.
 */
import { execFile } from 'node:child_process';
import { X509Certificate, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { expect } from 'chai';
import { jsonLogger } from '../../lib/log.js';
import { configWith, startServer } from '../../server/index.js';
import type { RunningServer } from '../../server/index.js';
import { LogCapture, removeDir, tempDir } from '../server/helpers.js';
import { projectRoot } from '../support/paths.js';

const CLI = path.join(projectRoot, 'server', 'kmip-cli.ts');
const TSX = import.meta.resolve('tsx');

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) if (!/^KMIPD?_/.test(name) && name !== 'XDG_CONFIG_HOME') env[name] = value;
  return { ...env, ...extra };
}

function kmipIn(cwd: string, args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', TSX, CLI, ...args], { cwd, env: cleanEnv(env), timeout: 30_000 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1, stdout, stderr });
    });
  });
}

const lines = (text: string): string[] => text.split('\n').filter((line) => line !== '');

describe('kmip: profiles, key pairs, files, filters, bulk, signature and MAC commands', function () {
  this.timeout(120_000);
  let parent: string;
  let dataDir: string;
  let server: RunningServer;
  let profile: string;
  let env: Record<string, string>;
  /** kmip with the test server's settings from a profile file. */
  const kmip = (...args: string[]): Promise<Run> => kmipIn(parent, ['--profile', profile, ...args], env);
  const ok = async (...args: string[]): Promise<string> => {
    const result = await kmip(...args);
    expect(result.code, `kmip ${args.join(' ')}: ${result.stderr}`).to.equal(0);
    return result.stdout;
  };
  const json = async <T>(...args: string[]): Promise<T> => JSON.parse(await ok('--json', ...args)) as T;

  before(async function () {
    parent = await tempDir('kmip-commands');
    dataDir = path.join(parent, 'data');
    server = await startServer(configWith({ dir: dataDir, host: '127.0.0.1', port: 0 }), { log: jsonLogger(new LogCapture(), 'info') });
    // Paths in a profile are relative to the profile's folder.
    const profileDir = path.join(parent, 'config', 'kmip');
    await mkdir(profileDir, { recursive: true });
    profile = path.join(profileDir, 'profile.json');
    const certs = path.relative(profileDir, path.join(dataDir, 'certs'));
    await writeFile(profile, JSON.stringify({ host: '127.0.0.1', port: server.port, cert: `${certs}/admin.pem`, key: `${certs}/admin-key.pem`, ca: `${certs}/ca.pem` }));
    env = { XDG_CONFIG_HOME: path.join(parent, 'elsewhere') };
  });

  after(async function () {
    await server.close();
    await removeDir(parent);
  });

  it('the default profile ~/.config/kmip/profile.json is read with no flags; discover prints versions, --json names the negotiated one', async () => {
    const result = await kmipIn(parent, ['--json', 'discover'], { XDG_CONFIG_HOME: path.join(parent, 'config') });
    expect(result.code, result.stderr).to.equal(0);
    expect(JSON.parse(result.stdout)).to.deep.include({ negotiated: '2.1' });
    const bad = await kmipIn(parent, ['--profile', path.join(parent, 'absent.json'), 'query']);
    expect(bad.code).to.equal(2);
    expect(bad.stderr).to.match(/^kmip: cannot read the profile .*absent\.json: no such file/);
  });

  it('create-key-pair, sign and verify (valid: exit 0; invalid: exit 3), rekey of the private key gives a new pair', async () => {
    const pair = await json<{ privateKeyUniqueIdentifier: string; publicKeyUniqueIdentifier: string }>('create-key-pair', '--algorithm', 'RSA', '--length', '2048', '--name', 'cli-pair');
    const table = await ok('locate', '--name', 'cli-pair.pub', '--long');
    expect(table).to.match(/^UNIQUE IDENTIFIER\s+TYPE\s+STATE\s+ALGORITHM\s+NAME$/m);
    expect(table).to.include(pair.publicKeyUniqueIdentifier).and.match(/PublicKey\s+PreActive\s+RSA 2048\s+cli-pair\.pub/);
    expect(await ok('activate', pair.privateKeyUniqueIdentifier, pair.publicKeyUniqueIdentifier)).to.equal(`activated ${pair.privateKeyUniqueIdentifier}\nactivated ${pair.publicKeyUniqueIdentifier}\n`);
    const data = Buffer.from('sign me').toString('hex');
    const { signature } = await json<{ signature: string }>('sign', pair.privateKeyUniqueIdentifier, '--hex', data, '--algorithm', 'SHA256WithRSAEncryption');
    expect(await ok('verify', pair.publicKeyUniqueIdentifier, '--hex', data, '--signature', signature, '--algorithm', 'SHA256WithRSAEncryption')).to.equal('valid\n');
    const forged = await kmip('verify', pair.publicKeyUniqueIdentifier, '--hex', `${data}00`, '--signature', signature, '--algorithm', 'SHA256WithRSAEncryption');
    expect(forged.code).to.equal(3);
    expect(forged.stdout).to.equal('invalid\n');
    const renewed = await json<{ privateKeyUniqueIdentifier: string }>('rekey', pair.privateKeyUniqueIdentifier);
    expect(renewed.privateKeyUniqueIdentifier).not.to.equal(pair.privateKeyUniqueIdentifier);
  });

  it('register file: a PEM private key, a DER public key, a PEM certificate, a raw AES key; get --format pkcs8 --pem writes the same key back', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const files = path.join(parent, 'files');
    await mkdir(files);
    await writeFile(path.join(files, 'ec.pem'), privateKey.export({ format: 'pem', type: 'pkcs8' }));
    await writeFile(path.join(files, 'ec-pub.der'), publicKey.export({ format: 'der', type: 'spki' }));
    await writeFile(path.join(files, 'aes.bin'), Buffer.alloc(32, 7));
    const certPem = await readFile(path.join(dataDir, 'certs', 'server.pem'));
    await writeFile(path.join(files, 'server.pem'), certPem);
    const registered = await json<{ file: string; objectType: string; uniqueIdentifier: string }[]>(
      'register', 'file', path.join(files, 'ec.pem'), path.join(files, 'ec-pub.der'), path.join(files, 'server.pem'), path.join(files, 'aes.bin'), '--algorithm', 'AES',
    );
    expect(registered.map((r) => r.objectType)).to.deep.equal(['PrivateKey', 'PublicKey', 'Certificate', 'SymmetricKey']);
    const [priv, pub, cert, aes] = registered.map((r) => r.uniqueIdentifier) as [string, string, string, string];

    const out = path.join(parent, 'ec-back.pem');
    await ok('get', priv, '--format', 'pkcs8', '--out', out, '--pem');
    expect((await readFile(out, 'utf8')).trim()).to.equal(String(privateKey.export({ format: 'pem', type: 'pkcs8' })).trim());
    const pubHex = (await ok('get', pub)).trim();
    expect(createPublicKey({ key: Buffer.from(pubHex, 'hex'), format: 'der', type: 'spki' }).equals(publicKey)).to.equal(true);
    expect(Buffer.from((await ok('get', cert)).trim(), 'hex').equals(new X509Certificate(certPem).raw)).to.equal(true);
    expect((await ok('get', aes)).trim()).to.equal('07'.repeat(32));
    const unknown = await kmip('register', 'file', path.join(files, 'aes.bin'));
    expect(unknown.code).to.equal(2);
    expect(unknown.stderr).to.match(/neither a certificate nor a PEM\/DER key: say --algorithm/);
  });

  it('register folder: every file, named after it, in a table; a failing file is reported and the exit code is 1', async () => {
    const folder = path.join(parent, 'bulk');
    await mkdir(folder);
    for (let i = 0; i < 6; i++) await writeFile(path.join(folder, `bulk-${i}.key`), Buffer.alloc(16, i));
    await writeFile(path.join(folder, 'broken.pem'), '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n');
    const result = await kmip('register', 'folder', folder, '--algorithm', 'AES');
    expect(result.code).to.equal(1);
    expect(result.stdout).to.match(/^FILE\s+TYPE\s+UNIQUE IDENTIFIER\s+RESULT$/m).and.match(/^bulk-3\.key\s+SymmetricKey\s+\S+\s+registered$/m).and.match(/^broken\.pem\s+/m);
    expect(result.stdout).to.include('6 of 7 files registered; 1 failed');
    // No terminal, no progress bar.
    expect(result.stderr).to.equal('');
    expect(lines(await ok('locate', '--name', 'bulk-3'))).to.have.length(1);
    expect(await json<{ uniqueIdentifiers: string[] }>('locate', '--type', 'symmetric-key', '--algorithm', 'aes', '--created-after', new Date(Date.now() - 3_600_000).toISOString()))
      .to.have.property('uniqueIdentifiers').with.length.of.at.least(6);
    expect(await json<{ uniqueIdentifiers: string[] }>('locate', '--name', 'bulk-3', '--created-before', '2000-01-01')).to.deep.include({ uniqueIdentifiers: [] });
    const ids = (await json<{ uniqueIdentifiers: string[] }>('locate', '--type', 'symmetric-key', '--state', 'pre-active')).uniqueIdentifiers;
    const bulk = await kmip('destroy', ...ids.slice(0, 3), 'no-such-object');
    expect(bulk.code).to.equal(1);
    expect(lines(bulk.stdout)).to.have.length(4);
    expect(bulk.stdout).to.match(/^no-such-object: Destroy failed: Item Not Found/m);
  });

  it('mac prints an HMAC; mac --verify says valid (exit 0) or invalid (exit 3)', async () => {
    const macKey = (await ok('create', '--algorithm', 'HMAC_SHA256', '--usage', 'mac-generate,mac-verify')).trim();
    await ok('activate', macKey);
    const { mac } = await json<{ mac: string }>('mac', macKey, '--hex', 'abcdef');
    expect(mac).to.match(/^[0-9a-f]{64}$/);
    expect((await kmip('mac', macKey, '--hex', 'abcdef', '--verify', mac)).stdout).to.equal('valid\n');
    expect((await kmip('mac', macKey, '--hex', 'abcdee', '--verify', mac)).code).to.equal(3);
  });

  it('a connection error names the host and what to check', async () => {
    const refused = await kmipIn(parent, ['--profile', profile, '--port', '1', 'query'], env);
    expect(refused.code).to.equal(1);
    expect(refused.stderr).to.match(/^kmip: cannot connect to 127\.0\.0\.1:1: .*ECONNREFUSED.*\(is kmipd running there\? check --host and --port\)\n$/);
  });
});
