/** kmip query, discover: what the server offers. */
import { enumName } from '../../../lib/client/index.js';
import { Enum, Tag } from '../../../ttlv/index.js';
import { run } from '../context.js';
import type { KmipCommands } from '../context.js';
import { describe } from '../output.js';

const upper = (key: string): string => key.replace(/^./, (c) => c.toUpperCase()).replace(/([a-z])([A-Z])/g, '$1 $2');

export const infoCommands: KmipCommands = (yargs) =>
  yargs
    .command(
      ['discover', 'discover-versions'],
      'the protocol versions the server speaks, preferred first',
      (y) => y,
      (args) =>
        run(args, async (client) => {
          const versions = await client.discoverVersions();
          return { text: versions.join('\n'), json: { versions, negotiated: client.version } };
        }),
    )
    .command(
      'query',
      'the operations, object types and server information the server reports',
      (y) => y,
      (args) =>
        run(args, async (client) => {
          const answer = await client.query();
          // Object types as the specification writes them ("Symmetric Key").
          const objectTypes = answer.objectTypes.map((type) => enumName(Tag.ObjectType, Enum.ObjectType[type], client.version));
          const info = Object.entries(answer.serverInformation ?? {}).map(([name, value]) => `${upper(name)}: ${describe(value)}`);
          const lines = [
            ...(answer.vendorIdentification === undefined ? [] : [`Vendor Identification: ${answer.vendorIdentification}`]),
            ...info,
            `Protocol Version: ${client.version}`,
            'Operations:',
            ...answer.operations.map((op) => `  ${op}`),
            'Object Types:',
            ...objectTypes.map((type) => `  ${type}`),
          ];
          const serverInformation = Object.fromEntries(Object.entries(answer.serverInformation ?? {}).map(([name, value]) => [upper(name), describe(value)]));
          return { text: lines.join('\n'), json: { operations: answer.operations, objectTypes, vendor: answer.vendorIdentification, serverInformation } };
        }),
    );
