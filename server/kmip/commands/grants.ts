/**
 * `kmip grant`, `kmip revoke-grant` and `kmip grants`: kmipd's grant extension operations
 * (lib/auth/extension.ts) on the command line.
 *
 *   kmip grant ID alice get,encrypt             alice may Get and Encrypt with object ID
 *   kmip grant --group payroll --to-group dba decrypt
 *   kmip revoke-grant ID alice [encrypt]        (no permission: all of alice's on ID)
 *   kmip grants [ID | --group G]                (nothing: what was granted to me)
 */
import type { Argv } from 'yargs';
import { Tag } from '../../../ttlv/index.js';
import type { StructureItem, TtlvItem } from '../../../ttlv/index.js';
import { children, optionalChild, text } from '../../../lib/client/index.js';
import { GrantOperation, GrantTag } from '../../../lib/auth/extension.js';
import { PERMISSIONS, parsePermissions } from '../../../lib/auth/permissions.js';
import { run } from '../context.js';
import type { GlobalArgs, KmipCommands } from '../context.js';
import { UsageError } from '../errors.js';

interface GrantArgs {
  readonly words: readonly string[];
  readonly group?: string | undefined;
  readonly 'to-group'?: string | undefined;
  readonly 'scope-owner'?: string | undefined;
}

const PERMISSION_LIST = `permissions, comma-separated: ${PERMISSIONS.join(', ')}`;

