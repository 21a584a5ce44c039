/**
 * Every OASIS KMIP profile test case (../shared/kmip-testcases, KMIP 1.0 to 2.1) loads, and
 * each of its messages survives every encoding: binary TTLV (when it holds no
 * placeholder), XML and JSON.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { decodeTtlv, encodeTtlv } from './binary.js';
import { isConcrete, itemsEqual } from './item.js';
import type { TemplateItem } from './item.js';
import { parseJson, toJsonText } from './json.js';
import { parseXml, toXml } from './xml.js';
import { sharedDir } from '../test/support/paths.js';

const casesDir = path.join(sharedDir, 'kmip-testcases');

function xmlFilesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((entry) => {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) return xmlFilesUnder(full);
      return entry.isFile() && entry.name.endsWith('.xml') ? [full] : [];
    })
    .sort();
}

function only(items: TemplateItem[], what: string): TemplateItem {
  expect(items, `${what} gave ${items.length} items`).to.have.length(1);
  return items[0] as TemplateItem;
}

/** The three round trips of one message; throws with the encoding that failed. */
function checkMessage(message: TemplateItem): boolean {
  const concrete = isConcrete(message);
  if (concrete) {
    expect(itemsEqual(decodeTtlv(encodeTtlv(message)), message), 'binary TTLV round trip').to.equal(true);
  }
  const xml = toXml(message);
  expect(itemsEqual(only(parseXml(xml), 'parseXml(toXml)'), message), `XML round trip:\n${xml}`).to.equal(true);
  const json = toJsonText(message);
  expect(itemsEqual(only(parseJson(json), 'parseJson(toJsonText)'), message), `JSON round trip:\n${json}`).to.equal(true);
  return concrete;
}

function load(file: string, name: string): TemplateItem[] {
  try {
    return parseXml(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new Error(`${name} does not load: ${error instanceof Error ? error.message : String(error)}`);
  }
}

describe('OASIS KMIP test cases (../shared/kmip-testcases) in every encoding', () => {
  if (!existsSync(casesDir)) {
    it('finds the test-case folder', () => {
      throw new Error(`${casesDir} is missing: the tests need ../shared beside the checkout`);
    });
    return;
  }

  const files = xmlFilesUnder(casesDir);
  const seen = new Set<string>();
  const counts = { loaded: 0, messages: 0, concrete: 0 };

  it('finds the test cases of every KMIP version', () => {
    const versions = new Set(files.map((file) => path.relative(casesDir, file).split(path.sep)[0]));
    expect([...versions].sort()).to.deep.equal(['v1.0', 'v1.3', 'v1.4', 'v2.0', 'v2.1']);
    expect(files.length).to.be.greaterThan(0);
  });

  for (const file of files) {
    const name = path.relative(casesDir, file);
    it(`${name}: loads, and every message round-trips`, () => {
      seen.add(file);
      const messages = load(file, name);
      expect(messages.length, 'messages in the file').to.be.greaterThan(0);
      messages.forEach((message, i) => {
        try {
          if (checkMessage(message)) counts.concrete += 1;
        } catch (error) {
          throw new Error(`${name}, message ${i + 1}: ${error instanceof Error ? error.message : String(error)}`);
        }
      });
      counts.messages += messages.length;
      counts.loaded += 1;
    });
  }

  it('saw every file on disk, none skipped', () => {
    console.log(
      `      OASIS test cases: ${files.length} files on disk, ${seen.size} seen, ${counts.loaded} passed; ` +
        `${counts.messages} messages, ${counts.concrete} without placeholders (also checked in binary TTLV)`,
    );
    expect(seen.size).to.equal(files.length);
    expect(xmlFilesUnder(casesDir).length).to.equal(files.length);
  });
});
