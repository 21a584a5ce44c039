import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseSpec, render } from '../../scripts/gen-registry.js';
import {
  ENUMS,
  Enum,
  KMIP_VERSIONS,
  MASKS,
  Mask,
  TAGS,
  Tag,
  definedIn,
  enumForTag,
  enumValueByName,
  enumValueByValue,
  enumValueDefinedIn,
  maskBitByName,
  maskForTag,
  tagByName,
  tagByValue,
} from './index.js';
import type { EnumDef, KmipVersion, TagDef } from './index.js';
import { normalizeName } from './normalize.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');
const ALL: readonly KmipVersion[] = KMIP_VERSIONS;

function versionsOf(def: { versions: number }): KmipVersion[] {
  return ALL.filter((v) => definedIn(def, v));
}

function tag(value: number): TagDef {
  const def = tagByValue(value);
  if (!def) throw new Error(`no tag 0x${value.toString(16)}`);
  return def;
}

function enumOf(tagValue: number): EnumDef {
  const def = enumForTag(tagValue);
  if (!def) throw new Error(`no enumeration for tag 0x${tagValue.toString(16)}`);
  return def;
}

function valueVersions(def: EnumDef, name: string): KmipVersion[] {
  const value = enumValueByName(def, name);
  if (!value) throw new Error(`${def.name} has no ${name}`);
  return versionsOf(value);
}

describe('KMIP registry: tags (1.4 9.1.3.1, 2.1 11.56)', () => {
  it('Activation Date is 0x420001 in every version', () => {
    expect(Tag.ActivationDate).to.equal(0x420001);
    expect(tag(0x420001).name).to.equal('Activation Date');
    expect(versionsOf(tag(0x420001))).to.deep.equal(['1.0', '1.1', '1.2', '1.3', '1.4', '2.0', '2.1']);
  });

  it('Attributes (0x420125) is defined in 2.0 and 2.1 only', () => {
    expect(Tag.Attributes).to.equal(0x420125);
    expect(versionsOf(tag(0x420125))).to.deep.equal(['2.0', '2.1']);
  });

  it('Template-Attribute (0x420091), Template and Attribute Index are not defined in 2.x (Reserved)', () => {
    expect(tagByName('TemplateAttribute')?.value).to.equal(0x420091);
    for (const value of [0x420091, 0x420090, 0x420009, 0x42005d, 0x42001f]) {
      expect(versionsOf(tag(value)), tag(value).name).to.deep.equal(['1.0', '1.1', '1.2', '1.3', '1.4']);
    }
  });

  it('1.0 ends at Password (0x4200A1); 1.1 adds Device Identifier (0x4200A2) to X.509 Certificate Subject (0x4200B7)', () => {
    expect(versionsOf(tag(0x4200a1))[0]).to.equal('1.0');
    expect(versionsOf(tag(0x4200a2))[0]).to.equal('1.1');
    expect(tag(0x4200b7).xmlName).to.equal('X_509CertificateSubject');
    expect(versionsOf(tag(0x4200b7))[0]).to.equal('1.1');
    expect(versionsOf(tag(0x4200b8))[0]).to.equal('1.2');
  });

  it('2.1 adds Object Groups (0x420166) to Asynchronous Correlation Values (0x420176)', () => {
    expect(Tag.ObjectGroups).to.equal(0x420166);
    expect(Tag.AsynchronousCorrelationValues).to.equal(0x420176);
    for (let value = 0x420166; value <= 0x420176; value++) expect(versionsOf(tag(value))).to.deep.equal(['2.1']);
    expect(versionsOf(tag(0x420165))).to.deep.equal(['2.0', '2.1']);
  });

  it('counts tags per version: 161, 183, 211, 247, 292, 337, 354', () => {
    const counts = ALL.map((v) => TAGS.filter((t) => definedIn(t, v)).length);
    expect(counts).to.deep.equal([161, 183, 211, 247, 292, 337, 354]);
  });

  it('finds a tag by normalised and by specification name', () => {
    expect(tagByName('IVCounterNonce')?.value).to.equal(0x42003d);
    expect(tagByName('IV/Counter/Nonce')?.value).to.equal(0x42003d);
    expect(tagByName('PKCS_11Function')?.value).to.equal(0x42015a);
  });
});

