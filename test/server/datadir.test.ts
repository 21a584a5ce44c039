/** The data folder: what `kmipd init` creates, with which modes, and what it refuses. */
import { expect } from 'chai';
import { mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { loadKekFile } from '../../lib/crypto/index.js';
import { DataDirError, initDataDir, inspectDataDir, issueClient, prepareDataDir } from '../../server/datadir.js';
import { removeDir, tempDir } from './helpers.js';

const modeOf = async (path: string): Promise<string> => ((await stat(path)).mode & 0o777).toString(8).padStart(4, '0');

async function refusal(run: () => Promise<unknown>): Promise<string> {
  const error = await run().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).to.be.instanceOf(DataDirError);
  return (error as Error).message;
}

describe('server: the data folder', function () {
  let parent: string;
  beforeEach(async function () {
    parent = await tempDir('datadir');
  });
  afterEach(async function () {
    await removeDir(parent);
  });

  it('init creates kmipd.db, a 32-byte kek.key of mode 0600 and the PKI in certs/, in a folder of mode 0700', async function () {
    const dir = join(parent, 'data');
    const { paths, pki } = await initDataDir(dir, { hostnames: ['kmip.example'] });
    expect(await modeOf(dir)).to.equal('0700');
    expect((await readdir(dir)).sort()).to.deep.equal(['certs', 'kek.key', 'kmipd.db']);
    expect(await modeOf(paths.kek)).to.equal('0600');
    expect((await stat(paths.kek)).size).to.equal(32);
    expect(await modeOf(paths.database)).to.equal('0600');
    expect((await readFile(paths.database)).subarray(0, 16).toString('latin1')).to.equal('SQLite format 3\0');
    expect(await modeOf(paths.certsDir)).to.equal('0700');
    // issuing-ca*.pem: the CA of Certify (certs/issuer.ts), apart from the TLS CA.
    expect((await readdir(paths.certsDir)).sort()).to.deep.equal(['admin-key.pem', 'admin.pem', 'ca-key.pem', 'ca.pem', 'issuing-ca-key.pem', 'issuing-ca.pem', 'server-key.pem', 'server.pem']);
    for (const key of [pki.caKey, pki.serverKey, pki.adminKey, join(paths.certsDir, 'issuing-ca-key.pem')]) expect(await modeOf(key), key).to.equal('0600');
    const issuing = new X509Certificate(await readFile(join(paths.certsDir, 'issuing-ca.pem')));
    expect(issuing.ca).to.equal(true);
    expect(issuing.subject).to.not.equal(new X509Certificate(await readFile(pki.ca)).subject);
    const server = new X509Certificate(await readFile(pki.server));
    expect(server.subjectAltName).to.include('DNS:kmip.example');
    const kek = await loadKekFile(paths.kek);
    kek.wipe();
    expect(await inspectDataDir(dir)).to.deep.equal({ kind: 'initialised' });
  });

  it('init takes an existing empty folder and makes it mode 0700', async function () {
    const dir = join(parent, 'empty');
    await mkdir(dir, { mode: 0o755 });
    await initDataDir(dir);
    expect(await modeOf(dir)).to.equal('0700');
    expect(await inspectDataDir(dir)).to.deep.equal({ kind: 'initialised' });
  });

  it('init refuses an initialised folder and changes nothing', async function () {
    const dir = join(parent, 'data');
    const { paths } = await initDataDir(dir);
    const kekBefore = await readFile(paths.kek);
    const message = await refusal(() => initDataDir(dir));
    expect(message).to.match(/is already initialised .*refusing to overwrite it/);
    expect(await readFile(paths.kek)).to.deep.equal(kekBefore);
  });

  it('init refuses a folder holding part of a data folder, or other files', async function () {
    const partial = join(parent, 'partial');
    await mkdir(partial);
    await writeFile(join(partial, 'kek.key'), Buffer.alloc(32), { mode: 0o600 });
    expect(await refusal(() => initDataDir(partial))).to.match(/holds part of a kmipd data folder \(kek\.key; missing kmipd\.db, certs\)/);
    const home = join(parent, 'home');
    await mkdir(home);
    await writeFile(join(home, 'notes.txt'), 'mine');
    expect(await refusal(() => initDataDir(home))).to.match(/is not empty \(1 entries\) and is not a kmipd data folder/);
    expect(await readdir(home)).to.deep.equal(['notes.txt']);
  });

  it('serve initialises an absent or empty folder, uses an initialised one, and refuses any other', async function () {
    const dir = join(parent, 'data');
    expect((await prepareDataDir(dir)).initialised).to.equal(true);
    expect((await prepareDataDir(dir)).initialised).to.equal(false);
    const home = join(parent, 'home');
    await mkdir(home);
    await writeFile(join(home, 'notes.txt'), 'mine');
    expect(await refusal(() => prepareDataDir(home))).to.match(/not a kmipd data folder/);
  });

  it('certs client issues NAME.pem with subject CN NAME from the folder CA, once', async function () {
    const dir = join(parent, 'data');
    const { pki } = await initDataDir(dir);
    const files = await issueClient(dir, 'bob');
    const cert = new X509Certificate(await readFile(files.cert));
    expect(cert.subject).to.equal('CN=bob');
    expect(cert.checkIssued(new X509Certificate(await readFile(pki.ca)))).to.equal(true);
    expect(await modeOf(files.key)).to.equal('0600');
    expect(await refusal(() => issueClient(dir, 'bob'))).to.match(/already exists/);
    expect(await refusal(() => issueClient(dir, '../evil'))).to.match(/invalid client name/);
    expect(await refusal(() => issueClient(join(parent, 'nothing'), 'carol'))).to.match(/is not an initialised kmipd data folder/);
  });
});
