/**
 * The one attribute table: every attribute of KMIP 2.1 section 4 and the KMIP 1.x-only
 * attributes of KMIP 1.4 section 3, with the rules of each "Attribute Rules" table. Every
 * operation asks this table (directly or through rules.ts, shapes.ts, locate.ts); no
 * attribute rule is written anywhere else.
 *
 * The rules are KMIP 2.1's (the canonical model); attributes that only KMIP 1.x knows take
 * KMIP 1.4's. Tags are looked up in the registry by name, never typed as numbers.
 */
import { Enum, Tag, registry } from '../../ttlv/index.js';
import type { ItemTypeName, LeafTypeName, TtlvItem } from '../../ttlv/index.js';
import { customIndexKey, leafIndexKey } from './keys.js';

type KmipVersion = registry.KmipVersion;
type VersionSet = registry.VersionSet;

/** Who may give an attribute its first value ("Initially set by"). */
export type Setter = 'server' | 'client' | 'both';

/**
 * When an existing value may change ("Modifiable by server" / "Modifiable by client").
 * - 'pre-active': only while the object is Pre-Active (Activation Date).
 * - 'pre-active-or-active': only while Pre-Active or Active (Deactivation Date).
 * - 'before-date': only while Pre-Active or Active and the date itself has not been
 *   reached (Process Start Date, Protect Stop Date).
 * - 'if-empty': only if no value is present (the server and Alternative Name).
 * - 'if-data-omitted': only to fill in Application Data the client omitted (the server
 *   and Application Specific Information).
 * - 'before-allocation': Usage Limits Total and Unit only, until Get Usage Allocation has
 *   been performed (the client and Usage Limits).
 */
export type ModifyRule =
  | 'no'
  | 'yes'
  | 'pre-active'
  | 'pre-active-or-active'
  | 'before-date'
  | 'if-empty'
  | 'if-data-omitted'
  | 'before-allocation';

/** "Deletable by client"; Usage Limits only until Get Usage Allocation has been performed. */
export type DeleteRule = boolean | 'before-allocation';

/**
 * "SHALL always have a value": true, false, true except for some object types
 * (Cryptographic Algorithm: not Secret Data or Opaque Object), or 'with-material' (Digest:
 * whenever the server has the key material, certificate value or opaque data).
 */
export type Presence = boolean | 'with-material' | { readonly except: readonly number[] };

/** The item type of a value; 'Any' for custom (1.x) and vendor (2.x) attributes. */
export type AttributeType = ItemTypeName | 'Any';

/** One field of a structured attribute (Name Value in Name, Link Type in Link, ...). */
export interface FieldDef {
  readonly name: string;
  readonly tag: number;
  /** Accepted item types; Linked Object Identifier takes three. */
  readonly types: readonly LeafTypeName[];
  readonly required: boolean;
  /** May appear more than once (Subject Alternative Name in X.509 Certificate Subject). */
  readonly repeated: boolean;
}

export interface AttributeDef {
  /** The specification's name: "Cryptographic Algorithm"; "x-ID" for a custom attribute. */
  readonly name: string;
  /** The attribute's own tag; Attribute Value for custom and vendor attributes. */
  readonly tag: number;
  readonly type: AttributeType;
  /** The fields of a structured attribute. */
  readonly fields?: readonly FieldDef[];
  /** "Multiple instances permitted". */
  readonly multi: boolean;
  /** When set, multiple instances are permitted only for these object types (Digital Signature Algorithm: PGP keys). */
  readonly multiOnlyFor?: readonly number[];
  readonly initialBy: Setter;
  /**
   * Set by the server, but from a value the client gives in a request that creates the
   * object (Cryptographic Algorithm and Length in Create, a requested Key Format Type).
   */
  readonly requestable: boolean;
  readonly serverModify: ModifyRule;
  readonly clientModify: ModifyRule;
  readonly clientDelete: DeleteRule;
  readonly alwaysPresent: Presence;
  /** Object Type enumeration values, or 'all'. */
  readonly appliesTo: 'all' | readonly number[];
  /** The protocol versions in which this is an attribute. */
  readonly versions: VersionSet;
  /** A custom (1.x "x-"/"y-") or vendor (2.x) attribute, not a table row. */
  readonly custom: boolean;
  /**
   * No two instances on the server share a value (compared by index key): 2.1 section 4.32,
   * "Names SHALL be unique within a given key management server".
   */
  readonly unique: boolean;
  /**
   * The Locate index key of a value, or undefined when the value is not indexed (then
   * Locate matches it in memory). See indexKeys in values.ts for the forms.
   */
  readonly indexKey: (value: TtlvItem) => string | undefined;
}

