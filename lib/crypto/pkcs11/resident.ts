/**
 * Keys held inside the HSM (issue 6): "keys created with Sensitive/Never Extractable semantics
 * live inside the HSM and cryptographic operations on them run there". This side posts
 * requests to the module's PKCS#11 worker (the one the KEK uses, worker.ts); the key values
 * never enter this process.
 *
 * A resident key's stored body is a Key Block with a Key Value Location in place of the Key
 * Value (see residentBody): the URI (RFC 7512) of the token object, whose CKA_LABEL and CKA_ID
 * are the object's Unique Identifier.
 */
import { resolve as resolvePath } from 'node:path';
import { inspect } from 'node:util';
import { Enum, Tag } from '../../../ttlv/index.js';
import type { TtlvItem } from '../../../ttlv/index.js';
import { KmipError } from '../../errors.js';
import { acquireHost, releaseHost } from './kek.js';
import type { WorkerHost } from './kek.js';
import type { ModuleInfo, OpenedKek, Operations, ResidentKeyAttributes, ResidentKeyType, ResidentMechanism, ResidentOutcome } from './protocol.js';

export type { ModuleInfo, ResidentKeyAttributes, ResidentKeyType, ResidentMechanism } from './protocol.js';

type ResidentCall = 'residentGenerate' | 'residentEncrypt' | 'residentDecrypt' | 'residentSign' | 'residentDestroy' | 'residentAttributes' | 'moduleInfo';

export interface HsmKeysOptions {
  readonly module: string;
  readonly tokenLabel: string;
  readonly pin: string;
}

/** The HSM's keys and its module, for the operations that run there. */
export class HsmKeys {
  readonly token: OpenedKek['token'];
  readonly #host: WorkerHost;
  readonly #handle: number;
  #closing: Promise<void> | undefined;

  private constructor(host: WorkerHost, handle: number, token: OpenedKek['token']) {
    this.#host = host;
    this.#handle = handle;
    this.token = token;
  }

  static async open(options: HsmKeysOptions): Promise<HsmKeys> {
    const host = await acquireHost(resolvePath(options.module));
    try {
      const opened = outcome(await host.call('residentOpen', { tokenLabel: options.tokenLabel, pin: options.pin }));
      return new HsmKeys(host, opened.handle, opened.token);
    } catch (error) {
      await releaseHost(host);
      throw error;
    }
  }

