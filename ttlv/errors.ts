/** Why a TTLV input was refused. Stable codes, so callers can map them to KMIP Result Reasons. */
export type TtlvErrorCode =
  | 'TRUNCATED' // the input ends inside an item
  | 'BAD_TYPE' // an item type byte that no KMIP version defines
  | 'BAD_LENGTH' // a length that does not fit the type (Integer not 4, Boolean not 8, ...)
  | 'BAD_PADDING' // padding bytes that are not zero
  | 'BAD_VALUE' // a value the type cannot hold (Boolean 2, invalid UTF-8, ...)
  | 'TOO_DEEP' // structures nested past the configured depth
  | 'TOO_LARGE' // a message longer than the configured maximum
  | 'TRAILING' // bytes left after the top-level item
  | 'BAD_TEXT' // XML or JSON input that is not well formed or not KMIP
  | 'UNKNOWN_NAME' // a tag, enumeration or mask name that the registry does not know
  | 'PLACEHOLDER'; // a test-case placeholder where a concrete value is needed

/** The only error the codec throws on bad input: it says what is wrong and where. */
export class TtlvError extends Error {
  override readonly name = 'TtlvError';
  readonly code: TtlvErrorCode;
  /** Byte offset in the binary input, when the input is binary. */
  readonly offset: number | undefined;
  /** Tag of the item being read, when known. */
  readonly tag: number | undefined;
  /** Element path in a text (XML/JSON) input, when the input is text. */
  readonly path: string | undefined;

  constructor(code: TtlvErrorCode, message: string, where: { offset?: number; tag?: number; path?: string } = {}) {
    super(TtlvError.describe(message, where));
    this.code = code;
    this.offset = where.offset;
    this.tag = where.tag;
    this.path = where.path;
  }

  private static describe(message: string, where: { offset?: number; tag?: number; path?: string }): string {
    const parts: string[] = [];
    if (where.offset !== undefined) parts.push(`offset ${where.offset}`);
    if (where.tag !== undefined) parts.push(`tag 0x${where.tag.toString(16).toUpperCase().padStart(6, '0')}`);
    if (where.path !== undefined) parts.push(`at ${where.path}`);
    return parts.length > 0 ? `${message} (${parts.join(', ')})` : message;
  }
}
