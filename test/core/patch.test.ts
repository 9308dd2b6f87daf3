import { describe, expect, it } from 'vitest';
import {
  applyPatch,
  ForbiddenPathError,
  MAX_SESSION_DATA_DEPTH,
  PatchMalformedError,
  type PatchOperation,
  PatchTargetError,
  PatchTestFailedError,
  parsePatch,
  type SessionData,
  type SessionValue,
  ValidationError,
} from '../../src/core/index.js';

describe('JSON Pointer paths', () => {
  it('unescapes ~1 to "/" and ~0 to "~", in that order', () => {
    const data = { 'a/b': 1, 'm~n': 2, '~1': 3, '~/': 4 };
    const patched = applyPatch(data, [
      { op: 'replace', path: '/a~1b', value: 10 },
      { op: 'replace', path: '/m~0n', value: 20 },
      { op: 'replace', path: '/~01', value: 30 },
      { op: 'replace', path: '/~0~1', value: 40 },
    ]);
    expect(patched).toEqual({ 'a/b': 10, 'm~n': 20, '~1': 30, '~/': 40 });
  });

  it('refuses a "~" that is not followed by 0 or 1', () => {
    for (const path of ['/a~2b', '/a~', '/~~1', '/ok/~x']) {
      expect(() => parsePatch([{ op: 'add', path, value: 1 }]), path).toThrow(PatchMalformedError);
    }
  });

  it('addresses the empty key with "/" and nested empty keys with "//"', () => {
    expect(applyPatch({}, [{ op: 'add', path: '/', value: 1 }])).toEqual({ '': 1 });
    expect(applyPatch({ '': {} }, [{ op: 'add', path: '//', value: 2 }])).toEqual({
      '': { '': 2 },
    });
  });

  it('refuses forbidden segments in "from" as well as in "path"', () => {
    expect(() => parsePatch([{ op: 'copy', from: '/__proto__', path: '/x' }])).toThrow(
      ForbiddenPathError,
    );
    expect(() => parsePatch([{ op: 'move', from: '/a/prototype', path: '/x' }])).toThrow(
      ForbiddenPathError,
    );
    expect(() => applyPatch({}, [{ op: 'add', path: '/constructor', value: 1 }])).toThrow(
      ForbiddenPathError,
    );
  });

  it('refuses a forbidden segment at any depth, but not a key that merely contains one', () => {
    expect(() => parsePatch([{ op: 'add', path: '/a/b/__proto__/x', value: 1 }])).toThrow(
      ForbiddenPathError,
    );
    expect(applyPatch({}, [{ op: 'add', path: '/__proto~0__', value: 1 }])).toEqual({
      '__proto~__': 1,
    });
    expect(applyPatch({}, [{ op: 'add', path: '/my_prototype', value: 1 }])).toEqual({
      my_prototype: 1,
    });
  });
});

describe('array indexes', () => {
  const data = { list: ['a', 'b', 'c'] };

  it('refuses an index with a leading zero, a sign or a fraction', () => {
    for (const index of ['01', '00', '-1', '+1', '1.0', ' 1', '1e0']) {
      expect(
        () => applyPatch(data, [{ op: 'replace', path: `/list/${index}`, value: 'x' }]),
        index,
      ).toThrow(PatchTargetError);
    }
  });

  it('accepts "0" and inserts at an index equal to the length, but not past it', () => {
    expect(applyPatch(data, [{ op: 'add', path: '/list/0', value: 'z' }]).list).toEqual([
      'z',
      'a',
      'b',
      'c',
    ]);
    expect(applyPatch(data, [{ op: 'add', path: '/list/3', value: 'd' }]).list).toEqual([
      'a',
      'b',
      'c',
      'd',
    ]);
    expect(() => applyPatch(data, [{ op: 'add', path: '/list/4', value: 'e' }])).toThrow(
      PatchTargetError,
    );
  });

  it('accepts "-" only as the target of add', () => {
    expect(applyPatch(data, [{ op: 'add', path: '/list/-', value: 'd' }]).list).toEqual([
      'a',
      'b',
      'c',
      'd',
    ]);
    const refused: PatchOperation[] = [
      { op: 'remove', path: '/list/-' },
      { op: 'replace', path: '/list/-', value: 'x' },
      { op: 'test', path: '/list/-', value: 'c' },
      { op: 'increment', path: '/list/-', value: 1 },
      { op: 'copy', from: '/list/-', path: '/copied' },
      { op: 'move', from: '/list/-', path: '/moved' },
      { op: 'add', path: '/list/-/deeper', value: 1 },
    ];
    for (const operation of refused) {
      expect(() => applyPatch(data, [operation]), JSON.stringify(operation)).toThrow(
        PatchTargetError,
      );
    }
  });

  it('treats "-" as an ordinary key inside an object', () => {
    expect(applyPatch({ obj: {} }, [{ op: 'add', path: '/obj/-', value: 1 }])).toEqual({
      obj: { '-': 1 },
    });
  });
});

