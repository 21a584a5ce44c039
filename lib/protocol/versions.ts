/**
 * Protocol versions: which ones kmipd speaks, and how a response is fitted to the version
 * a client asked for (decision 1 in DESIGN.md: never emit a tag, attribute or enumeration
 * value the negotiated version does not define).
 */
import { registry } from '../../ttlv/index.js';
import type { KmipVersion, TtlvItem } from '../../ttlv/index.js';
import type { ResultReasonName } from '../errors.js';

/** Newest first, as Discover Versions answers. */
export const SUPPORTED_VERSIONS: readonly KmipVersion[] = ['2.1', '2.0', '1.4', '1.3', '1.2', '1.1', '1.0'];

/** Every response header states its version: the numbers are read once per version, not per response. */
const VERSION_NUMBERS: ReadonlyMap<KmipVersion, { readonly major: number; readonly minor: number }> = new Map(
  registry.KMIP_VERSIONS.map((version) => {
    const [major, minor] = version.split('.').map(Number);
    return [version, { major: major ?? 1, minor: minor ?? 0 }];
  }),
);

/** The versions the registry knows, by major then minor number. */
const VERSION_BY_NUMBERS: ReadonlyMap<number, ReadonlyMap<number, KmipVersion>> = (() => {
  const byMajor = new Map<number, Map<number, KmipVersion>>();
  for (const [version, { major, minor }] of VERSION_NUMBERS) {
    let byMinor = byMajor.get(major);
    if (byMinor === undefined) {
      byMinor = new Map();
      byMajor.set(major, byMinor);
    }
    byMinor.set(minor, version);
  }
  return byMajor;
})();

export function parseVersion(version: KmipVersion): { readonly major: number; readonly minor: number } {
  return VERSION_NUMBERS.get(version) ?? { major: 1, minor: 0 };
}

/**
 * The version to answer a request in: the requested one when supported, else the newest
 * supported version of the same major below it (a 1.5 client gets 1.4), else undefined.
 */
export function negotiate(major: number, minor: number): KmipVersion | undefined {
  // Every request asks: a known version is found without making its text first.
  const exact = VERSION_BY_NUMBERS.get(major)?.get(minor);
  if (exact) return exact;
  return SUPPORTED_VERSIONS.find((v) => {
    const p = parseVersion(v);
    return p.major === major && p.minor < minor;
  });
}

export function isV2(version: KmipVersion): boolean {
  return version.startsWith('2.');
}

/**
 * Result Reasons that KMIP 2.0 added, as a 1.x client understands them. 1.x servers (and
 * the 1.x OASIS cases) answer Permission Denied for a lifecycle violation, Item Not Found
 * for a missing object, and Invalid Field for a bad attribute.
 */
const LEGACY_REASON: Partial<Record<ResultReasonName, ResultReasonName>> = {
  WrongKeyLifecycleState: 'PermissionDenied',
  ObjectNotFound: 'ItemNotFound',
  ObjectDestroyed: 'ItemNotFound',
  WrappingObjectNotFound: 'ItemNotFound',
  WrappingObjectDestroyed: 'ItemNotFound',
  WrappingObjectArchived: 'ObjectArchived',
  KeyWrapTypeNotSupported: 'FeatureNotSupported',
  AttributeNotFound: 'ItemNotFound',
  AttributeInstanceNotFound: 'ItemNotFound',
  NotAuthorised: 'PermissionDenied',
  AttributeReadOnly: 'PermissionDenied',
  ReadOnlyAttribute: 'PermissionDenied',
  AttributeSingleValued: 'InvalidField',
  MultiValuedAttribute: 'InvalidField',
  UnsupportedAttribute: 'InvalidField',
  InvalidAttribute: 'InvalidField',
  InvalidAttributeValue: 'InvalidField',
  InvalidDataType: 'InvalidField',
  UnknownTag: 'InvalidField',
  UnknownEnumeration: 'InvalidField',
  CodecError: 'InvalidMessage',
  UnsupportedProtocolVersion: 'InvalidMessage',
  InvalidObjectType: 'InvalidField',
  IllegalObjectType: 'InvalidField',
  IncompatibleCryptographicUsageMask: 'PermissionDenied',
  NonUniqueNameAttribute: 'InvalidField',
  BadCryptographicParameters: 'InvalidField',
  UnsupportedCryptographicParameters: 'FeatureNotSupported',
  MissingInitializationVector: 'InvalidField',
  ServerLimitExceeded: 'GeneralFailure',
  InternalServerError: 'GeneralFailure',
  UsageLimitExceeded: 'PermissionDenied',
  // Certify / Re-certify before 2.0: the Certificate Request field is what is wrong.
  InvalidCSR: 'InvalidField',
};

