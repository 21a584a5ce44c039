import { expect } from 'chai';
import { indexRowKey, indexRows } from './codec.js';
import type { IndexKeys } from './codec.js';

describe('store codec: index rows', () => {
  it('keeps each (name, key) once, in order; a null key, an empty key and a name that swallows the key stay apart', () => {
    const given = [
      { name: 'a', key: 'b=c' },
      { name: 'a=b', key: 'c' },
      { name: 'a', key: null },
      { name: 'a', key: '' },
      { name: 'a:', key: '' },
      { name: 'a', key: 'b=c' },
      { name: 'a', key: null },
    ];
    const keys: IndexKeys = () => given;
    expect(indexRows([], keys)).to.deep.equal(given.slice(0, 5));
    expect(new Set(given.slice(0, 5).map(indexRowKey)).size).to.equal(5);
  });

  it('refuses what is not a string name with a string or null key', () => {
    const keys = (() => [{ name: 'a', key: 1 }]) as unknown as IndexKeys;
    expect(() => indexRows([], keys)).to.throw(TypeError);
  });
});
