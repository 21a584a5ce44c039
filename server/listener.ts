/**
 * KMIP over mutually authenticated TLS (KMIP 1.4 / 2.1 profiles: TLS, port 5696).
 *
 * A connection reaches the KMIP service only after its TLS handshake has completed with a
 * client certificate that chains to the configured CA and yields an identity. Requests on
 * one connection are answered strictly in order; pipelined requests wait in a bounded
 * queue, and the socket stops being read while the queue is full, or while the process's
 * budget of request bytes is spent (backpressure).
 */
import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import type { Stats } from 'node:fs';
import { createSecureContext, createServer } from 'node:tls';
import type { PeerCertificate, SecureContextOptions, Server, TLSSocket } from 'node:tls';
import type { AddressInfo, Socket } from 'node:net';
import { TtlvFramer } from '../ttlv/index.js';
import type { Logger } from '../lib/log.js';
import type { KmipService, Session } from '../lib/service.js';
import type { TlsMaxVersion, TlsMinVersion } from './config.js';
import type { IdentityResult } from './identity.js';
import type { ByteBudget } from './budget.js';
import { KmipConnection } from './connection.js';

export interface ListenerLimits {
  readonly maxMessageSize: number;
  readonly maxConnections: number;
  readonly maxPendingRequestsPerConnection: number;
  readonly idleTimeoutMs: number;
  readonly handshakeTimeoutMs: number;
  /** Time allowed from the first byte of a request to its last; 30 s when not given. */
  readonly requestTimeoutMs?: number;
  /** How long close() waits for connections to finish before dropping them. */
  readonly shutdownTimeoutMs: number;
}

export interface ListenerTls {
  /** PEM: the server's certificate chain, its key, and the CAs that client certificates must chain to. */
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly ca: Buffer;
  readonly minVersion: TlsMinVersion;
  /** Default TLS 1.3. */
  readonly maxVersion?: TlsMaxVersion;
  /** OpenSSL cipher list (TLS 1.3 suites and TLS 1.2 ciphers); default: node's. */
  readonly ciphers?: string;
  /** Key-exchange groups, colon-separated; default: node's. */
  readonly ecdhCurve?: string;
  /** A CRL (PEM) of the client CA: a client certificate it lists fails verification. */
  readonly crl?: Buffer;
}

/** The server's TLS context settings: client certificates asked for, verified below. */
export function secureContextOptions(tls: ListenerTls): SecureContextOptions {
  return {
    cert: tls.cert,
    key: tls.key,
    ca: tls.ca,
    minVersion: tls.minVersion,
    maxVersion: tls.maxVersion ?? 'TLSv1.3',
    ...(tls.ciphers === undefined ? {} : { ciphers: tls.ciphers }),
    ...(tls.ecdhCurve === undefined ? {} : { ecdhCurve: tls.ecdhCurve }),
    ...(tls.crl === undefined ? {} : { crl: tls.crl }),
    // The server's order of suites, not the client's: the strongest common one is used.
    honorCipherOrder: true,
  };
}

export interface ListenerOptions {
  readonly host: string;
  readonly port: number;
  readonly tls: ListenerTls;
  readonly limits: ListenerLimits;
  readonly identify: (cert: PeerCertificate) => IdentityResult;
  readonly service: KmipService;
  readonly log: Logger;
  /** The process's budget of request bytes held in memory (setting maxBufferedBytes), shared with the HTTPS binding. */
  readonly budget: ByteBudget;
}

export interface KmipListener {
  readonly host: string;
  readonly port: number;
  /** Authenticated connections open now. */
  readonly connections: number;
  /** Stop accepting, finish and answer the requests received, then close every connection. */
  close(): Promise<void>;
  /** Stop accepting and drop every connection at once. */
  destroy(): Promise<void>;
  /** New TLS settings (a reloaded CRL) for the handshakes from now on. */
  updateTls(tls: ListenerTls): void;
}

const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

