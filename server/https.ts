/**
 * KMIP over HTTPS (KMIP Additional Message Encodings v1.0, section 2, the HTTPS Profile):
 * `POST /kmip` with a KMIP request message as the body, in binary TTLV
 * (`application/octet-stream`), KMIP XML (`text/xml`) or KMIP JSON (`application/json`);
 * the answer is a 200 with the KMIP response message in the same encoding.
 *
 * Authentication is the TLS port's: the same TLS settings (secureContextOptions), a client
 * certificate from the configured CA required, the same identity rules; a connection
 * without them is closed before any HTTP is read. Behind it is the same KmipService: XML
 * and JSON are converted to TTLV on the way in (ttlv/xml.ts, ttlv/json.ts) and back on the
 * way out. A body that is not a readable KMIP message gets a KMIP Invalid Message answer,
 * as on the TLS port; HTTP-level mistakes get HTTP errors (404 path, 405 method, 415
 * content type, 413 size). A body is read only once its bytes are taken from the process's
 * budget of request bytes, shared with the TLS port (server/budget.ts).
 */
import { createServer } from 'node:https';
import type { Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { PeerCertificate, TLSSocket } from 'node:tls';
import { Tag, TtlvError, decodeTtlv, encodeTtlv, isConcrete, parseJson, parseXml, registry, toJsonText, toXml } from '../ttlv/index.js';
import type { KmipVersion, TtlvItem } from '../ttlv/index.js';
import type { Logger } from '../lib/log.js';
import type { KmipService, Session } from '../lib/service.js';
import type { IdentityResult } from './identity.js';
import type { ByteBudget } from './budget.js';
import { TEXT_BODY_FACTOR } from './config.js';
import { secureContextOptions } from './listener.js';
import type { KmipListener, ListenerLimits, ListenerTls } from './listener.js';
import type { KmipdMetrics } from './metrics.js';

/** Section 2.3: "KMIP servers conformant to this profile SHOULD support the value /kmip as the target URI". */
export const KMIP_PATH = '/kmip';

export type Encoding = 'ttlv' | 'xml' | 'json';

/** Section 2.4: the client's Content-Type names the encoding (application/xml is accepted too). */
const ENCODINGS: ReadonlyMap<string, Encoding> = new Map([
  ['application/octet-stream', 'ttlv'],
  ['text/xml', 'xml'],
  ['application/xml', 'xml'],
  ['application/json', 'json'],
]);

/** Section 2.5: the server's Content-Type for each encoding. */
export const CONTENT_TYPES: Readonly<Record<Encoding, string>> = {
  ttlv: 'application/octet-stream',
  xml: 'text/xml',
  json: 'application/json',
};

export { TEXT_BODY_FACTOR };

export interface HttpsListenerOptions {
  readonly host: string;
  readonly port: number;
  readonly tls: ListenerTls;
  /** The TLS port's limits: maxMessageSize (body), maxConnections, idle (keep-alive), handshake, request and shutdown timeouts. */
  readonly limits: ListenerLimits;
  /** How deeply XML and JSON may nest (the service's maxDepth). */
  readonly maxDepth: number;
  readonly identify: (cert: PeerCertificate) => IdentityResult;
  readonly service: KmipService;
  readonly log: Logger;
  readonly metrics?: KmipdMetrics;
  /** The process's budget of request bytes held in memory, shared with the TLS port. */
  readonly budget: ByteBudget;
}

const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

/** Start the HTTPS listener; resolves once the port is bound. */
export async function listenHttps(options: HttpsListenerOptions): Promise<KmipListener> {
  const { limits, log, metrics } = options;
  const requestTimeoutMs = limits.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const server: Server = createServer({
    ...secureContextOptions(options.tls),
    requestCert: true,
    // Verified on 'secureConnection' instead, so that every refusal is logged with its reason.
    rejectUnauthorized: false,
    handshakeTimeout: limits.handshakeTimeoutMs,
  });
  server.maxConnections = limits.maxConnections;
  // A request must arrive in full within the TLS port's request timeout; keep-alive
  // connections are closed after the TLS port's idle timeout.
  server.requestTimeout = requestTimeoutMs;
  server.headersTimeout = requestTimeoutMs;
  server.keepAliveTimeout = limits.idleTimeoutMs;
  server.timeout = limits.idleTimeoutMs;

  /** Authenticated connections and their sessions. */
  const sessions = new Map<TLSSocket, HttpsConnection>();
  /** Every TCP connection by peer address, the handshake included (the TLS socket is another object). */
  const sockets = new Map<string, Socket>();
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
    metrics?.connectionRefused('https', 'max_connections');
    log.warn('connection refused', { transport: 'https', peer: data ? formatPeer(data.remoteAddress, data.remotePort) : 'unknown', reason: `maxConnections (${limits.maxConnections}) reached` });
  });

  server.on('tlsClientError', (error: Error & { code?: string }, socket: TLSSocket) => {
    metrics?.handshakeFailed('https', 'handshake');
    log.info('connection refused', { transport: 'https', peer: peerOf(socket), reason: `TLS handshake failed: ${error.message}`, ...(error.code === undefined ? {} : { code: error.code }) });
    socket.destroy();
  });

  // Runs after node:https has attached its HTTP parser, before any byte of HTTP is read.
  server.on('secureConnection', (socket: TLSSocket) => {
    const peer = peerOf(socket);
    const refuse = (reason: string, counted: 'no_client_certificate' | 'certificate_rejected' | 'no_identity' | 'shutting_down'): void => {
      if (counted === 'shutting_down') metrics?.connectionRefused('https', counted);
      else metrics?.handshakeFailed('https', counted);
      log.warn('connection refused', { transport: 'https', peer, reason });
      socket.destroy();
    };
    if (stopping) return refuse('the server is shutting down', 'shutting_down');
    if (!socket.authorized) {
      const sent = Object.keys(socket.getPeerCertificate()).length > 0;
      return sent ? refuse(`client certificate not accepted: ${String(socket.authorizationError)}`, 'certificate_rejected') : refuse('no client certificate', 'no_client_certificate');
    }
    const identified = options.identify(socket.getPeerCertificate());
    if (!identified.ok) return refuse(`no identity in the client certificate: ${identified.reason}`, 'no_identity');
    const session: Session = { identity: identified.identity, peer };
    const id = nextId++;
    const opened = Date.now();
    const connection: HttpsConnection = { session, requests: 0 };
    sessions.set(socket, connection);
    metrics?.connectionOpened('https');
    log.info('connection opened', { transport: 'https', connection: id, peer, identity: session.identity.name, admin: session.identity.admin, tlsVersion: socket.getProtocol(), cipher: socket.getCipher().name });
    socket.once('close', () => {
      sessions.delete(socket);
      log.info('connection closed', { transport: 'https', connection: id, peer, identity: session.identity.name, requests: connection.requests, durationMs: Date.now() - opened });
    });
  });

  const context: RequestContext = { options, sessions, isStopping: () => stopping };
  server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    void serve(request, response, context);
  });
  // Expect: 100-continue: the headers are checked before the client sends its body.
  server.on('checkContinue', (request: IncomingMessage, response: ServerResponse) => {
    void serve(request, response, context, () => response.writeContinue());
  });
  server.on('clientError', (error: Error & { code?: string }, socket: Socket) => {
    // Malformed HTTP, or headers not received within the request timeout.
    if (socket.writable && error.code !== 'ECONNRESET') {
      const status = error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout' : error.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : '400 Bad Request';
      socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    } else {
      socket.destroy();
    }
  });
  server.on('error', (error) => log.error('https listener error', { error }));

  await new Promise<void>((resolve, reject) => {
    const onError = (error: Error): void => reject(error);
    server.once('error', onError);
    server.listen(options.port, options.host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;

  const serverClosed = new Promise<void>((resolve) => server.once('close', () => resolve()));
  let closing: Promise<void> | undefined;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    server.close();
  };
  return {
    host: address.address,
    port: address.port,
    get connections() {
      return sessions.size;
    },
    close: () => {
      closing ??= (async () => {
        stop();
        // Handshakes and idle keep-alive connections go now; a request in progress gets its
        // answer (with Connection: close) and then its connection closes.
        const authenticated = new Set([...sessions.values()].map((c) => c.session.peer));
        for (const [peer, socket] of sockets) if (!authenticated.has(peer)) socket.destroy();
        server.closeIdleConnections();
        const timer = setTimeout(() => {
          log.warn('shutdown timeout: dropping connections', { transport: 'https', connections: sessions.size, timeoutMs: limits.shutdownTimeoutMs });
          for (const socket of sockets.values()) socket.destroy();
        }, limits.shutdownTimeoutMs);
        try {
          await serverClosed;
        } finally {
          clearTimeout(timer);
        }
      })();
      return closing;
    },
    destroy: async () => {
      stop();
      for (const socket of sockets.values()) socket.destroy();
      await serverClosed;
    },
    updateTls: (tls) => server.setSecureContext(secureContextOptions(tls)),
  };
}

interface HttpsConnection {
  readonly session: Session;
  /** HTTP requests received, for the log line at close. */
  requests: number;
}

interface RequestContext {
  readonly options: HttpsListenerOptions;
  readonly sessions: ReadonlyMap<TLSSocket, HttpsConnection>;
  isStopping(): boolean;
}

/** An HTTP answer that is not a KMIP message. */
class HttpRefusal extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Readonly<Record<string, string>> = {},
    /** The body was not read: the connection cannot carry another request. */
    readonly close = false,
  ) {
    super(message);
  }
}

