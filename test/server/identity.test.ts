/** Identity from the client certificate: subject CN, subject DN or SAN email; admins by name. */
import { expect } from 'chai';
import { readFile } from 'node:fs/promises';
import { X509Certificate } from 'node:crypto';
import { identityName, identityResolver, subjectAltNames } from '../../server/identity.js';
import type { CertificateNames } from '../../server/identity.js';
import { initDataDir } from '../../server/datadir.js';
import { pkiFiles, removeDir, tempDir } from './helpers.js';

const named = (subject: Record<string, string | string[]>, subjectaltname?: string): CertificateNames =>
  ({ subject, raw: Buffer.alloc(0), ...(subjectaltname === undefined ? {} : { subjectaltname }) }) as unknown as CertificateNames;

describe('server: client identity from the certificate', function () {
  it('subject-cn: the Common Name names the client, an administrator when listed', function () {
    const resolve = identityResolver({ source: 'subject-cn', admins: ['admin', 'ops'] });
    expect(resolve(named({ CN: 'ops', O: 'Acme' }))).to.deep.equal({ ok: true, identity: { name: 'ops', admin: true } });
    expect(resolve(named({ CN: 'bob' }))).to.deep.equal({ ok: true, identity: { name: 'bob', admin: false } });
  });

  it('subject-cn: a subject with no CN, or with several, yields no identity', function () {
    expect(identityName(named({ O: 'Acme' }), 'subject-cn')).to.deep.equal({ ok: false, reason: 'the certificate subject has no Common Name' });
    expect(identityName(named({ CN: ['admin', 'bob'] }), 'subject-cn')).to.deep.equal({ ok: false, reason: 'the certificate subject has 2 Common Names' });
  });

  it('san-email: the one email address of the Subject Alternative Name, quoted or not', function () {
    expect(identityName(named({ CN: 'x' }, 'DNS:host.example, email:bob@example.com'), 'san-email')).to.deep.equal({ ok: true, name: 'bob@example.com' });
    expect(identityName(named({ CN: 'x' }, 'email:"a,b@example.com", DNS:h'), 'san-email')).to.deep.equal({ ok: true, name: 'a,b@example.com' });
    expect(identityName(named({ CN: 'x' }, 'DNS:h'), 'san-email')).to.deep.include({ ok: false });
    expect(identityName(named({ CN: 'x' }, 'email:a@x, email:b@x'), 'san-email')).to.deep.equal({ ok: false, reason: 'the certificate has 2 email addresses in its Subject Alternative Name' });
  });

  it('reads node:tls subjectaltname text, including JSON-quoted values with commas', function () {
    expect(subjectAltNames('DNS:a, IP Address:127.0.0.1, email:"x, y@z"')).to.deep.equal([
      { type: 'DNS', value: 'a' },
      { type: 'IP Address', value: '127.0.0.1' },
      { type: 'email', value: 'x, y@z' },
    ]);
    expect(subjectAltNames('')).to.deep.equal([]);
  });

  it('subject-dn: the whole subject of a real certificate', async function () {
    const dir = await tempDir('identity');
    try {
      await initDataDir(dir);
      const cert = new X509Certificate(await readFile(pkiFiles(dir).cert));
      const resolve = identityResolver({ source: 'subject-dn', admins: ['CN=admin'] });
      expect(resolve({ subject: { CN: 'admin' }, raw: cert.raw } as unknown as CertificateNames)).to.deep.equal({ ok: true, identity: { name: 'CN=admin', admin: true } });
    } finally {
      await removeDir(dir);
    }
  });
});
