/**
 * The optional KMIP Credential (issue 6, `requireCredential`), over a real TLS server with a
 * real users file: a request must carry the Username and Password of a user that may log in
 * through its client certificate, and then acts as that user; anything else answers
 * Authentication Not Successful for every batch item, audited and logged without the
 * password. Changes of the users file take effect on open connections; its mode is checked;
 * the `kmipd users` commands are tested in users-cli.test.ts.
 */
import { expect } from 'chai';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { Enum, Mask, Tag, decodeTtlv, encodeTtlv } from '../../ttlv/index.js';
import type { TtlvItem } from '../../ttlv/index.js';
import { openSqliteAuditReader } from '../../lib/audit/index.js';
import type { StoredRecord } from '../../lib/audit/index.js';
import { jsonLogger } from '../../lib/log.js';
import type { RunningServer } from '../../server/index.js';
import { configWith, initDataDir, issueClient, startServer } from '../../server/index.js';
import { addUser, changePassword, removeUser, setIdentities } from '../../server/users-command.js';
import { LogCapture, TestClient, delay, pkiFiles, removeDir, tempDir } from '../server/helpers.js';

// ---------------------------------------------------------------------------------------
// Requests, built as plain TTLV items

const struct = (tag: number, value: TtlvItem[]): TtlvItem => ({ tag, type: 'Structure', value });
const int = (tag: number, value: number): TtlvItem => ({ tag, type: 'Integer', value });
const enumeration = (tag: number, value: number): TtlvItem => ({ tag, type: 'Enumeration', value });
const text = (tag: number, value: string): TtlvItem => ({ tag, type: 'TextString', value });

/** Credential { Credential Type: Username and Password, Credential Value { Username, [Password] } }. */
function credential(username: string, password?: string): TtlvItem {
  return struct(Tag.Credential, [
    enumeration(Tag.CredentialType, Enum.CredentialType.UsernameAndPassword),
    struct(Tag.CredentialValue, [text(Tag.Username, username), ...(password === undefined ? [] : [text(Tag.Password, password)])]),
  ]);
}

interface Item {
  readonly operation: number;
  readonly payload: TtlvItem[];
}

/** A request message (2.1 unless said) whose header carries `credentials` in Authentication (none: no Authentication). */
function message(items: readonly Item[], credentials: readonly TtlvItem[] | undefined, version: [number, number] = [2, 1]): Buffer {
  return encodeTtlv(
    struct(Tag.RequestMessage, [
      struct(Tag.RequestHeader, [
        struct(Tag.ProtocolVersion, [int(Tag.ProtocolVersionMajor, version[0]), int(Tag.ProtocolVersionMinor, version[1])]),
        ...(credentials === undefined ? [] : [struct(Tag.Authentication, [...credentials])]),
        int(Tag.BatchCount, items.length),
      ]),
      ...items.map((item, i) =>
        struct(Tag.BatchItem, [
          enumeration(Tag.Operation, item.operation),
          ...(items.length > 1 ? [{ tag: Tag.UniqueBatchItemID, type: 'ByteString' as const, value: Buffer.from([i + 1]) }] : []),
          struct(Tag.RequestPayload, item.payload),
        ]),
      ),
    ]),
  );
}

const query: Item = { operation: Enum.Operation.Query, payload: [enumeration(Tag.QueryFunction, Enum.QueryFunction.QueryOperations)] };
const discover: Item = { operation: Enum.Operation.DiscoverVersions, payload: [] };
const createAes: Item = {
  operation: Enum.Operation.Create,
  payload: [
    enumeration(Tag.ObjectType, Enum.ObjectType.SymmetricKey),
    struct(Tag.Attributes, [
      enumeration(Tag.CryptographicAlgorithm, Enum.CryptographicAlgorithm.AES),
      int(Tag.CryptographicLength, 256),
      int(Tag.CryptographicUsageMask, Mask.CryptographicUsageMask.Encrypt | Mask.CryptographicUsageMask.Decrypt),
    ]),
  ],
};
const get = (id: string): Item => ({ operation: Enum.Operation.Get, payload: [text(Tag.UniqueIdentifier, id)] });

// ---------------------------------------------------------------------------------------
// Responses

interface Result {
  readonly status: number;
  readonly reason: number | undefined;
  readonly message: string | undefined;
  readonly payload: TtlvItem | undefined;
}

