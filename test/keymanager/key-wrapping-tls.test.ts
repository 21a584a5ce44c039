/**
 * Key wrapping over a real kmipd: mutual TLS on a loopback port, the project's client
 * (lib/client), a real SQLite file and KEK. A key leaves wrapped under AES-GCM and under
 * AES key wrap (Export, with its attributes), opens with node:crypto, and comes back through
 * Register unwrapped.
 */
import { createDecipheriv } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from 'chai';
import { Enum, Tag, decodeTtlv, isConcrete, parseXml, toXml } from '../../ttlv/index.js';
import type { TtlvItem } from '../../ttlv/index.js';
import { KmipConnection } from '../../lib/client/index.js';
import { silentLogger } from '../../lib/log.js';
import { configWith } from '../../server/config.js';
import { startServer } from '../../server/index.js';
import type { RunningServer } from '../../server/index.js';
import { findValue } from '../support/service.js';
import { removeDir, tempDir } from '../server/helpers.js';

const message = (...items: string[]): TtlvItem => {
  const [item] = parseXml(`<RequestMessage><RequestHeader><ProtocolVersion><ProtocolVersionMajor type="Integer" value="2"/><ProtocolVersionMinor type="Integer" value="1"/></ProtocolVersion>
    <BatchCount type="Integer" value="${items.length}"/></RequestHeader>${items.map((body) => `<BatchItem>${body}</BatchItem>`).join('')}</RequestMessage>`);
  if (item === undefined || !isConcrete(item)) throw new Error('bad test message');
  return item;
};
const e = (tag: string, value: string): string => `<${tag} type="Enumeration" value="${value}"/>`;
const iso = (offsetSeconds: number): string => new Date(Date.now() + offsetSeconds * 1000).toISOString().replace(/\.\d+Z$/, '+00:00');
const createAes = (usage: string, mode?: string): string =>
  `<Operation type="Enumeration" value="Create"/><RequestPayload>${e('ObjectType', 'SymmetricKey')}<Attributes>${e('CryptographicAlgorithm', 'AES')}
    <CryptographicLength type="Integer" value="256"/><CryptographicUsageMask type="Integer" value="${usage}"/><ActivationDate type="DateTime" value="${iso(-60)}"/>
    ${mode === undefined ? '' : `<CryptographicParameters>${e('BlockCipherMode', mode)}</CryptographicParameters>`}</Attributes></RequestPayload>`;
const wrappingSpec = (kek: string): string =>
  `<KeyWrappingSpecification>${e('WrappingMethod', 'Encrypt')}<EncryptionKeyInformation><UniqueIdentifier type="TextString" value="${kek}"/></EncryptionKeyInformation></KeyWrappingSpecification>`;
const byId = (operation: string, id: string, body = ''): string => `<Operation type="Enumeration" value="${operation}"/><RequestPayload><UniqueIdentifier type="TextString" value="${id}"/>${body}</RequestPayload>`;

function bytesOf(item: TtlvItem | undefined): Buffer {
  if (item?.type !== 'ByteString') throw new Error(`expected a Byte String, got ${item?.type ?? 'nothing'}`);
  return Buffer.from(item.value);
}

function textValue(item: TtlvItem | undefined): string {
  if (item?.type !== 'TextString') throw new Error(`expected a Text String, got ${item?.type ?? 'nothing'}`);
  return item.value;
}

/** Each batch item's payload, after checking that every item succeeded. */
function payloads(response: TtlvItem): TtlvItem[] {
  if (response.type !== 'Structure') throw new Error('response is not a structure');
  return response.value
    .filter((item) => item.tag === Tag.BatchItem)
    .map((item) => {
      const status = findValue(item, Tag.ResultStatus);
      const text = findValue(item, Tag.ResultMessage);
      expect(status, text?.type === 'TextString' ? text.value : '').to.deep.include({ value: Enum.ResultStatus.Success });
      const payload = findValue(item, Tag.ResponsePayload);
      if (payload === undefined) throw new Error('no payload');
      return payload;
    });
}