// ---------------------------------------------------------------------------------------
// Building rows

/** The versions from `since` up to `until` (inclusive; default: the newest). */
export function versionRange(since: KmipVersion, until?: KmipVersion): VersionSet {
  const all = registry.KMIP_VERSIONS;
  const last = until === undefined ? all.length - 1 : all.indexOf(until);
  let set = 0;
  for (let i = all.indexOf(since); i <= last; i++) {
    const version = all[i];
    if (version !== undefined) set |= registry.versionBit(version);
  }
  return set;
}

const ALL_VERSIONS = versionRange('1.0');

interface Row {
  readonly name: string;
  readonly type: ItemTypeName;
  readonly since: KmipVersion;
  readonly until?: KmipVersion;
  readonly multi?: boolean;
  readonly multiOnlyFor?: readonly number[];
  readonly init: Setter;
  readonly requestable?: boolean;
  readonly server: ModifyRule;
  readonly client: ModifyRule;
  readonly del: DeleteRule;
  readonly always?: Presence;
  readonly applies?: readonly number[];
  /** [field name, item type(s), required?, repeated?] */
  readonly fields?: readonly FieldRow[];
  readonly key?: (value: TtlvItem) => string | undefined;
  readonly unique?: boolean;
}

type FieldRow = readonly [name: string, types: LeafTypeName | readonly LeafTypeName[], required?: boolean, repeated?: boolean];

const OT = Enum.ObjectType;
const CERTIFICATE = [OT.Certificate] as const;

// The names below are the registry's; Compromise Date is written "Compromise  Date" in the
// 1.4 tag table, so lookups also try the CamelCase form.
function tagOf(name: string): number | undefined {
  return (registry.tagByName(name) ?? registry.tagByName(name.replace(/[^A-Za-z0-9]/g, '')))?.value;
}

/** Index key of a structure: the text of one field (Name -> Name Value). */
function fieldText(fieldName: string): (value: TtlvItem) => string | undefined {
  const tag = tagOf(fieldName);
  return (value) => {
    if (value.type !== 'Structure') return undefined;
    const field = value.value.find((child) => child.tag === tag);
    return field === undefined ? undefined : leafIndexKey(field);
  };
}

/** Index key of a structure from two fields, present both: "a<separator>b". */
function fieldPair(first: string, second: string, separator: string): (value: TtlvItem) => string | undefined {
  const a = fieldText(first);
  const b = fieldText(second);
  return (value) => {
    const left = a(value);
    const right = b(value);
    return left === undefined || right === undefined ? undefined : `${left}${separator}${right}`;
  };
}

function notIndexed(): undefined {
  return undefined;
}

const noFields: readonly FieldRow[] = [];

// ---------------------------------------------------------------------------------------
// The rows: KMIP 2.1 section 4 in its order, then the certificate attributes of 4.6, then
// the attributes only KMIP 1.x defines (KMIP 1.4 section 3).

const DATE = { type: 'DateTime', since: '1.0' } as const;
const SERVER_READ_ONLY = { init: 'server', server: 'no', client: 'no', del: false } as const;

