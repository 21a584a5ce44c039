/**
 * The access matrix, driven by the operation table (lib/operations/table.ts): for every
 * operation that names a stored object, an identity without rights is refused with
 * Permission Denied, one holding a different permission too; one holding the permission the
 * operation needs (to itself, to one of its identity groups, or on an Object Group of the
 * object) is served, and so are the owner and an administrator. An operation the table offers
 * that has no access rule, or no case here, fails this test.
 */
import { expect } from 'chai';
import { Enum, Tag, decodeTtlv, encodeTtlv, isConcrete, parseXml } from '../../ttlv/index.js';
import type { TtlvItem } from '../../ttlv/index.js';
import { GrantOperation, GrantTag } from '../../lib/auth/extension.js';
import type { Identity } from '../../lib/auth/identity.js';
import { OPERATION_NEEDS, PERMISSIONS } from '../../lib/auth/permissions.js';
import type { Need, Permission } from '../../lib/auth/permissions.js';
import { OPERATIONS } from '../../lib/operations/table.js';
import { enumeration, int, struct, text } from '../../lib/protocol/build.js';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDevelopmentPki } from '../../certs/index.js';
import { indexKeys } from '../../lib/attributes/index.js';
import { createKekFile, loadKekFile } from '../../lib/crypto/index.js';
import { jsonLogger } from '../../lib/log.js';
import { createKmipService } from '../../lib/service.js';
import type { KmipService } from '../../lib/service.js';
import { openSqliteStore } from '../../lib/store/index.js';
import type { Store } from '../../lib/store/index.js';
import { findAll, findValue, results, textOf } from '../support/service.js';
import type { ItemResult } from '../support/service.js';

const OWNER: Identity = { name: 'alice', admin: false };
const ADMIN: Identity = { name: 'admin', admin: true };
const STRANGER: Identity = { name: 'mallory', admin: false };

// ---------------------------------------------------------------------------------------
// Requests

const e = (tag: string, value: string): string => `<${tag} type="Enumeration" value="${value}"/>`;
const t = (tag: string, value: string): string => `<${tag} type="TextString" value="${value}"/>`;
const uid = (id: string): string => t('UniqueIdentifier', id);
const since = (): string => new Date(Date.now() - 3_600_000).toISOString().replace(/\.\d+Z$/, '+00:00');

/** A 2.1 request message of one batch item, from XML. */
function xmlRequest(item: string): TtlvItem {
  const [message] = parseXml(`<RequestMessage><RequestHeader><ProtocolVersion><ProtocolVersionMajor type="Integer" value="2"/><ProtocolVersionMinor type="Integer" value="1"/></ProtocolVersion>
    <BatchCount type="Integer" value="1"/></RequestHeader><BatchItem>${item}</BatchItem></RequestMessage>`);
  if (message === undefined || !isConcrete(message)) throw new Error('bad test request');
  return message;
}

/** A 2.1 request message of one batch item, from TTLV (the vendor extension operations). */
function ttlvRequest(operation: number, payload: readonly TtlvItem[]): TtlvItem {
  return struct(Tag.RequestMessage, [
    struct(Tag.RequestHeader, [struct(Tag.ProtocolVersion, [int(Tag.ProtocolVersionMajor, 2), int(Tag.ProtocolVersionMinor, 1)]), int(Tag.BatchCount, 1)]),
    struct(Tag.BatchItem, [enumeration(Tag.Operation, operation), struct(Tag.RequestPayload, payload)]),
  ]);
}

const op = (operation: string, body: string): string => `<Operation type="Enumeration" value="${operation}"/><RequestPayload>${body}</RequestPayload>`;

// ---------------------------------------------------------------------------------------
// The harness