describe('KMIP registry: enumerations (1.4 9.1.3.2, 2.1 11)', () => {
  it('Object Type: Certificate 1, Symmetric Key 2, Template 6 in 1.x only, Certificate Request 10 from 2.0', () => {
    expect(Enum.ObjectType.Certificate).to.equal(1);
    expect(Enum.ObjectType.SymmetricKey).to.equal(2);
    expect(valueVersions(enumOf(Tag.ObjectType), 'Template')).to.deep.equal(['1.0', '1.1', '1.2', '1.3', '1.4']);
    expect(valueVersions(enumOf(Tag.ObjectType), 'CertificateRequest')).to.deep.equal(['2.0', '2.1']);
  });

  it('Operation Discover Versions (0x1E) is new in 1.1, Ping (0x3B) new in 2.1', () => {
    expect(Enum.Operation.DiscoverVersions).to.equal(0x1e);
    expect(valueVersions(enumOf(Tag.Operation), 'DiscoverVersions')).to.deep.equal(['1.1', '1.2', '1.3', '1.4', '2.0', '2.1']);
    expect(Enum.Operation.Ping).to.equal(0x3b);
    expect(valueVersions(enumOf(Tag.Operation), 'Ping')).to.deep.equal(['2.1']);
  });

  it('Result Reason Constraint Violation (0x4B) is new in 2.1; Illegal Operation (0x0B) is 1.x only', () => {
    const reasons = enumOf(Tag.ResultReason);
    expect(Enum.ResultReason.ConstraintViolation).to.equal(0x4b);
    expect(valueVersions(reasons, 'ConstraintViolation')).to.deep.equal(['2.1']);
    expect(valueVersions(reasons, 'IllegalOperation')).to.deep.equal(['1.0', '1.1', '1.2', '1.3', '1.4']);
  });

  it('Key Format Type PKCS#10 (0x17) is new in 2.1 and spelt PKCS_10', () => {
    expect(Enum.KeyFormatType.PKCS_10).to.equal(0x17);
    expect(valueVersions(enumOf(Tag.KeyFormatType), 'PKCS#10')).to.deep.equal(['2.1']);
  });

  it('Credential Type Device (2) is new in 1.1, Attestation (3) in 1.2', () => {
    const types = enumOf(Tag.CredentialType);
    expect(valueVersions(types, 'Device')).to.deep.equal(['1.1', '1.2', '1.3', '1.4', '2.0', '2.1']);
    expect(valueVersions(types, 'Attestation')[0]).to.equal('1.2');
  });

  it('Hashing Algorithm 0x0E is SHA-3-224 in 1.4 and SHA3-224 in 2.x', () => {
    const hashing = enumOf(Tag.HashingAlgorithm);
    expect(enumValueByValue(hashing, 0x0e, '1.4')?.xmlName).to.equal('SHA_3_224');
    expect(enumValueByValue(hashing, 0x0e, '2.1')?.xmlName).to.equal('SHA3_224');
    expect(enumForTag(Tag.MaskGeneratorHashingAlgorithm)).to.equal(hashing);
  });

  it('enumValueDefinedIn: 0x0E of Hashing Algorithm is defined from 1.4 under either name, Object Type 10 from 2.0, 0x7FFFFFFF nowhere', () => {
    const hashing = enumOf(Tag.HashingAlgorithm);
    expect(ALL.filter((v) => enumValueDefinedIn(hashing, 0x0e, v))).to.deep.equal(['1.4', '2.0', '2.1']);
    expect(ALL.filter((v) => enumValueDefinedIn(enumOf(Tag.ObjectType), Enum.ObjectType.CertificateRequest, v))).to.deep.equal(['2.0', '2.1']);
    expect(ALL.filter((v) => enumValueDefinedIn(hashing, 0x7fffffff, v))).to.deep.equal([]);
  });

  it('enumValueDefinedIn agrees with enumValueByValue for every value of every enumeration in every version', () => {
    for (const def of ENUMS) {
      for (const { value } of def.values) {
        for (const version of ALL) {
          const entry = enumValueByValue(def, value, version);
          expect(enumValueDefinedIn(def, value, version), `${def.name} 0x${value.toString(16)} in ${version}`).to.equal(entry !== undefined && definedIn(entry, version));
        }
      }
    }
  });

  it('Profile Name Suite B minLOS_128 Client (0x118) is 2.0 only; the 1.x profile names end at 1.4', () => {
    const profiles = enumOf(Tag.ProfileName);
    expect(valueVersions(profiles, 'SuiteBMinLOS_128Client')).to.deep.equal(['2.0']);
    expect(valueVersions(profiles, 'BaselineServerBasicKMIPV1_2')).to.deep.equal(['1.3', '1.4']);
  });

  it('Attribute Reference takes the Tag enumeration: tag names as Enumeration values in 2.x', () => {
    const tags = enumOf(Tag.AttributeReference);
    expect(tags.name).to.equal('Tag');
    expect(enumValueByName(tags, 'CryptographicAlgorithm')?.value).to.equal(0x420028);
    expect(enumValueByName(tags, 'TemplateAttribute')).to.equal(undefined);
  });

  it('PKCS#11 Function C_Initialize is 1 and Return Code OK is 0 (2.x 11.38, 11.39)', () => {
    expect(enumValueByName(enumOf(Tag.PKCS_11Function), 'C_Initialize')?.value).to.equal(1);
    expect(enumValueByName(enumOf(Tag.PKCS_11ReturnCode), 'OK')?.value).to.equal(0);
  });
});