const childOf = (item: TtlvItem, tag: number): TtlvItem | undefined => (item.type === 'Structure' ? item.value.find((c) => c.tag === tag) : undefined);

/** Every batch item's result, in order. */
function results(bytes: Buffer): Result[] {
  const response = decodeTtlv(bytes);
  if (response.type !== 'Structure') throw new Error('not a structure');
  return response.value
    .filter((c) => c.tag === Tag.BatchItem)
    .map((item) => ({
      status: childOf(item, Tag.ResultStatus)?.value as number,
      reason: childOf(item, Tag.ResultReason)?.value as number | undefined,
      message: childOf(item, Tag.ResultMessage)?.value as string | undefined,
      payload: childOf(item, Tag.ResponsePayload),
    }));
}

function only(bytes: Buffer): Result {
  const [result, ...more] = results(bytes);
  if (result === undefined || more.length > 0) throw new Error(`expected one batch item, got ${more.length + (result === undefined ? 0 : 1)}`);
  return result;
}

function createdId(bytes: Buffer): string {
  const result = only(bytes);
  expect(result.status, result.message).to.equal(Enum.ResultStatus.Success);
  return childOf(result.payload as TtlvItem, Tag.UniqueIdentifier)?.value as string;
}

const SUCCESS = Enum.ResultStatus.Success;
const NOT_AUTHENTICATED = Enum.ResultReason.AuthenticationNotSuccessful;

// ---------------------------------------------------------------------------------------

/** Every audit record of the SQLite database at `database`. */
async function auditRecordsOf(database: string): Promise<StoredRecord[]> {
  const reader = openSqliteAuditReader(database);
  try {
    return await reader.records(0, 1_000_000);
  } finally {
    await reader.close();
  }
}

const PASSWORD = 'correct horse battery staple';
const CAROL_PASSWORD = 'carol-passphrase-2024';

function passwordFile(dir: string, name: string, content: string): Promise<string> {
  const path = join(dir, `${name}.pw`);
  return writeFile(path, content, { mode: 0o600 }).then(() => path);
}

