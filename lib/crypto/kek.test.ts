import { expect } from 'chai';
import { createDecipheriv } from 'node:crypto';
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { FileKek, KekError, KeyMaterial, aesKeyUnwrapPad, aesKeyWrapPad, createKekFile, loadKekFile } from './index.js';

const hex = (text: string): Buffer => Buffer.from(text.replace(/\s+/g, ''), 'hex');

async function rejection(promise: Promise<unknown>): Promise<KekError> {
  try {
    await promise;
  } catch (error) {
    expect(error).to.be.instanceOf(KekError);
    return error as KekError;
  }
  expect.fail('expected a KekError');
}

function thrown(fn: () => unknown): KekError {
  try {
    fn();
  } catch (error) {
    expect(error).to.be.instanceOf(KekError);
    return error as KekError;
  }
  expect.fail('expected a KekError');
}

describe('RFC 5649 AES key wrap with padding', () => {
  // RFC 5649 section 6: both vectors use this 192-bit KEK.
  const kek = hex('5840df6e29b02af1 ab493b705bf16ea1 ae8338f4dcc176a8');
  const vectors = [
    { name: '20 octets', plain: 'c37b7e6492584340 bed1220780894115 5068f738', wrapped: '138bdeaa9b8fa7fc 61f97742e72248ee 5ae6ae5360d1ae6a 5f54f373fa543b6a' },
    { name: '7 octets', plain: '466f7250617369', wrapped: 'afbeb0f07dfbf541 9200f2ccb50bb24f' },
  ];

  for (const v of vectors) {
    it(`section 6 vector, ${v.name}: wrap gives the RFC's bytes and unwrap gives the plaintext back`, () => {
      expect(aesKeyWrapPad(kek, hex(v.plain)).toString('hex')).to.equal(hex(v.wrapped).toString('hex'));
      expect(aesKeyUnwrapPad(kek, hex(v.wrapped)).toString('hex')).to.equal(hex(v.plain).toString('hex'));
    });
  }

  it('section 6 vector decrypts with the node:crypto primitive id-aes192-wrap-pad and IV A65959A6', () => {
    const decipher = createDecipheriv('id-aes192-wrap-pad', kek, hex('a65959a6'));
    const plain = Buffer.concat([decipher.update(hex('afbeb0f07dfbf541 9200f2ccb50bb24f')), decipher.final()]);
    expect(plain.toString('hex')).to.equal('466f7250617369');
  });

  it('round trips every length from 1 to 70 bytes and 100 kB under a 256-bit KEK', () => {
    const key = KeyMaterial.random(32).bytes;
    const lengths = [...Array.from({ length: 70 }, (_, i) => i + 1), 100_000];
    for (const n of lengths) {
      const plain = Buffer.alloc(n, n & 0xff);
      const wrapped = aesKeyWrapPad(key, plain);
      expect(wrapped.length).to.equal(Math.ceil(n / 8) * 8 + 8);
      expect(aesKeyUnwrapPad(key, wrapped).equals(plain)).to.equal(true);
    }
  });

  it('section 4.2: a flipped bit in any byte of the wrapped value fails the integrity check', () => {
    const wrapped = hex('138bdeaa9b8fa7fc 61f97742e72248ee 5ae6ae5360d1ae6a 5f54f373fa543b6a');
    for (let i = 0; i < wrapped.length; i++) {
      const tampered = Buffer.from(wrapped);
      tampered.writeUInt8(tampered.readUInt8(i) ^ 0x01, i);
      const error = thrown(() => aesKeyUnwrapPad(kek, tampered));
      expect(error.code).to.equal('KEK_UNWRAP_FAILED');
      expect(error.message).to.match(/integrity check: wrong KEK, or the wrapped bytes were changed/);
    }
  });

  it('refuses to wrap an empty value and to unwrap a value of impossible length', () => {
    expect(thrown(() => aesKeyWrapPad(kek, Buffer.alloc(0))).code).to.equal('KEK_WRAP_INPUT');
    expect(thrown(() => aesKeyUnwrapPad(kek, Buffer.alloc(8))).code).to.equal('KEK_WRAP_INPUT');
    expect(thrown(() => aesKeyUnwrapPad(kek, Buffer.alloc(20))).code).to.equal('KEK_WRAP_INPUT');
  });
});