const ROWS: readonly Row[] = [
  // 4.1: modifiable only while Pre-Active; after that it SHALL NOT change before destruction.
  { name: 'Activation Date', ...DATE, init: 'both', server: 'pre-active', client: 'pre-active', del: false },
  {
    name: 'Alternative Name', type: 'Structure', since: '1.2', multi: true,
    init: 'client', server: 'if-empty', client: 'yes', del: true,
    fields: [['Alternative Name Value', 'TextString', true], ['Alternative Name Type', 'Enumeration', true]],
    key: fieldText('Alternative Name Value'),
  },
  { name: 'Always Sensitive', type: 'Boolean', since: '1.4', init: 'server', server: 'yes', client: 'no', del: false, always: true },
  {
    name: 'Application Specific Information', type: 'Structure', since: '1.0', multi: true,
    init: 'both', server: 'if-data-omitted', client: 'yes', del: true,
    // 4.4: a client MAY omit Application Data and have the server supply it.
    fields: [['Application Namespace', 'TextString', true], ['Application Data', 'TextString']],
    key: fieldPair('Application Namespace', 'Application Data', '\u0000'),
  },
  { name: 'Archive Date', ...DATE, ...SERVER_READ_ONLY },
  // Register restates it beside the certificate (OASIS case BL-M-10-21); the server takes it from the certificate.
  { name: 'Certificate Type', type: 'Enumeration', since: '1.0', ...SERVER_READ_ONLY, requestable: true, always: true, applies: CERTIFICATE },
  { name: 'Certificate Length', type: 'Integer', since: '1.1', ...SERVER_READ_ONLY, always: true, applies: CERTIFICATE },
  { name: 'Comment', type: 'TextString', since: '1.4', init: 'both', server: 'yes', client: 'yes', del: true },
  { name: 'Compromise Date', ...DATE, ...SERVER_READ_ONLY },
  { name: 'Compromise Occurrence Date', ...DATE, ...SERVER_READ_ONLY },
  { name: 'Contact Information', type: 'TextString', since: '1.0', init: 'both', server: 'yes', client: 'yes', del: true },
  {
    name: 'Cryptographic Algorithm', type: 'Enumeration', since: '1.0', ...SERVER_READ_ONLY, requestable: true,
    always: { except: [OT.SecretData, OT.OpaqueObject] },
  },
  {
    name: 'Cryptographic Domain Parameters', type: 'Structure', since: '1.0',
    init: 'client', server: 'no', client: 'no', del: false, applies: [OT.PublicKey, OT.PrivateKey],
    fields: [['Qlength', 'Integer'], ['Recommended Curve', 'Enumeration']],
  },
  {
    name: 'Cryptographic Length', type: 'Integer', since: '1.0', ...SERVER_READ_ONLY, requestable: true,
    always: { except: [OT.OpaqueObject] },
  },
  {
    name: 'Cryptographic Parameters', type: 'Structure', since: '1.0', multi: true,
    init: 'client', server: 'no', client: 'yes', del: true,
    fields: [
      ['Block Cipher Mode', 'Enumeration'],
      ['Padding Method', 'Enumeration'],
      ['Hashing Algorithm', 'Enumeration'],
      ['Key Role Type', 'Enumeration'],
      ['Digital Signature Algorithm', 'Enumeration'],
      ['Cryptographic Algorithm', 'Enumeration'],
      ['Random IV', 'Boolean'],
      ['IV Length', 'Integer'],
      ['Tag Length', 'Integer'],
      ['Fixed Field Length', 'Integer'],
      ['Invocation Field Length', 'Integer'],
      ['Counter Length', 'Integer'],
      ['Initial Counter Value', 'Integer'],
      ['Salt Length', 'Integer'],
      ['Mask Generator', 'Enumeration'],
      ['Mask Generator Hashing Algorithm', 'Enumeration'],
      ['P Source', 'ByteString'],
      ['Trailer Field', 'Integer'],
    ],
  },
  // 4.17: the client may set it initially but not change it afterwards.
  {
    name: 'Cryptographic Usage Mask', type: 'Integer', since: '1.0', init: 'both', server: 'yes', client: 'no', del: false,
    always: { except: [OT.OpaqueObject] },
  },
  { name: 'Deactivation Date', ...DATE, init: 'both', server: 'pre-active-or-active', client: 'pre-active-or-active', del: false },
  { name: 'Description', type: 'TextString', since: '1.4', init: 'both', server: 'yes', client: 'yes', del: true },
  { name: 'Destroy Date', ...DATE, ...SERVER_READ_ONLY },
  {
    name: 'Digest', type: 'Structure', since: '1.0', multi: true, ...SERVER_READ_ONLY, always: 'with-material',
    fields: [['Hashing Algorithm', 'Enumeration', true], ['Digest Value', 'ByteString'], ['Key Format Type', 'Enumeration']],
  },
  // 4.22: "Yes for PGP keys. No for X.509 certificates."
  {
    name: 'Digital Signature Algorithm', type: 'Enumeration', since: '1.1', multi: true, multiOnlyFor: [OT.PGPKey],
    ...SERVER_READ_ONLY, always: true, applies: [OT.Certificate, OT.PGPKey],
  },
  { name: 'Extractable', type: 'Boolean', since: '1.4', init: 'both', server: 'yes', client: 'yes', del: false, always: true },
  // KMIP 1.4 says Fresh need not always have a value; KMIP 2.1 says it SHALL.
  { name: 'Fresh', type: 'Boolean', since: '1.1', init: 'both', server: 'yes', client: 'no', del: false, always: true },
  { name: 'Initial Date', ...DATE, ...SERVER_READ_ONLY, always: true },
  // 4.26: set by the server; a client MAY request a format when the server makes the material.
  { name: 'Key Format Type', type: 'Enumeration', since: '2.0', ...SERVER_READ_ONLY, requestable: true, always: true },
  {
    name: 'Key Value Location', type: 'Structure', since: '1.2', multi: true,
    init: 'client', server: 'no', client: 'yes', del: true,
    fields: [['Key Value Location Value', 'TextString', true], ['Key Value Location Type', 'Enumeration', true]],
  },
  { name: 'Key Value Present', type: 'Boolean', since: '1.2', ...SERVER_READ_ONLY },
  { name: 'Last Change Date', ...DATE, init: 'server', server: 'yes', client: 'no', del: false, always: true },
  { name: 'Lease Time', type: 'Interval', since: '1.0', init: 'server', server: 'yes', client: 'no', del: false },
  {
    name: 'Link', type: 'Structure', since: '1.0', multi: true, init: 'both', server: 'yes', client: 'yes', del: true,
    fields: [['Link Type', 'Enumeration', true], ['Linked Object Identifier', ['TextString', 'Enumeration', 'Integer'], true]],
    key: fieldPair('Link Type', 'Linked Object Identifier', ':'),
  },
  {
    name: 'Name', type: 'Structure', since: '1.0', multi: true, init: 'client', server: 'yes', client: 'yes', del: true,
    fields: [['Name Value', 'TextString', true], ['Name Type', 'Enumeration', true]],
    key: fieldText('Name Value'),
    // 4.32: "Names SHALL be unique within a given key management server".
    unique: true,
  },
  { name: 'Never Extractable', type: 'Boolean', since: '1.4', init: 'server', server: 'yes', client: 'no', del: false, always: true },
  // 4.34: once set, it MAY NOT be deleted or modified by either party.
  { name: 'NIST Key Type', type: 'Enumeration', since: '2.0', multi: true, init: 'client', server: 'no', client: 'no', del: false },
  { name: 'Object Group', type: 'TextString', since: '1.0', multi: true, init: 'both', server: 'yes', client: 'yes', del: true },
  { name: 'Object Type', type: 'Enumeration', since: '1.0', ...SERVER_READ_ONLY, always: true },
  // In KMIP 1.x Opaque Data Type is a field of the Opaque Object, not an attribute.
  { name: 'Opaque Data Type', type: 'Enumeration', since: '2.0', ...SERVER_READ_ONLY, always: true, applies: [OT.OpaqueObject] },
  { name: 'Original Creation Date', type: 'DateTime', since: '1.2', init: 'both', server: 'no', client: 'no', del: false },
  { name: 'PKCS#12 Friendly Name', type: 'TextString', since: '1.4', init: 'both', server: 'no', client: 'yes', del: true },
  { name: 'Process Start Date', ...DATE, init: 'both', server: 'before-date', client: 'before-date', del: false },
  { name: 'Protect Stop Date', ...DATE, init: 'both', server: 'before-date', client: 'before-date', del: false },
  { name: 'Protection Level', type: 'Enumeration', since: '2.0', init: 'client', server: 'no', client: 'yes', del: true },
  { name: 'Protection Period', type: 'Interval', since: '2.0', init: 'client', server: 'no', client: 'yes', del: true },
  { name: 'Protection Storage Mask', type: 'Integer', since: '2.0', ...SERVER_READ_ONLY, always: true },
  { name: 'Quantum Safe', type: 'Boolean', since: '2.0', init: 'client', server: 'no', client: 'yes', del: true },
  // 4.46: the value is an RNG Parameters structure (2.1 section 7.36) under this tag.
  {
    name: 'Random Number Generator', type: 'Structure', since: '1.3', init: 'both', server: 'no', client: 'no', del: false,
    fields: [
      ['RNG Algorithm', 'Enumeration', true],
      ['Cryptographic Algorithm', 'Enumeration'],
      ['Cryptographic Length', 'Integer'],
      ['Hashing Algorithm', 'Enumeration'],
      ['DRBG Algorithm', 'Enumeration'],
      ['Recommended Curve', 'Enumeration'],
      ['FIPS186 Variation', 'Enumeration'],
      ['Prediction Resistance', 'Boolean'],
    ],
  },
  {
    name: 'Revocation Reason', type: 'Structure', since: '1.0', init: 'server', server: 'yes', client: 'no', del: false,
    fields: [['Revocation Reason Code', 'Enumeration', true], ['Revocation Message', 'TextString']],
  },
  { name: 'Rotate Automatic', type: 'Boolean', since: '2.1', init: 'both', server: 'yes', client: 'no', del: false },
  { name: 'Rotate Date', type: 'DateTime', since: '2.1', ...SERVER_READ_ONLY },
  { name: 'Rotate Generation', type: 'Integer', since: '2.1', ...SERVER_READ_ONLY },
  { name: 'Rotate Interval', type: 'Interval', since: '2.1', init: 'both', server: 'yes', client: 'no', del: false },
  { name: 'Rotate Latest', type: 'Boolean', since: '2.1', init: 'server', server: 'yes', client: 'no', del: false },
  {
    name: 'Rotate Name', type: 'Structure', since: '2.1', init: 'client', server: 'no', client: 'yes', del: true,
    fields: [['Rotate Name Value', 'TextString', true], ['Rotate Name Type', 'Enumeration', true]],
    key: fieldText('Rotate Name Value'),
  },
  { name: 'Rotate Offset', type: 'Interval', since: '2.1', init: 'both', server: 'yes', client: 'no', del: false },
  { name: 'Sensitive', type: 'Boolean', since: '1.4', init: 'both', server: 'yes', client: 'yes', del: false, always: true },
  { name: 'Short Unique Identifier', type: 'ByteString', since: '2.0', ...SERVER_READ_ONLY, always: true },
  // 4.57: changed only by the server, in response to Activate, Revoke, Destroy, ...
  { name: 'State', type: 'Enumeration', since: '1.0', init: 'server', server: 'yes', client: 'no', del: false, always: true },
  { name: 'Unique Identifier', type: 'TextString', since: '1.0', ...SERVER_READ_ONLY, always: true },
  // 4.59: the client sets Total and Unit only; the server ignores a Count in a creating request.
  {
    name: 'Usage Limits', type: 'Structure', since: '1.0',
    init: 'both', server: 'yes', client: 'before-allocation', del: 'before-allocation',
    fields: [['Usage Limits Total', 'LongInteger'], ['Usage Limits Count', 'LongInteger'], ['Usage Limits Unit', 'Enumeration']],
  },
  {
    name: 'X.509 Certificate Identifier', type: 'Structure', since: '1.1', ...SERVER_READ_ONLY, always: true, applies: CERTIFICATE,
    fields: [['Issuer Distinguished Name', 'ByteString', true], ['Certificate Serial Number', 'ByteString', true]],
  },
  {
    name: 'X.509 Certificate Issuer', type: 'Structure', since: '1.1', ...SERVER_READ_ONLY, always: true, applies: CERTIFICATE,
    fields: [['Issuer Distinguished Name', 'ByteString', true], ['Issuer Alternative Name', 'ByteString', false, true]],
  },
  {
    name: 'X.509 Certificate Subject', type: 'Structure', since: '1.1', ...SERVER_READ_ONLY, always: true, applies: CERTIFICATE,
    // 4.63: the Subject Distinguished Name MAY be empty when a critical Subject Alternative Name is present.
    fields: [['Subject Distinguished Name', 'ByteString', true], ['Subject Alternative Name', 'ByteString', false, true]],
  },

  // 4.6 Certificate Attributes: each field of the subject and issuer names is its own
  // attribute (Get Attributes references them one by one: Certificate Subject CN, ...).
  ...['CN', 'O', 'OU', 'Email', 'C', 'ST', 'L', 'UID', 'Serial Number', 'Title', 'DC', 'DN Qualifier'].flatMap(
    (part): Row[] =>
      ['Subject', 'Issuer'].map((who): Row => ({
        name: `Certificate ${who} ${part}`, type: 'TextString', since: '2.0', multi: true,
        ...SERVER_READ_ONLY, applies: CERTIFICATE,
      })),
  ),

  // KMIP 1.x only (1.4 section 3); deprecated since 1.1 (certificate) and 1.3 (policy).
  {
    name: 'Certificate Identifier', type: 'Structure', since: '1.0', until: '1.4', ...SERVER_READ_ONLY, always: true, applies: CERTIFICATE,
    // Serial Number is required for X.509 certificates only (PGP certificates have none).
    fields: [['Issuer', 'TextString', true], ['Serial Number', 'TextString']],
  },
  {
    name: 'Certificate Subject', type: 'Structure', since: '1.0', until: '1.4', ...SERVER_READ_ONLY, always: true, applies: CERTIFICATE,
    fields: [['Certificate Subject Distinguished Name', 'TextString', true], ['Certificate Subject Alternative Name', 'TextString', false, true]],
  },
  {
    name: 'Certificate Issuer', type: 'Structure', since: '1.0', until: '1.4', ...SERVER_READ_ONLY, always: true, applies: CERTIFICATE,
    fields: [['Certificate Issuer Distinguished Name', 'TextString', true], ['Certificate Issuer Alternative Name', 'TextString', false, true]],
  },
  { name: 'Operation Policy Name', type: 'TextString', since: '1.0', until: '1.4', init: 'both', server: 'yes', client: 'no', del: false },
];

