/**
 * Compares an actual KMIP response with the expected one of a test case, tree against
 * tree, under the permitted variations of KMIP Additional Message Encodings v1.0
 * section 8.4 and nothing more:
 *
 * - 8.4.1 variable items: identifiers, TimeStamp, key material and cryptographic output
 *   of objects the server generated (or of operations whose output is random), dates the
 *   client did not fix, Key Format Type and Digest the server chose, extra attributes,
 *   extra Query items, extra protocol versions in Discover Versions, Vendor
 *   Identification, vendor prefixes on test identifiers, the Random Number Generator of
 *   server-generated objects, Object Group values the case never sent, and the Query
 *   lists of the cases whose description lets them vary;
 * - 8.4.1 response variations: Result Message present or absent with any text, Template
 *   Attribute present or absent, Attribute Index 0 present or absent, extra Message
 *   Extensions;
 * - always: Server Correlation Value is ignored; Result Reason is advisory when the
 *   expected Result Status is not Success.
 *
 * Everything else is strict: a missing or extra item, a wrong tag, type or value, a wrong
 * Result Status, and items out of order (except where the order carries no meaning:
 * attributes, Query answers, Locate's identifiers).
 *
 * Placeholders in the expected response bind to (or must equal) the actual values; the
 * bindings go into the case's Variables. What may vary, and when, is in variations.ts.
 */
import { Enum, Placeholder, Tag, formatItem, registry } from '../ttlv/index.js';
import type { TemplateItem, TtlvItem } from '../ttlv/index.js';
import { childOf } from './objects.js';
import type { ObjectKnowledge } from './objects.js';
import { attributeNameAmong, dateKey, dateValue, nowOffset } from './variables.js';
import type { Leaf, Variables } from './variables.js';
import { ATTRIBUTE_CONTAINERS, CRYPTO_OUTPUT, IDENTIFIERS, OPTIONAL_IN_PAYLOAD, TEST_IDENTIFIER, VARIABLE_DATES, batchRules, ckInfoDifference } from './variations.js';
import type { BatchRules } from './variations.js';

/** The first place where the actual response departs from the expected one. */
export interface Difference {
  /** Readable path: `ResponseMessage/BatchItem[0]/ResponsePayload/UniqueIdentifier`. */
  readonly path: string;
  readonly expected: string;
  readonly actual: string;
}

export interface CompareContext {
  /** The case's placeholder map; unbound placeholders of the expected response bind here. */
  readonly variables: Variables;
  /** What is known of the objects on the server (who generated them). */
  readonly objects: ObjectKnowledge;
  /** The request as it was sent. */
  readonly request: TtlvItem;
  /** The request as the case wrote it, to tell literals from substituted values. */
  readonly requestTemplate?: TemplateItem;
  /** When the response arrived (ms since the epoch): what `$NOW` means in it. */
  readonly receivedAt: number;
  /** How far a server-set `$NOW` date may be from the runner's clock, in seconds. Default 300. */
  readonly clockToleranceSeconds?: number;
  /** The case's test identifier (MSGENC-XML-M-1-21), for variations its description allows. */
  readonly caseName?: string;
}

export interface Comparison {
  /** The first difference, or undefined when the response conforms. */
  readonly difference: Difference | undefined;
  /** Differences that do not fail the case (Result Reason of an expected failure). */
  readonly advisories: readonly Difference[];
}

export function compareResponse(expected: TemplateItem, actual: TtlvItem, context: CompareContext): Comparison {
  const comparer = new Comparer(context);
  const difference = comparer.message(expected, actual);
  return { difference, advisories: comparer.advisories };
}

/** "TextString "abc"", "Enumeration Success", "Structure (3 items)": one item in a line. */
export function describeItem(item: TemplateItem | undefined): string {
  if (item === undefined) return 'absent';
  if (item.type === 'Structure') return describeStructure(item, true);
  if (item.value instanceof Placeholder) return `${item.type} ${item.value.name}`;
  const line = formatItem(item, { maxBytes: 48 });
  const colon = line.indexOf(': ');
  return colon < 0 ? line : line.slice(colon + 2);
}

