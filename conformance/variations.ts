/**
 * What KMIP Additional Message Encodings v1.0 section 8.4.1 lets vary in a response, as
 * data and as rules decided per batch item from the request and from what is known of the
 * objects: which identifiers, dates, key material and cryptographic output may differ
 * from the values the test case recorded on its reference server.
 */
import { Enum, Placeholder, Tag } from '../ttlv/index.js';
import type { TemplateItem, TtlvItem } from '../ttlv/index.js';
import { childOf, findEnum, findItem, textValues } from './objects.js';
import type { ObjectInfo, ObjectKnowledge } from './objects.js';

const Op = Enum.Operation;

/** 8.4.1: "For the following DateTime attributes where the value is not specified in the request as a fixed DateTime value". */
export const VARIABLE_DATES: ReadonlySet<string> = new Set([
  'ActivationDate',
  'ArchiveDate',
  'CompromiseDate',
  'CompromiseOccurrenceDate',
  'DeactivationDate',
  'DestroyDate',
  'InitialDate',
  'LastChangeDate',
  'ProtectStartDate',
  'ProcessStopDate',
  'ValidityDate',
  'OriginalCreationDate',
]);

/** 8.4.1: identifiers the server chooses. */
export const IDENTIFIERS: ReadonlySet<number> = new Set([
  Tag.UniqueIdentifier,
  Tag.PrivateKeyUniqueIdentifier,
  Tag.PublicKeyUniqueIdentifier,
  Tag.LinkedObjectIdentifier,
  Tag.AsynchronousCorrelationValue,
]);

/** 8.4.1: "the output of cryptographic operation in Data / SignatureData / MACData / IVCounterNonce". */
export const CRYPTO_OUTPUT: ReadonlySet<number> = new Set([Tag.Data, Tag.SignatureData, Tag.MACData, Tag.IVCounterNonce, Tag.AuthenticatedEncryptionTag]);

/** Structures whose children are attributes, in any order, extra ones allowed (8.4.1 "Additional attributes"). */
export const ATTRIBUTE_CONTAINERS: ReadonlySet<number> = new Set([
  Tag.Attributes,
  Tag.CommonAttributes,
  Tag.PrivateKeyAttributes,
  Tag.PublicKeyAttributes,
  Tag.TemplateAttribute,
  Tag.CommonTemplateAttribute,
  Tag.PrivateKeyTemplateAttribute,
  Tag.PublicKeyTemplateAttribute,
]);

/** 8.4.1: "TemplateAttribute - May or may not be included in responses". */
export const OPTIONAL_IN_PAYLOAD: ReadonlySet<number> = new Set([
  Tag.TemplateAttribute,
  Tag.CommonTemplateAttribute,
  Tag.PrivateKeyTemplateAttribute,
  Tag.PublicKeyTemplateAttribute,
]);

/**
 * Cases whose description lets Query's lists vary (8.4: "Each test case MAY include allowed
 * variations in the description of the test case"): MSGENC-HTTPS/JSON/XML-M-1 say "The
 * specific list of operations and object types returned in the response MAY vary", and so
 * does QS-M-1. Their Operation and Object Type items are the server's own report.
 */
export const QUERY_LISTS_VARY = /^(?:MSGENC-(?:HTTPS|JSON|XML)-M-1|QS-M-1)-[0-9]{2}$/;

/** What a server profile requires a server to report in Query (8.4.1, below). */
export interface QueryRequirements {
  readonly operations: ReadonlySet<number>;
  readonly objectTypes: ReadonlySet<number>;
}

/** KMIP Profiles 1.x, Baseline Server: the client-to-server operations every server SHALL support. */
const BASELINE_SERVER_OPERATIONS: readonly number[] = [
  Op.Locate,
  Op.Check,
  Op.Get,
  Op.GetAttributes,
  Op.GetAttributeList,
  Op.AddAttribute,
  Op.ModifyAttribute,
  Op.DeleteAttribute,
  Op.Activate,
  Op.Revoke,
  Op.Destroy,
  Op.Query,
  Op.DiscoverVersions,
];

/**
 * KMIP Profiles 1.3 and 1.4, Suite B minLOS_128 and minLOS_192 Server: the Baseline Server,
 * and the objects and operations of keys made and renewed by the server.
 */
const SUITE_B_SERVER: QueryRequirements = {
  operations: new Set([...BASELINE_SERVER_OPERATIONS, Op.Create, Op.CreateKeyPair, Op.Register, Op.ReKey, Op.ReKeyKeyPair]),
  objectTypes: new Set([Enum.ObjectType.Certificate, Enum.ObjectType.SymmetricKey, Enum.ObjectType.PublicKey, Enum.ObjectType.PrivateKey]),
};

