import { expect } from 'chai';
import { timeOrderedUuid } from './ids.js';

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('timeOrderedUuid (UUID version 7, RFC 9562 section 5.7)', () => {
  it('has the version 7 and variant bits, and the millisecond time in its first 48 bits', () => {
    const now = Date.now();
    const id = timeOrderedUuid(now);
    expect(id).to.match(UUID_V7);
    const ms = parseInt(id.replace(/-/g, '').slice(0, 12), 16);
    expect(ms).to.be.at.least(now).and.below(now + 1000);
  });

  it('sorts in the order made, within one millisecond too, and when the clock goes back', () => {
    const base = Date.now();
    const made: string[] = [];
    for (let i = 0; i < 5000; i++) made.push(timeOrderedUuid(base)); // more than the 12-bit sequence holds
    made.push(timeOrderedUuid(base - 5000));
    made.push(timeOrderedUuid(base + 50));
    for (const id of made) expect(id).to.match(UUID_V7);
    expect([...made].sort()).to.deep.equal(made);
    expect(new Set(made).size).to.equal(made.length);
  });

  it('keeps 62 random bits: ids made in the same millisecond differ beyond the counter', () => {
    const base = Date.now();
    const tails = new Set(Array.from({ length: 200 }, () => timeOrderedUuid(base).slice(19)));
    expect(tails.size).to.equal(200);
  });
});
