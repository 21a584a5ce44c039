/** kmip encrypt, decrypt, sign, verify, mac: cryptography with keys that stay on the server. */
import type { Argv } from 'yargs';
import { Enum, Tag } from '../../../ttlv/index.js';
import { enumValue } from '../../../lib/client/index.js';
import type { CryptographicParameters, KmipClient } from '../../../lib/client/index.js';
import { run } from '../context.js';
import type { GlobalArgs, KmipCommands } from '../context.js';
import { EXIT, UsageError } from '../errors.js';
import { hexBytes, inputBytes, readInput, writeSecret } from '../files.js';
import type { Output } from '../output.js';

const hex = (bytes: Uint8Array | undefined): string | undefined => (bytes === undefined ? undefined : Buffer.from(bytes).toString('hex'));

const enumKey = <E extends Record<string, number>>(names: E, value: number): keyof E & string => Object.entries(names).find(([, v]) => v === value)?.[0] as keyof E & string;

interface DataArgs {
  readonly id: string;
  readonly hex?: string | undefined;
  readonly file?: string | undefined;
  readonly out?: string | undefined;
}

/** Output bytes: hex on stdout, or a new file with --out, with extra fields beside. */
async function bytesOutput(field: string, data: Uint8Array, out: string | undefined, extra: Record<string, string> = {}): Promise<Output> {
  const extraLines = Object.entries(extra).map(([name, value]) => `${name}: ${value}`);
  if (out !== undefined) {
    await writeSecret(out, data);
    return { text: [`wrote ${data.length} bytes to ${out}`, ...extraLines].join('\n'), json: { out, length: data.length, ...extra } };
  }
  const value = hex(data) ?? '';
  return { text: [`${field}: ${value}`, ...extraLines].join('\n'), json: { [field]: value, ...extra } };
}

const inputOptions = (y: Argv<GlobalArgs>) =>
  y
    .positional('id', { type: 'string', demandOption: true, describe: 'Unique Identifier of the key' })
    .option('hex', { type: 'string', describe: 'the input as hex digits' })
    .option('file', { type: 'string', describe: 'the input as a binary file' });

const dataOptions = (y: Argv<GlobalArgs>) => inputOptions(y).option('out', { type: 'string', describe: 'write the output to a new FILE (mode 0600) instead of printing its hex' });

const cipherOptions = (y: Argv<GlobalArgs>) =>
  dataOptions(y)
    .option('mode', { type: 'string', default: 'CBC', describe: 'Block Cipher Mode: CBC, GCM, ECB, CTR, ...' })
    .option('padding', { type: 'string', describe: 'Padding Method [default: PKCS5 for CBC and ECB, none otherwise]' })
    .option('iv', { type: 'string', describe: 'IV, counter or nonce as hex (Encrypt: the server makes one when absent)' })
    .option('aad', { type: 'string', describe: 'GCM additional authenticated data as hex' })
    .option('tag-length', { type: 'number', default: 16, describe: 'GCM tag length in bytes' });

interface CipherArgs extends DataArgs {
  readonly mode: string;
  readonly padding?: string | undefined;
  readonly iv?: string | undefined;
  readonly aad?: string | undefined;
  readonly 'tag-length': number;
  readonly tag?: string | undefined;
}

async function cipher(client: KmipClient, operation: 'Encrypt' | 'Decrypt', args: CipherArgs): Promise<Output> {
  const v = client.version;
  const mode = enumValue(Tag.BlockCipherMode, args.mode, '--mode', v);
  const M = Enum.BlockCipherMode;
  // Block modes need padding for data of any length; stream and AEAD modes take none.
  const padding = args.padding !== undefined ? enumValue(Tag.PaddingMethod, args.padding, '--padding', v) : mode === M.CBC || mode === M.ECB ? Enum.PaddingMethod.PKCS5 : undefined;
  const aead = mode === M.GCM || mode === M.CCM;
  const parameters: CryptographicParameters = { blockCipherMode: mode, ...(padding === undefined ? {} : { paddingMethod: padding }), ...(aead ? { tagLength: args['tag-length'] } : {}) };
  const iv = args.iv === undefined ? undefined : hexBytes(args.iv, 'iv');
  const base = {
    uniqueIdentifier: args.id,
    cryptographicParameters: parameters,
    data: await inputBytes(args),
    ...(iv === undefined ? {} : { ivCounterNonce: iv }),
    ...(args.aad === undefined ? {} : { authenticatedEncryptionAdditionalData: hexBytes(args.aad, 'aad') }),
  };
  if (operation === 'Decrypt') {
    const answer = await client.decrypt({ ...base, ...(args.tag === undefined ? {} : { authenticatedEncryptionTag: hexBytes(args.tag, 'tag') }) });
    return bytesOutput('data', answer.data ?? new Uint8Array(0), args.out);
  }
  const answer = await client.encrypt(base);
  // The IV a decryption needs: the server's when it chose one, else the caller's own.
  const ivOut = hex(answer.ivCounterNonce) ?? hex(iv);
  const tag = hex(answer.authenticatedEncryptionTag);
  return bytesOutput('data', answer.data ?? new Uint8Array(0), args.out, { ...(ivOut === undefined ? {} : { iv: ivOut }), ...(tag === undefined ? {} : { tag }) });
}