const MAX_DESCRIPTION = 160;

/** `{AttributeName: TextString "Digest", AttributeValue: Structure (3 items)}`, or only a count when too long. */
function describeStructure(item: Extract<TemplateItem, { type: 'Structure' }>, nested: boolean): string {
  const render = (deep: boolean): string =>
    `{${item.value.map((child) => `${label(child.tag)}: ${child.type === 'Structure' ? (deep ? describeStructure(child, false) : countItems(child)) : describeItem(child)}`).join(', ')}}`;
  const full = render(true);
  if (full.length <= MAX_DESCRIPTION) return full;
  if (!nested) return countItems(item);
  const shallow = render(false);
  return shallow.length <= MAX_DESCRIPTION ? shallow : countItems(item);
}

function countItems(item: Extract<TemplateItem, { type: 'Structure' }>): string {
  return `Structure (${item.value.length} ${item.value.length === 1 ? 'item' : 'items'})`;
}

// ---------------------------------------------------------------------------------------

type Item = TemplateItem | TtlvItem;
type Result = Difference | undefined;

const Op = Enum.Operation;

const DEFAULT_CLOCK_TOLERANCE_SECONDS = 300;

interface Scope {
  readonly batch: BatchRules | undefined;
  /** The Attribute Name of the enclosing Attribute, for its Attribute Value. */
  readonly attributeName: string | undefined;
}

interface ChildRules {
  /** Dropped from both sides before comparing. */
  readonly ignore?: (item: Item) => boolean;
  /** May be absent from either side. */
  readonly optional?: (item: Item) => boolean;
  /** May appear in the actual response only. */
  readonly extra?: (item: Item) => boolean;
  /** Tags matched as a set rather than in order ('all' for every child). */
  readonly unordered?: ReadonlySet<number> | 'all';
}

class Comparer {
  advisories: Difference[] = [];
  private readonly tolerance: number;

  constructor(private readonly ctx: CompareContext) {
    this.tolerance = ctx.clockToleranceSeconds ?? DEFAULT_CLOCK_TOLERANCE_SECONDS;
  }

  message(expected: TemplateItem, actual: TtlvItem): Result {
    const path = label(expected.tag);
    if (expected.tag !== actual.tag) return { path, expected: `${path} ${describeItem(expected)}`, actual: `${label(actual.tag)} ${describeItem(actual)}` };
    if (expected.type !== 'Structure' || actual.type !== 'Structure') return this.node(expected, actual, path, noScope);
    const batchIndex = new Map<Item, number>();
    expected.value.filter((child) => child.tag === Tag.BatchItem).forEach((child, i) => batchIndex.set(child, i));
    return this.children(expected.value, actual.value, path, {}, (e, a, childPath) => {
      if (e.tag === Tag.ResponseHeader) return this.header(e, a, childPath);
      if (e.tag === Tag.BatchItem) return this.batchItem(e, a, childPath, batchIndex.get(e) ?? 0);
      return this.node(e, a, childPath, noScope);
    });
  }

  private header(expected: TemplateItem, actual: TtlvItem, path: string): Result {
    if (expected.type !== 'Structure' || actual.type !== 'Structure') return this.node(expected, actual, path, noScope);
    // KMIP Profiles README: "ServerCorrelationValue in a response header is always ignored".
    const rules: ChildRules = { ignore: (item) => item.tag === Tag.ServerCorrelationValue };
    return this.children(expected.value, actual.value, path, rules, (e, a, childPath) => this.node(e, a, childPath, noScope));
  }