/**
 * 8.4.1: "Object Types reported in Query other than those noted as required in this
 * profile" and "Operation Types reported in Query other than those noted as required in
 * this profile (or any referenced profile documents)" MAY vary. Where the runner knows what
 * a case's profile requires, an expected Operation or Object Type outside that may be
 * absent. SUITEB_*-M-1 expect the reference server's whole list (Poll, Cancel, Notify,
 * Put...), which no profile requires.
 */
export const QUERY_REQUIREMENTS: readonly (readonly [RegExp, QueryRequirements])[] = [[/^SUITEB_(?:128|192)-M-1-[0-9]{2}$/, SUITE_B_SERVER]];

export function queryRequirements(caseName: string | undefined): QueryRequirements | undefined {
  return caseName === undefined ? undefined : QUERY_REQUIREMENTS.find(([pattern]) => pattern.test(caseName))?.[1];
}

/** A Test identifier as the profiles write them: BL-M-1-21, CS-BC-M-GCM-2-14, SUITEB_128-M-1-13. */
export const TEST_IDENTIFIER = /[A-Z][A-Z0-9_]*(?:-[A-Z0-9_]+)*-[MO]-[0-9]+-[0-9]+/;

/** What may vary inside one response batch item, decided from the request and the objects. */
export interface BatchRules {
  readonly operation: number | undefined;
  /** Key material of a server-generated object (Get, Export). */
  readonly keyMaterialVaries: boolean;
  /** A key wrapped with a dynamic key, or with a wrapping that has random output. */
  readonly wrappedKeyVaries: boolean;
  /** The Key Format Type the server chose for an object it made, when the request named none. */
  readonly keyFormatVaries: boolean;
  /** Data, Signature Data, MAC Data, IV, tag of a cryptographic operation. */
  readonly cryptoOutputVaries: boolean;
  /** Discover Versions without a client list: extra protocol versions allowed. */
  readonly extraVersions: boolean;
  /**
   * The Random Number Generator attribute of a server-generated object: the server's own
   * generator, which a case recorded on another server cannot fix.
   */
  readonly generatorVaries: boolean;
  /** Query's Operation and Object Type items may be left out (QUERY_LISTS_VARY). */
  readonly queryListsVary: boolean;
  /** Query's Operation and Object Type items outside these may be left out (QUERY_REQUIREMENTS). */
  readonly queryRequired: QueryRequirements | undefined;
  /** PKCS#11 C_GetInfo: the CK_INFO names the server's own PKCS#11 library (CK_INFO_VARIES). */
  readonly ckInfoVaries: boolean;
}

/** What the rules of one batch item are decided from. */
export interface BatchInput {
  readonly operation: number | undefined;
  /** The request payload as sent. */
  readonly request: TtlvItem | undefined;
  /** The request payload as the case wrote it (placeholders left in). */
  readonly requestTemplate: TemplateItem | undefined;
  /** The expected and the actual response payloads. */
  readonly expected: TemplateItem | undefined;
  readonly actual: TtlvItem | undefined;
  readonly objects: ObjectKnowledge;
  /** The case's test identifier (file name without .xml), when known: MSGENC-XML-M-1-21. */
  readonly caseName?: string | undefined;
}

