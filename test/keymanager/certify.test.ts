/**
 * Certify and Re-certify (KMIP 2.1 sections 6.1.6 and 6.1.45, 1.4 sections 4.7 and 4.8)
 * through the key manager, with a real issuing CA made as `kmipd init` makes it. Requests
 * come from OpenSSL (`openssl req`), and every certificate kmipd issues is checked by
 * OpenSSL (`openssl verify`, `openssl x509 -text`), which shares no code with kmipd.
 */
import { execFileSync } from 'node:child_process';
import { createPublicKey, X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { ensureIssuingCa, issuingCaPaths } from '../../certs/index.js';
import { Enum, Tag } from '../../ttlv/index.js';
import type { TtlvItem } from '../../ttlv/index.js';
import { findAll, findValue, openTestService, request, results, textOf } from '../support/service.js';
import type { ItemResult, TestService } from '../support/service.js';

const L = Enum.LinkType;
const iso = (offsetSeconds: number): string => new Date(Date.now() + offsetSeconds * 1000).toISOString().replace(/\.\d+Z$/, '+00:00');
const hex = (bytes: Buffer | string): string => Buffer.from(bytes).toString('hex');
const op = (operation: string, id: string | undefined, body: string): string =>
  `<Operation type="Enumeration" value="${operation}"/><RequestPayload>${id === undefined ? '' : `<UniqueIdentifier type="TextString" value="${id}"/>`}${body}</RequestPayload>`;
const v1attr = (name: string, value: string): string => `<Attribute><AttributeName type="TextString" value="${name}"/>${value}</Attribute>`;
const linkXml = (type: string, id: string): string => `<Link><LinkType type="Enumeration" value="${type}"/><LinkedObjectIdentifier type="TextString" value="${id}"/></Link>`;
const nameXml = (value: string): string => `<Name><NameValue type="TextString" value="${value}"/><NameType type="Enumeration" value="UninterpretedTextString"/></Name>`;

describe('Certify and Re-certify: X.509 certificates issued by kmipd (2.1 sections 6.1.6, 6.1.45)', function () {
  this.timeout(60000);
  let kms: TestService;
  let dir: string;
  let caFile: string;
  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'kmipd-certify-'));
    mkdirSync(path.join(dir, 'certs'));
    const issuer = await ensureIssuingCa(path.join(dir, 'certs'));
    caFile = issuingCaPaths(path.join(dir, 'certs')).certificate;
    kms = await openTestService({ issuer });
  });
  after(async () => {
    await kms.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const send = async (version: string, ...items: string[]): Promise<ItemResult[]> => results(await kms.send(request(version, ...items)));
  const ok = (r: ItemResult | undefined): ItemResult => {
    expect(r?.status, `${r?.reason ?? ''} ${r?.message ?? ''}`).to.equal('Success');
    return r as ItemResult;
  };
  const idOf = (r: ItemResult | undefined): string => textOf(findValue(ok(r).payload, Tag.UniqueIdentifier));
  const file = (name: string, content?: Buffer | string): string => {
    const p = path.join(dir, name);
    if (content !== undefined) writeFileSync(p, content);
    return p;
  };
  /** A PKCS#10 request from OpenSSL: DER, with its key file. */
  const opensslCsr = (name: string, subject: string, keyArgs: string[], extra: string[] = []): { der: Buffer; key: string } => {
    const key = file(`${name}-key.pem`);
    const out = file(`${name}.csr.der`);
    execFileSync('openssl', ['req', '-new', ...keyArgs, '-nodes', '-keyout', key, '-subj', subject, ...extra, '-outform', 'DER', '-out', out], { stdio: 'pipe' });
    return { der: readFileSync(out), key };
  };
  const certificateOf = async (version: string, id: string): Promise<Buffer> => {
    const [got] = await send(version, op('Get', id, ''));
    const value = findValue(ok(got).payload, Tag.CertificateValue);
    return value?.type === 'ByteString' ? Buffer.from(value.value) : Buffer.alloc(0);
  };
  /** OpenSSL's verdict on a certificate against a CA file: "OK" or its error. */
  const opensslVerify = (der: Buffer, ca: string): string => {
    const pem = file('check.pem', new X509Certificate(der).toString());
    try {
      return execFileSync('openssl', ['verify', '-CAfile', ca, pem], { stdio: 'pipe' }).toString().trim();
    } catch (error) {
      return String((error as { stdout?: Buffer }).stdout ?? error);
    }
  };
  const opensslText = (der: Buffer): string => execFileSync('openssl', ['x509', '-inform', 'DER', '-noout', '-text'], { input: der }).toString();
  const attributesOf = async (version: string, id: string): Promise<TtlvItem | undefined> => ok((await send(version, op('GetAttributes', id, '')))[0]).payload;
  const linksOf = (payload: TtlvItem | undefined): [number | undefined, string][] =>
    findAll(payload, Tag.Link)
      .concat(findAll(payload, Tag.AttributeValue).filter((v) => findValue(v, Tag.LinkType) !== undefined))
      .map((l) => {
        const type = findValue(l, Tag.LinkType);
        return [type?.type === 'Enumeration' ? type.value : undefined, textOf(findValue(l, Tag.LinkedObjectIdentifier))];
      });
  const certifyCsr21 = (der: Buffer, type = 'PKCS_10', attributes = '', id?: string): string =>
    op('Certify', id, `<CertificateRequestType type="Enumeration" value="${type}"/><CertificateRequestValue type="ByteString" value="${hex(der)}"/><Attributes>${attributes}</Attributes>`);

  describe('Certify from a PKCS#10 Certificate Request', () => {
    let certId: string;
    let der: Buffer;
    let csrKey: string;
    before(async () => {
      const csr = opensslCsr('db1', '/C=FR/O=Example/CN=db1.example', ['-newkey', 'rsa:2048'], ['-addext', 'subjectAltName=DNS:db1.example,IP:192.0.2.7']);
      csrKey = csr.key;
      certId = idOf((await send('2.1', certifyCsr21(csr.der, 'PKCS_10', nameXml('db1-certificate'))))[0]);
      der = await certificateOf('2.1', certId);
    });

    it('issues a certificate OpenSSL verifies against the issuing CA, for the key, subject and SANs of the request', () => {
      expect(opensslVerify(der, caFile)).to.match(/: OK$/);
      const cert = new X509Certificate(der);
      expect(cert.subject).to.equal('C=FR\nO=Example\nCN=db1.example');
      expect(cert.subjectAltName).to.equal('DNS:db1.example, IP Address:192.0.2.7');
      expect(cert.publicKey.equals(createPublicKey(readFileSync(csrKey)))).to.equal(true);
      expect(cert.issuer).to.equal(new X509Certificate(readFileSync(caFile)).subject);
      const textForm = opensslText(der);
      expect(textForm).to.match(/CA:FALSE/);
      expect(textForm).to.match(/Digital Signature, Key Encipherment/);
    });

    it('the certificate attributes: type, length, X.509 subject / issuer / identifier, signature algorithm, and the algorithm and length of its key', async () => {
      const attrs = await attributesOf('2.1', certId);
      expect(findValue(attrs, Tag.CertificateType)).to.deep.include({ value: Enum.CertificateType.X_509 });
      expect(findValue(attrs, Tag.CertificateLength)).to.deep.include({ value: der.length });
      expect(findValue(attrs, Tag.DigitalSignatureAlgorithm)).to.deep.include({ value: Enum.DigitalSignatureAlgorithm.SHA_256WithRSAEncryption });
      expect(findValue(attrs, Tag.CryptographicAlgorithm)).to.deep.include({ value: Enum.CryptographicAlgorithm.RSA });
      expect(findValue(attrs, Tag.CryptographicLength)).to.deep.include({ value: 2048 });
      expect(textOf(findValue(attrs, Tag.CertificateSubjectCN))).to.equal('db1.example');
      const serial = findValue(findValue(attrs, Tag.X_509CertificateIdentifier), Tag.CertificateSerialNumber);
      expect(serial?.type === 'ByteString' ? hex(Buffer.from(serial.value)).toUpperCase() : '').to.equal(new X509Certificate(der).serialNumber);
      expect(findValue(attrs, Tag.State)).to.deep.include({ value: Enum.State.Active });
    });

    it('the request\'s public key is stored as a Public Key, linked to and from the certificate', async () => {
      const certLinks = linksOf(await attributesOf('2.1', certId));
      const publicId = certLinks.find(([type]) => type === L.PublicKeyLink)?.[1];
      expect(publicId).to.be.a('string');
      expect(linksOf(await attributesOf('2.1', publicId ?? ''))).to.deep.include([L.CertificateLink, certId]);
      const [key] = await send('2.1', op('Get', publicId, ''));
      const material = findValue(ok(key).payload, Tag.KeyMaterial);
      const spki = material?.type === 'ByteString' ? Buffer.from(material.value) : Buffer.alloc(0);
      expect(createPublicKey({ key: spki, format: 'der', type: 'spki' }).equals(createPublicKey(readFileSync(csrKey)))).to.equal(true);
    });

    it('the ID Placeholder is the certificate: Certify then Get in one batch', async () => {
      const csr = opensslCsr('batch', '/CN=batch.example', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256']);
      const [certified, got] = await send('2.1', certifyCsr21(csr.der), op('Get', undefined, ''));
      expect(textOf(findValue(ok(got).payload, Tag.UniqueIdentifier))).to.equal(idOf(certified));
      const value = findValue(got?.payload, Tag.CertificateValue);
      const cert = new X509Certificate(value?.type === 'ByteString' ? Buffer.from(value.value) : Buffer.alloc(0));
      expect(cert.subject).to.equal('CN=batch.example');
      expect(cert.publicKey.asymmetricKeyDetails?.namedCurve).to.equal('prime256v1');
    });
  });

  it('1.4: a PEM request in a Template-Attribute; the Cryptographic Usage Mask and Activation / Deactivation Dates make the key usage and validity', async () => {
    const csr = opensslCsr('pem', '/CN=backup.example', ['-newkey', 'rsa:2048']);
    const pem = `-----BEGIN CERTIFICATE REQUEST-----\n${csr.der.toString('base64').replace(/(.{64})/g, '$1\n')}\n-----END CERTIFICATE REQUEST-----\n`;
    const notBefore = iso(-60);
    const notAfter = iso(30 * 86400);
    const [certified] = await send(
      '1.4',
      op(
        'Certify',
        undefined,
        `<CertificateRequestType type="Enumeration" value="PEM"/><CertificateRequest type="ByteString" value="${hex(pem)}"/>
         <TemplateAttribute>
           ${v1attr('Cryptographic Usage Mask', '<AttributeValue type="Integer" value="Sign Verify ContentCommitmentNonRepudiation"/>')}
           ${v1attr('Activation Date', `<AttributeValue type="DateTime" value="${notBefore}"/>`)}
           ${v1attr('Deactivation Date', `<AttributeValue type="DateTime" value="${notAfter}"/>`)}
         </TemplateAttribute>`,
      ),
    );
    const der = await certificateOf('1.4', idOf(certified));
    expect(opensslVerify(der, caFile)).to.match(/: OK$/);
    const cert = new X509Certificate(der);
    expect(new Date(cert.validFrom).getTime()).to.equal(Date.parse(notBefore));
    expect(new Date(cert.validTo).getTime()).to.equal(Date.parse(notAfter));
    expect(opensslText(der)).to.match(/Digital Signature, Non Repudiation\n/);
  });

  it('a request whose self-signature does not verify is refused: Invalid CSR (2.1)', async () => {
    const csr = opensslCsr('tampered', '/CN=tampered.example', ['-newkey', 'rsa:2048']);
    const at = csr.der.indexOf(Buffer.from('tampered.example'));
    const tampered = Buffer.from(csr.der);
    tampered[at] = 0x54; // 't' -> 'T': the signed information changes, the signature does not
    const [refused] = await send('2.1', certifyCsr21(tampered));
    expect(refused?.status).to.equal('OperationFailed');
    expect(refused?.reason).to.equal('InvalidCSR');
    const [garbage] = await send('2.1', certifyCsr21(Buffer.from('not a request')));
    expect(garbage?.reason).to.equal('InvalidCSR');
    const [crmf] = await send('2.1', certifyCsr21(csr.der, 'CRMF'));
    expect(crmf?.reason).to.equal('FeatureNotSupported');
    // KMIP 1.x has no Invalid CSR: the request field is invalid.
    const [v14] = await send('1.4', op('Certify', undefined, `<CertificateRequestType type="Enumeration" value="PKCS_10"/><CertificateRequest type="ByteString" value="${hex(tampered)}"/>`));
    expect(v14?.reason).to.equal('InvalidField');
  });

  it('a validity the issuer cannot give is refused: past the issuing CA\'s own end, or ending before it starts', async () => {
    const csr = opensslCsr('validity', '/CN=validity.example', ['-newkey', 'rsa:2048']);
    const [tooLong] = await send('2.1', certifyCsr21(csr.der, 'PKCS_10', `<DeactivationDate type="DateTime" value="${iso(20 * 365 * 86400)}"/>`));
    expect(tooLong?.reason).to.equal('InvalidField');
    expect(tooLong?.message).to.match(/cannot outlive its issuer/);
    const [backwards] = await send('2.1', certifyCsr21(csr.der, 'PKCS_10', `<ActivationDate type="DateTime" value="${iso(3600)}"/><DeactivationDate type="DateTime" value="${iso(60)}"/>`));
    expect(backwards?.reason).to.equal('InvalidField');
  });

  it('the issuing CA (path length 0) certifies no CA: Certificate Sign in the usage mask is refused', async () => {
    const csr = opensslCsr('subca', '/CN=Sub CA', ['-newkey', 'rsa:2048']);
    const [refused] = await send('2.1', certifyCsr21(csr.der, 'PKCS_10', '<CryptographicUsageMask type="Integer" value="CertificateSign CRLSign"/>'));
    expect(refused?.reason).to.equal('InvalidField');
    expect(refused?.message).to.match(/path length is 0/);
  });

  it('a Certificate Request registered as an object is certified by its Unique Identifier', async () => {
    const csr = opensslCsr('stored', '/CN=stored.example', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384']);
    const requestId = idOf(
      (await send(
        '2.1',
        op(
          'Register',
          undefined,
          `<ObjectType type="Enumeration" value="CertificateRequest"/><Attributes/>
           <CertificateRequest><CertificateRequestType type="Enumeration" value="PKCS_10"/><CertificateRequestValue type="ByteString" value="${hex(csr.der)}"/></CertificateRequest>`,
        ),
      ))[0],
    );
    const der = await certificateOf('2.1', idOf((await send('2.1', op('Certify', requestId, '')))[0]));
    expect(opensslVerify(der, caFile)).to.match(/: OK$/);
    expect(new X509Certificate(der).subject).to.equal('CN=stored.example');
  });

  it('an X25519 key is certified for key agreement only', async () => {
    const [created] = await send(
      '2.1',
      `<Operation type="Enumeration" value="CreateKeyPair"/><RequestPayload><CommonAttributes><CryptographicAlgorithm type="Enumeration" value="ECDH"/>
       <CryptographicDomainParameters><RecommendedCurve type="Enumeration" value="CURVE25519"/></CryptographicDomainParameters></CommonAttributes>
       <PrivateKeyAttributes><CryptographicUsageMask type="Integer" value="KeyAgreement"/></PrivateKeyAttributes><PublicKeyAttributes><CryptographicUsageMask type="Integer" value="KeyAgreement"/></PublicKeyAttributes></RequestPayload>`,
    );
    const publicId = textOf(findValue(ok(created).payload, Tag.PublicKeyUniqueIdentifier));
    const der = await certificateOf('2.1', idOf((await send('2.1', op('Certify', publicId, '<Attributes><CertificateSubjectCN type="TextString" value="x25519.example"/></Attributes>')))[0]));
    expect(opensslVerify(der, caFile)).to.match(/: OK$/);
    expect(new X509Certificate(der).publicKey.asymmetricKeyType).to.equal('x25519');
    expect(opensslText(der)).to.match(/X509v3 Key Usage: critical\n\s+Key Agreement\n/);
  });

  describe('Certify a stored Public Key', () => {
    const createEc = (usage = 'Sign'): string => `
      <Operation type="Enumeration" value="CreateKeyPair"/><RequestPayload>
        <CommonAttributes>
          <CryptographicAlgorithm type="Enumeration" value="EC"/>
          <CryptographicDomainParameters><RecommendedCurve type="Enumeration" value="P_256"/></CryptographicDomainParameters>
        </CommonAttributes>
        <PrivateKeyAttributes><CryptographicUsageMask type="Integer" value="${usage}"/></PrivateKeyAttributes>
        <PublicKeyAttributes><CryptographicUsageMask type="Integer" value="Verify"/></PublicKeyAttributes>
      </RequestPayload>`;
    const pairOf = (r: ItemResult | undefined): { privateId: string; publicId: string } => ({
      privateId: textOf(findValue(ok(r).payload, Tag.PrivateKeyUniqueIdentifier)),
      publicId: textOf(findValue(r?.payload, Tag.PublicKeyUniqueIdentifier)),
    });

    it('2.1: the subject from Certificate Subject CN / O attributes; the key links to the certificate and back', async () => {
      const pair = pairOf((await send('2.1', createEc()))[0]);
      const [certified] = await send(
        '2.1',
        op('Certify', pair.publicId, '<Attributes><CertificateSubjectCN type="TextString" value="array-7"/><CertificateSubjectO type="TextString" value="Storage"/></Attributes>'),
      );
      const certId = idOf(certified);
      const der = await certificateOf('2.1', certId);
      expect(opensslVerify(der, caFile)).to.match(/: OK$/);
      expect(new X509Certificate(der).subject).to.equal('O=Storage\nCN=array-7');
      expect(linksOf(await attributesOf('2.1', certId))).to.deep.include([L.PublicKeyLink, pair.publicId]);
      expect(linksOf(await attributesOf('2.1', pair.publicId))).to.deep.include([L.CertificateLink, certId]);
      expect(findValue(await attributesOf('2.1', certId), Tag.CryptographicAlgorithm)).to.deep.include({ value: Enum.CryptographicAlgorithm.EC });
    });

    it('1.4: the subject and SANs from a Certificate Subject attribute (text); without a subject the request is refused', async () => {
      const [created] = await send(
        '1.4',
        `<Operation type="Enumeration" value="CreateKeyPair"/><RequestPayload><CommonTemplateAttribute>
          ${v1attr('Cryptographic Algorithm', '<AttributeValue type="Enumeration" value="RSA"/>')}
          ${v1attr('Cryptographic Length', '<AttributeValue type="Integer" value="2048"/>')}
          ${v1attr('Cryptographic Usage Mask', '<AttributeValue type="Integer" value="Sign Verify"/>')}
        </CommonTemplateAttribute></RequestPayload>`,
      );
      const publicId = textOf(findValue(ok(created).payload, Tag.PublicKeyUniqueIdentifier));
      const subject = v1attr(
        'Certificate Subject',
        '<AttributeValue><CertificateSubjectDistinguishedName type="TextString" value="CN=hv-3.example, O=Virtualisation"/><CertificateSubjectAlternativeName type="TextString" value="DNS:hv-3.example"/></AttributeValue>',
      );
      const der = await certificateOf('1.4', idOf((await send('1.4', op('Certify', publicId, `<TemplateAttribute>${subject}</TemplateAttribute>`)))[0]));
      const cert = new X509Certificate(der);
      expect(cert.subject).to.equal('CN=hv-3.example\nO=Virtualisation');
      expect(cert.subjectAltName).to.equal('DNS:hv-3.example');
      const [bare] = await send('1.4', op('Certify', publicId, ''));
      expect(bare?.reason).to.equal('InvalidField');
    });

    it('an Ed25519 key: certified, and the certificate says Ed25519', async () => {
      const [created] = await send(
        '2.1',
        `<Operation type="Enumeration" value="CreateKeyPair"/><RequestPayload><CommonAttributes><CryptographicAlgorithm type="Enumeration" value="Ed25519"/></CommonAttributes>
         <PrivateKeyAttributes><CryptographicUsageMask type="Integer" value="Sign"/></PrivateKeyAttributes><PublicKeyAttributes><CryptographicUsageMask type="Integer" value="Verify"/></PublicKeyAttributes></RequestPayload>`,
      );
      const publicId = textOf(findValue(ok(created).payload, Tag.PublicKeyUniqueIdentifier));
      const certId = idOf((await send('2.1', op('Certify', publicId, '<Attributes><CertificateSubjectCN type="TextString" value="ed.example"/></Attributes>')))[0]);
      const der = await certificateOf('2.1', certId);
      expect(opensslVerify(der, caFile)).to.match(/: OK$/);
      expect(new X509Certificate(der).publicKey.asymmetricKeyType).to.equal('ed25519');
      expect(findValue(await attributesOf('2.1', certId), Tag.CryptographicAlgorithm)).to.deep.include({ value: Enum.CryptographicAlgorithm.Ed25519 });
    });

    it('a Certificate Request for another key than the Public Key named is Invalid CSR; a Symmetric Key cannot be certified', async () => {
      const pair = pairOf((await send('2.1', createEc()))[0]);
      const csr = opensslCsr('other', '/CN=other.example', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256']);
      const [mismatch] = await send('2.1', certifyCsr21(csr.der, 'PKCS_10', '', pair.publicId));
      expect(mismatch?.reason).to.equal('InvalidCSR');
      const [created] = await send(
        '2.1',
        op('Create', undefined, '<ObjectType type="Enumeration" value="SymmetricKey"/><Attributes><CryptographicAlgorithm type="Enumeration" value="AES"/><CryptographicLength type="Integer" value="128"/></Attributes>'),
      );
      const [wrongType] = await send('2.1', op('Certify', idOf(created), '<Attributes><CertificateSubjectCN type="TextString" value="x"/></Attributes>'));
      expect(wrongType?.reason).to.equal('InvalidObjectType');
    });
  });

  describe('an issuer stored in kmipd (Certificate Link)', () => {
    let caCertId: string;
    let caKeyId: string;
    let caPem: string;
    before(async () => {
      const key = file('own-ca-key.pem');
      caPem = file('own-ca.pem');
      execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384', '-nodes', '-keyout', key, '-subj', '/CN=Tenant CA', '-days', '30', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-out', caPem], { stdio: 'pipe' });
      const pkcs8 = execFileSync('openssl', ['pkcs8', '-topk8', '-nocrypt', '-in', key, '-outform', 'DER']);
      caKeyId = idOf(
        (await send(
          '2.1',
          op(
            'Register',
            undefined,
            `<ObjectType type="Enumeration" value="PrivateKey"/><Attributes><CryptographicUsageMask type="Integer" value="Sign CertificateSign"/><ActivationDate type="DateTime" value="${iso(-60)}"/></Attributes>
             <PrivateKey><KeyBlock><KeyFormatType type="Enumeration" value="PKCS_8"/><KeyValue><KeyMaterial type="ByteString" value="${hex(pkcs8)}"/></KeyValue><CryptographicAlgorithm type="Enumeration" value="EC"/></KeyBlock></PrivateKey>`,
          ),
        ))[0],
      );
      const caDer = new X509Certificate(readFileSync(caPem)).raw;
      caCertId = idOf(
        (await send(
          '2.1',
          op(
            'Register',
            undefined,
            `<ObjectType type="Enumeration" value="Certificate"/><Attributes>${linkXml('PrivateKeyLink', caKeyId)}</Attributes>
             <Certificate><CertificateType type="Enumeration" value="X_509"/><CertificateValue type="ByteString" value="${hex(caDer)}"/></Certificate>`,
          ),
        ))[0],
      );
    });

    it('signs with the stored CA\'s key (ECDSA P-384 with SHA-384); the certificate links to its issuer', async () => {
      const csr = opensslCsr('tenant', '/CN=tenant-db.example', ['-newkey', 'rsa:2048']);
      const certId = idOf((await send('2.1', certifyCsr21(csr.der, 'PKCS_10', linkXml('CertificateLink', caCertId))))[0]);
      const der = await certificateOf('2.1', certId);
      expect(opensslVerify(der, caPem)).to.match(/: OK$/);
      expect(opensslVerify(der, caFile)).to.not.match(/: OK$/);
      expect(findValue(await attributesOf('2.1', certId), Tag.DigitalSignatureAlgorithm)).to.deep.include({ value: Enum.DigitalSignatureAlgorithm.ECDSAWithSHA384 });
      expect(linksOf(await attributesOf('2.1', certId))).to.deep.include([L.CertificateLink, caCertId]);
    });

    it('refuses when the issuer\'s key is not Active or lacks the usage, or the issuer is no Certificate', async () => {
      const csr = opensslCsr('refused', '/CN=refused.example', ['-newkey', 'rsa:2048']);
      const [revoked] = await send('2.1', op('Revoke', caKeyId, '<RevocationReason><RevocationReasonCode type="Enumeration" value="CessationOfOperation"/></RevocationReason>'));
      ok(revoked);
      const [inactive] = await send('2.1', certifyCsr21(csr.der, 'PKCS_10', linkXml('CertificateLink', caCertId)));
      expect(inactive?.reason).to.equal('WrongKeyLifecycleState');
      const [notCertificate] = await send('2.1', certifyCsr21(csr.der, 'PKCS_10', linkXml('CertificateLink', caKeyId)));
      expect(notCertificate?.reason).to.equal('InvalidObjectType');
      const pkcs8 = execFileSync('openssl', ['genpkey', '-algorithm', 'ed25519', '-outform', 'DER']);
      const verifyOnly = idOf(
        (await send(
          '2.1',
          op(
            'Register',
            undefined,
            `<ObjectType type="Enumeration" value="PrivateKey"/><Attributes><CryptographicUsageMask type="Integer" value="Decrypt"/><ActivationDate type="DateTime" value="${iso(-60)}"/></Attributes>
             <PrivateKey><KeyBlock><KeyFormatType type="Enumeration" value="PKCS_8"/><KeyValue><KeyMaterial type="ByteString" value="${hex(pkcs8)}"/></KeyValue><CryptographicAlgorithm type="Enumeration" value="Ed25519"/></KeyBlock></PrivateKey>`,
          ),
        ))[0],
      );
      const [usage] = await send('2.1', certifyCsr21(csr.der, 'PKCS_10', linkXml('CertificateLink', caCertId) + linkXml('PrivateKeyLink', verifyOnly)));
      expect(usage?.reason).to.equal('IncompatibleCryptographicUsageMask');
    });
  });

  describe('Re-certify', () => {
    it('a new certificate for the same key: names move, Replaced / Replacement links, the key\'s Certificate Link follows, same lifetime', async () => {
      const csr = opensslCsr('renew', '/CN=renew.example', ['-newkey', 'rsa:2048'], ['-addext', 'subjectAltName=DNS:renew.example']);
      const oldId = idOf((await send('2.1', certifyCsr21(csr.der, 'PKCS_10', nameXml('renew-cert'))))[0]);
      const oldDer = await certificateOf('2.1', oldId);
      const publicId = linksOf(await attributesOf('2.1', oldId)).find(([type]) => type === L.PublicKeyLink)?.[1] ?? '';
      const [renewed] = await send('2.1', op('ReCertify', oldId, '<Offset type="Interval" value="0"/>'));
      const newId = idOf(renewed);
      expect(newId).to.not.equal(oldId);
      const newDer = await certificateOf('2.1', newId);
      expect(opensslVerify(newDer, caFile)).to.match(/: OK$/);
      const [oldCert, newCert] = [new X509Certificate(oldDer), new X509Certificate(newDer)];
      expect(newCert.serialNumber).to.not.equal(oldCert.serialNumber);
      expect(newCert.subject).to.equal(oldCert.subject);
      expect(newCert.subjectAltName).to.equal('DNS:renew.example');
      expect(newCert.publicKey.equals(oldCert.publicKey)).to.equal(true);
      const lifetime = (c: X509Certificate): number => Date.parse(c.validTo) - Date.parse(c.validFrom);
      expect(lifetime(newCert)).to.equal(lifetime(oldCert));

      const oldAttrs = await attributesOf('2.1', oldId);
      const newAttrs = await attributesOf('2.1', newId);
      expect(linksOf(oldAttrs)).to.deep.include([L.ReplacementObjectLink, newId]);
      expect(linksOf(newAttrs)).to.deep.include([L.ReplacedObjectLink, oldId]);
      expect(linksOf(newAttrs)).to.deep.include([L.PublicKeyLink, publicId]);
      const keyLinks = linksOf(await attributesOf('2.1', publicId)).filter(([type]) => type === L.CertificateLink);
      expect(keyLinks).to.deep.equal([[L.CertificateLink, newId]]);
      expect(findAll(oldAttrs, Tag.Name)).to.have.length(0);
      expect(textOf(findValue(findValue(newAttrs, Tag.Name), Tag.NameValue))).to.equal('renew-cert');
    });

    it('a Certificate Request for another key is refused; a key is no certificate to renew', async () => {
      const csr = opensslCsr('renew2', '/CN=renew2.example', ['-newkey', 'rsa:2048']);
      const oldId = idOf((await send('2.1', certifyCsr21(csr.der)))[0]);
      const other = opensslCsr('renew3', '/CN=renew3.example', ['-newkey', 'rsa:2048']);
      const [mismatch] = await send('2.1', op('ReCertify', oldId, `<CertificateRequestType type="Enumeration" value="PKCS_10"/><CertificateRequestValue type="ByteString" value="${hex(other.der)}"/>`));
      expect(mismatch?.reason).to.equal('InvalidCSR');
      const publicId = linksOf(await attributesOf('2.1', oldId)).find(([type]) => type === L.PublicKeyLink)?.[1];
      const [wrongType] = await send('2.1', op('ReCertify', publicId, ''));
      expect(wrongType?.reason).to.equal('InvalidObjectType');
    });
  });

  it('a service with no issuing CA answers Feature Not Supported unless the request names an issuer', async () => {
    const bare = await openTestService();
    try {
      const csr = opensslCsr('noca', '/CN=noca.example', ['-newkey', 'rsa:2048']);
      const [refused] = results(await bare.send(request('2.1', certifyCsr21(csr.der))));
      expect(refused?.reason).to.equal('FeatureNotSupported');
    } finally {
      await bare.close();
    }
  });
});
