/** kmip attributes get / add / modify / delete. */
import type { Argv } from 'yargs';
import { fromItem, keyOfTag } from '../../../lib/client/index.js';
import type { Attributes, KmipClient, KmipValue } from '../../../lib/client/index.js';
import { allAttributes, isCustomName } from '../../../lib/attributes/index.js';
import type { AttributeDef } from '../../../lib/attributes/index.js';
import { Tag, registry } from '../../../ttlv/index.js';
import type { KmipVersion } from '../../../ttlv/index.js';
import { run } from '../context.js';
import type { GlobalArgs, KmipCommands } from '../context.js';
import { UsageError } from '../errors.js';
import { hexBytes } from '../files.js';
import { describe } from '../output.js';
import type { Output } from '../output.js';

const squash = (text: string): string => text.toLowerCase().replace(/[\s_.-]/g, '');

/**
 * An attribute named as a person types it: "contact-information", "Contact Information",
 * contactInformation, "x-Department". A standard attribute's name wins over the custom
 * reading: in KMIP 2.x "contact-information" could also be vendor "contact"'s attribute
 * "information", which would be a different attribute from the one the person meant.
 */
function attributeNamed(input: string, version: KmipVersion): { key: string; def: AttributeDef | undefined } {
  const def = allAttributes().find((d) => !d.custom && (squash(d.name) === squash(input) || squash(keyOfTag(d.tag)) === squash(input)));
  if (def !== undefined) return { key: keyOfTag(def.tag), def };
  if (isCustomName(input, version)) return { key: input, def: undefined };
  const custom = version.startsWith('1.') ? 'a custom "x-Name"' : 'a custom "x-Name" or "Vendor-Name"';
  throw new UsageError(`${JSON.stringify(input)} is not an attribute name of KMIP ${version}: say it as the specification does ("Contact Information", contact-information) or ${custom}`);
}

/** A value typed on the command line, read by the attribute's type. */
function valueOf(def: AttributeDef | undefined, text: string): KmipValue {
  if (def === undefined) return text;
  const fail = (what: string): never => {
    throw new UsageError(`${def.name} takes ${what}, not ${JSON.stringify(text)}`);
  };
  switch (def.type) {
    case 'Integer':
      if (registry.maskForTag(def.tag) !== undefined) return text.split(',').map((w) => w.trim());
      return /^-?\d+$/.test(text) ? Number(text) : fail('an integer');
    case 'LongInteger':
      return /^-?\d+$/.test(text) ? BigInt(text) : fail('an integer');
    case 'Interval':
      return /^\d+$/.test(text) ? Number(text) : fail('a number of seconds');
    case 'Boolean':
      return text === 'true' ? true : text === 'false' ? false : fail('true or false');
    case 'DateTime':
    case 'DateTimeExtended': {
      const date = new Date(/^\d+$/.test(text) ? Number(text) * 1000 : text);
      return Number.isNaN(date.getTime()) ? fail('a date (ISO 8601 or POSIX seconds)') : date;
    }
    case 'ByteString':
      return hexBytes(text, def.name);
    case 'Structure':
      if (def.tag === Tag.Name) return text;
      try {
        return JSON.parse(text) as KmipValue;
      } catch {
        return fail(`a JSON object of its fields (${(def.fields ?? []).map((f) => keyOfTag(f.tag)).join(', ')})`);
      }
    default:
      return text;
  }
}

const one = (client: KmipClient, name: string, value: string): Attributes => {
  const { key, def } = attributeNamed(name, client.version);
  return { [key]: valueOf(def, value) };
};

async function getAttributes(client: KmipClient, id: string, names: readonly string[]): Promise<Output> {
  const keys = names.map((name) => attributeNamed(name, client.version).key);
  const { uniqueIdentifier, instances, attributes } = await client.getAttributes(id, keys.length === 0 ? undefined : keys);
  // One line per instance: a multi-valued attribute shows each value on its own line.
  const rows = instances.map((instance) => `${instance.name}: ${describe(fromItem(instance.value, client.version))}`);
  return { text: rows.join('\n'), json: { uniqueIdentifier, attributes } };
}

const positional = (y: Argv<GlobalArgs>) =>
  y.positional('id', { type: 'string', demandOption: true, describe: 'Unique Identifier' }).positional('attribute', { type: 'string', demandOption: true, describe: 'attribute name: "Contact Information", object-group, x-Department, ...' });

export const attributeCommands: KmipCommands = (yargs) =>
  yargs.command('attributes', 'read and change the attributes of an object', (attributes) =>
    attributes
      .command(
        ['get <id> [names..]', '$0 <id> [names..]'],
        'the attributes of an object (Get Attributes), one "name: value" a line; NAMES narrows the list',
        (y) => y.positional('id', { type: 'string', demandOption: true, describe: 'Unique Identifier' }).positional('names', { type: 'string', array: true, describe: 'attribute names' }),
        (args) => run(args, (client) => getAttributes(client, args.id, args.names ?? [])),
      )
      .command(
        'add <id> <attribute> <value>',
        'add an attribute value (a multi-valued attribute gains one more)',
        (y) => positional(y).positional('value', { type: 'string', demandOption: true, describe: 'the value: text, a number, a date, enumeration names, JSON for a structure' }),
        (args) =>
          run(args, async (client) => {
            const { uniqueIdentifier } = await client.addAttribute(args.id, one(client, args.attribute, args.value));
            return { text: `added ${args.attribute} to ${uniqueIdentifier}`, json: { uniqueIdentifier } };
          }),
      )
      .command(
        'modify <id> <attribute> <value>',
        'change an attribute value (--current VALUE or --index N picks the instance of a multi-valued one)',
        (y) =>
          positional(y)
            .positional('value', { type: 'string', demandOption: true, describe: 'the new value' })
            .option('current', { type: 'string', describe: 'the value to replace (KMIP 2.x)' })
            .option('index', { type: 'number', describe: 'the Attribute Index to replace (KMIP 1.x)' }),
        (args) =>
          run(args, async (client) => {
            const which = { ...(args.current === undefined ? {} : { current: one(client, args.attribute, args.current) }), ...(args.index === undefined ? {} : { attributeIndex: args.index }) };
            const { uniqueIdentifier } = await client.modifyAttribute(args.id, one(client, args.attribute, args.value), which);
            return { text: `modified ${args.attribute} of ${uniqueIdentifier}`, json: { uniqueIdentifier } };
          }),
      )
      .command(
        'delete <id> <attribute>',
        'delete an attribute (every value, or the one given by --current VALUE or --index N)',
        (y) => positional(y).option('current', { type: 'string', describe: 'the value to delete (KMIP 2.x)' }).option('index', { type: 'number', describe: 'the Attribute Index to delete (KMIP 1.x)' }),
        (args) =>
          run(args, async (client) => {
            const { key } = attributeNamed(args.attribute, client.version);
            const which = args.current === undefined ? { attributeName: key } : { current: one(client, args.attribute, args.current) };
            const { uniqueIdentifier } = await client.deleteAttribute(args.id, { ...which, ...(args.index === undefined ? {} : { attributeIndex: args.index }) });
            return { text: `deleted ${args.attribute} of ${uniqueIdentifier}`, json: { uniqueIdentifier } };
          }),
      )
      .demandCommand(1, 'say get, add, modify or delete'),
  );
