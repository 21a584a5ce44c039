#!/usr/bin/env node
/**
 * `kmip`: a KMIP client on the command line. Each command opens one mutually authenticated
 * TLS connection, sends one request in the chosen protocol version (2.1 by default), prints
 * a short result (or JSON with --json) and closes. Failures print one line on stderr: the
 * server's Result Reason and Result Message (exit code 1); bad usage exits with code 2.
 */
import { readFile, writeFile } from 'node:fs/promises';
import yargs from 'yargs';
import type { Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { KmipClientError } from './client/kmip-client.js';
import { KeyMaterial } from '../lib/crypto/index.js';
import { Enum, Tag, registry, toJson } from '../ttlv/index.js';
import type { KmipVersion, StructureItem } from '../ttlv/index.js';
import { checkPort, loadTls, resolveConnection } from './client/connection.js';
import type { ConnectionFlags } from './client/connection.js';
import { BadResponseError, OperationFailedError, UsageError, oneLine } from './client/errors.js';
import { enumValue, maskValue } from './client/names.js';
import {
  cipherPayload,
  createPayload,
  getPayload,
  idItem,
  locatePayload,
  queryPayload,
  registerKeyPayload,
  registerSecretPayload,
  revokePayload,
} from './client/requests.js';
import { attributesOf, describeValue, protocolVersions, queryAnswer, retrievedObject, uniqueIdentifier, uniqueIdentifiers } from './client/responses.js';
import { optionalChild } from './client/ttlv.js';
import { KmipSession } from './client/session.js';
import { grantCommands } from './client/grant-commands.js';
import type { RunCommand } from './client/grant-commands.js';

const EXIT_FAILED = 1;
const EXIT_USAGE = 2;

const DEFAULT_VERSION: KmipVersion = '2.1';
const DEFAULT_USAGE = 'encrypt,decrypt';

interface GlobalArgs extends ConnectionFlags {
  readonly 'kmip-version': string;
  readonly json: boolean;
  readonly timeout: number;
}

/** What a command prints: lines for a person, or a value for --json. */
interface Output {
  readonly text: string;
  readonly json: unknown;
}

// ---------------------------------------------------------------------------------------
// Running a command

function versionOf(args: GlobalArgs): KmipVersion {
  const version = (registry.KMIP_VERSIONS as readonly string[]).find((v) => v === args['kmip-version']);
  if (version === undefined) throw new UsageError(`--kmip-version ${args['kmip-version']} is not one of ${registry.KMIP_VERSIONS.join(', ')}`);
  return version as KmipVersion;
}

/** Connect, let `work` talk to the server, print its output; every failure becomes one stderr line. */
async function run(args: GlobalArgs, work: (session: KmipSession) => Promise<Output>): Promise<void> {
  let session: KmipSession | undefined;
  try {
    const version = versionOf(args);
    const connection = resolveConnection(args, process.env);
    const tls = await loadTls(connection);
    const timeoutMs = args.timeout * 1000;
    session = await KmipSession.open(connection, tls, version, { connectTimeoutMs: timeoutMs, requestTimeoutMs: timeoutMs });
    const output = await work(session);
    process.stdout.write(args.json ? `${JSON.stringify(output.json, null, 2)}\n` : output.text === '' ? '' : `${output.text}\n`);
  } catch (error) {
    report(error);
  } finally {
    await session?.close();
  }
}

function report(error: unknown): void {
  const known = error instanceof UsageError || error instanceof OperationFailedError || error instanceof BadResponseError || error instanceof KmipClientError;
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`kmip: ${oneLine(known ? message : `unexpected error: ${message}`)}\n`);
  process.exitCode = error instanceof UsageError ? EXIT_USAGE : EXIT_FAILED;
}

// ---------------------------------------------------------------------------------------
// Input and output of bytes

function hexBytes(hex: string, option: string): Buffer {
  const digits = hex.replace(/\s+/g, '').replace(/^0x/i, '');
  if (!/^(?:[0-9a-fA-F]{2})*$/.test(digits)) throw new UsageError(`--${option} needs hex digits, two for each byte`);
  return Buffer.from(digits, 'hex');
}

