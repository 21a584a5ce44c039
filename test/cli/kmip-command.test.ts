/**
 * The `kmip` client command, run as a real process against a real kmipd (in this process,
 * on a free loopback port, with a fresh data folder and its development PKI).
 */
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { expect } from 'chai';
import { createDevelopmentPki, developmentPkiPaths } from '../../certs/index.js';
import { jsonLogger } from '../../lib/log.js';
import { configWith, startServer } from '../../server/index.js';
import type { RunningServer } from '../../server/index.js';
import { LogCapture, removeDir, tempDir } from '../server/helpers.js';
import { projectRoot } from '../support/paths.js';
import { kmipIn as kmipAt, lines } from './helpers.js';
import type { Run } from './helpers.js';

describe('kmip: the client command against a running kmipd', function () {
  this.timeout(60_000);
  let parent: string;
  let dataDir: string;
  let otherPki: string;
  let server: RunningServer;
  const logs = new LogCapture();
  /** kmip with --dir and --port of the test server. */
  let kmip: (...args: string[]) => Promise<Run>;
  /** Succeeds, or fails the test showing stderr. */
  const ok = async (...args: string[]): Promise<string> => {
    const result = await kmip(...args);
    expect(result.code, `kmip ${args.join(' ')}: ${result.stderr}`).to.equal(0);
    return result.stdout;
  };
  const json = async <T>(...args: string[]): Promise<T> => JSON.parse(await ok('--json', ...args)) as T;

  before(async function () {
    parent = await tempDir('kmip-cli');
    // The default data folder name, so a command run in `parent` finds it with no flags.
    dataDir = path.join(parent, 'kmipd-data');
    otherPki = path.join(parent, 'other-pki');
    server = await startServer(configWith({ dir: dataDir, host: '127.0.0.1', port: 0 }), { log: jsonLogger(logs, 'debug') });
    await mkdir(otherPki);
    await createDevelopmentPki(otherPki);
    kmip = (...args) => kmipAt(projectRoot, ['--dir', dataDir, '--port', String(server.port), ...args]);
  });

  after(async function () {
    await server.close();
    await removeDir(parent);
  });

  it('a symmetric key through its life: create, get, locate, activate, encrypt and decrypt, revoke, destroy; then get fails with one line and exit code 1', async () => {
    const id = (await ok('create', '--algorithm', 'AES', '--length', '256', '--name', 'cli-lifecycle', '--usage', 'encrypt,decrypt')).trim();
    expect(id).to.match(/^\S+$/);

    const keyFile = path.join(parent, 'key.bin');
    // Independent reads run side by side to keep the test short.
    const [raw, transparent, written] = await Promise.all([ok('get', id), json<{ keyMaterial: string }>('get', id, '--format', 'transparent'), ok('get', id, '--out', keyFile)]);
    const keyHex = raw.trim();
    expect(keyHex).to.match(/^[0-9a-f]{64}$/);
    expect(transparent).to.include({ keyMaterial: keyHex });
    expect(written).not.to.include(keyHex);
    expect((await readFile(keyFile)).toString('hex')).to.equal(keyHex);
    expect((await stat(keyFile)).mode & 0o777).to.equal(0o600);
    // The server's log lines never show the key.
    expect(logs.lines.map((line) => JSON.stringify(line)).join('\n')).not.to.include(keyHex);

    expect(await ok('activate', id)).to.equal(`activated ${id}\n`);
    expect(lines(await ok('locate', '--name', 'cli-lifecycle', '--state', 'active'))).to.deep.equal([id]);
    expect(await ok('attributes', id)).to.match(/^State: Active$/m).and.match(/^Cryptographic Algorithm: AES$/m).and.match(/^Cryptographic Length: 256$/m);

    const plain = Buffer.from('the quick brown fox').toString('hex');
    const cbc = await json<{ data: string; iv: string }>('encrypt', id, '--hex', plain);
    expect(cbc.iv).to.match(/^[0-9a-f]{32}$/);
    expect(cbc.data).to.have.length(64); // 19 bytes padded by PKCS#5 to two blocks
    expect(await ok('decrypt', id, '--hex', cbc.data, '--iv', cbc.iv)).to.equal(`data: ${plain}\n`);

    const nonce = '000102030405060708090a0b';
    const gcm = await json<{ data: string; tag: string }>('encrypt', id, '--mode', 'GCM', '--hex', plain, '--iv', nonce, '--aad', 'abcd');
    expect(gcm.tag).to.match(/^[0-9a-f]{32}$/);
    expect(await json<{ data: string }>('decrypt', id, '--mode', 'GCM', '--hex', gcm.data, '--iv', nonce, '--aad', 'abcd', '--tag', gcm.tag)).to.deep.equal({ data: plain });

    expect(await ok('revoke', id, '--reason', 'cessation')).to.equal(`revoked ${id}\n`);
    expect(await ok('destroy', id)).to.equal(`destroyed ${id}\n`);
    const refused = await kmip('get', id);
    expect(refused.code).to.equal(1);
    expect(refused.stdout).to.equal('');
    expect(lines(refused.stderr)).to.have.length(1);
    expect(refused.stderr).to.match(/^kmip: Get failed: Object Destroyed: .+\n$/);
  });

  it('register secret from a file, then get gives the same bytes back', async () => {
    const secretFile = path.join(parent, 'secret.bin');
    await writeFile(secretFile, 'correct horse battery staple');
    const id = (await ok('register', 'secret', '--file', secretFile, '--name', 'cli-secret')).trim();
    expect(Buffer.from((await ok('get', id)).trim(), 'hex').toString()).to.equal('correct horse battery staple');
  });

  it('KMIP 1.4 requests (Template-Attribute, Attribute Name/Value): register key, get, attributes, locate, rekey', async () => {
    const key = '00112233445566778899aabbccddeeff';
    const id = (await ok('--kmip-version', '1.4', 'register', 'key', '--algorithm', 'aes', '--hex', key, '--name', 'cli-v14')).trim();
    const [got, attributes, located] = await Promise.all([
      ok('--kmip-version', '1.4', 'get', id, '--format', 'raw'),
      ok('--kmip-version', '1.4', 'attributes', id),
      ok('--kmip-version', '1.4', 'locate', '--name', 'cli-v14'),
    ]);
    expect(got.trim()).to.equal(key);
    expect(lines(located)).to.deep.equal([id]);
    expect(attributes).to.match(/^Cryptographic Algorithm: AES$/m).and.match(/^Cryptographic Length: 128$/m).and.match(/^Name: NameValue="cli-v14", NameType=UninterpretedTextString$/m);
    await ok('--kmip-version', '1.4', 'activate', id);
    const replacement = (await ok('--kmip-version', '1.4', 'rekey', id)).trim();
    expect(replacement).not.to.equal(id);
    // Re-key moves the Name to the new key.
    expect(lines(await ok('locate', '--name', 'cli-v14'))).to.deep.equal([replacement]);
  });

  it('query lists the operations, object types and server information; discover-versions lists 2.1 first', async () => {
    const [text, answer, versions] = await Promise.all([
      ok('query'),
      json<{ operations: string[]; objectTypes: string[]; serverInformation: Record<string, string> }>('query'),
      ok('discover-versions'),
    ]);
    expect(text).to.match(/^Operations:$/m).and.match(/^ {2}Create$/m).and.match(/^ {2}Encrypt$/m).and.match(/^ {2}Discover Versions$/m);
    expect(answer.operations).to.include.members(['Create', 'Get', 'Locate', 'Revoke', 'Destroy', 'Re-key']);
    expect(answer.objectTypes).to.include('Symmetric Key');
    expect(answer.serverInformation).to.have.property('Server Name');
    expect(lines(versions)[0]).to.equal('2.1');
  });

  it('with no flags, next to the kmipd-data folder, it uses the admin client; KMIP_PORT gives the port', async () => {
    const result = await kmipAt(parent, ['discover-versions'], { KMIP_PORT: String(server.port) });
    expect(result.code, result.stderr).to.equal(0);
    expect(lines(result.stdout)).to.include('1.4');
  });

  describe('errors are one line on stderr', () => {
    const oneLineError = (result: Run, code: number, pattern: RegExp): void => {
      expect(result.code, result.stderr).to.equal(code);
      expect(result.stdout).to.equal('');
      expect(lines(result.stderr)).to.have.length(1);
      expect(result.stderr).to.match(pattern);
    };

    it('a --cert from another CA: the server refuses it (exit code 1)', async () => {
      const other = developmentPkiPaths(otherPki);
      oneLineError(await kmip('--cert', other.admin, '--key', other.adminKey, 'query'), 1, /^kmip: .*closed the connection.*client certificate .*other-pki/);
    });

    it('a --cert that does not match the key, or is missing, is named (exit code 2)', async () => {
      const paths = developmentPkiPaths(path.join(dataDir, 'certs'));
      const [mismatched, missing] = await Promise.all([kmip('--cert', paths.ca, 'query'), kmip('--cert', path.join(parent, 'absent.pem'), 'query')]);
      oneLineError(mismatched, 2, /^kmip: the client certificate .*ca\.pem and key .*admin-key\.pem cannot be used together/);
      oneLineError(missing, 2, /^kmip: cannot read the client certificate .*absent\.pem: no such file/);
    });

    it('a --ca that is not the server CA says so (exit code 1)', async () => {
      oneLineError(await kmip('--ca', developmentPkiPaths(otherPki).ca, 'query'), 1, /^kmip: cannot connect to .*check --ca/);
    });

    it('bad usage exits with code 2: unknown command, bad hex, unknown algorithm', async () => {
      const [unknown, badHex, badAlgorithm] = await Promise.all([kmip('frobnicate'), kmip('encrypt', 'some-id', '--hex', 'abc'), kmip('create', '--algorithm', 'NOPE')]);
      oneLineError(unknown, 2, /Unknown argument: frobnicate/);
      oneLineError(badHex, 2, /--hex needs hex digits, two for each byte/);
      oneLineError(badAlgorithm, 2, /--algorithm "NOPE" is not a Cryptographic Algorithm of KMIP 2\.1/);
    });

    it('a Result Reason from the server: Item Not Found for an unknown identifier', async () => {
      oneLineError(await kmip('activate', 'no-such-object'), 1, /^kmip: Activate failed: Item Not Found: /);
    });
  });
});
