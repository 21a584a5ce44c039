/** kmip create, create-key-pair, register, get, locate, rekey. */
import { readdir, stat } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import type { Argv } from 'yargs';
import { KmipOperationError, enumValue, maskValue, toInstances } from '../../../lib/client/index.js';
import type { AttributeInstance, Attributes, KmipClient, KmipStruct, ManagedObjectInput } from '../../../lib/client/index.js';
import { Enum, Tag } from '../../../ttlv/index.js';
import { eachLimited, run } from '../context.js';
import type { GlobalArgs, KmipCommands } from '../context.js';
import { UsageError, EXIT } from '../errors.js';
import { inputBytes, parseKeyFile, pem, readInput, wipe, writeSecret } from '../files.js';
import { Progress, table } from '../output.js';
import type { Output } from '../output.js';

const DEFAULT_USAGE = 'encrypt,decrypt';

const idOutput = (id: string, verb?: string): Output => ({ text: verb === undefined ? id : `${verb} ${id}`, json: { uniqueIdentifier: id } });

const algorithm = (client: KmipClient, input: string): number => enumValue(Tag.CryptographicAlgorithm, input, '--algorithm', client.version);
const usage = (input: string): number => maskValue(Tag.CryptographicUsageMask, [input], '--usage');
const nameAttribute = (name: string | undefined): Attributes => (name === undefined ? {} : { name });

// ---------------------------------------------------------------------------------------
// register

interface RegisterFileOptions {
  readonly algorithm?: string | undefined;
  readonly usage?: string | undefined;
  readonly name?: string | undefined;
}

/** What a file registers as: its certificate or key, or raw bytes as a symmetric key of --algorithm. */
function fileObject(client: KmipClient, bytes: Buffer, options: RegisterFileOptions): { object: ManagedObjectInput; attributes: Attributes } {
  const parsed = parseKeyFile(bytes);
  const named = nameAttribute(options.name);
  if (parsed.object !== undefined) {
    const mask = options.usage === undefined ? undefined : usage(options.usage);
    const usageAttributes: Attributes = mask === undefined ? {} : { cryptographicUsageMask: mask };
    // A certificate takes no usage mask of ours: it carries its own key usage.
    return { object: parsed.object, attributes: parsed.kind === 'certificate' ? named : { ...named, ...usageAttributes } };
  }
  if (options.algorithm === undefined) throw new UsageError('the file is neither a certificate nor a PEM/DER key: say --algorithm (AES, ...) to register its bytes as a symmetric key');
  return {
    object: { type: 'SymmetricKey', algorithm: algorithm(client, options.algorithm), material: parsed.bytes },
    attributes: { ...named, cryptographicUsageMask: usage(options.usage ?? DEFAULT_USAGE) },
  };
}

async function registerFile(client: KmipClient, path: string, options: RegisterFileOptions): Promise<{ id: string; objectType: string }> {
  const bytes = await readInput(path, 'file');
  try {
    const { object, attributes } = fileObject(client, bytes, options);
    const { uniqueIdentifier } = await client.register({ object, attributes });
    return { id: uniqueIdentifier, objectType: object.type };
  } finally {
    wipe(bytes);
  }
}

interface FolderRow {
  readonly file: string;
  readonly objectType?: string;
  readonly uniqueIdentifier?: string;
  readonly error?: string;
}

async function registerFolder(client: KmipClient, folder: string, options: RegisterFileOptions & { names: boolean }): Promise<Output> {
  let entries: string[];
  try {
    entries = (await readdir(folder)).sort();
  } catch (error) {
    throw new UsageError(`cannot read the folder ${folder}: ${(error as Error).message}`);
  }
  const files: string[] = [];
  for (const entry of entries) if (!entry.startsWith('.') && (await stat(join(folder, entry))).isFile()) files.push(entry);
  if (files.length === 0) throw new UsageError(`the folder ${folder} holds no files to register`);
  const progress = new Progress(files.length);
  const rows = await eachLimited(files, 4, async (file): Promise<FolderRow> => {
    const name = options.names ? basename(file, extname(file)) : undefined;
    try {
      const { id, objectType } = await registerFile(client, join(folder, file), { ...options, name });
      return { file, objectType, uniqueIdentifier: id };
    } catch (error) {
      if (error instanceof UsageError || error instanceof KmipOperationError) return { file, error: error.message };
      throw error;
    } finally {
      progress.tick(file);
    }
  });
  progress.finish();
  const failed = rows.filter((row) => row.error !== undefined).length;
  const text = table(
    ['FILE', 'TYPE', 'UNIQUE IDENTIFIER', 'RESULT'],
    rows.map((row) => [row.file, row.objectType ?? '', row.uniqueIdentifier ?? '', row.error ?? 'registered']),
  );
  const summary = `${rows.length - failed} of ${rows.length} files registered${failed === 0 ? '' : `; ${failed} failed`}`;
  return { text: `${text}\n${summary}`, json: { registered: rows.length - failed, failed, files: rows }, ...(failed === 0 ? {} : { exitCode: EXIT.failed }) };
}