describe('move and copy', () => {
  it('refuses to move a value into its own child', () => {
    const data = { a: { b: { c: 1 } } };
    expect(() => applyPatch(data, [{ op: 'move', from: '/a', path: '/a/b/x' }])).toThrow(
      PatchTargetError,
    );
    expect(() => applyPatch(data, [{ op: 'move', from: '', path: '/a/copy' }])).toThrow(
      PatchTargetError,
    );
  });

  it('refuses copies that would keep doubling the data, before they exhaust memory', () => {
    const data = { list: Array.from({ length: 1000 }, (_, i) => i) };
    const doubling: PatchOperation[] = Array.from({ length: 60 }, (_, i) => ({
      op: 'copy',
      from: '/list',
      path: i % 2 === 0 ? '/list/-' : '/list/0',
    }));
    expect(() => applyPatch(data, doubling)).toThrow(PatchTargetError);
    expect(data.list).toHaveLength(1000);
    // Copies within the data's own size, and a little more, still apply.
    const twice = applyPatch(data, [
      { op: 'copy', from: '/list', path: '/a' },
      { op: 'copy', from: '/list', path: '/b' },
    ]);
    expect(twice.b).toEqual(data.list);
  });

  it('moves to a sibling whose name merely starts with the source name', () => {
    expect(applyPatch({ a: 1 }, [{ op: 'move', from: '/a', path: '/ab' }])).toEqual({ ab: 1 });
  });

  it('treats a move onto itself as a no-op', () => {
    expect(applyPatch({ a: [1, 2] }, [{ op: 'move', from: '/a/1', path: '/a/1' }])).toEqual({
      a: [1, 2],
    });
    expect(applyPatch({ a: 1 }, [{ op: 'move', from: '/a', path: '/a' }])).toEqual({ a: 1 });
  });

  it('moves an element within an array by removing first, then inserting', () => {
    expect(
      applyPatch({ list: ['a', 'b', 'c'] }, [{ op: 'move', from: '/list/0', path: '/list/2' }]),
    ).toEqual({ list: ['b', 'c', 'a'] });
  });

  it('copies deeply, so later changes to the copy leave the source alone', () => {
    const patched = applyPatch({ a: { list: [1] } }, [
      { op: 'copy', from: '/a', path: '/b' },
      { op: 'add', path: '/b/list/-', value: 2 },
    ]);
    expect(patched).toEqual({ a: { list: [1] }, b: { list: [1, 2] } });
  });

  it('refuses to copy or move from a path that does not exist', () => {
    expect(() => applyPatch({}, [{ op: 'copy', from: '/missing', path: '/x' }])).toThrow(
      PatchTargetError,
    );
    expect(() => applyPatch({}, [{ op: 'move', from: '/missing', path: '/x' }])).toThrow(
      PatchTargetError,
    );
  });
});

