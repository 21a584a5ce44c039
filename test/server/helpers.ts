/**
 * Test helpers for the server: temporary folders, a minimal KMIP client over real mutual TLS,
 * and requests built as plain TTLV items (so the tests share nothing with the protocol layer).
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import type { ConnectionOptions, TLSSocket } from 'node:tls';
import { Enum, Tag, TtlvFramer, decodeTtlv, encodeTtlv } from '../../ttlv/index.js';
import type { TtlvItem } from '../../ttlv/index.js';
import type { LogSink } from '../../lib/log.js';

// ---------------------------------------------------------------------------------------
// Folders

export async function tempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `kmipd-${prefix}-`));
}

export async function removeDir(dir: string | undefined): Promise<void> {
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
}

// ---------------------------------------------------------------------------------------
// Requests

const struct = (tag: number, value: TtlvItem[]): TtlvItem => ({ tag, type: 'Structure', value });
const int = (tag: number, value: number): TtlvItem => ({ tag, type: 'Integer', value });
const enumeration = (tag: number, value: number): TtlvItem => ({ tag, type: 'Enumeration', value });

const protocolVersion = (major: number, minor: number): TtlvItem =>
  struct(Tag.ProtocolVersion, [int(Tag.ProtocolVersionMajor, major), int(Tag.ProtocolVersionMinor, minor)]);

/** RequestMessage{RequestHeader{ProtocolVersion 1.4, BatchCount 1}, BatchItem{Operation, RequestPayload{...}}}. */
export function request(operation: number, payload: TtlvItem[] = []): Buffer {
  return encodeTtlv(
    struct(Tag.RequestMessage, [
      struct(Tag.RequestHeader, [protocolVersion(1, 4), int(Tag.BatchCount, 1)]),
      struct(Tag.BatchItem, [enumeration(Tag.Operation, operation), struct(Tag.RequestPayload, payload)]),
    ]),
  );
}

/** DiscoverVersions; `offered` ("1.2") narrows the answer to those versions. */
export function discoverVersions(offered: string[] = []): Buffer {
  return request(
    Enum.Operation.DiscoverVersions,
    offered.map((v) => {
      const [major, minor] = v.split('.').map(Number);
      return protocolVersion(major ?? 0, minor ?? 0);
    }),
  );
}

export function queryOperations(): Buffer {
  return request(Enum.Operation.Query, [enumeration(Tag.QueryFunction, Enum.QueryFunction.QueryOperations)]);
}

// ---------------------------------------------------------------------------------------
// Responses

function child(item: TtlvItem, tag: number): TtlvItem {
  if (item.type !== 'Structure') throw new Error(`0x${item.tag.toString(16)} is not a structure`);
  const found = item.value.find((c) => c.tag === tag);
  if (found === undefined) throw new Error(`no 0x${tag.toString(16)} in 0x${item.tag.toString(16)}`);
  return found;
}

function children(item: TtlvItem, tag: number): TtlvItem[] {
  return item.type === 'Structure' ? item.value.filter((c) => c.tag === tag) : [];
}

export interface Answer {
  readonly status: number;
  readonly reason: number | undefined;
  readonly message: string | undefined;
  readonly batchItem: TtlvItem;
}

/** The first batch item of a ResponseMessage. */
export function answer(bytes: Buffer): Answer {
  const message = decodeTtlv(bytes);
  if (message.tag !== Tag.ResponseMessage) throw new Error(`not a ResponseMessage: tag 0x${message.tag.toString(16)}`);
  const item = child(message, Tag.BatchItem);
  const reason = children(item, Tag.ResultReason)[0];
  const text = children(item, Tag.ResultMessage)[0];
  return {
    status: child(item, Tag.ResultStatus).value as number,
    reason: reason?.value as number | undefined,
    message: text?.value as string | undefined,
    batchItem: item,
  };
}

/** The versions a DiscoverVersions response lists, "2.1" first. */
export function listedVersions(bytes: Buffer): string[] {
  const payload = child(answer(bytes).batchItem, Tag.ResponsePayload);
  return children(payload, Tag.ProtocolVersion).map((pv) => `${child(pv, Tag.ProtocolVersionMajor).value as number}.${child(pv, Tag.ProtocolVersionMinor).value as number}`);
}

