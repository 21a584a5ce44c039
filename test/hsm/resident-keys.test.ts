/**
 * Keys held inside the HSM (issue 6, hsmResidentKeys "sensitive") on a real kmipd over TLS
 * with a real SoftHSM2 token: a key created Sensitive or not Extractable is a non-extractable
 * token object, Encrypt/Decrypt/MAC with it run in the token, Get and Export are refused,
 * the store holds only the object's location, Re-key makes the replacement in the token, and
 * Destroy removes it from the token.
 */
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { expect } from 'chai';
import { Tag, isConcrete, parseXml } from '../../ttlv/index.js';
import type { TtlvItem } from '../../ttlv/index.js';
import { KmipConnection } from '../../lib/client/index.js';
import { silentLogger } from '../../lib/log.js';
import { configWith } from '../../server/config.js';
import { startServer } from '../../server/index.js';
import type { RunningServer } from '../../server/index.js';
import { createSoftHsmToken, runTokenTool } from '../support/softhsm.js';
import type { SoftHsmToken } from '../support/softhsm.js';
import { findValue, results } from '../support/service.js';
import type { ItemResult } from '../support/service.js';
import { removeDir, tempDir } from '../server/helpers.js';

const message = (...items: string[]): TtlvItem => {
  const [item] = parseXml(`<RequestMessage><RequestHeader><ProtocolVersion><ProtocolVersionMajor type="Integer" value="2"/><ProtocolVersionMinor type="Integer" value="1"/></ProtocolVersion>
    <BatchCount type="Integer" value="${items.length}"/></RequestHeader>${items.map((body) => `<BatchItem>${body}</BatchItem>`).join('')}</RequestMessage>`);
  if (item === undefined || !isConcrete(item)) throw new Error('bad test message');
  return item;
};

const hex = (b: Buffer): string => b.toString('hex');
const op = (name: string, payload: string): string => `<Operation type="Enumeration" value="${name}"/><RequestPayload>${payload}</RequestPayload>`;
const uid = (id: string): string => `<UniqueIdentifier type="TextString" value="${id}"/>`;

function byteValue(item: ItemResult | undefined, tag: number): Buffer {
  const found = findValue(item?.payload, tag);
  if (found?.type !== 'ByteString') throw new Error(`no byte string 0x${tag.toString(16)}: ${item?.status} ${item?.reason} ${item?.message}`);
  return Buffer.from(found.value);
}

function idOf(item: ItemResult | undefined): string {
  const found = findValue(item?.payload, Tag.UniqueIdentifier);
  if (found?.type !== 'TextString') throw new Error(`no id: ${item?.status} ${item?.reason} ${item?.message}`);
  return found.value;
}

