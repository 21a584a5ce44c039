/**
 * Records the trail must not miss: a grant change commits with its record (if the record
 * cannot be written, the grant is not changed either), and a connection closed because its
 * byte stream cannot be framed is recorded with the client's identity and address.
 */
import { expect } from 'chai';
import Database from 'better-sqlite3';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:tls';
import { Tag, decodeTtlv, encodeTtlv } from '../../ttlv/index.js';
import type { TtlvItem } from '../../ttlv/index.js';
import { indexKeys } from '../../lib/attributes/index.js';
import { openSqliteAuditReader, verifyChain } from '../../lib/audit/index.js';
import { readTrail } from '../../lib/audit/store-audit-suite.js';
import { GrantOperation, GrantTag } from '../../lib/auth/extension.js';
import { createKekFile, loadKekFile } from '../../lib/crypto/index.js';
import { silentLogger } from '../../lib/log.js';
import { enumeration, int, struct, text } from '../../lib/protocol/build.js';
import { createKmipService } from '../../lib/service.js';
import type { KmipService } from '../../lib/service.js';
import { openSqliteStore } from '../../lib/store/index.js';
import type { SqliteStore } from '../../lib/store/index.js';
import { configWith, startServer } from '../../server/index.js';
import { results } from '../support/service.js';

const ALICE = { identity: { name: 'alice', admin: false }, peer: '192.0.2.1:4000' };

function message(operation: number, payload: readonly TtlvItem[]): Buffer {
  return encodeTtlv(
    struct(Tag.RequestMessage, [
      struct(Tag.RequestHeader, [struct(Tag.ProtocolVersion, [int(Tag.ProtocolVersionMajor, 2), int(Tag.ProtocolVersionMinor, 1)]), int(Tag.BatchCount, 1)]),
      struct(Tag.BatchItem, [enumeration(Tag.Operation, operation), struct(Tag.RequestPayload, payload)]),
    ]),
  );
}

const CREATE = message(0x01, [
  enumeration(Tag.ObjectType, 2),
  struct(Tag.Attributes, [enumeration(Tag.CryptographicAlgorithm, 3), int(Tag.CryptographicLength, 256), int(Tag.CryptographicUsageMask, 12)]),
]);