describe('the root of the session data', () => {
  it('can be replaced by another object', () => {
    expect(applyPatch({ a: 1 }, [{ op: 'replace', path: '', value: { b: 2 } }])).toEqual({ b: 2 });
    expect(applyPatch({ a: 1 }, [{ op: 'add', path: '', value: { c: 3 } }])).toEqual({ c: 3 });
  });

  it('cannot be removed', () => {
    expect(() => applyPatch({ a: 1 }, [{ op: 'remove', path: '' }])).toThrow(PatchTargetError);
  });

  it('cannot be replaced by anything but an object', () => {
    for (const value of [[1, 2], 'text', 42, null, true, new Date(0)]) {
      expect(() => applyPatch({ a: 1 }, [{ op: 'replace', path: '', value }])).toThrow(
        PatchTargetError,
      );
    }
  });

  it('may pass through a non-object mid-patch as long as it ends as an object', () => {
    expect(
      applyPatch({ a: 1 }, [
        { op: 'replace', path: '', value: [1] },
        { op: 'replace', path: '', value: { back: true } },
      ]),
    ).toEqual({ back: true });
  });

  it('can be tested as a whole', () => {
    expect(applyPatch({ a: [1] }, [{ op: 'test', path: '', value: { a: [1] } }])).toEqual({
      a: [1],
    });
    expect(() => applyPatch({ a: [1] }, [{ op: 'test', path: '', value: {} }])).toThrow(
      PatchTestFailedError,
    );
  });
});

describe('increment', () => {
  it('creates a missing key with the increment as its value', () => {
    expect(applyPatch({}, [{ op: 'increment', path: '/visits', value: 5 }])).toEqual({
      visits: 5,
    });
    expect(
      applyPatch({ stats: {} }, [{ op: 'increment', path: '/stats/hits', value: -2 }]),
    ).toEqual({ stats: { hits: -2 } });
  });

  it('refuses when the parent of a missing key does not exist', () => {
    expect(() => applyPatch({}, [{ op: 'increment', path: '/stats/hits', value: 1 }])).toThrow(
      PatchTargetError,
    );
  });

  it('adds to a number inside an array', () => {
    expect(applyPatch({ n: [1, 2] }, [{ op: 'increment', path: '/n/1', value: 0.5 }])).toEqual({
      n: [1, 2.5],
    });
  });

  it('refuses an overflow to Infinity and leaves the number as it was', () => {
    const data = { big: Number.MAX_VALUE };
    expect(() =>
      applyPatch(data, [{ op: 'increment', path: '/big', value: Number.MAX_VALUE }]),
    ).toThrow(PatchTargetError);
    expect(() =>
      applyPatch({ small: -Number.MAX_VALUE }, [
        { op: 'increment', path: '/small', value: -Number.MAX_VALUE },
      ]),
    ).toThrow(PatchTargetError);
    expect(data.big).toBe(Number.MAX_VALUE);
  });

  it('refuses a non-finite or non-number increment before applying anything', () => {
    for (const value of [Number.POSITIVE_INFINITY, Number.NaN, '1', null]) {
      expect(() => parsePatch([{ op: 'increment', path: '/n', value }])).toThrow(
        PatchMalformedError,
      );
    }
  });

  it('refuses to increment a value that is not a number', () => {
    for (const value of ['1', true, null, [], {}]) {
      expect(() => applyPatch({ x: value }, [{ op: 'increment', path: '/x', value: 1 }])).toThrow(
        PatchTargetError,
      );
    }
  });
});

