/**
 * Replaying test cases: each case on its own connection with a fresh placeholder map;
 * for each request/response pair, substitute, send, compare, bind. Cases of one family
 * run in order against the same server (later cases find what earlier ones left); TL
 * families get a server of their own with an empty store when one can be started.
 */
import { readFile, stat } from 'node:fs/promises';
import { Enum, Tag, leaf, parseXml, structure } from '../ttlv/index.js';
import type { TemplateItem, TtlvItem } from '../ttlv/index.js';
import { compareVersions } from './cases.js';
import type { CaseFile } from './cases.js';
import { KmipConnection } from '../lib/client/index.js';
import type { ClientTlsOptions } from '../lib/client/index.js';
import { compareResponse } from './compare.js';
import type { Difference } from './compare.js';
import { ObjectRegistry, childOf } from './objects.js';
import { PlaceholderError, Variables } from './variables.js';
import { HttpsKmipConnection, caseEncoding } from './https.js';
import type { HttpsEndpoint } from './https.js';

/** A server to replay against. */
export interface Target {
  readonly host: string;
  readonly port: number;
  readonly tls: ClientTlsOptions;
  /** How the report names it: "kmipd 127.0.0.1:40123 (fresh data folder)". */
  readonly description: string;
  /** Its KMIP over HTTPS endpoint: the MSGENC cases are replayed there, in their encoding. */
  readonly https?: HttpsEndpoint;
}

/** A server of its own, started for a family of cases that need an empty store. */
export interface FreshTarget {
  readonly target: Target;
  stop(): Promise<void>;
}

/** One connection as the runner uses it (KmipConnection, or a stand-in in tests). */
export interface Connection {
  send(message: TtlvItem): Promise<TtlvItem>;
  close(): Promise<void>;
}

export type Connect = (target: Target) => Promise<Connection>;

/** The failing step, kept for --verbose. */
export interface StepDetail {
  readonly request: TemplateItem;
  readonly expected: TemplateItem;
  readonly actual: TtlvItem | undefined;
}

export interface CaseOutcome {
  readonly status: 'pass' | 'fail';
  /** Why it failed, in a line. */
  readonly reason?: string;
  /** The failing step, 0-based like the cases' own "step=N" correlation values. */
  readonly step?: number;
  readonly difference?: Difference;
  readonly advisories: readonly { readonly step: number; readonly difference: Difference }[];
  readonly steps: number;
  readonly detail?: StepDetail;
  readonly durationMs: number;
}

export interface CaseResult extends CaseOutcome {
  readonly case: CaseFile;
}

export interface ReplayOptions {
  readonly connect?: Connect;
  /** The runner's clock, ms since the epoch (tests fix it). */
  readonly now?: () => number;
  /** Response timeout per step, ms. */
  readonly timeoutMs?: number;
  /** Seconds a server-set `$NOW` may be off the runner's clock. */
  readonly clockToleranceSeconds?: number;
  /** Revoke and destroy what a failed case created (default true). */
  readonly cleanup?: boolean;
  /** The case's test identifier (MSGENC-XML-M-1-21), for variations its description allows. */
  readonly caseName?: string;
}

const DEFAULT_TIMEOUT_MS = 15_000;

/** Load the messages of a case file, its text first passed through `prepare`; throws on a file that is not a case. */
export async function loadCase(file: string, prepare: (text: string) => string = (text) => text): Promise<TemplateItem[]> {
  return parseXml(prepare(await readFile(file, 'utf8')));
}

/** Pair up the messages: request, response, request, response... */
export function pairSteps(messages: readonly TemplateItem[]): Step[] {
  if (messages.length === 0) throw new Error('the case holds no message');
  if (messages.length % 2 !== 0) throw new Error(`the case holds ${messages.length} messages, not request/response pairs`);
  const steps: Step[] = [];
  for (let i = 0; i < messages.length; i += 2) {
    const request = messages[i] as TemplateItem;
    const expected = messages[i + 1] as TemplateItem;
    if (request.tag !== Tag.RequestMessage || expected.tag !== Tag.ResponseMessage) {
      throw new Error(`message ${i + 1} and ${i + 2} are not a RequestMessage followed by a ResponseMessage`);
    }
    steps.push({ request, expected });
  }
  return steps;
}

