/**
 * An in-process key manager over a real SQLite file and a real KEK file, for tests that
 * check KMIP behaviour without a socket. Requests are written in the KMIP XML encoding.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Tag, decodeTtlv, encodeTtlv, isConcrete, parseXml, toXml } from '../../ttlv/index.js';
import type { TtlvItem } from '../../ttlv/index.js';
import { indexKeys } from '../../lib/attributes/index.js';
import { createKekFile, loadKekFile } from '../../lib/crypto/index.js';
import { jsonLogger } from '../../lib/log.js';
import { createKmipService } from '../../lib/service.js';
import type { KmipService, ServiceLimits } from '../../lib/service.js';
import type { CertificateIssuer } from '../../lib/crypto/x509.js';
import { openSqliteStore } from '../../lib/store/index.js';
import type { CommitGrouping, Store } from '../../lib/store/index.js';

export interface TestService {
  readonly service: KmipService;
  readonly store: Store;
  /** The data folder (the SQLite file and the KEK file). */
  readonly dir: string;
  /** Every log line the service wrote, parsed. */
  readonly logs: Record<string, unknown>[];
  /** Send one request (XML) as `identity`; the response as a tree. */
  send(xml: string, identity?: string): Promise<TtlvItem>;
  /** Move the service's clock (seconds). */
  setNow(seconds: bigint): void;
  close(): Promise<void>;
}

export interface TestServiceOptions {
  readonly admins?: string[];
  readonly limits?: Partial<ServiceLimits>;
  /** Offer the Interop operation (a service run for interoperability testing). */
  readonly interopTesting?: boolean;
  /** The CA Certify and Re-certify sign with by default. */
  readonly issuer?: CertificateIssuer;
  /**
   * Serve from another service's data folder, over a connection of its own, as a second
   * cluster worker does (both should then use the 'deferred' grouping of cluster workers).
   */
  readonly sharing?: TestService;
  readonly commitGrouping?: CommitGrouping;
}

export async function openTestService(options: TestServiceOptions = {}): Promise<TestService> {
  const dir = options.sharing?.dir ?? mkdtempSync(path.join(tmpdir(), 'kmipd-service-'));
  if (options.sharing === undefined) await createKekFile(path.join(dir, 'kek.key'));
  const kek = await loadKekFile(path.join(dir, 'kek.key'));
  const store = await openSqliteStore({ path: path.join(dir, 'kmipd.db'), kek, indexKeys, ...(options.commitGrouping === undefined ? {} : { commitGrouping: options.commitGrouping }) });
  let now: bigint | undefined;
  const logs: Record<string, unknown>[] = [];
  const log = jsonLogger({ write: (line: string) => logs.push(JSON.parse(line) as Record<string, unknown>) }, 'debug');
  const service = createKmipService({
    store,
    log,
    clock: () => now ?? BigInt(Math.floor(Date.now() / 1000)),
    ...(options.limits === undefined ? {} : { limits: options.limits }),
    ...(options.interopTesting === undefined ? {} : { interopTesting: options.interopTesting }),
    ...(options.issuer === undefined ? {} : { issuer: options.issuer }),
  });
  const admins = new Set(options.admins ?? ['admin']);
  return {
    service,
    store,
    dir,
    logs,
    send: async (xml, identity = 'alice') => {
      const [message] = parseXml(xml);
      if (message === undefined || !isConcrete(message)) throw new Error('test request must be one concrete message');
      const response = await service.handle(encodeTtlv(message), { identity: { name: identity, admin: admins.has(identity) }, peer: 'test' });
      return decodeTtlv(response);
    },
    setNow: (seconds) => {
      now = seconds;
    },
    close: async () => {
      await store.close();
      // The folder belongs to the service that made it.
      if (options.sharing === undefined) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A request message in XML with the given version and batch items (each a BatchItem body). */
export function request(version: string, ...items: string[]): string {
  const [major, minor] = version.split('.');
  return `<RequestMessage>
  <RequestHeader>
    <ProtocolVersion><ProtocolVersionMajor type="Integer" value="${major}"/><ProtocolVersionMinor type="Integer" value="${minor}"/></ProtocolVersion>
    <BatchCount type="Integer" value="${items.length}"/>
  </RequestHeader>
  ${items.map((item) => `<BatchItem>${item}</BatchItem>`).join('\n')}
</RequestMessage>`;
}

/** The batch items of a response, as plain objects for assertions. */
export interface ItemResult {
  operation: string | undefined;
  status: string;
  reason: string | undefined;
  message: string | undefined;
  payload: TtlvItem | undefined;
}

export function results(response: TtlvItem): ItemResult[] {
  if (response.type !== 'Structure') throw new Error('response is not a structure');
  return response.value
    .filter((item) => item.tag === Tag.BatchItem)
    .map((item) => {
      if (item.type !== 'Structure') throw new Error('batch item is not a structure');
      const find = (tag: number): TtlvItem | undefined => item.value.find((child) => child.tag === tag);
      const enumName = (tag: number): string | undefined => {
        const found = find(tag);
        if (found === undefined || found.type !== 'Enumeration') return undefined;
        // Read the name through the XML encoder, so tests compare names, not numbers.
        const xml = toXml(found);
        return /value="([^"]*)"/.exec(xml)?.[1];
      };
      const message = find(Tag.ResultMessage);
      return {
        operation: enumName(Tag.Operation),
        status: enumName(Tag.ResultStatus) ?? 'missing',
        reason: enumName(Tag.ResultReason),
        message: message?.type === 'TextString' ? message.value : undefined,
        payload: find(Tag.ResponsePayload),
      };
    });
}

/** The first value of a tag anywhere under `item` (depth-first). */
export function findValue(item: TtlvItem | undefined, tag: number): TtlvItem | undefined {
  if (item === undefined) return undefined;
  if (item.tag === tag) return item;
  if (item.type !== 'Structure') return undefined;
  for (const child of item.value) {
    const found = findValue(child, tag);
    if (found) return found;
  }
  return undefined;
}

/** Every item with `tag` anywhere under `item`. */
export function findAll(item: TtlvItem | undefined, tag: number): TtlvItem[] {
  if (item === undefined) return [];
  const here = item.tag === tag ? [item] : [];
  return item.type === 'Structure' ? [...here, ...item.value.flatMap((child) => findAll(child, tag))] : here;
}

export function textOf(item: TtlvItem | undefined): string {
  if (item?.type !== 'TextString') throw new Error(`expected a Text String, got ${item?.type ?? 'nothing'}`);
  return item.value;
}