describe('KMIP Credential (issue 6): Username and Password besides the client certificate', function () {
  this.timeout(60_000);
  let dir: string;
  let usersFile: string;
  let server: RunningServer | undefined;
  let logs: LogCapture;
  const clients: TestClient[] = [];

  before(async () => {
    dir = await tempDir('credentials');
    await initDataDir(dir);
    await issueClient(dir, 'alice');
    await issueClient(dir, 'bob');
    usersFile = join(dir, 'users.json');
    // svc logs in through alice's or bob's certificate; carol only through the admin certificate.
    await addUser(usersFile, 'svc', ['alice,bob'], { passwordFile: await passwordFile(dir, 'svc', `${PASSWORD}\n`) });
    await addUser(usersFile, 'carol', ['admin'], { passwordFile: await passwordFile(dir, 'carol', CAROL_PASSWORD) });
  });
  after(async () => {
    await removeDir(dir);
  });
  afterEach(async () => {
    for (const client of clients.splice(0)) client.destroy();
    await server?.destroy();
    server = undefined;
  });

  const start = async (settings: Parameters<typeof configWith>[0] = { requireCredential: true }): Promise<RunningServer> => {
    logs = new LogCapture();
    server = await startServer(configWith({ dir, host: '127.0.0.1', port: 0, ...settings }), { log: jsonLogger(logs, 'debug') });
    return server;
  };
  const connect = async (running: RunningServer, certificate: string): Promise<TestClient> => {
    const client = await TestClient.connect(running.port, pkiFiles(dir, certificate));
    clients.push(client);
    return client;
  };
  const auditRecords = (running: RunningServer): Promise<StoredRecord[]> => auditRecordsOf(running.paths.database);

  it('required: the right Username and Password is served and the request acts as that user, not as the certificate', async () => {
    const running = await start();
    const alice = await connect(running, 'alice');
    const id = createdId(await alice.call(message([createAes], [credential('svc', PASSWORD)])));
    const created = logs.find('operation').find((line) => line.operation === 'Create');
    expect(created).to.deep.include({ identity: 'svc', certificate: 'alice', status: 'Success' });

    // The owner is the user: svc through bob's certificate gets the key...
    const bob = await connect(running, 'bob');
    expect(only(await bob.call(message([get(id)], [credential('svc', PASSWORD)]))).status).to.equal(SUCCESS);
    // ...carol through the administrators' certificate is carol, not an administrator.
    const admin = await connect(running, 'admin');
    const carol = only(await admin.call(message([get(id)], [credential('carol', CAROL_PASSWORD)])));
    expect(carol.reason).to.equal(Enum.ResultReason.PermissionDenied);
  });

  it('wrong password, unknown user, no Credential, an empty one, no Password, a user not allowed through this certificate: Authentication Not Successful for every item, audited, logged without the password', async () => {
    const running = await start();
    const alice = await connect(running, 'alice');
    const admin = await connect(running, 'admin');
    const cases: { name: string; client: TestClient; credentials: TtlvItem[] | undefined; reason: RegExp }[] = [
      { name: 'wrong password', client: alice, credentials: [credential('svc', 'Tr0ub4dor&3-wrong')], reason: /wrong password/ },
      { name: 'unknown user', client: alice, credentials: [credential('mallory', 'Tr0ub4dor&3-mallory')], reason: /unknown user/ },
      { name: 'no Credential', client: alice, credentials: undefined, reason: /no Credential/ },
      { name: 'empty Credential (PyKMIP)', client: alice, credentials: [credential('', '')], reason: /unknown user/ },
      { name: 'no Password', client: alice, credentials: [credential('svc')], reason: /no Password/ },
      { name: 'not through this certificate', client: admin, credentials: [credential('svc', PASSWORD)], reason: /may not log in through certificate identity admin/ },
    ];
    for (const { name, client, credentials, reason } of cases) {
      const answered = results(await client.call(message([query, discover], credentials)));
      expect(answered.map((r) => [r.status, r.reason]), name).to.deep.equal([
        [Enum.ResultStatus.OperationFailed, NOT_AUTHENTICATED],
        [Enum.ResultStatus.OperationFailed, NOT_AUTHENTICATED],
      ]);
      expect(logs.find('authentication failed').some((line) => reason.test(String(line.reason))), `${name}: the log says why`).to.equal(true);
    }
    // The same connection is still served with the right credential.
    expect(only(await alice.call(message([query], [credential('svc', PASSWORD)]))).status).to.equal(SUCCESS);

    const records = (await auditRecords(running)).filter((record) => record.reason === 'AuthenticationNotSuccessful');
    expect(records).to.have.length(2 * cases.length);
    expect(records.map((record) => record.operation)).to.include.members(['Query', 'DiscoverVersions']);
    expect(new Set(records.map((record) => record.identity))).to.deep.equal(new Set(['alice', 'admin']));
    const logged = JSON.stringify(logs.lines);
    for (const secret of [PASSWORD, 'Tr0ub4dor&3-wrong', 'Tr0ub4dor&3-mallory']) expect(logged).to.not.include(secret);
  });

  it('several Credentials: the one Username and Password is used (1.2+); two of them are refused', async () => {
    const running = await start();
    const alice = await connect(running, 'alice');
    const device = struct(Tag.Credential, [enumeration(Tag.CredentialType, Enum.CredentialType.Device), struct(Tag.CredentialValue, [text(Tag.DeviceSerialNumber, 'SN-1')])]);
    expect(only(await alice.call(message([query], [device, credential('svc', PASSWORD)], [1, 4]))).status).to.equal(SUCCESS);
    expect(only(await alice.call(message([query], [credential('svc', PASSWORD), credential('svc', PASSWORD)]))).reason).to.equal(NOT_AUTHENTICATED);
    expect(only(await alice.call(message([query], [device]))).reason).to.equal(NOT_AUTHENTICATED);
  });

  it('a pipelining client pays one scrypt verification per connection and credential', async () => {
    const running = await start();
    const alice = await connect(running, 'alice');
    const request = message([query], [credential('svc', PASSWORD)]);
    for (let i = 0; i < 12; i++) alice.send(request);
    for (let i = 1; i <= 12; i++) expect(only(await alice.response(i, 15_000)).status).to.equal(SUCCESS);
    const verified = (): number => logs.find('credential verified').filter((line) => line.username === 'svc').length;
    expect(verified()).to.equal(1);
    const bob = await connect(running, 'bob');
    expect(only(await bob.call(request)).status).to.equal(SUCCESS);
    expect(verified()).to.equal(2);
  });

  it('the users file is read again when it changes: a new password, new identities and a removal take effect on open connections', async () => {
    const running = await start();
    const alice = await connect(running, 'alice');
    const admin = await connect(running, 'admin');
    expect(only(await alice.call(message([query], [credential('svc', PASSWORD)]))).status).to.equal(SUCCESS);

    await changePassword(usersFile, 'svc', { passwordFile: await passwordFile(dir, 'svc-new', 'a brand new passphrase') });
    await delay(1100);
    expect(only(await alice.call(message([query], [credential('svc', PASSWORD)]))).reason, 'the old password').to.equal(NOT_AUTHENTICATED);
    expect(only(await alice.call(message([query], [credential('svc', 'a brand new passphrase')]))).status, 'the new password').to.equal(SUCCESS);
    expect(logs.find('users reloaded')).to.have.length.greaterThan(0);

    await setIdentities(usersFile, 'svc', ['admin']);
    await delay(1100);
    expect(only(await alice.call(message([query], [credential('svc', 'a brand new passphrase')]))).reason, 'no longer through alice').to.equal(NOT_AUTHENTICATED);
    expect(only(await admin.call(message([query], [credential('svc', 'a brand new passphrase')]))).status, 'now through admin').to.equal(SUCCESS);

    await removeUser(usersFile, 'svc');
    await delay(1100);
    expect(only(await admin.call(message([query], [credential('svc', 'a brand new passphrase')]))).reason, 'removed').to.equal(NOT_AUTHENTICATED);

    // Put svc back as it was for the other tests.
    await addUser(usersFile, 'svc', ['alice', 'bob'], { passwordFile: await passwordFile(dir, 'svc', PASSWORD) });
  });

  it('the users file must be private: refused at start when others may read it or when it is missing; opened up later, the previous users stay', async () => {
    await chmod(usersFile, 0o644);
    try {
      await start().then(
        () => expect.fail('started with a users file of mode 0644'),
        (error: Error) => expect(error.message).to.include('chmod 600'),
      );
    } finally {
      await chmod(usersFile, 0o600);
    }
    await start({ requireCredential: true, usersFile: join(dir, 'absent.json') }).then(
      () => expect.fail('started without a users file'),
      (error: Error) => expect(error.message).to.match(/does not exist.*kmipd users add/),
    );

    const running = await start();
    const alice = await connect(running, 'alice');
    expect(only(await alice.call(message([query], [credential('svc', PASSWORD)]))).status).to.equal(SUCCESS);
    const content = await readFile(usersFile);
    await writeFile(usersFile, content);
    await chmod(usersFile, 0o644);
    try {
      await delay(1100);
      expect(only(await alice.call(message([query], [credential('svc', PASSWORD)]))).status).to.equal(SUCCESS);
      expect(logs.find('users file not reloaded: the previous users stay in force').some((line) => String(line.error).includes('chmod 600'))).to.equal(true);
    } finally {
      await chmod(usersFile, 0o600);
    }
  });

  it('not required (the default): an empty Credential (PyKMIP) and any other are not checked; the certificate acts', async () => {
    const running = await start({});
    const alice = await connect(running, 'alice');
    expect(only(await alice.call(message([createAes], [credential('', '')]))).status).to.equal(SUCCESS);
    expect(only(await alice.call(message([query], [credential('svc', 'not the password')]))).status).to.equal(SUCCESS);
    expect(only(await alice.call(message([query], undefined))).status).to.equal(SUCCESS);
    expect(logs.find('operation').find((line) => line.operation === 'Create')).to.deep.include({ identity: 'alice' });
    expect(logs.find('authentication failed')).to.have.length(0);
  });
});