/** Replay one case's messages against `target` on one new connection. */
export async function replayCase(messages: readonly TemplateItem[], target: Target, objects: ObjectRegistry, options: ReplayOptions = {}): Promise<CaseOutcome> {
  const started = Date.now();
  const advisories: { step: number; difference: Difference }[] = [];
  const done = (outcome: Omit<CaseOutcome, 'advisories' | 'durationMs'>): CaseOutcome => ({ ...outcome, advisories, durationMs: Date.now() - started });

  let steps: Step[];
  try {
    steps = pairSteps(messages);
  } catch (error) {
    return done({ status: 'fail', reason: `not a test case: ${messageOf(error)}`, steps: 0 });
  }
  const connect = options.connect ?? connectTls(options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  let connection: Connection;
  try {
    connection = await connect(target);
  } catch (error) {
    return done({ status: 'fail', reason: messageOf(error), step: 0, steps: steps.length });
  }
  const state: ReplayState = { created: [], lastRequest: undefined, connectionBroken: false };
  let outcome: CaseOutcome;
  try {
    outcome = done(await replaySteps(steps, connection, objects, options, advisories, state));
  } finally {
    if (!state.connectionBroken) await connection.close().catch(() => undefined);
  }
  // 8.4.2: a test may omit its clean-up "provided there is a separate mechanism to remove
  // the created objects": a failed case leaves objects that later cases would Locate.
  if (outcome.status === 'fail' && state.created.length > 0 && options.cleanup !== false && state.lastRequest) {
    await removeObjects(state.created, protocolVersionOf(state.lastRequest), target, connect);
  }
  return outcome;
}

interface Step {
  readonly request: TemplateItem;
  readonly expected: TemplateItem;
}

interface ReplayState {
  /** Objects this case created, in order. */
  created: string[];
  lastRequest: TtlvItem | undefined;
  connectionBroken: boolean;
}

async function replaySteps(
  steps: readonly Step[],
  connection: Connection,
  objects: ObjectRegistry,
  options: ReplayOptions,
  advisories: { step: number; difference: Difference }[],
  state: ReplayState,
): Promise<Omit<CaseOutcome, 'advisories' | 'durationMs'>> {
  const now = options.now ?? Date.now;
  const variables = new Variables();
  for (const [index, { request: template, expected }] of steps.entries()) {
    let request: TtlvItem;
    try {
      request = variables.substitute(template, now());
    } catch (error) {
      if (error instanceof PlaceholderError) return { status: 'fail', reason: error.message, step: index, steps: steps.length, detail: { request: template, expected, actual: undefined } };
      throw error;
    }
    state.lastRequest = request;
    let actual: TtlvItem;
    try {
      actual = await connection.send(request);
    } catch (error) {
      state.connectionBroken = true;
      return { status: 'fail', reason: messageOf(error), step: index, steps: steps.length, detail: { request, expected, actual: undefined } };
    }
    const receivedAt = now();
    // Objects first: a batch may Create and then Get with the ID placeholder.
    state.created.push(...learnObjects(objects, request, actual));
    const comparison = compareResponse(expected, actual, {
      variables,
      objects,
      request,
      requestTemplate: template,
      receivedAt,
      ...(options.clockToleranceSeconds !== undefined ? { clockToleranceSeconds: options.clockToleranceSeconds } : {}),
      ...(options.caseName !== undefined ? { caseName: options.caseName } : {}),
    });
    for (const difference of comparison.advisories) advisories.push({ step: index, difference });
    if (comparison.difference) {
      return { status: 'fail', step: index, difference: comparison.difference, steps: steps.length, detail: { request, expected, actual } };
    }
    variables.remember(actual);
  }
  return { status: 'pass', steps: steps.length };
}

/** MSGENC-HTTPS/XML/JSON cases go to the target's HTTPS endpoint in their encoding, when it has one. */
function encodingConnect(c: CaseFile, target: Target, timeoutMs: number): Connect | undefined {
  const encoding = caseEncoding(c);
  const endpoint = target.https;
  if (encoding === undefined || endpoint === undefined) return undefined;
  return async () => new HttpsKmipConnection(endpoint, target.tls, encoding, timeoutMs);
}

function connectTls(timeoutMs: number): Connect {
  return (target) => KmipConnection.connect(target.host, target.port, { ...target.tls, requestTimeoutMs: timeoutMs });
}

/** Record the objects every successful batch item created; returns their identifiers. */
function learnObjects(objects: ObjectRegistry, request: TtlvItem, response: TtlvItem): string[] {
  if (request.type !== 'Structure' || response.type !== 'Structure') return [];
  const requests = request.value.filter((item) => item.tag === Tag.BatchItem);
  const responses = response.value.filter((item) => item.tag === Tag.BatchItem);
  return responses.flatMap((item, i) => {
    const status = childOf(item, Tag.ResultStatus);
    if (status?.type !== 'Enumeration' || status.value !== Enum.ResultStatus.Success) return [];
    const operation = childOf(item, Tag.Operation) ?? childOf(requests[i], Tag.Operation);
    return objects.record(operation?.type === 'Enumeration' ? operation.value : undefined, childOf(requests[i], Tag.RequestPayload), childOf(item, Tag.ResponsePayload));
  });
}

/** The Protocol Version structure of a request's header. */
function protocolVersionOf(request: TtlvItem): TtlvItem | undefined {
  return childOf(childOf(request, Tag.RequestHeader), Tag.ProtocolVersion);
}

/** Best effort, results ignored: Revoke then Destroy each object, newest first. */
async function removeObjects(uids: readonly string[], version: TtlvItem | undefined, target: Target, connect: Connect): Promise<void> {
  let connection: Connection;
  try {
    connection = await connect(target);
  } catch {
    return;
  }
  const message = (operation: number, payload: TtlvItem[]): TtlvItem =>
    structure<never>(Tag.RequestMessage, [
      structure<never>(Tag.RequestHeader, [...(version ? [version] : []), leaf(Tag.BatchCount, 'Integer', 1)]),
      structure<never>(Tag.BatchItem, [leaf(Tag.Operation, 'Enumeration', operation), structure<never>(Tag.RequestPayload, payload)]),
    ]);
  try {
    for (const uid of [...uids].reverse()) {
      const id = leaf(Tag.UniqueIdentifier, 'TextString', uid);
      const reason = structure<never>(Tag.RevocationReason, [leaf(Tag.RevocationReasonCode, 'Enumeration', Enum.RevocationReasonCode.CessationOfOperation)]);
      await connection.send(message(Enum.Operation.Revoke, [id, reason]));
      await connection.send(message(Enum.Operation.Destroy, [id]));
    }
  } catch {
    // The server may have closed the connection: what is left stays.
  } finally {
    await connection.close().catch(() => undefined);
  }
}

// ---------------------------------------------------------------------------------------
// The suite

export interface SuiteOptions extends ReplayOptions {
  readonly cases: readonly CaseFile[];
  /** The server all ordinary cases share. */
  readonly target: Target;
  /** Starts a server with an empty store for a family that needs one; none with --server. */
  readonly fresh?: () => Promise<FreshTarget>;
  /** Starts a server with an HSM for the families that need one (PKCS#11); none with --server. */
  readonly hsm?: () => Promise<FreshTarget>;
  /** Families run in parallel, each on its own connections. */
  readonly concurrency: number;
  readonly onResult?: (result: CaseResult) => void;
  /** Applied to each case's text before parsing (local corrections of errata). */
  readonly prepare?: (c: CaseFile, text: string) => string;
}

/** A family of cases run in order against one server. */
interface Lane {
  readonly key: string;
  readonly cases: CaseFile[];
  readonly fresh: boolean;
  readonly hsm: boolean;
  cost: number;
}

/** Replay every case; results come back in the order of `options.cases`. */
export async function runSuite(options: SuiteOptions): Promise<CaseResult[]> {
  const lanes = await planLanes(options.cases);
  const results = new Map<CaseFile, CaseResult>();
  const record = (result: CaseResult): void => {
    results.set(result.case, result);
    options.onResult?.(result);
  };
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < lanes.length) {
      const lane = lanes[next] as Lane;
      next += 1;
      await runLane(lane, options, record);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(options.concurrency, lanes.length)) }, worker));
  return options.cases.map((c) => results.get(c) ?? { case: c, status: 'fail', reason: 'not run', advisories: [], steps: 0, durationMs: 0 });
}