describe('test', () => {
  const at = new Date(Date.UTC(2025, 0, 1));
  const data: SessionData = {
    at,
    matrix: [
      [1, [2, 3]],
      [{ k: 'v' }, []],
    ],
    obj: { a: 1, b: { c: null } },
  };

  it('compares Dates by instant, and never equal to their ISO string', () => {
    expect(() =>
      applyPatch(data, [{ op: 'test', path: '/at', value: new Date(at.getTime()) }]),
    ).not.toThrow();
    for (const value of [new Date(at.getTime() + 1), at.toISOString(), at.getTime()]) {
      expect(() => applyPatch(data, [{ op: 'test', path: '/at', value }])).toThrow(
        PatchTestFailedError,
      );
    }
  });

  it('compares nested arrays element by element, in order', () => {
    expect(() =>
      applyPatch(data, [
        {
          op: 'test',
          path: '/matrix',
          value: [
            [1, [2, 3]],
            [{ k: 'v' }, []],
          ],
        },
      ]),
    ).not.toThrow();
    const different: SessionValue[] = [
      [
        [1, [3, 2]],
        [{ k: 'v' }, []],
      ],
      [[1, [2, 3]], [{ k: 'v' }]],
      [
        [1, [2, 3]],
        [{ k: 'v' }, [null]],
      ],
      [
        [1, [2, 3]],
        [{ k: 'v' }, {}],
      ],
    ];
    for (const value of different) {
      expect(
        () => applyPatch(data, [{ op: 'test', path: '/matrix', value }]),
        JSON.stringify(value),
      ).toThrow(PatchTestFailedError);
    }
  });

  it('compares objects regardless of key order but with exactly the same keys', () => {
    expect(() =>
      applyPatch(data, [{ op: 'test', path: '/obj', value: { b: { c: null }, a: 1 } }]),
    ).not.toThrow();
    expect(() =>
      applyPatch(data, [{ op: 'test', path: '/obj', value: { a: 1, b: { c: null }, d: 1 } }]),
    ).toThrow(PatchTestFailedError);
    expect(() => applyPatch(data, [{ op: 'test', path: '/obj', value: { a: 1 } }])).toThrow(
      PatchTestFailedError,
    );
  });

  it('distinguishes null, a missing key and types that JavaScript would coerce', () => {
    expect(() => applyPatch(data, [{ op: 'test', path: '/obj/b/c', value: null }])).not.toThrow();
    expect(() => applyPatch(data, [{ op: 'test', path: '/obj/b/missing', value: null }])).toThrow(
      PatchTargetError,
    );
    expect(() => applyPatch(data, [{ op: 'test', path: '/obj/a', value: '1' }])).toThrow(
      PatchTestFailedError,
    );
    expect(() => applyPatch({ e: [] }, [{ op: 'test', path: '/e', value: {} }])).toThrow(
      PatchTestFailedError,
    );
  });
});

describe('parsePatch', () => {
  it('accepts up to 1000 operations and refuses 1001', () => {
    const ops = (count: number) =>
      Array.from({ length: count }, () => ({ op: 'increment', path: '/n', value: 1 }));
    const parsed = parsePatch(ops(1000));
    expect(parsed).toHaveLength(1000);
    expect(applyPatch({}, parsed)).toEqual({ n: 1000 });
    expect(() => parsePatch(ops(1001))).toThrow(PatchMalformedError);
  });

  it('needs a string "from" for move and copy', () => {
    for (const op of ['move', 'copy']) {
      expect(() => parsePatch([{ op, path: '/x' }])).toThrow(PatchMalformedError);
      expect(() => parsePatch([{ op, from: 1, path: '/x' }])).toThrow(PatchMalformedError);
      expect(() => parsePatch([{ op, from: 'no-slash', path: '/x' }])).toThrow(PatchMalformedError);
    }
  });

  it('refuses operations that are not plain objects or lack a string path', () => {
    for (const operation of [
      null,
      'add',
      ['add', '/x', 1],
      { op: 'remove' },
      { op: 'remove', path: 1 },
    ]) {
      expect(() => parsePatch([operation]), JSON.stringify(operation)).toThrow(PatchMalformedError);
    }
  });

  it('refuses values that session data cannot hold', () => {
    for (const value of [
      undefined,
      Number.NaN,
      () => 1,
      new Map(),
      { nested: { bad: undefined } },
    ]) {
      expect(() => parsePatch([{ op: 'add', path: '/x', value }])).toThrow(PatchMalformedError);
    }
  });

  it('returns well-formed operations unchanged', () => {
    const ops = [
      { op: 'add', path: '/a', value: { b: [1, new Date(0)] } },
      { op: 'move', from: '/a', path: '/c' },
    ];
    expect(parsePatch(ops)).toEqual(ops);
  });
});

