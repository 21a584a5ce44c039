/**
 * kmipd serving with its key-encryption key in an HSM (SoftHSM2 over PKCS#11): the key is
 * generated in the token for a new data folder, survives a restart, and a wrong key label
 * on an existing folder stops the server instead of making a new key.
 */
import { readFile, writeFile, chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from 'chai';
import { Enum, Tag } from '../../ttlv/index.js';
import { find, request } from '../support/messages.js';
import type { TtlvItem } from '../../ttlv/index.js';
import { silentLogger } from '../../lib/log.js';
import { KmipConnection } from '../../lib/client/index.js';
import { configWith } from '../../server/config.js';
import { startServer } from '../../server/index.js';
import type { RunningServer } from '../../server/index.js';
import { createSoftHsmToken } from '../support/softhsm.js';
import type { SoftHsmToken } from '../support/softhsm.js';
import { removeDir, tempDir } from './helpers.js';


describe('kmipd with its key-encryption key in an HSM (PKCS#11, SoftHSM2)', function () {
  this.timeout(60_000);
  let token: SoftHsmToken;
  let dir: string;
  let pinFile: string;

  before(async () => {
    token = await createSoftHsmToken({ label: 'kmipd-serve' });
    dir = await tempDir('hsm');
    pinFile = join(token.dir, 'pin');
    await writeFile(pinFile, `${token.pin}\n`);
    await chmod(pinFile, 0o600);
  });
  after(async () => {
    await removeDir(dir);
    await token?.cleanup();
  });

  const settings = (keyLabel = 'kmipd-kek') =>
    configWith({ dir, host: '127.0.0.1', port: 0, kek: 'pkcs11', pkcs11Module: token.module, pkcs11TokenLabel: token.tokenLabel, pkcs11PinFile: pinFile, pkcs11KeyLabel: keyLabel });

  async function send(server: RunningServer, body: string): Promise<TtlvItem> {
    const read = (name: string): Promise<string> => readFile(join(dir, 'certs', name), 'utf8');
    const client = await KmipConnection.connect(server.host, server.port, { cert: await read('admin.pem'), key: await read('admin-key.pem'), ca: await read('ca.pem') });
    try {
      return await client.send(request(body));
    } finally {
      client.close();
    }
  }

  it('generates the KEK in the token for a new folder, and keys stored under it survive a restart', async () => {
    let server = await startServer(settings(), { log: silentLogger });
    let id = '';
    try {
      const created = await send(server, `<Operation type="Enumeration" value="Create"/><RequestPayload><ObjectType type="Enumeration" value="SymmetricKey"/><Attributes>
        <CryptographicAlgorithm type="Enumeration" value="AES"/><CryptographicLength type="Integer" value="128"/><CryptographicUsageMask type="Integer" value="Encrypt"/></Attributes></RequestPayload>`);
      const uid = find(created, Tag.UniqueIdentifier);
      id = uid?.type === 'TextString' ? uid.value : '';
      expect(id).not.to.equal('');
    } finally {
      await server.close();
    }
    server = await startServer(settings(), { log: silentLogger });
    try {
      const got = await send(server, `<Operation type="Enumeration" value="Get"/><RequestPayload><UniqueIdentifier type="TextString" value="${id}"/></RequestPayload>`);
      expect(find(got, Tag.ResultStatus)).to.deep.include({ value: Enum.ResultStatus.Success });
      const material = find(got, Tag.KeyMaterial);
      expect(material?.type === 'ByteString' ? material.value.length : 0).to.equal(16);
    } finally {
      await server.close();
    }
  });

  it('on an existing folder, a key label the token lacks stops the start: no new KEK is made', async () => {
    let failure: unknown;
    try {
      const server = await startServer(settings('no-such-kek'), { log: silentLogger });
      await server.close();
    } catch (error) {
      failure = error;
    }
    expect(String(failure)).to.match(/not found|KEY_NOT_FOUND|no-such-kek/i);
  });
});
