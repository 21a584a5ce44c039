/**
 * The key manager's front door: one binary request message in, one binary response out.
 * Transports (TLS, HTTPS) frame the bytes and establish the identity; everything KMIP is
 * here. `handle` never rejects: every failure becomes a KMIP answer.
 */
import { randomUUID } from 'node:crypto';
import { Enum, Tag, TtlvError, decodeTtlv, encodeTtlv, encodedSize } from '../ttlv/index.js';
import { enumerationDefinedIn } from './attributes/index.js';
import type { KmipVersion, TtlvItem } from '../ttlv/index.js';
import type { Identity } from './auth/identity.js';
import { GRANT_OPERATION_NAMES } from './auth/extension.js';
import { readCredential } from './auth/credential.js';
import type { AuthenticationOutcome, Authenticator } from './auth/credential.js';
import { StreamTable } from './crypto/streams.js';
import type { HsmContext } from './operations/types.js';
import { KmipError } from './errors.js';
import type { LogFields, Logger } from './log.js';
import { Fields } from './protocol/fields.js';
import { buildResponse, parseRequest, requestVersion } from './protocol/message.js';
import type { RequestBatchItem, RequestMessage, ResponseBatchItem } from './protocol/message.js';
import { fitToVersion } from './protocol/versions.js';
import { OPERATIONS, offered } from './operations/table.js';
import type { OperationContext, OperationLimits } from './operations/types.js';
import { OverlayStore, StoreConflictError } from './store/index.js';
import { AuditWriter, RequestAudit, auditCommits } from './audit/index.js';
import type { AuditEntry } from './audit/index.js';
import type { AuditDurability, Store } from './store/types.js';
import type { CertificateIssuer } from './crypto/x509.js';

export interface Session {
  readonly identity: Identity;
  /** For logs: "203.0.113.7:50122". */
  readonly peer: string;
}

export interface KmipService {
  handle(request: Buffer, session: Session): Promise<Buffer>;
  /** The answer to send before closing a connection whose byte stream cannot be framed. */
  unframeable(error: TtlvError): Buffer;
  /**
   * Record in the audit trail the refusal that `unframeable` answers (a stream that cannot be
   * framed, a request that never arrived in full), as the answer's Result Message says it.
   * Never rejects; resolves once the record is written as auditReadDurability says.
   */
  recordRefusal?(session: Session, error: TtlvError): Promise<void>;
}

export interface ServiceLimits extends OperationLimits {
  readonly maxDepth: number;
  readonly maxBatchItems: number;
}

export const DEFAULT_SERVICE_LIMITS: ServiceLimits = {
  maxDepth: 32,
  maxBatchItems: 64,
  locateMaxItems: 1000,
  locateMaxScan: 100_000,
  locateMaxCount: 10_000,
  leaseTimeSeconds: 3600,
};

export interface ServiceOptions {
  readonly store: Store;
  readonly log: Logger;
  readonly limits?: Partial<ServiceLimits>;
  /** The clock, POSIX seconds; tests move it. */
  readonly clock?: () => bigint;
  /**
   * Run for interoperability testing: offer the Interop operation, which KMIP forbids in
   * a production server (2.1 section 6.1.26). Default false.
   */
  readonly interopTesting?: boolean;
  /** Told of every batch item once it has run (metrics); must not throw. */
  readonly observe?: (event: OperationEvent) => void;
  /** The CA Certify and Re-certify sign with by default (see OperationContext.issuer). */
  readonly issuer?: CertificateIssuer;
  /** The configured HSM, for keys held in it and the PKCS#11 operation (see OperationContext.hsm). */
  readonly hsm?: HsmContext;
  /**
   * Record every request in the store's hash-chained audit trail (lib/audit), before its
   * answer is sent. Default true.
   */
  readonly audit?: boolean;
  /**
   * How durable the record of an item that changes nothing (a read, a failure, a refusal) is
   * before its answer goes out (Changes.auditDurability): `process` (default) written to the
   * database, synced with the next change; `fsync` synced first. A change's record is always
   * synced in the change's own transaction.
   */
  readonly auditReadDurability?: AuditDurability;
  /**
   * Check each request's Credential (issue 6: a Username and Password required besides the
   * client certificate): the request then acts as the identity returned; a refusal answers
   * Authentication Not Successful for every batch item. Absent: the Credential is ignored.
   */
  readonly authenticate?: Authenticator;
}

