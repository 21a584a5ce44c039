/** Requests the audit tests send over a real TLS connection, and the answer's identifier. */
import { Enum, Tag, decodeTtlv } from '../../ttlv/index.js';
import type { TtlvItem } from '../../ttlv/index.js';
import { request } from '../server/helpers.js';

export const text = (tag: number, value: string): TtlvItem => ({ tag, type: 'TextString', value });
const enumeration = (tag: number, value: number): TtlvItem => ({ tag, type: 'Enumeration', value });
const integer = (tag: number, value: number): TtlvItem => ({ tag, type: 'Integer', value });
const attribute = (name: string, value: TtlvItem): TtlvItem => ({ tag: Tag.Attribute, type: 'Structure', value: [text(Tag.AttributeName, name), { ...value, tag: Tag.AttributeValue }] });

/** A 1.x Create of an AES key of `bits` bits for Encrypt and Decrypt. */
export function createAesKey(bits: number): Buffer {
  return request(Enum.Operation.Create, [
    enumeration(Tag.ObjectType, Enum.ObjectType.SymmetricKey),
    {
      tag: Tag.TemplateAttribute,
      type: 'Structure',
      value: [
        attribute('Cryptographic Algorithm', enumeration(0, Enum.CryptographicAlgorithm.AES)),
        attribute('Cryptographic Length', integer(0, bits)),
        attribute('Cryptographic Usage Mask', integer(0, 12)),
      ],
    },
  ]);
}

/** The first Unique Identifier of an encoded answer. */
export function idOf(bytes: Buffer): string {
  const stack = [decodeTtlv(bytes)];
  for (let item = stack.pop(); item !== undefined; item = stack.pop()) {
    if (item.tag === Tag.UniqueIdentifier && item.type === 'TextString') return item.value;
    if (item.type === 'Structure') stack.push(...item.value);
  }
  throw new Error('no Unique Identifier');
}
