/**
 * KMIP 2.1 section 6.1.37 PKCS#11 against a real SoftHSM2 module: C_Initialize opens a
 * session named by a Correlation Value, C_GetInfo answers the module's CK_INFO in the layout
 * the PKCS11-M-1 cases show, C_Finalize ends the session; without an HSM the operation is
 * refused. Also the conformance runner's CK_INFO variation (conformance/variations.ts).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { Tag, decodeTtlv, encodeTtlv, isConcrete, parseXml } from '../../ttlv/index.js';
import { indexKeys } from '../../lib/attributes/index.js';
import { createKekFile, loadKekFile } from '../../lib/crypto/index.js';
import { HsmKeys } from '../../lib/crypto/pkcs11/resident.js';
import { silentLogger } from '../../lib/log.js';
import { createKmipService } from '../../lib/service.js';
import type { KmipService } from '../../lib/service.js';
import { openSqliteStore } from '../../lib/store/index.js';
import type { Store } from '../../lib/store/index.js';
import { ckInfoDifference } from '../../conformance/variations.js';
import { createSoftHsmToken } from '../support/softhsm.js';
import type { SoftHsmToken } from '../support/softhsm.js';
import { findValue, request, results } from '../support/service.js';
import type { ItemResult } from '../support/service.js';

const pkcs11 = (fn: string, extra = ''): string =>
  `<Operation type="Enumeration" value="PKCS_11"/><RequestPayload><PKCS_11Function type="Enumeration" value="${fn}"/>${extra}</RequestPayload>`;
const correlation = (value: Buffer): string => `<CorrelationValue type="ByteString" value="${value.toString('hex')}"/>`;

/** The CK_INFO the OASIS cases recorded on their reference server. */
const RECORDED = Buffer.from(
  '022854455354202020202020507479204c7464202020202020202020202020202020000000000000000054455354202020202020202020202020202020202020202020202020202020200100',
  'hex',
);