/** One batch item handled: what metrics count (server/metrics.ts). */
export interface OperationEvent {
  /** The Operation's name ("Create"), or its code in hex when KMIP names none. */
  readonly operation: string;
  readonly status: ResponseBatchItem['status'];
  readonly reason: ResponseBatchItem['reason'];
  /** From decoding the payload to the handler's answer (commits included). */
  readonly seconds: number;
}

/** When a message cannot even be read, the answer speaks the oldest version every client knows. */
const FALLBACK_VERSION: KmipVersion = '1.0';

export function createKmipService(options: ServiceOptions): KmipService {
  const limits: ServiceLimits = { ...DEFAULT_SERVICE_LIMITS, ...options.limits };
  const clock = options.clock ?? wallClock;
  const log = options.log;
  const streams = new StreamTable();
  const auditing = options.audit !== false;
  // Records of requests that change nothing share transactions (group commit).
  const auditDurability = options.auditReadDurability ?? 'process';
  const auditWriter = new AuditWriter({ commit: (entries) => options.store.commit({ audit: entries, auditDurability }) });

  const failure = (version: KmipVersion, reason: KmipError, operation?: number): Buffer =>
    encodeTtlv(
      buildResponse({ version, timeStamp: clock() }, [
        { operation, uniqueBatchItemId: undefined, status: 'OperationFailed', reason: reason.reason, message: reason.message },
      ]),
    );

  async function handle(bytes: Buffer, session: Session): Promise<Buffer> {
    let tree: TtlvItem;
    try {
      tree = decodeTtlv(bytes, { maxDepth: limits.maxDepth });
    } catch (error) {
      const message = error instanceof TtlvError ? error.message : 'the message cannot be decoded';
      log.info('request refused', { peer: session.peer, identity: session.identity.name, reason: message });
      const refusal = new KmipError('InvalidMessage', message);
      await auditRefusal(session, refusal);
      return failure(FALLBACK_VERSION, refusal);
    }
    let request: RequestMessage;
    try {
      request = parseRequest(tree, limits);
    } catch (error) {
      const version = requestVersion(tree) ?? FALLBACK_VERSION;
      const kmip = error instanceof KmipError ? error : new KmipError('InvalidMessage', 'the request message cannot be read');
      log.info('request refused', { peer: session.peer, identity: session.identity.name, reason: kmip.message });
      await auditRefusal(session, kmip);
      return failure(version, kmip);
    }
    // 2.1 section 9.10: a server correlation value on every log line of this request.
    const correlation = randomUUID();
    const outcome = options.authenticate === undefined ? undefined : await options.authenticate(readCredential(request.header.authentication), session);
    if (outcome?.ok === false) return refuseUnauthenticated(request, session, outcome, correlation);
    const certificate = session.identity.name;
    if (outcome !== undefined) session = { ...session, identity: outcome.identity };
    // Fields added one by one, in the same order: conditional spreads cost an object each, per request.
    const fields: LogFields = { peer: session.peer, identity: session.identity.name };
    if (session.identity.name !== certificate) fields['certificate'] = certificate;
    fields['correlation'] = correlation;
    if (request.header.clientCorrelationValue !== undefined) fields['clientCorrelation'] = request.header.clientCorrelationValue;
    const requestLog = log.child(fields);
    const items = await runBatch(request, session, requestLog, correlation);
    return encodeResponse(request, items, requestLog);
  }

  /**
   * A request whose Credential was not accepted: every batch item answers Authentication Not
   * Successful (1.4 section 6.6: instead of any partial result), each audited under the
   * certificate's identity, and nothing runs.
   */
  async function refuseUnauthenticated(request: RequestMessage, session: Session, outcome: Extract<AuthenticationOutcome, { ok: false }>, correlation: string): Promise<Buffer> {
    const clientCorrelation = request.header.clientCorrelationValue;
    const requestLog = log.child({ peer: session.peer, identity: session.identity.name, correlation, ...(clientCorrelation === undefined ? {} : { clientCorrelation }) });
    requestLog.warn('authentication failed', { reason: outcome.reason, ...(outcome.username === undefined ? {} : { username: outcome.username }) });
    const audit = auditing ? new RequestAudit({ identity: session.identity.name, peer: session.peer, correlation, clientCorrelation }) : undefined;
    const results = request.items.map((item, index): ResponseBatchItem => {
      const result: ResponseBatchItem = {
        operation: operationDefinedIn(item.operation, request.header.version) ? item.operation : undefined,
        uniqueBatchItemId: item.uniqueBatchItemId,
        status: 'OperationFailed',
        reason: 'AuthenticationNotSuccessful',
        message: outcome.message,
      };
      audit?.begin(index + 1, operationName(item.operation), item.payload);
      audit?.finish(result);
      options.observe?.({ operation: operationName(item.operation), status: result.status, reason: result.reason, seconds: 0 });
      return result;
    });
    const answered = audit === undefined ? results : await writeAudit(audit.unwritten(), results, results.map(() => true), requestLog);
    return encodeResponse(request, answered, requestLog);
  }

  /** One audit record for a message refused before its batch items could be read (or a stream that cannot be framed). */
  async function auditRefusal(session: Session, refusal: KmipError): Promise<void> {
    if (!auditing) return;
    const audit = new RequestAudit({ identity: session.identity.name, peer: session.peer, correlation: randomUUID() });
    try {
      await auditWriter.write([audit.refused(refusal.reason, refusal.message)]);
    } catch (error) {
      // The refusal serves nothing, so it is still sent.
      log.error('audit record could not be written', { error, peer: session.peer, identity: session.identity.name });
    }
  }

  /**
   * Write the records not yet written with a change, before the answer goes out. Should that
   * fail, no result they describe is sent: each such item answers General Failure instead.
   */
  async function writeAudit(entries: readonly AuditEntry[], results: ResponseBatchItem[], unwritten: readonly boolean[], requestLog: Logger): Promise<ResponseBatchItem[]> {
    try {
      await auditWriter.write(entries);
      return results;
    } catch (error) {
      requestLog.error('audit record could not be written', { error });
      const message = 'the audit record of this operation could not be written; its result is withheld, see the server log';
      return results.map((result, index) =>
        unwritten[index] === true ? { operation: result.operation, uniqueBatchItemId: result.uniqueBatchItemId, status: 'OperationFailed', reason: 'GeneralFailure', message } : result,
      );
    }
  }

  async function runBatch(request: RequestMessage, session: Session, requestLog: Logger, correlation: string): Promise<ResponseBatchItem[]> {
    const { header } = request;
    // 11.5 Undo: the batch's changes are held back until every item has succeeded.
    const overlay = header.batchErrorContinuation === 'Undo' ? new OverlayStore(options.store) : undefined;
    const audit = auditing
      ? new RequestAudit({ identity: session.identity.name, peer: session.peer, correlation, clientCorrelation: header.clientCorrelationValue })
      : undefined;
    // Each change commits with its item's audit record; an Undo batch records at the end.
    const store = overlay ?? (audit === undefined ? options.store : auditCommits(options.store, audit));
    const ctx: OperationContext = {
      identity: session.identity,
      version: header.version,
      now: clock(),
      store,
      log: requestLog,
      limits,
      testing: options.interopTesting === true,
      streams,
      ...(options.issuer === undefined ? {} : { issuer: options.issuer }),
      ...(options.hsm === undefined ? {} : { hsm: options.hsm }),
      idPlaceholder: undefined,
    };
    const results: ResponseBatchItem[] = [];
    const { items } = request;
    for (let index = 0; index < items.length; index++) {
      const item = items[index] as RequestBatchItem;
      audit?.begin(index + 1, operationName(item.operation), item.payload);
      const result = await runItem(ctx, item);
      audit?.finish(result);
      results.push(result);
      // 11.5 Stop (the default): nothing after a failed item runs, and it gets no answer.
      if (result.status === 'OperationFailed' && header.batchErrorContinuation !== 'Continue') break;
    }
    if (overlay !== undefined) return settleUndo(overlay, results, requestLog, audit);
    if (audit === undefined) return results;
    return writeAudit(audit.unwritten(), results, audit.records.map((record) => !record.written), requestLog);
  }

  /**
   * The end of an Undo batch: after a failure nothing is written and the items that had
   * succeeded answer Operation Undone (with their payloads); otherwise every change is
   * committed together, before any answer is sent.
   */
  async function settleUndo(overlay: OverlayStore, results: ResponseBatchItem[], requestLog: Logger, audit: RequestAudit | undefined): Promise<ResponseBatchItem[]> {
    const entries = audit?.records.map((record) => record.entry) ?? [];
    const everyItem = results.map(() => true);
    if (results.some((result) => result.status === 'OperationFailed')) {
      overlay.discard();
      requestLog.info('batch undone', { undone: results.filter((result) => result.status === 'Success').length });
      const undone = results.map((result): ResponseBatchItem => (result.status === 'Success' ? { ...result, status: 'OperationUndone' } : result));
      return writeAudit(entries.map((entry) => (entry.status === 'Success' ? { ...entry, status: 'OperationUndone' } : entry)), undone, everyItem, requestLog);
    }
    try {
      // The changes and every item's record, in one transaction.
      await overlay.flush(entries);
      return results;
    } catch (error) {
      const conflict = error instanceof StoreConflictError;
      if (!conflict) requestLog.error('batch commit failed', { error });
      const message = conflict ? 'an object was changed by another request at the same time; nothing was done, retry' : 'the batch could not be committed; nothing was done, see the server log';
      const failed = results.map((result): ResponseBatchItem => ({ operation: result.operation, uniqueBatchItemId: result.uniqueBatchItemId, status: 'OperationFailed', reason: 'GeneralFailure', message }));
      return writeAudit(entries.map((entry) => ({ ...entry, status: 'OperationFailed', reason: 'GeneralFailure', message })), failed, everyItem, requestLog);
    }
  }

  async function runItem(ctx: OperationContext, item: RequestBatchItem): Promise<ResponseBatchItem> {
    if (options.observe === undefined) return executeItem(ctx, item);
    const started = performance.now();
    const result = await executeItem(ctx, item);
    options.observe({ operation: operationName(item.operation), status: result.status, reason: result.reason, seconds: (performance.now() - started) / 1000 });
    return result;
  }

  async function executeItem(ctx: OperationContext, item: RequestBatchItem): Promise<ResponseBatchItem> {
    // The answer echoes the Operation, unless the client's version has no such operation.
    const echo = operationDefinedIn(item.operation, ctx.version) ? item.operation : undefined;
    const { uniqueBatchItemId } = item;
    const op = OPERATIONS.get(item.operation);
    // What loadObject checks the caller may do (lib/auth/permissions.ts).
    ctx.operation = item.operation;
    try {
      if (op === undefined || !offered(op, ctx.version, ctx.testing)) {
        throw new KmipError('OperationNotSupported', `operation ${operationName(item.operation)} is not supported in KMIP ${ctx.version}`);
      }
      const payload = Fields.of(item.payload, 'RequestPayload');
      const request = op.decode(payload, ctx);
      const payloadOut = await op.handle(ctx, request);
      const fields: LogFields = { operation: operationName(item.operation), status: 'Success' };
      if (ctx.idPlaceholder !== undefined) fields['object'] = ctx.idPlaceholder;
      ctx.log.info('operation', fields);
      // Answers are written out field by field: V8 builds a spread followed by more properties ({ ...base, status }) on a slow path.
      return { operation: echo, uniqueBatchItemId, status: 'Success', payload: payloadOut };
    } catch (error) {
      if (error instanceof KmipError) {
        ctx.log.info('operation', { operation: operationName(item.operation), status: 'OperationFailed', reason: error.reason, message: error.message });
        return { operation: echo, uniqueBatchItemId, status: 'OperationFailed', reason: error.reason, message: error.message };
      }
      ctx.log.error('operation crashed', { operation: operationName(item.operation), error });
      return { operation: echo, uniqueBatchItemId, status: 'OperationFailed', reason: 'GeneralFailure', message: 'the server failed to process this operation; see its log' };
    }
  }

  function encodeResponse(request: RequestMessage, items: ResponseBatchItem[], requestLog: Logger): Buffer {
    const { header } = request;
    const build = (batch: readonly ResponseBatchItem[]): TtlvItem => {
      const tree = buildResponse({ version: header.version, timeStamp: clock() }, batch);
      const dropped: { path: string; why: string }[] = [];
      const fitted = fitToVersion(tree, header.version, dropped) ?? tree;
      if (dropped.length > 0) requestLog.warn('response held items the protocol version does not define', { version: header.version, dropped });
      return fitted;
    };
    let response = build(items);
    const max = header.maximumResponseSize;
    if (max !== undefined && encodedSize(response) > max) {
      // 1.4 section 7.1 / the MSGENC cases: each answer that carried a payload becomes Response Too Large.
      requestLog.info('response too large', { maximumResponseSize: max });
      response = build(
        items.map((item) =>
          item.payload === undefined
            ? item
            : { operation: item.operation, uniqueBatchItemId: item.uniqueBatchItemId, status: 'OperationFailed' as const, reason: 'ResponseTooLarge' as const, message: `the response is larger than the Maximum Response Size of ${max} bytes` },
        ),
      );
    }
    return encodeTtlv(response);
  }

  return {
    // A catch on the promise rather than an async wrapper that awaits it: one promise and one turn fewer per request.
    handle: (bytes, session) =>
      handle(bytes, session).catch((error: unknown) => {
        // Nothing above should throw; if it does, the client still gets an answer.
        log.error('request handling crashed', { error, peer: session.peer });
        return failure(FALLBACK_VERSION, new KmipError('GeneralFailure', 'the server failed to process this message; see its log'));
      }),
    unframeable: (error) => failure(FALLBACK_VERSION, new KmipError('InvalidMessage', error.message)),
    recordRefusal: (session, error) => auditRefusal(session, new KmipError('InvalidMessage', error.message)),
  };
}