describe('KMIP registry: masks (1.4 9.1.3.3, 2.1 12)', () => {
  it('Cryptographic Usage Mask: Sign 1, Encrypt 4; Export 1.x only; Authenticate from 2.0', () => {
    const usage = maskForTag(Tag.CryptographicUsageMask);
    if (!usage) throw new Error('no mask');
    expect(Mask.CryptographicUsageMask.Sign).to.equal(1);
    expect(Mask.CryptographicUsageMask.Encrypt).to.equal(4);
    const exportBit = maskBitByName(usage, 'Export');
    const authenticate = maskBitByName(usage, 'Authenticate');
    expect(exportBit && versionsOf(exportBit)).to.deep.equal(['1.0', '1.1', '1.2', '1.3', '1.4']);
    expect(authenticate && versionsOf(authenticate)).to.deep.equal(['2.0', '2.1']);
  });

  it('Storage Status Mask On-line storage is OnLineStorage; Protection Storage Mask is 2.x', () => {
    expect(Mask.StorageStatusMask.OnLineStorage).to.equal(1);
    expect(maskForTag(Tag.ProtectionStorageMask)?.bits.every((b) => versionsOf(b)[0] === '2.0')).to.equal(true);
  });

  it('every mask bit is one bit', () => {
    for (const mask of MASKS) for (const bit of mask.bits) expect(bit.value & (bit.value - 1), bit.name).to.equal(0);
  });
});

describe('KMIP registry: consistency of the generated tables', () => {
  it('one name per value in each version, for tags and for every enumeration', () => {
    const lists: { what: string; entries: readonly { value: number; name: string; versions: number }[] }[] = [
      { what: 'tags', entries: TAGS },
      ...ENUMS.map((e) => ({ what: e.name, entries: e.values })),
      ...MASKS.map((m) => ({ what: m.name, entries: m.bits })),
    ];
    for (const { what, entries } of lists) {
      for (const v of ALL) {
        const live = entries.filter((e) => definedIn(e, v));
        expect(new Set(live.map((e) => e.value)).size, `${what} in ${v}`).to.equal(live.length);
      }
    }
  });

  it('every xmlName is normalizeName(name) unless kmip-spec.json overrides it', () => {
    const overridden = new Set<string>();
    JSON.parse(readFileSync(join(ROOT, 'ttlv/registry/kmip-spec.json'), 'utf8'), (key: string, value: unknown) => {
      if (key === 'xmlName' && typeof value === 'string') overridden.add(value);
      return value;
    });
    const all = [...TAGS, ...ENUMS.flatMap((e) => e.values), ...MASKS.flatMap((m) => m.bits)];
    for (const def of all.filter((d) => !overridden.has(d.xmlName))) expect(def.xmlName, def.name).to.equal(normalizeName(def.name));
  });

  it('an enumeration value is not older than the tags that carry it', () => {
    for (const def of ENUMS.filter((e) => e.name !== 'Tag')) {
      const tagFirst = Math.min(...def.tags.map((t) => Math.log2(tag(t).versions & -tag(t).versions)));
      for (const value of def.values) {
        expect(Math.log2(value.versions & -value.versions), `${def.name} ${value.name}`).to.be.at.least(tagFirst);
      }
    }
  });
});