describe('PKCS#11 operation (KMIP 2.1 section 6.1.37, SoftHSM2)', function () {
  this.timeout(60_000);
  let token: SoftHsmToken;
  let dir: string;
  let store: Store;
  let keys: HsmKeys;
  let withHsm: KmipService;
  let withoutHsm: KmipService;

  const send = async (service: KmipService, item: string, identity = 'alice'): Promise<ItemResult> => {
    const [message] = parseXml(request('2.1', item));
    if (message === undefined || !isConcrete(message)) throw new Error('bad test message');
    const [result] = results(decodeTtlv(await service.handle(encodeTtlv(message), { identity: { name: identity, admin: false }, peer: 'test' })));
    if (result === undefined) throw new Error('no batch item');
    return result;
  };
  const returnCode = (item: ItemResult): unknown => findValue(item.payload, Tag.PKCS_11ReturnCode)?.value;
  const bytesOf = (item: ItemResult, tag: number): Buffer => {
    const found = findValue(item.payload, tag);
    if (found?.type !== 'ByteString') throw new Error(`no byte string: ${item.status} ${item.reason} ${item.message}`);
    return Buffer.from(found.value);
  };

  before(async () => {
    token = await createSoftHsmToken({ label: 'kmipd-pkcs11-op' });
    dir = await mkdtemp(join(tmpdir(), 'kmipd-pkcs11-op-'));
    await createKekFile(join(dir, 'kek.key'));
    store = await openSqliteStore({ path: join(dir, 'kmipd.db'), kek: await loadKekFile(join(dir, 'kek.key')), indexKeys });
    keys = await HsmKeys.open({ module: token.module, tokenLabel: token.tokenLabel, pin: token.pin });
    withHsm = createKmipService({ store, log: silentLogger, hsm: { keys, resident: 'off' } });
    withoutHsm = createKmipService({ store, log: silentLogger });
  });
  after(async () => {
    await keys?.close();
    await store?.close();
    await rm(dir, { recursive: true, force: true });
    await token?.cleanup();
  });

  it('C_Initialize, C_GetInfo, C_Finalize: the module CK_INFO, 76 bytes in the cases\' layout', async () => {
    const init = await send(withHsm, pkcs11('C_Initialize', '<PKCS_11InputParameters type="ByteString" value="01"/>'));
    expect(init.status, init.message).to.equal('Success');
    expect(returnCode(init)).to.equal(0);
    const session = bytesOf(init, Tag.CorrelationValue);

    const info = await send(withHsm, pkcs11('C_GetInfo', correlation(session)));
    expect(returnCode(info)).to.equal(0);
    const ckInfo = bytesOf(info, Tag.PKCS_11OutputParameters);
    expect(ckInfo.length).to.equal(76);
    // SoftHSM2 implements Cryptoki 2.40, like the reference server's library.
    expect([ckInfo[0], ckInfo[1]]).to.deep.equal([2, 40]);
    expect(ckInfo.subarray(2, 34).toString('latin1')).to.match(/^SoftHSM {25}$/);
    expect(ckInfo.subarray(34, 42).equals(Buffer.alloc(8))).to.equal(true);
    expect(ckInfo.subarray(42, 74).toString('latin1')).to.match(/^Implementation of PKCS11 +$/);
    expect(ckInfoDifference(RECORDED, ckInfo)).to.equal(undefined);

    const fin = await send(withHsm, pkcs11('C_Finalize', correlation(session)));
    expect(fin.status).to.equal('Success');
    expect(returnCode(fin)).to.equal(0);
    // The session is over: its Correlation Value is unknown now.
    expect(await send(withHsm, pkcs11('C_GetInfo', correlation(session)))).to.include({ status: 'OperationFailed', reason: 'InvalidCorrelationValue' });
  });

  it('without C_Initialize: CKR_CRYPTOKI_NOT_INITIALIZED; another identity cannot use a session', async () => {
    const info = await send(withHsm, pkcs11('C_GetInfo'));
    expect(info.status).to.equal('Success');
    expect(returnCode(info)).to.equal(0x190);
    const session = bytesOf(await send(withHsm, pkcs11('C_Initialize')), Tag.CorrelationValue);
    expect(await send(withHsm, pkcs11('C_GetInfo', correlation(session)), 'mallory')).to.include({ status: 'OperationFailed', reason: 'InvalidCorrelationValue' });
    const again = await send(withHsm, pkcs11('C_Initialize', correlation(session)));
    expect(returnCode(again)).to.equal(0x191);
    const other = await send(withHsm, pkcs11('C_GetSlotList', correlation(session)));
    expect(returnCode(other)).to.equal(0x54);
  });

  it('a vendor function or another interface is refused with the PKCS#11 result reasons', async () => {
    expect(await send(withHsm, `<Operation type="Enumeration" value="PKCS_11"/><RequestPayload><PKCS_11Function type="Integer" value="1000"/></RequestPayload>`)).to.include({
      status: 'OperationFailed',
      reason: 'PKCS_11InvalidFunction',
    });
    expect(await send(withHsm, pkcs11('C_Initialize', '<PKCS_11Interface type="TextString" value="Vendor NSS"/>'))).to.include({ status: 'OperationFailed', reason: 'PKCS_11InvalidInterface' });
  });

  it('without an HSM the operation is refused with a clear reason', async () => {
    const refused = await send(withoutHsm, pkcs11('C_Initialize'));
    expect(refused).to.include({ status: 'OperationFailed', reason: 'FeatureNotSupported' });
    expect(refused.message).to.match(/no HSM/);
  });

  it('the CK_INFO variation checks layout, cryptokiVersion and flags, not the library names', () => {
    const mine = Buffer.from(RECORDED);
    Buffer.from('Another Vendor Inc.             ', 'latin1').copy(mine, 2);
    expect(ckInfoDifference(RECORDED, mine)).to.equal(undefined);
    expect(ckInfoDifference(RECORDED, mine.subarray(0, 75))).to.match(/76 bytes/);
    const version = Buffer.from(mine);
    version[1] = 30;
    expect(ckInfoDifference(RECORDED, version)).to.match(/cryptokiVersion 2\.40/);
    const flags = Buffer.from(mine);
    flags[41] = 1;
    expect(ckInfoDifference(RECORDED, flags)).to.match(/flags/);
    const unpadded = Buffer.from(mine);
    unpadded[50] = 0;
    expect(ckInfoDifference(RECORDED, unpadded)).to.match(/libraryDescription/);
  });
});
