/**
 * `kmip grant`, `kmip revoke-grant` and `kmip grants`: kmipd's grant extension operations
 * (lib/auth/extension.ts) on the command line.
 *
 *   kmip grant ID alice get,encrypt             alice may Get and Encrypt with object ID
 *   kmip grant --group payroll --to-group dba decrypt
 *   kmip revoke-grant ID alice [encrypt]        (no permission: all of alice's on ID)
 *   kmip grants [ID | --group G]                (nothing: what was granted to me)
 */
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { Tag } from '../../ttlv/index.js';
import type { StructureItem, TtlvItem } from '../../ttlv/index.js';
import { GrantOperation, GrantTag } from '../../lib/auth/extension.js';
import { PERMISSIONS, parsePermissions } from '../../lib/auth/permissions.js';
import { UsageError } from './errors.js';
import type { KmipSession } from './session.js';
import { children, optionalChild, text } from './ttlv.js';

/** What a command prints: lines for a person, or a value for --json. */
export interface GrantOutput {
  readonly text: string;
  readonly json: unknown;
}

/** kmip-cli.ts's `run`: connect, do the work, print. */
export type RunCommand = (args: never, work: (session: KmipSession) => Promise<GrantOutput>) => Promise<void>;

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

function describe(grant: ListedGrant): string {
  const target = grant.uniqueIdentifier ?? `group ${grant.objectGroup ?? '?'}${grant.scopeOwner === undefined ? '' : ` (objects of ${grant.scopeOwner})`}`;
  const grantee = grant.identity ?? `group ${grant.group ?? '?'}`;
  return `${target}  ${grantee}  ${grant.permissions.join(',')}  (by ${grant.grantedBy ?? '?'})`;
}

const wordsOf = (args: ArgumentsCamelCase): string[] => [args.first, args.second, args.third].filter((w): w is string => typeof w === 'string');

const options = <T>(y: Argv<T>) =>
  y
    // Three optional words rather than a variadic one: kmip parses repeated values as the last one.
    .positional('first', { type: 'string', describe: 'the Unique Identifier (absent with --group)' })
    .positional('second', { type: 'string', describe: 'the identity (absent with --to-group)' })
    .positional('third', { type: 'string', describe: 'the permissions' })
    .option('group', { type: 'string', describe: 'an Object Group instead of one object (your objects in it; every owner\'s for an administrator)' })
    .option('to-group', { type: 'string', describe: 'an identity group instead of one identity' })
    .option('scope-owner', { type: 'string', describe: 'administrators: the owner whose objects an Object Group grant covers' });

/** The three commands, for yargs' `.command([...])`. */
export function grantCommands(run: RunCommand): CommandModule[] {
  const call = (args: unknown, work: (session: KmipSession) => Promise<GrantOutput>): Promise<void> => run(args as never, work);
  const grant: CommandModule = {
    command: 'grant [first] [second] [third]',
    describe: `let another identity or an identity group do things with an object or an Object Group: kmip grant ID IDENTITY PERMISSIONS (${PERMISSIONS.join(', ')})`,
    builder: (y) => options(y),
    handler: (args: ArgumentsCamelCase) =>
      call(args, async (session) => {
        const payload = grantRequest({ ...(args as unknown as GrantArgs), words: wordsOf(args) }, true);
        await session.call(GrantOperation.Grant, payload);
        return { text: 'granted', json: { granted: true } };
      }),
  };
  const revoke: CommandModule = {
    command: 'revoke-grant [first] [second] [third]',
    describe: 'take permissions back: kmip revoke-grant ID IDENTITY [PERMISSIONS] (without permissions: all of that grantee\'s on the target)',
    builder: (y) => options(y),
    handler: (args: ArgumentsCamelCase) =>
      call(args, async (session) => {
        const payload = grantRequest({ ...(args as unknown as GrantArgs), words: wordsOf(args) }, false);
        const answer = await session.call(GrantOperation.RevokeGrant, payload);
        const removed = optionalChild(answer, GrantTag.RevokedCount, 'Integer')?.value ?? 0;
        return { text: `revoked ${removed} permission${removed === 1 ? '' : 's'}`, json: { revoked: removed } };
      }),
  };
  const list: CommandModule = {
    command: 'grants [id]',
    describe: 'the grants on an object or an Object Group (--group); without either, what was granted to you',
    builder: (y) =>
      y
        .positional('id', { type: 'string', describe: 'Unique Identifier' })
        .option('group', { type: 'string', describe: 'an Object Group' })
        .option('to', { type: 'string', describe: 'only the grants to this identity' })
        .option('to-group', { type: 'string', describe: 'only the grants to this identity group' }),
    handler: (args: ArgumentsCamelCase) =>
      call(args, async (session) => {
        const id = args.id as string | undefined;
        const group = args.group as string | undefined;
        if (id !== undefined && group !== undefined) throw new UsageError('give an object or --group, not both');
        const to = args.to as string | undefined;
        const toGroup = args['to-group'] as string | undefined;
        const payload = [
          ...(id === undefined ? [] : [text(Tag.UniqueIdentifier, id)]),
          ...(group === undefined ? [] : [text(Tag.ObjectGroup, group)]),
          ...(to === undefined ? [] : [text(GrantTag.GranteeIdentity, to)]),
          ...(toGroup === undefined ? [] : [text(GrantTag.GranteeGroup, toGroup)]),
        ];
        const grants = listedGrants(await session.call(GrantOperation.ListGrants, payload));
        return { text: grants.map(describe).join('\n'), json: { grants } };
      }),
  };
  return [grant, revoke, list];
}
