/**
 * `npm run bench:ttlv`: binary TTLV decode and encode throughput for a small request
 * (a Get), a medium one (a Register of a 4 KiB certificate) and a large batch (100 items).
 * A benchmark, not a test: it prints figures. The machines are shared and noisy, so compare
 * runs by ratio (decode vs encode, small vs large) more than by absolute value.
 */
import { randomBytes } from 'node:crypto';
import { Enum, Tag, decodeTtlv, encodeTtlv } from '../ttlv/index.js';
import type { TtlvItem } from '../ttlv/index.js';

const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 1);

const int = (tag: number, value: number): TtlvItem => ({ tag, type: 'Integer', value });
const enumeration = (tag: number, value: number): TtlvItem => ({ tag, type: 'Enumeration', value });
const text = (tag: number, value: string): TtlvItem => ({ tag, type: 'TextString', value });
const struct = (tag: number, value: TtlvItem[]): TtlvItem => ({ tag, type: 'Structure', value });

function request(items: TtlvItem[]): TtlvItem {
  return struct(Tag.RequestMessage, [
    struct(Tag.RequestHeader, [
      struct(Tag.ProtocolVersion, [int(Tag.ProtocolVersionMajor, 1), int(Tag.ProtocolVersionMinor, 4)]),
      int(Tag.BatchCount, items.length),
    ]),
    ...items,
  ]);
}

function getItem(id: string): TtlvItem {
  return struct(Tag.BatchItem, [
    enumeration(Tag.Operation, Enum.Operation.Get),
    struct(Tag.RequestPayload, [text(Tag.UniqueIdentifier, id)]),
  ]);
}

function registerCertificate(der: Buffer): TtlvItem {
  return struct(Tag.BatchItem, [
    enumeration(Tag.Operation, Enum.Operation.Register),
    struct(Tag.RequestPayload, [
      enumeration(Tag.ObjectType, Enum.ObjectType.Certificate),
      struct(Tag.TemplateAttribute, [
        struct(Tag.Attribute, [text(Tag.AttributeName, 'Name'), struct(Tag.AttributeValue, [text(Tag.NameValue, 'bench-cert'), enumeration(Tag.NameType, 1)])]),
        struct(Tag.Attribute, [text(Tag.AttributeName, 'Cryptographic Usage Mask'), int(Tag.AttributeValue, 3)]),
      ]),
      struct(Tag.Certificate, [enumeration(Tag.CertificateType, Enum.CertificateType.X_509), { tag: Tag.CertificateValue, type: 'ByteString', value: der }]),
    ]),
  ]);
}

function measure(run: () => void): number {
  for (let i = 0; i < 200; i++) run(); // warm up the JIT
  let count = 0;
  const start = process.hrtime.bigint();
  const budget = BigInt(Math.round(SECONDS * 1e9));
  let elapsed = 0n;
  while (elapsed < budget) {
    for (let i = 0; i < 100; i++) run();
    count += 100;
    elapsed = process.hrtime.bigint() - start;
  }
  return count / (Number(elapsed) / 1e9);
}

const cases: [string, TtlvItem][] = [
  ['small: Get', request([getItem('7f3c2a10-5b1e-4d7a-9c61-0a2b3c4d5e6f')])],
  ['medium: Register 4 KiB certificate', request([registerCertificate(randomBytes(4096))])],
  ['large: batch of 100 Gets', request(Array.from({ length: 100 }, (_, i) => getItem(`key-${i}`)))],
];

console.log(`TTLV codec throughput (${SECONDS}s per figure, node ${process.version})`);
console.log('message                               bytes   decode msg/s   decode MB/s   encode msg/s   encode MB/s');
for (const [name, item] of cases) {
  const bytes = encodeTtlv(item);
  const decodeRate = measure(() => decodeTtlv(bytes));
  const encodeRate = measure(() => encodeTtlv(item));
  const mb = (rate: number): string => ((rate * bytes.length) / 1e6).toFixed(1).padStart(12);
  console.log(
    `${name.padEnd(36)} ${String(bytes.length).padStart(6)} ${Math.round(decodeRate).toString().padStart(14)} ${mb(decodeRate)} ${Math.round(encodeRate).toString().padStart(14)} ${mb(encodeRate)}`,
  );
}
