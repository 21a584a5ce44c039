/** The process's budget of request bytes (server/budget.ts): limits, order of the readers in line, cancellation. */
import { expect } from 'chai';
import { ByteBudget } from '../../server/budget.js';

const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('server: the budget of request bytes', function () {
  it('takes bytes while they fit, never holds more than its limit, and is back to 0 once all are released', function () {
    const budget = new ByteBudget(100);
    expect(budget.tryTake(60)).to.equal(true);
    expect(budget.tryTake(40)).to.equal(true);
    expect(budget.tryTake(1)).to.equal(false);
    expect(budget.held).to.equal(100);
    budget.release(60);
    expect(budget.tryTake(61)).to.equal(false);
    expect(budget.tryTake(60)).to.equal(true);
    budget.release(100);
    expect(budget.held).to.equal(0);
    expect(budget.peak).to.equal(100);
  });

  it('hands released bytes to the readers in line in the order they came: a small one does not pass a large one', async function () {
    const budget = new ByteBudget(100);
    expect(budget.tryTake(90)).to.equal(true);
    const order: string[] = [];
    budget.wait(50, () => order.push('large'));
    budget.wait(5, () => order.push('small'));
    await settle();
    expect(order, 'the small one would fit, but waits behind the large one').to.deep.equal([]);
    expect(budget.tryTake(5), 'a newcomer does not pass the readers in line either').to.equal(false);
    expect(budget.waiting).to.equal(2);
    budget.release(30);
    expect(order).to.deep.equal([]);
    budget.release(20);
    expect(order).to.deep.equal(['large', 'small']);
    expect(budget.held).to.equal(95);
    expect(budget.waiting).to.equal(0);
    expect(budget.waits).to.equal(2);
    expect(budget.peak).to.equal(95);
  });

  it('grants a wait that fits at once, but never within the call that asked', async function () {
    const budget = new ByteBudget(10);
    let granted = false;
    budget.wait(10, () => (granted = true));
    expect(granted).to.equal(false);
    await settle();
    expect(granted).to.equal(true);
    expect(budget.held).to.equal(10);
  });

  it('a cancelled reader takes nothing and lets the one behind it go first', async function () {
    const budget = new ByteBudget(100);
    budget.tryTake(80);
    let large = false;
    let small = false;
    const first = budget.wait(50, () => (large = true));
    budget.wait(20, () => (small = true));
    await settle();
    expect(small).to.equal(false);
    first.cancel();
    first.cancel();
    expect(small).to.equal(true);
    expect(large).to.equal(false);
    budget.release(100);
    expect(budget.held).to.equal(0);
    expect(large, 'a cancelled wait is never granted').to.equal(false);
  });

  it('take(): resolves once the bytes are taken; an abort leaves the line and holds nothing', async function () {
    const budget = new ByteBudget(100);
    await budget.take(100);
    const aborted = new AbortController();
    const refused = budget.take(10, aborted.signal).then(
      () => 'taken',
      (reason: Error) => reason.message,
    );
    const later = budget.take(30);
    aborted.abort(new Error('the connection closed'));
    expect(await refused).to.equal('the connection closed');
    budget.release(100);
    await later;
    expect(budget.held).to.equal(30);
    expect(budget.waiting).to.equal(0);
  });

  it('refuses a request larger than the whole budget, and a release of more than it holds', function () {
    const budget = new ByteBudget(100);
    expect(() => budget.tryTake(101)).to.throw(RangeError, /101 bytes of a budget of 100/);
    expect(() => budget.wait(101, () => undefined)).to.throw(RangeError);
    budget.tryTake(10);
    expect(() => budget.release(11)).to.throw(RangeError, /released 11 bytes of a budget that holds 10/);
    expect(budget.held).to.equal(10);
    expect(() => new ByteBudget(0)).to.throw(RangeError);
  });
});