  private batchItem(expected: TemplateItem, actual: TtlvItem, path: string, index: number): Result {
    if (expected.type !== 'Structure' || actual.type !== 'Structure') return this.node(expected, actual, path, noScope);
    const requestItem = this.requestBatchItem(expected, index);
    const batch = this.batchRules(expected, actual, requestItem, index);
    const scope: Scope = { batch, attributeName: undefined };
    const expectedStatus = childOf(expected as TtlvItem, Tag.ResultStatus);
    const success = expectedStatus?.type === 'Enumeration' && expectedStatus.value === Enum.ResultStatus.Success;
    // The Result Status must match: when it does not, that is the difference worth reporting.
    const actualStatus = childOf(actual, Tag.ResultStatus);
    if (expectedStatus !== undefined && (actualStatus?.type !== expectedStatus.type || actualStatus.value !== expectedStatus.value)) {
      return { path: `${path}/ResultStatus`, expected: describeItem(expectedStatus), actual: describeOutcome(actual) };
    }
    const rules: ChildRules = {
      // 8.4.1: "ResultMessage - May or may not be included ... the value may vary".
      // Result Reason is advisory when the expected status is a failure (checked below).
      ignore: (item) => item.tag === Tag.ResultMessage || (!success && item.tag === Tag.ResultReason),
      // 8.4.1: "Message Extensions - May or may not include additional (non-critical) vendor extensions".
      extra: (item) => item.tag === Tag.MessageExtension,
    };
    const difference = this.children(expected.value, actual.value, path, rules, (e, a, childPath) =>
      e.tag === Tag.ResponsePayload ? this.payload(e, a, childPath, scope) : this.node(e, a, childPath, scope),
    );
    if (difference === undefined && !success) this.adviseResultReason(expected, actual, path);
    return difference;
  }

  private adviseResultReason(expected: TemplateItem, actual: TtlvItem, path: string): void {
    const e = childOf(expected as TtlvItem, Tag.ResultReason);
    const a = childOf(actual, Tag.ResultReason);
    if (e === undefined && a === undefined) return;
    if (e !== undefined && a !== undefined && e.type === a.type && e.value === a.value) return;
    this.advisories.push({ path: `${path}/ResultReason`, expected: describeItem(e), actual: describeItem(a) });
  }

  private payload(expected: TemplateItem, actual: TtlvItem, path: string, scope: Scope): Result {
    if (expected.type !== 'Structure' || actual.type !== 'Structure') return this.node(expected, actual, path, scope);
    const operation = scope.batch?.operation;
    let rules: ChildRules = { optional: (item) => OPTIONAL_IN_PAYLOAD.has(item.tag) };
    if (operation === Op.Query) {
      // 8.4.1: extensions, application namespaces, object and operation types reported in
      // Query may vary; extra items are allowed, in any order; Vendor Identification may vary.
      // Where the case's description says so, the Operation and Object Type lists are the
      // server's own: expected ones may be absent too.
      const optional: ReadonlySet<number> = new Set([
        Tag.ExtensionInformation,
        Tag.ApplicationNamespace,
        Tag.VendorIdentification,
        ...(scope.batch?.queryListsVary === true ? [Tag.Operation, Tag.ObjectType] : []),
      ]);
      const required = scope.batch?.queryRequired;
      // Where the profile's requirements are known, what it does not require may be absent.
      const unrequired = (item: Item): boolean =>
        required !== undefined &&
        item.type === 'Enumeration' &&
        typeof item.value === 'number' &&
        ((item.tag === Tag.Operation && !required.operations.has(item.value)) || (item.tag === Tag.ObjectType && !required.objectTypes.has(item.value)));
      rules = { unordered: 'all', extra: () => true, optional: (item) => optional.has(item.tag) || unrequired(item) };
    } else if (operation === Op.DiscoverVersions && scope.batch?.extraVersions) {
      // 8.4.1: "may include additional protocol versions if the request has not specified a list".
      rules = { extra: (item) => item.tag === Tag.ProtocolVersion };
    } else if (operation === Op.GetAttributes) {
      rules = { optional: (item) => OPTIONAL_IN_PAYLOAD.has(item.tag) || this.serverGroup(item), unordered: new Set([Tag.Attribute]), extra: (item) => item.tag === Tag.Attribute };
    } else if (operation === Op.GetAttributeList) {
      const names: ReadonlySet<number> = new Set([Tag.AttributeName, Tag.AttributeReference]);
      rules = { optional: (item) => OPTIONAL_IN_PAYLOAD.has(item.tag) || this.serverGroup(item), unordered: names, extra: (item) => names.has(item.tag) };
    } else if (operation === Op.Locate) {
      // Locate returns a set of identifiers: no order is defined.
      rules = { ...rules, unordered: new Set([Tag.UniqueIdentifier]) };
    }
    return this.children(expected.value, actual.value, path, rules, (e, a, childPath) => this.node(e, a, childPath, scope));
  }

