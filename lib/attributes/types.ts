import type { TtlvItem } from '../../ttlv/index.js';

/**
 * One instance of an attribute in the canonical (KMIP 2.1) model.
 *
 * `name` is the specification's name ("Cryptographic Algorithm", "Name") or, for a custom
 * attribute, "<vendor>-<name>" ("x-ID": KMIP 1.x's "x-ID" and KMIP 2.x's Vendor
 * Identification "x" with Attribute Name "ID" are the same attribute).
 * `value` is the value as an item whose tag is the attribute's own tag (the 2.x shape,
 * e.g. a Name structure, a Cryptographic Algorithm enumeration); a custom attribute's
 * value keeps the Attribute Value tag.
 */
export interface AttributeInstance {
  readonly name: string;
  readonly value: TtlvItem;
}