async function runLane(lane: Lane, options: SuiteOptions, record: (result: CaseResult) => void): Promise<void> {
  let target = options.target;
  let fresh: FreshTarget | undefined;
  const start = lane.hsm && options.hsm ? options.hsm : lane.fresh ? options.fresh : undefined;
  if (start !== undefined) {
    try {
      fresh = await start();
      target = fresh.target;
    } catch (error) {
      const what = lane.hsm ? 'with an HSM' : 'with an empty store';
      for (const c of lane.cases) record({ case: c, status: 'fail', reason: `cannot start a server ${what}: ${messageOf(error)}`, advisories: [], steps: 0, durationMs: 0 });
      return;
    }
  }
  const objects = new ObjectRegistry();
  try {
    for (const c of lane.cases) {
      let messages: TemplateItem[];
      try {
        const prepare = options.prepare;
        messages = await loadCase(c.path, prepare ? (text) => prepare(c, text) : undefined);
      } catch (error) {
        record({ case: c, status: 'fail', reason: `cannot load the case: ${messageOf(error)}`, advisories: [], steps: 0, durationMs: 0 });
        continue;
      }
      const transport = options.connect === undefined ? encodingConnect(c, target, options.timeoutMs ?? DEFAULT_TIMEOUT_MS) : undefined;
      record({ case: c, ...(await replayCase(messages, target, objects, { ...options, caseName: caseName(c), ...(transport === undefined ? {} : { connect: transport }) })) });
    }
  } finally {
    await fresh?.stop();
  }
}