describe('Keys held inside the HSM (hsmResidentKeys, SoftHSM2)', function () {
  this.timeout(60_000);
  let token: SoftHsmToken;
  let dir: string;
  let server: RunningServer;
  let client: KmipConnection;

  const start = async (): Promise<void> => {
    const pinFile = join(token.dir, 'pin');
    server = await startServer(
      configWith({ dir, host: '127.0.0.1', port: 0, kek: 'pkcs11', pkcs11Module: token.module, pkcs11TokenLabel: token.tokenLabel, pkcs11PinFile: pinFile, hsmResidentKeys: 'sensitive' }),
      { log: silentLogger },
    );
    const read = (name: string): Promise<string> => readFile(join(dir, 'certs', name), 'utf8');
    client = await KmipConnection.connect(server.host, server.port, { cert: await read('admin.pem'), key: await read('admin-key.pem'), ca: await read('ca.pem') });
  };
  const stop = async (): Promise<void> => {
    client?.close();
    await server?.close();
  };
  const send = async (...items: string[]): Promise<ItemResult[]> => results(await client.send(message(...items)));
  const one = async (item: string): Promise<ItemResult> => {
    const [result] = await send(item);
    if (result === undefined) throw new Error('no batch item in the response');
    return result;
  };

  const createKey = async (attributes: string, algorithm = 'AES', length = 256, mask = 'Encrypt Decrypt MACGenerate MACVerify'): Promise<string> => {
    const created = await one(
      op('Create', `<ObjectType type="Enumeration" value="SymmetricKey"/><Attributes><CryptographicAlgorithm type="Enumeration" value="${algorithm}"/>
        <CryptographicLength type="Integer" value="${length}"/><CryptographicUsageMask type="Integer" value="${mask}"/>${attributes}</Attributes>`),
    );
    const id = idOf(created);
    expect((await one(op('Activate', uid(id)))).status).to.equal('Success');
    return id;
  };

  before(async () => {
    token = await createSoftHsmToken({ label: 'kmipd-resident' });
    dir = await tempDir('resident');
    await writeFile(join(token.dir, 'pin'), `${token.pin}\n`);
    await chmod(join(token.dir, 'pin'), 0o600);
    await start();
  });
  after(async () => {
    await stop();
    await removeDir(dir);
    await token?.cleanup();
  });

  let sensitiveId = '';

  it('Create with Sensitive true makes a non-extractable, sensitive token key; the store keeps only its location', async () => {
    sensitiveId = await createKey('<Sensitive type="Boolean" value="true"/>');
    const report = await runTokenTool(token, { op: 'read-key', label: sensitiveId });
    expect(report).to.include({ extractable: false, sensitive: true, neverExtractable: true, alwaysSensitive: true, token: true, private: true });
    expect(report.value).to.deep.equal({ ok: false, error: 'CKR_ATTRIBUTE_SENSITIVE' });

    const db = new Database(join(dir, 'kmipd.db'), { readonly: true, fileMustExist: true });
    try {
      const row = db.prepare<[string], { body: Buffer; kek_id: string }>('SELECT body, kek_id FROM objects WHERE id = ?').get(sensitiveId);
      expect(row?.kek_id).to.equal('hsm-resident');
      // The body is the token object's URI, nothing secret: it names the object and the token.
      expect(row?.body.toString('latin1')).to.contain(`pkcs11:token=kmipd-resident;object=${sensitiveId}`);
    } finally {
      db.close();
    }

    const attributes = await one(op('GetAttributes', `${uid(sensitiveId)}<AttributeReference type="Enumeration" value="Extractable"/><AttributeReference type="Enumeration" value="NeverExtractable"/>`));
    expect(findValue(attributes.payload, Tag.Extractable)).to.deep.include({ value: false });
    expect(findValue(attributes.payload, Tag.NeverExtractable)).to.deep.include({ value: true });
  });

  it('AES-GCM in the token: round trip with AAD, a changed tag or AAD fails', async () => {
    const plain = Buffer.from('data encrypted by a key that never left the HSM');
    const params = `<CryptographicParameters><BlockCipherMode type="Enumeration" value="GCM"/><TagLength type="Integer" value="16"/></CryptographicParameters>`;
    const encrypted = await one(op('Encrypt', `${uid(sensitiveId)}${params}<Data type="ByteString" value="${hex(plain)}"/>
      <AuthenticatedEncryptionAdditionalData type="ByteString" value="cafe"/>`));
    expect(encrypted.status, encrypted.message).to.equal('Success');
    const data = byteValue(encrypted, Tag.Data);
    const iv = byteValue(encrypted, Tag.IVCounterNonce);
    const tag = byteValue(encrypted, Tag.AuthenticatedEncryptionTag);
    expect(data.length).to.equal(plain.length);
    expect(iv.length).to.equal(12);
    expect(tag.length).to.equal(16);
    expect(data.equals(plain)).to.equal(false);

    const decrypt = (t: Buffer, aad = 'cafe'): Promise<ItemResult> =>
      one(op('Decrypt', `${uid(sensitiveId)}${params}<Data type="ByteString" value="${hex(data)}"/><IVCounterNonce type="ByteString" value="${hex(iv)}"/>
        <AuthenticatedEncryptionAdditionalData type="ByteString" value="${aad}"/><AuthenticatedEncryptionTag type="ByteString" value="${hex(t)}"/>`));
    const decrypted = await decrypt(tag);
    expect(decrypted.status, decrypted.message).to.equal('Success');
    expect(byteValue(decrypted, Tag.Data).equals(plain)).to.equal(true);

    const badTag = Buffer.from(tag);
    badTag[0] = (badTag[0] ?? 0) ^ 1;
    const bad = await decrypt(badTag);
    expect(bad, bad.message).to.include({ status: 'OperationFailed', reason: 'CryptographicFailure' });
    expect(await decrypt(tag, 'beef')).to.include({ status: 'OperationFailed', reason: 'CryptographicFailure' });
  });

  it('AES-CBC with PKCS#5 padding and a client IV, and AES-ECB, round trip in the token', async () => {
    const plain = Buffer.from('seventeen bytes!!');
    const iv = Buffer.alloc(16, 7);
    const cbc = `<CryptographicParameters><BlockCipherMode type="Enumeration" value="CBC"/><PaddingMethod type="Enumeration" value="PKCS5"/></CryptographicParameters>`;
    const encrypted = await one(op('Encrypt', `${uid(sensitiveId)}${cbc}<Data type="ByteString" value="${hex(plain)}"/><IVCounterNonce type="ByteString" value="${hex(iv)}"/>`));
    const data = byteValue(encrypted, Tag.Data);
    expect(data.length).to.equal(32);
    expect(findValue(encrypted.payload, Tag.IVCounterNonce)).to.equal(undefined);
    const decrypted = await one(op('Decrypt', `${uid(sensitiveId)}${cbc}<Data type="ByteString" value="${hex(data)}"/><IVCounterNonce type="ByteString" value="${hex(iv)}"/>`));
    expect(byteValue(decrypted, Tag.Data).equals(plain)).to.equal(true);

    const ecb = `<CryptographicParameters><BlockCipherMode type="Enumeration" value="ECB"/></CryptographicParameters>`;
    const block = Buffer.alloc(32, 0x5a);
    const ecbOut = byteValue(await one(op('Encrypt', `${uid(sensitiveId)}${ecb}<Data type="ByteString" value="${hex(block)}"/>`)), Tag.Data);
    // ECB: equal blocks encrypt equally, under a key nobody can read.
    expect(hex(ecbOut.subarray(0, 16))).to.equal(hex(ecbOut.subarray(16)));
    const back = byteValue(await one(op('Decrypt', `${uid(sensitiveId)}${ecb}<Data type="ByteString" value="${hex(ecbOut)}"/>`)), Tag.Data);
    expect(back.equals(block)).to.equal(true);
    expect(await one(op('Encrypt', `${uid(sensitiveId)}${ecb}<Data type="ByteString" value="0102"/>`))).to.include({ reason: 'CryptographicFailure' });
  });

  it('multi-part and unsupported modes get a precise refusal', async () => {
    const parts = await one(op('Encrypt', `${uid(sensitiveId)}<Data type="ByteString" value="00"/><InitIndicator type="Boolean" value="true"/>`));
    expect(parts).to.include({ status: 'OperationFailed', reason: 'FeatureNotSupported' });
    expect(parts.message).to.match(/multi-part encryption with a key held in the HSM/);
    const ctr = await one(op('Encrypt', `${uid(sensitiveId)}<CryptographicParameters><BlockCipherMode type="Enumeration" value="CTR"/></CryptographicParameters><Data type="ByteString" value="00"/>`));
    expect(ctr).to.include({ status: 'OperationFailed', reason: 'FeatureNotSupported' });
  });

  it('CMAC with an AES key and HMAC-SHA256 with an HMAC key run in the token; MAC Verify tells good from bad', async () => {
    const data = Buffer.from('message to authenticate');
    const cmac = byteValue(await one(op('MAC', `${uid(sensitiveId)}<Data type="ByteString" value="${hex(data)}"/>`)), Tag.MACData);
    expect(cmac.length).to.equal(16);
    const verify = async (id: string, d: Buffer, mac: Buffer): Promise<unknown> =>
      findValue((await one(op('MACVerify', `${uid(id)}<Data type="ByteString" value="${hex(d)}"/><MACData type="ByteString" value="${hex(mac)}"/>`))).payload, Tag.ValidityIndicator);
    expect(await verify(sensitiveId, data, cmac)).to.deep.include({ value: 1 });
    expect(await verify(sensitiveId, Buffer.from('other message'), cmac)).to.deep.include({ value: 2 });

    const hmacId = await createKey('<Extractable type="Boolean" value="false"/>', 'HMAC_SHA256', 256, 'MACGenerate MACVerify');
    expect((await runTokenTool(token, { op: 'read-key', label: hmacId })).extractable).to.equal(false);
    const hmac = byteValue(await one(op('MAC', `${uid(hmacId)}<CryptographicParameters><CryptographicAlgorithm type="Enumeration" value="HMAC_SHA256"/></CryptographicParameters><Data type="ByteString" value="${hex(data)}"/>`)), Tag.MACData);
    expect(hmac.length).to.equal(32);
    expect(await verify(hmacId, data, hmac)).to.deep.include({ value: 1 });
    expect(await verify(hmacId, data, Buffer.alloc(32))).to.deep.include({ value: 2 });
  });

  it('Get and Export are refused: Sensitive for a sensitive key, Not Extractable for one created Extractable false', async () => {
    const get = await one(op('Get', uid(sensitiveId)));
    expect(get).to.include({ status: 'OperationFailed', reason: 'Sensitive' });
    expect(get.message).to.match(/held inside the HSM/);
    expect(await one(op('Export', uid(sensitiveId)))).to.include({ status: 'OperationFailed', reason: 'Sensitive' });

    const locked = await createKey('<Extractable type="Boolean" value="false"/>');
    expect(await one(op('Get', uid(locked)))).to.include({ status: 'OperationFailed', reason: 'NotExtractable' });

    // Asking for it wrapped under another key changes nothing: the value cannot leave the token.
    const wrapping = await createKey('', 'AES', 256, 'WrapKey UnwrapKey');
    const wrapped = await one(op('Get', `${uid(sensitiveId)}<KeyWrappingSpecification><WrappingMethod type="Enumeration" value="Encrypt"/>
      <EncryptionKeyInformation>${uid(wrapping)}<CryptographicParameters><BlockCipherMode type="Enumeration" value="NISTKeyWrap"/></CryptographicParameters></EncryptionKeyInformation></KeyWrappingSpecification>`));
    expect(wrapped).to.include({ status: 'OperationFailed', reason: 'NotExtractable' });
  });

  it('a key without Sensitive or Extractable false stays an ordinary wrapped key (no token object)', async () => {
    const plainId = await createKey('');
    const got = await one(op('Get', uid(plainId)));
    expect(got.status).to.equal('Success');
    expect(byteValue(got, Tag.KeyMaterial).length).to.equal(32);
    const missing = await runTokenTool(token, { op: 'read-key', label: plainId }).then(
      () => 'found',
      (error: unknown) => String(error),
    );
    expect(missing).to.match(/0 keys labelled/);
  });

  it('Re-key of a key held in the HSM generates the replacement in the token: not extractable, sensitive, working, linked', async () => {
    const oldId = await createKey('<Sensitive type="Boolean" value="true"/>');
    // A request for an extractable replacement does not take the key out of the HSM.
    const rekeyed = await one(op('ReKey', `${uid(oldId)}<Attributes><Extractable type="Boolean" value="true"/></Attributes>`));
    expect(rekeyed.status, rekeyed.message).to.equal('Success');
    const newId = idOf(rekeyed);
    expect(newId).to.not.equal(oldId);

    const report = await runTokenTool(token, { op: 'read-key', label: newId });
    expect(report).to.include({ extractable: false, sensitive: true, neverExtractable: true, alwaysSensitive: true, token: true, private: true });
    expect(report.value).to.deep.equal({ ok: false, error: 'CKR_ATTRIBUTE_SENSITIVE' });
    // The old key is still in the token, for what it encrypted.
    expect(await runTokenTool(token, { op: 'read-key', label: oldId })).to.include({ extractable: false });

    const db = new Database(join(dir, 'kmipd.db'), { readonly: true, fileMustExist: true });
    try {
      const row = db.prepare<[string], { body: Buffer; kek_id: string }>('SELECT body, kek_id FROM objects WHERE id = ?').get(newId);
      expect(row?.kek_id).to.equal('hsm-resident');
      expect(row?.body.toString('latin1')).to.contain(`pkcs11:token=kmipd-resident;object=${newId}`);
    } finally {
      db.close();
    }

    const attributes = await one(op('GetAttributes', `${uid(newId)}<AttributeReference type="Enumeration" value="Extractable"/><AttributeReference type="Enumeration" value="Sensitive"/><AttributeReference type="Enumeration" value="Link"/>`));
    expect(findValue(attributes.payload, Tag.Extractable)).to.deep.include({ value: false });
    expect(findValue(attributes.payload, Tag.Sensitive)).to.deep.include({ value: true });
    expect(findValue(attributes.payload, Tag.LinkedObjectIdentifier)).to.deep.include({ value: oldId });
    expect(await one(op('Get', uid(newId)))).to.include({ status: 'OperationFailed', reason: 'Sensitive' });

    const gcm = '<CryptographicParameters><BlockCipherMode type="Enumeration" value="GCM"/></CryptographicParameters>';
    const encrypted = await one(op('Encrypt', `${uid(newId)}${gcm}<Data type="ByteString" value="00112233"/>`));
    expect(encrypted.status, encrypted.message).to.equal('Success');
    const tag = byteValue(encrypted, Tag.AuthenticatedEncryptionTag);
    const decrypted = await one(
      op('Decrypt', `${uid(newId)}${gcm}<Data type="ByteString" value="${hex(byteValue(encrypted, Tag.Data))}"/><IVCounterNonce type="ByteString" value="${hex(byteValue(encrypted, Tag.IVCounterNonce))}"/><AuthenticatedEncryptionTag type="ByteString" value="${hex(tag)}"/>`),
    );
    expect(byteValue(decrypted, Tag.Data)).to.deep.equal(Buffer.from('00112233', 'hex'));
  });

  it('survives a restart, and Destroy removes the key from the token', async () => {
    await stop();
    await start();
    const encrypted = await one(op('Encrypt', `${uid(sensitiveId)}<CryptographicParameters><BlockCipherMode type="Enumeration" value="GCM"/></CryptographicParameters><Data type="ByteString" value="00112233"/>`));
    expect(encrypted.status, encrypted.message).to.equal('Success');

    await one(op('Revoke', `${uid(sensitiveId)}<RevocationReason><RevocationReasonCode type="Enumeration" value="CessationOfOperation"/></RevocationReason>`));
    const destroyed = await one(op('Destroy', uid(sensitiveId)));
    expect(destroyed.status, destroyed.message).to.equal('Success');
    const gone = await runTokenTool(token, { op: 'read-key', label: sensitiveId }).then(
      () => 'found',
      (error: unknown) => String(error),
    );
    expect(gone).to.match(/0 keys labelled/);
    expect(await one(op('Get', uid(sensitiveId)))).to.include({ status: 'OperationFailed', reason: 'ObjectDestroyed' });
  });
});
