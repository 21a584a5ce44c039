/**
 * Interoperability: the real PyKMIP client (Debian python3-pykmip 0.10.0, through
 * pykmip_driver.py) against a real kmipd started in-process on a loopback port.
 *
 * - every wire version PyKMIP speaks (1.0-1.4, 2.0): the symmetric key lifecycle and the
 *   registration of each object type PyKMIP can register, with the values checked;
 * - the operation sequences real clients send (INTEROP.md): MongoDB, vSphere, pg_tde,
 *   Synology DSM, FortiOS;
 * - the cryptographic services (issue 5): create_key_pair (RSA) with sign / signature_verify,
 *   AES-CBC and AES-GCM encrypt / decrypt, mac (HMAC-SHA256), derive_key (PBKDF2, HMAC),
 *   each result checked against node:crypto with the key PyKMIP gets back;
 * - PyKMIP's empty-Credential mode (`username=`/`password=` left empty in its config);
 * - a second identity cannot see or use the first one's objects, an administrator can;
 * - a connection without a client certificate never gets a KMIP answer.
 *
 * One kmipd serves the whole file. Each driver run is one PyKMIP connection (~0.5 s), so
 * each test batches its steps into one or two runs.
 */
import { constants, createCipheriv, createDecipheriv, createHmac, createPublicKey, pbkdf2Sync, randomBytes, verify as verifySignature } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { connect } from 'node:tls';
import { expect } from 'chai';
import { jsonLogger } from '../../lib/log.js';
import { configWith, issueClient, startServer } from '../../server/index.js';
import type { RunningServer } from '../../server/index.js';
import { Tag, decodeTtlv } from '../../ttlv/index.js';
import type { TtlvItem } from '../../ttlv/index.js';
import { LogCapture, discoverVersions, eventually, pkiFiles, removeDir, tempDir } from '../server/helpers.js';
import {
  PYKMIP_VERSIONS,
  PykmipDriverError,
  runPykmipDetailed,
  valueOf,
  type PykmipFailure,
  type PykmipResult,
  type PykmipRun,
  type PykmipTls,
  type PykmipVersion,
  type RunPykmipOptions,
  type Step,
} from './pykmip.js';

// ---------------------------------------------------------------------------------------
// Attributes a version must not send: the version each one first appears in.

const INTRODUCED_IN: Readonly<Record<string, PykmipVersion>> = {
  'Certificate Length': '1.1',
  'X.509 Certificate Identifier': '1.1',
  'X.509 Certificate Subject': '1.1',
  'X.509 Certificate Issuer': '1.1',
  'Digital Signature Algorithm': '1.1',
  Fresh: '1.1',
  'Alternative Name': '1.2',
  'Key Value Present': '1.2',
  'Key Value Location': '1.2',
  'Original Creation Date': '1.2',
  'Random Number Generator': '1.3',
  'PKCS#12 Friendly Name': '1.4',
  Description: '1.4',
  Comment: '1.4',
  Sensitive: '1.4',
  'Always Sensitive': '1.4',
  Extractable: '1.4',
  'Never Extractable': '1.4',
  'Key Format Type': '2.0',
  'Opaque Data Type': '2.0',
  'Short Unique Identifier': '2.0',
  'Protection Level': '2.0',
  'Protection Period': '2.0',
  'Protection Storage Masks': '2.0',
  'Quantum Safe': '2.0',
};

const order = (v: PykmipVersion): number => PYKMIP_VERSIONS.indexOf(v);
const notDefinedIn = (version: PykmipVersion) => (name: string): boolean => {
  const since = INTRODUCED_IN[name];
  return since !== undefined && order(since) > order(version);
};

// ---------------------------------------------------------------------------------------
// Small helpers

function failure(result: PykmipResult | undefined): PykmipFailure {
  if (result === undefined) throw new Error('missing result');
  if (result.ok) throw new Error(`expected ${result.op} to fail, got ${JSON.stringify(result.value)}`);
  return result;
}

/** The reason kmipd gives for destroying an Active object: Wrong Key Lifecycle State exists from 2.0. */
const activeDestroyReason = (v: PykmipVersion): string => (order(v) >= order('2.0') ? 'WRONG_KEY_LIFECYCLE_STATE' : 'PERMISSION_DENIED');

/** "major.minor" of the Protocol Version in a request or response message (TTLV hex). */
function headerVersion(hex: string): string {
  const message = decodeTtlv(Buffer.from(hex, 'hex'));
  const find = (item: TtlvItem, tag: number): TtlvItem => {
    if (item.type !== 'Structure') throw new Error(`0x${item.tag.toString(16)} is not a structure`);
    const found = item.value.find((c) => c.tag === tag);
    if (found === undefined) throw new Error(`no 0x${tag.toString(16)} in 0x${item.tag.toString(16)}`);
    return found;
  };
  const header = message.type === 'Structure' ? message.value[0] : undefined;
  if (header === undefined) throw new Error('message without header');
  const pv = find(header, Tag.ProtocolVersion);
  return `${String(find(pv, Tag.ProtocolVersionMajor).value)}.${String(find(pv, Tag.ProtocolVersionMinor).value)}`;
}

/** A PEM certificate file as DER hex. */
async function derHex(pemFile: string): Promise<string> {
  const pem = await readFile(pemFile, 'utf8');
  return Buffer.from(pem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, ''), 'base64').toString('hex');
}

/** A TLS client without a certificate: did the handshake finish, and did any KMIP byte come back? */
async function connectWithoutCertificate(
  port: number,
  ca: string,
  tlsVersion: 'TLSv1.2' | 'TLSv1.3',
): Promise<{ handshake: boolean; received: number; error: string | undefined }> {
  const socket = connect({ host: '127.0.0.1', port, ca: await readFile(ca), minVersion: tlsVersion, maxVersion: tlsVersion });
  let handshake = false;
  let received = 0;
  let error: string | undefined;
  socket.on('secureConnect', () => {
    handshake = true;
    socket.write(discoverVersions());
  });
  socket.on('data', (chunk: Buffer) => (received += chunk.length));
  socket.on('error', (e: Error & { code?: string }) => (error = e.code ?? e.message));
  const timer = setTimeout(() => socket.destroy(new Error('no answer within 10 s')), 10_000);
  await new Promise<void>((resolve) => socket.once('close', () => resolve()));
  clearTimeout(timer);
  return { handshake, received, error };
}

