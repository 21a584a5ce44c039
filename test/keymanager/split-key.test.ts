/**
 * Create Split Key and Join Split Key (KMIP 2.1 sections 6.1.10 and 6.1.27, 1.4 sections
 * 4.38 and 4.39), and the secret sharing under them (2.1 section 13.1): any threshold of
 * parts rebuilds the key, fewer cannot, and the parts carry their split fields and links.
 */
import { expect } from 'chai';
import { Enum, Tag } from '../../ttlv/index.js';
import type { TtlvItem } from '../../ttlv/index.js';
import { gf16Inv, gf16Mul, gfInv, gfMul, joinSecret, splitSecret } from '../../lib/crypto/shamir.js';
import type { SplitSpec } from '../../lib/crypto/shamir.js';
import { findAll, findValue, openTestService, request, results, textOf } from '../support/service.js';
import type { ItemResult, TestService } from '../support/service.js';

const KEY = '603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4';
/** 2^521 - 1, a Mersenne prime, as the XML encoding's 8-byte-multiple two's complement hex. */
const P521 = `${'00'.repeat(6)}01${'ff'.repeat(65)}`;
const iso = (offsetSeconds: number): string => new Date(Date.now() + offsetSeconds * 1000).toISOString().replace(/\.\d+Z$/, '+00:00');

function registerKey(extractable = true): string {
  return `<Operation type="Enumeration" value="Register"/><RequestPayload><ObjectType type="Enumeration" value="SymmetricKey"/>
    <Attributes><CryptographicUsageMask type="Integer" value="Encrypt Decrypt"/><ActivationDate type="DateTime" value="${iso(-60)}"/>
    <Extractable type="Boolean" value="${extractable}"/></Attributes>
    <SymmetricKey><KeyBlock><KeyFormatType type="Enumeration" value="Raw"/><KeyValue><KeyMaterial type="ByteString" value="${KEY}"/></KeyValue>
    <CryptographicAlgorithm type="Enumeration" value="AES"/><CryptographicLength type="Integer" value="256"/></KeyBlock></SymmetricKey></RequestPayload>`;
}

interface SplitArgs {
  id?: string;
  parts: number;
  threshold: number;
  method: string;
  prime?: string;
  objectType?: string;
}

function createSplit(a: SplitArgs, v1 = false): string {
  const attributes = v1
    ? `<TemplateAttribute><Attribute><AttributeName type="TextString" value="Cryptographic Algorithm"/><AttributeValue type="Enumeration" value="AES"/></Attribute>
       <Attribute><AttributeName type="TextString" value="Cryptographic Length"/><AttributeValue type="Integer" value="128"/></Attribute></TemplateAttribute>`
    : '<Attributes><CryptographicAlgorithm type="Enumeration" value="AES"/><CryptographicLength type="Integer" value="128"/></Attributes>';
  return `<Operation type="Enumeration" value="CreateSplitKey"/><RequestPayload>
    <ObjectType type="Enumeration" value="${a.objectType ?? 'SymmetricKey'}"/>
    ${a.id === undefined ? '' : `<UniqueIdentifier type="TextString" value="${a.id}"/>`}
    <SplitKeyParts type="Integer" value="${a.parts}"/><SplitKeyThreshold type="Integer" value="${a.threshold}"/>
    <SplitKeyMethod type="Enumeration" value="${a.method}"/>
    ${a.prime === undefined ? '' : `<PrimeFieldSize type="BigInteger" value="${a.prime}"/>`}
    ${attributes}</RequestPayload>`;
}

const join = (ids: readonly string[], objectType = 'SymmetricKey'): string =>
  `<Operation type="Enumeration" value="JoinSplitKey"/><RequestPayload><ObjectType type="Enumeration" value="${objectType}"/>
   ${ids.map((id) => `<UniqueIdentifier type="TextString" value="${id}"/>`).join('')}</RequestPayload>`;
const get = (id?: string): string =>
  `<Operation type="Enumeration" value="Get"/><RequestPayload>${id === undefined ? '' : `<UniqueIdentifier type="TextString" value="${id}"/>`}</RequestPayload>`;
const getLinks = (id: string): string =>
  `<Operation type="Enumeration" value="GetAttributes"/><RequestPayload><UniqueIdentifier type="TextString" value="${id}"/><AttributeName type="TextString" value="Link"/></RequestPayload>`;

/** Every subset of `items` with `size` members. */
function subsets<T>(items: readonly T[], size: number): T[][] {
  if (size === 0) return [[]];
  return items.flatMap((item, i) => subsets(items.slice(i + 1), size - 1).map((rest) => [item, ...rest]));
}