async function serve(request: IncomingMessage, response: ServerResponse, context: RequestContext, proceed?: () => void): Promise<void> {
  const { options } = context;
  const socket = request.socket as TLSSocket;
  const connection = context.sessions.get(socket);
  if (connection === undefined) {
    // Refused on 'secureConnection' already; nothing of it is answered.
    socket.destroy();
    return;
  }
  connection.requests++;
  const { session } = connection;
  let encoding: Encoding | undefined;
  try {
    const asked = checkHeaders(request, options.limits.maxMessageSize);
    encoding = asked;
    const answer = await withBudget(options.budget, request, bodyLimit(asked, options.limits.maxMessageSize), async (body) => {
      proceed?.();
      return answerKmip(asked, await body(), session, options);
    });
    respond(response, context, 200, { 'Content-Type': CONTENT_TYPES[asked] }, answer);
    options.metrics?.httpsRequest(asked, 200);
  } catch (error) {
    if (!(error instanceof HttpRefusal)) options.log.error('https request failed', { error, peer: session.peer, identity: session.identity.name });
    const refusal = error instanceof HttpRefusal ? error : new HttpRefusal(500, 'the server failed to process this request; see its log', {}, true);
    options.log.info('https request refused', { peer: session.peer, identity: session.identity.name, status: refusal.status, reason: refusal.message });
    const headers = { 'Content-Type': 'text/plain; charset=utf-8', ...refusal.headers, ...(refusal.close ? { Connection: 'close' } : {}) };
    respond(response, context, refusal.status, headers, Buffer.from(`${refusal.message}\n`, 'utf8'));
    options.metrics?.httpsRequest(encoding ?? 'none', refusal.status);
  }
}

