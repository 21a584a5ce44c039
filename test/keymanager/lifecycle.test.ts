/**
 * The symmetric-key lifecycle through the key manager, in every protocol version, over a
 * real SQLite store and KEK file: Create, Get, Activate, Revoke, Destroy, Get after destroy.
 */
import { expect } from 'chai';
import { Tag } from '../../ttlv/index.js';
import { findValue, openTestService, request, results, textOf } from '../support/service.js';
import type { TestService } from '../support/service.js';

const V1_CREATE = `
  <Operation type="Enumeration" value="Create"/>
  <RequestPayload>
    <ObjectType type="Enumeration" value="SymmetricKey"/>
    <TemplateAttribute>
      <Attribute><AttributeName type="TextString" value="Cryptographic Algorithm"/><AttributeValue type="Enumeration" value="AES"/></Attribute>
      <Attribute><AttributeName type="TextString" value="Cryptographic Length"/><AttributeValue type="Integer" value="256"/></Attribute>
      <Attribute><AttributeName type="TextString" value="Cryptographic Usage Mask"/><AttributeValue type="Integer" value="Encrypt Decrypt"/></Attribute>
      <Attribute><AttributeName type="TextString" value="Name"/><AttributeValue><NameValue type="TextString" value="lifecycle-key"/><NameType type="Enumeration" value="UninterpretedTextString"/></AttributeValue></Attribute>
    </TemplateAttribute>
  </RequestPayload>`;

const V2_CREATE = `
  <Operation type="Enumeration" value="Create"/>
  <RequestPayload>
    <ObjectType type="Enumeration" value="SymmetricKey"/>
    <Attributes>
      <CryptographicAlgorithm type="Enumeration" value="AES"/>
      <CryptographicLength type="Integer" value="256"/>
      <CryptographicUsageMask type="Integer" value="Encrypt Decrypt"/>
      <Name><NameValue type="TextString" value="lifecycle-key"/><NameType type="Enumeration" value="UninterpretedTextString"/></Name>
    </Attributes>
  </RequestPayload>`;

const onId = (operation: string, id: string, extra = ''): string =>
  `<Operation type="Enumeration" value="${operation}"/><RequestPayload><UniqueIdentifier type="TextString" value="${id}"/>${extra}</RequestPayload>`;

const REVOKE_REASON = '<RevocationReason><RevocationReasonCode type="Enumeration" value="CessationOfOperation"/></RevocationReason>';

describe('the symmetric key lifecycle in every protocol version', () => {
  let kms: TestService;
  before(async () => {
    kms = await openTestService();
  });
  after(async () => {
    await kms.close();
  });

  for (const version of ['1.0', '1.1', '1.2', '1.3', '1.4', '2.0', '2.1']) {
    it(`KMIP ${version}: Create, Get, Activate, Revoke, Destroy, then Get answers that the key is gone`, async () => {
      const v2 = version.startsWith('2.');
      const [created] = results(await kms.send(request(version, v2 ? V2_CREATE : V1_CREATE)));
      expect(created?.status, created?.message).to.equal('Success');
      const id = textOf(findValue(created?.payload, Tag.UniqueIdentifier));

      const [got] = results(await kms.send(request(version, onId('Get', id))));
      expect(got?.status, got?.message).to.equal('Success');
      const material = findValue(got?.payload, Tag.KeyMaterial);
      expect(material?.type).to.equal('ByteString');
      expect(material?.type === 'ByteString' ? material.value.length : 0).to.equal(32);

      // An Active key cannot be destroyed (1.x clients expect Permission Denied).
      expect(results(await kms.send(request(version, onId('Activate', id))))[0]?.status).to.equal('Success');
      const [refused] = results(await kms.send(request(version, onId('Destroy', id))));
      expect(refused?.status).to.equal('OperationFailed');
      expect(refused?.reason).to.equal(v2 ? 'WrongKeyLifecycleState' : 'PermissionDenied');

      expect(results(await kms.send(request(version, onId('Revoke', id, REVOKE_REASON))))[0]?.status).to.equal('Success');
      expect(results(await kms.send(request(version, onId('Destroy', id))))[0]?.status).to.equal('Success');
      const [gone] = results(await kms.send(request(version, onId('Get', id))));
      expect(gone?.status).to.equal('OperationFailed');
      expect(gone?.reason).to.equal(version === '2.1' ? 'ObjectDestroyed' : 'ItemNotFound');
    });
  }

  it('Get of an unknown identifier answers Item Not Found', async () => {
    const [item] = results(await kms.send(request('1.4', onId('Get', 'no-such-object'))));
    expect(item?.reason).to.equal('ItemNotFound');
  });

  it('another identity can neither Get nor Locate the key; an administrator can', async () => {
    const [created] = results(await kms.send(request('1.4', V1_CREATE), 'alice'));
    const id = textOf(findValue(created?.payload, Tag.UniqueIdentifier));
    const [denied] = results(await kms.send(request('1.4', onId('Get', id)), 'mallory'));
    expect(denied?.status).to.equal('OperationFailed');
    expect(denied?.reason).to.equal('PermissionDenied');
    const locateByName = `<Operation type="Enumeration" value="Locate"/><RequestPayload>
      <Attribute><AttributeName type="TextString" value="Name"/><AttributeValue><NameValue type="TextString" value="lifecycle-key"/><NameType type="Enumeration" value="UninterpretedTextString"/></AttributeValue></Attribute>
    </RequestPayload>`;
    const [mallorys] = results(await kms.send(request('1.4', locateByName), 'mallory'));
    expect(mallorys?.status).to.equal('Success');
    expect(mallorys?.payload?.type === 'Structure' ? mallorys.payload.value : []).to.have.length(0);
    const [alices] = results(await kms.send(request('1.4', locateByName), 'alice'));
    const ids = alices?.payload?.type === 'Structure' ? alices.payload.value.map((item) => textOf(item)) : [];
    expect(ids).to.include(id);
    expect(results(await kms.send(request('1.4', onId('Get', id)), 'admin'))[0]?.status).to.equal('Success');
  });
});
