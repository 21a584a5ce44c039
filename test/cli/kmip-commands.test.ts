/**
 * The `kmip` commands beyond the key lifecycle (kmip-command.test.ts): profiles, key pairs,
 * registering files and folders, PEM output, locate filters, attribute changes, bulk
 * commands, signatures and MACs; each run as a real process against one real kmipd over TLS.
 */
import { X509Certificate, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { expect } from 'chai';
import { kmipIn, lines, startCliServer } from './helpers.js';
import type { CliServer, Run } from './helpers.js';

describe('kmip: profiles, key pairs, files, filters, bulk, signature, MAC and attribute commands', function () {
  this.timeout(120_000);
  let cli: CliServer;
  let parent: string;
  let dataDir: string;
  const kmip = (...args: string[]): Promise<Run> => cli.kmip(...args);
  const ok = (...args: string[]): Promise<string> => cli.ok(...args);
  const json = <T>(...args: string[]): Promise<T> => cli.json<T>(...args);

  before(async function () {
    cli = await startCliServer('kmip-commands');
    ({ parent, dataDir } = cli);
  });

  after(async function () {
    await cli.close();
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

  it('attributes add, modify, delete: "contact-information" is the standard Contact Information (added, then modified as "Contact Information"); a custom attribute gains, changes and loses instances; KMIP 1.4 by index', async () => {
    const [standard, custom, v14] = (await Promise.all([ok('create'), ok('create'), ok('create')])).map((id) => id.trim()) as [string, string, string];
    const contactInformation = async (): Promise<void> => {
      expect(await ok('attributes', 'add', standard, 'contact-information', 'ops team')).to.equal(`added contact-information to ${standard}\n`);
      // Once read as vendor "contact"'s custom attribute "information": this Modify then found no Contact Information.
      expect(await ok('attributes', 'modify', standard, 'Contact Information', 'security team')).to.equal(`modified Contact Information of ${standard}\n`);
      expect(await json<{ attributes: Record<string, unknown> }>('attributes', 'get', standard, 'contactInformation')).to.deep.include({ attributes: { contactInformation: 'security team' } });
      await ok('attributes', 'delete', standard, 'contact-information');
      const refused = await kmip('attributes', 'modify', standard, 'Contact Information', 'x');
      expect(refused.code).to.equal(1);
      expect(refused.stderr).to.match(/^kmip: Modify Attribute failed: Attribute Not Found: .+\n$/);
    };
    const department = async (): Promise<void> => {
      await ok('attributes', 'add', custom, 'x-Department', 'sales');
      await ok('attributes', 'add', custom, 'x-Department', 'payroll');
      await ok('attributes', 'modify', custom, 'x-Department', 'finance', '--current', 'payroll');
      await ok('attributes', 'delete', custom, 'x-Department', '--current', 'sales');
      const all = await ok('attributes', custom);
      expect(lines(all).filter((line) => line.startsWith('x-Department'))).to.deep.equal(['x-Department: finance']);
    };
    // KMIP 1.4: Attribute Name and Attribute Index; Object Group by its hyphenated name.
    const version14 = async (): Promise<void> => {
      await ok('--kmip-version', '1.4', 'attributes', 'add', v14, 'object-group', 'g14');
      await ok('--kmip-version', '1.4', 'attributes', 'modify', v14, 'object-group', 'g14b', '--index', '0');
      expect(lines(await ok('--kmip-version', '1.4', 'attributes', v14, 'Object Group'))).to.deep.equal(['Object Group: g14b']);
      await ok('--kmip-version', '1.4', 'attributes', 'delete', v14, 'object-group');
      expect(await ok('attributes', v14, 'object-group')).to.equal('');
    };
    const notCustom = async (): Promise<void> => {
      const result = await kmip('--kmip-version', '1.4', 'attributes', 'add', v14, 'foo-bar', 'v');
      expect(result.code).to.equal(2);
      expect(result.stderr).to.match(/^kmip: "foo-bar" is not an attribute name of KMIP 1\.4: .* or a custom "x-Name"\n$/);
    };
    await Promise.all([contactInformation(), department(), version14(), notCustom()]);
  });
});