// ---------------------------------------------------------------------------------------
// Lockout after failed logins (credentialLockout* settings)

/** GET /metrics of the admin endpoint. */
function scrape(port: number): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path: '/metrics' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
    req.end();
  });
}

/** The value of the sample `name{label="value"}` (a counter not yet counted: 0). */
function sampleOf(metrics: string, name: string, label: string, value: string): number {
  const line = metrics.split('\n').find((l) => l.startsWith(`${name}{${label}="${value}"} `));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe('KMIP Credential: failed logins lock the user name, or the certificate identity, out', function () {
  this.timeout(60_000);
  let dir: string;
  let server: RunningServer | undefined;
  let logs: LogCapture;
  const clients: TestClient[] = [];
  /** The server's clock (POSIX seconds): the tests move it past a lockout. */
  let now: bigint;

  before(async () => {
    dir = await tempDir('credential-lockout');
    await initDataDir(dir);
    await issueClient(dir, 'alice');
    await issueClient(dir, 'bob');
    const usersFile = join(dir, 'users.json');
    await addUser(usersFile, 'svc', ['alice,bob'], { passwordFile: await passwordFile(dir, 'svc', PASSWORD) });
    await addUser(usersFile, 'ops', ['alice'], { passwordFile: await passwordFile(dir, 'ops', CAROL_PASSWORD) });
  });
  after(async () => {
    await removeDir(dir);
  });
  afterEach(async () => {
    for (const client of clients.splice(0)) client.destroy();
    await server?.destroy();
    server = undefined;
  });

  const start = async (settings: Parameters<typeof configWith>[0] = {}): Promise<RunningServer> => {
    logs = new LogCapture();
    now = BigInt(Math.floor(Date.now() / 1000));
    const config = configWith({ dir, host: '127.0.0.1', port: 0, admin: true, adminPort: 0, requireCredential: true, ...settings });
    server = await startServer(config, { log: jsonLogger(logs, 'debug'), clock: () => now });
    return server;
  };
  const connect = async (running: RunningServer, certificate: string): Promise<TestClient> => {
    const client = await TestClient.connect(running.port, pkiFiles(dir, certificate));
    clients.push(client);
    return client;
  };
  const login = async (client: TestClient, username: string, password: string): Promise<Result> => only(await client.call(message([query], [credential(username, password)])));
  /** The credential counters of the running server's /metrics. */
  const counters = async (running: RunningServer): Promise<{ verified: number; accepted: number; lockouts: number; lockedRefusals: number; identityRefusals: number }> => {
    const text = await scrape(running.admin?.port ?? 0);
    const rejected = sampleOf(text, 'kmipd_credential_verifications_total', 'result', 'rejected');
    const accepted = sampleOf(text, 'kmipd_credential_verifications_total', 'result', 'accepted');
    return {
      verified: rejected + accepted,
      accepted,
      lockouts: sampleOf(text, 'kmipd_credential_lockouts_total', 'scope', 'user') + sampleOf(text, 'kmipd_credential_lockouts_total', 'scope', 'identity'),
      lockedRefusals: sampleOf(text, 'kmipd_credential_locked_refusals_total', 'scope', 'user'),
      identityRefusals: sampleOf(text, 'kmipd_credential_locked_refusals_total', 'scope', 'identity'),
    };
  };

  it('the defaults: 5 wrong passwords lock the name out for 60 s, from every certificate, even with the right password and without scrypt; another user is unaffected; then the right password works', async () => {
    const running = await start();
    const alice = await connect(running, 'alice');
    const bob = await connect(running, 'bob');
    const wrong: Result[] = [];
    for (let i = 1; i <= 5; i++) wrong.push(await login(alice, 'svc', `wrong guess ${i}`));
    expect(wrong.map((r) => r.reason)).to.deep.equal(Array(5).fill(NOT_AUTHENTICATED));
    expect(await counters(running)).to.deep.include({ verified: 5, accepted: 0, lockouts: 1, lockedRefusals: 0 });
    expect(logs.find('credential lockout')).to.have.length(1);
    expect(logs.find('credential lockout')[0]).to.deep.include({ scope: 'user', username: '"svc"', identity: 'alice', seconds: 60 });

    // Locked out: the right password, through alice or through bob, answered as a wrong password is.
    const locked = [await login(alice, 'svc', PASSWORD), await login(bob, 'svc', PASSWORD), await login(bob, 'svc', 'wrong guess 6')];
    for (const result of locked) expect(result).to.deep.equal({ status: Enum.ResultStatus.OperationFailed, reason: NOT_AUTHENTICATED, message: wrong[0]?.message, payload: undefined });
    expect(await counters(running), 'no scrypt ran for a locked-out login').to.deep.include({ verified: 5, lockedRefusals: 3 });
    expect(logs.find('authentication failed').filter((line) => /user "svc" is locked out for 60 s more/.test(String(line.reason)))).to.have.length(3);
    const audited = (await auditRecordsOf(running.paths.database)).filter((record) => record.reason === 'AuthenticationNotSuccessful');
    expect(audited.map((record) => record.identity)).to.deep.equal(['alice', 'alice', 'alice', 'alice', 'alice', 'alice', 'bob', 'bob']);

    // Another user name through the same certificate is served.
    expect((await login(alice, 'ops', CAROL_PASSWORD)).status).to.equal(SUCCESS);

    now += 59n;
    expect((await login(alice, 'svc', PASSWORD)).reason, 'one second before the end').to.equal(NOT_AUTHENTICATED);
    now += 1n;
    expect((await login(alice, 'svc', PASSWORD)).status, 'at the end').to.equal(SUCCESS);
    expect(await counters(running)).to.deep.include({ verified: 7, accepted: 2, lockedRefusals: 4 });
  });

  it('the next lockout in a row lasts twice as long; names that do not exist lock out alike', async () => {
    const running = await start({ credentialLockoutFailures: 2, credentialLockoutSeconds: 10 });
    const alice = await connect(running, 'alice');
    for (const username of ['svc', 'nobody']) {
      for (let round = 1; round <= 2; round++) {
        await login(alice, username, `guess ${round}a`);
        await login(alice, username, `guess ${round}b`);
        const seconds = round === 1 ? 10n : 20n;
        now += seconds - 1n;
        await login(alice, username, `guess ${round}c`);
        expect(logs.find('authentication failed').at(-1)?.reason, `${username}, lockout ${round}`).to.match(/is locked out for 1 s more/);
        now += 1n;
      }
    }
    expect(logs.find('credential lockout').map((line) => [line.username, line.seconds])).to.deep.equal([
      ['"svc"', 10],
      ['"svc"', 20],
      ['"nobody"', 10],
      ['"nobody"', 20],
    ]);
    expect((await login(alice, 'svc', PASSWORD)).status).to.equal(SUCCESS);
  });

  it('a burst of guesses on 14 connections at once stops at the lockout: guesses that queued for a verification behind it run no scrypt', async () => {
    const running = await start();
    // A connection answers in order, one request at a time: the burst comes from many connections.
    const guessers = await Promise.all(Array.from({ length: 14 }, (_, i) => connect(running, i % 2 === 0 ? 'alice' : 'bob')));
    guessers.forEach((client, i) => client.send(message([query], [credential('svc', `concurrent guess ${i}`)])));
    for (const client of guessers) expect(only(await client.response(1, 30_000)).reason).to.equal(NOT_AUTHENTICATED);
    const { verified, lockedRefusals } = await counters(running);
    // Two verifications run at once: the one beside the fifth may still finish.
    expect(verified).to.be.within(5, 6);
    expect(verified + lockedRefusals).to.equal(14);
  });

  it('one certificate guessing many names is locked out for every name; another certificate is not; a connection already logged in keeps its session', async () => {
    const running = await start({ credentialSourceLockoutFailures: 4 });
    const alice = await connect(running, 'alice');
    const bob = await connect(running, 'bob');
    expect((await login(alice, 'ops', CAROL_PASSWORD)).status).to.equal(SUCCESS);
    for (const name of ['root', 'admin', 'backup', 'kmip']) expect((await login(alice, name, 'Winter2024!')).reason).to.equal(NOT_AUTHENTICATED);
    expect(logs.find('credential lockout')[0]).to.deep.include({ scope: 'identity', identity: 'alice', seconds: 60 });

    expect((await login(alice, 'svc', PASSWORD)).reason, 'svc through alice').to.equal(NOT_AUTHENTICATED);
    const fresh = await connect(running, 'alice');
    expect((await login(fresh, 'ops', CAROL_PASSWORD)).reason, 'ops on a new connection through alice').to.equal(NOT_AUTHENTICATED);
    expect((await login(alice, 'ops', CAROL_PASSWORD)).status, 'ops, already verified on this connection').to.equal(SUCCESS);
    expect((await login(bob, 'svc', PASSWORD)).status, 'svc through bob').to.equal(SUCCESS);
    expect(await counters(running)).to.deep.include({ verified: 6, identityRefusals: 2 });
  });
});