// ---------------------------------------------------------------------------------------
// Resolving rows against the registry

const unresolved: string[] = [];

function resolve(row: Row): AttributeDef | undefined {
  const tag = tagOf(row.name);
  const fields: FieldDef[] = [];
  for (const [name, types, required = false, repeated = false] of row.fields ?? noFields) {
    const fieldTag = tagOf(name);
    if (fieldTag === undefined) {
      unresolved.push(`${row.name}/${name}`);
      return undefined;
    }
    fields.push({ name, tag: fieldTag, types: typeof types === 'string' ? [types] : types, required, repeated });
  }
  if (tag === undefined) {
    unresolved.push(row.name);
    return undefined;
  }
  return {
    name: row.name,
    tag,
    type: row.type,
    ...(row.fields === undefined ? {} : { fields }),
    multi: row.multi ?? false,
    ...(row.multiOnlyFor === undefined ? {} : { multiOnlyFor: row.multiOnlyFor }),
    initialBy: row.init,
    requestable: row.requestable ?? false,
    serverModify: row.server,
    clientModify: row.client,
    clientDelete: row.del,
    alwaysPresent: row.always ?? false,
    appliesTo: row.applies ?? 'all',
    versions: versionRange(row.since, row.until),
    custom: false,
    unique: row.unique ?? false,
    indexKey: row.key ?? (row.type === 'Structure' ? notIndexed : leafIndexKey),
  };
}

