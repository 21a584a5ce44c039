/**
 * The attributes a creating request carries: KMIP 1.x Template-Attribute or KMIP 2.x
 * Attributes (decision 1: the shapes meet here and become canonical instances), and the
 * KMIP 1.x Templates a Template-Attribute names (1.4 section 2.2.6, deprecated since 1.3).
 */
import { Enum, Tag, itemsEqual } from '../../ttlv/index.js';
import type { TtlvItem } from '../../ttlv/index.js';
import { allowsMultiple, attributeByName, checkClientCreate, fromV1Attributes, fromV2Attributes, splitTemplateAttribute } from '../attributes/index.js';
import type { AttributeInstance } from '../attributes/index.js';
import { KmipError } from '../errors.js';
import type { Fields } from '../protocol/fields.js';
import { isV2 } from '../protocol/versions.js';
import { mayAccess } from '../auth/access.js';
import { principalOf } from '../auth/identity.js';
import { checkProtectionStorage } from './common.js';
import type { OperationContext } from './types.js';

/** What a creating request asks for: its own attributes, and the Templates it names (1.x). */
export interface RequestedAttributes {
  readonly instances: AttributeInstance[];
  /** Name Values of Template objects, in the order given. */
  readonly templates: readonly string[];
}

/**
 * The attributes of a Create or Register payload (read when the request is decoded), and
 * its Protection Storage Masks (2.x), checked as ones the server can meet. Without
 * Templates the attributes are checked as a client may set them on `objectType` at once;
 * with Templates, once `withTemplates` has merged them.
 */
export function requestedAttributes(ctx: OperationContext, payload: Fields, objectType: number): RequestedAttributes {
  checkProtectionStorage(payload);
  return requestedIn(ctx, payload.optional(isV2(ctx.version) ? Tag.Attributes : Tag.TemplateAttribute), objectType);
}

/**
 * The attributes of one holder: a 2.x Attributes structure (Common / Private Key / Public Key
 * Attributes of Create Key Pair too), or a 1.x Template-Attribute (or Common / Private Key /
 * Public Key Template-Attribute); checked like requestedAttributes'.
 */
export function requestedIn(ctx: OperationContext, holder: TtlvItem | undefined, objectType: number): RequestedAttributes {
  const options = { version: ctx.version, objectType };
  let requested: RequestedAttributes;
  if (holder === undefined) requested = { instances: [], templates: [] };
  else if (isV2(ctx.version)) requested = { instances: fromV2Attributes(holder, options), templates: [] };
  else requested = splitTemplateAttribute(holder, options);
  if (requested.templates.length === 0) checkClientCreate(requested.instances, objectType);
  return requested;
}

/** The attributes of a Create or Register payload that names no Template, checked for `objectType`. */
export function creationAttributes(ctx: OperationContext, payload: Fields, objectType: number): AttributeInstance[] {
  const requested = requestedAttributes(ctx, payload, objectType);
  if (requested.templates.length > 0) {
    throw new KmipError('ItemNotFound', 'the request names a Template; this operation takes no Templates (deprecated since KMIP 1.3), give the attributes instead');
  }
  return requested.instances;
}

/**
 * The request's attributes over those of the Templates it names (1.4 section 4): a later
 * Template's single-valued attribute wins over an earlier one's, the request's over every
 * Template's; multi-valued attributes are the union of all. Checked for `objectType`.
 */
export async function withTemplates(ctx: OperationContext, requested: RequestedAttributes, objectType: number): Promise<AttributeInstance[]> {
  if (requested.templates.length === 0) return requested.instances;
  let merged: AttributeInstance[] = [];
  for (const name of requested.templates) merged = overlay(merged, await templateAttributes(ctx, name), objectType);
  merged = overlay(merged, requested.instances, objectType);
  checkClientCreate(merged, objectType);
  return merged;
}

/** `over`'s single-valued attributes replace `base`'s; multi-valued ones are the union of both. */
export function overlay(base: readonly AttributeInstance[], over: readonly AttributeInstance[], objectType: number): AttributeInstance[] {
  const replaced = new Set(over.filter((a) => !multiValued(a.name, objectType)).map((a) => a.name));
  const kept = base.filter((a) => !replaced.has(a.name));
  const added = over.filter((a) => !kept.some((b) => b.name === a.name && itemsEqual(b.value, a.value)));
  return [...kept, ...added];
}

function multiValued(name: string, objectType: number): boolean {
  const def = attributeByName(name);
  return def !== undefined && allowsMultiple(def, objectType);
}

/** The attributes of the Template named `name` that the caller may use; Item Not Found when there is none. */
async function templateAttributes(ctx: OperationContext, name: string): Promise<AttributeInstance[]> {
  const candidates = await ctx.store.locate({
    ...(ctx.identity.admin ? {} : { visibleTo: principalOf(ctx.identity) }),
    objectType: Enum.ObjectType.Template,
    equals: [{ name: 'Name', key: name }],
  });
  for (const id of candidates) {
    const template = await ctx.store.load(id);
    if (template?.body?.type !== 'Structure' || !(await mayAccess(ctx.store, ctx.identity, template, 'get-attributes'))) continue;
    const named = template.attributes.some((a) => a.name === 'Name' && a.value.type === 'Structure' && a.value.value.some((f) => f.tag === Tag.NameValue && f.value === name));
    if (named) return fromV1Attributes(template.body.value, { version: ctx.version });
  }
  throw new KmipError('ItemNotFound', `no Template named ${JSON.stringify(name)}`);
}