/** A key manager over a real SQLite file and KEK, with an issuing CA for Certify; its log lines kept. */
async function openKms(): Promise<{ service: KmipService; store: Store; logs: Record<string, unknown>[]; close(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'kmipd-permissions-'));
  await createKekFile(join(dir, 'kek.key'));
  const store = await openSqliteStore({ path: join(dir, 'kmipd.db'), kek: await loadKekFile(join(dir, 'kek.key')), indexKeys });
  const pki = await createDevelopmentPki(join(dir, 'pki'));
  const issuer = { certificate: new X509Certificate(await readFile(pki.ca)).raw, privateKey: createPrivateKey(await readFile(pki.caKey)) };
  const logs: Record<string, unknown>[] = [];
  const log = jsonLogger({ write: (line: string) => logs.push(JSON.parse(line) as Record<string, unknown>) }, 'info');
  const service = createKmipService({ store, log, issuer });
  return {
    service,
    store,
    logs,
    close: async () => {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

class Kms {
  constructor(readonly kms: { service: KmipService }) {}

  async send(message: TtlvItem, identity: Identity): Promise<ItemResult> {
    const response = decodeTtlv(await this.kms.service.handle(encodeTtlv(message), { identity, peer: 'test' }));
    const [item] = results(response);
    if (item === undefined) throw new Error('no batch item in the response');
    return item;
  }

  async ok(item: string | TtlvItem, identity: Identity = OWNER): Promise<ItemResult> {
    const result = await this.send(typeof item === 'string' ? xmlRequest(item) : item, identity);
    expect(result.status, `${result.reason ?? ''}: ${result.message ?? ''}`).to.equal('Success');
    return result;
  }

  async id(item: string): Promise<string> {
    return textOf(findValue((await this.ok(item)).payload, Tag.UniqueIdentifier));
  }

  /** An AES-256 key of alice's with this usage mask, Active since an hour ago unless `preActive`. */
  aes(mask: string, options: { preActive?: boolean; extra?: string } = {}): Promise<string> {
    return this.id(
      op(
        'Create',
        `${e('ObjectType', 'SymmetricKey')}<Attributes>${e('CryptographicAlgorithm', 'AES')}<CryptographicLength type="Integer" value="256"/>
         <CryptographicUsageMask type="Integer" value="${mask}"/>${options.preActive === true ? '' : `<ActivationDate type="DateTime" value="${since()}"/>`}${options.extra ?? ''}</Attributes>`,
      ),
    );
  }

  hmac(): Promise<string> {
    return this.id(
      op('Create', `${e('ObjectType', 'SymmetricKey')}<Attributes>${e('CryptographicAlgorithm', 'HMAC_SHA256')}<CryptographicLength type="Integer" value="256"/>
        <CryptographicUsageMask type="Integer" value="MACGenerate MACVerify DeriveKey"/><ActivationDate type="DateTime" value="${since()}"/></Attributes>`),
    );
  }

  async ecPair(): Promise<{ privateId: string; publicId: string }> {
    const r = await this.ok(
      op(
        'CreateKeyPair',
        `<CommonAttributes>${e('CryptographicAlgorithm', 'EC')}<CryptographicDomainParameters>${e('RecommendedCurve', 'P_256')}</CryptographicDomainParameters>
         <ActivationDate type="DateTime" value="${since()}"/></CommonAttributes>
         <PrivateKeyAttributes><CryptographicUsageMask type="Integer" value="Sign"/></PrivateKeyAttributes>
         <PublicKeyAttributes><CryptographicUsageMask type="Integer" value="Verify"/></PublicKeyAttributes>`,
      ),
    );
    return { privateId: textOf(findValue(r.payload, Tag.PrivateKeyUniqueIdentifier)), publicId: textOf(findValue(r.payload, Tag.PublicKeyUniqueIdentifier)) };
  }

  secret(): Promise<string> {
    return this.id(
      op('Register', `${e('ObjectType', 'SecretData')}<Attributes><CryptographicUsageMask type="Integer" value="DeriveKey"/></Attributes>
        <SecretData>${e('SecretDataType', 'Password')}<KeyBlock>${e('KeyFormatType', 'Opaque')}<KeyValue><KeyMaterial type="ByteString" value="73656372657421"/></KeyValue></KeyBlock></SecretData>`),
    );
  }
}

/**
 * One operation's case: `prepare` makes alice's objects (fresh for every identity tried) and
 * returns the request and the objects a grant must cover for it to be served.
 */
interface Case {
  prepare(k: Kms): Promise<{ request: string | TtlvItem; objects: string[] }>;
}

const onObject = (operation: string, extra = '', make: (k: Kms) => Promise<string> = (k) => k.aes('Encrypt Decrypt')): Case => ({
  prepare: async (k) => {
    const id = await make(k);
    return { request: op(operation, `${uid(id)}${extra}`), objects: [id] };
  },
});

const DATA = '<Data type="ByteString" value="00112233445566778899aabbccddeeff"/>';
const CBC = `<CryptographicParameters>${e('BlockCipherMode', 'CBC')}${e('PaddingMethod', 'PKCS5')}</CryptographicParameters>`;
const O = Enum.Operation;

const CASES: ReadonlyMap<number, Case> = new Map<number, Case>([
  [O.Get, onObject('Get')],
  [O.Export, onObject('Export')],
  [O.GetAttributes, onObject('GetAttributes')],
  [O.GetAttributeList, onObject('GetAttributeList')],
  [O.Check, onObject('Check')],
  [O.AddAttribute, onObject('AddAttribute', `<NewAttribute>${t('Description', 'added')}</NewAttribute>`)],
  [O.SetAttribute, onObject('SetAttribute', `<NewAttribute>${t('Description', 'set')}</NewAttribute>`)],
  [O.ModifyAttribute, onObject('ModifyAttribute', `<NewAttribute>${t('Description', 'modified')}</NewAttribute>`, (k) => k.aes('Encrypt', { extra: t('Description', 'original') }))],
  [O.DeleteAttribute, onObject('DeleteAttribute', `<CurrentAttribute>${t('Description', 'doomed')}</CurrentAttribute>`, (k) => k.aes('Encrypt', { extra: t('Description', 'doomed') }))],
  [O.ObtainLease, onObject('ObtainLease')],
  [O.GetUsageAllocation, onObject('GetUsageAllocation')],
  [O.Activate, onObject('Activate', '', (k) => k.aes('Encrypt', { preActive: true }))],
  [O.Revoke, onObject('Revoke', `<RevocationReason>${e('RevocationReasonCode', 'CessationOfOperation')}</RevocationReason>`)],
  [O.Destroy, onObject('Destroy', '', (k) => k.aes('Encrypt', { preActive: true }))],
  [O.Archive, onObject('Archive')],
  [
    O.Recover,
    onObject('Recover', '', async (k) => {
      const id = await k.aes('Encrypt');
      await k.ok(op('Archive', uid(id)));
      return id;
    }),
  ],
  [O.ReKey, onObject('ReKey')],
  [
    O.ReKeyKeyPair,
    {
      prepare: async (k) => {
        // Both halves are replaced: the grant must cover both.
        const { privateId, publicId } = await k.ecPair();
        return { request: op('ReKeyKeyPair', t('PrivateKeyUniqueIdentifier', privateId)), objects: [privateId, publicId] };
      },
    },
  ],
  [O.Encrypt, onObject('Encrypt', `${CBC}${DATA}`)],
  [
    O.Decrypt,
    {
      prepare: async (k) => {
        const id = await k.aes('Encrypt Decrypt');
        const iv = '<IVCounterNonce type="ByteString" value="000102030405060708090a0b0c0d0e0f"/>';
        const sealed = findValue((await k.ok(op('Encrypt', `${uid(id)}${CBC}${DATA}${iv}`))).payload, Tag.Data);
        const hex = sealed?.type === 'ByteString' ? Buffer.from(sealed.value).toString('hex') : '';
        return { request: op('Decrypt', `${uid(id)}${CBC}<Data type="ByteString" value="${hex}"/>${iv}`), objects: [id] };
      },
    },
  ],
  [O.Certify, onObject('Certify', `<Attributes>${t('CertificateSubjectCN', 'certified')}</Attributes>`, async (k) => (await k.ecPair()).publicId)],
  [
    O.ReCertify,
    {
      prepare: async (k) => {
        const { publicId } = await k.ecPair();
        const certificate = await k.id(op('Certify', `${uid(publicId)}<Attributes>${t('CertificateSubjectCN', 'renewed')}</Attributes>`));
        return { request: op('ReCertify', uid(certificate)), objects: [certificate, publicId] };
      },
    },
  ],
  [O.MAC, onObject('MAC', `<CryptographicParameters>${e('CryptographicAlgorithm', 'HMAC_SHA256')}</CryptographicParameters>${DATA}`, (k) => k.hmac())],
  [
    O.MACVerify,
    {
      prepare: async (k) => {
        const id = await k.hmac();
        const mac = findValue((await k.ok(op('MAC', `${uid(id)}${DATA}`))).payload, Tag.MACData);
        const hex = mac?.type === 'ByteString' ? Buffer.from(mac.value).toString('hex') : '';
        return { request: op('MACVerify', `${uid(id)}${DATA}<MACData type="ByteString" value="${hex}"/>`), objects: [id] };
      },
    },
  ],
  [O.Sign, onObject('Sign', `<CryptographicParameters>${e('DigitalSignatureAlgorithm', 'ECDSAWithSHA256')}</CryptographicParameters>${DATA}`, async (k) => (await k.ecPair()).privateId)],
  [
    O.SignatureVerify,
    {
      prepare: async (k) => {
        const pair = await k.ecPair();
        const params = `<CryptographicParameters>${e('DigitalSignatureAlgorithm', 'ECDSAWithSHA256')}</CryptographicParameters>`;
        const signature = findValue((await k.ok(op('Sign', `${uid(pair.privateId)}${params}${DATA}`))).payload, Tag.SignatureData);
        const hex = signature?.type === 'ByteString' ? Buffer.from(signature.value).toString('hex') : '';
        return { request: op('SignatureVerify', `${uid(pair.publicId)}${params}${DATA}<SignatureData type="ByteString" value="${hex}"/>`), objects: [pair.publicId] };
      },
    },
  ],
  [
    O.DeriveKey,
    {
      prepare: async (k) => {
        const base = await k.hmac();
        const request = op(
          'DeriveKey',
          `${e('ObjectType', 'SymmetricKey')}${uid(base)}${e('DerivationMethod', 'HMAC')}<DerivationParameters><DerivationData type="ByteString" value="76"/></DerivationParameters>
           <Attributes>${e('CryptographicAlgorithm', 'AES')}<CryptographicLength type="Integer" value="128"/></Attributes>`,
        );
        return { request, objects: [base] };
      },
    },
  ],
  [
    O.CreateSplitKey,
    onObject(
      'CreateSplitKey',
      `${e('ObjectType', 'SymmetricKey')}<SplitKeyParts type="Integer" value="2"/><SplitKeyThreshold type="Integer" value="2"/>${e('SplitKeyMethod', 'XOR')}`,
    ),
  ],
  [
    O.JoinSplitKey,
    {
      prepare: async (k) => {
        const split = await k.ok(
          op(
            'CreateSplitKey',
            `${e('ObjectType', 'SymmetricKey')}<SplitKeyParts type="Integer" value="2"/><SplitKeyThreshold type="Integer" value="2"/>${e('SplitKeyMethod', 'XOR')}
             <Attributes>${e('CryptographicAlgorithm', 'AES')}<CryptographicLength type="Integer" value="128"/></Attributes>`,
          ),
        );
        const parts = findAll(split.payload, Tag.UniqueIdentifier).map((item) => textOf(item));
        return { request: op('JoinSplitKey', `${e('ObjectType', 'SymmetricKey')}${parts.map(uid).join('')}`), objects: parts };
      },
    },
  ],
  [
    O.Import,
    {
      prepare: async (k) => {
        const id = await k.secret();
        const request = op(
          'Import',
          `${uid(id)}${e('ObjectType', 'SecretData')}<ReplaceExisting type="Boolean" value="true"/><Attributes><CryptographicUsageMask type="Integer" value="DeriveKey"/></Attributes>
           <SecretData>${e('SecretDataType', 'Password')}<KeyBlock>${e('KeyFormatType', 'Opaque')}<KeyValue><KeyMaterial type="ByteString" value="6e6577"/></KeyValue></KeyBlock></SecretData>`,
        );
        return { request, objects: [id] };
      },
    },
  ],
  [
    GrantOperation.Grant,
    {
      prepare: async (k) => {
        const id = await k.aes('Encrypt');
        return { request: ttlvRequest(GrantOperation.Grant, [text(Tag.UniqueIdentifier, id), text(GrantTag.GranteeIdentity, 'zoe'), text(GrantTag.Permission, 'get')]), objects: [id] };
      },
    },
  ],
  [
    GrantOperation.RevokeGrant,
    {
      prepare: async (k) => {
        const id = await k.aes('Encrypt');
        return { request: ttlvRequest(GrantOperation.RevokeGrant, [text(Tag.UniqueIdentifier, id), text(GrantTag.GranteeIdentity, 'zoe')]), objects: [id] };
      },
    },
  ],
  [
    GrantOperation.ListGrants,
    {
      prepare: async (k) => {
        const id = await k.aes('Encrypt');
        return { request: ttlvRequest(GrantOperation.ListGrants, [text(Tag.UniqueIdentifier, id)]), objects: [id] };
      },
    },
  ],
]);

/** The operations of the table that name a stored object (their need is not 'none'). */
const GUARDED = [...OPERATIONS.keys()].filter((code) => OPERATION_NEEDS.get(code) !== 'none');

function operationLabel(code: number): string {
  return Object.entries(Enum.Operation).find(([, value]) => value === code)?.[0] ?? `0x${code.toString(16)}`;
}

/** A permission other than `need` (every one but the one needed is "a different grant"). */
function otherPermission(need: Need): Permission {
  return need === 'get' ? 'decrypt' : 'get';
}

async function grant(k: Kms, objects: readonly string[], grantee: { kind: 'identity' | 'group'; name: string }, permission: Permission): Promise<void> {
  for (const id of objects) {
    await k.ok(
      ttlvRequest(GrantOperation.Grant, [
        text(Tag.UniqueIdentifier, id),
        text(grantee.kind === 'identity' ? GrantTag.GranteeIdentity : GrantTag.GranteeGroup, grantee.name),
        text(GrantTag.Permission, permission),
      ]),
    );
  }
}

function expectDenied(result: ItemResult, who: string): void {
  expect(result.status, `${who}: ${result.message ?? ''}`).to.equal('OperationFailed');
  expect(result.reason, `${who}: ${result.message ?? ''}`).to.equal('PermissionDenied');
  expect(result.message, who).to.match(/permission|owner|administrator/);
}

function expectServed(result: ItemResult, who: string): void {
  expect(result.status, `${who}: ${result.reason ?? ''} ${result.message ?? ''}`).to.equal('Success');
}

describe('access control: every operation that names an object, by who asks (test/auth/permissions.test.ts)', function () {
  this.timeout(120_000);
  let kms: Awaited<ReturnType<typeof openKms>>;
  let k: Kms;
  before(async () => {
    kms = await openKms();
    k = new Kms(kms);
  });
  after(async () => {
    await kms.close();
  });

  it('every operation of the table has an access rule, and every guarded one a case here', () => {
    const missingRule = [...OPERATIONS.keys()].filter((code) => !OPERATION_NEEDS.has(code)).map(operationLabel);
    expect(missingRule, 'operations without an entry in OPERATION_NEEDS (lib/auth/permissions.ts)').to.deep.equal([]);
    const missingCase = GUARDED.filter((code) => !CASES.has(code)).map(operationLabel);
    expect(missingCase, 'guarded operations without a case in test/auth/permissions.test.ts').to.deep.equal([]);
    expect(GUARDED.length).to.be.greaterThan(30);
  });

  for (const code of GUARDED) {
    const need = OPERATION_NEEDS.get(code) as Need;
    it(`${operationLabel(code)} (needs ${need}): a stranger and a holder of another permission are denied; ${need === 'owner' ? '' : 'a grantee, a group member, '}the owner and an administrator are served`, async () => {
      const test = CASES.get(code);
      if (test === undefined) return expect.fail(`no case for ${operationLabel(code)}`);
      const attempt = async (who: Identity, before?: (objects: string[]) => Promise<void>): Promise<ItemResult> => {
        const { request, objects } = await test.prepare(k);
        await before?.(objects);
        return k.send(typeof request === 'string' ? xmlRequest(request) : request, who);
      };

      expectDenied(await attempt(STRANGER), 'a stranger');
      const other = otherPermission(need);
      expectDenied(await attempt({ name: 'carol', admin: false }, (objects) => grant(k, objects, { kind: 'identity', name: 'carol' }, other)), `carol, holding ${other}`);
      if (need !== 'owner') {
        expectServed(await attempt({ name: 'bob', admin: false }, (objects) => grant(k, objects, { kind: 'identity', name: 'bob' }, need)), `bob, granted ${need}`);
        expectServed(await attempt({ name: 'dave', admin: false, groups: ['dba'] }, (objects) => grant(k, objects, { kind: 'group', name: 'dba' }, need)), `dave, in group dba granted ${need}`);
        // Every permission at once is still not ownership: managing grants stays the owner's.
      } else {
        const all = async (objects: string[]): Promise<void> => {
          for (const permission of PERMISSIONS) await grant(k, objects, { kind: 'identity', name: 'erin' }, permission);
        };
        expectDenied(await attempt({ name: 'erin', admin: false }, all), 'erin, holding every permission');
      }
      expectServed(await attempt(OWNER), 'the owner');
      expectServed(await attempt(ADMIN), 'an administrator');
    });
  }
});