  /** Any item below the batch item level. */
  private node(expected: TemplateItem, actual: TtlvItem, path: string, scope: Scope): Result {
    if (expected.tag !== actual.tag) return { path, expected: describeItem(expected), actual: `${label(actual.tag)} ${describeItem(actual)}` };
    if (this.anything(expected, actual, scope)) return undefined;
    if (expected.type !== 'Structure' || actual.type !== 'Structure') {
      if (expected.type === 'Structure' || actual.type === 'Structure') return { path, expected: describeItem(expected), actual: describeItem(actual) };
      return this.leaf(expected, actual, path, scope);
    }
    const attributeName = attributeNameAmong(expected.value);
    const childScope: Scope = { batch: scope.batch, attributeName };
    let rules: ChildRules = {};
    if (ATTRIBUTE_CONTAINERS.has(expected.tag)) {
      rules = { unordered: 'all', extra: () => true, optional: (item) => this.serverGroup(item) };
    } else if (expected.tag === Tag.Attribute) {
      // 8.4.1: "AttributeIndex - May or may not include Attribute Index value where the Attribute Index value is 0".
      rules = { optional: (item) => item.tag === Tag.AttributeIndex && item.type === 'Integer' && item.value === 0 };
    } else if (expected.tag === Tag.KeyValue) {
      // KMIP 1.x keeps attributes inside the Key Value: extra ones allowed, in any order.
      rules = { unordered: new Set([Tag.Attribute]), extra: (item) => item.tag === Tag.Attribute };
    }
    return this.children(expected.value, actual.value, path, rules, (e, a, childPath) => this.node(e, a, childPath, childScope));
  }

