/**
 * Resource limits under attack (issue 7, Reliability): each attack runs against a real
 * kmipd over real TLS while a separate, well-behaved client keeps asking DiscoverVersions;
 * each test shows the limit enforced and that client served throughout.
 */
import { expect } from 'chai';
import net from 'node:net';
import { readFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import type { ClientRequest } from 'node:http';
import { Enum, Tag, encodeTtlv } from '../../ttlv/index.js';
import type { TtlvItem } from '../../ttlv/index.js';
import { silentLogger } from '../../lib/log.js';
import { configWith } from '../../server/config.js';
import type { KmipdConfig } from '../../server/config.js';
import { startServer } from '../../server/index.js';
import type { RunningServer } from '../../server/index.js';
import { TestClient, answer, delay, discoverVersions, eventually, pkiFiles, queryOperations, removeDir, request, tempDir } from '../server/helpers.js';

const INVALID_MESSAGE = Enum.ResultReason.InvalidMessage;
const FAILED = Enum.ResultStatus.OperationFailed;
const MIB = 1024 * 1024;

/** A client that asks DiscoverVersions every 50 ms and remembers every failure. */
class Watchdog {
  answered = 0;
  readonly failures: string[] = [];
  private running = true;
  private readonly done: Promise<void>;

  private constructor(private readonly client: TestClient) {
    this.done = this.loop();
  }

  static async start(port: number, dir: string): Promise<Watchdog> {
    return new Watchdog(await TestClient.connect(port, pkiFiles(dir)));
  }

  private async loop(): Promise<void> {
    while (this.running) {
      try {
        const started = Date.now();
        const response = answer(await this.client.call(discoverVersions()));
        if (response.status !== Enum.ResultStatus.Success) this.failures.push(`status ${response.status}`);
        else this.answered++;
        if (Date.now() - started > 5000) this.failures.push(`an answer took ${Date.now() - started} ms`);
      } catch (error) {
        this.failures.push((error as Error).message);
        return;
      }
      await delay(50);
    }
  }

  /** Wait for one more answer after the attack, stop, and check the client was answered all along. */
  async stop(): Promise<void> {
    const wanted = this.answered + 1;
    const deadline = Date.now() + 5000;
    while (this.answered < wanted && this.failures.length === 0 && Date.now() < deadline) await delay(20);
    this.running = false;
    await this.done;
    this.client.close();
    expect(this.failures, 'the well-behaved client was not served').to.deep.equal([]);
    expect(this.answered).to.be.at.least(wanted);
  }
}

function closedWithin(socket: net.Socket, ms: number): Promise<number> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    if (socket.destroyed) return resolve(0);
    const timer = setTimeout(() => reject(new Error(`still open after ${ms} ms`)), ms);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(Date.now() - started);
    });
  });
}

const struct = (tag: number, value: TtlvItem[]): TtlvItem => ({ tag, type: 'Structure', value });
const int = (tag: number, value: number): TtlvItem => ({ tag, type: 'Integer', value });

/** A Query request padded with a Data item to `size` bytes or a little less. */
function queryOfSize(size: number): Buffer {
  const padded = request(Enum.Operation.Query, [
    { tag: Tag.QueryFunction, type: 'Enumeration', value: Enum.QueryFunction.QueryOperations },
    { tag: Tag.Data, type: 'ByteString', value: Buffer.alloc(size - 200) },
  ]);
  expect(padded.length).to.be.within(size - 256, size);
  return padded;
}

/** The highest value `read()` returns, sampled every millisecond until stopped. */
function sampleMax(read: () => number): { stop(): number } {
  let max = read();
  const timer = setInterval(() => (max = Math.max(max, read())), 1);
  timer.unref();
  return {
    stop: () => {
      clearInterval(timer);
      return Math.max(max, read());
    },
  };
}

/** POST a TTLV request to the HTTPS binding; `sent` sees the request object (to drop it). */
async function postTtlv(port: number, dir: string, body: Buffer, sent?: (request: ClientRequest) => void): Promise<{ status: number; body: Buffer }> {
  const files = pkiFiles(dir);
  const [ca, cert, key] = await Promise.all([readFile(files.ca), readFile(files.cert), readFile(files.key)]);
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port, path: '/kmip', method: 'POST', ca, cert, key, agent: false, headers: { 'Content-Type': 'application/octet-stream' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
    sent?.(req);
  });
}