describe('normalizeName (KMIP Additional Message Encodings v1.0 6.1.3)', () => {
  const cases: [string, string][] = [
    ['Activation Date', 'ActivationDate'],
    ['Username and Password', 'UsernameAndPassword'],
    // Rule 4: leading digits move to the end of the first word.
    ['3DES', 'DES3'],
    ['3DES Key Wrap', 'DES3KeyWrap'],
    // Rule 3: a non-word character not followed by a letter and a lower-case letter is "_".
    ['PKCS#1', 'PKCS_1'],
    ['X.509', 'X_509'],
    ['SHA-256', 'SHA_256'],
    ['HMAC-SHA1', 'HMAC_SHA1'],
    ['SHA-512/224', 'SHA_512_224'],
    ['X.509 Certificate Identifier', 'X_509CertificateIdentifier'],
    // Rule 2: a non-word character before a capitalised word is a space.
    ['On-line storage', 'OnLineStorage'],
    ['IV/Counter/Nonce', 'IVCounterNonce'],
    ['Encrypt then MAC/sign', 'EncryptThenMACSign'],
    ['Re-key Key Pair', 'ReKeyKeyPair'],
    ['Template-Attribute', 'TemplateAttribute'],
    // Rule 1: round brackets are spaces.
    ['Polynomial Sharing GF (2^16)', 'PolynomialSharingGF2_16'],
    ['RSASSA-PSS (PKCS#1 v2.1)', 'RSASSA_PSSPKCS_1V2_1'],
    ['(Reserved)', 'Reserved'],
    ['Suite B minLOS_128 Client', 'SuiteBMinLOS_128Client'],
    ['C_Initialize', 'C_Initialize'],
    ['', ''],
  ];
  for (const [name, expected] of cases) {
    it(`"${name}" -> "${expected}"`, () => expect(normalizeName(name)).to.equal(expected));
  }
});

describe('scripts/gen-registry.ts', () => {
  it('--check passes on the committed generated.ts', () => {
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/gen-registry.ts', '--check'], { cwd: ROOT, encoding: 'utf8' });
    expect(run.stderr).to.equal('');
    expect(run.status).to.equal(0);
  });

  it('renders the same text twice (deterministic)', () => {
    const text = readFileSync(join(ROOT, 'ttlv/registry/kmip-spec.json'), 'utf8');
    expect(render(parseSpec(text))).to.equal(render(parseSpec(text)));
  });

  it('rejects a misspelt key rather than ignoring it', () => {
    const spec = { tags: [{ name: 'A', value: '0x420001', versions: ['1.0'], xmlname: 'B' }], enums: [], masks: [] };
    expect(() => parseSpec(JSON.stringify(spec))).to.throw(/unknown key "xmlname"/);
  });

  it('rejects two names for one value in one version', () => {
    const spec = {
      tags: [
        { name: 'A', value: '0x420001', versions: ['1.0'] },
        { name: 'B', value: '0x420001', versions: ['1.0', '1.1'] },
      ],
      enums: [],
      masks: [],
    };
    expect(() => parseSpec(JSON.stringify(spec))).to.throw(/share value/);
  });

  it('names the older of two values with one key after its last version', () => {
    const spec = {
      tags: [
        { name: 'Foo', value: '0x420001', versions: ['1.0', '1.4'] },
        { name: 'Foo', value: '0x420002', versions: ['2.0'] },
      ],
      enums: [],
      masks: [],
    };
    const text = render(parseSpec(JSON.stringify(spec)));
    expect(text).to.contain('  Foo: 0x420002,');
    expect(text).to.contain('  Foo_1_4: 0x420001,');
  });
});

// ---- the OASIS test cases as the acceptance check for names ----

interface XmlElement {
  name: string;
  attrs: Map<string, string>;
  children: XmlElement[];
}