function operationName(code: number): string {
  // Asked several times per batch item (audit, metrics, logs): look the name up once per code.
  const known = OPERATION_NAMES.get(code);
  if (known !== undefined) return known;
  const entry = Object.entries(Enum.Operation).find(([, value]) => value === code);
  // kmipd's own extension operations (KMIP names none) by their names; any other by its code.
  const name = entry?.[0] ?? GRANT_OPERATION_NAMES.get(code) ?? `0x${code.toString(16).padStart(8, '0')}`;
  if (OPERATION_NAMES.size < 1024) OPERATION_NAMES.set(code, name);
  return name;
}

/** Names already looked up, by operation code (bounded: a client may send any code). */
const OPERATION_NAMES = new Map<number, string>();

/** Whether KMIP `version` defines the Operation `code`, asked once per code and version (bounded like OPERATION_NAMES). */
function operationDefinedIn(code: number, version: KmipVersion): boolean {
  let known = OPERATIONS_DEFINED.get(version);
  if (known === undefined) {
    known = new Map();
    OPERATIONS_DEFINED.set(version, known);
  }
  let defined = known.get(code);
  if (defined === undefined) {
    defined = enumerationDefinedIn(Tag.Operation, code, version);
    if (known.size < 1024) known.set(code, defined);
  }
  return defined;
}

const OPERATIONS_DEFINED = new Map<KmipVersion, Map<number, boolean>>();

/** POSIX seconds now; the bigint made once a second, not for every request and response. */
function wallClock(): bigint {
  const seconds = Math.floor(Date.now() / 1000);
  if (seconds !== wallSeconds) {
    wallSeconds = seconds;
    wallBigint = BigInt(seconds);
  }
  return wallBigint;
}

let wallSeconds = Number.NaN;
let wallBigint = 0n;
