/**
 * Attributes the server sets on the objects it creates and registers, by the rules of
 * KMIP 2.1 section 4 (1.4 section 3): Lease Time from the server's lease policy, the Random
 * Number Generator of generated material, the Short Unique Identifier, the Protection
 * Storage Mask, the attributes of an X.509 certificate, and a Quantum Safe flag the object
 * must be able to meet.
 */
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { createHash, webcrypto } from 'node:crypto';
import { expect } from 'chai';
import { Enum, Tag } from '../../ttlv/index.js';
import type { TtlvItem } from '../../ttlv/index.js';
import { findAll, findValue, openTestService, request, results, textOf } from '../support/service.js';
import type { ItemResult, TestService } from '../support/service.js';

const KEY_HEX = '000102030405060708090a0b0c0d0e0f';
const symmetric = `<SymmetricKey><KeyBlock><KeyFormatType type="Enumeration" value="Raw"/><KeyValue><KeyMaterial type="ByteString" value="${KEY_HEX}"/></KeyValue>
  <CryptographicAlgorithm type="Enumeration" value="AES"/><CryptographicLength type="Integer" value="128"/></KeyBlock></SymmetricKey>`;

const v1Attr = (name: string, value: string): string => `<Attribute><AttributeName type="TextString" value="${name}"/>${value}</Attribute>`;
const v1Create = (bits: number, extra = ''): string => `<Operation type="Enumeration" value="Create"/><RequestPayload><ObjectType type="Enumeration" value="SymmetricKey"/><TemplateAttribute>
  ${v1Attr('Cryptographic Algorithm', '<AttributeValue type="Enumeration" value="AES"/>')}${v1Attr('Cryptographic Length', `<AttributeValue type="Integer" value="${bits}"/>`)}${extra}</TemplateAttribute></RequestPayload>`;
const v2Create = (bits: number, extra = '', outside = ''): string => `<Operation type="Enumeration" value="Create"/><RequestPayload><ObjectType type="Enumeration" value="SymmetricKey"/><Attributes>
  <CryptographicAlgorithm type="Enumeration" value="AES"/><CryptographicLength type="Integer" value="${bits}"/>${extra}</Attributes>${outside}</RequestPayload>`;
const v1Register = (body: string, objectType: string, attributes = ''): string =>
  `<Operation type="Enumeration" value="Register"/><RequestPayload><ObjectType type="Enumeration" value="${objectType}"/><TemplateAttribute>${attributes}</TemplateAttribute>${body}</RequestPayload>`;
const v2Register = (body: string, objectType: string, attributes = ''): string =>
  `<Operation type="Enumeration" value="Register"/><RequestPayload><ObjectType type="Enumeration" value="${objectType}"/><Attributes>${attributes}</Attributes>${body}</RequestPayload>`;
const onId = (operation: string, id: string, extra = ''): string =>
  `<Operation type="Enumeration" value="${operation}"/><RequestPayload><UniqueIdentifier type="TextString" value="${id}"/>${extra}</RequestPayload>`;
const ANSI_X9_31 = '<RNGAlgorithm type="Enumeration" value="ANSIX9_31"/><CryptographicAlgorithm type="Enumeration" value="AES"/><CryptographicLength type="Integer" value="256"/>';

function idOf(result: ItemResult | undefined): string {
  expect(result?.status, result?.message).to.equal('Success');
  return textOf(findValue(result?.payload, Tag.UniqueIdentifier));
}

/** The value of a 1.x Get Attributes answer's attribute `name`. */
function v1Value(payload: TtlvItem | undefined, name: string): TtlvItem | undefined {
  for (const attribute of findAll(payload, Tag.Attribute)) {
    if (attribute.type === 'Structure' && attribute.value.some((c) => c.tag === Tag.AttributeName && c.value === name)) {
      return attribute.value.find((c) => c.tag === Tag.AttributeValue);
    }
  }
  return undefined;
}