/** Just enough XML for the test-case files: elements, attributes, comments. */
function parseXml(text: string): XmlElement[] {
  const root: XmlElement = { name: '#root', attrs: new Map(), children: [] };
  const stack = [root];
  const token = /<!--[\s\S]*?-->|<\?[\s\S]*?\?>|<(\/?)([A-Za-z_][\w.-]*)((?:\s+[\w:.-]+\s*=\s*"[^"]*")*)\s*(\/?)>/g;
  for (const m of text.matchAll(token)) {
    const [, close, name, rawAttrs, selfClose] = m;
    if (name === undefined) continue;
    if (close) {
      stack.pop();
      continue;
    }
    const attrs = new Map<string, string>();
    for (const a of (rawAttrs ?? '').matchAll(/([\w:.-]+)\s*=\s*"([^"]*)"/g)) {
      attrs.set(a[1] ?? '', (a[2] ?? '').replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&'));
    }
    const el: XmlElement = { name, attrs, children: [] };
    stack[stack.length - 1]?.children.push(el);
    if (!selfClose) stack.push(el);
  }
  return root.children;
}

function xmlFiles(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((f) => {
      const path = join(dir, f);
      if (statSync(path).isDirectory()) return xmlFiles(path);
      return f.endsWith('.xml') ? [path] : [];
    });
}

function messageVersion(message: XmlElement): KmipVersion | undefined {
  const find = (el: XmlElement, name: string): XmlElement | undefined => {
    if (el.name === name) return el;
    for (const c of el.children) {
      const hit = find(c, name);
      if (hit) return hit;
    }
    return undefined;
  };
  const major = find(message, 'ProtocolVersionMajor')?.attrs.get('value');
  const minor = find(message, 'ProtocolVersionMinor')?.attrs.get('value');
  const text = `${major}.${minor}`;
  return ALL.find((v) => v === text);
}

describe('KMIP registry: names in the OASIS XML test cases (../shared/kmip-testcases)', function () {
  const corpus = join(ROOT, '../shared/kmip-testcases');

  it('every element, Enumeration name and mask name is in the registry, in the message version', function () {
    if (!existsSync(corpus)) this.skip();
    const unknown = new Map<string, string>();
    const wrongVersion = new Map<string, string>();
    const counts = { elements: 0, enumNames: 0, maskNames: 0 };
    const note = (map: Map<string, string>, what: string, file: string): void => {
      if (!map.has(what)) map.set(what, relative(corpus, file));
    };
    const checkDef = (def: { versions: number }, what: string, file: string, version: KmipVersion | undefined): void => {
      if (version && !definedIn(def, version)) note(wrongVersion, `${what} (in ${version})`, file);
    };

    const visit = (el: XmlElement, parent: XmlElement | undefined, file: string, version: KmipVersion | undefined): void => {
      counts.elements++;
      const def = tagByName(el.name);
      if (!def || def.xmlName !== el.name) note(unknown, `element ${el.name}`, file);
      else checkDef(def, `element ${el.name}`, file, version);

      // An Attribute Value takes its meaning from the sibling Attribute Name (1.x).
      let target = def;
      if (el.name === 'AttributeValue') {
        const attrName = parent?.children.find((c) => c.name === 'AttributeName')?.attrs.get('value');
        target = attrName === undefined ? undefined : tagByName(attrName);
      }
      const type = el.attrs.get('type');
      const value = el.attrs.get('value');
      if (target && value !== undefined && !value.startsWith('0x') && !value.startsWith('$')) {
        if (type === 'Enumeration') {
          const enumeration = enumForTag(target.value);
          const entry = enumeration && enumValueByName(enumeration, value, version);
          counts.enumNames++;
          if (!enumeration || !entry || entry.xmlName !== value) note(unknown, `${target.name} value ${value}`, file);
          else checkDef(entry, `${target.name} value ${value}`, file, version);
        }
        const mask = maskForTag(target.value);
        if (type === 'Integer' && mask && !/^-?\d+$/.test(value)) {
          for (const word of value.split(/\s+/).filter((w) => w !== '' && !w.startsWith('0x'))) {
            const bit = maskBitByName(mask, word);
            counts.maskNames++;
            if (!bit || bit.xmlName !== word) note(unknown, `${mask.name} bit ${word}`, file);
            else checkDef(bit, `${mask.name} bit ${word}`, file, version);
          }
        }
      }
      for (const child of el.children) visit(child, el, file, version);
    };

    const files = xmlFiles(corpus);
    for (const file of files) {
      for (const top of parseXml(readFileSync(file, 'utf8'))) {
        // <KMIP> / <KmipTestCase> hold the messages; each message states its protocol version.
        for (const message of top.children) visit(message, top, file, messageVersion(message));
      }
    }
    expect(files.length).to.be.greaterThan(300);
    expect(counts.enumNames).to.be.greaterThan(10000);
    expect(counts.maskNames).to.be.greaterThan(100);
    expect([...unknown].map(([what, file]) => `${what} (${file})`)).to.deep.equal([]);
    expect([...wrongVersion].map(([what, file]) => `${what} (${file})`)).to.deep.equal([]);
  });
});
