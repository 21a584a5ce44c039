/**
 * The MSGENC cases over the transport they are about (KMIP Additional Message Encodings
 * v1.0): MSGENC-HTTPS-* POSTs binary TTLV to /kmip, MSGENC-XML-* KMIP XML and MSGENC-JSON-*
 * KMIP JSON, each on one keep-alive HTTPS connection with the case's client certificate.
 * The answer is read back from its encoding into the tree the comparison works on.
 */
import { Agent, request } from 'node:https';
import { decodeTtlv, encodeTtlv, isConcrete, parseJson, parseXml, toJsonText, toXml } from '../ttlv/index.js';
import type { TtlvItem } from '../ttlv/index.js';
import type { ClientTlsOptions } from '../lib/client/index.js';
import type { CaseFile } from './cases.js';

export type MessageEncoding = 'ttlv' | 'xml' | 'json';

/** Section 2.4: the Content-Type of each encoding. */
const CONTENT_TYPES: Readonly<Record<MessageEncoding, string>> = {
  ttlv: 'application/octet-stream',
  xml: 'text/xml',
  json: 'application/json',
};

/** The encoding a case is about, from its name: MSGENC-HTTPS-M-1-21 is TTLV over HTTPS; others are none. */
export function caseEncoding(c: Pick<CaseFile, 'file'>): MessageEncoding | undefined {
  const name = c.file.replace(/^.*\//, '');
  if (name.startsWith('MSGENC-HTTPS-')) return 'ttlv';
  if (name.startsWith('MSGENC-XML-')) return 'xml';
  if (name.startsWith('MSGENC-JSON-')) return 'json';
  return undefined;
}

export interface HttpsEndpoint {
  readonly host: string;
  readonly port: number;
  /** The target URI (section 2.3); default /kmip. */
  readonly path?: string;
}

/** One HTTPS connection (kept alive) that sends KMIP messages in one encoding. */
export class HttpsKmipConnection {
  readonly #agent = new Agent({ keepAlive: true, maxSockets: 1 });

  constructor(
    private readonly endpoint: HttpsEndpoint,
    private readonly tls: ClientTlsOptions,
    private readonly encoding: MessageEncoding,
    private readonly timeoutMs: number,
  ) {}

  async send(message: TtlvItem): Promise<TtlvItem> {
    const body = this.encode(message);
    const reply = await this.post(body);
    if (reply.status !== 200) throw new Error(`HTTP ${reply.status} from ${this.endpoint.host}:${this.endpoint.port}: ${reply.body.toString('utf8').slice(0, 200)}`);
    const type = reply.contentType.split(';')[0]?.trim().toLowerCase();
    if (type !== CONTENT_TYPES[this.encoding]) throw new Error(`the answer's Content-Type is ${JSON.stringify(reply.contentType)}, not ${CONTENT_TYPES[this.encoding]}`);
    return this.decode(reply.body);
  }

  async close(): Promise<void> {
    this.#agent.destroy();
  }

  private encode(message: TtlvItem): Buffer {
    switch (this.encoding) {
      case 'ttlv':
        return encodeTtlv(message);
      case 'xml':
        return Buffer.from(toXml(message), 'utf8');
      case 'json':
        return Buffer.from(toJsonText(message), 'utf8');
    }
  }

  private decode(body: Buffer): TtlvItem {
    if (this.encoding === 'ttlv') return decodeTtlv(body);
    const items = (this.encoding === 'xml' ? parseXml : parseJson)(body.toString('utf8'));
    const [item] = items;
    if (items.length !== 1 || item === undefined || !isConcrete(item)) throw new Error(`the ${this.encoding.toUpperCase()} answer does not hold one response message`);
    return item;
  }

  private post(body: Buffer): Promise<{ status: number; contentType: string; body: Buffer }> {
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: this.endpoint.host,
          port: this.endpoint.port,
          path: this.endpoint.path ?? '/kmip',
          method: 'POST',
          agent: this.#agent,
          ca: this.tls.ca,
          cert: this.tls.cert,
          key: this.tls.key,
          ...(this.tls.servername === undefined ? {} : { servername: this.tls.servername }),
          // Section 2.4: Content-Type by encoding, a Content-Length, Cache-Control no-cache.
          headers: { 'Content-Type': CONTENT_TYPES[this.encoding], 'Content-Length': String(body.length), 'Cache-Control': 'no-cache' },
          timeout: this.timeoutMs,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type'] ?? ''), body: Buffer.concat(chunks) }));
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer within ${this.timeoutMs} ms`)));
      req.on('error', reject);
      req.end(body);
    });
  }
}
