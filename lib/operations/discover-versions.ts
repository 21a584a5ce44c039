/** Discover Versions (KMIP 2.1 section 6.1.19, 1.4 section 4.26). */
import { Enum, Tag } from '../../ttlv/index.js';
import type { KmipVersion } from '../../ttlv/index.js';
import { int, struct } from '../protocol/build.js';
import { Fields } from '../protocol/fields.js';
import { SUPPORTED_VERSIONS, parseVersion } from '../protocol/versions.js';
import { operation } from './types.js';

export const discoverVersions = operation<{ offered: string[] }>({
  code: Enum.Operation.DiscoverVersions,
  since: '1.1',
  decode: (payload) => ({
    offered: payload.all(Tag.ProtocolVersion).map((item, i) => {
      const pv = Fields.of(item, `${payload.path}/ProtocolVersion[${i}]`);
      return `${pv.value(Tag.ProtocolVersionMajor, 'Integer')}.${pv.value(Tag.ProtocolVersionMinor, 'Integer')}`;
    }),
  }),
  handle: async (_ctx, request) => {
    // The client's versions that we speak, in its order of preference; all of ours when it names none.
    const ours = new Set<string>(SUPPORTED_VERSIONS);
    const chosen: KmipVersion[] =
      request.offered.length === 0 ? [...SUPPORTED_VERSIONS] : request.offered.filter((v): v is KmipVersion => ours.has(v));
    return chosen.map((v) => {
      const { major, minor } = parseVersion(v);
      return struct(Tag.ProtocolVersion, [int(Tag.ProtocolVersionMajor, major), int(Tag.ProtocolVersionMinor, minor)]);
    });
  },
});
