/**
 * The attributes a creating request carries: KMIP 1.x Template-Attribute or KMIP 2.x
 * Attributes (decision 1: the shapes meet here and become canonical instances).
 */
import { Tag } from '../../ttlv/index.js';
import { checkClientCreate, fromTemplateAttribute, fromV2Attributes } from '../attributes/index.js';
import type { AttributeInstance } from '../attributes/index.js';
import type { Fields } from '../protocol/fields.js';
import { isV2 } from '../protocol/versions.js';
import type { OperationContext } from './types.js';

/** Attributes of a Create or Register payload, checked as a client may set them on `objectType`. */
export function creationAttributes(ctx: OperationContext, payload: Fields, objectType: number): AttributeInstance[] {
  const holder = isV2(ctx.version) ? payload.optional(Tag.Attributes) : payload.optional(Tag.TemplateAttribute);
  const instances = holder === undefined ? [] : isV2(ctx.version)
    ? fromV2Attributes(holder, { version: ctx.version, objectType })
    : fromTemplateAttribute(holder, { version: ctx.version, objectType });
  checkClientCreate(instances, objectType);
  return instances;
}