export function batchRules(input: BatchInput): BatchRules {
  const { operation, request, actual: response, objects } = input;
  const uid = firstText(response, Tag.UniqueIdentifier) ?? firstText(request, Tag.UniqueIdentifier);
  const object = uid === undefined ? undefined : objects.info(uid);
  // 8.4.1: "key material content returned for managed cryptographic objects which are generated by the server".
  const serverMade = object?.origin === 'server';

  // 8.4.1: "wrapped versions of keys where the wrapping key is dynamic or the wrapping contains variable output".
  const wrapping = request && findItem(request, Tag.KeyWrappingSpecification);
  const wrappedKeyVaries = wrapping !== undefined && (serverMade || !deterministicWrapping(wrapping, objects));

  // 8.4.1: cryptographic output "where the managed object is generated by the server; or the
  // operation inherently contains variable output".
  let cryptoOutputVaries = false;
  if (operation === Op.RNGRetrieve) cryptoOutputVaries = true;
  else if (operation === Op.Encrypt) {
    const serverIv = childOf(request, Tag.IVCounterNonce) === undefined && (hasChild(input.expected as TtlvItem | undefined, Tag.IVCounterNonce) || hasChild(response, Tag.IVCounterNonce));
    cryptoOutputVaries = serverMade || serverIv || asymmetric(object, request);
  } else if (operation === Op.Sign) {
    cryptoOutputVaries = serverMade || randomizedSignature(object, request);
  } else if (operation === Op.MAC) {
    cryptoOutputVaries = serverMade;
  } else if (operation === Op.Decrypt) {
    // Decrypting the case's own ciphertext under a key the server made gives anything;
    // decrypting what this server encrypted earlier in the case must give the plaintext back.
    const data = childOf(input.requestTemplate as TtlvItem | undefined, Tag.Data);
    cryptoOutputVaries = serverMade && !(data !== undefined && data.value instanceof Placeholder);
  }

  return {
    operation,
    keyMaterialVaries: serverMade,
    wrappedKeyVaries,
    // 8.4.1: "KeyFormatType: the key format type selected by the server when it creates managed objects".
    keyFormatVaries: serverMade && (request === undefined || findItem(request, Tag.KeyFormatType) === undefined),
    cryptoOutputVaries,
    // 8.4.1: extra protocol versions "if the request has not specified a list of client supported Protocol Versions".
    extraVersions: operation === Op.DiscoverVersions && childOf(request, Tag.ProtocolVersion) === undefined,
    // KMIP 2.1 section 4.46: for an object the server generates, the Random Number Generator
    // "SHALL be set by the server depending on which random number generator was used",
    // like 8.4.1's Key Format Type and Digest algorithm "selected by the server". The
    // cases recorded the reference server's ANSI X9.31 generator (withdrawn by NIST SP
    // 800-131A); another server answers with its own.
    generatorVaries: serverMade,
    queryListsVary: operation === Op.Query && input.caseName !== undefined && QUERY_LISTS_VARY.test(input.caseName),
    queryRequired: operation === Op.Query ? queryRequirements(input.caseName) : undefined,
    ckInfoVaries: operation === Op.PKCS_11 && request !== undefined && findEnum(request, Tag.PKCS_11Function) === Enum.PKCS_11Function.C_GetInfo,
  };
}

/**
 * A variation of kmipd's, stated in docs/conformance.md: the PKCS#11 Output Parameters of
 * C_GetInfo (PKCS11-M-1-20, PKCS11-M-1-21) are a CK_INFO, which identifies the PKCS#11
 * library behind the server, as Vendor Identification identifies the server (8.4.1 lets that
 * vary). The cases recorded the reference server's library ("TEST Pty Ltd", "TEST", 1.0),
 * which no other server has. So the runner checks that the answer is a well-formed CK_INFO of
 * the same layout and length (76 bytes), with the same cryptokiVersion (the PKCS#11 interface
 * version the case asks about) and flags (reserved, zero), and that manufacturerID and
 * libraryDescription are blank-padded printable text; the two names and the libraryVersion
 * are the server's library's own.
 */
export const CK_INFO_VARIATION =
  'PKCS#11 C_GetInfo (PKCS11-M-1-20, PKCS11-M-1-21): the CK_INFO in PKCS#11 Output Parameters names the PKCS#11 library of the server (the HSM module kmipd is configured with), the way Vendor Identification names the server (8.4.1). The runner accepts a well-formed CK_INFO of the same 76-byte layout, cryptokiVersion and flags as recorded, with blank-padded printable manufacturerID and libraryDescription; those two names and libraryVersion are the library\'s own, not the reference library\'s "TEST Pty Ltd", "TEST", 1.0.';

/** Why `actual` is not an acceptable CK_INFO in place of `expected` (CK_INFO_VARIATION); undefined when it is. */
export function ckInfoDifference(expected: Uint8Array, actual: Uint8Array): string | undefined {
  if (expected.length !== 76) return 'a CK_INFO exactly as recorded (the recorded value is not a 76-byte CK_INFO)';
  if (actual.length !== 76) return `a CK_INFO of 76 bytes, not ${actual.length}`;
  const e = Buffer.from(expected);
  const a = Buffer.from(actual);
  if (!a.subarray(0, 2).equals(e.subarray(0, 2))) return `cryptokiVersion ${e[0]}.${e[1]}, not ${a[0]}.${a[1]}`;
  if (!a.subarray(34, 42).equals(e.subarray(34, 42))) return `CK_INFO flags ${e.subarray(34, 42).toString('hex')}, not ${a.subarray(34, 42).toString('hex')}`;
  for (const [name, start] of [['manufacturerID', 2], ['libraryDescription', 42]] as const) {
    const field = a.subarray(start, start + 32);
    if (!/^[\x20-\x7e]*$/.test(field.toString('latin1')) || field[0] === 0x20) return `${name} as blank-padded printable text, not ${field.toString('hex')}`;
  }
  return undefined;
}