/** The data of a command from exactly one of --hex and --file. */
async function inputBytes(args: { readonly hex?: string | undefined; readonly file?: string | undefined }): Promise<Buffer> {
  if (args.hex !== undefined && args.file === undefined) return hexBytes(args.hex, 'hex');
  if (args.file === undefined || args.hex !== undefined) throw new UsageError('give the data with exactly one of --hex HEX and --file FILE');
  try {
    return await readFile(args.file);
  } catch (error) {
    throw new UsageError(`cannot read --file ${args.file}: ${(error as Error).message}`);
  }
}

/**
 * Secret bytes go to a new file only its owner can read: an existing file would keep its
 * own, perhaps wider, permissions.
 */
async function writeSecret(path: string, material: KeyMaterial): Promise<void> {
  try {
    await writeFile(path, material.bytes, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    const exists = (error as NodeJS.ErrnoException).code === 'EEXIST';
    throw new UsageError(`cannot write --out ${path}: ${exists ? 'the file exists (kmip writes secrets only to a new file)' : (error as Error).message}`);
  }
}

const hex = (bytes: Uint8Array | undefined): string | undefined => (bytes === undefined ? undefined : Buffer.from(bytes).toString('hex'));

// ---------------------------------------------------------------------------------------
// Commands

async function get(session: KmipSession, id: string, format: string | undefined, out: string | undefined): Promise<Output> {
  const v = session.version;
  const keyFormat = format === undefined ? undefined : enumValue(Tag.KeyFormatType, format, 'format', v, { raw: 'Raw', transparent: 'TransparentSymmetricKey' });
  const object = retrievedObject(await session.call(Enum.Operation.Get, getPayload(id, keyFormat)), v);
  const { material } = object;
  const about = { uniqueIdentifier: object.uniqueIdentifier, objectType: object.objectType, ...(object.keyFormat === undefined ? {} : { keyFormat: object.keyFormat }) };
  try {
    if (material instanceof KeyMaterial) {
      if (out !== undefined) {
        await writeSecret(out, material);
        return { text: `wrote ${material.length} bytes of ${object.objectType} ${object.uniqueIdentifier} to ${out}`, json: { ...about, out, length: material.length } };
      }
      const value = material.bytes.toString('hex');
      return { text: value, json: { ...about, keyMaterial: value } };
    }
    if (out !== undefined) throw new UsageError(`the ${object.keyFormat ?? ''} key material is a structure: ask for --format raw to write it to a file`);
    const fields = [...material].map(([name, bytes]) => [name, bytes.bytes.toString('hex')] as const);
    return { text: fields.map(([name, value]) => `${name}: ${value}`).join('\n'), json: { ...about, keyMaterial: Object.fromEntries(fields) } };
  } finally {
    for (const m of material instanceof KeyMaterial ? [material] : material.values()) m.wipe();
  }
}

async function attributes(session: KmipSession, id: string): Promise<Output> {
  const payload = await session.call(Enum.Operation.GetAttributes, [idItem(id)]);
  const list = attributesOf(payload);
  return {
    text: list.map(({ name, value }) => `${name}: ${describeValue(value, session.version)}`).join('\n'),
    json: { uniqueIdentifier: uniqueIdentifier(payload), attributes: list.map(({ name, value }) => ({ name, value: toJson(value, { version: session.version }) })) },
  };
}

async function query(session: KmipSession): Promise<Output> {
  const answer = queryAnswer(await session.call(Enum.Operation.Query, queryPayload()), session.version);
  const info = Object.entries(answer.serverInformation).map(([name, value]) => `${name}: ${value}`);
  const lines = [
    ...(answer.vendor === undefined ? [] : [`Vendor Identification: ${answer.vendor}`]),
    ...info,
    'Operations:',
    ...answer.operations.map((op) => `  ${op}`),
    'Object Types:',
    ...answer.objectTypes.map((type) => `  ${type}`),
  ];
  return { text: lines.join('\n'), json: answer };
}

interface CipherArgs {
  readonly id: string;
  readonly hex?: string | undefined;
  readonly file?: string | undefined;
  readonly mode: string;
  readonly padding?: string | undefined;
  readonly iv?: string | undefined;
  readonly aad?: string | undefined;
  readonly 'tag-length': number;
  readonly tag?: string | undefined;
  readonly out?: string | undefined;
}

async function cipher(session: KmipSession, operation: 'Encrypt' | 'Decrypt', args: CipherArgs): Promise<Output> {
  const v = session.version;
  const mode = enumValue(Tag.BlockCipherMode, args.mode, 'mode', v);
  const M = Enum.BlockCipherMode;
  // Block modes need padding for data of any length; stream and AEAD modes take none.
  const padding = args.padding !== undefined ? enumValue(Tag.PaddingMethod, args.padding, 'padding', v) : mode === M.CBC || mode === M.ECB ? Enum.PaddingMethod.PKCS5 : undefined;
  const aead = mode === M.GCM || mode === M.CCM;
  const ivIn = args.iv === undefined ? undefined : hexBytes(args.iv, 'iv');
  const payload = await session.call(
    Enum.Operation[operation],
    cipherPayload(args.id, {
      mode,
      padding,
      tagLength: aead ? args['tag-length'] : undefined,
      data: await inputBytes(args),
      iv: ivIn,
      aad: args.aad === undefined ? undefined : hexBytes(args.aad, 'aad'),
      tag: operation === 'Decrypt' && args.tag !== undefined ? hexBytes(args.tag, 'tag') : undefined,
    }),
  );
  const bytesOf = (tag: number): Uint8Array | undefined => optionalChild(payload, tag, 'ByteString')?.value;
  const data = bytesOf(Tag.Data) ?? new Uint8Array(0);
  // The IV a decryption needs: the server's when it chose one, else the caller's own.
  const iv = hex(bytesOf(Tag.IVCounterNonce)) ?? (operation === 'Encrypt' ? hex(ivIn) : undefined);
  const tag = hex(bytesOf(Tag.AuthenticatedEncryptionTag));
  const extra = { ...(iv === undefined ? {} : { iv }), ...(tag === undefined ? {} : { tag }) };
  const extraLines = Object.entries(extra).map(([name, value]) => `${name}: ${value}`);
  if (args.out !== undefined) {
    const material = KeyMaterial.copyOf(data);
    try {
      await writeSecret(args.out, material);
    } finally {
      material.wipe();
    }
    return { text: [`wrote ${data.length} bytes to ${args.out}`, ...extraLines].join('\n'), json: { out: args.out, length: data.length, ...extra } };
  }
  const dataHex = hex(data) ?? '';
  return { text: [`data: ${dataHex}`, ...extraLines].join('\n'), json: { data: dataHex, ...extra } };
}

const idOutput = (payload: StructureItem, verb?: string): Output => {
  const id = uniqueIdentifier(payload);
  return { text: verb === undefined ? id : `${verb} ${id}`, json: { uniqueIdentifier: id } };
};

// ---------------------------------------------------------------------------------------
// The command line

const cipherOptions = <T>(y: Argv<T>) =>
  y
    .positional('id', { type: 'string', demandOption: true, describe: 'Unique Identifier of the key' })
    .option('hex', { type: 'string', describe: 'the input as hex digits' })
    .option('file', { type: 'string', describe: 'the input as a binary file' })
    .option('mode', { type: 'string', default: 'CBC', describe: 'Block Cipher Mode: CBC, GCM, ECB, CTR, ...' })
    .option('padding', { type: 'string', describe: 'Padding Method [default: PKCS5 for CBC and ECB, none otherwise]' })
    .option('iv', { type: 'string', describe: 'IV, counter or nonce as hex (Encrypt: the server makes one when absent)' })
    .option('aad', { type: 'string', describe: 'GCM additional authenticated data as hex' })
    .option('tag-length', { type: 'number', default: 16, describe: 'GCM tag length in bytes' })
    .option('out', { type: 'string', describe: 'write the output data to a new FILE (mode 0600) instead of printing its hex' });

const idCommand = <T>(y: Argv<T>) => y.positional('id', { type: 'string', demandOption: true, describe: 'Unique Identifier' });

function usageFailure(message: string | undefined, error: Error | undefined): never {
  process.stderr.write(`kmip: ${oneLine(message ?? error?.message ?? 'bad usage')} (see kmip --help)\n`);
  process.exit(EXIT_USAGE);
}

async function main(argv: string[]): Promise<void> {
  await yargs(argv)
    .scriptName('kmip')
    // A flag given twice takes its last value, as in most commands.
    .parserConfiguration({ 'duplicate-arguments-array': false })
    .usage('$0 <command> [options]: a KMIP client over mutually authenticated TLS')
    .options({
      host: { type: 'string', describe: 'server host [KMIP_HOST; default 127.0.0.1]' },
      port: { type: 'number', describe: 'server port [KMIP_PORT; default 5696]', coerce: (port: number) => checkPort(port, '--port') },
      cert: { type: 'string', describe: 'client certificate, PEM [KMIP_CERT; default DIR/certs/admin.pem]' },
      key: { type: 'string', describe: 'client private key, PEM [KMIP_KEY; default DIR/certs/admin-key.pem]' },
      ca: { type: 'string', describe: 'CA certificate the server must chain to, PEM [KMIP_CA; default DIR/certs/ca.pem]' },
      dir: { type: 'string', describe: 'a kmipd data folder whose admin client and CA to use [KMIPD_DIR; default ./kmipd-data]' },
      servername: { type: 'string', describe: 'name to check in the server certificate [default: the host]' },
      'kmip-version': { type: 'string', default: DEFAULT_VERSION, choices: [...registry.KMIP_VERSIONS], describe: 'KMIP protocol version of the requests' },
      json: { type: 'boolean', default: false, describe: 'print the result as JSON' },
      timeout: { type: 'number', default: 30, describe: 'seconds allowed for connecting and for the answer' },
    })
    .group(['host', 'port', 'cert', 'key', 'ca', 'dir', 'servername', 'kmip-version', 'timeout'], 'Connection:')
    .command(
      'discover-versions',
      'the protocol versions the server speaks, preferred first',
      (y) => y,
      (args) =>
        run(args, async (session) => {
          const versions = protocolVersions(await session.call(Enum.Operation.DiscoverVersions, []));
          return { text: versions.join('\n'), json: { versions } };
        }),
    )
    .command('query', 'the operations, object types and server information the server reports', (y) => y, (args) => run(args, query))
    .command(
      'create',
      'create a symmetric key; prints its Unique Identifier',
      (y) =>
        y
          .option('algorithm', { type: 'string', default: 'AES', describe: 'Cryptographic Algorithm' })
          .option('length', { type: 'number', default: 256, describe: 'Cryptographic Length in bits' })
          .option('name', { type: 'string', describe: 'a Name for the key' })
          .option('usage', { type: 'string', default: DEFAULT_USAGE, describe: 'Cryptographic Usage Mask bits, comma-separated' }),
      (args) =>
        run(args, async (session) => {
          const v = session.version;
          const payload = createPayload(v, {
            algorithm: enumValue(Tag.CryptographicAlgorithm, args.algorithm, 'algorithm', v),
            length: args.length,
            usage: maskValue(Tag.CryptographicUsageMask, [args.usage], 'usage'),
            name: args.name,
          });
          return idOutput(await session.call(Enum.Operation.Create, payload));
        }),
    )
    .command('register', 'register a secret or a key you already have; prints its Unique Identifier', (register) =>
      register
        .command(
          'secret',
          'register Secret Data (a password or seed)',
          (y) =>
            y
              .option('hex', { type: 'string', describe: 'the secret as hex digits (visible to other local users in the process list: prefer --file)' })
              .option('file', { type: 'string', describe: 'a file holding the secret bytes' })
              .option('type', { type: 'string', default: 'password', describe: 'Secret Data Type: password or seed' })
              .option('name', { type: 'string', describe: 'a Name for the secret' }),
          (args) =>
            run(args, async (session) => {
              const material = KeyMaterial.copyOf(await inputBytes(args));
              try {
                const payload = registerSecretPayload(session.version, {
                  secretType: enumValue(Tag.SecretDataType, args.type, 'type', session.version),
                  material: material.bytes,
                  name: args.name,
                });
                return idOutput(await session.call(Enum.Operation.Register, payload));
              } finally {
                material.wipe();
              }
            }),
        )
        .command(
          'key',
          'register a symmetric key given in Raw format',
          (y) =>
            y
              .option('algorithm', { type: 'string', demandOption: true, describe: 'Cryptographic Algorithm (AES, ...)' })
              .option('hex', { type: 'string', describe: 'the key as hex digits (visible to other local users in the process list: prefer --file)' })
              .option('file', { type: 'string', describe: 'a file holding the key bytes' })
              .option('name', { type: 'string', describe: 'a Name for the key' })
              .option('usage', { type: 'string', default: DEFAULT_USAGE, describe: 'Cryptographic Usage Mask bits, comma-separated' }),
          (args) =>
            run(args, async (session) => {
              const v = session.version;
              const material = KeyMaterial.copyOf(await inputBytes(args));
              try {
                const payload = registerKeyPayload(v, {
                  algorithm: enumValue(Tag.CryptographicAlgorithm, args.algorithm, 'algorithm', v),
                  material: material.bytes,
                  usage: maskValue(Tag.CryptographicUsageMask, [args.usage], 'usage'),
                  name: args.name,
                });
                return idOutput(await session.call(Enum.Operation.Register, payload));
              } finally {
                material.wipe();
              }
            }),
        )
        .demandCommand(1, 'say secret or key'),
    )
    .command(
      'get <id>',
      'the key material (or certificate, opaque value) of an object, as hex',
      (y) =>
        idCommand(y)
          .option('format', { type: 'string', describe: 'Key Format Type: raw, transparent, or another name [default: as stored]' })
          .option('out', { type: 'string', describe: 'write the bytes to a new FILE (mode 0600) instead of printing them' }),
      (args) => run(args, (session) => get(session, args.id, args.format, args.out)),
    )
    .command(
      'locate',
      'the Unique Identifiers of the objects that match, one a line',
      (y) =>
        y
          .option('name', { type: 'string', describe: 'the Name' })
          .option('state', { type: 'string', describe: 'State: pre-active, active, deactivated, compromised, destroyed, destroyed-compromised' })
          .option('type', { type: 'string', describe: 'Object Type: symmetric-key, secret-data, ...' })
          .option('max', { type: 'number', describe: 'at most this many identifiers' }),
      (args) =>
        run(args, async (session) => {
          const v = session.version;
          const payload = await session.call(
            Enum.Operation.Locate,
            locatePayload(v, {
              name: args.name,
              state: args.state === undefined ? undefined : enumValue(Tag.State, args.state, 'state', v),
              objectType: args.type === undefined ? undefined : enumValue(Tag.ObjectType, args.type, 'type', v),
              max: args.max,
            }),
          );
          const ids = uniqueIdentifiers(payload);
          const located = optionalChild(payload, Tag.LocatedItems, 'Integer')?.value;
          return { text: ids.join('\n'), json: { uniqueIdentifiers: ids, ...(located === undefined ? {} : { locatedItems: located }) } };
        }),
    )
    .command('attributes <id>', 'the attributes of an object (Get Attributes), one "name: value" a line', (y) => idCommand(y), (args) => run(args, (session) => attributes(session, args.id)))
    .command('activate <id>', 'make an object Active', (y) => idCommand(y), (args) =>
      run(args, async (session) => idOutput(await session.call(Enum.Operation.Activate, [idItem(args.id)]), 'activated')),
    )
    .command(
      'revoke <id>',
      'revoke an object: cessation deactivates it, compromise marks it Compromised',
      (y) => idCommand(y).option('reason', { type: 'string', default: 'cessation', describe: 'Revocation Reason Code: cessation, compromise, superseded, ...' }),
      (args) =>
        run(args, async (session) => {
          const reason = enumValue(Tag.RevocationReasonCode, args.reason, 'reason', session.version, { cessation: 'CessationOfOperation', compromise: 'KeyCompromise' });
          return idOutput(await session.call(Enum.Operation.Revoke, revokePayload(args.id, reason)), 'revoked');
        }),
    )
    .command('destroy <id>', 'destroy the key material of an object', (y) => idCommand(y), (args) =>
      run(args, async (session) => idOutput(await session.call(Enum.Operation.Destroy, [idItem(args.id)]), 'destroyed')),
    )
    .command('rekey <id>', 'replace a symmetric key by a new one; prints the new Unique Identifier', (y) => idCommand(y), (args) =>
      run(args, async (session) => idOutput(await session.call(Enum.Operation.ReKey, [idItem(args.id)]))),
    )
    .command('encrypt <id>', 'encrypt data with a key on the server (AES-CBC with PKCS#5 padding by default)', (y) => cipherOptions(y), (args) =>
      run(args, (session) => cipher(session, 'Encrypt', args)),
    )
    .command(
      'decrypt <id>',
      'decrypt data with a key on the server',
      (y) => cipherOptions(y).option('tag', { type: 'string', describe: 'GCM authentication tag as hex' }),
      (args) => run(args, (session) => cipher(session, 'Decrypt', args)),
    )
    .command(grantCommands(run as RunCommand))
    .demandCommand(1, 'say which command')
    .strict()
    .fail(usageFailure)
    .help()
    .parseAsync();
}

main(hideBin(process.argv)).catch((error: unknown) => {
  report(error);
});
