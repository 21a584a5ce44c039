/**
 * Attributes: the one table of attribute definitions (table.ts) and everything that
 * interprets attributes: rules for who may set or change them (rules.ts), the KMIP 1.x and
 * 2.x wire shapes (shapes.ts), version visibility and value checks (values.ts), Locate
 * index keys (keys.ts) and matching (locate.ts).
 */
export type { AttributeInstance } from './types.js';
export {
  allAttributes,
  allowsMultiple,
  appliesTo,
  attributeByName,
  attributeByTag,
  definedAttributes,
  fieldOf,
  isAlwaysPresent,
  isCustomName,
  splitCustomName,
  unresolvedAttributes,
  versionRange,
} from './table.js';
export type { AttributeDef, AttributeType, CustomName, DeleteRule, FieldDef, ModifyRule, Presence, Setter } from './table.js';
export { leafIndexKey } from './keys.js';
export { canonicalValue, copyItem, enumerationDefinedIn, visibleIn, visibleInstances } from './values.js';
export type { Purpose } from './values.js';
export {
  checkClientAdd,
  checkClientCreate,
  checkClientDelete,
  checkClientModify,
  checkClientSet,
  checkClientTemplate,
  checkSingleValued,
  serverMayModify,
} from './rules.js';
export type { ObjectFacts } from './rules.js';
export {
  attributeByV1Name,
  attributeReferenceToName,
  fromAttributeHolder,
  fromTemplateAttribute,
  splitTemplateAttribute,
  fromV1Attribute,
  fromV1Attributes,
  fromV2Attribute,
  fromV2Attributes,
  nameToAttributeReference,
  toAttributeHolder,
  toTemplateAttribute,
  toV1Attribute,
  toV1AttributeList,
  toV2Attribute,
  toV2Attributes,
} from './shapes.js';
export type { ReadOptions, TemplateAttributeParts, V1Attribute, WriteOptions } from './shapes.js';
export { LARGEST_DATE, compileLocateFilter, indexKeys, matchesLocate } from './locate.js';
export type { IndexConditions, LocateFilter } from './locate.js';