describe('applyPatch', () => {
  function fixture(): SessionData {
    return {
      cart: { items: [{ sku: 'A1', qty: 1 }], count: 1 },
      seen: new Date(Date.UTC(2025, 0, 1)),
      tags: ['x'],
    };
  }

  it('never mutates its input, whether the patch succeeds or fails', () => {
    const data = fixture();
    const ops: PatchOperation[] = [
      { op: 'add', path: '/cart/items/-', value: { sku: 'B2', qty: 2 } },
      { op: 'increment', path: '/cart/count', value: 1 },
      { op: 'replace', path: '/cart/items/0/qty', value: 5 },
      { op: 'move', from: '/tags', path: '/labels' },
      { op: 'copy', from: '/cart', path: '/backup' },
      { op: 'remove', path: '/seen' },
    ];
    const patched = applyPatch(data, ops);
    expect(data).toEqual(fixture());
    expect(patched.cart).toEqual({
      items: [
        { sku: 'A1', qty: 5 },
        { sku: 'B2', qty: 2 },
      ],
      count: 2,
    });

    expect(() =>
      applyPatch(data, [
        { op: 'remove', path: '/cart/items/0' },
        { op: 'test', path: '/cart/count', value: 99 },
      ]),
    ).toThrow(PatchTestFailedError);
    expect(data).toEqual(fixture());
  });

  it('returns data that shares no objects with its input or with the operations', () => {
    const data = fixture();
    const value = { nested: { deep: true } };
    const patched = applyPatch(data, [{ op: 'add', path: '/added', value }]);
    expect(patched.cart).not.toBe(data.cart);
    expect(patched.seen).not.toBe(data.seen);
    (patched.added as { nested: { deep: boolean } }).nested.deep = false;
    expect(value.nested.deep).toBe(true);
  });

  it('caps the nesting of the result, not only of each value, so data cannot be deepened step by step', () => {
    let data: SessionData = {};
    let path = '';
    for (let level = 1; level <= MAX_SESSION_DATA_DEPTH; level++) {
      path += '/n';
      data = applyPatch(data, [{ op: 'add', path, value: {} }]);
    }
    const atCap = data;
    expect(() => applyPatch(atCap, [{ op: 'add', path: `${path}/n`, value: 1 }])).toThrow(
      ValidationError,
    );
    expect(() => applyPatch(atCap, [{ op: 'copy', from: '/n', path: `${path}/n` }])).toThrow(
      ValidationError,
    );
    expect(applyPatch(atCap, [{ op: 'add', path: `${path.slice(0, -2)}/m`, value: 1 }])).not.toBe(
      atCap,
    );
  });

  it('refuses a value nested far past the cap without walking all of it', () => {
    let value: SessionValue = 1;
    for (let level = 0; level < 100_000; level++) value = [value];
    expect(() => parsePatch([{ op: 'add', path: '/x', value }])).toThrow(PatchMalformedError);
  });

  it('accepts frozen input', () => {
    const data = Object.freeze({ list: Object.freeze([1]) }) as unknown as SessionData;
    expect(applyPatch(data, [{ op: 'add', path: '/list/-', value: 2 }])).toEqual({ list: [1, 2] });
  });

  it('applies operations in order, each seeing the result of the one before', () => {
    expect(
      applyPatch({}, [
        { op: 'add', path: '/a', value: [] },
        { op: 'add', path: '/a/-', value: 1 },
        { op: 'test', path: '/a', value: [1] },
        { op: 'copy', from: '/a/0', path: '/b' },
        { op: 'increment', path: '/b', value: 1 },
      ]),
    ).toEqual({ a: [1], b: 2 });
  });
});
