import { afterEach, describe, expect, it } from 'vitest';
import { type RecordStore, type RecordValue, ValidationError } from '../../src/core/index.js';

/** Builds a fresh, empty store; the suite closes it. */
export type RecordStoreFactory = () => Promise<RecordStore>;

const T = Date.UTC(2026, 0, 1);
const HOUR = 3_600_000;

/**
 * The one suite every RecordStore passes. Call it once per backend with a
 * factory; a bug found in one backend becomes a test here, for all of them.
 * Expiries are hours long: a backend with native expiry counts them in real
 * time from the write, and no test here should race that.
 */
export function describeRecordStore(name: string, factory: RecordStoreFactory): void {
  describe(`${name} conforms to the RecordStore contract`, () => {
    const opened: RecordStore[] = [];
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((store) => store.close()));
    });

    async function setup(): Promise<RecordStore> {
      const store = await factory();
      opened.push(store);
      return store;
    }

    it('creates at version 1, adds one per put, and deletes', async () => {
      const store = await setup();
      expect(await store.put('users', 'alice', { role: 'admin' }, { now: T })).toBe(1);
      expect(await store.get('users', 'alice', T)).toEqual({
        key: 'alice',
        value: { role: 'admin' },
        version: 1,
        expiresAt: null,
      });
      expect(await store.put('users', 'alice', { role: 'reader' }, { now: T })).toBe(2);
      expect(await store.put('users', 'alice', { role: 'owner' }, { now: T })).toBe(3);
      expect(await store.get('users', 'alice', T)).toMatchObject({
        value: { role: 'owner' },
        version: 3,
      });
      expect(await store.delete('users', 'alice')).toBe(true);
      expect(await store.get('users', 'alice', T)).toBeNull();
      expect(await store.delete('users', 'alice')).toBe(false);
      expect(await store.put('users', 'alice', { role: 'new' }, { now: T })).toBe(1);
    });

    it('reads a missing record as null and lists a missing collection as empty', async () => {
      const store = await setup();
      expect(await store.get('users', 'nobody', T)).toBeNull();
      expect(await store.list('nothing-here', { now: T, limit: 10 })).toEqual([]);
    });

    it('ifVersion 0 creates only when the key is free, ifVersion n writes only at version n', async () => {
      const store = await setup();
      expect(await store.put('keys', 'k', 'first', { now: T, ifVersion: 0 })).toBe(1);
      expect(await store.put('keys', 'k', 'second', { now: T, ifVersion: 0 })).toBeNull();
      expect(await store.put('keys', 'k', 'stale', { now: T, ifVersion: 2 })).toBeNull();
      expect(await store.get('keys', 'k', T)).toMatchObject({ value: 'first', version: 1 });
      expect(await store.put('keys', 'k', 'third', { now: T, ifVersion: 1 })).toBe(2);
      expect(await store.get('keys', 'k', T)).toMatchObject({ value: 'third', version: 2 });
      expect(await store.put('keys', 'absent', 'x', { now: T, ifVersion: 1 })).toBeNull();
      expect(await store.get('keys', 'absent', T)).toBeNull();
    });

    it('deletes with ifVersion only at that version', async () => {
      const store = await setup();
      await store.put('keys', 'k', 1, { now: T });
      await store.put('keys', 'k', 2, { now: T });
      expect(await store.delete('keys', 'k', { ifVersion: 1 })).toBe(false);
      expect(await store.get('keys', 'k', T)).toMatchObject({ value: 2, version: 2 });
      expect(await store.delete('keys', 'k', { ifVersion: 2 })).toBe(true);
      expect(await store.get('keys', 'k', T)).toBeNull();
      expect(await store.delete('keys', 'k', { ifVersion: 2 })).toBe(false);
    });

    it('hides a record from get and list from its expiry on', async () => {
      const store = await setup();
      await store.put('tokens', 'a', 'soon', { now: T, expiresAt: T + HOUR });
      await store.put('tokens', 'b', 'later', { now: T, expiresAt: T + 2 * HOUR });
      expect(await store.get('tokens', 'a', T + HOUR - 1)).toEqual({
        key: 'a',
        value: 'soon',
        version: 1,
        expiresAt: T + HOUR,
      });
      expect(await store.get('tokens', 'a', T + HOUR)).toBeNull();
      const listed = await store.list('tokens', { now: T + HOUR, limit: 10 });
      expect(listed.map((record) => record.key)).toEqual(['b']);
    });

    it('counts an expired record as absent: ifVersion 0 takes it, and a put over it restarts at version 1', async () => {
      const store = await setup();
      await store.put('tokens', 'a', 'old', { now: T, expiresAt: T + HOUR });
      await store.put('tokens', 'a', 'old', { now: T, expiresAt: T + HOUR });
      const later = T + HOUR;
      expect(await store.put('tokens', 'a', 'x', { now: later, ifVersion: 2 })).toBeNull();
      expect(await store.put('tokens', 'a', 'new', { now: later, ifVersion: 0 })).toBe(1);
      expect(await store.get('tokens', 'a', later)).toEqual({
        key: 'a',
        value: 'new',
        version: 1,
        expiresAt: null,
      });

      await store.put('tokens', 'b', 'old', { now: T, expiresAt: T + HOUR });
      await store.put('tokens', 'b', 'old', { now: T, expiresAt: T + HOUR });
      expect(await store.put('tokens', 'b', 'new', { now: later })).toBe(1);
    });

    it('sets, moves and clears the expiry with each put', async () => {
      const store = await setup();
      await store.put('tokens', 'a', 1, { now: T, expiresAt: T + HOUR });
      await store.put('tokens', 'a', 2, { now: T, expiresAt: T + 3 * HOUR });
      expect(await store.get('tokens', 'a', T + 2 * HOUR)).toMatchObject({
        value: 2,
        expiresAt: T + 3 * HOUR,
      });
      await store.put('tokens', 'a', 3, { now: T, expiresAt: null });
      expect(await store.get('tokens', 'a', T + 1000 * HOUR)).toMatchObject({
        value: 3,
        version: 3,
        expiresAt: null,
      });
      await store.put('tokens', 'a', 4, { now: T, expiresAt: T + HOUR });
      expect(await store.get('tokens', 'a', T + HOUR)).toBeNull();
    });

    it('lists in the byte order of the UTF-8 keys, a page at a time after a key', async () => {
      const store = await setup();
      // In byte order; UTF-16 order would put the emoji (surrogates D83D DE00) before U+FF01.
      const ordered = ['B', 'a', 'a0', 'b', 'ä', 'é', '中', '！', '😀'];
      for (const key of [...ordered].reverse()) await store.put('c', key, key, { now: T });
      const all = await store.list('c', { now: T, limit: 100 });
      expect(all.map((record) => record.key)).toEqual(ordered);
      expect(all.map((record) => record.value)).toEqual(ordered);

      const pages: string[][] = [];
      let after: string | undefined;
      for (;;) {
        const page = await store.list('c', { now: T, after, limit: 4 });
        if (page.length === 0) break;
        pages.push(page.map((record) => record.key));
        after = page.at(-1)?.key;
      }
      expect(pages).toEqual([ordered.slice(0, 4), ordered.slice(4, 8), ordered.slice(8)]);
      const afterAbsentKey = await store.list('c', { now: T, after: 'a00', limit: 2 });
      expect(afterAbsentKey.map((record) => record.key)).toEqual(['b', 'ä']);
    });

    it('fills a page with live records past expired ones', async () => {
      const store = await setup();
      for (const key of ['a', 'b', 'c', 'd', 'e', 'f']) {
        const expiring = key === 'a' || key === 'b' || key === 'd';
        await store.put('c', key, key, { now: T, expiresAt: expiring ? T + HOUR : null });
      }
      const page = await store.list('c', { now: T + HOUR, limit: 2 });
      expect(page.map((record) => record.key)).toEqual(['c', 'e']);
      const next = await store.list('c', { now: T + HOUR, after: 'e', limit: 2 });
      expect(next.map((record) => record.key)).toEqual(['f']);
    });

    it('keeps collections apart, whatever characters their names hold', async () => {
      const store = await setup();
      // `x` with key `y}` and `x}:y` must not meet in a backend that builds key names from both.
      const collections = ['x', 'x}:y', '{x}', 'x:', 'X'];
      for (const collection of collections) {
        await store.put(collection, 'y}', `${collection}/y}`, { now: T });
        await store.put(collection, 'shared', collection, { now: T });
      }
      for (const collection of collections) {
        const listed = await store.list(collection, { now: T, limit: 10 });
        expect(listed.map((record) => [record.key, record.value])).toEqual([
          ['shared', collection],
          ['y}', `${collection}/y}`],
        ]);
      }
      expect(await store.delete('x', 'shared')).toBe(true);
      expect(await store.get('x}:y', 'shared', T)).toMatchObject({ value: 'x}:y', version: 1 });
      expect(await store.get('x', 'shared', T)).toBeNull();
    });

    it('returns values exactly as they were written', async () => {
      const store = await setup();
      const values: RecordValue[] = [
        {
          nested: { list: [1, [2, { three: 3 }], []], empty: {}, zero: 0, no: false, nil: null },
          z: 'first key written last in order',
          a: 1,
        },
        'Ålice ✓ 中文 😀 \u0000 \u001f "quoted" \\ \ud800 lone',
        [-1, 1.5, 1e300, -2e-300, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER],
        0,
        true,
        null,
        [],
        {},
        { blob: 'x'.repeat(100_000) },
        Array.from({ length: 2000 }, (_, i) => ({ i, s: `item ${i} é` })),
      ];
      for (const [i, value] of values.entries()) {
        await store.put('values', `v${i}`, value, { now: T });
        const record = await store.get('values', `v${i}`, T);
        expect(record?.value).toEqual(value);
        expect(JSON.stringify(record?.value)).toBe(JSON.stringify(value));
      }
      const listed = await store.list('values', { now: T, limit: 100 });
      expect(listed.map((record) => JSON.stringify(record.value))).toEqual(
        [...values.keys()]
          .sort((a, b) => (`v${a}` < `v${b}` ? -1 : 1))
          .map((i) => JSON.stringify(values[i])),
      );
    });

    it('refuses bad input with a ValidationError and writes nothing', async () => {
      const store = await setup();
      const badNames = ['', 'x'.repeat(201), 'a\nb', 'a\u0000', '\u007f', 'lone \ud800', 42, null];
      for (const name of badNames as string[]) {
        const attempts: [string, () => Promise<unknown>][] = [
          ['get collection', () => store.get(name, 'k', T)],
          ['get key', () => store.get('c', name, T)],
          ['put collection', () => store.put(name, 'k', 1, { now: T })],
          ['put key', () => store.put('c', name, 1, { now: T })],
          ['delete collection', () => store.delete(name, 'k')],
          ['delete key', () => store.delete('c', name)],
          ['list collection', () => store.list(name, { now: T, limit: 10 })],
          ['list after', () => store.list('c', { now: T, after: name, limit: 10 })],
        ];
        for (const [what, attempt] of attempts) {
          await expect(attempt(), `${what} ${JSON.stringify(name)}`).rejects.toBeInstanceOf(
            ValidationError,
          );
        }
      }
      const circular: Record<string, unknown> = {};
      circular.self = circular;
      const badPuts: [string, unknown, unknown][] = [
        ['undefined value', undefined, { now: T }],
        ['NaN value', { n: Number.NaN }, { now: T }],
        ['infinite value', [Number.POSITIVE_INFINITY], { now: T }],
        ['function value', () => 1, { now: T }],
        ['BigInt value', { n: 1n }, { now: T }],
        ['circular value', circular, { now: T }],
        ['negative ifVersion', 1, { now: T, ifVersion: -1 }],
        ['fractional ifVersion', 1, { now: T, ifVersion: 1.5 }],
        ['NaN ifVersion', 1, { now: T, ifVersion: Number.NaN }],
        ['string ifVersion', 1, { now: T, ifVersion: '0' }],
        ['fractional expiresAt', 1, { now: T, expiresAt: T + 0.5 }],
        ['infinite expiresAt', 1, { now: T, expiresAt: Number.POSITIVE_INFINITY }],
        ['string expiresAt', 1, { now: T, expiresAt: String(T + HOUR) }],
        ['NaN now', 1, { now: Number.NaN }],
        ['missing now', 1, {}],
      ];
      for (const [what, value, options] of badPuts) {
        await expect(
          store.put('c', 'k', value as RecordValue, options as { now: number }),
          what,
        ).rejects.toBeInstanceOf(ValidationError);
      }
      for (const limit of [0, -1, 1.5, Number.NaN, '10']) {
        await expect(
          store.list('c', { now: T, limit: limit as number }),
          `limit ${String(limit)}`,
        ).rejects.toBeInstanceOf(ValidationError);
        await expect(store.sweepExpired(T, limit as number)).rejects.toBeInstanceOf(
          ValidationError,
        );
      }
      await expect(store.delete('c', 'k', { ifVersion: -1 })).rejects.toBeInstanceOf(
        ValidationError,
      );
      await expect(store.get('c', 'k', Number.NaN)).rejects.toBeInstanceOf(ValidationError);
      await expect(store.list('c', { now: Number.NaN, limit: 1 })).rejects.toBeInstanceOf(
        ValidationError,
      );
      await expect(store.sweepExpired(Number.NaN, 1)).rejects.toBeInstanceOf(ValidationError);

      expect(await store.get('c', 'k', T)).toBeNull();
      expect(await store.list('c', { now: T, limit: 10 })).toEqual([]);
      const longest = 'x'.repeat(200);
      expect(await store.put(longest, longest, 'fits', { now: T })).toBe(1);
      expect(await store.get(longest, longest, T)).toMatchObject({ value: 'fits' });
    });

    it('sweeps expired records of every collection in bounded batches and keeps the live ones', async () => {
      const store = await setup();
      for (const key of ['a', 'b', 'c']) {
        await store.put('one', key, key, { now: T, expiresAt: T + HOUR });
      }
      for (const key of ['d', 'e']) {
        await store.put('two', key, key, { now: T, expiresAt: T + 2 * HOUR });
      }
      await store.put('one', 'live', 'live', { now: T, expiresAt: T + 5 * HOUR });
      await store.put('two', 'forever', 'forever', { now: T });

      const now = T + 2 * HOUR;
      expect(await store.sweepExpired(now, 2)).toBe(2);
      expect(await store.sweepExpired(now, 2)).toBe(2);
      expect(await store.sweepExpired(now, 2)).toBe(1);
      expect(await store.sweepExpired(now, 2)).toBe(0);
      expect((await store.list('one', { now, limit: 10 })).map((r) => r.key)).toEqual(['live']);
      expect((await store.list('two', { now, limit: 10 })).map((r) => r.key)).toEqual(['forever']);
      expect(await store.delete('one', 'a')).toBe(false);
      expect(await store.put('one', 'a', 'again', { now, ifVersion: 0 })).toBe(1);
    });

    it('50 concurrent compare-and-set increments of one record all land', async () => {
      const store = await setup();
      await store.put('counters', 'n', { n: 0 }, { now: T });
      const increment = async () => {
        for (;;) {
          const current = await store.get('counters', 'n', T);
          if (!current) throw new Error('the counter vanished');
          const n = (current.value as { n: number }).n + 1;
          const version = await store.put(
            'counters',
            'n',
            { n },
            { now: T, ifVersion: current.version },
          );
          if (version !== null) return;
        }
      };
      await Promise.all(Array.from({ length: 50 }, increment));
      expect(await store.get('counters', 'n', T)).toMatchObject({ value: { n: 50 }, version: 51 });
    });

    it('of two concurrent creates with ifVersion 0 exactly one wins', async () => {
      const store = await setup();
      for (let round = 0; round < 10; round++) {
        const key = `race-${round}`;
        const results = await Promise.all(
          ['left', 'right'].map((value) =>
            store.put('races', key, value, { now: T, ifVersion: 0 }),
          ),
        );
        expect(
          results.filter((version) => version === 1),
          key,
        ).toHaveLength(1);
        expect(
          results.filter((version) => version === null),
          key,
        ).toHaveLength(1);
        const winner = results[0] === 1 ? 'left' : 'right';
        expect(await store.get('races', key, T)).toMatchObject({ value: winner, version: 1 });
      }
    });
  });
}