const DEFS: readonly AttributeDef[] = ROWS.flatMap((row) => resolve(row) ?? []);

/**
 * Rows (or "row/field") whose tag the registry does not know, left out of the table.
 * Empty when the registry is complete; a test keeps it so.
 */
export const unresolvedAttributes: readonly string[] = unresolved;

/** Spec names compare with runs of white space collapsed (the KMIP 1.0 test cases write "Activation   Date"). */
function nameKey(name: string): string {
  return name.trim().replace(/\s+/g, ' ');
}

const byName = new Map<string, AttributeDef>(DEFS.map((def) => [nameKey(def.name), def]));
const byTag = new Map<number, AttributeDef>(DEFS.map((def) => [def.tag, def]));

// ---------------------------------------------------------------------------------------
// Custom (1.x) and vendor (2.x) attributes

/** "<vendor>-<name>": 2.1 section 4.60 limits a Vendor Identification to [A-Za-z0-9_.]. */
const CUSTOM_NAME = /^([A-Za-z0-9_.]+)-(.+)$/s;
/** KMIP 1.4 section 3.39: custom attribute names start "x-" (client) or "y-" (server). */
const V1_CUSTOM_NAME = /^[xy]-/;

export interface CustomName {
  readonly vendor: string;
  readonly attributeName: string;
}

