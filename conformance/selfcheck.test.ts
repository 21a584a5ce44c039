/**
 * The runner against the cases themselves: a stand-in server answers every request with the
 * case's own expected response (placeholders filled with made-up values), so every OASIS
 * case must pass; and the same server with one Result Status flipped must fail at exactly
 * that step. This proves substitution, binding and comparison over the whole corpus,
 * without a KMIP server.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { Enum, Placeholder, Tag } from '../ttlv/index.js';
import type { TemplateItem, TtlvItem } from '../ttlv/index.js';
import { findCases } from './cases.js';
import type { CaseFile } from './cases.js';
import { DEFAULT_CORRECTIONS_FILE, readCorrections } from './corrections.js';
import type { Corrections } from './corrections.js';
import { ObjectRegistry } from './objects.js';
import { loadCase, pairSteps, replayCase } from './runner.js';
import type { Connection, Target } from './runner.js';
import { dateValue, nowOffset } from './variables.js';
import { sharedDir } from '../test/support/paths.js';

const casesDir = path.join(sharedDir, 'kmip-testcases');
const NOW = Date.UTC(2024, 0, 15, 12, 0, 0);
const target: Target = { host: 'stand-in', port: 0, tls: { cert: '', key: '', ca: '' }, description: 'stand-in' };

/** A value of the right type for a placeholder, the same for the same name. */
function madeUp(item: Exclude<TemplateItem, { type: 'Structure' }>, name: string): TtlvItem {
  const digest = createHash('sha256').update(name).digest();
  const offset = nowOffset(name);
  switch (item.type) {
    case 'TextString':
      return { tag: item.tag, type: item.type, value: `made-up ${name}` };
    case 'ByteString':
      return { tag: item.tag, type: item.type, value: digest.subarray(0, 16) };
    case 'DateTime':
    case 'DateTimeExtended':
      return { tag: item.tag, type: item.type, value: dateValue(item.type, NOW, offset ?? 0) };
    case 'Integer':
    case 'Interval':
    case 'Enumeration':
      return { tag: item.tag, type: item.type, value: digest.readUInt16BE(0) };
    case 'LongInteger':
    case 'BigInteger':
      return { tag: item.tag, type: item.type, value: BigInt(digest.readUInt16BE(0)) };
    case 'Boolean':
      return { tag: item.tag, type: item.type, value: true };
  }
}

function fill(item: TemplateItem): TtlvItem {
  if (item.type === 'Structure') return { tag: item.tag, type: 'Structure', value: item.value.map(fill) };
  return item.value instanceof Placeholder ? madeUp(item, item.value.name) : (item as TtlvItem);
}

/** Result Status Success of the first batch item turned into Operation Failed. */
function flipStatus(message: TtlvItem): TtlvItem {
  let flipped = false;
  const walk = (item: TtlvItem): TtlvItem => {
    if (item.type !== 'Structure') {
      if (!flipped && item.tag === Tag.ResultStatus && item.type === 'Enumeration') {
        flipped = true;
        return { ...item, value: item.value === Enum.ResultStatus.Success ? Enum.ResultStatus.OperationFailed : Enum.ResultStatus.Success };
      }
      return item;
    }
    return { ...item, value: item.value.map(walk) };
  };
  return walk(message);
}

/** An item no response payload expects, added to the first batch item's payload. */
function addExtra(message: TtlvItem): TtlvItem {
  let added = false;
  const walk = (item: TtlvItem): TtlvItem => {
    if (item.type !== 'Structure') return item;
    if (!added && item.tag === Tag.ResponsePayload) {
      added = true;
      return { ...item, value: [...item.value, { tag: Tag.ApplicationData, type: 'TextString', value: 'not in the case' }] };
    }
    return { ...item, value: item.value.map(walk) };
  };
  return walk(message);
}

/** The last step whose response has a payload that allows no extra items (not Query). */
function lastStrictPayload(messages: readonly TemplateItem[]): number | undefined {
  const steps = pairSteps(messages);
  for (let i = steps.length - 1; i >= 0; i -= 1) {
    const response = steps[i]?.expected;
    if (response?.type !== 'Structure') continue;
    const item = response.value.find((child) => child.tag === Tag.BatchItem);
    if (item?.type !== 'Structure') continue;
    const operation = item.value.find((child) => child.tag === Tag.Operation);
    const payload = item.value.some((child) => child.tag === Tag.ResponsePayload);
    if (payload && !(operation?.type === 'Enumeration' && operation.value === Enum.Operation.Query)) return i;
  }
  return undefined;
}

type Mutation = (message: TtlvItem) => TtlvItem;

/** A server that answers request i with the case's response i (step `at` altered by `mutate`). */
function standIn(messages: readonly TemplateItem[], at?: number, mutate: Mutation = flipStatus): () => Promise<Connection> {
  const responses = pairSteps(messages).map((step) => fill(step.expected));
  let next = 0;
  return () =>
    Promise.resolve({
      send: () => {
        const i = next;
        next += 1;
        const response = responses[i];
        if (response === undefined) return Promise.reject(new Error('more requests than the case has'));
        return Promise.resolve(i === at ? mutate(response) : response);
      },
      close: () => Promise.resolve(),
    });
}

describe('the runner replays every OASIS case against a server that answers what the case expects', function () {
  if (!existsSync(casesDir)) {
    it('finds the test-case folder', () => {
      throw new Error(`${casesDir} is missing: the tests need ../shared beside the checkout`);
    });
    return;
  }
  const cases: CaseFile[] = findCases(casesDir);
  let corrections: Corrections;
  before(async () => {
    corrections = await readCorrections(DEFAULT_CORRECTIONS_FILE);
  });

  it('finds the cases of every version', () => {
    expect(new Set(cases.map((c) => c.version))).to.deep.equal(new Set(['1.0', '1.3', '1.4', '2.0', '2.1']));
  });

  for (const c of cases) {
    it(`${c.file}: passes as written; fails on a wrong Result Status and on an extra item`, async () => {
      const messages = await loadCase(c.path, (text) => corrections.apply(c.file, text));
      const outcome = await replayCase(messages, target, new ObjectRegistry(), { connect: standIn(messages), now: () => NOW, cleanup: false });
      expect(outcome, JSON.stringify({ reason: outcome.reason, step: outcome.step, difference: outcome.difference })).to.include({ status: 'pass' });

      const last = pairSteps(messages).length - 1;
      const flipped = await replayCase(messages, target, new ObjectRegistry(), { connect: standIn(messages, last), now: () => NOW, cleanup: false });
      expect(flipped.status).to.equal('fail');
      expect(flipped.step).to.equal(last);
      expect(flipped.difference?.path).to.match(/\/ResultStatus$/);

      const strict = lastStrictPayload(messages);
      if (strict !== undefined) {
        const extra = await replayCase(messages, target, new ObjectRegistry(), { connect: standIn(messages, strict, addExtra), now: () => NOW, cleanup: false });
        expect(extra.status).to.equal('fail');
        expect(extra.step).to.equal(strict);
        expect(extra.difference).to.include({ expected: 'absent' });
        expect(extra.difference?.path).to.match(/\/ResponsePayload\/ApplicationData$/);
      }
    });
  }
});
