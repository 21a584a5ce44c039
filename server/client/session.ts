/**
 * One KMIP conversation of the `kmip` command: a TLS connection (./kmip-client.ts),
 * request messages of one protocol version with one batch item each, and the response
 * payload or an OperationFailedError carrying the server's Result Reason and Message.
 */
import { KmipClient, KmipClientError } from './kmip-client.js';
import { Enum, Tag } from '../../ttlv/index.js';
import type { KmipVersion, StructureItem, TtlvItem } from '../../ttlv/index.js';
import type { Connection, ConnectionTls } from './connection.js';
import { BadResponseError, OperationFailedError } from './errors.js';
import { enumName } from './names.js';
import { child, optionalChild, struct, int, enumeration } from './ttlv.js';

export interface SessionOptions {
  readonly connectTimeoutMs?: number;
  readonly requestTimeoutMs?: number;
}

/** Server certificate checks that fail because of --ca or the name connected to. */
const UNTRUSTED_SERVER = new Set(['SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY']);

function withHint(error: unknown, connection: Connection): unknown {
  if (!(error instanceof KmipClientError) || error.code !== 'CONNECT_FAILED') return error;
  const code = (error.cause as NodeJS.ErrnoException | undefined)?.code ?? '';
  if (UNTRUSTED_SERVER.has(code)) return new KmipClientError(error.code, `${error.message} (the server certificate does not lead to the CA ${connection.files.ca}: check --ca)`, { cause: error });
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') return new KmipClientError(error.code, `${error.message} (give --servername with a name the certificate holds)`, { cause: error });
  return error;
}

export class KmipSession {
  private answered = 0;

  private constructor(
    private readonly client: KmipClient,
    private readonly connection: Connection,
    readonly version: KmipVersion,
  ) {}

  static async open(connection: Connection, tls: ConnectionTls, version: KmipVersion, options: SessionOptions = {}): Promise<KmipSession> {
    const client = await KmipClient.connect(connection.host, connection.port, {
      ...tls,
      ...(connection.servername === undefined ? {} : { servername: connection.servername }),
      ...(options.connectTimeoutMs === undefined ? {} : { connectTimeoutMs: options.connectTimeoutMs }),
      ...(options.requestTimeoutMs === undefined ? {} : { requestTimeoutMs: options.requestTimeoutMs }),
    }).catch((error: unknown) => {
      throw withHint(error, connection);
    });
    return new KmipSession(client, connection, version);
  }

  /** Send one operation; the Response Payload (empty when the server sent none). */
  async call(operation: number, payload: readonly TtlvItem[]): Promise<StructureItem> {
    const [major, minor] = this.version.split('.').map(Number);
    const message = struct(Tag.RequestMessage, [
      struct(Tag.RequestHeader, [struct(Tag.ProtocolVersion, [int(Tag.ProtocolVersionMajor, major ?? 0), int(Tag.ProtocolVersionMinor, minor ?? 0)]), int(Tag.BatchCount, 1)]),
      struct(Tag.BatchItem, [enumeration(Tag.Operation, operation), struct(Tag.RequestPayload, payload)]),
    ]);
    let response: TtlvItem;
    try {
      response = await this.client.send(message);
    } catch (error) {
      throw this.explain(error);
    }
    this.answered++;
    return this.payloadOf(response, operation);
  }

  async close(): Promise<void> {
    await this.client.close();
  }

  private payloadOf(response: TtlvItem, operation: number): StructureItem {
    const opName = enumName(Tag.Operation, operation, this.version);
    if (response.tag !== Tag.ResponseMessage) throw new BadResponseError(`the answer to ${opName} is not a Response Message`);
    const item = child(response, Tag.BatchItem, 'Structure');
    const status = child(item, Tag.ResultStatus, 'Enumeration').value;
    if (status !== Enum.ResultStatus.Success) {
      const reason = optionalChild(item, Tag.ResultReason, 'Enumeration');
      const message = optionalChild(item, Tag.ResultMessage, 'TextString');
      throw new OperationFailedError(
        opName,
        reason === undefined ? enumName(Tag.ResultStatus, status, this.version) : enumName(Tag.ResultReason, reason.value, this.version),
        message?.value,
      );
    }
    return optionalChild(item, Tag.ResponsePayload, 'Structure') ?? struct(Tag.ResponsePayload, []);
  }

  /**
   * With TLS 1.3 the client finishes its handshake before the server has checked the client
   * certificate: a refusal shows up as a closed connection on the first request.
   */
  private explain(error: unknown): unknown {
    if (error instanceof KmipClientError && error.code === 'CLOSED' && this.answered === 0) {
      const { host, port, files } = this.connection;
      return new KmipClientError('CLOSED', `${host}:${port} closed the connection before answering: ${error.message.replace(/^connection error: /, '')} (does the server trust the client certificate ${files.cert}?)`, { cause: error });
    }
    return error;
  }
}