describe('Create Split Key and Join Split Key (2.1 sections 6.1.10, 6.1.27)', () => {
  let kms: TestService;
  before(async () => {
    kms = await openTestService();
  });
  after(async () => {
    await kms.close();
  });
  const send = async (version: string, ...items: string[]): Promise<ItemResult[]> => results(await kms.send(request(version, ...items)));
  const ok = async (version: string, item: string): Promise<ItemResult> => {
    const [r] = await send(version, item);
    expect(r?.status, r?.message).to.equal('Success');
    if (r === undefined) throw new Error('no batch item');
    return r;
  };
  const ids = (r: ItemResult): string[] => findAll(r.payload, Tag.UniqueIdentifier).map(textOf);
  const materialOf = async (id: string): Promise<string> => {
    const m = findValue((await ok('2.1', get(id))).payload, Tag.KeyMaterial);
    return m?.type === 'ByteString' ? Buffer.from(m.value).toString('hex') : '';
  };
  const intOf = (item: TtlvItem | undefined): number => (item?.type === 'Integer' || item?.type === 'Enumeration' ? item.value : -1);
  const links = async (id: string): Promise<{ type: number; id: string }[]> =>
    findAll((await ok('2.1', getLinks(id))).payload, Tag.Link).map((l) => ({ type: intOf(findValue(l, Tag.LinkType)), id: textOf(findValue(l, Tag.LinkedObjectIdentifier)) }));
  const splitHeld = async (method: string, parts: number, threshold: number, prime?: string): Promise<{ key: string; parts: string[] }> => {
    const key = ids(await ok('2.1', registerKey()))[0] ?? '';
    return { key, parts: ids(await ok('2.1', createSplit({ id: key, parts, threshold, method, ...(prime === undefined ? {} : { prime }) }))) };
  };

  it('Shamir over GF(2^8), 3 of 5: every subset of 3, 4 or 5 parts rebuilds the key; 2 parts are refused', async () => {
    const { parts } = await splitHeld('PolynomialSharingGF2_8', 5, 3);
    expect(parts).to.have.length(5);
    for (const size of [3, 4, 5]) {
      for (const subset of subsets(parts, size)) {
        const joined = ids(await ok('2.1', join(subset)))[0] ?? '';
        expect(await materialOf(joined), `parts ${subset.join(',')}`).to.equal(KEY);
      }
    }
    for (const pair of subsets(parts, 2)) {
      const [r] = await send('2.1', join(pair));
      expect(r?.reason).to.equal('InvalidField');
      expect(r?.message).to.match(/at least Split Key Threshold \(3\) parts, not 2/);
    }
  });

  it('each part is a Split Key holding its split fields, one share of the key\'s length, and the key\'s algorithm', async () => {
    const { parts } = await splitHeld('PolynomialSharingGF2_8', 4, 2);
    const shares = new Set<string>();
    for (const [i, id] of parts.entries()) {
      const r = await ok('2.1', get(id));
      expect(findValue(r.payload, Tag.ObjectType)).to.deep.include({ value: Enum.ObjectType.SplitKey });
      expect(intOf(findValue(r.payload, Tag.SplitKeyParts))).to.equal(4);
      expect(intOf(findValue(r.payload, Tag.SplitKeyThreshold))).to.equal(2);
      expect(intOf(findValue(r.payload, Tag.KeyPartIdentifier))).to.equal(i + 1);
      expect(intOf(findValue(r.payload, Tag.SplitKeyMethod))).to.equal(Enum.SplitKeyMethod.PolynomialSharingGF2_8);
      expect(intOf(findValue(r.payload, Tag.CryptographicAlgorithm))).to.equal(Enum.CryptographicAlgorithm.AES);
      const share = await materialOf(id);
      expect(share).to.have.length(64).and.not.equal(KEY);
      shares.add(share);
    }
    expect(shares.size).to.equal(4);
  });

  it('links: parts point to the split key (Parent) and to each other (Previous / Next); the key to every part (Child)', async () => {
    const { key, parts } = await splitHeld('XOR', 3, 3);
    const [p1, p2, p3] = parts as [string, string, string];
    const L = Enum.LinkType;
    expect(await links(key)).to.deep.include.members(parts.map((id) => ({ type: L.ChildLink, id })));
    expect(await links(p1)).to.have.deep.members([{ type: L.ParentLink, id: key }, { type: L.NextLink, id: p2 }]);
    expect(await links(p2)).to.have.deep.members([{ type: L.ParentLink, id: key }, { type: L.PreviousLink, id: p1 }, { type: L.NextLink, id: p3 }]);
    expect(await links(p3)).to.have.deep.members([{ type: L.ParentLink, id: key }, { type: L.PreviousLink, id: p2 }]);
  });

  it('XOR needs every part: the threshold must equal the parts, and all of them join', async () => {
    const { parts } = await splitHeld('XOR', 3, 3);
    expect(await materialOf(ids(await ok('2.1', join(parts)))[0] ?? '')).to.equal(KEY);
    const [short] = await send('2.1', join(parts.slice(0, 2)));
    expect(short?.reason).to.equal('InvalidField');
    const [r] = await send('2.1', createSplit({ parts: 3, threshold: 2, method: 'XOR' }));
    expect(r?.reason).to.equal('InvalidField');
    expect(r?.message).to.match(/Threshold must equal Split Key Parts/);
  });

  it('GF(2^16) and a prime field (2^521 - 1) rebuild the key from any threshold subset', async () => {
    for (const [method, prime] of [['PolynomialSharingGF2_16', undefined], ['PolynomialSharingPrimeField', P521]] as const) {
      const { parts } = await splitHeld(method, 4, 3, prime);
      for (const subset of subsets(parts, 3)) expect(await materialOf(ids(await ok('2.1', join(subset)))[0] ?? ''), method).to.equal(KEY);
    }
  });

  it('a prime field needs a Prime Field Size that is prime and larger than 2^L', async () => {
    const key = ids(await ok('2.1', registerKey()))[0] ?? '';
    const cases: [string | undefined, RegExp][] = [
      [undefined, /needs a Prime Field Size/],
      [`${'00'.repeat(6)}01${'ff'.repeat(64)}fd`, /not a prime/],
      // 2^127 - 1 is prime, but smaller than a 256-bit key.
      [`7fffffffffffffffffffffffffffffff`, /larger than 2\^256/],
    ];
    for (const [prime, message] of cases) {
      const [r] = await send('2.1', createSplit({ id: key, parts: 3, threshold: 2, method: 'PolynomialSharingPrimeField', ...(prime === undefined ? {} : { prime }) }));
      expect(r?.reason, r?.message).to.equal('InvalidField');
      expect(r?.message).to.match(message);
    }
  });

  it('a new key in KMIP 1.4 (Template-Attribute): the ID Placeholder is part 1, and the join gives a 128-bit AES key', async () => {
    const [created, first] = await send('1.4', createSplit({ parts: 3, threshold: 2, method: 'PolynomialSharingGF2_8' }, true), get());
    expect(created?.status, created?.message).to.equal('Success');
    const parts = ids(created as ItemResult);
    expect(textOf(findValue(first?.payload, Tag.UniqueIdentifier))).to.equal(parts[0]);
    const a = await materialOf(ids(await ok('1.4', join([parts[0] ?? '', parts[2] ?? ''])))[0] ?? '');
    const b = await materialOf(ids(await ok('1.4', join([parts[1] ?? '', parts[2] ?? ''])))[0] ?? '');
    expect(a).to.have.length(32).and.equal(b);
  });

  it('refuses what it must: a non-extractable key, counts out of range, parts of different splits, other object types, KMIP 1.1', async () => {
    const sealed = ids(await ok('2.1', registerKey(false)))[0] ?? '';
    const [notExtractable] = await send('2.1', createSplit({ id: sealed, parts: 3, threshold: 2, method: 'XOR' }));
    expect(notExtractable?.reason).to.equal('PermissionDenied');
    for (const [parts, threshold] of [[1, 1], [3, 1], [3, 4], [256, 2]]) {
      const [r] = await send('2.1', createSplit({ parts: parts ?? 0, threshold: threshold ?? 0, method: 'PolynomialSharingGF2_8' }));
      expect(r?.reason, `${parts}/${threshold}`).to.equal('InvalidField');
    }
    const a = await splitHeld('PolynomialSharingGF2_8', 3, 2);
    const b = await splitHeld('PolynomialSharingGF2_8', 4, 2);
    const [mixed] = await send('2.1', join([a.parts[0] ?? '', b.parts[1] ?? '']));
    expect(mixed?.reason).to.equal('InvalidField');
    const [notPart] = await send('2.1', join([a.key, a.parts[0] ?? '']));
    expect(notPart?.reason).to.equal('InvalidObjectType');
    const [wrongType] = await send('2.1', join(a.parts, 'PrivateKey'));
    expect(wrongType?.reason).to.equal('InvalidObjectType');
    const [old] = await send('1.1', createSplit({ parts: 3, threshold: 2, method: 'XOR' }, true));
    expect(old?.reason).to.equal('OperationNotSupported');
  });
});

