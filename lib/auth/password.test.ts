/**
 * Password hashes (lib/auth/password.ts): scrypt as RFC 7914 defines it, the PHC string with
 * its parameters, random salts, and stored hashes held to safe bounds.
 */
import { expect } from 'chai';
import { PasswordHashError, formatPasswordHash, hashPassword, parsePasswordHash, verifyPassword } from './password.js';

const b64 = (bytes: Buffer): string => bytes.toString('base64').replace(/=+$/, '');

describe('password hashes (scrypt)', function () {
  this.timeout(20_000);

  it('RFC 7914 section 12, third vector: "pleaseletmein", "SodiumChloride", N=16384, r=8, p=1', async () => {
    const expected = Buffer.from(
      '7023bdcb3afd7348461c06cd81fd38ebfda8fbba904f8e3ea9b543f6545da1f2d5432955613f0fcf62d49705242a9af9e61e85dc0d651e40dfcf017b45575887',
      'hex',
    );
    const stored = `$scrypt$ln=14,r=8,p=1$${b64(Buffer.from('SodiumChloride'))}$${b64(expected)}`;
    expect(await verifyPassword('pleaseletmein', stored)).to.equal(true);
    expect(await verifyPassword('pleaseletmeim', stored)).to.equal(false);
  });

  it('a new hash names its parameters, has a 16-byte random salt, and verifies only its password', async () => {
    const one = await hashPassword('correct horse battery staple');
    const two = await hashPassword('correct horse battery staple');
    expect(one).to.match(/^\$scrypt\$ln=15,r=8,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
    expect(one).to.not.equal(two);
    expect(await verifyPassword('correct horse battery staple', one)).to.equal(true);
    expect(await verifyPassword('correct horse battery stapl', one)).to.equal(false);
    expect(await verifyPassword('', one)).to.equal(false);
  });

  it('a hash made with other parameters keeps verifying (the cost can be raised later)', async () => {
    const cheap = await hashPassword('s3cret-passphrase', { logN: 10, r: 4, p: 2 });
    expect(parsePasswordHash(cheap).params).to.deep.equal({ logN: 10, r: 4, p: 2 });
    expect(await verifyPassword('s3cret-passphrase', cheap)).to.equal(true);
    expect(formatPasswordHash(parsePasswordHash(cheap))).to.equal(cheap);
  });

  it('passwords compare in Unicode NFC: a precomposed and a decomposed "é" are one password', async () => {
    const stored = await hashPassword('caf\u00e9-au-lait', { logN: 10, r: 8, p: 1 });
    expect(await verifyPassword('cafe\u0301-au-lait', stored)).to.equal(true);
  });

  for (const [text, why] of [
    ['$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA', 'another algorithm'],
    ['$scrypt$ln=30,r=8,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA', 'N = 2^30 (a denial of service)'],
    ['$scrypt$ln=22,r=32,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA', 'more than 256 MiB'],
    ['$scrypt$ln=15,r=8$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA', 'a missing parameter'],
    ['$scrypt$ln=15,r=8,p=1$c2E$aGFzaGhhc2hoYXNoaGFzaA', 'a 2-byte salt'],
    ['$scrypt$ln=15,r=8,p=1$c2FsdHNhbHQ$aGFzaA', 'a 4-byte hash'],
    ['$scrypt$ln=15,r=8,p=1$c2FsdHNhbHQ=$aGFzaGhhc2hoYXNoaGFzaA', 'base64 padding'],
  ] as const) {
    it(`a stored hash with ${why} is refused`, () => {
      expect(() => parsePasswordHash(text)).to.throw(PasswordHashError);
    });
  }
});
