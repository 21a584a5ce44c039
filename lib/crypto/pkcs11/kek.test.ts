import Database from 'better-sqlite3';
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSoftHsmToken, runTokenTool } from '../../../test/support/softhsm.js';
import type { SoftHsmToken } from '../../../test/support/softhsm.js';
import { indexKeys } from '../../attributes/index.js';
import type { ManagedObject } from '../../objects/types.js';
import { openSqliteStore } from '../../store/index.js';
import { Enum, Tag, itemsEqual, leaf, structure } from '../../../ttlv/index.js';
import { FileKek, KekError, KeyMaterial, aesKeyUnwrapPad, aesKeyWrapPad } from '../kek.js';
import { Pkcs11KekError } from './errors.js';
import type { Pkcs11FailureReason } from './errors.js';
import { openPkcs11Kek } from './kek.js';
import type { Pkcs11Kek, Pkcs11KekOptions } from './kek.js';

async function rejection(promise: Promise<unknown>): Promise<KekError> {
  try {
    await promise;
  } catch (error) {
    expect(error).to.be.instanceOf(KekError);
    return error as KekError;
  }
  expect.fail('expected a rejection');
}

async function pkcs11Failure(promise: Promise<unknown>, reason: Pkcs11FailureReason): Promise<Pkcs11KekError> {
  const error = await rejection(promise);
  expect(error).to.be.instanceOf(Pkcs11KekError);
  expect((error as Pkcs11KekError).reason, error.message).to.equal(reason);
  return error as Pkcs11KekError;
}

/**
 * Test only: an AES-256 key generated in the token with CKA_EXTRACTABLE true and
 * CKA_SENSITIVE false, and its value read back, so a software RFC 5649 wrap can be compared
 * with the HSM's. A production KEK is never made like this.
 */
async function createExtractableTestKey(token: SoftHsmToken, label: string): Promise<Buffer> {
  const report = await runTokenTool(token, { op: 'generate-extractable-aes', label });
  if (!report.value.ok) throw new Error(`the test key's value could not be read: ${report.value.error}`);
  return Buffer.from(report.value.hex, 'hex');
}

function symmetricKey(id: string, material: Buffer): ManagedObject {
  return {
    id,
    objectType: Enum.ObjectType.SymmetricKey,
    owner: 'alice',
    revision: 1,
    attributes: [
      { name: 'Name', value: structure(Tag.Name, [leaf(Tag.NameValue, 'TextString', 'hsm-wrapped'), leaf(Tag.NameType, 'Enumeration', 1)]) },
      { name: 'State', value: leaf(Tag.State, 'Enumeration', Enum.State.Active) },
    ],
    body: structure(Tag.SymmetricKey, [
      structure(Tag.KeyBlock, [
        leaf(Tag.KeyFormatType, 'Enumeration', Enum.KeyFormatType.Raw),
        structure(Tag.KeyValue, [leaf(Tag.KeyMaterial, 'ByteString', material)]),
      ]),
    ]),
  };
}