describe('audit: grant changes, unframeable connections and unconvertible HTTPS bodies are on record', function () {
  this.timeout(60_000);
  let dir: string;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kmipd-audit-coverage-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  describe('Grant and Revoke Grant', () => {
    let store: SqliteStore;
    let service: KmipService;
    let id: string;

    beforeEach(async () => {
      await createKekFile(join(dir, 'kek.key'));
      store = await openSqliteStore({ path: join(dir, 'kmipd.db'), kek: await loadKekFile(join(dir, 'kek.key')), indexKeys });
      service = createKmipService({ store, log: silentLogger });
      const [created] = results(decodeTtlv(await service.handle(CREATE, ALICE)));
      const found = created?.payload?.type === 'Structure' ? created.payload.value.find((item) => item.tag === Tag.UniqueIdentifier) : undefined;
      if (found?.type !== 'TextString') throw new Error('Create returned no identifier');
      id = found.value;
    });
    afterEach(async () => {
      await store.close();
    });

    const grant = (): Buffer => message(GrantOperation.Grant, [text(Tag.UniqueIdentifier, id), text(GrantTag.GranteeIdentity, 'bob'), text(GrantTag.Permission, 'get')]);
    const revoke = (): Buffer => message(GrantOperation.RevokeGrant, [text(Tag.UniqueIdentifier, id), text(GrantTag.GranteeIdentity, 'bob')]);

    /** The chain head removed behind the server's back: every append fails from now on. */
    function breakTheChainHead(): void {
      const db = new Database(join(dir, 'kmipd.db'));
      try {
        db.exec('DELETE FROM audit_head');
      } finally {
        db.close();
      }
    }

    it('records Grant and Revoke Grant with the object, each in its change transaction', async () => {
      expect(results(decodeTtlv(await service.handle(grant(), ALICE))).map((r) => r.status)).to.deep.equal(['Success']);
      expect(results(decodeTtlv(await service.handle(revoke(), ALICE))).map((r) => r.status)).to.deep.equal(['Success']);
      const { records } = await readTrail(store);
      expect(records.map((r) => [r.seq, r.operation, r.status, JSON.parse(r.objectsJson)])).to.deep.equal([
        [1, 'Create', 'Success', [id]],
        // kmipd's extension operations by kmipd's names for them (KMIP names none).
        [2, 'Grant', 'Success', [id]],
        [3, 'RevokeGrant', 'Success', [id]],
      ]);
      expect(records[1]).to.include({ identity: 'alice', peer: '192.0.2.1:4000' });
    });

    it('a Grant whose record cannot be written grants nothing', async () => {
      breakTheChainHead();
      const [answer] = results(decodeTtlv(await service.handle(grant(), ALICE)));
      expect(answer?.status).to.equal('OperationFailed');
      expect(await store.findGrants({ target: id })).to.deep.equal([]);
    });

    it('a Revoke Grant whose record cannot be written revokes nothing', async () => {
      await service.handle(grant(), ALICE);
      breakTheChainHead();
      const [answer] = results(decodeTtlv(await service.handle(revoke(), ALICE)));
      expect(answer?.status).to.equal('OperationFailed');
      expect((await store.findGrants({ target: id })).map((g) => [g.grantee, g.permission])).to.deep.equal([['bob', 'get']]);
    });
  });

  it('a connection closed for an unframeable stream is recorded: identity, address, Invalid Message', async () => {
    const server = await startServer(configWith({ dir, host: '127.0.0.1', port: 0 }), { log: silentLogger });
    let local = '';
    try {
      const read = (name: string): Promise<string> => readFile(join(dir, 'certs', name), 'utf8');
      const socket = connect({ host: '127.0.0.1', port: server.port, cert: await read('admin.pem'), key: await read('admin-key.pem'), ca: await read('ca.pem'), servername: 'localhost' });
      const answer: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => answer.push(chunk));
      await new Promise<void>((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject));
      local = `${socket.localAddress}:${socket.localPort}`;
      // A header whose type byte is no TTLV type: the stream cannot be framed.
      socket.write(Buffer.from('42007801ff000000', 'hex'));
      await new Promise<void>((resolve) => socket.once('close', () => resolve()));
      const [refusal] = results(decodeTtlv(Buffer.concat(answer)));
      expect(refusal).to.include({ status: 'OperationFailed', reason: 'InvalidMessage' });
    } finally {
      await server.close();
    }
    const reader = openSqliteAuditReader(join(dir, 'kmipd.db'));
    try {
      const records = await reader.records(0, 1000);
      const last = records[records.length - 1];
      expect(last).to.include({ identity: 'admin', peer: local, operation: null, item: null, status: 'OperationFailed', reason: 'InvalidMessage' });
      expect(await verifyChain(reader)).to.deep.include({ intact: true });
    } finally {
      await reader.close();
    }
  });

  it('an HTTPS body in KMIP XML that converts to no TTLV message is recorded: identity, address, Invalid Message', async () => {
    const server = await startServer(configWith({ dir, host: '127.0.0.1', port: 0, https: true, httpsPort: 0 }), { log: silentLogger });
    let local = '';
    try {
      const port = server.https?.port;
      if (port === undefined) throw new Error('no HTTPS listener');
      const read = (name: string): Promise<string> => readFile(join(dir, 'certs', name), 'utf8');
      const tls = { cert: await read('admin.pem'), key: await read('admin-key.pem'), ca: await read('ca.pem'), servername: 'localhost' };
      const body = await new Promise<string>((resolve, reject) => {
        const req = httpsRequest({ host: '127.0.0.1', port, path: '/kmip', method: 'POST', headers: { 'Content-Type': 'text/xml' }, agent: false, ...tls }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
          res.on('error', reject);
        });
        req.once('socket', (socket) => socket.once('secureConnect', () => (local = `${socket.localAddress}:${socket.localPort}`)));
        req.on('error', reject);
        req.end('<RequestMessage><NoSuchTag type="Integer" value="1"/>');
      });
      expect(body).to.include('InvalidMessage');
    } finally {
      await server.close();
    }
    const reader = openSqliteAuditReader(join(dir, 'kmipd.db'));
    try {
      const records = await reader.records(0, 1000);
      const last = records[records.length - 1];
      expect(local).to.not.equal('');
      expect(last).to.include({ identity: 'admin', peer: local, operation: null, item: null, status: 'OperationFailed', reason: 'InvalidMessage' });
      expect(await verifyChain(reader)).to.deep.include({ intact: true });
    } finally {
      await reader.close();
    }
  });
});