/**
 * Families in lanes: a family's cases in order of version then case number; TL families
 * per version folder, each on its own empty server. Longest lanes start first.
 */
async function planLanes(cases: readonly CaseFile[]): Promise<Lane[]> {
  const lanes = new Map<string, Lane>();
  for (const c of cases) {
    const hsm = c.needsHsm === true;
    const key = hsm ? `${c.family}@hsm` : c.freshServer ? `${c.family}@${c.version}` : c.family;
    const lane = lanes.get(key) ?? { key, cases: [], fresh: c.freshServer || hsm, hsm, cost: 0 };
    lane.cases.push(c);
    lanes.set(key, lane);
  }
  for (const lane of lanes.values()) {
    lane.cases.sort((a, b) => compareVersions(a.version, b.version) || a.number - b.number || (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
    const sizes = await Promise.all(lane.cases.map((c) => stat(c.path).then((s) => s.size, () => 0)));
    lane.cost = sizes.reduce((sum, size) => sum + size, 0) + (lane.fresh ? 200_000 : 0);
  }
  return [...lanes.values()].sort((a, b) => b.cost - a.cost);
}

/** The test identifier a case file is named after: v2.1/mandatory/QS-M-1-21.xml is QS-M-1-21. */
export function caseName(c: CaseFile): string {
  return c.file.replace(/^.*\//, '').replace(/\.xml$/i, '');
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