/** A request with `items` DiscoverVersions batch items. */
function batchOf(items: number): Buffer {
  const item = struct(Tag.BatchItem, [{ tag: Tag.Operation, type: 'Enumeration', value: Enum.Operation.DiscoverVersions }, struct(Tag.RequestPayload, [])]);
  return encodeTtlv(
    struct(Tag.RequestMessage, [
      struct(Tag.RequestHeader, [struct(Tag.ProtocolVersion, [int(Tag.ProtocolVersionMajor, 1), int(Tag.ProtocolVersionMinor, 4)]), int(Tag.BatchCount, items)]),
      ...Array.from({ length: items }, () => item),
    ]),
  );
}

/** A DiscoverVersions request whose payload holds structures nested `depth` deep (built by hand: no encoder recursion). */
function nested(depth: number): Buffer {
  // Level k (outermost 0) is a structure header whose length covers the levels inside it.
  const inner = Buffer.alloc(8 * depth);
  for (let level = 0; level < depth; level++) {
    inner.writeUInt32BE((Tag.RequestPayload << 8) | 0x01, 8 * level);
    inner.writeUInt32BE(8 * (depth - 1 - level), 8 * level + 4);
  }
  const header = encodeTtlv(struct(Tag.RequestHeader, [struct(Tag.ProtocolVersion, [int(Tag.ProtocolVersionMajor, 1), int(Tag.ProtocolVersionMinor, 4)]), int(Tag.BatchCount, 1)]));
  const operation = encodeTtlv({ tag: Tag.Operation, type: 'Enumeration', value: Enum.Operation.DiscoverVersions });
  const item = Buffer.concat([Buffer.alloc(8), operation, inner]);
  item.writeUInt32BE((Tag.BatchItem << 8) | 0x01, 0);
  item.writeUInt32BE(item.length - 8, 4);
  const message = Buffer.concat([Buffer.alloc(8), header, item]);
  message.writeUInt32BE((Tag.RequestMessage << 8) | 0x01, 0);
  message.writeUInt32BE(message.length - 8, 4);
  return message;
}

