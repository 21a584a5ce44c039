/**
 * Two kmipd nodes sharing one PostgreSQL database (DESIGN.md decision 6): a key created
 * through one node is served by the other, and neither node loses what the other wrote.
 */
import { cp, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from 'chai';
import { Enum, Tag } from '../../ttlv/index.js';
import { find, request } from '../support/messages.js';
import type { TtlvItem } from '../../ttlv/index.js';
import { silentLogger } from '../../lib/log.js';
import { KmipConnection } from '../../lib/client/index.js';
import { ConfigError, configWith, resolveConfig } from '../../server/config.js';
import { startServer } from '../../server/index.js';
import type { RunningServer } from '../../server/index.js';
import { startPostgres } from '../support/postgres.js';
import type { PostgresCluster } from '../support/postgres.js';
import { removeDir, tempDir } from './helpers.js';


describe('two kmipd nodes sharing one PostgreSQL database', function () {
  this.timeout(60_000);
  let cluster: PostgresCluster;
  let dirA: string;
  let dirB: string;
  const nodes: RunningServer[] = [];

  before(async () => {
    cluster = await startPostgres();
    dirA = await tempDir('node-a');
    dirB = await tempDir('node-b');
    const settings = { store: 'postgres' as const, postgresUrl: cluster.connectionString, host: '127.0.0.1', port: 0 };
    nodes.push(await startServer(configWith({ ...settings, dir: dirA }), { log: silentLogger }));
    // Node B is a copy of node A's data folder: the same KEK and PKI, as an operator deploys them.
    await nodes[0]?.close();
    nodes.length = 0;
    await cp(dirA, dirB, { recursive: true });
    nodes.push(await startServer(configWith({ ...settings, dir: dirA }), { log: silentLogger }));
    nodes.push(await startServer(configWith({ ...settings, dir: dirB }), { log: silentLogger }));
  });

  after(async () => {
    for (const node of nodes) await node.close();
    await cluster?.stop();
    await removeDir(dirA);
    await removeDir(dirB);
  });

  async function client(node: RunningServer): Promise<KmipConnection> {
    const certs = join(dirA, 'certs');
    const read = (name: string): Promise<string> => readFile(join(certs, name), 'utf8');
    return KmipConnection.connect(node.host, node.port, { cert: await read('admin.pem'), key: await read('admin-key.pem'), ca: await read('ca.pem') });
  }

  it('a key created on node A is found, served and destroyed through node B', async () => {
    const [a, b] = [await client(nodes[0] as RunningServer), await client(nodes[1] as RunningServer)];
    try {
      const created = await a.send(
        request(`<Operation type="Enumeration" value="Create"/><RequestPayload><ObjectType type="Enumeration" value="SymmetricKey"/><Attributes>
          <CryptographicAlgorithm type="Enumeration" value="AES"/><CryptographicLength type="Integer" value="256"/><CryptographicUsageMask type="Integer" value="Encrypt Decrypt"/>
          <Name><NameValue type="TextString" value="shared-by-nodes"/><NameType type="Enumeration" value="UninterpretedTextString"/></Name></Attributes></RequestPayload>`),
      );
      const id = find(created, Tag.UniqueIdentifier);
      expect(id?.type).to.equal('TextString');
      const uid = id?.type === 'TextString' ? id.value : '';
      const located = await b.send(
        request(`<Operation type="Enumeration" value="Locate"/><RequestPayload><Attributes><Name><NameValue type="TextString" value="shared-by-nodes"/><NameType type="Enumeration" value="UninterpretedTextString"/></Name></Attributes></RequestPayload>`),
      );
      expect(find(located, Tag.UniqueIdentifier)).to.deep.include({ value: uid });
      const got = await b.send(request(`<Operation type="Enumeration" value="Get"/><RequestPayload><UniqueIdentifier type="TextString" value="${uid}"/></RequestPayload>`));
      const material = find(got, Tag.KeyMaterial);
      expect(material?.type === 'ByteString' ? material.value.length : 0).to.equal(32);
      const destroyed = await b.send(request(`<Operation type="Enumeration" value="Destroy"/><RequestPayload><UniqueIdentifier type="TextString" value="${uid}"/></RequestPayload>`));
      expect(find(destroyed, Tag.ResultStatus)).to.deep.include({ value: Enum.ResultStatus.Success });
      const gone = await a.send(request(`<Operation type="Enumeration" value="Get"/><RequestPayload><UniqueIdentifier type="TextString" value="${uid}"/></RequestPayload>`));
      expect(find(gone, Tag.ResultStatus)).to.deep.include({ value: Enum.ResultStatus.OperationFailed });
    } finally {
      a.close();
      b.close();
    }
  });

  it('store "postgres" without a connection string is a configuration error', () => {
    expect(() => resolveConfig({ env: { KMIPD_STORE: 'postgres' } })).to.throw(ConfigError, /postgresUrl/);
  });
});