  /**
   * 8.4.1: "Object Group values - May or may not return one or more Object Group values
   * not included in the requests": an Object Group the case never sent (a 2.x Object Group,
   * a 1.x Object Group Attribute), or its name in Get Attribute List when the case sent none.
   */
  private serverGroup(item: Item): boolean {
    const sent = this.ctx.variables.sentText('ObjectGroup');
    const text = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);
    if (item.tag === Tag.AttributeName) return item.value === 'Object Group' && sent.size === 0;
    if (item.tag === Tag.AttributeReference) return item.type === 'Enumeration' && item.value === Tag.ObjectGroup && sent.size === 0;
    if (item.tag === Tag.ObjectGroup) return !sent.has(text(item.value) ?? '');
    if (item.tag === Tag.Attribute && item.type === 'Structure' && attributeNameAmong(item.value) === 'Object Group') {
      return !sent.has(text(item.value.find((child) => child.tag === Tag.AttributeValue)?.value) ?? '');
    }
    return false;
  }

  /** Items whose whole content may vary: only their presence is checked. */
  private anything(expected: TemplateItem, actual: TtlvItem, scope: Scope): boolean {
    const batch = scope.batch;
    const tag = expected.tag;
    // 8.4.1: server-generated key material (any Key Format, hence any type), certificates.
    if (batch?.keyMaterialVaries && (tag === Tag.KeyMaterial || tag === Tag.CertificateValue)) return true;
    if ((batch?.keyMaterialVaries || batch?.wrappedKeyVaries) && tag === Tag.KeyValue && (expected.type !== 'Structure' || actual.type !== 'Structure')) return true;
    if (batch?.wrappedKeyVaries && (tag === Tag.KeyMaterial || tag === Tag.MACSignature)) return true;
    // 8.4.1: "Digest: the HashingAlgorithm selected by the server ... the Digest Value".
    if (tag === Tag.Digest || (tag === Tag.AttributeValue && scope.attributeName === 'Digest')) return expected.type === actual.type;
    // The server's own random number generator (variations.ts, generatorVaries).
    if (batch?.generatorVaries && (tag === Tag.RandomNumberGenerator || (tag === Tag.AttributeValue && scope.attributeName === 'Random Number Generator'))) {
      return expected.type === actual.type;
    }
    // Server Information in a Query response is vendor-specific by definition (KMIP 2.1 section 6.1.37).
    if (batch?.operation === Op.Query && tag === Tag.ServerInformation) return expected.type === actual.type;
    return false;
  }

  private leaf(expected: Exclude<TemplateItem, { type: 'Structure' }>, actual: Leaf, path: string, scope: Scope): Result {
    const fail = (expectedText = describeItem(expected)): Difference => ({ path, expected: expectedText, actual: describeItem(actual) });
    if (expected.type !== actual.type) return fail();
    const value = expected.value;
    if (value instanceof Placeholder) {
      if (nowOffset(value.name) !== undefined) return this.date(expected, actual, path, scope);
      const bound = this.ctx.variables.get(value.name);
      if (bound === undefined) {
        this.ctx.variables.bind(value.name, actual);
        return undefined;
      }
      if (bound.type === actual.type && sameValue(bound.value, actual.value)) return undefined;
      return fail(`${value.name} = ${describeItem(bound)}`);
    }
    if (this.variable(expected.tag, scope)) return undefined;
    if (expected.type === 'DateTime' || expected.type === 'DateTimeExtended') return this.date(expected, actual, path, scope);
    if (sameValue(value, actual.value)) return undefined;
    // The server's own PKCS#11 library in C_GetInfo (variations.ts, CK_INFO_VARIATION).
    if (scope.batch?.ckInfoVaries === true && expected.tag === Tag.PKCS_11OutputParameters && value instanceof Uint8Array && actual.value instanceof Uint8Array) {
      const problem = ckInfoDifference(value, actual.value);
      return problem === undefined ? undefined : fail(problem);
    }
    // 8.4.1: "TextString attribute values containing test identifiers: additional vendor or application prefixes".
    if (typeof value === 'string' && typeof actual.value === 'string' && TEST_IDENTIFIER.test(value) && actual.value.endsWith(value)) return undefined;
    return fail();
  }

  /** Leaves whose value may be anything of the right type. */
  private variable(tag: number, scope: Scope): boolean {
    if (tag === Tag.TimeStamp || IDENTIFIERS.has(tag)) return true;
    const batch = scope.batch;
    if (batch === undefined) return false;
    if (batch.operation === Op.Query && tag === Tag.VendorIdentification) return true;
    if (batch.cryptoOutputVaries && CRYPTO_OUTPUT.has(tag)) return true;
    if (batch.keyFormatVaries && tag === Tag.KeyFormatType) return true;
    if (batch.wrappedKeyVaries && tag === Tag.IVCounterNonce) return true;
    return false;
  }

  /**
   * A date in the response. A date the client sent must come back unchanged; a listed
   * 8.4.1 date the client did not fix may be anything; any other `$NOW` must be near the
   * runner's clock.
   */
  private date(expected: Exclude<TemplateItem, { type: 'Structure' }>, actual: Leaf, path: string, scope: Scope): Result {
    if (actual.type !== 'DateTime' && actual.type !== 'DateTimeExtended') return { path, expected: describeItem(expected), actual: describeItem(actual) };
    if (expected.tag === Tag.TimeStamp) return undefined;
    const key = dateKey(expected.tag, scope.attributeName);
    const variables = this.ctx.variables;
    const value = expected.value;
    const fail = (why: string): Difference => ({ path, expected: why, actual: describeItem(actual) });
    if (value instanceof Placeholder) {
      const offset = nowOffset(value.name) ?? 0;
      const sentAs = variables.sentDates(key, value.name);
      if (sentAs.length > 0) {
        return sentAs.some((d) => d.value === actual.value) ? undefined : fail(`the ${key} sent as ${value.name}: ${sentAs.map((d) => describeDate(actual.type, d.value)).join(' or ')}`);
      }
      if (VARIABLE_DATES.has(key)) return undefined;
      const sent = variables.sentDates(key);
      if (sent.length > 0) {
        return sent.some((d) => d.value === actual.value) ? undefined : fail(`the ${key} the client sent: ${sent.map((d) => describeDate(actual.type, d.value)).join(' or ')}`);
      }
      const center = dateValue(actual.type, this.ctx.receivedAt, offset);
      const unit = actual.type === 'DateTime' ? 1n : 1_000_000n;
      const off = actual.value - center;
      const tolerance = BigInt(this.tolerance) * unit;
      return off <= tolerance && off >= -tolerance ? undefined : fail(`${value.name}: ${describeDate(actual.type, center)} within ${this.tolerance} s`);
    }
    if (VARIABLE_DATES.has(key) && !variables.sentDates(key).some((d) => d.placeholder === undefined && d.value === value)) return undefined;
    return sameValue(value, actual.value) ? undefined : fail(describeItem(expected));
  }

  // -------------------------------------------------------------------------------------
  // Children

  /**
   * Compare two sibling lists: in order, except the tags `rules.unordered` names, which
   * are matched as a set (each expected item against the first unused actual item it
   * equals). `compareChild` compares one pair.
   */
  private children(
    expectedAll: readonly TemplateItem[],
    actualAll: readonly TtlvItem[],
    path: string,
    rules: ChildRules,
    compareChild: (e: TemplateItem, a: TtlvItem, childPath: string) => Result,
  ): Result {
    const ignore = rules.ignore ?? never;
    const expected = expectedAll.filter((item) => !ignore(item));
    const actual = actualAll.filter((item) => !ignore(item));
    const expectedPaths = childPaths(path, expected, actual);
    const actualPaths = childPaths(path, actual, expected);
    const isUnordered = (item: Item): boolean => rules.unordered === 'all' || (rules.unordered?.has(item.tag) ?? false);
    const ordered = this.inOrder(
      expected.filter((item) => !isUnordered(item)),
      actual.filter((item) => !isUnordered(item)),
      rules,
      expectedPaths,
      actualPaths,
      compareChild,
    );
    if (ordered) return ordered;
    return this.asSet(
      expected.filter(isUnordered),
      actual.filter(isUnordered),
      rules,
      expectedPaths,
      actualPaths,
      compareChild,
    );
  }

  private inOrder(
    expected: readonly TemplateItem[],
    actual: readonly TtlvItem[],
    rules: ChildRules,
    expectedPaths: ReadonlyMap<Item, string>,
    actualPaths: ReadonlyMap<Item, string>,
    compareChild: (e: TemplateItem, a: TtlvItem, childPath: string) => Result,
  ): Result {
    const optional = rules.optional ?? never;
    const extra = rules.extra ?? never;
    let i = 0;
    let j = 0;
    while (i < expected.length || j < actual.length) {
      const e = expected[i];
      const a = actual[j];
      if (e !== undefined && a !== undefined && e.tag === a.tag) {
        const difference = this.attempt(() => compareChild(e, a, pathOf(expectedPaths, e)));
        if (difference === undefined) {
          i += 1;
          j += 1;
          continue;
        }
        // An extra item of the same tag (a protocol version the client did not ask about): skip it.
        if (extra(a)) {
          j += 1;
          continue;
        }
        return difference;
      }
      if (a !== undefined && (extra(a) || optional(a))) {
        j += 1;
        continue;
      }
      if (e !== undefined && optional(e)) {
        i += 1;
        continue;
      }
      // Tags differ: an actual item whose tag the rest of the expected list lacks is extra;
      // an expected item whose tag the rest of the actual list lacks is missing; else the order differs.
      if (a !== undefined && (e === undefined || !expected.slice(i).some((x) => x.tag === a.tag))) {
        return { path: pathOf(actualPaths, a), expected: 'absent', actual: describeItem(a) };
      }
      if (e !== undefined) {
        return { path: pathOf(expectedPaths, e), expected: describeItem(e), actual: a === undefined ? 'absent' : `absent (${label(a.tag)} ${describeItem(a)} in its place)` };
      }
    }
    return undefined;
  }

  private asSet(
    expected: readonly TemplateItem[],
    actual: readonly TtlvItem[],
    rules: ChildRules,
    expectedPaths: ReadonlyMap<Item, string>,
    actualPaths: ReadonlyMap<Item, string>,
    compareChild: (e: TemplateItem, a: TtlvItem, childPath: string) => Result,
  ): Result {
    const optional = rules.optional ?? never;
    const extra = rules.extra ?? never;
    const used = new Set<TtlvItem>();
    for (const e of expected) {
      const candidates = actual.filter((a) => !used.has(a) && matchKey(a) === matchKey(e));
      const match = candidates.find((a) => this.attempt(() => compareChild(e, a, pathOf(expectedPaths, e))) === undefined);
      if (match !== undefined) {
        used.add(match);
        continue;
      }
      if (optional(e)) continue;
      // Shown against its namesake when that is clear (the one State attribute, the
      // attribute of the same name); a value missing from a list (one Operation of many
      // in Query) is absent.
      const first = candidates[0];
      const single = (list: readonly Item[]): boolean => list.filter((x) => matchKey(x) === matchKey(e)).length === 1;
      if (first === undefined || (e.type !== 'Structure' && !(single(expected) && single(actual)))) return { path: pathOf(expectedPaths, e), expected: describeItem(e), actual: 'absent' };
      return compareChild(e, first, pathOf(expectedPaths, e));
    }
    for (const a of actual) {
      if (used.has(a) || extra(a) || optional(a)) continue;
      return { path: pathOf(actualPaths, a), expected: 'absent', actual: describeItem(a) };
    }
    return undefined;
  }

  /** Run a comparison; when it finds a difference, undo the bindings and advisories it made. */
  private attempt(run: () => Result): Result {
    const mark = this.ctx.variables.checkpoint();
    const advisories = this.advisories.length;
    const result = run();
    if (result !== undefined) {
      this.ctx.variables.rollback(mark);
      this.advisories.length = advisories;
    }
    return result;
  }

  // -------------------------------------------------------------------------------------
  // What may vary in one batch item

  private requestBatchItem(expected: TemplateItem, index: number): TtlvItem | undefined {
    const request = this.ctx.request;
    if (request.type !== 'Structure') return undefined;
    const items = request.value.filter((child) => child.tag === Tag.BatchItem);
    const id = childOf(expected as TtlvItem, Tag.UniqueBatchItemID);
    if (id?.type === 'ByteString') {
      const byId = items.find((item) => {
        const other = childOf(item, Tag.UniqueBatchItemID);
        return other?.type === 'ByteString' && sameValue(other.value, id.value);
      });
      if (byId) return byId;
    }
    return items[index];
  }

  private requestTemplatePayload(index: number): TemplateItem | undefined {
    const template = this.ctx.requestTemplate;
    if (template?.type !== 'Structure') return undefined;
    const item = template.value.filter((child) => child.tag === Tag.BatchItem)[index];
    return item?.type === 'Structure' ? item.value.find((child) => child.tag === Tag.RequestPayload) : undefined;
  }

  private batchRules(expected: TemplateItem, actual: TtlvItem, requestItem: TtlvItem | undefined, index: number): BatchRules {
    const operationItem = childOf(requestItem, Tag.Operation) ?? childOf(actual, Tag.Operation);
    return batchRules({
      operation: operationItem?.type === 'Enumeration' ? operationItem.value : undefined,
      request: childOf(requestItem, Tag.RequestPayload),
      requestTemplate: this.requestTemplatePayload(index),
      expected: childOf(expected as TtlvItem, Tag.ResponsePayload),
      actual: childOf(actual, Tag.ResponsePayload),
      objects: this.ctx.objects,
      caseName: this.ctx.caseName,
    });
  }
}