/** Start listening; resolves once the port is bound. */
export async function listen(options: ListenerOptions): Promise<KmipListener> {
  const { limits, log } = options;
  const server: Server = createServer({
    ...secureContextOptions(options.tls),
    requestCert: true,
    // Verified below instead, so that every refusal is logged with its reason.
    rejectUnauthorized: false,
    handshakeTimeout: limits.handshakeTimeoutMs,
    // A client may send its requests and shut down its side; the answers still go out.
    allowHalfOpen: true,
  });
  server.maxConnections = limits.maxConnections;

  /** TCP connections by peer address, from accept until close (the TLS handshake included). */
  const sockets = new Map<string, Socket>();
  const connections = new Set<KmipConnection>();
  let nextId = 1;
  let stopping = false;

  server.on('connection', (socket: Socket) => {
    const peer = peerOf(socket);
    sockets.set(peer, socket);
    socket.once('close', () => {
      if (sockets.get(peer) === socket) sockets.delete(peer);
    });
  });

  server.on('drop', (data) => {
    log.warn('connection refused', { peer: data ? formatPeer(data.remoteAddress, data.remotePort) : 'unknown', reason: `maxConnections (${limits.maxConnections}) reached` });
  });

  server.on('tlsClientError', (error: Error & { code?: string }, socket: TLSSocket) => {
    log.info('connection refused', { peer: peerOf(socket), reason: `TLS handshake failed: ${error.message}`, ...(error.code === undefined ? {} : { code: error.code }) });
    // node:tls reports a handshake timeout here but leaves the socket open.
    socket.destroy();
  });

  server.on('secureConnection', (socket: TLSSocket) => {
    const peer = peerOf(socket);
    const refuse = (reason: string): void => {
      log.warn('connection refused', { peer, reason });
      socket.destroy();
    };
    if (stopping) return refuse('the server is shutting down');
    if (!socket.authorized) {
      // An empty object when the client sent no certificate.
      const sent = Object.keys(socket.getPeerCertificate()).length > 0;
      return refuse(sent ? `client certificate not accepted: ${String(socket.authorizationError)}` : 'no client certificate');
    }
    const identified = options.identify(socket.getPeerCertificate());
    if (!identified.ok) return refuse(`no identity in the client certificate: ${identified.reason}`);

    const session: Session = { identity: identified.identity, peer };
    const id = nextId++;
    const connection = new KmipConnection(socket, session, {
      service: options.service,
      framer: new TtlvFramer({ maxMessageSize: limits.maxMessageSize }),
      maxPending: limits.maxPendingRequestsPerConnection,
      idleTimeoutMs: limits.idleTimeoutMs,
      requestTimeoutMs: limits.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
      budget: options.budget,
      log: log.child({ connection: id, peer, identity: session.identity.name }),
    });
    connections.add(connection);
    void connection.closed.then(() => connections.delete(connection));
    const cipher = socket.getCipher();
    log.info('connection opened', {
      connection: id,
      peer,
      identity: session.identity.name,
      admin: session.identity.admin,
      tlsVersion: socket.getProtocol(),
      cipher: cipher.name,
    });
  });

  server.on('error', (error) => log.error('listener error', { error }));

  await new Promise<void>((resolve, reject) => {
    const onError = (error: Error): void => reject(error);
    server.once('error', onError);
    server.listen(options.port, options.host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;

  const serverClosed = (): Promise<void> =>
    new Promise<void>((resolve) => {
      if (!server.listening) return resolve();
      server.close(() => resolve());
    });

  const dropAll = (): void => {
    for (const connection of connections) connection.destroy();
    for (const socket of sockets.values()) socket.destroy();
  };

  let closing: Promise<void> | undefined;

  return {
    host: address.address,
    port: address.port,
    get connections() {
      return connections.size;
    },
    close: () => {
      closing ??= (async () => {
        stopping = true;
        const closed = serverClosed();
        // Handshakes in progress are dropped: they have sent no request yet.
        const authenticated = new Set([...connections].map((c) => c.peer));
        for (const [peer, socket] of sockets) if (!authenticated.has(peer)) socket.destroy();
        for (const connection of connections) connection.shutdown('the server is shutting down');
        const timer = setTimeout(() => {
          log.warn('shutdown timeout: dropping connections', { connections: connections.size, timeoutMs: limits.shutdownTimeoutMs });
          dropAll();
        }, limits.shutdownTimeoutMs);
        try {
          await Promise.all([closed, ...[...connections].map((c) => c.closed)]);
        } finally {
          clearTimeout(timer);
        }
      })();
      return closing;
    },
    destroy: async () => {
      stopping = true;
      const closed = serverClosed();
      dropAll();
      await closed;
    },
    updateTls: (tls) => server.setSecureContext(secureContextOptions(tls)),
  };
}

/** How often a CRL file is checked for a new version (a CA publishes one every few hours or days). */
const CRL_POLL_MS = 30_000;

/**
 * Load the CRL file again whenever it changes, for the handshakes from then on. A file that
 * cannot be read or used keeps the CRL in force and is logged. Returns the stop function.
 */
export function watchCrlFile(path: string, tls: ListenerTls, listener: Pick<KmipListener, 'updateTls'>, log: Logger, intervalMs = CRL_POLL_MS): () => void {
  const onChange = (current: Stats, previous: Stats): void => {
    if (current.mtimeMs === previous.mtimeMs && current.size === previous.size) return;
    try {
      const next = { ...tls, crl: readFileSync(path) };
      createSecureContext(secureContextOptions(next));
      listener.updateTls(next);
      log.info('certificate revocation list reloaded', { file: path });
    } catch (error) {
      log.error('certificate revocation list not reloaded: the previous one stays in force', { file: path, error: (error as Error).message });
    }
  };
  const watcher = watchFile(path, { interval: intervalMs, persistent: false }, onChange);
  watcher.unref();
  return () => unwatchFile(path, onChange);
}

function peerOf(socket: Socket): string {
  return formatPeer(socket.remoteAddress, socket.remotePort);
}

function formatPeer(address: string | undefined, port: number | undefined): string {
  if (address === undefined) return 'unknown';
  return address.includes(':') ? `[${address}]:${port ?? '?'}` : `${address}:${port ?? '?'}`;
}