/** The parts of a custom or vendor attribute name, or undefined for any other name. */
export function splitCustomName(name: string): CustomName | undefined {
  const match = CUSTOM_NAME.exec(name);
  if (match === null || byName.has(nameKey(name))) return undefined;
  return { vendor: match[1] ?? '', attributeName: match[2] ?? '' };
}

/**
 * Whether `name` names a custom attribute. KMIP 1.x knows only "x-" and "y-" names; KMIP
 * 2.x any "<Vendor Identification>-<Attribute Name>" (its "x" and "y" vendors are 1.x's).
 * Without a version, any vendor.
 */
export function isCustomName(name: string, version?: KmipVersion): boolean {
  if (splitCustomName(name) === undefined) return false;
  return version === undefined || !version.startsWith('1.') || V1_CUSTOM_NAME.test(name);
}

const customDefs = new Map<string, AttributeDef>();

function customDef(name: string, vendor: string): AttributeDef {
  const cached = customDefs.get(name);
  if (cached !== undefined) return cached;
  // 1.4 section 3.39 and 2.1 section 4.60: "x" attributes belong to the client, "y" to the server.
  const owner: Setter = vendor === 'x' ? 'client' : vendor === 'y' ? 'server' : 'both';
  const def: AttributeDef = {
    name,
    tag: Tag.AttributeValue,
    type: 'Any',
    multi: true,
    initialBy: owner,
    requestable: false,
    serverModify: owner === 'client' ? 'no' : 'yes',
    clientModify: owner === 'server' ? 'no' : 'yes',
    clientDelete: owner !== 'server',
    alwaysPresent: false,
    appliesTo: 'all',
    versions: vendor === 'x' || vendor === 'y' ? ALL_VERSIONS : versionRange('2.0'),
    custom: true,
    unique: false,
    indexKey: customIndexKey,
  };
  if (customDefs.size < 10_000) customDefs.set(name, def);
  return def;
}