export function listedOperations(bytes: Buffer): number[] {
  const payload = child(answer(bytes).batchItem, Tag.ResponsePayload);
  return children(payload, Tag.Operation).map((op) => op.value as number);
}

// ---------------------------------------------------------------------------------------
// A client

export interface ClientFiles {
  readonly cert?: string;
  readonly key?: string;
  readonly ca: string;
}

/** Certificate files of the data folder's development PKI. */
export function pkiFiles(dir: string, name = 'admin'): Required<ClientFiles> {
  return { cert: join(dir, 'certs', `${name}.pem`), key: join(dir, 'certs', `${name}-key.pem`), ca: join(dir, 'certs', 'ca.pem') };
}

/** A KMIP client on one TLS connection: collects whole response messages as they arrive. */
export class TestClient {
  readonly responses: Buffer[] = [];
  /** Resolves when the socket has closed. */
  readonly closed: Promise<void>;
  private readonly framer = new TtlvFramer({ maxMessageSize: 16 * 1024 * 1024 });
  private waiters: (() => void)[] = [];
  private ended = false;

  private constructor(readonly socket: TLSSocket) {
    socket.on('data', (chunk: Buffer) => {
      for (const frame of this.framer.push(chunk)) this.responses.push(Buffer.from(frame));
      this.wake();
    });
    socket.on('error', () => undefined);
    this.closed = new Promise((resolve) =>
      socket.once('close', () => {
        this.ended = true;
        this.wake();
        resolve();
      }),
    );
  }

    static async connect(port: number, files: ClientFiles, extra: Partial<ConnectionOptions> = {}): Promise<TestClient> {
    const options: ConnectionOptions = {
      host: '127.0.0.1',
      port,
      ca: await readFile(files.ca),
      ...(files.cert === undefined ? {} : { cert: await readFile(files.cert) }),
      ...(files.key === undefined ? {} : { key: await readFile(files.key) }),
      ...extra,
    };
    const socket = connect(options);
    await new Promise<void>((resolve, reject) => {
      socket.once('secureConnect', () => resolve());
      socket.once('error', reject);
      socket.once('close', () => reject(new Error('closed before the handshake completed')));
    });
    return new TestClient(socket);
  }

  send(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** Waits for the `count`-th response (1-based) and returns it; fails when the socket closes first. */
  async response(count = this.responses.length + 1, timeoutMs = 5000): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs;
    while (this.responses.length < count) {
      if (this.ended) throw new Error(`the connection closed after ${this.responses.length} responses, expected ${count}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no response ${count} after ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.responses[count - 1] as Buffer;
  }

  /** Send one request and return its response. */
  async call(bytes: Buffer): Promise<Buffer> {
    const count = this.responses.length + 1;
    this.send(bytes);
    return this.response(count);
  }

  close(): void {
    this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
}

/** What happens to a connection attempt that the server should refuse. */
export async function attempt(port: number, files: ClientFiles, send?: Buffer): Promise<{ handshake: boolean; received: number; error: string | undefined }> {
  const socket = connect({
    host: '127.0.0.1',
    port,
    ca: await readFile(files.ca),
    ...(files.cert === undefined ? {} : { cert: await readFile(files.cert) }),
    ...(files.key === undefined ? {} : { key: await readFile(files.key) }),
  });
  let handshake = false;
  let received = 0;
  let error: string | undefined;
  socket.on('secureConnect', () => {
    handshake = true;
    if (send !== undefined) socket.write(send);
  });
  socket.on('data', (chunk: Buffer) => (received += chunk.length));
  socket.on('error', (e: Error & { code?: string }) => (error = e.code ?? e.message));
  await new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return { handshake, received, error };
}

/** A log sink that keeps parsed lines. */
export class LogCapture implements LogSink {
  readonly lines: Record<string, unknown>[] = [];
  write(line: string): void {
    this.lines.push(JSON.parse(line) as Record<string, unknown>);
  }
  find(msg: string): Record<string, unknown>[] {
    return this.lines.filter((line) => line.msg === msg);
  }
}

export const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Poll `check` until it returns true (or fail after `timeoutMs`). */
export async function eventually(check: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(10);
  }
}
