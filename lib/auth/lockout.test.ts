/**
 * Lockout after failed logins (lib/auth/lockout.ts): the count, the growing lockouts, the
 * quiet window that forgets, and tables that stay bounded under a flood of made-up names.
 * The server's use of it, over TLS, is tested in test/auth/credentials.test.ts.
 */
import { expect } from 'chai';
import { LoginLockout } from './lockout.js';
import type { LockoutPolicy } from './lockout.js';

const POLICY: LockoutPolicy = { failures: 3, sourceFailures: 10, lockoutMs: 60_000, maxLockoutMs: 200_000, windowMs: 900_000, maxEntries: 100 };

function lockoutAt(policy: LockoutPolicy = POLICY): { lockout: LoginLockout; move: (ms: number) => void } {
  let now = 1_700_000_000_000;
  return { lockout: new LoginLockout(policy, () => now), move: (ms) => (now += ms) };
}

describe('login lockout', () => {
  it('the third failure in a row locks the name out for 60 s, from every certificate; a success before it clears the count', () => {
    const { lockout, move } = lockoutAt();
    expect(lockout.failed('svc', 'alice')).to.deep.equal([]);
    lockout.succeeded('svc');
    expect(lockout.failed('svc', 'alice')).to.deep.equal([]);
    expect(lockout.failed('svc', 'bob')).to.deep.equal([]);
    expect(lockout.refusal('svc', 'carol')).to.equal(undefined);
    expect(lockout.failed('svc', 'alice')).to.deep.equal([{ scope: 'user', ms: 60_000, count: 1 }]);
    expect(lockout.refusal('svc', 'carol')).to.deep.equal({ scope: 'user', ms: 60_000, count: 1 });
    expect(lockout.refusal('ops', 'alice')).to.equal(undefined);
    move(59_000);
    expect(lockout.refusal('svc', 'alice')?.ms).to.equal(1_000);
    move(1_000);
    expect(lockout.refusal('svc', 'alice')).to.equal(undefined);
  });

  it('each further lockout in a row lasts twice as long, up to the maximum; a quiet window forgets them', () => {
    const { lockout, move } = lockoutAt();
    const lockOut = (): number => {
      const started = [1, 2, 3].flatMap(() => lockout.failed('svc', `client-${Math.random()}`));
      return started[0]?.ms ?? 0;
    };
    const lengths: number[] = [];
    for (let i = 0; i < 4; i++) {
      const ms = lockOut();
      lengths.push(ms);
      move(ms);
    }
    expect(lengths).to.deep.equal([60_000, 120_000, 200_000, 200_000]);
    move(POLICY.windowMs);
    expect(lockOut()).to.equal(60_000);
  });

  it('one certificate identity failing with ten different names is locked out for every name; a success does not clear it', () => {
    const { lockout } = lockoutAt();
    const started = Array.from({ length: 10 }, (_, i) => {
      if (i === 5) lockout.succeeded('svc');
      return lockout.failed(`guess-${i}`, 'alice');
    }).flat();
    expect(started).to.deep.equal([{ scope: 'identity', ms: 60_000, count: 1 }]);
    expect(lockout.refusal('svc', 'alice')?.scope).to.equal('identity');
    expect(lockout.refusal('svc', 'bob')).to.equal(undefined);
  });

  it('0 failures: never locked out', () => {
    const { lockout } = lockoutAt({ ...POLICY, failures: 0, sourceFailures: 0 });
    for (let i = 0; i < 50; i++) expect(lockout.failed('svc', 'alice')).to.deep.equal([]);
    expect(lockout.refusal('svc', 'alice')).to.equal(undefined);
    expect(lockout.users.size + lockout.identities.size).to.equal(0);
  });

  it('a flood of made-up names, some a megabyte long, keeps each table at its maximum, the oldest names evicted first', () => {
    const { lockout } = lockoutAt({ ...POLICY, maxEntries: 1000 });
    for (let i = 0; i < 3; i++) lockout.failed('victim', 'alice');
    expect(lockout.refusal('victim', 'bob')?.scope).to.equal('user');
    const long = 'x'.repeat(1024 * 1024);
    for (let i = 0; i < 20_000; i++) lockout.failed(i % 100 === 0 ? `${long}${i}` : `random-${i}`, `client-${i}`);
    expect(lockout.users.size).to.equal(1000);
    expect(lockout.identities.size).to.equal(1000);
    // The victim failed before every made-up name: it was evicted first.
    expect(lockout.refusal('victim', 'bob')).to.equal(undefined);
    expect(lockout.refusal('random-19999', 'bob')).to.equal(undefined);
    for (let i = 0; i < 2; i++) lockout.failed('random-19999', 'bob');
    expect(lockout.refusal('random-19999', 'carol')?.scope).to.equal('user');
  });
});