// ---------------------------------------------------------------------------------------

type Row = PykmipVersion | 'TLS';
interface Tally {
  passed: number;
  failed: number;
  skipped: number;
  /** PyKMIP operations sent. */
  steps: number;
  /** ... that PyKMIP read a KMIP answer for (success or a failed Result Status). */
  answered: number;
}

/** PyKMIP read the server's answer: success, or a failed Result Status (not a decoding or socket error). */
const answered = (r: PykmipResult): boolean => r.ok || r.error === 'KmipOperationFailure' || r.error === 'OperationFailure';

describe('interop: the PyKMIP client against kmipd', function () {
  this.timeout(60_000);

  let dir: string;
  let server: RunningServer;
  let logs: LogCapture;
  let alice: PykmipTls;
  let bob: PykmipTls;
  let admin: PykmipTls;
  let unique = 0;
  const name = (label: string): string => `pykmip-${label}-${++unique}`;

  // Per-row tallies for the closing table.
  const tallies = new Map<Row, Tally>();
  const rowOfTest = new Map<string, Row>();
  const tally = (row: Row): Tally => {
    let t = tallies.get(row);
    if (t === undefined) {
      t = { passed: 0, failed: 0, skipped: 0, steps: 0, answered: 0 };
      tallies.set(row, t);
    }
    return t;
  };

  /** `it`, counted under `row` for the closing table. */
  function vit(row: Row, title: string, fn: (this: Mocha.Context) => Promise<void>): void {
    const test = it(title, fn);
    rowOfTest.set(test.fullTitle(), row);
  }

  /** One PyKMIP connection running `steps`; every step's outcome counts under `version`. */
  async function run(tls: PykmipTls, version: PykmipVersion, steps: Step[], options: RunPykmipOptions = {}): Promise<PykmipResult[]> {
    const t = tally(version);
    t.steps += steps.length;
    const result: PykmipRun = await runPykmipDetailed(server, tls, version, steps, { timeoutMs: 30_000, ...options });
    t.answered += result.results.filter(answered).length;
    expect(result.results, result.stderr).to.have.length(steps.length);
    return result.results;
  }

  before(async function () {
    dir = await tempDir('pykmip-interop');
    logs = new LogCapture();
    server = await startServer(configWith({ dir, host: '127.0.0.1', port: 0 }), { log: jsonLogger(logs, 'info') });
    await issueClient(dir, 'alice');
    await issueClient(dir, 'bob');
    alice = pkiFiles(dir, 'alice');
    bob = pkiFiles(dir, 'bob');
    admin = pkiFiles(dir, 'admin');
  });

  afterEach(function () {
    const test = this.currentTest;
    if (test === undefined) return;
    const row = rowOfTest.get(test.fullTitle());
    if (row === undefined) return;
    if (test.state === 'passed') tally(row).passed++;
    else if (test.state === 'failed') tally(row).failed++;
  });

  after(async function () {
    await server?.close();
    await removeDir(dir);
    const rows: Row[] = [...PYKMIP_VERSIONS, 'TLS'];
    const lines = [
      'PyKMIP 0.10.0 client vs kmipd:',
      '| wire version | tests passed | failed | skipped | PyKMIP operations answered |',
      '|---|---|---|---|---|',
      ...rows
        .filter((row) => tallies.has(row))
        .map((row) => {
          const t = tally(row);
          return `| ${row} | ${t.passed} | ${t.failed} | ${t.skipped} | ${row === 'TLS' ? '-' : `${t.answered}/${t.steps}`} |`;
        }),
    ];
    console.log(lines.join('\n'));
  });

  // -------------------------------------------------------------------------------------
  // The whole lifecycle at every wire version

  for (const version of PYKMIP_VERSIONS) {
    describe(`KMIP ${version}`, function () {
      vit(version, 'creates a 256-bit AES key and takes it through get, get_attributes, get_attribute_list, locate, activate, revoke, destroy; Get after destroy is Item Not Found', async function () {
        const keyName = name(`lifecycle-${version}`);
        const wanted = ['Unique Identifier', 'Object Type', 'Name', 'State', 'Cryptographic Algorithm', 'Cryptographic Length', 'Cryptographic Usage Mask'];
        const steps: Step[] = [
          { op: 'create', algorithm: 'AES', length: 256, name: keyName }, // 0
          { op: 'get', uid: '$0' }, // 1
          { op: 'get_attributes', uid: '$0', names: wanted }, // 2
          { op: 'get_attribute_list', uid: '$0' }, // 3
          { op: 'locate', name: keyName }, // 4
          { op: 'activate', uid: '$0' }, // 5
          { op: 'get_attributes', uid: '$0', names: ['State'] }, // 6
          { op: 'get', uid: '$0' }, // 7
          { op: 'destroy', uid: '$0' }, // 8: Active: refused
          { op: 'revoke', uid: '$0', reason: 'CESSATION_OF_OPERATION', message: 'interop test' }, // 9
          { op: 'get_attributes', uid: '$0', names: ['State'] }, // 10
          { op: 'destroy', uid: '$0' }, // 11
          { op: 'get', uid: '$0' }, // 12
          { op: 'get_attributes', uid: '$0', names: ['State'] }, // 13
          { op: 'locate', name: keyName }, // 14
        ];
        const results = await run(alice, version, steps, { trace: true });

        // The wire version really is `version`, both ways, on every message.
        for (const r of results) {
          for (const w of r.wire ?? []) {
            if (w.request !== undefined) expect(headerVersion(w.request), `${r.op} request`).to.equal(version);
            if (w.response !== undefined) expect(headerVersion(w.response), `${r.op} response`).to.equal(version);
          }
        }

        const uid = valueOf(results[0], 'create');
        expect(uid).to.be.a('string').and.not.equal('');

        const key = valueOf(results[1], 'get');
        expect(key).to.include({ object_type: 'SYMMETRIC_KEY', algorithm: 'AES', length: 256, key_format_type: 'RAW' });
        expect(Buffer.from(key.value_hex, 'hex')).to.have.length(32);

        expect(valueOf(results[2], 'get_attributes')).to.deep.equal({
          'Unique Identifier': uid,
          'Object Type': 'SYMMETRIC_KEY',
          Name: keyName,
          State: 'PRE_ACTIVE',
          'Cryptographic Algorithm': 'AES',
          'Cryptographic Length': '256',
          // PyKMIP adds ENCRYPT|DECRYPT to every Create.
          'Cryptographic Usage Mask': 'ENCRYPT|DECRYPT',
        });

        const list = valueOf(results[3], 'get_attribute_list');
        expect(list).to.include.members(wanted);
        expect(list.filter(notDefinedIn(version)), `attributes KMIP ${version} does not define`).to.deep.equal([]);
        expect(new Set(list).size, 'no name twice').to.equal(list.length);

        expect(valueOf(results[4], 'locate')).to.deep.equal([uid]);
        expect(valueOf(results[5], 'activate')).to.equal(null);
        expect(valueOf(results[6], 'get_attributes')).to.deep.equal({ State: 'ACTIVE' });
        expect(valueOf(results[7], 'get').value_hex, 'the same key bytes once Active').to.equal(key.value_hex);

        expect(failure(results[8])).to.include({ error: 'KmipOperationFailure', status: 'OPERATION_FAILED', reason: activeDestroyReason(version) });

        expect(valueOf(results[9], 'revoke')).to.equal(null);
        expect(valueOf(results[10], 'get_attributes')).to.deep.equal({ State: 'DEACTIVATED' });
        expect(valueOf(results[11], 'destroy')).to.equal(null);
        expect(failure(results[12])).to.include({ op: 'get', error: 'KmipOperationFailure', status: 'OPERATION_FAILED', reason: 'ITEM_NOT_FOUND' });
        expect(valueOf(results[13], 'get_attributes')).to.deep.equal({ State: 'DESTROYED' });
        expect(valueOf(results[14], 'locate'), 'a destroyed key is not located').to.deep.equal([]);
      });

      vit(version, "registers a symmetric key, secret data, an opaque object and a certificate (with PyKMIP's empty Credential); Get returns the registered bytes", async function () {
        const keyBytes = randomBytes(32).toString('hex');
        const secretBytes = randomBytes(96).toString('hex');
        const opaqueBytes = randomBytes(40).toString('hex');
        const certificate = await derHex(alice.cert);
        const names = { key: name(`sym-${version}`), secret: name(`secret-${version}`), opaque: name(`opaque-${version}`), cert: name(`cert-${version}`) };
        const basics = ['Object Type', 'Name', 'State'];
        const results = await run(
          alice,
          version,
          [
            { op: 'register', kind: 'symmetric', value_hex: keyBytes, name: names.key }, // 0
            { op: 'register', kind: 'secret', value_hex: secretBytes, secret_type: 'PASSWORD', name: names.secret }, // 1
            { op: 'register', kind: 'opaque', value_hex: opaqueBytes, name: names.opaque }, // 2
            { op: 'register', kind: 'certificate', value_hex: certificate, name: names.cert }, // 3
            { op: 'get', uid: '$0' }, // 4
            { op: 'get', uid: '$1' }, // 5
            { op: 'get', uid: '$2' }, // 6
            { op: 'get', uid: '$3' }, // 7
            { op: 'get_attributes', uid: '$0', names: [...basics, 'Cryptographic Algorithm', 'Cryptographic Length'] }, // 8
            { op: 'get_attributes', uid: '$1', names: basics }, // 9
            { op: 'get_attributes', uid: '$2', names: basics }, // 10
            { op: 'get_attributes', uid: '$3', names: basics }, // 11
            { op: 'locate', name: names.key }, // 12
            { op: 'locate', name: names.secret, object_type: 'SECRET_DATA' }, // 13
            { op: 'locate', name: names.opaque }, // 14
            { op: 'locate', name: names.cert, object_type: 'CERTIFICATE' }, // 15
            { op: 'locate', name: names.secret, object_type: 'SYMMETRIC_KEY' }, // 16: no such pair
            { op: 'get_attribute_list', uid: '$1' }, // 17
            { op: 'get_attribute_list', uid: '$3' }, // 18
            // Pre-Active objects may be destroyed at once.
            { op: 'destroy', uid: '$0' }, // 19
            { op: 'destroy', uid: '$1' }, // 20
            { op: 'destroy', uid: '$2' }, // 21
            { op: 'destroy', uid: '$3' }, // 22
            { op: 'get', uid: '$0' }, // 23
            { op: 'get', uid: '$1' }, // 24
            { op: 'get', uid: '$2' }, // 25
            { op: 'get', uid: '$3' }, // 26
          ],
          { credential: ':' },
        );
        const uids = [0, 1, 2, 3].map((i) => valueOf(results[i], 'register'));
        expect(new Set(uids).size).to.equal(4);

        expect(valueOf(results[4], 'get')).to.deep.equal({ object_type: 'SYMMETRIC_KEY', value_hex: keyBytes, algorithm: 'AES', length: 256, key_format_type: 'RAW' });
        expect(valueOf(results[5], 'get')).to.deep.equal({ object_type: 'SECRET_DATA', value_hex: secretBytes, secret_type: 'PASSWORD' });
        expect(valueOf(results[6], 'get')).to.deep.equal({ object_type: 'OPAQUE_DATA', value_hex: opaqueBytes, opaque_type: 'NONE' });
        expect(valueOf(results[7], 'get')).to.deep.equal({ object_type: 'CERTIFICATE', value_hex: certificate, certificate_type: 'X_509' });

        expect(valueOf(results[8], 'get_attributes')).to.deep.equal({
          'Object Type': 'SYMMETRIC_KEY',
          Name: names.key,
          State: 'PRE_ACTIVE',
          'Cryptographic Algorithm': 'AES',
          'Cryptographic Length': '256',
        });
        expect(valueOf(results[9], 'get_attributes')).to.deep.equal({ 'Object Type': 'SECRET_DATA', Name: names.secret, State: 'PRE_ACTIVE' });
        expect(valueOf(results[10], 'get_attributes')).to.deep.equal({ 'Object Type': 'OPAQUE_DATA', Name: names.opaque, State: 'PRE_ACTIVE' });
        expect(valueOf(results[11], 'get_attributes')).to.deep.equal({ 'Object Type': 'CERTIFICATE', Name: names.cert, State: 'PRE_ACTIVE' });

        for (const [i, j] of [[12, 0], [13, 1], [14, 2], [15, 3]] as const) {
          expect(valueOf(results[i], 'locate'), `locate step ${i}`).to.deep.equal([uids[j]]);
        }
        expect(valueOf(results[16], 'locate')).to.deep.equal([]);

        for (const i of [17, 18]) {
          const list = valueOf(results[i], 'get_attribute_list');
          expect(list).to.include.members(['Unique Identifier', 'Object Type', 'Name', 'State']);
          expect(list.filter(notDefinedIn(version)), `attributes KMIP ${version} does not define`).to.deep.equal([]);
        }

        for (const i of [19, 20, 21, 22]) expect(valueOf(results[i], 'destroy')).to.equal(null);
        for (const i of [23, 24, 25, 26]) expect(failure(results[i])).to.include({ reason: 'ITEM_NOT_FOUND' });
      });

      if (version === '1.0' || version === '1.1') {
        // At 1.2+ PyKMIP cannot decode a full Get Attributes answer (Original Creation Date,
        // and at 2.0 Key Format Type, are beyond it), so only these versions ask for everything.
        vit(version, 'Get Attributes without names returns what Get Attribute List lists, only attributes of this version', async function () {
          const results = await run(alice, version, [
            { op: 'create', name: name(`all-${version}`) },
            { op: 'get_attributes', uid: '$0' },
            { op: 'get_attribute_list', uid: '$0' },
            { op: 'register', kind: 'secret', value_hex: randomBytes(96).toString('hex'), name: name(`all-secret-${version}`) },
            { op: 'get_attributes', uid: '$3' },
            { op: 'get_attribute_list', uid: '$3' },
          ]);
          for (const [all, list] of [[1, 2], [4, 5]] as const) {
            const attrs = valueOf(results[all], 'get_attributes');
            const names = valueOf(results[list], 'get_attribute_list');
            expect(Object.keys(attrs).sort()).to.deep.equal([...names].sort());
            expect(Object.keys(attrs).filter(notDefinedIn(version))).to.deep.equal([]);
          }
          const key = valueOf(results[1], 'get_attributes');
          expect(key).to.include({ 'Unique Identifier': valueOf(results[0], 'create'), 'Object Type': 'SYMMETRIC_KEY', State: 'PRE_ACTIVE', 'Cryptographic Algorithm': 'AES' });
          if (version === '1.1') expect(key).to.have.property('Fresh');
          expect(valueOf(results[4], 'get_attributes')).to.include({ 'Object Type': 'SECRET_DATA', State: 'PRE_ACTIVE' });
        });
      }
    });
  }

  // -------------------------------------------------------------------------------------
  // What real clients send (INTEROP.md)

  describe('client flows', function () {
    for (const version of ['1.0', '1.2'] as const) {
      vit(version, `MongoDB (KMIP ${version}): Register 96-byte Secret Data, Activate, Get, poll Get Attributes (State)`, async function () {
        const secret = randomBytes(96).toString('hex');
        const results = await run(alice, version, [
          { op: 'register', kind: 'secret', value_hex: secret, names: [] }, // 0
          { op: 'activate', uid: '$0' }, // 1
          { op: 'get', uid: '$0' }, // 2
          { op: 'get_attributes', uid: '$0', names: ['State'] }, // 3
          { op: 'get_attributes', uid: '$0', names: ['State'] }, // 4: polled again on the next use
        ]);
        valueOf(results[0], 'register');
        expect(valueOf(results[1], 'activate')).to.equal(null);
        expect(valueOf(results[2], 'get')).to.deep.equal({ object_type: 'SECRET_DATA', value_hex: secret, secret_type: 'PASSWORD' });
        expect(valueOf(results[3], 'get_attributes')).to.deep.equal({ State: 'ACTIVE' });
        expect(valueOf(results[4], 'get_attributes')).to.deep.equal({ State: 'ACTIVE' });
      });
    }

    vit('1.2', 'MongoDB delegated mode (KMIP 1.2): Create, Activate, Encrypt and Decrypt with AES-CBC, PKCS5 padding and a server-made IV', async function () {
      const plain = randomBytes(45).toString('hex'); // not a multiple of the block size
      const cbc = { algorithm: 'AES', mode: 'CBC', padding: 'PKCS5' } as const;
      const results = await run(alice, '1.2', [
        { op: 'create', algorithm: 'AES', length: 256 }, // 0
        { op: 'encrypt', uid: '$0', data_hex: plain, random_iv: true, ...cbc }, // 1: Pre-Active: refused
        { op: 'activate', uid: '$0' }, // 2
        { op: 'get_attributes', uid: '$0', names: ['State'] }, // 3
        { op: 'encrypt', uid: '$0', data_hex: plain, random_iv: true, ...cbc }, // 4
        { op: 'decrypt', uid: '$0', data_hex: '$4.data_hex', iv_hex: '$4.iv_hex', ...cbc }, // 5
        { op: 'get', uid: '$0' }, // 6
      ]);
      valueOf(results[0], 'create');
      expect(failure(results[1])).to.include({ error: 'KmipOperationFailure', status: 'OPERATION_FAILED' });
      expect(valueOf(results[3], 'get_attributes')).to.deep.equal({ State: 'ACTIVE' });
      const sealed = valueOf(results[4], 'encrypt');
      expect(sealed.iv_hex).to.be.a('string').with.length(32);
      expect(sealed.data_hex).to.have.length(96); // 45 bytes + PKCS5 padding = 48
      expect(valueOf(results[5], 'decrypt').data_hex).to.equal(plain);
      // The ciphertext is standard AES-256-CBC under the key Get returns.
      const key = Buffer.from(valueOf(results[6], 'get').value_hex, 'hex');
      const decipher = createDecipheriv('aes-256-cbc', key, Buffer.from(sealed.iv_hex ?? '', 'hex'));
      const opened = Buffer.concat([decipher.update(Buffer.from(sealed.data_hex, 'hex')), decipher.final()]);
      expect(opened.toString('hex')).to.equal(plain);
    });

    vit('1.1', 'vSphere (KMIP 1.1): Create, Get Attributes (State), Activate, Get, Locate, Revoke, Destroy', async function () {
      const keyName = name('vsphere');
      const results = await run(alice, '1.1', [
        { op: 'create', algorithm: 'AES', length: 256, name: keyName }, // 0
        { op: 'get_attributes', uid: '$0', names: ['State'] }, // 1
        { op: 'activate', uid: '$0' }, // 2
        { op: 'get', uid: '$0' }, // 3
        { op: 'locate', name: keyName }, // 4
        { op: 'get_attributes', uid: '$0', names: ['State'] }, // 5
        { op: 'revoke', uid: '$0', reason: 'CESSATION_OF_OPERATION' }, // 6
        { op: 'destroy', uid: '$0' }, // 7
        { op: 'get', uid: '$0' }, // 8
        { op: 'locate', name: keyName }, // 9
      ]);
      const uid = valueOf(results[0], 'create');
      expect(valueOf(results[1], 'get_attributes')).to.deep.equal({ State: 'PRE_ACTIVE' });
      expect(valueOf(results[2], 'activate')).to.equal(null);
      expect(Buffer.from(valueOf(results[3], 'get').value_hex, 'hex')).to.have.length(32);
      expect(valueOf(results[4], 'locate')).to.deep.equal([uid]);
      expect(valueOf(results[5], 'get_attributes')).to.deep.equal({ State: 'ACTIVE' });
      expect(valueOf(results[6], 'revoke')).to.equal(null);
      expect(valueOf(results[7], 'destroy')).to.equal(null);
      expect(failure(results[8])).to.include({ reason: 'ITEM_NOT_FOUND' });
      expect(valueOf(results[9], 'locate')).to.deep.equal([]);
    });

    for (const version of ['1.0', '1.1', '1.2', '1.3', '1.4'] as const) {
      vit(version, `pg_tde (KMIP ${version}): Register a named key, Locate it, Get it without ever activating it`, async function () {
        const keyName = name(`pg_tde-${version}`);
        const key = randomBytes(16).toString('hex');
        const results = await run(alice, version, [
          { op: 'register', kind: 'symmetric', value_hex: key, name: keyName }, // 0
          { op: 'locate', name: keyName }, // 1
          { op: 'get', uid: '$1.0' }, // 2: a Pre-Active key is served
          { op: 'get_attributes', uid: '$0', names: ['State'] }, // 3
        ]);
        const uid = valueOf(results[0], 'register');
        expect(valueOf(results[1], 'locate')).to.deep.equal([uid]);
        expect(valueOf(results[2], 'get')).to.deep.equal({ object_type: 'SYMMETRIC_KEY', value_hex: key, algorithm: 'AES', length: 128, key_format_type: 'RAW' });
        expect(valueOf(results[3], 'get_attributes')).to.deep.equal({ State: 'PRE_ACTIVE' });
      });
    }

    vit('1.2', 'Synology DSM (KMIP 1.2): DiscoverVersions, Query, Locate, Register Secret Data, Activate, ModifyAttribute, GetAttributes, Get, Revoke, Destroy', async function () {
      const secretName = name('synology');
      const renamed = `${secretName}-renamed`;
      const secret = randomBytes(32).toString('hex');
      const results = await run(alice, '1.2', [
        { op: 'discover_versions', versions: ['1.2'] }, // 0
        { op: 'query' }, // 1
        { op: 'locate', name: secretName, object_type: 'SECRET_DATA' }, // 2: nothing yet
        { op: 'register', kind: 'secret', value_hex: secret, secret_type: 'PASSWORD', name: secretName }, // 3
        { op: 'activate', uid: '$3' }, // 4
        { op: 'modify_attribute', uid: '$3', name: 'Name', value: renamed }, // 5
        { op: 'get_attributes', uid: '$3', names: ['Name', 'State', 'Object Type'] }, // 6
        { op: 'get', uid: '$3' }, // 7
        { op: 'locate', name: renamed, object_type: 'SECRET_DATA' }, // 8
        { op: 'locate', name: secretName, object_type: 'SECRET_DATA' }, // 9: the old name is gone
        { op: 'revoke', uid: '$3', reason: 'CESSATION_OF_OPERATION' }, // 10
        { op: 'destroy', uid: '$3' }, // 11
        { op: 'get', uid: '$3' }, // 12
      ]);
      expect(valueOf(results[0], 'discover_versions')).to.deep.equal(['1.2']);
      const query = valueOf(results[1], 'query');
      expect(query.operations).to.include.members([
        'DISCOVER_VERSIONS', 'QUERY', 'LOCATE', 'REGISTER', 'ACTIVATE', 'MODIFY_ATTRIBUTE', 'GET_ATTRIBUTES', 'GET', 'REVOKE', 'DESTROY',
      ]);
      expect(query.object_types).to.include('SECRET_DATA');
      expect(query.vendor_identification).to.be.a('string').and.not.equal('');
      expect(valueOf(results[2], 'locate')).to.deep.equal([]);
      const uid = valueOf(results[3], 'register');
      expect(valueOf(results[4], 'activate')).to.equal(null);
      expect(valueOf(results[5], 'modify_attribute')).to.deep.equal({ uid, attribute: { Name: renamed } });
      expect(valueOf(results[6], 'get_attributes')).to.deep.equal({ Name: renamed, State: 'ACTIVE', 'Object Type': 'SECRET_DATA' });
      expect(valueOf(results[7], 'get')).to.deep.equal({ object_type: 'SECRET_DATA', value_hex: secret, secret_type: 'PASSWORD' });
      expect(valueOf(results[8], 'locate')).to.deep.equal([uid]);
      expect(valueOf(results[9], 'locate')).to.deep.equal([]);
      expect(valueOf(results[10], 'revoke')).to.equal(null);
      expect(valueOf(results[11], 'destroy')).to.equal(null);
      expect(failure(results[12])).to.include({ reason: 'ITEM_NOT_FOUND' });
    });

    for (const version of ['1.0', '1.1', '1.2', '1.3', '1.4'] as const) {
      vit(version, `FortiOS (KMIP ${version}): Create, Locate, Get, Activate, Destroy`, async function () {
        const keyName = name(`fortios-${version}`);
        const spareName = name(`fortios-spare-${version}`);
        const results = await run(alice, version, [
          { op: 'create', algorithm: 'AES', length: 256, name: keyName }, // 0
          { op: 'locate', name: keyName }, // 1
          { op: 'get', uid: '$0' }, // 2
          { op: 'activate', uid: '$0' }, // 3
          { op: 'get', uid: '$0' }, // 4
          { op: 'create', algorithm: 'AES', length: 256, name: spareName }, // 5: never activated
          { op: 'destroy', uid: '$5' }, // 6
          { op: 'get', uid: '$5' }, // 7
          { op: 'destroy', uid: '$0' }, // 8: Active: refused
          { op: 'get', uid: '$0' }, // 9: and still served
        ]);
        const uid = valueOf(results[0], 'create');
        expect(valueOf(results[1], 'locate')).to.deep.equal([uid]);
        const key = valueOf(results[2], 'get');
        expect(Buffer.from(key.value_hex, 'hex')).to.have.length(32);
        expect(valueOf(results[3], 'activate')).to.equal(null);
        expect(valueOf(results[4], 'get').value_hex).to.equal(key.value_hex);
        valueOf(results[5], 'create');
        expect(valueOf(results[6], 'destroy')).to.equal(null);
        expect(failure(results[7])).to.include({ reason: 'ITEM_NOT_FOUND' });
        expect(failure(results[8])).to.include({ reason: activeDestroyReason(version) });
        expect(valueOf(results[9], 'get').value_hex).to.equal(key.value_hex);
      });
    }
  });

  // -------------------------------------------------------------------------------------
  // Identities

  describe('cryptographic services', function () {
    /** The bytes of a `get` result. */
    const material = (result: PykmipResult | undefined): Buffer => Buffer.from(valueOf(result, 'get').value_hex, 'hex');

    for (const version of ['1.4', '2.0'] as const) {
      vit(version, `create_key_pair RSA 2048, then sign (PKCS#1 v1.5 and PSS, SHA-256) and signature_verify; the public key PyKMIP gets verifies the signature in node (KMIP ${version})`, async function () {
        const message = Buffer.from(`signed through PyKMIP at KMIP ${version}`).toString('hex');
        const altered = Buffer.from(`signed through PyKMIP at KMIP ${version}!`).toString('hex');
        const pkcs1 = { dsa: 'SHA256_WITH_RSA_ENCRYPTION' } as const;
        const pss = { padding: 'PSS', hash: 'SHA_256', algorithm: 'RSA' } as const;
        const results = await run(alice, version, [
          { op: 'create_key_pair', algorithm: 'RSA', length: 2048, private_usage: ['SIGN'], public_usage: ['VERIFY'] }, // 0
          { op: 'activate', uid: '$0.private_uid' }, // 1
          { op: 'activate', uid: '$0.public_uid' }, // 2
          { op: 'sign', uid: '$0.private_uid', data_hex: message, ...pkcs1 }, // 3
          { op: 'signature_verify', uid: '$0.public_uid', data_hex: message, signature_hex: '$3.signature_hex', ...pkcs1 }, // 4
          { op: 'signature_verify', uid: '$0.public_uid', data_hex: altered, signature_hex: '$3.signature_hex', ...pkcs1 }, // 5
          { op: 'sign', uid: '$0.private_uid', data_hex: message, ...pss }, // 6
          { op: 'signature_verify', uid: '$0.public_uid', data_hex: message, signature_hex: '$6.signature_hex', ...pss }, // 7
          { op: 'get', uid: '$0.public_uid' }, // 8
          { op: 'sign', uid: '$0.public_uid', data_hex: message, ...pkcs1 }, // 9: a public key does not sign
        ]);
        const signature = Buffer.from(valueOf(results[3], 'sign').signature_hex, 'hex');
        expect(signature).to.have.length(256);
        expect(valueOf(results[4], 'signature_verify')).to.equal('VALID');
        expect(valueOf(results[5], 'signature_verify')).to.equal('INVALID');
        expect(valueOf(results[7], 'signature_verify')).to.equal('VALID');
        const publicKey = valueOf(results[8], 'get');
        expect(publicKey).to.include({ object_type: 'PUBLIC_KEY', algorithm: 'RSA', length: 2048 });
        const key = createPublicKey({ key: material(results[8]), format: 'der', type: publicKey.key_format_type === 'X_509' ? 'spki' : 'pkcs1' });
        expect(verifySignature('sha256', Buffer.from(message, 'hex'), key, signature), 'node verifies the PKCS#1 v1.5 signature').to.equal(true);
        const pssSignature = Buffer.from(valueOf(results[6], 'sign').signature_hex, 'hex');
        expect(verifySignature('sha256', Buffer.from(message, 'hex'), { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, pssSignature), 'node verifies the PSS signature').to.equal(true);
        expect(failure(results[9])).to.include({ status: 'OPERATION_FAILED' });
      });
    }

    vit('1.4', 'encrypt / decrypt with AES-256-CBC and PKCS#5 padding under a given IV: the ciphertext is what node computes with the key PyKMIP gets', async function () {
      const plaintext = randomBytes(45);
      const iv = randomBytes(16);
      const cbc = { algorithm: 'AES', mode: 'CBC', padding: 'PKCS5' } as const;
      const results = await run(alice, '1.4', [
        { op: 'create', algorithm: 'AES', length: 256 }, // 0
        { op: 'activate', uid: '$0' }, // 1
        { op: 'encrypt', uid: '$0', data_hex: plaintext.toString('hex'), iv_hex: iv.toString('hex'), ...cbc }, // 2
        { op: 'decrypt', uid: '$0', data_hex: '$2.data_hex', iv_hex: iv.toString('hex'), ...cbc }, // 3
        { op: 'get', uid: '$0' }, // 4
      ]);
      const cipher = createCipheriv('aes-256-cbc', material(results[4]), iv);
      const expected = Buffer.concat([cipher.update(plaintext), cipher.final()]);
      expect(valueOf(results[2], 'encrypt').data_hex).to.equal(expected.toString('hex'));
      expect(valueOf(results[3], 'decrypt').data_hex).to.equal(plaintext.toString('hex'));
    });

    for (const version of ['1.4', '2.0'] as const) {
      vit(version, `AES-256-GCM (KMIP ${version}): PyKMIP's encrypt() drops the tag kmipd sends, so its decrypt() cannot succeed; PyKMIP's Encrypt/Decrypt payloads carry AAD and tag and round-trip, checked against node`, async function () {
        const plaintext = randomBytes(40);
        const iv = randomBytes(12);
        const aad = Buffer.from('volume 7, sector 1024');
        const gcm = { algorithm: 'AES', mode: 'GCM', tag_length: 16 } as const;
        const results = await run(
          alice,
          version,
          [
            { op: 'create', algorithm: 'AES', length: 256 }, // 0
            { op: 'activate', uid: '$0' }, // 1
            { op: 'encrypt', uid: '$0', data_hex: plaintext.toString('hex'), iv_hex: iv.toString('hex'), ...gcm }, // 2: ProxyKmipClient
            { op: 'decrypt', uid: '$0', data_hex: '$2.data_hex', iv_hex: iv.toString('hex'), ...gcm }, // 3: no tag to send
            { op: 'encrypt_aead', uid: '$0', data_hex: plaintext.toString('hex'), iv_hex: iv.toString('hex'), aad_hex: aad.toString('hex'), ...gcm }, // 4
            { op: 'decrypt_aead', uid: '$0', data_hex: '$4.data_hex', iv_hex: iv.toString('hex'), tag_hex: '$4.tag_hex', aad_hex: aad.toString('hex'), ...gcm }, // 5
            { op: 'decrypt_aead', uid: '$0', data_hex: '$4.data_hex', iv_hex: iv.toString('hex'), tag_hex: '$4.tag_hex', aad_hex: '00', ...gcm }, // 6: other AAD
            { op: 'get', uid: '$0' }, // 7
          ],
          { trace: true },
        );
        const key = material(results[7]);
        const seal = (additional: Buffer | undefined): { data: Buffer; tag: Buffer } => {
          const cipher = createCipheriv('aes-256-gcm', key, iv);
          if (additional !== undefined) cipher.setAAD(additional);
          const data = Buffer.concat([cipher.update(plaintext), cipher.final()]);
          return { data, tag: cipher.getAuthTag() };
        };
        // The high-level call: ciphertext right, tag sent by kmipd (in the traced response) but not returned.
        const plain = seal(undefined);
        expect(valueOf(results[2], 'encrypt').data_hex).to.equal(plain.data.toString('hex'));
        const response = results[2]?.wire?.find((w) => w.response !== undefined)?.response ?? '';
        expect(response, 'kmipd answers the Authenticated Encryption Tag').to.include(`4200ff0800000010${plain.tag.toString('hex')}`);
        expect(failure(results[3])).to.include({ status: 'OPERATION_FAILED' });
        // PyKMIP's payload classes: AAD in, tag out, and back.
        const sealed = seal(aad);
        expect(valueOf(results[4], 'encrypt_aead')).to.deep.equal({ data_hex: sealed.data.toString('hex'), iv_hex: null, tag_hex: sealed.tag.toString('hex') });
        expect(valueOf(results[5], 'decrypt_aead').data_hex).to.equal(plaintext.toString('hex'));
        expect(failure(results[6])).to.include({ status: 'OPERATION_FAILED', reason: 'CRYPTOGRAPHIC_FAILURE' });
      });
    }

    vit('1.4', 'mac with HMAC-SHA256: the MAC is what node computes with the key PyKMIP gets', async function () {
      const data = randomBytes(100);
      const results = await run(alice, '1.4', [
        { op: 'create', algorithm: 'HMAC_SHA256', length: 256, usage: ['MAC_GENERATE'] }, // 0
        { op: 'activate', uid: '$0' }, // 1
        { op: 'mac', uid: '$0', data_hex: data.toString('hex'), algorithm: 'HMAC_SHA256' }, // 2
        { op: 'get', uid: '$0' }, // 3
      ]);
      const mac = valueOf(results[2], 'mac');
      expect(mac.uid).to.equal(valueOf(results[0], 'create'));
      expect(mac.mac_hex).to.equal(createHmac('sha256', material(results[3])).update(data).digest('hex'));
    });

    vit('1.4', 'register and get an X.509 certificate: the same DER bytes come back, with the certificate attributes PyKMIP reads', async function () {
      const certificate = await derHex(bob.cert);
      const results = await run(alice, '1.4', [
        { op: 'register', kind: 'certificate', value_hex: certificate, name: name('x509') }, // 0
        { op: 'get', uid: '$0' }, // 1
        { op: 'get_attributes', uid: '$0', names: ['Object Type', 'Certificate Type', 'Certificate Length', 'Cryptographic Algorithm', 'Cryptographic Length'] }, // 2
      ]);
      expect(valueOf(results[1], 'get')).to.deep.equal({ object_type: 'CERTIFICATE', value_hex: certificate, certificate_type: 'X_509' });
      expect(valueOf(results[2], 'get_attributes')).to.deep.equal({
        'Object Type': 'CERTIFICATE',
        'Certificate Type': 'X_509',
        'Certificate Length': String(certificate.length / 2),
        'Cryptographic Algorithm': 'RSA',
        'Cryptographic Length': '2048',
      });
    });

    vit('1.4', 'derive_key: PBKDF2 (SHA-256) from a registered password, and HMAC (SHA-256) from a key; node derives the same bytes', async function () {
      const password = Buffer.from('correct horse battery staple');
      const salt = randomBytes(16);
      const base = randomBytes(32);
      const info = Buffer.from('derivation data for the interop test');
      const results = await run(alice, '1.4', [
        { op: 'register', kind: 'secret', value_hex: password.toString('hex'), secret_type: 'PASSWORD', usage: ['DERIVE_KEY'] }, // 0
        { op: 'activate', uid: '$0' }, // 1
        { op: 'derive_key', uids: ['$0'], method: 'PBKDF2', hash: 'SHA_256', salt_hex: salt.toString('hex'), iteration_count: 4096, derived_algorithm: 'AES', derived_length: 256 }, // 2
        { op: 'get', uid: '$2' }, // 3
        { op: 'register', kind: 'symmetric', algorithm: 'HMAC_SHA256', value_hex: base.toString('hex'), usage: ['DERIVE_KEY'] }, // 4
        { op: 'activate', uid: '$4' }, // 5
        { op: 'derive_key', uids: ['$4'], method: 'HMAC', hash: 'SHA_256', derivation_data_hex: info.toString('hex'), derived_algorithm: 'AES', derived_length: 256 }, // 6
        { op: 'get', uid: '$6' }, // 7
      ]);
      expect(valueOf(results[3], 'get')).to.include({ object_type: 'SYMMETRIC_KEY', algorithm: 'AES', length: 256 });
      expect(material(results[3]).toString('hex')).to.equal(pbkdf2Sync(password, salt, 4096, 32, 'sha256').toString('hex'));
      expect(material(results[7]).toString('hex')).to.equal(createHmac('sha256', base).update(info).digest('hex'));
    });
  });

  describe('identities', function () {
    vit('1.2', "a second identity (bob) can neither see nor use alice's objects; the administrator can", async function () {
      const shared = name('shared-name');
      const secret = randomBytes(96).toString('hex');
      const mine = await run(alice, '1.2', [
        { op: 'create', name: shared }, // 0
        { op: 'register', kind: 'secret', value_hex: secret, name: name('alice-secret') }, // 1
        { op: 'get', uid: '$0' }, // 2
      ]);
      const key = valueOf(mine[0], 'create');
      const secretUid = valueOf(mine[1], 'register');
      const keyBytes = valueOf(mine[2], 'get').value_hex;

      const theirs = await run(bob, '1.2', [
        { op: 'locate', name: shared }, // 0
        { op: 'locate' }, // 1: everything bob may see
        { op: 'get', uid: key }, // 2
        { op: 'get', uid: secretUid }, // 3
        { op: 'get_attributes', uid: key, names: ['State'] }, // 4
        { op: 'get_attribute_list', uid: key }, // 5
        { op: 'activate', uid: key }, // 6
        { op: 'modify_attribute', uid: key, name: 'Name', value: 'taken-by-bob' }, // 7
        { op: 'revoke', uid: key, reason: 'KEY_COMPROMISE' }, // 8
        { op: 'destroy', uid: secretUid }, // 9
        { op: 'create', name: shared }, // 10: bob's own key, same name
        { op: 'locate', name: shared }, // 11
      ]);
      expect(valueOf(theirs[0], 'locate')).to.deep.equal([]);
      const visible = valueOf(theirs[1], 'locate');
      expect(visible).to.not.include(key);
      expect(visible).to.not.include(secretUid);
      for (let i = 2; i <= 9; i++) {
        expect(failure(theirs[i]), `bob's step ${i} (${theirs[i]?.op ?? '?'})`).to.include({ status: 'OPERATION_FAILED', reason: 'PERMISSION_DENIED' });
      }
      const bobsKey = valueOf(theirs[10], 'create');
      expect(valueOf(theirs[11], 'locate')).to.deep.equal([bobsKey]);

      const again = await run(alice, '1.2', [
        { op: 'locate', name: shared }, // 0
        { op: 'get_attributes', uid: key, names: ['State', 'Name'] }, // 1: bob changed nothing
        { op: 'get', uid: secretUid }, // 2
        { op: 'get', uid: bobsKey }, // 3
      ]);
      expect(valueOf(again[0], 'locate')).to.deep.equal([key]);
      expect(valueOf(again[1], 'get_attributes')).to.deep.equal({ State: 'PRE_ACTIVE', Name: shared });
      expect(valueOf(again[2], 'get').value_hex).to.equal(secret);
      expect(failure(again[3])).to.include({ reason: 'PERMISSION_DENIED' });

      const root = await run(admin, '1.2', [
        { op: 'locate', name: shared }, // 0
        { op: 'get', uid: key }, // 1
        { op: 'get', uid: secretUid }, // 2
      ]);
      expect(valueOf(root[0], 'locate')).to.have.members([key, bobsKey]);
      expect(valueOf(root[1], 'get').value_hex).to.equal(keyBytes);
      expect(valueOf(root[2], 'get').value_hex).to.equal(secret);
    });
  });

  // -------------------------------------------------------------------------------------
  // TLS

  describe('TLS', function () {
    vit('TLS', 'refuses PyKMIP without a client certificate: no KMIP answer, and the refusal is logged', async function () {
      const refusedBefore = logs.find('connection refused').length;
      let results: PykmipResult[] = [];
      let driverError: PykmipDriverError | undefined;
      try {
        const detailed = await runPykmipDetailed(server, alice, '1.2', [{ op: 'discover_versions' }, { op: 'create' }], {
          withoutClientCertificate: true,
          timeoutMs: 30_000,
          socketTimeoutS: 10,
        });
        results = detailed.results;
      } catch (error) {
        if (!(error instanceof PykmipDriverError)) throw error;
        driverError = error; // the handshake itself failed (TLS 1.2 style)
      }
      if (driverError === undefined) {
        // TLS 1.3: the client thinks the handshake is done; the server's alert ends the connection.
        expect(results.map((r) => r.ok)).to.deep.equal([false, false]);
        expect(failure(results[0]).error).to.be.oneOf(['EOFError', 'ConnectionResetError', 'SSLError', 'SSLEOFError', 'SSLZeroReturnError', 'BrokenPipeError']);
        expect(failure(results[1]).error).to.equal('ConnectionLost');
      } else {
        expect(driverError.message).to.match(/ConnectionFailure/);
      }
      await eventually(() => logs.find('connection refused').length > refusedBefore, 5000, 'the refusal log line');
      expect(logs.find('connection refused').slice(refusedBefore).map((l) => l.reason)).to.include('no client certificate');
    });

    for (const tlsVersion of ['TLSv1.2', 'TLSv1.3'] as const) {
      vit('TLS', `refuses a node:tls client without a certificate over ${tlsVersion}: not one byte of KMIP comes back`, async function () {
        const result = await connectWithoutCertificate(server.port, alice.ca, tlsVersion);
        expect(result.received, JSON.stringify(result)).to.equal(0);
        // TLS 1.2 fails the handshake itself; TLS 1.3 finishes it on the client's side, then the server hangs up.
        if (tlsVersion === 'TLSv1.2') expect(result.handshake, JSON.stringify(result)).to.equal(false);
      });
    }
  });
});