const noScope: Scope = { batch: undefined, attributeName: undefined };

function never(): boolean {
  return false;
}

/** The key under which unordered siblings are matched: the tag, and an attribute's name. */
function matchKey(item: Item): string {
  if (item.type !== 'Structure') return String(item.tag);
  const name = item.tag === Tag.Attribute ? attributeNameAmong(item.value) : undefined;
  return name === undefined ? String(item.tag) : `${item.tag}:${name}`;
}

function sameValue(a: unknown, b: unknown): boolean {
  if (a instanceof Uint8Array && b instanceof Uint8Array) return Buffer.from(a.buffer, a.byteOffset, a.length).equals(b);
  return a === b;
}

function label(tag: number): string {
  return registry.tagByValue(tag)?.xmlName ?? registry.tagHex(tag);
}

/**
 * Paths of the children of one structure: `Parent/Tag`, with `[i]` when the tag occurs
 * more than once among these siblings or the other side's, and always for Batch Items.
 */
function childPaths(parent: string, items: readonly Item[], others: readonly Item[]): Map<Item, string> {
  const counts = new Map<number, number>();
  for (const item of items) counts.set(item.tag, (counts.get(item.tag) ?? 0) + 1);
  const otherCounts = new Map<number, number>();
  for (const item of others) otherCounts.set(item.tag, (otherCounts.get(item.tag) ?? 0) + 1);
  const seen = new Map<number, number>();
  const paths = new Map<Item, string>();
  for (const item of items) {
    const n = seen.get(item.tag) ?? 0;
    seen.set(item.tag, n + 1);
    const indexed = item.tag === Tag.BatchItem || (counts.get(item.tag) ?? 0) > 1 || (otherCounts.get(item.tag) ?? 0) > 1;
    paths.set(item, `${parent}/${label(item.tag)}${indexed ? `[${n}]` : ''}`);
  }
  return paths;
}

function pathOf(paths: ReadonlyMap<Item, string>, item: Item): string {
  return paths.get(item) ?? label(item.tag);
}

/** "OperationFailed (ItemNotFound: "no such object")": a batch item's result in a line. */
function describeOutcome(batchItem: TtlvItem): string {
  const status = childOf(batchItem, Tag.ResultStatus);
  const reason = childOf(batchItem, Tag.ResultReason);
  const message = childOf(batchItem, Tag.ResultMessage);
  const parts = [reason ? describeItem(reason).replace(/^Enumeration /, '') : undefined, message?.type === 'TextString' ? JSON.stringify(message.value) : undefined].filter(
    (part): part is string => part !== undefined,
  );
  const head = describeItem(status);
  return parts.length > 0 ? `${head} (${parts.join(': ')})` : head;
}

function describeDate(type: 'DateTime' | 'DateTimeExtended', value: bigint): string {
  return describeItem({ tag: Tag.TimeStamp, type, value } as TtlvItem);
}