describe('PKCS#11 KEK on a SoftHSM token (DESIGN.md decision 3)', function () {
  let token: SoftHsmToken | undefined;
  const options = (keyLabel: string, more: Partial<Pkcs11KekOptions> = {}): Pkcs11KekOptions => {
    if (token === undefined) throw new Error('no token');
    return { module: token.module, tokenLabel: token.tokenLabel, pin: token.pin, keyLabel, ...more };
  };

  before(async function () {
    token = await createSoftHsmToken();
  });

  after(async function () {
    await token?.cleanup();
  });

  describe('opening by label', function () {
    it('creates the KEK when asked, and reopens the same key by label with the same id', async function () {
      const created = await openPkcs11Kek(options('kek-reopen', { create: true }));
      let wrapped: Buffer;
      try {
        expect(created.info.created).to.equal(true);
        expect(created.info.key).to.deep.equal({ label: 'kek-reopen', extractable: false, sensitive: true });
        expect(created.info.token.label).to.equal('kmipd');
        expect(created.id).to.match(/^pkcs11:[0-9a-f]{16}$/);
        wrapped = await created.wrap(Buffer.from('a key to keep'));
      } finally {
        await created.close();
      }
      const reopened = await openPkcs11Kek(options('kek-reopen'));
      try {
        expect(reopened.info.created).to.equal(false);
        expect(reopened.id).to.equal(created.id);
        expect((await reopened.unwrap(wrapped)).toString()).to.equal('a key to keep');
      } finally {
        await reopened.close();
      }
    });

    it('refuses to create a second key with a label already taken', async function () {
      const first = await openPkcs11Kek(options('kek-once', { create: true }));
      await first.close();
      const error = await pkcs11Failure(openPkcs11Kek(options('kek-once', { create: true })), 'KEY_EXISTS');
      expect(error.message).to.contain('"kek-once"').and.contain('refusing to create a second one');
    });

    it('the KEK is really non-extractable: reading its CKA_VALUE fails', async function () {
      const kek = await openPkcs11Kek(options('kek-sealed', { create: true }));
      await kek.close();
      if (token === undefined) throw new Error('no token');
      const report = await runTokenTool(token, { op: 'read-key', label: 'kek-sealed' });
      expect(report.value).to.deep.equal({ ok: false, error: 'CKR_ATTRIBUTE_SENSITIVE' });
      expect(report).to.include({ extractable: false, sensitive: true, neverExtractable: true, alwaysSensitive: true, private: true, token: true });
    });

    it('a missing key label says which label and token, and how to create it', async function () {
      const error = await pkcs11Failure(openPkcs11Kek(options('no-such-key')), 'KEY_NOT_FOUND');
      expect(error.message).to.contain('"no-such-key"').and.contain('token "kmipd"');
      expect(error.code).to.equal('KEK_HSM_FAILED');
    });

    it('a missing token label lists the tokens that are there', async function () {
      const error = await pkcs11Failure(openPkcs11Kek({ ...options('kek-reopen'), tokenLabel: 'elsewhere' }), 'TOKEN_NOT_FOUND');
      expect(error.message).to.contain('"elsewhere"').and.contain('"kmipd"');
    });

    it('a wrong PIN is PIN_INCORRECT, checked by the token', async function () {
      const error = await pkcs11Failure(openPkcs11Kek({ ...options('kek-reopen'), pin: '0000' }), 'PIN_INCORRECT');
      expect(error.message).to.contain('user PIN is incorrect').and.not.contain('0000');
    });

    it('a wrong PIN is PIN_INCORRECT also while another KEK keeps the token logged in', async function () {
      const open = await openPkcs11Kek(options('kek-reopen'));
      try {
        await pkcs11Failure(openPkcs11Kek({ ...options('kek-reopen'), pin: '9999' }), 'PIN_INCORRECT');
        const second = await openPkcs11Kek(options('kek-reopen'));
        expect(second.id).to.equal(open.id);
        await second.close();
        // Closing the second KEK must not log the first one out.
        const wrapped = await open.wrap(Buffer.from('still logged in'));
        expect((await open.unwrap(wrapped)).toString()).to.equal('still logged in');
      } finally {
        await open.close();
      }
    });

    it('a module that cannot be loaded is MODULE_LOAD_FAILED with the path', async function () {
      const error = await pkcs11Failure(openPkcs11Kek({ ...options('kek-reopen'), module: '/nonexistent/libpkcs11.so' }), 'MODULE_LOAD_FAILED');
      expect(error.message).to.contain('/nonexistent/libpkcs11.so');
    });

    it('refuses a key whose value can leave the token, unless allowExtractable', async function () {
      if (token === undefined) throw new Error('no token');
      await createExtractableTestKey(token, 'test-extractable-refused');
      const error = await pkcs11Failure(openPkcs11Kek(options('test-extractable-refused')), 'KEY_UNSUITABLE');
      expect(error.message).to.contain('CKA_EXTRACTABLE');
      const allowed = await openPkcs11Kek(options('test-extractable-refused', { allowExtractable: true }));
      expect(allowed.info.key.extractable).to.equal(true);
      await allowed.close();
    });
  });

  describe('wrapping (RFC 5649)', function () {
    let kek: Pkcs11Kek;

    before(async function () {
      kek = await openPkcs11Kek(options('kek-main', { create: true }));
    });

    after(async function () {
      await kek.close();
    });

    it('round-trips every length from 1 to 70 bytes and a 100 kB body', async function () {
      for (let length = 1; length <= 70; length += 1) {
        const plain = randomBytes(length);
        const wrapped = await kek.wrap(plain);
        expect(wrapped.length, `length ${length}`).to.equal(8 * (Math.ceil(length / 8) + 1));
        expect(await kek.unwrap(wrapped), `length ${length}`).to.deep.equal(plain);
      }
      const body = randomBytes(100 * 1024);
      const wrapped = await kek.wrap(body);
      expect(wrapped.length).to.equal(body.length + 8);
      expect(await kek.unwrap(wrapped)).to.deep.equal(body);
    });

    it('is byte-identical to RFC 5649 in software (node aesKeyWrapPad, FileKek) for the same key', async function () {
      if (token === undefined) throw new Error('no token');
      const value = await createExtractableTestKey(token, 'test-extractable-identity');
      const hsm = await openPkcs11Kek(options('test-extractable-identity', { allowExtractable: true }));
      try {
        const file = new FileKek(KeyMaterial.copyOf(value));
        const lengths = [...Array.from({ length: 70 }, (_, i) => i + 1), 71, 100, 255, 256, 257, 1000, 4096, 10_007];
        for (const length of lengths) {
          const plain = randomBytes(length);
          const fromHsm = await hsm.wrap(plain);
          expect(fromHsm.toString('hex'), `length ${length}`).to.equal(aesKeyWrapPad(value, plain).toString('hex'));
          expect(fromHsm, `length ${length}`).to.deep.equal(await file.wrap(plain));
          expect(aesKeyUnwrapPad(value, fromHsm), `length ${length}`).to.deep.equal(plain);
          expect(await hsm.unwrap(aesKeyWrapPad(value, plain)), `length ${length}`).to.deep.equal(plain);
        }
      } finally {
        await hsm.close();
      }
    });

    it('a changed byte, a value wrapped under another KEK, or an impossible length fails', async function () {
      const wrapped = await kek.wrap(randomBytes(40));
      for (let i = 0; i < wrapped.length; i += 1) {
        const changed = Buffer.from(wrapped);
        changed.writeUInt8(changed.readUInt8(i) ^ 0x80, i);
        const error = await rejection(kek.unwrap(changed));
        expect(error.code, `byte ${i}`).to.equal('KEK_UNWRAP_FAILED');
        expect(error.message).to.contain(kek.id);
      }
      const foreign = await new FileKek(KeyMaterial.random(32)).wrap(randomBytes(40));
      expect((await rejection(kek.unwrap(foreign))).code).to.equal('KEK_UNWRAP_FAILED');
      expect((await rejection(kek.unwrap(wrapped.subarray(0, 44)))).code).to.equal('KEK_WRAP_INPUT');
      expect((await rejection(kek.wrap(Buffer.alloc(0)))).code).to.equal('KEK_WRAP_INPUT');
    });

    it('200 wraps in parallel all succeed, and the event loop keeps running meanwhile', async function () {
      const plains = Array.from({ length: 200 }, (_, i) => randomBytes(1 + ((i * 37) % 4096)));
      let ticks = 0;
      const timer = setInterval(() => {
        ticks += 1;
      }, 1);
      let wrapped: Buffer[];
      try {
        wrapped = await Promise.all(plains.map((plain) => kek.wrap(plain)));
      } finally {
        clearInterval(timer);
      }
      expect(ticks, 'timer ticks while the wraps ran').to.be.greaterThan(0);
      const unwrapped = await Promise.all(wrapped.map((value) => kek.unwrap(value)));
      unwrapped.forEach((plain, i) => expect(plain, `value ${i}`).to.deep.equal(plains[i]));
    });

    it('refuses requests beyond maxPending with QUEUE_FULL, and serves the rest', async function () {
      const small = await openPkcs11Kek(options('kek-main', { maxPending: 8 }));
      try {
        const results = await Promise.allSettled(Array.from({ length: 20 }, () => small.wrap(randomBytes(32))));
        const refused = results.filter((result) => result.status === 'rejected');
        expect(results.filter((result) => result.status === 'fulfilled')).to.have.length(8);
        expect(refused).to.have.length(12);
        for (const result of refused) {
          expect(result.status === 'rejected' && result.reason instanceof Pkcs11KekError && result.reason.reason).to.equal('QUEUE_FULL');
        }
      } finally {
        await small.close();
      }
    });

    it('close() lets requests in flight finish, then refuses new ones with CLOSED', async function () {
      const closing = await openPkcs11Kek(options('kek-main'));
      const plain = randomBytes(64 * 1024);
      const inFlight = closing.wrap(plain);
      const closed = closing.close();
      expect(closing.close()).to.equal(closed);
      await pkcs11Failure(closing.wrap(randomBytes(16)), 'CLOSED');
      expect(await kek.unwrap(await inFlight)).to.deep.equal(plain);
      await closed;
    });

    it('the SQLite store commits and loads an object wrapped under the PKCS#11 KEK', async function () {
      const dir = await mkdtemp(join(tmpdir(), 'kmipd-pkcs11-store-'));
      const path = join(dir, 'kmipd.db');
      const material = randomBytes(32);
      const object = symmetricKey('hsm-1', material);
      try {
        const store = await openSqliteStore({ path, kek, indexKeys });
        await store.commit({ create: [object] });
        const loaded = await store.load('hsm-1');
        expect(loaded?.body !== undefined && object.body !== undefined && itemsEqual(loaded.body, object.body)).to.equal(true);
        await store.close();

        const db = new Database(path, { readonly: true });
        const row = db.prepare('SELECT body, kek_id FROM objects WHERE id = ?').get('hsm-1') as { body: Buffer; kek_id: string };
        db.close();
        expect(row.kek_id).to.equal(kek.id);
        expect(row.body.includes(material)).to.equal(false);

        // Another open of the same key (a restart) reads it back: the id is stable.
        const again = await openPkcs11Kek(options('kek-main'));
        try {
          const reopened = await openSqliteStore({ path, kek: again, indexKeys });
          const reloaded = await reopened.load('hsm-1');
          expect(reloaded?.body !== undefined && object.body !== undefined && itemsEqual(reloaded.body, object.body)).to.equal(true);
          await reopened.close();
        } finally {
          await again.close();
        }
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  });
});