// ---------------------------------------------------------------------------------------
// Lookups

/**
 * The definition of an attribute by its specification name ("Cryptographic Algorithm"),
 * or of a custom/vendor attribute ("x-ID"); undefined for any other name.
 */
export function attributeByName(name: string): AttributeDef | undefined {
  // Names come as the spec writes them nearly always: look them up before collapsing white space.
  const def = byName.get(name) ?? byName.get(nameKey(name));
  if (def !== undefined) return def;
  const custom = splitCustomName(name);
  return custom === undefined ? undefined : customDef(name, custom.vendor);
}

/** The definition of the attribute whose value carries this tag (table rows only). */
export function attributeByTag(tag: number): AttributeDef | undefined {
  return byTag.get(tag);
}

/** Every table attribute that `version` defines, in table order. */
export function definedAttributes(version: KmipVersion): AttributeDef[] {
  return DEFS.filter((def) => registry.definedIn(def, version));
}

/** Every table row, for tests and documentation. */
export function allAttributes(): readonly AttributeDef[] {
  return DEFS;
}

/** The definition of one field of a structured attribute, by tag. */
export function fieldOf(def: AttributeDef, tag: number): FieldDef | undefined {
  return def.fields?.find((field) => field.tag === tag);
}

/** Whether an object of this type may have the attribute ("Applies to Object Types"). */
export function appliesTo(def: AttributeDef, objectType: number): boolean {
  return def.appliesTo === 'all' || def.appliesTo.includes(objectType);
}

/** Whether an object (of this type, when known) may hold several instances. */
export function allowsMultiple(def: AttributeDef, objectType?: number): boolean {
  if (!def.multi) return false;
  if (def.multiOnlyFor === undefined || objectType === undefined) return true;
  return def.multiOnlyFor.includes(objectType);
}

/** Whether an object of this type SHALL always have the attribute ('with-material' counts as yes). */
export function isAlwaysPresent(def: AttributeDef, objectType: number): boolean {
  const rule = def.alwaysPresent;
  if (typeof rule === 'boolean') return rule && appliesTo(def, objectType);
  if (rule === 'with-material') return true;
  return appliesTo(def, objectType) && !rule.except.includes(objectType);
}
