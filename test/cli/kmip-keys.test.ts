/**
 * `kmip` on keys in use, each command a real process against one real kmipd over TLS:
 * wrapped export (checked by unwrapping with node:crypto), AES-GCM with its tag, Re-key with
 * an offset, revocation for compromise, a folder of keys, profile files, and the error
 * lines and exit codes a person acts on.
 */
import { createDecipheriv, generateKeyPairSync } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { expect } from 'chai';
import { createDevelopmentPki, developmentPkiPaths } from '../../certs/index.js';
import { kmipIn, lines, startCliServer } from './helpers.js';
import type { CliServer, Run } from './helpers.js';

/** Exit code, nothing on stdout, one line on stderr matching `pattern`. */
function oneLineError(result: Run, code: number, pattern: RegExp): void {
  expect(result.code, result.stderr).to.equal(code);
  expect(result.stdout).to.equal('');
  expect(lines(result.stderr)).to.have.length(1);
  expect(result.stderr).to.match(pattern);
}

const ids = (outputs: readonly string[]): string[] => outputs.map((output) => output.trim());

describe('kmip: wrapped export, AES-GCM, re-key offset, compromise, key folders, profiles, errors', function () {
  this.timeout(120_000);
  let cli: CliServer;
  const kmip = (...args: string[]): Promise<Run> => cli.kmip(...args);
  const ok = (...args: string[]): Promise<string> => cli.ok(...args);
  const json = <T>(...args: string[]): Promise<T> => cli.json<T>(...args);

  before(async function () {
    cli = await startCliServer('kmip-keys');
  });

  after(async function () {
    await cli.close();
  });

  it('get --wrap-key: under a Wrap Key key by its first Cryptographic Parameters (NIST key wrap) or the one --wrapping-method picks (RFC 5649); node:crypto unwraps both to the key', async () => {
    const [kek, target] = ids(await Promise.all([ok('create', '--usage', 'wrap-key,unwrap-key'), ok('create', '--length', '128')]));
    await Promise.all([ok('activate', kek as string), ok('attributes', 'add', kek as string, 'cryptographic-parameters', '{"blockCipherMode":"NISTKeyWrap"}')]);
    await ok('attributes', 'add', kek as string, 'Cryptographic Parameters', '{"blockCipherMode":"AESKeyWrapPadding"}');
    const [keyHex, kekHex, wrapped, padded, noUsage] = await Promise.all([
      ok('get', target as string),
      ok('get', kek as string),
      json<{ keyMaterial: string; wrappedBy: string }>('get', target as string, '--wrap-key', kek as string),
      json<{ keyMaterial: string }>('get', target as string, '--wrap-key', kek as string, '--wrapping-method', 'aes-key-wrap-padding'),
      kmip('get', kek as string, '--wrap-key', target as string),
    ]);
    const unwrap = (algorithm: 'id-aes256-wrap' | 'id-aes256-wrap-pad', data: string): string => {
      // The initial values of RFC 3394 and RFC 5649.
      const iv = Buffer.from(algorithm === 'id-aes256-wrap' ? 'a6a6a6a6a6a6a6a6' : 'a65959a6', 'hex');
      const decipher = createDecipheriv(algorithm, Buffer.from(kekHex.trim(), 'hex'), iv);
      return Buffer.concat([decipher.update(Buffer.from(data, 'hex')), decipher.final()]).toString('hex');
    };
    expect(wrapped.wrappedBy).to.equal(kek);
    expect(wrapped.keyMaterial).to.have.length(48); // 16 bytes and the 8-byte integrity block
    expect(wrapped.keyMaterial).not.to.equal(padded.keyMaterial);
    expect(unwrap('id-aes256-wrap', wrapped.keyMaterial)).to.equal(keyHex.trim());
    expect(unwrap('id-aes256-wrap-pad', padded.keyMaterial)).to.equal(keyHex.trim());
    // The target key has no Wrap Key usage (and is not Active): the server refuses to wrap with it.
    oneLineError(noUsage, 1, /^kmip: Get failed: [\w ]+: .+\n$/);
  });

  it('AES-GCM: node:crypto opens what encrypt returns (data, IV, tag); decrypt --tag gives the plaintext back; a changed tag is refused (exit code 1)', async () => {
    const id = (await ok('create', '--usage', 'encrypt,decrypt')).trim();
    await ok('activate', id);
    const plain = Buffer.from('attack at dawn').toString('hex');
    const [keyHex, sealed] = await Promise.all([ok('get', id), json<{ data: string; iv: string; tag: string }>('encrypt', id, '--mode', 'GCM', '--hex', plain, '--aad', 'c0ffee')]);
    expect(sealed.iv).to.match(/^[0-9a-f]{24}$/);
    expect(sealed.tag).to.match(/^[0-9a-f]{32}$/);
    const decipher = createDecipheriv('aes-256-gcm', Buffer.from(keyHex.trim(), 'hex'), Buffer.from(sealed.iv, 'hex'));
    decipher.setAAD(Buffer.from('c0ffee', 'hex'));
    decipher.setAuthTag(Buffer.from(sealed.tag, 'hex'));
    expect(Buffer.concat([decipher.update(Buffer.from(sealed.data, 'hex')), decipher.final()]).toString('hex')).to.equal(plain);
    const badTag = `${sealed.tag.slice(0, -2)}${sealed.tag.endsWith('00') ? '01' : '00'}`;
    const [opened, refused] = await Promise.all([
      ok('decrypt', id, '--mode', 'GCM', '--hex', sealed.data, '--iv', sealed.iv, '--aad', 'c0ffee', '--tag', sealed.tag),
      kmip('decrypt', id, '--mode', 'GCM', '--hex', sealed.data, '--iv', sealed.iv, '--aad', 'c0ffee', '--tag', badTag),
    ]);
    expect(opened).to.equal(`data: ${plain}\n`);
    oneLineError(refused, 1, /^kmip: Decrypt failed: [\w ]+: .+\n$/);
  });

  it('rekey --offset: the new key becomes active OFFSET seconds after its Initial Date; the old key links to it', async () => {
    const id = (await ok('create')).trim();
    await ok('activate', id);
    const replacement = (await ok('rekey', id, '--offset', '3600')).trim();
    expect(replacement).to.match(/^\S+$/).and.not.equal(id);
    const [fresh, old] = await Promise.all([
      json<{ attributes: { state: string; initialDate: string; activationDate: string } }>('attributes', replacement, 'state', 'initial-date', 'activation-date'),
      json<{ attributes: { link: { linkType: string; linkedObjectIdentifier: string }[] } }>('attributes', id, 'link'),
    ]);
    expect(fresh.attributes.state).to.equal('PreActive');
    expect(Date.parse(fresh.attributes.activationDate) - Date.parse(fresh.attributes.initialDate)).to.equal(3_600_000);
    expect(Math.abs(Date.parse(fresh.attributes.initialDate) - Date.now())).to.be.below(120_000);
    expect(old.attributes.link).to.deep.include({ linkType: 'ReplacementObjectLink', linkedObjectIdentifier: replacement });
  });

  it('revoke --reason compromise: the key is Compromised with its Revocation Reason and Compromise dates; Encrypt is then refused with the reason (exit code 1)', async () => {
    const id = (await ok('create', '--usage', 'encrypt,decrypt')).trim();
    await ok('activate', id);
    expect(await ok('revoke', id, '--reason', 'compromise', '--message', 'laptop lost')).to.equal(`revoked ${id}\n`);
    type Revoked = { attributes: { state: string; revocationReason: Record<string, string>; compromiseDate?: string; compromiseOccurrenceDate?: string } };
    const [{ attributes }, refused] = await Promise.all([
      json<Revoked>('attributes', id, 'state', 'revocation-reason', 'compromise-date', 'compromise-occurrence-date'),
      kmip('encrypt', id, '--hex', '00'),
    ]);
    expect(attributes.state).to.equal('Compromised');
    expect(attributes.revocationReason).to.include({ revocationReasonCode: 'KeyCompromise' });
    expect(attributes.compromiseDate).to.be.a('string');
    expect(attributes.compromiseOccurrenceDate).to.be.a('string');
    oneLineError(refused, 1, /^kmip: Encrypt failed: Wrong Key Lifecycle State: .*Compromised.*\n$/);
  });

  it('register folder: three keys (PEM private, DER public, raw AES), each named after its file, a table and exit code 0; get gives each back', async () => {
    const folder = path.join(cli.parent, 'three-keys');
    await mkdir(folder);
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-384' });
    await writeFile(path.join(folder, 'trio-ec.pem'), privateKey.export({ format: 'pem', type: 'pkcs8' }));
    await writeFile(path.join(folder, 'trio-pub.der'), publicKey.export({ format: 'der', type: 'spki' }));
    await writeFile(path.join(folder, 'trio-aes.key'), Buffer.alloc(32, 0x5a));
    const registered = await kmip('register', 'folder', folder, '--algorithm', 'AES');
    expect(registered.code, registered.stderr).to.equal(0);
    expect(registered.stderr).to.equal('');
    const rows = lines(registered.stdout);
    expect(rows[0]).to.match(/^FILE\s+TYPE\s+UNIQUE IDENTIFIER\s+RESULT$/);
    expect(rows.at(-1)).to.equal('3 of 3 files registered');
    const idOf = (file: string, type: string): string => {
      const row = rows.find((line) => line.startsWith(`${file} `));
      const match = row === undefined ? null : new RegExp(`^${file.replace('.', '\\.')}\\s+${type}\\s+(\\S+)\\s+registered$`).exec(row);
      expect(match, `${file} in\n${registered.stdout}`).not.to.equal(null);
      return match?.[1] ?? '';
    };
    const [aes, ec, pub] = [idOf('trio-aes.key', 'SymmetricKey'), idOf('trio-ec.pem', 'PrivateKey'), idOf('trio-pub.der', 'PublicKey')];
    const [aesHex, ecHex, pubHex, named] = await Promise.all([ok('get', aes), ok('get', ec, '--format', 'pkcs8'), ok('get', pub), ok('locate', '--name', 'trio-ec')]);
    expect(aesHex.trim()).to.equal('5a'.repeat(32));
    expect(ecHex.trim()).to.equal(privateKey.export({ format: 'der', type: 'pkcs8' }).toString('hex'));
    expect(pubHex.trim()).to.equal(publicKey.export({ format: 'der', type: 'spki' }).toString('hex'));
    expect(lines(named)).to.deep.equal([ec]);
  });

  it('--profile FILE: its settings are used (kmipVersion too); a flag beats the file; an unknown setting or bad JSON is a usage error (exit code 2)', async () => {
    const settings = JSON.parse(await readFile(cli.profile, 'utf8')) as Record<string, unknown>;
    const folder = path.dirname(cli.profile);
    const write = async (name: string, content: string): Promise<string> => {
      await writeFile(path.join(folder, name), content);
      return path.join(folder, name);
    };
    const [v14, wrongPort, unknownKey, notJson] = await Promise.all([
      write('v14.json', JSON.stringify({ ...settings, kmipVersion: '1.4' })),
      write('wrong-port.json', JSON.stringify({ ...settings, port: 1 })),
      write('unknown.json', JSON.stringify({ ...settings, hostname: 'elsewhere' })),
      write('broken.json', '{"host": '),
    ]);
    const [old, flagWins, unknown, broken] = await Promise.all([
      kmipIn(cli.parent, ['--profile', v14, '--json', 'discover'], cli.env),
      kmipIn(cli.parent, ['--profile', wrongPort, '--port', String(cli.server.port), 'discover'], cli.env),
      kmipIn(cli.parent, ['--profile', unknownKey, 'query'], cli.env),
      kmipIn(cli.parent, ['query'], { ...cli.env, KMIP_PROFILE: notJson }),
    ]);
    expect(old.code, old.stderr).to.equal(0);
    expect(JSON.parse(old.stdout)).to.deep.include({ negotiated: '1.4' });
    expect(flagWins.code, flagWins.stderr).to.equal(0);
    expect(lines(flagWins.stdout)[0]).to.equal('2.1');
    oneLineError(unknown, 2, /^kmip: the profile .*unknown\.json has unknown settings hostname: it may hold host, port, /);
    oneLineError(broken, 2, /^kmip: the profile .*broken\.json is not JSON: /);
  });

  it('errors are one line a person can act on: refused port, unknown host, a CA that is not the server\'s (exit code 1); bad usage (exit code 2)', async () => {
    const otherPki = path.join(cli.parent, 'other-pki');
    await mkdir(otherPki);
    await createDevelopmentPki(otherPki);
    const [refused, unknownHost, wrongCa, missing, badPort, badMode] = await Promise.all([
      kmip('--port', '1', 'query'),
      kmip('--host', 'no-such-host.invalid', 'query'),
      kmip('--ca', developmentPkiPaths(otherPki).ca, 'query'),
      kmip('attributes', 'add', 'some-id'),
      kmip('--port', '70000', 'query'),
      kmip('encrypt', 'some-id', '--hex', '00', '--mode', 'NOPE'),
    ]);
    oneLineError(refused, 1, /^kmip: cannot connect to 127\.0\.0\.1:1: .*ECONNREFUSED.*\(is kmipd running there\? check --host and --port\)\n$/);
    oneLineError(unknownHost, 1, /^kmip: cannot connect to no-such-host\.invalid:\d+: .*\(unknown host no-such-host\.invalid: check --host\)\n$/);
    oneLineError(wrongCa, 1, /^kmip: cannot connect to 127\.0\.0\.1:\d+: .*\(the server certificate does not lead to the CA .*other-pki.*ca\.pem: check --ca\)\n$/);
    oneLineError(missing, 2, /^kmip: Not enough non-option arguments: got 1, need at least 3 \(see kmip --help\)\n$/);
    oneLineError(badPort, 2, /^kmip: --port 70000 is not a port number from 1 to 65535/);
    oneLineError(badMode, 2, /^kmip: --mode "NOPE" is not a Block Cipher Mode/);
  });
});