/** The encoding the request's headers ask for, or the HTTP error they deserve. */
function checkHeaders(request: IncomingMessage, maxMessageSize: number): Encoding {
  const path = (request.url ?? '').split('?')[0];
  if (path !== KMIP_PATH) throw new HttpRefusal(404, `not found: KMIP requests go to POST ${KMIP_PATH}`, {}, true);
  if (request.method !== 'POST') throw new HttpRefusal(405, `method ${request.method ?? ''} not allowed: KMIP requests are POSTed`, { Allow: 'POST' }, true);
  const [mediaType = '', ...parameters] = (request.headers['content-type'] ?? '').split(';').map((part) => part.trim());
  const encoding = ENCODINGS.get(mediaType.toLowerCase());
  if (encoding === undefined) {
    throw new HttpRefusal(415, `unsupported Content-Type ${JSON.stringify(mediaType)}: send application/octet-stream (TTLV), text/xml (KMIP XML) or application/json (KMIP JSON)`, {}, true);
  }
  const charset = parameters.find((p) => p.toLowerCase().startsWith('charset='))?.slice('charset='.length).replace(/"/g, '').toLowerCase();
  if (encoding !== 'ttlv' && charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
    throw new HttpRefusal(415, `unsupported charset ${JSON.stringify(charset)}: KMIP XML and JSON are read as UTF-8`, {}, true);
  }
  const declared = request.headers['content-length'];
  const limit = bodyLimit(encoding, maxMessageSize);
  if (declared !== undefined && Number(declared) > limit) {
    throw new HttpRefusal(413, `the body of ${declared} bytes is larger than the ${limit} bytes accepted (setting maxMessageSize)`, {}, true);
  }
  return encoding;
}

function bodyLimit(encoding: Encoding, maxMessageSize: number): number {
  return encoding === 'ttlv' ? maxMessageSize : maxMessageSize * TEXT_BODY_FACTOR;
}

/**
 * Run `use` with the body's bytes taken from the budget (its Content-Length, or `limit` when
 * the length is not declared, until the body is in): the body is not read before they are,
 * and they are given back when `use` is done, whatever happens.
 */
async function withBudget<T>(budget: ByteBudget, request: IncomingMessage, limit: number, use: (body: () => Promise<Buffer>) => Promise<T>): Promise<T> {
  const declared = Number(request.headers['content-length'] ?? Number.NaN);
  let held = Number.isSafeInteger(declared) && declared >= 0 ? Math.min(declared, limit) : limit;
  const { socket } = request;
  const gone = (): HttpRefusal => new HttpRefusal(400, 'the connection closed before the body could be read', {}, true);
  if (socket.destroyed) throw gone();
  const closed = new AbortController();
  const onClose = (): void => closed.abort(gone());
  socket.once('close', onClose);
  try {
    await budget.take(held, closed.signal);
  } finally {
    socket.off('close', onClose);
  }
  try {
    return await use(async () => {
      const body = await readBody(request, limit);
      // A body without a declared length holds only its own size from now on.
      budget.release(held - body.length);
      held = body.length;
      return body;
    });
  } finally {
    budget.release(held);
  }
}

/** The whole body, refused (413) as soon as it passes `limit` bytes. */
function readBody(request: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        request.off('data', onData);
        // Nothing more is read: the answer closes the connection.
        request.pause();
        reject(new HttpRefusal(413, `the body is larger than the ${limit} bytes accepted (setting maxMessageSize)`, {}, true));
        return;
      }
      chunks.push(chunk);
    };
    request.on('data', onData);
    request.once('end', () => resolve(Buffer.concat(chunks, size)));
    request.once('error', (error) => reject(new HttpRefusal(400, `the body could not be read: ${error.message}`, {}, true)));
    // After 'end' this changes nothing; before it, the body will never be whole.
    request.once('close', () => reject(new HttpRefusal(400, 'the connection closed before the body was in', {}, true)));
  });
}

