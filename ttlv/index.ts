/** The TTLV codec: binary, XML and JSON encodings of KMIP messages, the framer, the registry. */
export * from './item.js';
export { TtlvError } from './errors.js';
export type { TtlvErrorCode } from './errors.js';
export { decodeTtlv, encodeTtlv, encodedSize, DEFAULT_MAX_DEPTH, HEADER_SIZE } from './binary.js';
export type { DecodeOptions } from './binary.js';
export { TtlvFramer, DEFAULT_MAX_MESSAGE_SIZE } from './framer.js';
export type { FramerOptions } from './framer.js';
export { parseXml, toXml, toXmlDocument } from './xml.js';
export type { XmlParseOptions, XmlWriteOptions } from './xml.js';
export { parseJson, toJson, toJsonText } from './json.js';
export type { JsonItem, JsonParseOptions, JsonWriteOptions } from './json.js';
export { formatItem, SECRET_TAGS } from './pretty.js';
export type { FormatOptions } from './pretty.js';
export * as registry from './registry/index.js';
export { Enum, Mask, Tag } from './registry/index.js';
export type { KmipVersion, TagDef, EnumDef, EnumValueDef, MaskDef, VersionSet } from './registry/index.js';
