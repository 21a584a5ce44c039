/**
 * A full disk (issue 7, Reliability): kmipd's data folder on a 2 MiB tmpfs. Writes past the
 * space are refused (General Failure), never acknowledged; the process stays up; once the
 * file system has room again, writes succeed without a restart, every acknowledged key is
 * still there with its material, and the audit chain verifies.
 *
 * Mounting a tmpfs needs root (CAP_SYS_ADMIN): without it the test is skipped and says so.
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { KmipClient, KmipOperationError } from '../../lib/client/index.js';
import { builtProcessFixture, kmipd } from '../server/built.js';
import type { Served } from '../server/built.js';

const run = promisify(execFile);

describe('reliability: a full disk', function () {
  this.timeout(120_000);
  const fixture = builtProcessFixture('disk-full');

  it('refuses writes while the data folder is full, keeps every acknowledged key, and writes again once there is room', async function () {
    const mountPoint = join(fixture.parent, 'small');
    await mkdir(mountPoint);
    try {
      await run('mount', ['-t', 'tmpfs', '-o', 'size=2m,mode=0700', 'tmpfs', mountPoint]);
    } catch (error) {
      console.log(`      (skipped: cannot mount a tmpfs here: ${(error as Error).message.split('\n')[0] ?? ''})`);
      this.skip();
    }
    let client: KmipClient | undefined;
    let running: Served | undefined;
    try {
      const dir = join(mountPoint, 'data');
      expect((await kmipd(['init', '--dir', dir])).code).to.equal(0);
      running = await fixture.serve(['--dir', dir, '--port', '0']);
      const certs = join(dir, 'certs');
      client = await KmipClient.connect({ host: '127.0.0.1', port: running.port, certFile: join(certs, 'admin.pem'), keyFile: join(certs, 'admin-key.pem'), caFile: join(certs, 'ca.pem') });

      const acknowledged = new Map<string, string>();
      const refusals: string[] = [];
      // Long names fill the 2 MiB sooner. Each key's material is read back while there is room
      // (a Get writes its audit record too: on a full disk it is refused as well).
      for (let i = 0; i < 5000 && refusals.length < 10; i++) {
        try {
          const { uniqueIdentifier } = await client.createSymmetricKey({ cryptographicAlgorithm: 'AES', cryptographicLength: 256, name: `key-${i}-${'n'.repeat(400)}` });
          acknowledged.set(uniqueIdentifier, '');
          acknowledged.set(uniqueIdentifier, (await client.get(uniqueIdentifier)).object.material?.bytes.toString('hex') ?? 'none');
        } catch (error) {
          if (!(error instanceof KmipOperationError)) throw error;
          refusals.push(`${error.resultReason}: ${error.message}`);
        }
      }
      expect(acknowledged.size, 'keys created before the disk filled').to.be.above(5);
      expect(refusals, 'writes refused once the disk is full').to.have.length(10);
      for (const refusal of refusals) expect(refusal).to.match(/^GeneralFailure: /);
      expect(running.child.exitCode, 'kmipd still running').to.equal(null);

      await run('mount', ['-o', 'remount,size=64m', mountPoint]);
      // Room again: a write succeeds without a restart, and nothing acknowledged was lost.
      const after = await client.createSymmetricKey({ cryptographicAlgorithm: 'AES', cryptographicLength: 256 });
      expect(after.uniqueIdentifier).to.be.a('string');
      for (const [id, material] of acknowledged) {
        const got = await client.get(id);
        expect(got.object.objectType, id).to.equal('SymmetricKey');
        // The key whose Get was refused has no material on record; the others' is unchanged.
        if (material !== '') expect(got.object.material?.bytes.toString('hex'), id).to.equal(material);
      }
      running.child.kill('SIGTERM');
      expect(await running.exited).to.deep.equal({ code: 0, signal: null });
      const verify = await kmipd(['audit', 'verify', '--dir', dir]);
      expect(verify.code, verify.stderr).to.equal(0);
      expect(verify.stdout).to.match(/audit chain intact/);
    } finally {
      await client?.close();
      if (running !== undefined && running.child.exitCode === null && running.child.signalCode === null) {
        running.child.kill('SIGKILL');
        await running.exited;
      }
      await run('umount', [mountPoint]);
    }
  });
});