/** The KMIP answer to one body, in the body's encoding: never throws for bad KMIP. */
async function answerKmip(encoding: Encoding, body: Buffer, session: Session, options: HttpsListenerOptions): Promise<Buffer> {
  let message: Buffer;
  try {
    message = encoding === 'ttlv' ? body : textToTtlv(encoding, body, options);
  } catch (error) {
    if (!(error instanceof TtlvError)) throw error;
    options.log.info('request refused', { transport: 'https', peer: session.peer, identity: session.identity.name, reason: error.message });
    options.metrics?.invalidMessage();
    // On record before the answer, like every request (the service never rejects here).
    await options.service.recordRefusal?.(session, error);
    return fromTtlv(encoding, options.service.unframeable(error));
  }
  return fromTtlv(encoding, await options.service.handle(message, session));
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** An XML or JSON request as TTLV bytes; throws TtlvError for anything that is not one KMIP message. */
function textToTtlv(encoding: 'xml' | 'json', body: Buffer, options: HttpsListenerOptions): Buffer {
  let text: string;
  try {
    text = UTF8.decode(body);
  } catch {
    throw new TtlvError('BAD_TEXT', 'the body is not valid UTF-8');
  }
  const parse = encoding === 'xml' ? parseXml : parseJson;
  const items = parse(text, { maxDepth: options.maxDepth });
  const [item] = items;
  if (item === undefined || items.length !== 1) throw new TtlvError('BAD_TEXT', `the body holds ${items.length} items, not one request message`);
  if (!isConcrete(item)) throw new TtlvError('PLACEHOLDER', 'the body holds a test-case placeholder where a value is needed');
  const bytes = encodeTtlv(item);
  if (bytes.length > options.limits.maxMessageSize) {
    throw new TtlvError('TOO_LARGE', `the message is ${bytes.length} bytes in TTLV, more than the ${options.limits.maxMessageSize} accepted (setting maxMessageSize)`);
  }
  return bytes;
}

/** The service's TTLV answer in the request's encoding, its enumeration names those of its version. */
function fromTtlv(encoding: Encoding, answer: Buffer): Buffer {
  if (encoding === 'ttlv') return answer;
  const item = decodeTtlv(answer);
  const version = responseVersion(item);
  const options = version === undefined ? {} : { version };
  return Buffer.from(encoding === 'xml' ? `${toXml(item, options)}\n` : `${toJsonText(item, options)}\n`, 'utf8');
}

function responseVersion(message: TtlvItem): KmipVersion | undefined {
  const child = (item: TtlvItem | undefined, tag: number): TtlvItem | undefined => (item?.type === 'Structure' ? item.value.find((c) => c.tag === tag) : undefined);
  const version = child(child(message, Tag.ResponseHeader), Tag.ProtocolVersion);
  const major = child(version, Tag.ProtocolVersionMajor);
  const minor = child(version, Tag.ProtocolVersionMinor);
  if (major?.type !== 'Integer' || minor?.type !== 'Integer') return undefined;
  return registry.versionOf(major.value, minor.value);
}

function respond(response: ServerResponse, context: RequestContext, status: number, headers: Readonly<Record<string, string>>, body: Buffer): void {
  if (response.headersSent || response.destroyed) return;
  response.writeHead(status, {
    ...headers,
    'Content-Length': String(body.length),
    // Section 2.5: "SHALL specify a Cache-Control of no-cache".
    'Cache-Control': 'no-cache',
    ...(context.isStopping() ? { Connection: 'close' } : {}),
  });
  response.end(body);
}

function peerOf(socket: Socket): string {
  return formatPeer(socket.remoteAddress, socket.remotePort);
}

function formatPeer(address: string | undefined, port: number | undefined): string {
  if (address === undefined) return 'unknown';
  return address.includes(':') ? `[${address}]:${port ?? '?'}` : `${address}:${port ?? '?'}`;
}
