import { expect } from 'chai';
import { storeMember } from './members.js';

class Counter {
  readonly kind = 'counter';
  #count = 0;
  bump(by: number): number {
    this.#count += by;
    return this.#count;
  }
}

describe('store members handed out by a proxy (storeMember)', () => {
  it('a method runs on the store itself, reaching its private fields', () => {
    const store = new Counter();
    const proxy = new Proxy(store, { get: (target, property) => storeMember(target, property) });
    const bump = proxy.bump;
    expect(bump(2)).to.equal(2);
    expect(proxy.bump(3)).to.equal(5);
  });

  it('is the same bound method at every read of one store, and another for another store', () => {
    const one = new Counter();
    const other = new Counter();
    expect(storeMember(one, 'bump')).to.equal(storeMember(one, 'bump'));
    expect(storeMember(one, 'bump')).to.not.equal(storeMember(other, 'bump'));
    expect((storeMember(other, 'bump') as Counter['bump'])(7)).to.equal(7);
  });

  it('passes values that are not functions through as they are', () => {
    expect(storeMember(new Counter(), 'kind')).to.equal('counter');
    expect(storeMember(new Counter(), 'absent')).to.equal(undefined);
  });
});
