/** KMIP 2.1 requests written as KMIP XML, and lookups in the answers, for tests over real servers. */
import { isConcrete, parseXml } from '../../ttlv/index.js';
import type { TtlvItem } from '../../ttlv/index.js';

/** A 2.1 request message of one batch item whose children are `body` (KMIP XML). */
export function request(body: string): TtlvItem {
  const [item] = parseXml(`<RequestMessage><RequestHeader><ProtocolVersion><ProtocolVersionMajor type="Integer" value="2"/><ProtocolVersionMinor type="Integer" value="1"/></ProtocolVersion>
    <BatchCount type="Integer" value="1"/></RequestHeader><BatchItem>${body}</BatchItem></RequestMessage>`);
  if (item === undefined || !isConcrete(item)) throw new Error('bad test message');
  return item;
}

/** The first item with `tag`, depth first. */
export function find(item: TtlvItem, tag: number): TtlvItem | undefined {
  if (item.tag === tag) return item;
  if (item.type !== 'Structure') return undefined;
  for (const child of item.value) {
    const found = find(child, tag);
    if (found) return found;
  }
  return undefined;
}

/** Every item with `tag`, depth first. */
export function findAll(item: TtlvItem, tag: number, out: TtlvItem[] = []): TtlvItem[] {
  if (item.tag === tag) out.push(item);
  if (item.type === 'Structure') for (const child of item.value) findAll(child, tag, out);
  return out;
}