/** The children of a 2.x Get Attributes answer's Attributes structure. */
function v2Attributes(payload: TtlvItem | undefined): readonly TtlvItem[] {
  const attributes = findValue(payload, Tag.Attributes);
  return attributes?.type === 'Structure' ? attributes.value : [];
}

describe('attributes the server sets', () => {
  let kms: TestService;
  before(async () => {
    kms = await openTestService();
  });
  after(async () => {
    await kms.close();
  });
  const send = async (version: string, ...items: string[]): Promise<ItemResult[]> => results(await kms.send(request(version, ...items)));

  describe('4.30 Lease Time: the server sets it by policy, a client may not', () => {
    it('a created and a registered object carry the server lease (3600 s by default), which Obtain Lease grants', async () => {
      for (const made of [v1Create(128), v1Register(symmetric, 'SymmetricKey')]) {
        const id = idOf((await send('1.4', made))[0]);
        const [attrs] = await send('1.4', onId('GetAttributes', id, '<AttributeName type="TextString" value="Lease Time"/>'));
        expect(v1Value(attrs?.payload, 'Lease Time')).to.deep.include({ type: 'Interval', value: 3600 });
        const [lease] = await send('1.4', onId('ObtainLease', id));
        expect(findValue(lease?.payload, Tag.LeaseTime)).to.deep.include({ value: 3600 });
      }
    });

    it('the lease is a limit of the service: another value, or 0 (no expiry), is what new objects get', async () => {
      const other = await openTestService({ limits: { leaseTimeSeconds: 0 } });
      try {
        const id = idOf(results(await other.send(request('2.1', v2Create(128))))[0]);
        const [lease] = results(await other.send(request('2.1', onId('ObtainLease', id))));
        expect(findValue(lease?.payload, Tag.LeaseTime)).to.deep.include({ value: 0 });
      } finally {
        await other.close();
      }
    });

    it('a client giving a Lease Time is refused: Read Only Attribute', async () => {
      const [refused] = await send('2.1', v2Create(128, '<LeaseTime type="Interval" value="60"/>'));
      expect(refused?.reason).to.equal('ReadOnlyAttribute');
    });
  });

  describe('4.46 Random Number Generator: the generator of material the server made', () => {
    it('Create and Re-key record the server generator (CTR_DRBG, AES-256), never copied from the old key', async () => {
      const id = idOf((await send('2.1', v2Create(192)))[0]);
      const [attrs] = await send('2.1', onId('GetAttributes', id, '<AttributeReference type="Enumeration" value="RandomNumberGenerator"/>'));
      const rng = findValue(attrs?.payload, Tag.RandomNumberGenerator);
      expect(findValue(rng, Tag.RNGAlgorithm)).to.deep.include({ value: Enum.RNGAlgorithm.DRBG });
      expect(findValue(rng, Tag.DRBGAlgorithm)).to.deep.include({ value: Enum.DRBGAlgorithm.CTR });
      expect(findValue(rng, Tag.CryptographicLength)).to.deep.include({ value: 256 });
      const replacement = idOf((await send('2.1', onId('ReKey', id)))[0]);
      const [again] = await send('2.1', onId('GetAttributes', replacement, '<AttributeReference type="Enumeration" value="RandomNumberGenerator"/>'));
      expect(findAll(again?.payload, Tag.RandomNumberGenerator)).to.have.length(1);
    });

    it('a registered object has the generator its client names, or none', async () => {
      const none = idOf((await send('2.1', v2Register(symmetric, 'SymmetricKey')))[0]);
      const [without] = await send('2.1', onId('GetAttributes', none, '<AttributeReference type="Enumeration" value="RandomNumberGenerator"/>'));
      expect(v2Attributes(without?.payload)).to.deep.equal([]);
      const named = idOf((await send('2.1', v2Register(symmetric, 'SymmetricKey', `<RandomNumberGenerator>${ANSI_X9_31}</RandomNumberGenerator>`)))[0]);
      const [withIt] = await send('2.1', onId('GetAttributes', named, '<AttributeReference type="Enumeration" value="RandomNumberGenerator"/>'));
      expect(findValue(withIt?.payload, Tag.RNGAlgorithm)).to.deep.include({ value: Enum.RNGAlgorithm.ANSIX9_31 });
    });

    it('a Create that names a generator the server does not use fails; one it uses, or Unspecified, succeeds', async () => {
      const [refused] = await send('2.1', v2Create(128, `<RandomNumberGenerator>${ANSI_X9_31}</RandomNumberGenerator>`));
      expect(refused?.status).to.equal('OperationFailed');
      expect(refused?.reason).to.equal('FeatureNotSupported');
      const drbg = '<RNGAlgorithm type="Enumeration" value="DRBG"/><DRBGAlgorithm type="Enumeration" value="CTR"/>';
      expect((await send('2.1', v2Create(128, `<RandomNumberGenerator>${drbg}</RandomNumberGenerator>`)))[0]?.status).to.equal('Success');
      expect((await send('2.1', v2Create(128, '<RandomNumberGenerator><RNGAlgorithm type="Enumeration" value="Unspecified"/></RandomNumberGenerator>')))[0]?.status).to.equal('Success');
    });
  });

  describe('4.56 Short Unique Identifier and 4.44 Protection Storage Mask (KMIP 2.x)', () => {
    it('the Short Unique Identifier is the SHA-256 of the Unique Identifier; the Protection Storage Mask says Software', async () => {
      const id = idOf((await send('2.1', v2Register(symmetric, 'SymmetricKey')))[0]);
      const [attrs] = await send('2.1', onId('GetAttributes', id));
      const short = findValue(attrs?.payload, Tag.ShortUniqueIdentifier);
      expect(short?.type === 'ByteString' ? Buffer.from(short.value).toString('hex') : '').to.equal(createHash('sha256').update(id).digest('hex'));
      expect(findValue(attrs?.payload, Tag.ProtectionStorageMask)).to.deep.include({ value: 1 });
    });

    it('neither is shown to a KMIP 1.x client, which has no such attributes', async () => {
      const id = idOf((await send('2.1', v2Register(symmetric, 'SymmetricKey')))[0]);
      const [list] = await send('1.4', onId('GetAttributeList', id));
      const names = findAll(list?.payload, Tag.AttributeName).map((n) => textOf(n));
      expect(names).to.include('Lease Time');
      expect(names).not.to.include('Short Unique Identifier');
      expect(names).not.to.include('Protection Storage Mask');
    });

    it('7.33: a Create whose Protection Storage Masks the server cannot meet fails with Protection Storage Unavailable', async () => {
      const masks = (...values: string[]): string => `<ProtectionStorageMasks>${values.map((v) => `<ProtectionStorageMask type="Integer" value="${v}"/>`).join('')}</ProtectionStorageMasks>`;
      const [refused] = await send('2.1', v2Create(128, '', masks('Hardware')));
      expect(refused?.reason).to.equal('ProtectionStorageUnavailable');
      expect((await send('2.1', v2Create(128, '', masks('Hardware', 'Software'))))[0]?.status).to.equal('Success');
    });
  });

  describe('4.6, 4.22, 4.61-4.63: the attributes of a registered X.509 certificate', () => {
    let certificateHex: string;
    before(async () => {
      const crypto = webcrypto as unknown as NonNullable<Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[1]>;
      const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
      const keys = await webcrypto.subtle.generateKey(algorithm, false, ['sign', 'verify']);
      const certificate = await x509.X509CertificateGenerator.createSelfSigned(
        {
          serialNumber: '0a1b2c',
          name: 'CN=array-01, O=Storage, OU=Keys, C=US',
          notBefore: new Date(Date.UTC(2024, 0, 1)),
          notAfter: new Date(Date.UTC(2034, 0, 1)),
          signingAlgorithm: algorithm,
          keys,
          extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: 'array-01.example' }])],
        },
        crypto,
      );
      certificateHex = Buffer.from(certificate.rawData).toString('hex');
    });
    const certificate = (): string => `<Certificate><CertificateType type="Enumeration" value="X_509"/><CertificateValue type="ByteString" value="${certificateHex}"/></Certificate>`;

    it('2.x: the subject and issuer name fields, the identifier, the Digital Signature Algorithm, the length', async () => {
      const id = idOf((await send('2.1', v2Register(certificate(), 'Certificate')))[0]);
      const [attrs] = await send('2.1', onId('GetAttributes', id));
      const items = v2Attributes(attrs?.payload);
      const texts = (tag: number): string[] => items.filter((i) => i.tag === tag).map((i) => textOf(i));
      expect(texts(Tag.CertificateSubjectCN)).to.deep.equal(['array-01']);
      expect(texts(Tag.CertificateSubjectO)).to.deep.equal(['Storage']);
      expect(texts(Tag.CertificateIssuerC)).to.deep.equal(['US']);
      expect(findValue(attrs?.payload, Tag.DigitalSignatureAlgorithm)).to.deep.include({ value: Enum.DigitalSignatureAlgorithm.ECDSAWithSHA256 });
      expect(findValue(attrs?.payload, Tag.CertificateLength)).to.deep.include({ value: certificateHex.length / 2 });
      const serial = findValue(findValue(attrs?.payload, Tag.X_509CertificateIdentifier), Tag.CertificateSerialNumber);
      expect(serial?.type === 'ByteString' ? Buffer.from(serial.value).toString('hex') : '').to.equal('0a1b2c');
      expect(findAll(findValue(attrs?.payload, Tag.X_509CertificateSubject), Tag.SubjectAlternativeName)).to.have.length(1);
    });

    it('1.0: the text Certificate Subject and Identifier', async () => {
      const id = idOf((await send('1.0', v1Register(certificate(), 'Certificate')))[0]);
      const [attrs] = await send('1.0', onId('GetAttributes', id));
      expect(textOf(findValue(v1Value(attrs?.payload, 'Certificate Subject'), Tag.CertificateSubjectDistinguishedName))).to.contain('CN=array-01');
      expect(textOf(findValue(v1Value(attrs?.payload, 'Certificate Identifier'), Tag.SerialNumber))).to.equal('0a1b2c');
      expect(v1Value(attrs?.payload, 'Certificate Subject CN')).to.equal(undefined);
    });

    it('the certificate attributes are read-only: Modify Attribute of Certificate Length is refused', async () => {
      const id = idOf((await send('2.1', v2Register(certificate(), 'Certificate')))[0]);
      const [refused] = await send('2.1', onId('ModifyAttribute', id, '<NewAttribute><CertificateLength type="Integer" value="123"/></NewAttribute>'));
      expect(refused?.reason).to.equal('AttributeReadOnly');
    });
  });

  describe('4.45 Quantum Safe: an object marked so must be able to resist a quantum computer', () => {
    const quantumSafe = '<ProtectionLevel type="Enumeration" value="High"/><ProtectionPeriod type="Interval" value="409968000"/><QuantumSafe type="Boolean" value="true"/>';

    it('a 128-bit AES key is not (Grover halves it): Create fails; a 256-bit one is', async () => {
      const [refused] = await send('2.1', v2Create(128, quantumSafe));
      expect(refused?.status).to.equal('OperationFailed');
      expect(refused?.reason).to.equal('InvalidAttributeValue');
      expect((await send('2.1', v2Create(256, quantumSafe)))[0]?.status).to.equal('Success');
    });

    it('an existing 128-bit key cannot be marked Quantum Safe afterwards', async () => {
      const id = idOf((await send('2.1', v2Create(128)))[0]);
      const [refused] = await send('2.1', onId('AddAttribute', id, '<NewAttribute><QuantumSafe type="Boolean" value="true"/></NewAttribute>'));
      expect(refused?.reason).to.equal('InvalidAttributeValue');
    });
  });
});
