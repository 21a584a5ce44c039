/**
 * The built kmipd (`dist/server/cli.js`) as a separate process: what `npm start` runs. This
 * guards against start-up failures that running the sources under tsx would hide
 * (TOOLCHAIN.md: ESM import shapes that type-check and then throw in real Node).
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdir, readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { projectRoot } from '../support/paths.js';
import { builtProcessFixture, kmipd } from './built.js';
import { TestClient, discoverVersions, eventually, listedVersions, pkiFiles } from './helpers.js';

describe('server: the built kmipd process', function () {
  this.timeout(60_000);
  const fixture = builtProcessFixture('process');

  it("the package's bins (kmipd, kmip) run as programs: executable, with a node shebang", async function () {
    const { bin } = JSON.parse(await readFile(join(projectRoot, 'package.json'), 'utf8')) as { bin: Record<string, string> };
    for (const [name, file] of Object.entries(bin)) {
      const { stdout } = await promisify(execFile)(join(projectRoot, file), ['--help']);
      expect(stdout, name).to.include(name);
    }
  });

  it('kmipd init creates the data folder; a second init exits 2 and says the folder is initialised', async function () {
    const dir = join(fixture.parent, 'data');
    const first = await kmipd(['init', '--dir', dir]);
    expect(first.code, first.stderr).to.equal(0);
    expect(first.stdout).to.include(`initialised ${dir}`);
    expect((await readdir(dir)).sort()).to.deep.equal(['certs', 'kek.key', 'kmipd.db']);
    const second = await kmipd(['init', '--dir', dir]);
    expect(second.code).to.equal(2);
    expect(second.stderr).to.match(/^kmipd: .* is already initialised .*refusing to overwrite it/);
  });

  it('serve on an empty folder initialises it, answers DiscoverVersions over mutual TLS, and exits 0 on SIGTERM', async function () {
    const dir = join(fixture.parent, 'data');
    await mkdir(dir);
    const running = await fixture.serve(['--dir', dir, '--port', '0']);
    expect(running.lines.map((l) => l.msg)).to.deep.equal(['data folder initialised', 'listening']);
    const listening = await running.line('listening');
    expect(Object.keys(listening)).to.deep.equal(['time', 'level', 'msg', 'host', 'port', 'dir']);
    expect(listening).to.include({ level: 'info', host: '127.0.0.1', dir });
    expect(running.port).to.be.a('number').above(0);

    const client = await TestClient.connect(running.port, pkiFiles(dir));
    expect(listedVersions(await client.call(discoverVersions()))).to.deep.equal(['2.1', '2.0', '1.4', '1.3', '1.2', '1.1', '1.0']);

    running.child.kill('SIGTERM');
    expect(await running.exited).to.deep.equal({ code: 0, signal: null });
    await client.closed;
    expect(running.lines.map((l) => l.msg)).to.include.members(['stopping', 'connection closed', 'stopped']);
  });

  it('serve with no --dir (what `npm start` runs) initialises and serves ./kmipd-data in the working directory', async function () {
    const running = await fixture.serve([], { cwd: fixture.parent, env: { KMIPD_PORT: '0' } });
    const dir = join(fixture.parent, 'kmipd-data');
    expect((await running.line('listening')).dir).to.equal(dir);
    const client = await TestClient.connect(running.port, pkiFiles(dir));
    expect(listedVersions(await client.call(discoverVersions(['1.4'])))).to.deep.equal(['1.4']);
    running.child.kill('SIGTERM');
    expect((await running.exited).code).to.equal(0);
  });

  it('kmipd certs client bob issues a certificate the running server accepts as bob', async function () {
    const dir = join(fixture.parent, 'data');
    expect((await kmipd(['init', '--dir', dir])).code).to.equal(0);
    const issued = await kmipd(['certs', 'client', 'bob'], { KMIPD_DIR: dir });
    expect(issued.code, issued.stderr).to.equal(0);
    expect(issued.stdout).to.include(join(dir, 'certs', 'bob.pem'));
    const running = await fixture.serve(['--dir', dir, '--port', '0']);
    const client = await TestClient.connect(running.port, pkiFiles(dir, 'bob'));
    await client.call(discoverVersions());
    expect((await running.line('connection opened')).identity).to.equal('bob');
    running.child.kill('SIGINT');
    expect((await running.exited).code).to.equal(0);
  });

  it('serve with invalid settings exits 2, lists every problem, and leaves the data folder alone', async function () {
    const dir = join(fixture.parent, 'data');
    const result = await kmipd(['serve', '--dir', dir, '--port', 'http'], { KMIPD_MAX_CONNECTIONS: '0' });
    expect(result.code).to.equal(2);
    expect(result.stderr).to.include('--port: "http" is not a whole number from 0 to 65535');
    expect(result.stderr).to.include('KMIPD_MAX_CONNECTIONS: "0" is not a whole number from 1 to 1000000');
    expect(await readdir(fixture.parent)).to.deep.equal([]);
  });

  it('a second signal exits at once, without waiting for connections to finish', async function () {
    const dir = join(fixture.parent, 'data');
    const running = await fixture.serve(['--dir', dir, '--port', '0']);
    const client = await TestClient.connect(running.port, pkiFiles(dir));
    await client.call(discoverVersions());
    // A client with an answer it has not read never sees the server's end of stream, so it
    // never closes its side, and the server waits for it.
    client.socket.pause();
    client.send(discoverVersions());
    await eventually(() => client.socket.readableLength > 0, 5000, 'the unread answer');
    running.child.kill('SIGTERM');
    await running.line('stopping');
    running.child.kill('SIGTERM');
    const exit = await running.exited;
    expect(exit.code, JSON.stringify(running.lines)).to.equal(143);
    expect(running.lines.map((l) => l.msg)).to.include('second signal: exiting without finishing');
    client.destroy();
  });
});
