/**
 * Fuzzing the XML and JSON decoders (the KMIP over HTTPS bodies, server/https.ts) with mutated
 * request messages of the OASIS test cases: markup cut, repeated or spliced, entities and
 * escapes, huge and malformed numbers, deep nesting. Whatever the text, the only error allowed
 * is TtlvError, and what decodes must encode to binary TTLV as the server does with it. A
 * decoder that backtracks or recurses without bound shows up as this test's timeout.
 */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { encodeTtlv } from './binary.js';
import { TtlvError } from './errors.js';
import { isConcrete } from './item.js';
import { parseJson, toJsonText } from './json.js';
import { parseXml, toXml } from './xml.js';
import { sharedPath } from '../test/support/paths.js';
import { Rng } from '../test/support/rng.js';

const ITERATIONS = Number(process.env['FUZZ_ITERATIONS'] ?? 40_000);
const SEED = Number(process.env['FUZZ_SEED'] ?? 0x746578);
/** The server's default nesting limit (maxDepth). */
const MAX_DEPTH = 64;

/** Pieces that XML and JSON decoders trip on, inserted at random places. */
const PIECES = [
  '<', '>', '/>', '"', "'", '&', '&amp;', '&#0;', '&#x10FFFF;', '&#xD800;', '&unknown;', ']]>', '<!--', '<?xml version="1.0"?>',
  '<!DOCTYPE a [<!ENTITY e "x">]>', '<![CDATA[x]]>', '{', '}', '[', ']', ',', ':', '"0x', '"0x4200', '\\u0000', '\\ud800', '\\', '1e999',
  '-0', '9007199254740993', '0x', 'NaN', 'null', 'true', 'type="Integer"', 'value="', 'tag="', 'type="BigInteger" value="0x',
  'type="Interval"', 'type="DateTime" value="', '"type":"DateTime"', '"value":"', '"tag":"', 'type="Structure"', '\u0000', '\uffff', '\u{1f4a5}',
];

function corpus(): string[] {
  const files = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) return files(full);
      return entry.name.endsWith('.xml') ? [full] : [];
    });
  const texts: string[] = [];
  for (const file of files(sharedPath('kmip-testcases')).sort()) {
    for (const match of readFileSync(file, 'utf8').matchAll(/<RequestMessage>[\s\S]*?<\/RequestMessage>/g)) {
      const [message] = parseXml(match[0]);
      // Test cases with placeholders ($UNIQUE_IDENTIFIER_0) are not requests a client sends.
      if (message === undefined || !isConcrete(message)) continue;
      texts.push(toXml(message), toJsonText(message));
    }
  }
  return texts;
}

function mutate(rng: Rng, text: string): string {
  let out = text;
  for (let n = 1 + rng.below(4); n > 0; n--) {
    const at = rng.below(out.length + 1);
    switch (rng.below(7)) {
      case 0:
        out = out.slice(0, at) + out.slice(at + 1 + rng.below(20));
        break;
      case 1:
        out = out.slice(0, at) + (PIECES[rng.below(PIECES.length)] ?? '') + out.slice(at);
        break;
      case 2:
        out = out.slice(0, at);
        break;
      case 3: {
        const from = rng.below(out.length + 1);
        out = out.slice(0, at) + out.slice(from, from + rng.below(200)).repeat(1 + rng.below(50)) + out.slice(at);
        break;
      }
      case 4:
        out = out.slice(0, at) + String.fromCharCode(rng.below(0x10000)) + out.slice(at + 1);
        break;
      case 5:
        out = out.replace(/value="[^"]*"/, `value="${PIECES[rng.below(PIECES.length)] ?? ''}${'9'.repeat(rng.below(400))}"`);
        break;
      default:
        out = out.replace(/"value":\s*("[^"]*"|[0-9-]+)/, `"value":${['"', '', '[', '{'][rng.below(4)] ?? ''}${'9'.repeat(rng.below(400))}`);
    }
  }
  return out;
}

/** The server's handling of a body (server/https.ts textToTtlv): decode, then encode what is concrete. */
function check(xml: boolean, text: string): 'decoded' | 'refused' {
  try {
    const items = (xml ? parseXml : parseJson)(text, { maxDepth: MAX_DEPTH });
    for (const item of items) if (isConcrete(item)) encodeTtlv(item);
    return 'decoded';
  } catch (error) {
    if (error instanceof TtlvError) return 'refused';
    throw new Error(`non-codec error ${String(error)} on ${xml ? 'XML' : 'JSON'} ${JSON.stringify(text.slice(0, 2000))}`);
  }
}

describe('fuzzing the XML and JSON decoders (KMIP over HTTPS)', function () {
  this.timeout(300_000);

  it(`${ITERATIONS} mutated OASIS request messages give a tree or a TtlvError, nothing else (seed ${SEED})`, () => {
    const texts = corpus();
    expect(texts.length, 'request messages in the OASIS test cases').to.be.greaterThan(500);
    const rng = new Rng(SEED);
    const counts = { decoded: 0, refused: 0 };
    for (let i = 0; i < ITERATIONS; i++) {
      const text = texts[rng.below(texts.length)] ?? '';
      counts[check(text.startsWith('<'), mutate(rng, text))]++;
    }
    // Both outcomes must occur, or the fuzzer is not exercising anything.
    expect(counts.refused).to.be.greaterThan(ITERATIONS / 10);
    expect(counts.decoded).to.be.greaterThan(ITERATIONS / 20);
  });

  it('nesting far past the limit is refused with a TtlvError in either encoding, not a stack overflow', () => {
    for (const depth of [MAX_DEPTH + 1, 5_000, 200_000]) {
      const xml = `${'<Structure tag="RequestMessage">'.repeat(depth)}${'</Structure>'.repeat(depth)}`;
      const json = `${'{"tag":"RequestMessage","value":['.repeat(depth)}${']}'.repeat(depth)}`;
      expect(check(true, xml), `XML nested ${depth} deep`).to.equal('refused');
      expect(check(false, json), `JSON nested ${depth} deep`).to.equal('refused');
    }
  });
});
