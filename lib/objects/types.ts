import type { TtlvItem } from '../../ttlv/index.js';
import type { AttributeInstance } from '../attributes/types.js';

/**
 * A managed object as the key manager holds it in memory.
 *
 * `body` is the object's own structure in the canonical (2.1) form, e.g. a Symmetric Key
 * with its Key Block, without attributes. It holds key material: the store keeps it only
 * wrapped under the KEK, and nothing logs it.
 */
export interface ManagedObject {
  readonly id: string;
  /** Object Type enumeration value. */
  readonly objectType: number;
  /** The identity that created or registered the object. */
  readonly owner: string;
  /** Every attribute instance, in order; State, dates, Name, Link... all live here. */
  readonly attributes: readonly AttributeInstance[];
  /** The object structure (Key Block, certificate value, ...); undefined once destroyed. */
  readonly body: TtlvItem | undefined;
  /** Incremented by each committed change, for optimistic concurrency. */
  readonly revision: number;
}