describe('key wrapping over TLS with the kmipd client', function () {
  this.timeout(60_000);
  let dir: string;
  let server: RunningServer;
  let client: KmipConnection;

  before(async () => {
    dir = await tempDir('wrapping');
    server = await startServer(configWith({ dir, host: '127.0.0.1', port: 0 }), { log: silentLogger });
    const read = (name: string): Promise<string> => readFile(join(dir, 'certs', name), 'utf8');
    client = await KmipConnection.connect(server.host, server.port, { cert: await read('admin.pem'), key: await read('admin-key.pem'), ca: await read('ca.pem') });
  });
  after(async () => {
    await client?.close();
    await server?.close();
    await removeDir(dir);
  });

  const send = async (...items: string[]): Promise<TtlvItem[]> => payloads(await client.send(message(...items)));

  it('AES-GCM wrapping, Export with AES key wrap and its attributes, and Register of the wrapped key back, over one connection', async () => {
    const [gcmKek, kwKek, target] = await send(createAes('WrapKey UnwrapKey', 'GCM'), createAes('WrapKey UnwrapKey', 'AESKeyWrapPadding'), createAes('Encrypt Decrypt'));
    const [gcmId, kwId, targetId] = [gcmKek, kwKek, target].map((p) => textValue(findValue(p, Tag.UniqueIdentifier)));
    const [kekGcm, kekKw, plain, wrapped, exported] = await send(
      byId('Get', gcmId as string),
      byId('Get', kwId as string),
      byId('Get', targetId as string),
      byId('Get', targetId as string, wrappingSpec(gcmId as string)),
      byId('Export', targetId as string, wrappingSpec(kwId as string)),
    );
    const secret = bytesOf(findValue(plain, Tag.KeyMaterial));
    expect(secret.length).to.equal(32);

    // AES-GCM: IV in the Key Wrapping Data, the tag after the ciphertext.
    const block = findValue(wrapped, Tag.KeyBlock);
    const iv = bytesOf(findValue(block, Tag.IVCounterNonce));
    const sealed = bytesOf(findValue(block, Tag.KeyValue));
    const gcm = createDecipheriv('aes-256-gcm', bytesOf(findValue(kekGcm, Tag.KeyMaterial)), iv);
    gcm.setAuthTag(sealed.subarray(sealed.length - 16));
    const keyValue = decodeTtlv(Buffer.concat([gcm.update(sealed.subarray(0, sealed.length - 16)), gcm.final()]));
    expect(bytesOf(findValue(keyValue, Tag.KeyMaterial)).equals(secret)).to.equal(true);

    // Export: attributes and the object, wrapped with RFC 5649.
    expect(findValue(findValue(exported, Tag.Attributes), Tag.CryptographicUsageMask)).to.deep.include({ value: 0x0c });
    const kw = createDecipheriv('id-aes256-wrap-pad', bytesOf(findValue(kekKw, Tag.KeyMaterial)), Buffer.from('a65959a6', 'hex'));
    const exportedValue = decodeTtlv(Buffer.concat([kw.update(bytesOf(findValue(findValue(exported, Tag.KeyBlock), Tag.KeyValue))), kw.final()]));
    expect(bytesOf(findValue(exportedValue, Tag.KeyMaterial)).equals(secret)).to.equal(true);

    // Register of the GCM-wrapped key: the server holds the KEK, so it stores the key unwrapped.
    const object = findValue(wrapped, Tag.SymmetricKey) as TtlvItem;
    const [registered] = await send(
      `<Operation type="Enumeration" value="Register"/><RequestPayload>${e('ObjectType', 'SymmetricKey')}<Attributes><CryptographicUsageMask type="Integer" value="Encrypt"/></Attributes>${toXml(object)}</RequestPayload>`,
    );
    const [copy] = await send(byId('Get', textValue(findValue(registered, Tag.UniqueIdentifier))));
    expect(findValue(copy, Tag.KeyWrappingData)).to.equal(undefined);
    expect(bytesOf(findValue(copy, Tag.KeyMaterial)).equals(secret)).to.equal(true);
  });
});
