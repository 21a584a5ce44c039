/**
 * `import { KmipClient } from 'kmipd/client'`: the package's exports map leads to the built
 * library and its type declarations.
 */
import { execFile } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { projectRoot } from '../support/paths.js';
import { ensureBuilt } from '../server/built.js';

const run = promisify(execFile);

describe('the package exports kmipd/client', function () {
  this.timeout(180_000);

  it('a plain Node ESM import of kmipd/client gives KmipClient, requests and the error classes; index.d.ts types it', async () => {
    await ensureBuilt();
    const script = "const m = await import('kmipd/client'); console.log([typeof m.KmipClient.connect, typeof m.requests.create, typeof m.KmipOperationError, typeof m.KmipConnection].join(' '));";
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: projectRoot });
    expect(stdout.trim()).to.equal('function function function function');
    expect((await stat(join(projectRoot, 'dist', 'lib', 'client', 'index.d.ts'))).isFile()).to.equal(true);
  });
});