  /** Generate a non-extractable, sensitive secret key in the token, labelled `label`. */
  async generate(label: string, keyType: ResidentKeyType, bytes: number): Promise<void> {
    outcome(await this.#call('residentGenerate', { handle: this.#handle, label, keyType, bytes }));
  }

  async encrypt(label: string, mechanism: ResidentMechanism, data: Buffer): Promise<Buffer> {
    return asBuffer(outcome(await this.#call('residentEncrypt', { handle: this.#handle, label, mechanism, data })));
  }

  async decrypt(label: string, mechanism: ResidentMechanism, data: Buffer): Promise<Buffer> {
    return asBuffer(outcome(await this.#call('residentDecrypt', { handle: this.#handle, label, mechanism, data })));
  }

  /** A MAC (CMAC, HMAC) made in the token. */
  async sign(label: string, mechanism: ResidentMechanism, data: Buffer): Promise<Buffer> {
    return asBuffer(outcome(await this.#call('residentSign', { handle: this.#handle, label, mechanism, data })));
  }

  /** Destroy the token object; how many there were (0: already gone). */
  async destroy(label: string): Promise<number> {
    return outcome(await this.#call('residentDestroy', { handle: this.#handle, label }));
  }

  async attributes(label: string): Promise<ResidentKeyAttributes | null> {
    return outcome(await this.#call('residentAttributes', { handle: this.#handle, label }));
  }

  /** C_GetInfo of the module. */
  async moduleInfo(): Promise<ModuleInfo> {
    return outcome(await this.#call('moduleInfo', {}));
  }

  /** Close the session (logging out when nothing else of this process uses the token). */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      try {
        if (!this.#host.failed) await this.#host.call('residentClose', { handle: this.#handle });
      } finally {
        await releaseHost(this.#host);
      }
    })();
    return this.#closing;
  }

  #call<K extends ResidentCall>(op: K, args: Operations[K]['request']): Promise<Operations[K]['result']> {
    if (this.#closing !== undefined) return Promise.reject(new KmipError('GeneralFailure', 'the HSM session for resident keys is closed'));
    return this.#host.call(op, args);
  }

  toString(): string {
    return `HsmKeys<token "${this.token.label}">`;
  }

  toJSON(): string {
    return this.toString();
  }

  [inspect.custom](): string {
    return this.toString();
  }
}

function outcome<T>(result: ResidentOutcome<T>): T {
  if ('refused' in result) throw new KmipError(result.refused.reason, result.refused.message);
  return result.value;
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

// ---------------------------------------------------------------------------------------
// The stored body of a resident key

/** The URI (RFC 7512) of a resident key: token, object label and id. */
export function residentUri(tokenLabel: string, label: string): string {
  const pct = (text: string): string => [...Buffer.from(text, 'utf8')].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('');
  return `pkcs11:token=${encodeURIComponent(tokenLabel)};object=${encodeURIComponent(label)};id=${pct(label)};type=secret-key`;
}

/**
 * The body of a key held in the HSM: a Symmetric Key whose Key Block carries a Key Value
 * Location (the token object's URI) instead of a Key Value. Nothing in it is secret.
 */
export function residentBody(algorithm: number, bits: number, uri: string): TtlvItem {
  return {
    tag: Tag.SymmetricKey,
    type: 'Structure',
    value: [
      {
        tag: Tag.KeyBlock,
        type: 'Structure',
        value: [
          { tag: Tag.KeyFormatType, type: 'Enumeration', value: Enum.KeyFormatType.Raw },
          { tag: Tag.CryptographicAlgorithm, type: 'Enumeration', value: algorithm },
          { tag: Tag.CryptographicLength, type: 'Integer', value: bits },
          {
            tag: Tag.KeyValueLocation,
            type: 'Structure',
            value: [
              { tag: Tag.KeyValueLocationValue, type: 'TextString', value: uri },
              { tag: Tag.KeyValueLocationType, type: 'Enumeration', value: Enum.KeyValueLocationType.URI },
            ],
          },
        ],
      },
    ],
  };
}

/** The URI of a resident key's token object, when `body` is the body of one. */
export function residentLocation(body: TtlvItem | undefined): string | undefined {
  if (body?.type !== 'Structure') return undefined;
  const block = body.value.find((child) => child.tag === Tag.KeyBlock);
  if (block?.type !== 'Structure' || block.value.some((child) => child.tag === Tag.KeyValue)) return undefined;
  const location = block.value.find((child) => child.tag === Tag.KeyValueLocation);
  if (location?.type !== 'Structure') return undefined;
  const value = location.value.find((child) => child.tag === Tag.KeyValueLocationValue);
  return value?.type === 'TextString' && value.value.startsWith('pkcs11:') ? value.value : undefined;
}

/** The token label and object label a resident key's URI names. */
export function parseResidentUri(uri: string): { readonly tokenLabel: string; readonly label: string } {
  const fields = new Map<string, string>();
  for (const part of uri.replace(/^pkcs11:/, '').split(';')) {
    const at = part.indexOf('=');
    if (at > 0) fields.set(part.slice(0, at), decodeURIComponent(part.slice(at + 1)));
  }
  const tokenLabel = fields.get('token');
  const label = fields.get('object');
  if (tokenLabel === undefined || label === undefined) throw new KmipError('GeneralFailure', `the stored HSM key location ${uri} names no token or object`);
  return { tokenLabel, label };
}