/** The Result Reason to send a client speaking `version`. */
export function reasonFor(reason: ResultReasonName, version: KmipVersion): ResultReasonName {
  const def = registry.enumForTag(registry.tagByName('Result Reason')?.value ?? 0);
  const value = def?.values.find((v) => v.xmlName === reason);
  if (value && registry.definedIn(value, version)) return reason;
  return LEGACY_REASON[reason] ?? 'GeneralFailure';
}

/** What `fitToVersion` removed: a sign of a handler bug, to be logged. */
export interface Dropped {
  readonly path: string;
  readonly why: string;
}

/**
 * The tree without any tag or enumeration value that `version` does not define. Handlers
 * build version-correct payloads; this is the last safety net, and what it drops is
 * reported so the bug gets fixed.
 */
export function fitToVersion(item: TtlvItem, version: KmipVersion, dropped: Dropped[] = []): TtlvItem | undefined {
  return fit(item, { version, bit: registry.versionBit(version), dropped, parents: [] });
}

/** What every level of one fitting shares. */
interface Fitting {
  readonly version: KmipVersion;
  /** The version's bit in a VersionSet, found once per response rather than once per item. */
  readonly bit: number;
  readonly dropped: Dropped[];
  /** The tags of the structures above the item being fitted, outermost first: a path only when something is dropped. */
  readonly parents: number[];
}

function pathOf(parents: readonly number[], tag: number): string {
  let path = '';
  for (const at of [...parents, tag]) path += `/${registry.tagByValue(at)?.xmlName ?? registry.tagHex(at)}`;
  return path;
}

/** Every response goes through here: a tree that fits (nearly all) is walked without building anything. */
function fit(item: TtlvItem, fitting: Fitting): TtlvItem | undefined {
  const { bit } = fitting;
  // Extension tags (0x540000 to 0x54FFFF) are the vendor's business; the KMIP range must be known.
  if (item.tag >>> 16 === 0x42 && (registry.specTagVersionSet(item.tag) & bit) === 0) {
    fitting.dropped.push({ path: pathOf(fitting.parents, item.tag), why: `tag not defined in KMIP ${fitting.version}` });
    return undefined;
  }
  if (item.type === 'Structure') {
    const children = item.value;
    fitting.parents.push(item.tag);
    // A copy of the children only from the first one that changed (dropped, or a grandchild dropped).
    let value: TtlvItem[] | undefined;
    for (let index = 0; index < children.length; index++) {
      const child = children[index] as TtlvItem;
      const fitted = fit(child, fitting);
      if (fitted !== child && value === undefined) value = children.slice(0, index);
      if (value !== undefined && fitted !== undefined) value.push(fitted);
    }
    fitting.parents.pop();
    return value === undefined ? item : { ...item, value };
  }
  if (item.type === 'Enumeration') {
    const values = registry.enumValueVersions(item.tag);
    // Values with the extension bit (0x80000000 and above) are vendor values; others must be defined.
    if (values !== undefined && item.value < 0x80000000 && ((values.get(item.value) ?? 0) & bit) === 0) {
      fitting.dropped.push({ path: pathOf(fitting.parents, item.tag), why: `enumeration value 0x${item.value.toString(16)} not defined in KMIP ${fitting.version}` });
      return undefined;
    }
  }
  return item;
}

/** True when `version` is `since` or newer. */
export function atLeast(version: KmipVersion, since: KmipVersion): boolean {
  return registry.KMIP_VERSIONS.indexOf(version) >= registry.KMIP_VERSIONS.indexOf(since);
}
