/** The configuration schema: defaults, precedence, validation, and the generated reference. */
import { expect } from 'chai';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError, SETTINGS, SETTING_KEYS, configReference, configWith, loadConfig, resolveConfig } from '../../server/config.js';
import { projectRoot } from '../support/paths.js';
import { removeDir, tempDir } from './helpers.js';

function problemsOf(run: () => unknown): readonly string[] {
  try {
    run();
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('server: configuration', function () {
  it('defaults every limit safely', function () {
    const { config } = resolveConfig({});
    expect(config).to.deep.include({
      dir: './kmipd-data',
      host: '127.0.0.1',
      port: 5696,
      logLevel: 'info',
      tlsMinVersion: 'TLSv1.2',
      identitySource: 'subject-cn',
      maxMessageSize: 1024 * 1024,
      maxBatchItems: 64,
      maxDepth: 32,
      maxConnections: 1000,
      idleTimeoutSeconds: 300,
      handshakeTimeoutSeconds: 10,
      maxPendingRequestsPerConnection: 16,
      locateMaxItems: 1000,
      shutdownTimeoutSeconds: 30,
    });
    expect(config.adminIdentities).to.deep.equal(['admin']);
    expect(config.tlsCertFile).to.equal(undefined);
  });

  it('maxBufferedBytes (256 MiB by default) holds at least the largest request: maxMessageSize, and 4 × maxMessageSize with https on', function () {
    const mib = 1024 * 1024;
    expect(configWith({}).maxBufferedBytes).to.equal(256 * mib);
    expect(problemsOf(() => configWith({ maxBufferedBytes: mib - 1 }))).to.deep.equal([`maxBufferedBytes (${mib - 1}) is below maxMessageSize (${mib}): a request of the largest size could never be read`]);
    expect(configWith({ maxBufferedBytes: mib }).maxBufferedBytes).to.equal(mib);
    expect(problemsOf(() => resolveConfig({ env: { KMIPD_HTTPS: 'true', KMIPD_MAX_BUFFERED_BYTES: String(4 * mib - 1) } }))).to.deep.equal([
      `maxBufferedBytes (${4 * mib - 1}) is below 4 × maxMessageSize (${4 * mib}), the largest XML or JSON body of the HTTPS binding (https is on)`,
    ]);
    expect(configWith({ https: true, maxBufferedBytes: 4 * mib }).maxBufferedBytes).to.equal(4 * mib);
  });

  it('takes flags over the environment, the environment over the file, the file over the defaults', function () {
    const { config } = resolveConfig({
      file: { path: 'kmipd.json', values: { port: 1111, host: '10.0.0.1', maxConnections: 7, logLevel: 'warn' } },
      env: { KMIPD_PORT: '2222', KMIPD_HOST: '10.0.0.2' },
      flags: { port: '3333' },
    });
    expect(config.port).to.equal(3333);
    expect(config.host).to.equal('10.0.0.2');
    expect(config.maxConnections).to.equal(7);
    expect(config.logLevel).to.equal('warn');
    expect(config.maxBatchItems).to.equal(64);
  });

  it('reports every bad value at once, each naming the flag, variable or file key it came from', function () {
    const problems = problemsOf(() =>
      resolveConfig({
        file: { path: 'kmipd.json', values: { maxConnections: 0, adminIdentities: 'admin' } },
        env: { KMIPD_PORT: 'http', KMIPD_LOG_LEVEL: 'verbose' },
        flags: { idleTimeoutSeconds: '1.5' },
      }),
    );
    expect(problems).to.deep.equal([
      'KMIPD_PORT: "http" is not a whole number from 0 to 65535',
      'KMIPD_LOG_LEVEL: "verbose" is not one of "debug", "info", "warn", "error"',
      'kmipd.json: "adminIdentities": "admin" is not an array of strings',
      'kmipd.json: "maxConnections": 0 is not a whole number from 1 to 1000000',
      '--idle-timeout-seconds: "1.5" is not a whole number from 1 to 86400',
    ]);
  });

  it('refuses an unknown key in the configuration file, suggesting the setting meant', function () {
    const problems = problemsOf(() => resolveConfig({ file: { path: 'kmipd.json', values: { maxConections: 5, color: 'blue' } } }));
    expect(problems).to.deep.equal(['kmipd.json: unknown setting "maxConections" (did you mean "maxConnections"?)', 'kmipd.json: unknown setting "color"']);
    expect(problemsOf(() => resolveConfig({ file: { path: 'kmipd.json', values: [1, 2] } }))).to.deep.equal(['kmipd.json: the configuration file must hold a JSON object of settings']);
  });

  it('reads lists as JSON arrays in the file and comma-separated text in the environment and flags', function () {
    expect(resolveConfig({ file: { path: 'f', values: { adminIdentities: ['alice', 'bob'] } } }).config.adminIdentities).to.deep.equal(['alice', 'bob']);
    expect(resolveConfig({ env: { KMIPD_ADMIN_IDENTITIES: 'alice, bob,carol' } }).config.adminIdentities).to.deep.equal(['alice', 'bob', 'carol']);
    expect(resolveConfig({ flags: { adminIdentities: '' } }).config.adminIdentities).to.deep.equal([]);
    expect(problemsOf(() => resolveConfig({ env: { KMIPD_ADMIN_IDENTITIES: 'alice,,bob' } }))).to.deep.equal(['KMIPD_ADMIN_IDENTITIES: "" is not a name (empty, or spaces around it)']);
  });

  it('warns about, and ignores, a KMIPD_ variable that is no setting', function () {
    const { config, warnings } = resolveConfig({ env: { KMIPD_PROT: '1', KMIPD_CONFIG: 'x.json', HOME: '/root' } });
    expect(config.port).to.equal(5696);
    expect(warnings).to.deep.equal(['environment variable KMIPD_PROT is not a kmipd setting (ignored)']);
  });

  it('checks typed values from code the same way (configWith)', function () {
    expect(configWith({ port: 0, dir: '/tmp/x' })).to.include({ port: 0, dir: '/tmp/x' });
    expect(problemsOf(() => configWith({ maxDepth: 1000 }))).to.deep.equal(['maxDepth: 1000 is not a whole number from 8 to 256']);
  });

  it('names every setting once in every source, and documents each', function () {
    const flags = SETTING_KEYS.map((key) => SETTINGS[key].flag);
    const envs = SETTING_KEYS.map((key) => SETTINGS[key].env);
    expect(new Set(flags).size).to.equal(SETTING_KEYS.length);
    expect(new Set(envs).size).to.equal(SETTING_KEYS.length);
    for (const key of SETTING_KEYS) {
      expect(SETTINGS[key].env, key).to.match(/^KMIPD_[A-Z0-9_]+$/);
      expect(SETTINGS[key].env, key).to.equal(`KMIPD_${SETTINGS[key].flag.toUpperCase().replace(/-/g, '_')}`);
      expect(SETTINGS[key].describe, key).to.match(/\.$/);
    }
  });

  describe('loadConfig', function () {
    let dir: string;
    before(async function () {
      dir = await tempDir('config');
    });
    after(async function () {
      await removeDir(dir);
    });

    it('reads the --config file, or the one KMIPD_CONFIG names', async function () {
      const file = join(dir, 'kmipd.json');
      await writeFile(file, JSON.stringify({ port: 7000, adminIdentities: ['ops'] }));
      expect((await loadConfig({ configFile: file, env: {} })).config).to.include({ port: 7000 });
      const viaEnv = await loadConfig({ env: { KMIPD_CONFIG: file, KMIPD_PORT: '7001' } });
      expect(viaEnv.config.port).to.equal(7001);
      expect(viaEnv.config.adminIdentities).to.deep.equal(['ops']);
    });

    it('says so when the file cannot be read or is not JSON', async function () {
      const missing = join(dir, 'missing.json');
      const broken = join(dir, 'broken.json');
      await writeFile(broken, '{ "port": 5696,');
      const failure = async (configFile: string): Promise<string> => {
        const error = await loadConfig({ configFile, env: {} }).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(error).to.be.instanceOf(ConfigError);
        return (error as ConfigError).problems.join('\n');
      };
      expect(await failure(missing)).to.match(/^cannot read the configuration file .*missing\.json: ENOENT/);
      expect(await failure(broken)).to.match(/broken\.json is not valid JSON/);
    });
  });

  it('docs/configuration.md is the reference generated from the schema (tsx server/config-doc.ts)', async function () {
    const committed = await readFile(join(projectRoot, 'docs', 'configuration.md'), 'utf8');
    expect(committed).to.equal(configReference());
    for (const key of SETTING_KEYS) expect(committed).to.include(`| \`${key}\` | \`--${SETTINGS[key].flag}\` | \`${SETTINGS[key].env}\` |`);
  });
});