/** Cryptographic Parameters of sign and verify: a Digital Signature Algorithm, or hash and padding. */
function signatureParameters(client: KmipClient, args: { readonly algorithm?: string | undefined; readonly hash?: string | undefined; readonly padding?: string | undefined }): CryptographicParameters {
  const v = client.version;
  if (args.algorithm !== undefined) return { digitalSignatureAlgorithm: enumKey(Enum.DigitalSignatureAlgorithm, enumValue(Tag.DigitalSignatureAlgorithm, args.algorithm, '--algorithm', v)) };
  return {
    hashingAlgorithm: enumKey(Enum.HashingAlgorithm, enumValue(Tag.HashingAlgorithm, args.hash ?? 'SHA-256', '--hash', v, { sha256: 'SHA_256', sha384: 'SHA_384', sha512: 'SHA_512' })),
    ...(args.padding === undefined ? {} : { paddingMethod: enumKey(Enum.PaddingMethod, enumValue(Tag.PaddingMethod, args.padding, '--padding', v, { pkcs1: 'PKCS1V1_5' })) }),
  };
}

const signatureParameterOptions = <T>(y: Argv<T>) =>
  y
    .option('algorithm', { type: 'string', describe: 'Digital Signature Algorithm: SHA256WithRSAEncryption, ECDSAWithSHA256, RSASSA-PSS, ...' })
    .option('hash', { type: 'string', describe: 'Hashing Algorithm when no --algorithm [default SHA-256]' })
    .option('padding', { type: 'string', describe: 'Padding Method for RSA when no --algorithm: pkcs1, PSS' });

const signatureOptions = (y: Argv<GlobalArgs>) => signatureParameterOptions(dataOptions(y));

async function signatureInput(args: { readonly signature?: string | undefined; readonly 'signature-file'?: string | undefined }, what: string): Promise<Buffer> {
  if (args.signature !== undefined && args['signature-file'] === undefined) return hexBytes(args.signature, what);
  if (args['signature-file'] !== undefined && args.signature === undefined) return readInput(args['signature-file'], `${what}-file`);
  throw new UsageError(`give the ${what} with exactly one of --${what} HEX and --${what}-file FILE`);
}

const verdict = (validity: string): Output => ({
  text: validity === 'Valid' ? 'valid' : validity === 'Invalid' ? 'invalid' : 'unknown',
  json: { validityIndicator: validity },
  ...(validity === 'Valid' ? {} : { exitCode: EXIT.invalid }),
});

export const cryptoCommands: KmipCommands = (yargs) =>
  yargs
    .command('encrypt <id>', 'encrypt data with a key on the server (AES-CBC with PKCS#5 padding by default)', cipherOptions, (args) => run(args, (client) => cipher(client, 'Encrypt', args)))
    .command(
      'decrypt <id>',
      'decrypt data with a key on the server',
      (y) => cipherOptions(y).option('tag', { type: 'string', describe: 'GCM authentication tag as hex' }),
      (args) => run(args, (client) => cipher(client, 'Decrypt', args)),
    )
    .command('sign <id>', 'sign data with a private key on the server; prints the signature', signatureOptions, (args) =>
      run(args, async (client) => {
        const { signatureData } = await client.sign({ uniqueIdentifier: args.id, cryptographicParameters: signatureParameters(client, args), data: await inputBytes(args) });
        return bytesOutput('signature', signatureData ?? new Uint8Array(0), args.out);
      }),
    )
    .command(
      'verify <id>',
      'check a signature with a public key on the server: prints valid (exit code 0) or invalid (exit code 3)',
      (y) => signatureParameterOptions(inputOptions(y)).option('signature', { type: 'string', describe: 'the signature as hex' }).option('signature-file', { type: 'string', describe: 'the signature as a binary file' }),
      (args) =>
        run(args, async (client) => {
          const signatureData = await signatureInput(args, 'signature');
          const answer = await client.signatureVerify({ uniqueIdentifier: args.id, cryptographicParameters: signatureParameters(client, args), data: await inputBytes(args), signatureData });
          return verdict(answer.validityIndicator);
        }),
    )
    .command(
      'mac <id>',
      'the MAC of data with a key on the server (HMAC, CMAC); with --verify MAC: valid (exit code 0) or invalid (exit code 3)',
      (y) =>
        dataOptions(y)
          .option('algorithm', { type: 'string', describe: "Cryptographic Algorithm: HMAC_SHA256, AES (CMAC), ... [default: the key's]" })
          .option('verify', { type: 'string', describe: 'check this MAC (hex) instead of printing one' }),
      (args) =>
        run(args, async (client) => {
          const parameters: CryptographicParameters | undefined =
            args.algorithm === undefined ? undefined : { cryptographicAlgorithm: enumKey(Enum.CryptographicAlgorithm, enumValue(Tag.CryptographicAlgorithm, args.algorithm, '--algorithm', client.version)) };
          const request = { uniqueIdentifier: args.id, data: await inputBytes(args), ...(parameters === undefined ? {} : { cryptographicParameters: parameters }) };
          if (args.verify !== undefined) return verdict((await client.macVerify({ ...request, macData: hexBytes(args.verify, 'verify') })).validityIndicator);
          return bytesOutput('mac', (await client.mac(request)).macData ?? new Uint8Array(0), args.out);
        }),
    );
