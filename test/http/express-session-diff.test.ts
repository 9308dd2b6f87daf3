import { describe, expect, it } from 'vitest';
import { applyPatch, type SessionData } from '../../src/core/index.js';
import { coarsePatch, diffSessionData } from '../../src/http/express-session-diff.js';

describe('diffSessionData', () => {
  it('is empty when nothing changed, whatever the key order', () => {
    expect(diffSessionData({ a: 1, b: { c: [1, 2] } }, { b: { c: [1, 2] }, a: 1 })).toEqual([]);
  });

  it('writes a removed member as a remove and a new one as an add', () => {
    expect(diffSessionData({ flash: 'saved', a: 1 }, { a: 1, b: 2 })).toEqual([
      { op: 'remove', path: '/flash' },
      { op: 'add', path: '/b', value: 2 },
    ]);
  });

  it('writes nested changes at their nested paths', () => {
    const before = { prefs: { theme: 'light', layout: { cols: 2 } } };
    const after = { prefs: { theme: 'dark', layout: { cols: 2, dense: true } } };
    expect(diffSessionData(before, after)).toEqual([
      { op: 'replace', path: '/prefs/theme', value: 'dark' },
      { op: 'add', path: '/prefs/layout/dense', value: true },
    ]);
  });

  it('writes items appended to a loaded array as adds at /-', () => {
    expect(diffSessionData({ cart: ['a'] }, { cart: ['a', 'b', 'c'] })).toEqual([
      { op: 'add', path: '/cart/-', value: 'b' },
      { op: 'add', path: '/cart/-', value: 'c' },
    ]);
  });

  it('writes a changed item of a same-length array at its index', () => {
    const before = { cart: [{ sku: 'a', qty: 1 }] };
    expect(diffSessionData(before, { cart: [{ sku: 'a', qty: 2 }] })).toEqual([
      { op: 'replace', path: '/cart/0/qty', value: 2 },
    ]);
  });

  it('replaces an array that lost, gained in the middle or reordered items', () => {
    for (const cart of [['a'], ['x', 'a', 'b'], ['b', 'a', 'c']]) {
      expect(diffSessionData({ cart: ['a', 'b'] }, { cart })).toEqual([
        { op: 'replace', path: '/cart', value: cart },
      ]);
    }
  });

  it('replaces a changed number rather than incrementing it', () => {
    expect(diffSessionData({ views: 4 }, { views: 5 })).toEqual([
      { op: 'replace', path: '/views', value: 5 },
    ]);
  });

  it('replaces a value whose type changed', () => {
    expect(diffSessionData({ a: [1] }, { a: { 0: 1 } })).toEqual([
      { op: 'replace', path: '/a', value: { 0: 1 } },
    ]);
  });

  it('escapes ~ and / in member names', () => {
    expect(diffSessionData({}, { 'a/b~c': 1 })).toEqual([
      { op: 'add', path: '/a~1b~0c', value: 1 },
    ]);
  });

  it('produces patches the core applies to the loaded data to give the saved data', () => {
    const before: SessionData = { a: 1, list: [1, { x: 1 }], obj: { k: 'v', gone: true }, drop: 0 };
    const after: SessionData = { a: 2, list: [1, { x: 2 }, 3], obj: { k: 'w', n: null }, add: [] };
    expect(applyPatch(before, diffSessionData(before, after))).toEqual(after);
  });

  it('falls back to whole top-level members past the size of one patch', () => {
    const cart = Array.from({ length: 1500 }, (_, index) => index);
    expect(diffSessionData({ cart: [] }, { cart })).toEqual([
      { op: 'add', path: '/cart', value: cart },
    ]);
  });
});

describe('coarsePatch', () => {
  it('applies even when a concurrent request already removed what it removes or changes', () => {
    const before: SessionData = { flash: 'x', prefs: { theme: 'light' }, cart: ['a'] };
    const after: SessionData = { prefs: { theme: 'dark' }, cart: ['a'] };
    const ops = coarsePatch(before, after);
    // Meanwhile another request removed both flash and prefs and appended to the cart.
    expect(applyPatch({ cart: ['a', 'b'] }, ops)).toEqual({
      prefs: { theme: 'dark' },
      cart: ['a', 'b'],
    });
  });
});