describe('reliability: resource limits hold under attack, and other clients are still served', function () {
  this.timeout(60_000);
  let dir: string;
  let server: RunningServer | undefined;

  async function start(values: Partial<KmipdConfig>): Promise<RunningServer> {
    server = await startServer(configWith({ dir, host: '127.0.0.1', port: 0, ...values }), { log: silentLogger });
    return server;
  }

  // One data folder for all: its PKI is made once; each test starts a server with its limits.
  before(async () => {
    dir = await tempDir('limits');
  });
  after(async () => {
    await removeDir(dir);
  });
  afterEach(async () => {
    await server?.destroy();
    server = undefined;
  });

  it('many idle connections: past maxConnections they are closed at once, idle TCP ones after handshakeTimeoutSeconds, idle TLS ones after idleTimeoutSeconds', async function () {
    const { port } = await start({ maxConnections: 40, handshakeTimeoutSeconds: 3, idleTimeoutSeconds: 2 });
    const watchdog = await Watchdog.start(port, dir);
    const idleTls = await Promise.all(Array.from({ length: 10 }, () => TestClient.connect(port, pkiFiles(dir))));
    // 200 bare TCP connections that never start TLS: 29 fit under the limit, the rest are refused.
    const raw = Array.from({ length: 200 }, () => net.connect(port, '127.0.0.1').on('error', () => undefined));
    const refused = await Promise.all(raw.map((socket) => closedWithin(socket, 10_000)));
    expect(refused.filter((ms) => ms < 1500).length, 'connections refused at once').to.be.at.least(200 - 29);
    const held = refused.filter((ms) => ms >= 2500);
    expect(held.length, 'connections held until the handshake timeout').to.be.within(1, 29);
    expect(Math.max(...held), 'idle TCP connections dropped after the handshake timeout').to.be.below(8000);
    await Promise.all(idleTls.map((client) => client.closed));
    // A new client is let in once they are gone.
    const late = await TestClient.connect(port, pkiFiles(dir));
    expect(answer(await late.call(discoverVersions())).status).to.equal(Enum.ResultStatus.Success);
    late.close();
    await watchdog.stop();
  });

  it('slow senders: a TLS handshake sent a byte every 200 ms is dropped after handshakeTimeoutSeconds', async function () {
    const { port } = await start({ handshakeTimeoutSeconds: 1 });
    const watchdog = await Watchdog.start(port, dir);
    // A proxy that passes the client's bytes on one at a time, 200 ms apart.
    const upstreams: net.Socket[] = [];
    const proxy = net.createServer((downstream) => {
      const upstream = net.connect(port, '127.0.0.1');
      upstreams.push(upstream);
      const queue: number[] = [];
      downstream.on('data', (chunk: Buffer) => queue.push(...chunk));
      const timer = setInterval(() => {
        const byte = queue.shift();
        if (byte !== undefined && !upstream.destroyed) upstream.write(Buffer.from([byte]));
      }, 200);
      upstream.on('data', (chunk: Buffer) => downstream.write(chunk));
      upstream.on('close', () => {
        clearInterval(timer);
        downstream.destroy();
      });
      upstream.on('error', () => undefined);
      downstream.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    try {
      const slow = TestClient.connect((proxy.address() as net.AddressInfo).port, pkiFiles(dir)).then(
        () => 'handshake completed',
        (error: Error) => error.message,
      );
      await delay(100);
      const upstream = upstreams[0];
      if (upstream === undefined) throw new Error('the proxy saw no connection');
      const closedAfter = await closedWithin(upstream, 10_000);
      expect(closedAfter).to.be.below(3000);
      expect(await slow).to.not.equal('handshake completed');
    } finally {
      proxy.close();
    }
    await watchdog.stop();
  });

  it('slow senders: a request sent a byte every 200 ms gets Invalid Message and a close after requestTimeoutSeconds, though each byte resets the idle timer', async function () {
    const { port } = await start({ requestTimeoutSeconds: 2, idleTimeoutSeconds: 1 });
    const watchdog = await Watchdog.start(port, dir);
    const slow = await TestClient.connect(port, pkiFiles(dir));
    const bytes = discoverVersions();
    const started = Date.now();
    let sent = 0;
    const timer = setInterval(() => {
      if (sent < bytes.length && !slow.socket.destroyed) slow.socket.write(bytes.subarray(sent, ++sent));
    }, 200);
    try {
      await slow.closed;
    } finally {
      clearInterval(timer);
    }
    const elapsed = Date.now() - started;
    expect(elapsed).to.be.within(1800, 4000);
    expect(sent).to.be.below(bytes.length);
    expect(slow.responses).to.have.length(1);
    const refusal = answer(slow.responses[0] as Buffer);
    expect(refusal.status).to.equal(FAILED);
    expect(refusal.reason).to.equal(INVALID_MESSAGE);
    expect(refusal.message).to.match(/within 2 s/);
    await watchdog.stop();
  });

  it('oversized length fields: refused from the 8-byte header, with nothing allocated for the claimed length', async function () {
    const { port } = await start({});
    const watchdog = await Watchdog.start(port, dir);
    const before = process.memoryUsage().rss;
    for (const claimed of [0x7fff_fff0, 0xffff_fff8, 1024 * 1024 + 8]) {
      const attacker = await TestClient.connect(port, pkiFiles(dir));
      const header = Buffer.alloc(8);
      header.writeUInt32BE((Tag.RequestMessage << 8) | 0x01, 0);
      header.writeUInt32BE(claimed, 4);
      attacker.send(header);
      const refusal = answer(await attacker.response(1, 2000));
      expect(refusal.reason).to.equal(INVALID_MESSAGE);
      expect(refusal.message).to.match(/larger than|too large|maximum/i);
      await attacker.closed;
    }
    expect(process.memoryUsage().rss - before).to.be.below(64 * 1024 * 1024);
    await watchdog.stop();
  });

  it('deep nesting: past maxDepth a request gets Invalid Message and the connection goes on; 100,000 levels do not overflow the stack', async function () {
    const { port } = await start({ maxDepth: 32 });
    const watchdog = await Watchdog.start(port, dir);
    const client = await TestClient.connect(port, pkiFiles(dir));
    const within = answer(await client.call(nested(20)));
    expect(within.reason, within.message).to.not.equal(INVALID_MESSAGE);
    for (const depth of [40, 100_000]) {
      const refusal = answer(await client.call(nested(depth)));
      expect(refusal.status).to.equal(FAILED);
      expect(refusal.reason).to.equal(INVALID_MESSAGE);
      expect(refusal.message).to.match(/deep|depth|nest/i);
    }
    expect(answer(await client.call(discoverVersions())).status).to.equal(Enum.ResultStatus.Success);
    client.close();
    await watchdog.stop();
  });

  it('huge batches: past maxBatchItems a request gets Invalid Message at once, even with 20,000 items', async function () {
    const { port } = await start({ maxBatchItems: 64 });
    const watchdog = await Watchdog.start(port, dir);
    const client = await TestClient.connect(port, pkiFiles(dir));
    const full = answer(await client.call(batchOf(64)));
    expect(full.status).to.equal(Enum.ResultStatus.Success);
    for (const items of [65, 20_000]) {
      const started = Date.now();
      const refusal = answer(await client.call(batchOf(items)));
      expect(refusal.status).to.equal(FAILED);
      expect(refusal.reason).to.equal(INVALID_MESSAGE);
      expect(refusal.message).to.include(`${items} batch items`);
      expect(Date.now() - started).to.be.below(2000);
    }
    client.close();
    await watchdog.stop();
  });

  it('very large messages: maxMessageSize is accepted, one byte more is refused; 8 connections each pipelining 16 of them stay within bounded memory', async function () {
    const maxMessageSize = 256 * 1024;
    const { port } = await start({ maxMessageSize, maxPendingRequestsPerConnection: 4 });
    const watchdog = await Watchdog.start(port, dir);
    const exactly = request(Enum.Operation.Query, [
      { tag: Tag.QueryFunction, type: 'Enumeration', value: Enum.QueryFunction.QueryOperations },
      { tag: Tag.Data, type: 'ByteString', value: Buffer.alloc(maxMessageSize - 200) },
    ]);
    expect(exactly.length).to.be.at.most(maxMessageSize);
    const client = await TestClient.connect(port, pkiFiles(dir));
    const accepted = answer(await client.call(exactly));
    expect(accepted.reason, accepted.message).to.not.equal(INVALID_MESSAGE);
    const over = Buffer.alloc(8);
    over.writeUInt32BE((Tag.RequestMessage << 8) | 0x01, 0);
    over.writeUInt32BE(maxMessageSize - 8 + 1, 4);
    client.send(over);
    expect(answer(await client.response(2)).reason).to.equal(INVALID_MESSAGE);
    await client.closed;

    const before = process.memoryUsage().rss;
    const flooders = await Promise.all(Array.from({ length: 8 }, () => TestClient.connect(port, pkiFiles(dir))));
    for (const flooder of flooders) for (let i = 0; i < 16; i++) flooder.send(exactly);
    await Promise.all(flooders.map((flooder) => flooder.response(16, 30_000)));
    for (const flooder of flooders) flooder.close();
    expect(process.memoryUsage().rss - before).to.be.below(256 * 1024 * 1024);
    await watchdog.stop();
  });

  it('total request bytes (maxBufferedBytes): connections pipelining 1 MiB requests without reading answers, or stalling mid-message, never make the process hold more than its budget; reading pauses instead, nobody is refused, and every byte comes back', async function () {
    const limit = 4 * MIB;
    const running = await start({ maxBufferedBytes: limit, requestTimeoutSeconds: 3 });
    const { port, requestBytes } = running;
    const big = queryOfSize(MIB);
    const connect = (): Promise<TestClient> => TestClient.connect(port, pkiFiles(dir));
    const watchdog = await Watchdog.start(port, dir);
    const healthy = await connect();
    const held = sampleMax(() => requestBytes.held);

    // Six connections each pipeline 16 requests of 1 MiB (96 MiB in all) and read no answer.
    const flooders = await Promise.all(Array.from({ length: 6 }, connect));
    for (const flooder of flooders) {
      flooder.socket.pause();
      for (let i = 0; i < 16; i++) flooder.send(big);
    }
    // Two send half a request and stall; one leaves mid-message; one leaves with requests read and unanswered.
    const stallers = await Promise.all([connect(), connect()]);
    for (const staller of stallers) staller.send(big.subarray(0, big.length / 2));
    const [leaver, dropper] = await Promise.all([connect(), connect()]);
    leaver.send(big.subarray(0, big.length / 2));
    dropper.socket.pause();
    for (let i = 0; i < 16; i++) dropper.send(big);
    // Counted, not sampled: on a busy machine a wait may begin and end between two looks.
    await eventually(() => requestBytes.waits > 0, 30_000, 'a reader waiting for the budget');

    // While readers wait for the budget, another client's Query waits its turn and is answered.
    const started = Date.now();
    const query = answer(await healthy.call(queryOperations()));
    expect(query.status, query.message).to.equal(Enum.ResultStatus.Success);
    expect(Date.now() - started, 'Query answered during the attack (ms)').to.be.below(5000);
    healthy.close();
    leaver.destroy();
    dropper.destroy();

    // The stalled senders meet the request timeout, which gives their bytes back.
    for (const staller of stallers) {
      const refusal = answer(await staller.response(1, 15_000));
      expect(refusal.reason).to.equal(INVALID_MESSAGE);
      expect(refusal.message).to.match(/within 3 s/);
      await staller.closed;
    }
    // The flooders were slowed down, not refused: once they read, every request has its answer.
    for (const flooder of flooders) flooder.socket.resume();
    for (const flooder of flooders) {
      await flooder.response(16, 60_000);
      for (const bytes of flooder.responses) expect(answer(bytes).reason).to.not.equal(INVALID_MESSAGE);
      flooder.close();
    }
    await watchdog.stop();
    await Promise.all(flooders.map((flooder) => flooder.closed));

    await eventually(() => requestBytes.held === 0 && requestBytes.waiting === 0, 5000, 'every request byte given back');
    const sampled = held.stop();
    expect(sampled, 'the most held at any sample').to.be.at.most(limit);
    expect(requestBytes.peak, 'the most ever held').to.be.at.most(limit);
    // The attack did spend the budget: reading had to wait for it.
    expect(requestBytes.peak).to.be.above(limit - MIB);
    expect(requestBytes.waits).to.be.above(0);
  });

  it('total request bytes: the HTTPS binding takes its bodies from the same budget, waits its turn when the TLS port has spent it, and gives back a body whose client leaves', async function () {
    const limit = 4 * MIB;
    const running = await start({ maxBufferedBytes: limit, requestTimeoutSeconds: 3, https: true, httpsPort: 0 });
    const { port, requestBytes } = running;
    const httpsPort = running.https?.port ?? 0;
    // Four TLS connections each start a 1 MiB request and stall: the whole budget but 64 bytes.
    const big = queryOfSize(MIB);
    const stallers = await Promise.all(Array.from({ length: 4 }, () => TestClient.connect(port, pkiFiles(dir))));
    for (const staller of stallers) staller.send(big.subarray(0, 1000));
    await eventually(() => requestBytes.held === 4 * big.length, 5000, 'the stalled requests counted whole');
    const small = queryOfSize(1024);
    expect(limit - requestBytes.held).to.be.below(small.length);

    let leaving: ClientRequest | undefined;
    const left = postTtlv(httpsPort, dir, small, (req) => (leaving = req)).then(
      () => 'answered',
      (error: Error) => error.message,
    );
    await eventually(() => requestBytes.waiting === 1, 5000, 'the first HTTPS body in line');
    const started = Date.now();
    const answered = postTtlv(httpsPort, dir, small);
    await eventually(() => requestBytes.waiting === 2, 5000, 'the second HTTPS body in line');
    leaving?.destroy();
    expect(await left).to.not.equal('answered');
    await eventually(() => requestBytes.waiting === 1, 5000, 'the body whose client left out of line');

    // The stalled requests meet the request timeout; their bytes go to the HTTPS body in line.
    const reply = await answered;
    expect(reply.status).to.equal(200);
    expect(answer(reply.body).status).to.equal(Enum.ResultStatus.Success);
    expect(Date.now() - started, 'answered once the stalled requests timed out').to.be.within(1500, 6000);
    for (const staller of stallers) expect(answer(await staller.response(1, 5000)).reason).to.equal(INVALID_MESSAGE);
    await eventually(() => requestBytes.held === 0 && requestBytes.waiting === 0, 5000, 'every request byte given back');
    expect(requestBytes.peak).to.be.at.most(limit);
  });
});