describe('secret sharing fields (2.1 section 13.1)', () => {
  it('GF(2^8) is the AES field: {57}·{83} = {c1} (FIPS 197 section 4.2), and every non-zero element has an inverse', () => {
    expect(gfMul(0x57, 0x83)).to.equal(0xc1);
    for (let a = 1; a < 256; a++) expect(gfMul(a, gfInv(a))).to.equal(1);
  });

  it('y^2 + y + {3A} has no root in GF(2^8), so GF(2^16) is a field; every non-zero element has an inverse', () => {
    for (let t = 0; t < 256; t++) expect(gfMul(t, t) ^ t).to.not.equal(0x3a);
    for (let a = 1; a < 65536; a++) {
      if (gf16Mul(a, gf16Inv(a)) !== 1) expect.fail(`no inverse for ${a}`);
    }
  });

  it('fewer than threshold shares say nothing: with the missing share chosen freely, every secret byte value is possible', () => {
    const spec: SplitSpec = { method: 'gf256', parts: 3, threshold: 3 };
    const shares = splitSecret(spec, Buffer.from([0x42]));
    const [s1, s2] = shares;
    const reachable = new Set<number>();
    for (let guess = 0; guess < 256; guess++) {
      reachable.add(joinSecret(spec, [s1 as { id: number; bytes: Buffer }, s2 as { id: number; bytes: Buffer }, { id: 3, bytes: Buffer.from([guess]) }], 1).readUInt8(0));
    }
    expect(reachable.size).to.equal(256);
  });
});