/** Wrapping gives the same bytes every time only with a registered symmetric key and a key-wrap mode. */
function deterministicWrapping(specification: TtlvItem, objects: ObjectKnowledge): boolean {
  const keyInformation = findItem(specification, Tag.EncryptionKeyInformation) ?? findItem(specification, Tag.MACSignatureKeyInformation);
  const uid = keyInformation ? firstText(keyInformation, Tag.UniqueIdentifier) : undefined;
  const key = uid === undefined ? undefined : objects.info(uid);
  if (key?.origin !== 'client' || key.objectType !== Enum.ObjectType.SymmetricKey) return false;
  const mode = findEnum(specification, Tag.BlockCipherMode);
  return mode === undefined || mode === Enum.BlockCipherMode.NISTKeyWrap || mode === Enum.BlockCipherMode.AESKeyWrapPadding;
}

/** RSA encryption (PKCS#1 v1.5 and OAEP) is randomised. */
function asymmetric(object: ObjectInfo | undefined, request: TtlvItem | undefined): boolean {
  if (object?.objectType === Enum.ObjectType.PublicKey || object?.objectType === Enum.ObjectType.PrivateKey) return true;
  if (request === undefined) return false;
  const padding = findEnum(request, Tag.PaddingMethod);
  return findEnum(request, Tag.CryptographicAlgorithm) === Enum.CryptographicAlgorithm.RSA || padding === Enum.PaddingMethod.OAEP || padding === Enum.PaddingMethod.PKCS1V1_5;
}

const RANDOMIZED_ALGORITHMS: ReadonlySet<number> = new Set([Enum.CryptographicAlgorithm.DSA, Enum.CryptographicAlgorithm.ECDSA, Enum.CryptographicAlgorithm.EC]);
const RANDOMIZED_SIGNATURES: ReadonlySet<number> = new Set([
  Enum.DigitalSignatureAlgorithm.RSASSA_PSS,
  Enum.DigitalSignatureAlgorithm.DSAWithSHA_1,
  Enum.DigitalSignatureAlgorithm.DSAWithSHA224,
  Enum.DigitalSignatureAlgorithm.DSAWithSHA256,
  Enum.DigitalSignatureAlgorithm.ECDSAWithSHA_1,
  Enum.DigitalSignatureAlgorithm.ECDSAWithSHA224,
  Enum.DigitalSignatureAlgorithm.ECDSAWithSHA256,
  Enum.DigitalSignatureAlgorithm.ECDSAWithSHA384,
  Enum.DigitalSignatureAlgorithm.ECDSAWithSHA512,
]);

/**
 * PSS, DSA and ECDSA signatures differ every time; PKCS#1 v1.5 and EdDSA do not. A Sign
 * request without a Padding Method or Digital Signature Algorithm signs with the key's own
 * Cryptographic Parameters, which the creating request gave (objects.ts).
 */
function randomizedSignature(object: ObjectInfo | undefined, request: TtlvItem | undefined): boolean {
  if (object?.algorithm !== undefined && RANDOMIZED_ALGORITHMS.has(object.algorithm)) return true;
  const algorithm = request === undefined ? undefined : findEnum(request, Tag.CryptographicAlgorithm);
  const padding = (request === undefined ? undefined : findEnum(request, Tag.PaddingMethod)) ?? object?.padding;
  const signature = (request === undefined ? undefined : findEnum(request, Tag.DigitalSignatureAlgorithm)) ?? object?.signatureAlgorithm;
  return (
    padding === Enum.PaddingMethod.PSS ||
    (algorithm !== undefined && RANDOMIZED_ALGORITHMS.has(algorithm)) ||
    (signature !== undefined && RANDOMIZED_SIGNATURES.has(signature))
  );
}

function firstText(item: TtlvItem | undefined, tag: number): string | undefined {
  const direct = childOf(item, tag);
  if (direct?.type === 'TextString') return direct.value;
  return item === undefined ? undefined : textValues(item, tag)[0];
}

function hasChild(item: TtlvItem | undefined, tag: number): boolean {
  return childOf(item, tag) !== undefined;
}