describe('FileKek', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kmipd-kek-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('wraps and unwraps; another KEK cannot unwrap (clear error naming the KEK)', async () => {
    const kek = new FileKek(KeyMaterial.random(32));
    const other = new FileKek(KeyMaterial.random(32));
    const plain = Buffer.from('a secret of 27 bytes length');
    const wrapped = await kek.wrap(plain);
    expect(wrapped.includes(plain)).to.equal(false);
    expect((await kek.unwrap(wrapped)).equals(plain)).to.equal(true);
    const error = await rejection(other.unwrap(wrapped));
    expect(error.code).to.equal('KEK_UNWRAP_FAILED');
    expect(error.message).to.include(other.id);
  });

  it('a flipped byte fails unwrap', async () => {
    const kek = new FileKek(KeyMaterial.random(32));
    const wrapped = await kek.wrap(Buffer.alloc(32, 7));
    wrapped.writeUInt8(wrapped.readUInt8(17) ^ 0x80, 17);
    expect((await rejection(kek.unwrap(wrapped))).code).to.equal('KEK_UNWRAP_FAILED');
  });

  it('id is a 16-hex-digit fingerprint: stable for a key, different for another, not the key', () => {
    const bytes = Buffer.alloc(32, 0x41);
    const a = new FileKek(KeyMaterial.copyOf(bytes));
    const b = new FileKek(KeyMaterial.copyOf(bytes));
    const c = new FileKek(KeyMaterial.random(32));
    expect(a.id).to.match(/^[0-9a-f]{16}$/);
    expect(a.id).to.equal(b.id);
    expect(a.id).to.not.equal(c.id);
    expect(bytes.toString('hex')).to.not.include(a.id);
  });

  it('refuses a key that is not 32 bytes', () => {
    expect(thrown(() => new FileKek(KeyMaterial.random(24))).code).to.equal('KEK_FILE_INVALID');
  });

  it('never prints its key', () => {
    const key = Buffer.alloc(32, 0x5a);
    const kek = new FileKek(KeyMaterial.copyOf(key));
    const shown = [JSON.stringify({ kek }), String(kek), `${kek}`, inspect(kek, { showHidden: true, depth: 10 })];
    for (const text of shown) {
      expect(text).to.include(kek.id);
      expect(text).to.not.include(key.toString('hex'));
      expect(text).to.not.include('ZZZZ');
    }
  });

  it('createKekFile writes 32 bytes with mode 0600 even under umask 000, and loadKekFile reads it back', async () => {
    const path = join(dir, 'kek');
    const old = process.umask(0);
    let created: FileKek;
    try {
      created = await createKekFile(path);
    } finally {
      process.umask(old);
    }
    const info = await stat(path);
    expect(info.mode & 0o777).to.equal(0o600);
    expect(info.size).to.equal(32);
    const loaded = await loadKekFile(path);
    expect(loaded.id).to.equal(created.id);
    const wrapped = await created.wrap(Buffer.from('round trip through the file'));
    expect((await loaded.unwrap(wrapped)).toString()).to.equal('round trip through the file');
  });

  it('createKekFile refuses to overwrite an existing file and leaves it untouched', async () => {
    const path = join(dir, 'kek');
    await createKekFile(path);
    const before = await readFile(path);
    const error = await rejection(createKekFile(path));
    expect(error.code).to.equal('KEK_FILE_EXISTS');
    expect(error.message).to.match(/refusing to overwrite/);
    expect((await readFile(path)).equals(before)).to.equal(true);
  });

  for (const mode of [0o640, 0o604, 0o644, 0o660, 0o602]) {
    it(`loadKekFile refuses mode ${mode.toString(8)} and tells the operator to chmod 600`, async () => {
      const path = join(dir, 'kek');
      await createKekFile(path);
      await chmod(path, mode);
      const error = await rejection(loadKekFile(path));
      expect(error.code).to.equal('KEK_FILE_MODE');
      expect(error.message).to.include(`chmod 600 ${path}`);
    });
  }

  it('loadKekFile accepts mode 0400', async () => {
    const path = join(dir, 'kek');
    await createKekFile(path);
    await chmod(path, 0o400);
    expect((await loadKekFile(path)).id).to.match(/^[0-9a-f]{16}$/);
  });

  it('loadKekFile refuses a file that is not 32 bytes, and a directory', async () => {
    const path = join(dir, 'kek');
    await writeFile(path, Buffer.alloc(31), { mode: 0o600 });
    const error = await rejection(loadKekFile(path));
    expect(error.code).to.equal('KEK_FILE_INVALID');
    expect(error.message).to.include('31 bytes');
    await chmod(dir, 0o700);
    expect((await rejection(loadKekFile(dir))).code).to.equal('KEK_FILE_INVALID');
  });
});

describe('KeyMaterial never shows its bytes', () => {
  const secret = Buffer.from('00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff', 'hex');
  const patterns = [secret.toString('hex'), secret.toString('base64'), '0, 17, 34', '00 11 22'];

  function expectRedacted(text: string): void {
    expect(text).to.include('KeyMaterial<32 bytes');
    for (const p of patterns) expect(text).to.not.include(p);
  }

  it('in JSON.stringify, String(), template strings, concatenation and util.inspect', () => {
    const key = KeyMaterial.copyOf(secret);
    expectRedacted(JSON.stringify(key));
    expectRedacted(JSON.stringify({ nested: { key } }));
    expectRedacted(String(key));
    expectRedacted(`${key}`);
    expectRedacted('key: ' + key);
    expectRedacted(inspect(key));
    expectRedacted(inspect({ deep: [key] }, { showHidden: true, depth: 10 }));
    expect(Object.keys(key)).to.deep.equal([]);
  });

  it('.bytes gives the bytes; wipe() zeroes them and later use throws', () => {
    const owned = Buffer.from(secret);
    const key = new KeyMaterial(owned);
    expect(key.bytes.equals(secret)).to.equal(true);
    expect(key.length).to.equal(32);
    key.wipe();
    expect(owned.equals(Buffer.alloc(32))).to.equal(true);
    expect(key.wiped).to.equal(true);
    expect(() => key.bytes).to.throw(/after wipe/);
    expect(String(key)).to.equal('KeyMaterial<32 bytes, wiped>');
  });

  it('copyOf copies: changing the source does not change the material', () => {
    const source = Buffer.from(secret);
    const key = KeyMaterial.copyOf(source);
    source.fill(1);
    expect(key.bytes.equals(secret)).to.equal(true);
  });
});
