/**
 * The MSGENC cases go over KMIP over HTTPS in their own encoding: replayed against a target
 * whose TLS port is closed, they can only pass through its HTTPS endpoint.
 */
import { expect } from 'chai';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { silentLogger } from '../lib/log.js';
import { configWith, initDataDir, startServer } from '../server/index.js';
import type { RunningServer } from '../server/index.js';
import { removeDir, tempDir } from '../test/server/helpers.js';
import { sharedPath } from '../test/support/paths.js';
import { describeCase } from './cases.js';
import { caseEncoding } from './https.js';
import { runSuite } from './runner.js';
import type { Target } from './runner.js';

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('conformance: MSGENC cases over KMIP over HTTPS', function () {
  this.timeout(60_000);
  let dir: string;
  let server: RunningServer | undefined;

  before(async function () {
    dir = await tempDir('msgenc');
    await initDataDir(dir);
  });

  after(async function () {
    await server?.destroy();
    await removeDir(dir);
  });

  it('the case name gives the encoding: HTTPS is TTLV, XML, JSON; other cases none', () => {
    expect(caseEncoding({ file: 'v2.1/mandatory/MSGENC-HTTPS-M-1-21.xml' })).to.equal('ttlv');
    expect(caseEncoding({ file: 'v1.4/mandatory/MSGENC-XML-M-1-14.xml' })).to.equal('xml');
    expect(caseEncoding({ file: 'v1.3/mandatory/MSGENC-JSON-M-1-13.xml' })).to.equal('json');
    expect(caseEncoding({ file: 'v2.1/mandatory/BL-M-1-21.xml' })).to.equal(undefined);
  });

  it('MSGENC-HTTPS, -XML and -JSON (KMIP 2.1) pass through the HTTPS endpoint alone', async () => {
    server = await startServer(configWith({ dir, port: 0, https: true, httpsPort: 0, interopTesting: true }), { log: silentLogger });
    const certs = join(dir, 'certs');
    const [ca, cert, key] = await Promise.all(['ca.pem', 'admin.pem', 'admin-key.pem'].map((name) => readFile(join(certs, name))));
    const target: Target = {
      host: '127.0.0.1',
      port: await closedPort(),
      tls: { ca: ca as Buffer, cert: cert as Buffer, key: key as Buffer },
      description: 'TLS port closed, HTTPS open',
      https: { host: '127.0.0.1', port: server.https?.port ?? 0 },
    };
    const folder = sharedPath('kmip-testcases');
    const cases = ['MSGENC-HTTPS-M-1-21.xml', 'MSGENC-XML-M-1-21.xml', 'MSGENC-JSON-M-1-21.xml'].map((name) => describeCase(`v2.1/mandatory/${name}`, join(folder, 'v2.1', 'mandatory', name)));
    const results = await runSuite({ cases, target, concurrency: 1 });
    expect(results.map((r) => `${r.case.file} ${r.status}${r.reason === undefined ? '' : ` ${r.reason}`}`)).to.deep.equal(cases.map((c) => `${c.file} pass`));
  });
});
