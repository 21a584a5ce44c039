/**
 * The one place where the benchmarks, the fuzzer and the crash test use the project's KMIP
 * client library (lib/client, its raw KmipConnection): a persistent mutual-TLS connection that sends encoded requests and returns the
 * raw response frames in order (so several requests may be in flight: pipelining).
 */
import { KmipConnection } from '../lib/client/index.js';

export interface ClientTls {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly ca: Buffer;
}

export interface Target {
  readonly host: string;
  readonly port: number;
  readonly tls: ClientTls;
  /** Name checked against the server certificate (PyKMIP's test certificate names localhost). */
  readonly servername?: string;
}

export interface BenchConnection {
  /** Send one encoded request; resolves with its response frame. */
  call(request: Buffer, timeoutMs?: number): Promise<Buffer>;
  readonly open: boolean;
  close(): Promise<void>;
  destroy(): void;
}

export async function connect(target: Target, options: { connectTimeoutMs?: number; requestTimeoutMs?: number } = {}): Promise<BenchConnection> {
  const client = await KmipConnection.connect(target.host, target.port, {
    cert: target.tls.cert,
    key: target.tls.key,
    ca: target.tls.ca,
    ...(target.servername === undefined ? {} : { servername: target.servername }),
    ...(options.connectTimeoutMs === undefined ? {} : { connectTimeoutMs: options.connectTimeoutMs }),
    ...(options.requestTimeoutMs === undefined ? {} : { requestTimeoutMs: options.requestTimeoutMs }),
    maxMessageSize: 64 * 1024 * 1024,
  });
  return {
    call: (request, timeoutMs) => client.exchange(request, timeoutMs === undefined ? {} : { timeoutMs }),
    get open() {
      return client.open;
    },
    close: () => client.close(),
    destroy: () => client.destroy(),
  };
}
