/**
 * The random number generator kmipd draws key material from, as KMIP describes it: Query's
 * RNG Parameters (2.1 section 6.1.40), the Random Number Generator attribute of the objects
 * it generates (2.1 section 4.46, 1.4 section 3.44), and the match a creating request may
 * demand. node:crypto's randomBytes comes from OpenSSL's default DRBG: CTR_DRBG with
 * AES-256 (NIST SP 800-90A).
 */
import { Enum, Tag } from '../../ttlv/index.js';
import type { TtlvItem } from '../../ttlv/index.js';
import type { AttributeInstance } from '../attributes/index.js';
import { KmipError } from '../errors.js';
import { enumeration, int, struct } from '../protocol/build.js';

/** The fields of the server's RNG Parameters (2.1 section 7.36). */
const SERVER_RNG: readonly TtlvItem[] = [
  enumeration(Tag.RNGAlgorithm, Enum.RNGAlgorithm.DRBG),
  enumeration(Tag.DRBGAlgorithm, Enum.DRBGAlgorithm.CTR),
  enumeration(Tag.CryptographicAlgorithm, Enum.CryptographicAlgorithm.AES),
  int(Tag.CryptographicLength, 256),
];

/** The server's RNG Parameters under `tag`: RNG Parameters in Query, Random Number Generator as an attribute. */
export function serverRng(tag: number): TtlvItem {
  return struct(tag, SERVER_RNG);
}

/** The Random Number Generator attribute of material this server generated. */
export function generatedBy(): AttributeInstance {
  return { name: 'Random Number Generator', value: serverRng(Tag.RandomNumberGenerator) };
}

/**
 * 2.1 section 4.46: when a Create (Create Key Pair, Derive Key, Re-key...) names Random
 * Number Generators, the server SHALL use one that matches, or fail the request. A value
 * matches when every field it gives is the server's; RNG Algorithm Unspecified matches any
 * generator; Prediction Resistance False is what OpenSSL's DRBG does between reseeds.
 */
export function checkRequestedRng(attributes: readonly AttributeInstance[]): void {
  const requested = attributes.filter((a) => a.name === 'Random Number Generator');
  if (requested.length === 0 || requested.some((a) => matchesServerRng(a.value))) return;
  throw new KmipError(
    'FeatureNotSupported',
    'the requested Random Number Generator is not available: this server generates key material with a CTR_DRBG (AES-256), NIST SP 800-90A',
  );
}

function matchesServerRng(value: TtlvItem): boolean {
  if (value.type !== 'Structure') return false;
  return value.value.every((field) => {
    if (field.tag === Tag.RNGAlgorithm && field.type === 'Enumeration' && field.value === Enum.RNGAlgorithm.Unspecified) return true;
    if (field.tag === Tag.PredictionResistance) return field.type === 'Boolean' && !field.value;
    const ours = SERVER_RNG.find((item) => item.tag === field.tag);
    return ours !== undefined && ours.type === field.type && ours.value === field.value;
  });
}