const registerCommands = (register: Argv<GlobalArgs>): Argv<GlobalArgs> =>
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
        run(args, async (client) => {
          const material = await inputBytes(args);
          try {
            const secretDataType = enumValue(Tag.SecretDataType, args.type, '--type', client.version);
            return idOutput((await client.register({ object: { type: 'SecretData', secretDataType, material }, attributes: nameAttribute(args.name) })).uniqueIdentifier);
          } finally {
            wipe(material);
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
        run(args, async (client) => {
          const material = await inputBytes(args);
          try {
            const object: ManagedObjectInput = { type: 'SymmetricKey', algorithm: algorithm(client, args.algorithm), material };
            return idOutput((await client.register({ object, attributes: { ...nameAttribute(args.name), cryptographicUsageMask: usage(args.usage) } })).uniqueIdentifier);
          } finally {
            wipe(material);
          }
        }),
    )
    .command(
      'file <files..>',
      'register certificates, private and public keys (PEM or DER), or raw symmetric keys (with --algorithm); prints one identifier a line',
      (y) =>
        y
          .positional('files', { type: 'string', array: true, demandOption: true, describe: 'files to register' })
          .option('algorithm', { type: 'string', describe: 'for raw files: their Cryptographic Algorithm (AES, ...)' })
          .option('usage', { type: 'string', describe: `Cryptographic Usage Mask bits for keys [raw keys: ${DEFAULT_USAGE}]` })
          .option('name', { type: 'string', describe: 'a Name (one file only)' }),
      (args) =>
        run(args, async (client) => {
          const files = args.files;
          if (args.name !== undefined && files.length > 1) throw new UsageError('--name names one object: give one file, or use register folder');
          const results = [];
          for (const file of files) results.push({ file, ...(await registerFile(client, file, args)) });
          return { text: results.map((r) => r.id).join('\n'), json: results.map((r) => ({ file: r.file, objectType: r.objectType, uniqueIdentifier: r.id })) };
        }),
    )
    .command(
      'folder <folder>',
      'register every file of a folder (as `register file`), each named after its file; a table of results, a progress bar on a terminal',
      (y) =>
        y
          .positional('folder', { type: 'string', demandOption: true, describe: 'the folder' })
          .option('algorithm', { type: 'string', describe: 'for raw files: their Cryptographic Algorithm (AES, ...)' })
          .option('usage', { type: 'string', describe: `Cryptographic Usage Mask bits for keys [raw keys: ${DEFAULT_USAGE}]` })
          .option('names', { type: 'boolean', default: true, describe: 'name each object after its file (--no-names: no Name)' }),
      (args) => run(args, (client) => registerFolder(client, args.folder, args)),
    )
    .demandCommand(1, 'say secret, key, file or folder');

// ---------------------------------------------------------------------------------------
// get

const FORMAT_ALIASES = { raw: 'Raw', transparent: 'TransparentSymmetricKey', pkcs8: 'PKCS_8', pkcs1: 'PKCS_1', x509: 'X_509', spki: 'X_509' } as const;
const WRAPPING_MODES = { 'nist-key-wrap': 'NISTKeyWrap', 'aes-key-wrap-padding': 'AESKeyWrapPadding' } as const;
const PEM_LABELS: Record<string, string> = { PKCS_8: 'PRIVATE KEY', PKCS_1: 'RSA PRIVATE KEY', X_509: 'PUBLIC KEY' };

interface GetArgs {
  readonly id: string;
  readonly format?: string | undefined;
  readonly out?: string | undefined;
  readonly pem: boolean;
  readonly 'wrap-key'?: string | undefined;
  readonly 'wrapping-method'?: string | undefined;
  readonly encoding: string;
}

async function get(client: KmipClient, args: GetArgs): Promise<Output> {
  const v = client.version;
  const keyFormat = args.format === undefined ? undefined : enumValue(Tag.KeyFormatType, args.format, '--format', v, FORMAT_ALIASES);
  const keyFormatType = keyFormat === undefined ? undefined : (Object.entries(Enum.KeyFormatType).find(([, value]) => value === keyFormat)?.[0] as keyof typeof Enum.KeyFormatType);
  let keyWrappingSpecification: KmipStruct | undefined;
  if (args['wrap-key'] !== undefined) {
    const method = args['wrapping-method'];
    const mode = method === undefined ? undefined : (WRAPPING_MODES as Record<string, string>)[method];
    if (method !== undefined && mode === undefined) throw new UsageError(`--wrapping-method ${method} is not one of ${Object.keys(WRAPPING_MODES).join(', ')}`);
    keyWrappingSpecification = {
      wrappingMethod: 'Encrypt',
      encryptionKeyInformation: { uniqueIdentifier: args['wrap-key'], ...(mode === undefined ? {} : { cryptographicParameters: { blockCipherMode: mode } }) },
      encodingOption: args.encoding === 'ttlv' ? 'TTLVEncoding' : 'NoEncoding',
    };
  } else if (args['wrapping-method'] !== undefined) throw new UsageError('--wrapping-method needs --wrap-key ID (the key to wrap under)');
  const { object, uniqueIdentifier } = await client.get(args.id, { ...(keyFormatType === undefined ? {} : { keyFormatType }), ...(keyWrappingSpecification === undefined ? {} : { keyWrappingSpecification }) });
  const about = {
    uniqueIdentifier,
    objectType: object.objectType,
    ...(object.keyFormatType === undefined ? {} : { keyFormat: object.keyFormatType }),
    ...(object.keyWrappingData === undefined ? {} : { wrappedBy: args['wrap-key'] }),
  };
  try {
    const { material } = object;
    if (material !== undefined) {
      if (args.out !== undefined) {
        const label = object.objectType === 'Certificate' ? 'CERTIFICATE' : object.keyFormatType === undefined ? undefined : PEM_LABELS[object.keyFormatType];
        if (args.pem && (label === undefined || object.keyWrappingData !== undefined)) throw new UsageError('--pem writes certificates and unwrapped PKCS#8, PKCS#1 or X.509 keys: ask --format pkcs8 (or x509)');
        const bytes = args.pem ? Buffer.from(pem(label === 'PUBLIC KEY' && object.objectType === 'PrivateKey' ? 'PRIVATE KEY' : (label as string), material.bytes)) : material.bytes;
        await writeSecret(args.out, bytes);
        return { text: `wrote ${bytes.length} bytes of ${object.objectType} ${uniqueIdentifier} to ${args.out}`, json: { ...about, out: args.out, length: bytes.length } };
      }
      const value = material.bytes.toString('hex');
      return { text: value, json: { ...about, keyMaterial: value } };
    }
    if (args.out !== undefined) throw new UsageError(`the ${object.keyFormatType ?? ''} key material is a structure: ask for --format raw (or pkcs8) to write it to a file`);
    const fields = [...(object.fields ?? new Map())].map(([name, value]) => [name, typeof value === 'object' ? value.bytes.toString('hex') : typeof value === 'bigint' ? value.toString(16) : String(value)] as const);
    return { text: fields.map(([name, value]) => `${name}: ${value}`).join('\n'), json: { ...about, keyMaterial: Object.fromEntries(fields) } };
  } finally {
    object.wipe();
  }
}

// ---------------------------------------------------------------------------------------
// locate

interface LocateArgs {
  readonly name?: string | undefined;
  readonly type?: string | undefined;
  readonly algorithm?: string | undefined;
  readonly state?: string | undefined;
  readonly group?: string | undefined;
  readonly 'created-after'?: string | undefined;
  readonly 'created-before'?: string | undefined;
  readonly 'activated-after'?: string | undefined;
  readonly 'activated-before'?: string | undefined;
  readonly max?: number | undefined;
  readonly offset?: number | undefined;
  readonly long: boolean;
}

function dateOf(text: string, option: string): Date {
  const date = new Date(/^\d+$/.test(text) ? Number(text) * 1000 : text);
  if (Number.isNaN(date.getTime())) throw new UsageError(`--${option} ${JSON.stringify(text)} is not a date: give ISO 8601 (2026-01-31, 2026-01-31T12:00:00Z) or POSIX seconds`);
  return date;
}

/** A date range as two instances of one date attribute (2.1 section 6.1.27: two values bound a range). */
function dateRange(key: 'initialDate' | 'activationDate', after: string | undefined, before: string | undefined, prefix: string, client: KmipClient): AttributeInstance[] {
  if (after === undefined && before === undefined) return [];
  const from = after === undefined ? new Date(0) : dateOf(after, `${prefix}-after`);
  // The largest Date a JavaScript Date holds stands for "no upper bound".
  const to = before === undefined ? new Date(8.64e15) : dateOf(before, `${prefix}-before`);
  return [...toInstances({ [key]: from }, client.version), ...toInstances({ [key]: to }, client.version)];
}

async function locate(client: KmipClient, args: LocateArgs): Promise<Output> {
  const v = client.version;
  const typed: Attributes = {
    ...(args.type === undefined ? {} : { objectType: enumValue(Tag.ObjectType, args.type, '--type', v) }),
    ...(args.algorithm === undefined ? {} : { cryptographicAlgorithm: algorithm(client, args.algorithm) }),
    ...(args.state === undefined ? {} : { state: enumValue(Tag.State, args.state, '--state', v) }),
    ...(args.group === undefined ? {} : { objectGroup: args.group }),
    ...nameAttribute(args.name),
  };
  const attributes = [
    ...toInstances(typed, v),
    ...dateRange('initialDate', args['created-after'], args['created-before'], 'created', client),
    ...dateRange('activationDate', args['activated-after'], args['activated-before'], 'activated', client),
  ];
  const answer = await client.locate({ attributes, ...(args.max === undefined ? {} : { maximumItems: args.max }), ...(args.offset === undefined ? {} : { offsetItems: args.offset }) });
  const ids = answer.uniqueIdentifiers;
  const located = answer.locatedItems === undefined ? {} : { locatedItems: answer.locatedItems };
  if (!args.long) return { text: ids.join('\n'), json: { uniqueIdentifiers: ids, ...located } };
  const details = await eachLimited(ids, 8, async (id) => (await client.getAttributes(id, ['objectType', 'state', 'cryptographicAlgorithm', 'cryptographicLength', 'name'])).attributes);
  const rows = ids.map((id, i) => {
    const a = details[i] ?? {};
    return [id, a.objectType ?? '', a.state ?? '', [a.cryptographicAlgorithm, a.cryptographicLength].filter((x) => x !== undefined).join(' '), (a.name ?? []).map((n) => n.nameValue).join(', ')];
  });
  return {
    text: ids.length === 0 ? '' : table(['UNIQUE IDENTIFIER', 'TYPE', 'STATE', 'ALGORITHM', 'NAME'], rows),
    json: { uniqueIdentifiers: ids, ...located, objects: ids.map((id, i) => ({ uniqueIdentifier: id, ...details[i] })) },
  };
}

// ---------------------------------------------------------------------------------------

export const objectCommands: KmipCommands = (yargs) =>
  yargs
    .command(
      'create',
      'create a symmetric key; prints its Unique Identifier',
      (y) =>
        y
          .option('algorithm', { type: 'string', default: 'AES', describe: 'Cryptographic Algorithm' })
          .option('length', { type: 'number', default: 256, describe: 'Cryptographic Length in bits' })
          .option('name', { type: 'string', describe: 'a Name for the key' })
          .option('group', { type: 'string', describe: 'an Object Group for the key' })
          .option('usage', { type: 'string', default: DEFAULT_USAGE, describe: 'Cryptographic Usage Mask bits, comma-separated' }),
      (args) =>
        run(args, async (client) => {
          const attributes: Attributes = {
            cryptographicAlgorithm: algorithm(client, args.algorithm),
            cryptographicLength: args.length,
            cryptographicUsageMask: usage(args.usage),
            ...nameAttribute(args.name),
            ...(args.group === undefined ? {} : { objectGroup: args.group }),
          };
          return idOutput((await client.create({ attributes })).uniqueIdentifier);
        }),
    )
    .command(
      'create-key-pair',
      'create an RSA or EC key pair; prints the two Unique Identifiers',
      (y) =>
        y
          .option('algorithm', { type: 'string', default: 'RSA', describe: 'Cryptographic Algorithm: RSA, ECDSA, EC, Ed25519' })
          .option('length', { type: 'number', describe: 'Cryptographic Length in bits: the RSA modulus (2048), the EC curve size (256, 384, 521)' })
          .option('name', { type: 'string', describe: 'a Name for the private key; the public key gets NAME.pub' })
          .option('private-usage', { type: 'string', default: 'sign', describe: 'Cryptographic Usage Mask bits of the private key' })
          .option('public-usage', { type: 'string', default: 'verify', describe: 'Cryptographic Usage Mask bits of the public key' }),
      (args) =>
        run(args, async (client) => {
          const algorithmValue = algorithm(client, args.algorithm);
          const isRsa = algorithmValue === Enum.CryptographicAlgorithm.RSA;
          const length = args.length ?? (isRsa ? 2048 : 256);
          const pair = await client.createKeyPair({
            commonAttributes: { cryptographicAlgorithm: algorithmValue, cryptographicLength: length },
            privateKeyAttributes: { cryptographicUsageMask: usage(args['private-usage']), ...nameAttribute(args.name) },
            publicKeyAttributes: { cryptographicUsageMask: usage(args['public-usage']), ...nameAttribute(args.name === undefined ? undefined : `${args.name}.pub`) },
          });
          return {
            text: table(['KEY', 'UNIQUE IDENTIFIER'], [['private', pair.privateKeyUniqueIdentifier], ['public', pair.publicKeyUniqueIdentifier]]),
            json: pair,
          };
        }),
    )
    .command('register', 'register a secret, key or certificate you already have; prints its Unique Identifier', registerCommands)
    .command(
      'get <id>',
      'the key material (or certificate, opaque value) of an object, as hex or to a file',
      (y) =>
        y
          .positional('id', { type: 'string', demandOption: true, describe: 'Unique Identifier' })
          .option('format', { type: 'string', describe: 'Key Format Type: raw, transparent, pkcs8, pkcs1, x509, or another name [default: as stored]' })
          .option('out', { type: 'string', describe: 'write the bytes to a new FILE (mode 0600) instead of printing them' })
          .option('pem', { type: 'boolean', default: false, describe: 'with --out: write a certificate or PKCS#8/PKCS#1/X.509 key as PEM' })
          .option('wrap-key', { type: 'string', describe: 'wrap the key under the key with this Unique Identifier (Key Wrapping Specification)' })
          .option('wrapping-method', { type: 'string', choices: Object.keys(WRAPPING_MODES), describe: "which of the wrapping key's Cryptographic Parameters to wrap with (the server refuses a method the key does not list) [default: its first]" })
          .option('encoding', { type: 'string', default: 'none', choices: ['none', 'ttlv'], describe: 'what is wrapped: the key bytes (none) or its TTLV Key Value' }),
      (args) => run(args, (client) => get(client, args)),
    )
    .command(
      'locate',
      'the Unique Identifiers of the objects that match, one a line (--long: a table)',
      (y) =>
        y
          .option('name', { type: 'string', describe: 'the Name' })
          .option('type', { type: 'string', describe: 'Object Type: symmetric-key, private-key, certificate, secret-data, ...' })
          .option('algorithm', { type: 'string', describe: 'Cryptographic Algorithm: AES, RSA, ...' })
          .option('state', { type: 'string', describe: 'State: pre-active, active, deactivated, compromised, destroyed, destroyed-compromised' })
          .option('group', { type: 'string', describe: 'Object Group' })
          .option('created-after', { type: 'string', describe: 'Initial Date on or after DATE (ISO 8601 or POSIX seconds)' })
          .option('created-before', { type: 'string', describe: 'Initial Date on or before DATE' })
          .option('activated-after', { type: 'string', describe: 'Activation Date on or after DATE' })
          .option('activated-before', { type: 'string', describe: 'Activation Date on or before DATE' })
          .option('max', { type: 'number', describe: 'at most this many identifiers' })
          .option('offset', { type: 'number', describe: 'skip this many matches first' })
          .option('long', { type: 'boolean', default: false, describe: 'a table with type, state, algorithm and name' }),
      (args) => run(args, (client) => locate(client, args)),
    )
    .command(
      'rekey <id>',
      'replace a key by a new one (Re-key; Re-key Key Pair for a private key); prints the new Unique Identifier',
      (y) => y.positional('id', { type: 'string', demandOption: true, describe: 'Unique Identifier' }).option('offset', { type: 'number', describe: 'seconds from now until the new key becomes active' }),
      (args) =>
        run(args, async (client) => {
          const { attributes } = await client.getAttributes(args.id, ['objectType']);
          const offset = args.offset === undefined ? {} : { offset: args.offset };
          if (attributes.objectType === 'PrivateKey') {
            const pair = await client.reKeyKeyPair(args.id, offset);
            return { text: table(['KEY', 'UNIQUE IDENTIFIER'], [['private', pair.privateKeyUniqueIdentifier], ['public', pair.publicKeyUniqueIdentifier]]), json: pair };
          }
          return idOutput((await client.reKey(args.id, offset)).uniqueIdentifier);
        }),
    );