/** The target, grantee and permissions of a grant command from its words and flags. */
export function grantRequest(args: GrantArgs, permissionsRequired: boolean): TtlvItem[] {
  const words = [...args.words];
  const target = args.group !== undefined ? text(Tag.ObjectGroup, args.group) : words.length > 0 ? text(Tag.UniqueIdentifier, words.shift() as string) : undefined;
  if (target === undefined) throw new UsageError('name the object (its Unique Identifier) or an Object Group with --group');
  const toGroup = args['to-group'];
  const grantee = toGroup !== undefined ? text(GrantTag.GranteeGroup, toGroup) : words.length > 0 ? text(GrantTag.GranteeIdentity, words.shift() as string) : undefined;
  if (grantee === undefined) throw new UsageError('name the grantee: an identity, or an identity group with --to-group');
  if (words.length > 1) throw new UsageError(`too many arguments: ${words.join(' ')} (give the ${PERMISSION_LIST})`);
  const [list] = words;
  if (list === undefined && permissionsRequired) throw new UsageError(`give the ${PERMISSION_LIST}`);
  let permissions: string[] = [];
  try {
    permissions = list === undefined ? [] : parsePermissions(list);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const scope = args['scope-owner'];
  return [target, grantee, ...permissions.map((p) => text(GrantTag.Permission, p)), ...(scope === undefined ? [] : [text(GrantTag.ScopeOwner, scope)])];
}

/** One listed grant, for people and for --json. */
export interface ListedGrant {
  readonly uniqueIdentifier?: string;
  readonly objectGroup?: string;
  readonly scopeOwner?: string;
  readonly identity?: string;
  readonly group?: string;
  readonly permissions: string[];
  readonly grantedBy: string | undefined;
}

export function listedGrants(payload: StructureItem): ListedGrant[] {
  return children(payload, GrantTag.Grant, 'Structure').map((grant) => {
    const read = (tag: number): string | undefined => optionalChild(grant, tag, 'TextString')?.value;
    const found: Record<string, string | undefined> = {
      uniqueIdentifier: read(Tag.UniqueIdentifier),
      objectGroup: read(Tag.ObjectGroup),
      scopeOwner: read(GrantTag.ScopeOwner),
      identity: read(GrantTag.GranteeIdentity),
      group: read(GrantTag.GranteeGroup),
    };
    const defined = Object.fromEntries(Object.entries(found).filter(([, v]) => v !== undefined));
    return { ...defined, permissions: children(grant, GrantTag.Permission, 'TextString').map((p) => p.value), grantedBy: read(GrantTag.GrantedBy) };
  });
}

function describeGrant(grant: ListedGrant): string {
  const target = grant.uniqueIdentifier ?? `group ${grant.objectGroup ?? '?'}${grant.scopeOwner === undefined ? '' : ` (objects of ${grant.scopeOwner})`}`;
  const grantee = grant.identity ?? `group ${grant.group ?? '?'}`;
  return `${target}  ${grantee}  ${grant.permissions.join(',')}  (by ${grant.grantedBy ?? '?'})`;
}

const grantOptions = (y: Argv<GlobalArgs>) =>
  y
    // Three optional words: the target and the grantee may each be a flag instead.
    .positional('first', { type: 'string', describe: 'the Unique Identifier (absent with --group)' })
    .positional('second', { type: 'string', describe: 'the identity (absent with --to-group)' })
    .positional('third', { type: 'string', describe: 'the permissions' })
    .option('group', { type: 'string', describe: "an Object Group instead of one object (your objects in it; every owner's for an administrator)" })
    .option('to-group', { type: 'string', describe: 'an identity group instead of one identity' })
    .option('scope-owner', { type: 'string', describe: 'administrators: the owner whose objects an Object Group grant covers' });

type GrantWords = Omit<GrantArgs, 'words'> & { readonly first?: string | undefined; readonly second?: string | undefined; readonly third?: string | undefined };

const withWords = (args: GrantWords): GrantArgs => ({ ...args, words: [args.first, args.second, args.third].filter((w): w is string => w !== undefined) });

export const grantCommands: KmipCommands = (yargs) =>
  yargs
    .command(
      'grant [first] [second] [third]',
      `let another identity or an identity group do things with an object or an Object Group: kmip grant ID IDENTITY PERMISSIONS (${PERMISSIONS.join(', ')})`,
      grantOptions,
      (args) =>
        run(args, async (client) => {
          await client.call(GrantOperation.Grant, grantRequest(withWords(args), true));
          return { text: 'granted', json: { granted: true } };
        }),
    )
    .command(
      'revoke-grant [first] [second] [third]',
      "take permissions back: kmip revoke-grant ID IDENTITY [PERMISSIONS] (without permissions: all of that grantee's on the target)",
      grantOptions,
      (args) =>
        run(args, async (client) => {
          const answer = await client.call(GrantOperation.RevokeGrant, grantRequest(withWords(args), false));
          const removed = optionalChild(answer, GrantTag.RevokedCount, 'Integer')?.value ?? 0;
          return { text: `revoked ${removed} permission${removed === 1 ? '' : 's'}`, json: { revoked: removed } };
        }),
    )
    .command(
      'grants [id]',
      'the grants on an object or an Object Group (--group); without either, what was granted to you',
      (y) =>
        y
          .positional('id', { type: 'string', describe: 'Unique Identifier' })
          .option('group', { type: 'string', describe: 'an Object Group' })
          .option('to', { type: 'string', describe: 'only the grants to this identity' })
          .option('to-group', { type: 'string', describe: 'only the grants to this identity group' }),
      (args) =>
        run(args, async (client) => {
          const { id, group, to } = args;
          const toGroup = args['to-group'];
          if (id !== undefined && group !== undefined) throw new UsageError('give an object or --group, not both');
          const payload = [
            ...(id === undefined ? [] : [text(Tag.UniqueIdentifier, id)]),
            ...(group === undefined ? [] : [text(Tag.ObjectGroup, group)]),
            ...(to === undefined ? [] : [text(GrantTag.GranteeIdentity, to)]),
            ...(toGroup === undefined ? [] : [text(GrantTag.GranteeGroup, toGroup)]),
          ];
          const grants = listedGrants(await client.call(GrantOperation.ListGrants, payload));
          return { text: grants.map(describeGrant).join('\n'), json: { grants } };
        }),
    );
