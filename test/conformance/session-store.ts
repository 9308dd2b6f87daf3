import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import {
  applyPatch,
  ClawsessionError,
  createCodec,
  ForbiddenPathError,
  generateEncryptionKey,
  InvalidTokenError,
  Keyring,
  MAX_SESSION_DATA_DEPTH,
  PatchMalformedError,
  type PatchOperation,
  PatchTargetError,
  PatchTestFailedError,
  type Session,
  type SessionCodec,
  type SessionData,
  SessionDataTooLargeError,
  SessionExistsError,
  SessionManager,
  SessionNotFoundError,
  type SessionStore,
  ValidationError,
  VersionConflictError,
} from '../../src/core/index.js';
import { concurrentPatches, INITIAL } from '../support/concurrent-patches.js';

/** Builds a fresh, empty store; the suite closes it. */
export type StoreFactory = (options: { codec: SessionCodec }) => Promise<SessionStore>;

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/**
 * The one suite every SessionStore passes. Call it once per backend with a
 * factory; a bug found in one backend becomes a test here, for all of them.
 */
export function describeSessionStore(name: string, factory: StoreFactory): void {
  describe(`${name} conforms to the SessionStore contract`, () => {
    const opened: SessionStore[] = [];
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((store) => store.close()));
    });

    async function setup(codec: SessionCodec = createCodec({ maxBytes: 4096 })) {
      const store = await factory({ codec });
      opened.push(store);
      const clock = { now: Date.UTC(2026, 0, 1) };
      const manager = new SessionManager({
        store,
        clock: () => clock.now,
        idleTimeout: 30 * MINUTE,
        absoluteTimeout: 24 * HOUR,
      });
      return { store, manager, clock };
    }

    function sessionFixture(overrides: Partial<Session> = {}): Session {
      const now = Date.UTC(2026, 0, 1);
      return {
        id: 'a'.repeat(64),
        userId: 'user-1',
        data: {},
        version: 1,
        createdAt: now,
        lastActiveAt: now,
        idleExpiresAt: now + 30 * MINUTE,
        absoluteExpiresAt: now + 24 * HOUR,
        tokenIssuedAt: now,
        ip: null,
        userAgent: null,
        ...overrides,
      };
    }

    const codecs: [string, () => SessionCodec][] = [
      ['JSON', () => createCodec({ format: 'json' })],
      ['MessagePack', () => createCodec({ format: 'msgpack' })],
      [
        'encrypted MessagePack',
        () =>
          createCodec({
            format: 'msgpack',
            keyring: new Keyring({ activeKeyId: 'k1', keys: { k1: generateEncryptionKey() } }),
          }),
      ],
    ];

    for (const [codecName, makeCodec] of codecs) {
      it(`keeps every field and Date values through a round trip (${codecName})`, async () => {
        const { manager } = await setup(makeCodec());
        const signedInAt = new Date(Date.UTC(2025, 11, 24, 10, 30));
        const { token, session } = await manager.create({
          userId: 'alice',
          data: { cart: [{ sku: 'A1', qty: 2 }], signedInAt, name: 'Ålice ✓', nothing: null },
          ip: '203.0.113.9',
          userAgent: 'Mozilla/5.0',
        });
        const loaded = await manager.get(token);
        expect(loaded).toEqual(session);
        const loadedDate = loaded?.data.signedInAt;
        expect(loadedDate).toBeInstanceOf(Date);
        expect((loadedDate as Date).getTime()).toBe(signedInAt.getTime());
      });
    }

    it('creates, reads and deletes a session', async () => {
      const { store } = await setup();
      const session = sessionFixture({ data: { theme: 'dark' } });
      await store.create(session);
      expect(await store.get(session.id, session.createdAt)).toEqual(session);
      expect(await store.delete(session.id)).toBe(true);
      expect(await store.get(session.id, session.createdAt)).toBeNull();
      expect(await store.delete(session.id)).toBe(false);
    });

    it('refuses to create a session whose id exists', async () => {
      const { store } = await setup();
      await store.create(sessionFixture({ data: { first: true } }));
      await expect(store.create(sessionFixture({ data: { second: true } }))).rejects.toBeInstanceOf(
        SessionExistsError,
      );
      expect((await store.get('a'.repeat(64), Date.UTC(2026, 0, 1)))?.data).toEqual({
        first: true,
      });
    });

    it('returns null once the idle timeout passes without activity', async () => {
      const { manager, clock } = await setup();
      const { token } = await manager.create({ userId: 'u' });
      clock.now += 30 * MINUTE - 1;
      expect(await manager.get(token)).not.toBeNull();
      await manager.settle();
      clock.now += 30 * MINUTE;
      expect(await manager.get(token)).toBeNull();
    });

    it('returns null after the absolute timeout however active the session is', async () => {
      const { manager, clock } = await setup();
      const { token } = await manager.create({ userId: 'u' });
      for (let elapsed = 0; elapsed < 24 * HOUR - 20 * MINUTE; elapsed += 20 * MINUTE) {
        clock.now += 20 * MINUTE;
        expect(await manager.get(token)).not.toBeNull();
        await manager.settle();
      }
      clock.now += 20 * MINUTE;
      expect(await manager.get(token)).toBeNull();
    });

    it('slides the idle expiry on read only past the touch threshold', async () => {
      const { manager, store, clock } = await setup();
      const { token, session } = await manager.create({ userId: 'u' });
      clock.now += MINUTE; // 1 of 30 minutes: under the 10% threshold
      await manager.get(token);
      await manager.settle();
      expect((await store.get(session.id, clock.now))?.idleExpiresAt).toBe(session.idleExpiresAt);
      clock.now += 3 * MINUTE; // 4 minutes in: past it
      await manager.get(token);
      await manager.settle();
      const stored = await store.get(session.id, clock.now);
      expect(stored?.idleExpiresAt).toBe(clock.now + 30 * MINUTE);
      expect(stored?.lastActiveAt).toBe(clock.now);
      expect(stored?.version).toBe(1);
    });

    it('touch moves the idle expiry without changing data or version, and fails for a dead session', async () => {
      const { store } = await setup();
      const session = sessionFixture({ data: { a: 1 } });
      await store.create(session);
      const later = session.createdAt + 10 * MINUTE;
      expect(
        await store.touch(session.id, { now: later, idleExpiresAt: later + 30 * MINUTE }),
      ).toBe(true);
      const touched = await store.get(session.id, later);
      expect(touched).toEqual({
        ...session,
        lastActiveAt: later,
        idleExpiresAt: later + 30 * MINUTE,
      });
      const afterDeath = later + 31 * MINUTE;
      expect(
        await store.touch(session.id, { now: afterDeath, idleExpiresAt: afterDeath + MINUTE }),
      ).toBe(false);
      expect(await store.touch('b'.repeat(64), { now: later, idleExpiresAt: later + MINUTE })).toBe(
        false,
      );
    });

    it('a stale expectedVersion is a conflict and changes nothing', async () => {
      const { manager } = await setup();
      const { token } = await manager.create({ userId: 'u', data: { n: 1 } });
      await manager.patch(token, [{ op: 'replace', path: '/n', value: 2 }], { expectedVersion: 1 });
      const conflict = manager.patch(token, [{ op: 'replace', path: '/n', value: 3 }], {
        expectedVersion: 1,
      });
      await expect(conflict).rejects.toBeInstanceOf(VersionConflictError);
      await expect(conflict).rejects.toMatchObject({ expectedVersion: 1, actualVersion: 2 });
      const session = await manager.get(token);
      expect(session?.data).toEqual({ n: 2 });
      expect(session?.version).toBe(2);
    });

    it('500 concurrent appends to one session keep all 500 items', async () => {
      const { manager } = await setup(createCodec({ maxBytes: 64 * 1024 }));
      const { token } = await manager.create({ userId: 'u', data: { items: [] } });
      await Promise.all(
        Array.from({ length: 500 }, (_, i) =>
          manager.patch(token, [{ op: 'add', path: '/items/-', value: i }]),
        ),
      );
      const session = await manager.get(token);
      expect(session?.version).toBe(501);
      const items = session?.data.items as number[];
      expect(items).toHaveLength(500);
      expect([...items].sort((a, b) => a - b)).toEqual(Array.from({ length: 500 }, (_, i) => i));
    });

    it('concurrent patches of one session, some failing, each apply once or fail alone with their own error', async () => {
      const { manager } = await setup();
      const { token } = await manager.create({ userId: 'u', data: { items: [], flag: 'set' } });
      // At version 2, an expectedVersion of 1 is stale whichever patch runs first.
      await manager.patch(token, [{ op: 'add', path: '/seen', value: true }]);
      const append = (i: number): PatchOperation => ({ op: 'add', path: '/items/-', value: i });
      const kinds: { ops: (i: number) => PatchOperation[]; stale?: true; error?: unknown }[] = [
        { ops: (i) => [append(i)] },
        {
          ops: (i) => [append(i), { op: 'test', path: '/flag', value: 'unset' }],
          error: PatchTestFailedError,
        },
        { ops: (i) => [append(i), { op: 'remove', path: '/missing' }], error: PatchTargetError },
        { ops: (i) => [append(i)], stale: true, error: VersionConflictError },
        {
          ops: (i) => [append(i), { op: 'add', path: '/big', value: 'x'.repeat(5000) }],
          error: SessionDataTooLargeError,
        },
      ];
      const calls = Array.from({ length: 40 }, (_, i) => ({ i, kind: kinds[i % kinds.length] }));
      const results = await Promise.allSettled(
        calls.map(({ i, kind }) =>
          manager.patch(token, kind?.ops(i), kind?.stale ? { expectedVersion: 1 } : {}),
        ),
      );

      const applied: Session[] = [];
      for (const [n, { i, kind }] of calls.entries()) {
        const result = results[n];
        if (kind?.error) {
          expect(result?.status, `patch ${i}`).toBe('rejected');
          if (result?.status === 'rejected') expect(result.reason).toBeInstanceOf(kind.error);
        } else {
          expect(result?.status, `patch ${i}`).toBe('fulfilled');
          if (result?.status === 'fulfilled') {
            expect(result.value.data.items).toContain(i);
            applied.push(result.value);
          }
        }
      }
      applied.sort((a, b) => a.version - b.version);
      expect(applied.map((session) => session.version)).toEqual(
        Array.from({ length: 8 }, (_, n) => 3 + n),
      );
      const final = await manager.get(token);
      expect(final?.version).toBe(10);
      expect(final?.data).toEqual({ items: final?.data.items, flag: 'set', seen: true });
      const items = final?.data.items as number[];
      expect([...items].sort((a, b) => a - b)).toEqual([0, 5, 10, 15, 20, 25, 30, 35]);
      // Each caller got the session as its own patch left it, one after another.
      for (const session of applied)
        expect(session.data.items).toEqual(items.slice(0, session.version - 2));
    });

    it('concurrent patches end as one serial order in which each caller got the session right after its own patch', async () => {
      const { manager } = await setup();
      await fc.assert(
        fc.asyncProperty(concurrentPatches, async (patches) => {
          const { token } = await manager.create({ userId: 'u', data: INITIAL });
          const results = await Promise.allSettled(
            patches.map((patch) => manager.patch(token, patch)),
          );
          const applied = patches
            .flatMap((patch, i) => {
              const result = results[i];
              return result?.status === 'fulfilled' ? [{ patch, session: result.value }] : [];
            })
            .sort((a, b) => a.session.version - b.session.version);
          const states: SessionData[] = [INITIAL];
          for (const [n, { patch, session }] of applied.entries()) {
            expect(session.version).toBe(2 + n);
            states.push(applyPatch(states[n] as SessionData, patch));
            expect(session.data).toEqual(states[n + 1]);
          }
          const final = await manager.get(token);
          expect(final?.version).toBe(1 + applied.length);
          expect(final?.data).toEqual(states.at(-1));
          // A refused patch fails, with its own error, on the data as it was at some turn.
          for (const [i, result] of results.entries()) {
            if (result.status === 'fulfilled') continue;
            expect(result.reason).toBeInstanceOf(ClawsessionError);
            const failsAtSomeTurn = states.some((data) => {
              try {
                applyPatch(data, patches[i] as PatchOperation[]);
                return false;
              } catch (error) {
                return (error as ClawsessionError).code === result.reason.code;
              }
            });
            expect(failsAtSomeTurn, JSON.stringify(patches[i])).toBe(true);
          }
        }),
        { numRuns: 40 },
      );
    });

    it('applies every supported operation, increment included', async () => {
      const { manager } = await setup();
      const { token } = await manager.create({
        userId: 'u',
        data: { cart: { items: ['a'], count: 1 }, flags: { old: true }, tmp: 'x' },
      });
      const session = await manager.patch(token, [
        { op: 'test', path: '/cart/count', value: 1 },
        { op: 'add', path: '/cart/items/-', value: 'b' },
        { op: 'add', path: '/cart/items/0', value: 'first' },
        { op: 'increment', path: '/cart/count', value: 2 },
        { op: 'increment', path: '/visits', value: 1 },
        { op: 'replace', path: '/flags', value: { new: true } },
        { op: 'copy', from: '/flags', path: '/flagsCopy' },
        { op: 'move', from: '/tmp', path: '/moved' },
        { op: 'remove', path: '/flagsCopy/new' },
        { op: 'add', path: '/a~1b', value: 'slash' },
      ]);
      expect(session.data).toEqual({
        cart: { items: ['first', 'a', 'b'], count: 3 },
        visits: 1,
        flags: { new: true },
        flagsCopy: {},
        moved: 'x',
        'a/b': 'slash',
      });
      expect(session.version).toBe(2);
    });

    it('a patch that fails part way leaves the record exactly as it was', async () => {
      const { manager } = await setup();
      const { token, session } = await manager.create({
        userId: 'u',
        data: { items: [1], count: 1 },
      });
      const failing = [
        [
          [
            { op: 'add', path: '/items/-', value: 2 },
            { op: 'test', path: '/count', value: 99 },
          ],
          PatchTestFailedError,
        ],
        [
          [
            { op: 'add', path: '/items/-', value: 2 },
            { op: 'increment', path: '/items', value: 1 },
          ],
          PatchTargetError,
        ],
        [[{ op: 'add', path: '/count/-', value: 2 }], PatchTargetError],
        [[{ op: 'remove', path: '/missing' }], PatchTargetError],
        [[{ op: 'add', path: '/items/5', value: 2 }], PatchTargetError],
        [[{ op: 'add', path: '/__proto__/polluted', value: true }], ForbiddenPathError],
        [[{ op: 'add', path: '/constructor/prototype/polluted', value: true }], ForbiddenPathError],
        [
          [{ op: 'replace', path: '/items', value: { nested: { __proto__: { polluted: true } } } }],
          PatchMalformedError,
        ],
        [[{ op: 'add', path: 'no-slash', value: 1 }], PatchMalformedError],
        [[{ op: 'increment', path: '/count', value: '1' }], PatchMalformedError],
        [[{ op: 'add', path: '/x' }], PatchMalformedError],
        [[{ op: 'merge', path: '/x', value: 1 }], PatchMalformedError],
        [[], PatchMalformedError],
        [{ op: 'add', path: '/x', value: 1 }, PatchMalformedError],
        [[{ op: 'add', path: '/big', value: 'x'.repeat(5000) }], SessionDataTooLargeError],
      ] as const;
      for (const [ops, errorClass] of failing) {
        await expect(
          manager.patch(token, ops),
          JSON.stringify(ops).slice(0, 80),
        ).rejects.toBeInstanceOf(errorClass);
      }
      expect(await manager.get(token)).toEqual(session);
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    });

    it('refuses a patch whose result nests deeper than the cap, whichever operation deepens it', async () => {
      const { manager } = await setup();
      const atCap = chainOf(MAX_SESSION_DATA_DEPTH - 1);
      const { token, session } = await manager.create({ userId: 'u', data: { n: atCap } });
      const leaf = '/n'.repeat(MAX_SESSION_DATA_DEPTH);
      const deepening: unknown[][] = [
        [{ op: 'replace', path: leaf, value: { n: 1 } }],
        [{ op: 'add', path: `${leaf.slice(0, -2)}/more`, value: [1] }],
        [{ op: 'copy', from: '/n', path: `${leaf}x` }],
        [
          { op: 'add', path: '/wrapper', value: {} },
          { op: 'move', from: '/n', path: '/wrapper/n' },
        ],
      ];
      for (const ops of deepening) {
        await expect(manager.patch(token, ops), JSON.stringify(ops)).rejects.toBeInstanceOf(
          ValidationError,
        );
      }
      expect(await manager.get(token)).toEqual(session);
      const shallower = await manager.patch(token, [{ op: 'replace', path: leaf, value: 2 }]);
      expect(shallower.version).toBe(2);
    });

    it('bad tokens and inputs get typed errors and write nothing', async () => {
      const { manager } = await setup();
      for (const token of ['', 'short', `${'a'.repeat(42)}!`, 'a'.repeat(44), 42, null]) {
        await expect(manager.get(token as string)).rejects.toBeInstanceOf(InvalidTokenError);
        await expect(
          manager.patch(token as string, [{ op: 'add', path: '/a', value: 1 }]),
        ).rejects.toBeInstanceOf(InvalidTokenError);
        await expect(manager.regenerate(token as string)).rejects.toBeInstanceOf(InvalidTokenError);
        await expect(manager.revoke(token as string)).rejects.toBeInstanceOf(InvalidTokenError);
      }
      await expect(
        manager.create({ userId: 'u', data: { blob: 'x'.repeat(5000) } }),
      ).rejects.toBeInstanceOf(SessionDataTooLargeError);
      await expect(manager.create({ userId: '' })).rejects.toBeInstanceOf(ValidationError);
      await expect(manager.create({ userId: 7 as unknown as string })).rejects.toBeInstanceOf(
        ValidationError,
      );
      await expect(
        manager.create({ userId: 'u', data: [] as unknown as Record<string, never> }),
      ).rejects.toBeInstanceOf(ValidationError);
      await expect(
        manager.create({ userId: 'u', data: JSON.parse('{"__proto__": {"admin": true}}') }),
      ).rejects.toBeInstanceOf(ValidationError);
      await expect(
        manager.create({ userId: 'u', data: { f: () => 1 } as never }),
      ).rejects.toBeInstanceOf(ValidationError);
      await expect(manager.create({ userId: 'u', ip: 'not-an-ip' })).rejects.toBeInstanceOf(
        ValidationError,
      );
      await expect(
        manager.patch({ id: 'a'.repeat(64) }, [{ op: 'add', path: '/a', value: 1 }], {
          expectedVersion: 0,
        }),
      ).rejects.toBeInstanceOf(ValidationError);
      expect(await manager.listForUser('u')).toEqual([]);
    });

    it('patching, touching or regenerating an unknown or expired session finds nothing', async () => {
      const { manager, clock } = await setup();
      const { token } = await manager.create({ userId: 'u' });
      clock.now += 31 * MINUTE;
      await expect(
        manager.patch(token, [{ op: 'add', path: '/a', value: 1 }]),
      ).rejects.toBeInstanceOf(SessionNotFoundError);
      await expect(manager.regenerate(token)).rejects.toBeInstanceOf(SessionNotFoundError);
      expect(await manager.touch(token)).toBe(false);
      expect(await manager.revoke(token)).toBe(false);
    });

    it('regenerate issues a new token for the same data and the old token is dead at once', async () => {
      const { manager, clock } = await setup();
      const before = await manager.create({ userId: 'u', data: { cart: ['a'] } });
      clock.now += 5 * MINUTE;
      const after = await manager.regenerate(before.token);
      expect(after.token).not.toBe(before.token);
      expect(after.session.id).not.toBe(before.session.id);
      expect(await manager.get(before.token)).toBeNull();
      expect(
        await manager.patch(before.token, [{ op: 'add', path: '/x', value: 1 }]).catch((e) => e),
      ).toBeInstanceOf(SessionNotFoundError);
      const current = await manager.get(after.token);
      expect(current?.data).toEqual({ cart: ['a'] });
      expect(current?.createdAt).toBe(before.session.createdAt);
      expect(current?.absoluteExpiresAt).toBe(before.session.absoluteExpiresAt);
      expect(current?.lastActiveAt).toBe(clock.now);
      expect((await manager.listForUser('u')).map((s) => s.id)).toEqual([after.session.id]);
    });

    it('regenerate keeps encrypted data readable under the new id', async () => {
      const codec = createCodec({
        keyring: new Keyring({ activeKeyId: 'k1', keys: { k1: generateEncryptionKey() } }),
      });
      const { manager } = await setup(codec);
      const before = await manager.create({ userId: 'u', data: { secret: 's3' } });
      const after = await manager.regenerate(before.token);
      expect((await manager.get(after.token))?.data).toEqual({ secret: 's3' });
    });

    it('rename refuses a target id that exists and keeps both sessions', async () => {
      const { store } = await setup();
      const first = sessionFixture({ id: '1'.repeat(64) });
      const second = sessionFixture({ id: '2'.repeat(64) });
      await store.create(first);
      await store.create(second);
      const activity = { now: first.createdAt, idleExpiresAt: first.idleExpiresAt };
      await expect(store.rename(first.id, second.id, activity)).rejects.toBeInstanceOf(
        SessionExistsError,
      );
      expect(await store.get(first.id, first.createdAt)).toEqual(first);
      expect(await store.get(second.id, first.createdAt)).toEqual(second);
    });

    it('rename with aliasUntil: the old id leads to the new one within the window, not after', async () => {
      const { store } = await setup();
      const session = sessionFixture({ data: { a: 1 } });
      await store.create(session);
      const now = session.createdAt + MINUTE;
      const toId = 'b'.repeat(64);
      const activity = { now, idleExpiresAt: now + 30 * MINUTE };
      const renamed = await store.rename(session.id, toId, activity, { aliasUntil: now + 30_000 });
      expect(renamed).toMatchObject({ id: toId, data: { a: 1 }, tokenIssuedAt: now });
      expect(await store.get(session.id, now)).toBeNull();
      expect(await store.resolveAlias(session.id, now)).toBe(toId);
      expect(await store.resolveAlias(session.id, now + 29_999)).toBe(toId);
      expect(await store.resolveAlias(toId, now)).toBeNull();
      expect(await store.resolveAlias('c'.repeat(64), now)).toBeNull();
      expect(await store.resolveAlias(session.id, now + 30_000)).toBeNull();
      expect(await store.get(toId, now + 30_000)).toMatchObject({ id: toId, data: { a: 1 } });
    });

    it('rename without aliasUntil records no alias', async () => {
      const { store } = await setup();
      const session = sessionFixture();
      await store.create(session);
      const now = session.createdAt;
      await store.rename(session.id, 'b'.repeat(64), { now, idleExpiresAt: now + 30 * MINUTE });
      expect(await store.resolveAlias(session.id, now)).toBeNull();
    });

    it('rename and alias are one step: the old id leads to the session at every moment', async () => {
      const { store } = await setup();
      const now = Date.UTC(2026, 0, 1);
      for (let round = 0; round < 5; round++) {
        const fromId = String(round).repeat(64);
        const toId = String(round + 5).repeat(64);
        await store.create(sessionFixture({ id: fromId, data: { round } }));
        let done = false;
        let misses = 0;
        const probe = async () => {
          while (!done) {
            if (await store.get(fromId, now)) continue;
            const target = await store.resolveAlias(fromId, now);
            if (!target || !(await store.get(target, now))) misses++;
          }
        };
        const probes = [probe(), probe()];
        const renamed = store.rename(
          fromId,
          toId,
          { now, idleExpiresAt: now + 30 * MINUTE },
          { aliasUntil: now + 30_000 },
        );
        await renamed.finally(() => {
          done = true;
        });
        await Promise.all(probes);
        expect(misses).toBe(0);
        expect((await store.get(toId, now))?.data).toEqual({ round });
        expect(await store.get(fromId, now)).toBeNull();
        expect(await store.resolveAlias(fromId, now)).toBe(toId);
      }
    });

    it('a sweep leaves no expired alias and keeps the live ones', async () => {
      const { store } = await setup();
      const now = Date.UTC(2026, 0, 1);
      const activity = { now, idleExpiresAt: now + 30 * MINUTE };
      await store.create(sessionFixture({ id: '1'.repeat(64) }));
      await store.create(sessionFixture({ id: '2'.repeat(64) }));
      await store.rename('1'.repeat(64), '3'.repeat(64), activity, { aliasUntil: now + 10_000 });
      await store.rename('2'.repeat(64), '4'.repeat(64), activity, { aliasUntil: now + MINUTE });
      expect(await store.sweepExpired(now + 20_000, 100)).toEqual([]);
      expect(await store.resolveAlias('1'.repeat(64), now + 20_000)).toBeNull();
      expect(await store.resolveAlias('2'.repeat(64), now + 20_000)).toBe('4'.repeat(64));
      expect(await store.get('3'.repeat(64), now + 20_000)).not.toBeNull();
    });

    it('keeps tokenIssuedAt through create, update and touch, and sets it on rename', async () => {
      const { store } = await setup();
      const session = sessionFixture({ tokenIssuedAt: Date.UTC(2026, 0, 1) + 7 });
      await store.create(session);
      expect(await store.get(session.id, session.createdAt)).toEqual(session);
      const later = session.createdAt + MINUTE;
      const activity = { now: later, idleExpiresAt: later + 30 * MINUTE };
      const updated = await store.update(
        session.id,
        [{ op: 'add', path: '/a', value: 1 }],
        activity,
      );
      expect(updated.tokenIssuedAt).toBe(session.tokenIssuedAt);
      expect(await store.touch(session.id, activity)).toBe(true);
      expect((await store.get(session.id, later))?.tokenIssuedAt).toBe(session.tokenIssuedAt);
      await store.rename(session.id, 'b'.repeat(64), activity);
      expect((await store.get('b'.repeat(64), later))?.tokenIssuedAt).toBe(later);
    });

    it('rotate: the old token reads, patches, touches and revokes the rotated session during the grace only', async () => {
      const { manager, clock } = await setup();
      const before = await manager.create({ userId: 'u', data: { cart: [] } });
      expect(before.session.tokenIssuedAt).toBe(clock.now);
      clock.now += 5 * MINUTE;
      const after = await manager.rotate(before.token, { grace: 30_000 });
      expect(after.session.id).not.toBe(before.session.id);
      expect(after.session.tokenIssuedAt).toBe(clock.now);
      clock.now += 10_000;
      expect((await manager.get(before.token))?.id).toBe(after.session.id);
      await manager.patch(before.token, [{ op: 'add', path: '/cart/-', value: 'late' }]);
      expect(await manager.touch(before.token)).toBe(true);
      expect((await manager.get(after.token))?.data).toEqual({ cart: ['late'] });
      await manager.settle();
      clock.now += 20_000; // the grace is over
      expect(await manager.get(before.token)).toBeNull();
      expect(await manager.touch(before.token)).toBe(false);
      await expect(
        manager.patch(before.token, [{ op: 'add', path: '/x', value: 1 }]),
      ).rejects.toBeInstanceOf(SessionNotFoundError);
      expect((await manager.get(after.token))?.data).toEqual({ cart: ['late'] });
      await manager.settle();

      const again = await manager.rotate(after.token);
      expect(await manager.revoke(after.token)).toBe(true);
      expect(await manager.get(again.token)).toBeNull();
    });

    it('a token rotated twice within its grace still leads to the session, and regenerate kills it', async () => {
      const { manager, clock } = await setup();
      const first = await manager.create({ userId: 'u', data: { n: 1 } });
      const second = await manager.rotate(first.token, { grace: 30_000 });
      clock.now += 1000;
      const third = await manager.rotate(second.token, { grace: 30_000 });
      clock.now += 1000;
      expect((await manager.get(first.token))?.id).toBe(third.session.id);
      await manager.patch(first.token, [{ op: 'increment', path: '/n', value: 1 }]);
      expect((await manager.get(third.token))?.data).toEqual({ n: 2 });
      const promoted = await manager.regenerate(first.token);
      for (const earlier of [first, second, third]) {
        expect(await manager.get(earlier.token)).toBeNull();
      }
      expect((await manager.get(promoted.token))?.data).toEqual({ n: 2 });
    });

    it('regenerate through a token rotated away within its grace kills every earlier token', async () => {
      const { manager, clock } = await setup();
      const events: string[] = [];
      manager.on('regenerated', (event) => events.push(event.previousId));
      const first = await manager.create({ userId: 'u', data: { n: 1 } });
      const rotated = await manager.rotate(first.token, { grace: 30_000 });
      clock.now += 1000;
      const promoted = await manager.regenerate(first.token);
      expect(events).toEqual([first.session.id, rotated.session.id]);
      expect((await manager.get(promoted.token))?.data).toEqual({ n: 1 });
      expect(await manager.get(first.token)).toBeNull();
      expect(await manager.get(rotated.token)).toBeNull();
    });

    it('rotate with no grace is as immediate as regenerate, and bad graces are refused', async () => {
      const { manager, store } = await setup();
      const { token, session } = await manager.create({ userId: 'u' });
      const rotated = await manager.rotate(token, { grace: 0 });
      expect(await manager.get(token)).toBeNull();
      expect(await store.resolveAlias(session.id, session.createdAt)).toBeNull();
      await expect(manager.rotate(rotated.token, { grace: -1 })).rejects.toBeInstanceOf(
        ValidationError,
      );
      await expect(manager.rotate(rotated.token, { grace: 1.5 })).rejects.toBeInstanceOf(
        ValidationError,
      );
      expect(() => new SessionManager({ store, rotationInterval: 0 })).toThrow(ValidationError);
      expect(() => new SessionManager({ store, rotationGrace: -5 })).toThrow(ValidationError);
      expect((await manager.get(rotated.token))?.id).toBe(rotated.session.id);
    });

    it('rotationDue says when a token is older than the rotation interval', async () => {
      const { store } = await setup();
      const clock = { now: Date.UTC(2026, 0, 1) };
      const manager = new SessionManager({ store, clock: () => clock.now, rotationInterval: HOUR });
      const { session } = await manager.create({ userId: 'u' });
      expect(manager.rotationDue(session)).toBe(false);
      clock.now += HOUR;
      expect(manager.rotationDue(session)).toBe(true);
      expect(manager.rotationDue(session, 2 * HOUR)).toBe(false);
    });

    it('lists a user’s live sessions newest first, from that user only', async () => {
      const { manager, clock } = await setup();
      const oldest = await manager.create({ userId: 'alice' });
      clock.now += MINUTE;
      const middle = await manager.create({ userId: 'alice' });
      clock.now += MINUTE;
      const newest = await manager.create({ userId: 'alice' });
      await manager.create({ userId: 'bob' });
      await manager.revoke(middle.token);
      expect((await manager.listForUser('alice')).map((s) => s.id)).toEqual([
        newest.session.id,
        oldest.session.id,
      ]);
      clock.now += 29 * MINUTE + 1; // oldest has now been idle for 31 minutes
      expect((await manager.listForUser('alice')).map((s) => s.id)).toEqual([newest.session.id]);
      expect(await manager.listForUser('carol')).toEqual([]);
    });

    it('revokes every session of a user but the one kept', async () => {
      const { manager } = await setup();
      const keep = await manager.create({ userId: 'alice' });
      const others = await Promise.all([1, 2, 3].map(() => manager.create({ userId: 'alice' })));
      const bob = await manager.create({ userId: 'bob' });
      const revoked: string[] = [];
      manager.on('revoked', (event) => revoked.push(event.sessionId));
      expect(await manager.revokeAllForUser('alice', { except: keep.token })).toBe(3);
      expect(revoked.sort()).toEqual(others.map((o) => o.session.id).sort());
      for (const other of others) expect(await manager.get(other.token)).toBeNull();
      expect(await manager.get(keep.token)).not.toBeNull();
      expect(await manager.get(bob.token)).not.toBeNull();
      expect(await manager.revokeAllForUser('alice')).toBe(1);
      expect(await manager.get(keep.token)).toBeNull();
    });

    it('sweeps expired sessions in bounded batches, archiving each before it goes', async () => {
      const { manager, store, clock } = await setup();
      const expiring = await Promise.all(
        Array.from({ length: 7 }, () => manager.create({ userId: 'old' })),
      );
      clock.now += 20 * MINUTE;
      const live = await manager.create({ userId: 'new' });
      clock.now += 11 * MINUTE;
      const batches: number[] = [];
      const archived: Session[] = [];
      const expiredEvents: string[] = [];
      manager.on('expired', (event) => expiredEvents.push(event.session.id));
      const swept = await manager.sweepExpired({
        batchSize: 3,
        archive: async (sessions) => {
          batches.push(sessions.length);
          archived.push(...sessions);
        },
      });
      expect(swept).toBe(7);
      expect(batches).toEqual([3, 3, 1]);
      expect(archived.map((s) => s.id).sort()).toEqual(expiring.map((e) => e.session.id).sort());
      expect(expiredEvents.sort()).toEqual(archived.map((s) => s.id).sort());
      expect(await store.sweepExpired(clock.now, 10)).toEqual([]);
      expect(await manager.get(live.token)).not.toBeNull();
    });

    it('a failing archive sink deletes nothing', async () => {
      const { manager, store, clock } = await setup();
      const { session } = await manager.create({ userId: 'u' });
      clock.now += 31 * MINUTE;
      const failure = new Error('archive down');
      await expect(
        manager.sweepExpired({
          archive: async () => {
            throw failure;
          },
        }),
      ).rejects.toBe(failure);
      const retried = await store.sweepExpired(clock.now, 10);
      expect(retried.map((s) => s.id)).toEqual([session.id]);
    });

    it('scans every live session exactly once, a bounded page at a time', async () => {
      const { manager, store, clock } = await setup();
      const early = await manager.create({ userId: 'gone' });
      clock.now += 20 * MINUTE;
      const live = await Promise.all(
        Array.from({ length: 7 }, (_, n) => manager.create({ userId: `u${n % 3}` })),
      );
      clock.now += 11 * MINUTE; // `early` has now been idle for 31 minutes
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const page = await store.scan(cursor, 3, clock.now);
        expect(page.sessions.length).toBeLessThanOrEqual(3);
        seen.push(...page.sessions.map((session) => session.id));
        cursor = page.cursor;
        pages++;
      } while (cursor !== null && pages < 20);
      expect(seen.sort()).toEqual(live.map((l) => l.session.id).sort());
      expect(seen).not.toContain(early.session.id);
    });

    it('counts the live sessions, leaving out the expired and the revoked, and a regenerated one once', async () => {
      const { manager, store, clock } = await setup();
      expect(await manager.countLive()).toBe(0);
      await Promise.all(Array.from({ length: 3 }, () => manager.create({ userId: 'early' })));
      clock.now += 20 * MINUTE;
      const revoked = await manager.create({ userId: 'late' });
      const regenerated = await manager.create({ userId: 'late' });
      await Promise.all([1, 2].map(() => manager.create({ userId: 'late' })));
      expect(await manager.countLive()).toBe(7);
      await manager.revoke(revoked.token);
      await manager.regenerate(regenerated.token);
      expect(await manager.countLive()).toBe(6);
      clock.now += 11 * MINUTE; // the early ones have now been idle for 31 minutes
      expect(await manager.countLive()).toBe(3);
      expect(await store.countLive(clock.now - 11 * MINUTE)).toBe(6);
      clock.now += 30 * MINUTE;
      expect(await manager.countLive()).toBe(0);
    });

    it('emits created, updated, regenerated and revoked events with the session', async () => {
      const { manager } = await setup();
      const events: string[] = [];
      for (const name of ['created', 'updated', 'regenerated', 'revoked'] as const) {
        manager.on(name, () => events.push(name));
      }
      const { token } = await manager.create({ userId: 'u' });
      await manager.patch(token, [{ op: 'add', path: '/a', value: 1 }]);
      const next = await manager.regenerate(token);
      await manager.revoke(next.token);
      expect(events).toEqual(['created', 'updated', 'regenerated', 'revoked']);
    });

    it('reads a record sealed under a retired key and re-seals it under the active key on the next write', async () => {
      const k1 = generateEncryptionKey();
      const k2 = generateEncryptionKey();
      const ring = (activeKeyId: string, keys: Record<string, string>) =>
        createCodec({ keyring: new Keyring({ activeKeyId, keys }) });
      let current = ring('k1', { k1 });
      const rotating: SessionCodec = {
        encode: (id, data) => current.encode(id, data),
        decode: (id, bytes) => current.decode(id, bytes),
      };
      const { manager } = await setup(rotating);
      const { token } = await manager.create({ userId: 'u', data: { secret: 'v1' } });
      current = ring('k2', { k1, k2 });
      expect((await manager.get(token))?.data).toEqual({ secret: 'v1' });
      await manager.patch(token, [{ op: 'replace', path: '/secret', value: 'v2' }]);
      current = ring('k2', { k2 }); // k1 retired: readable only if the write re-sealed under k2
      expect((await manager.get(token))?.data).toEqual({ secret: 'v2' });
    });
  });
}

/** A value whose innermost scalar sits `levels` keys down: `chainOf(2)` is `{ n: { n: 1 } }`. */
function chainOf(levels: number): Session['data'] | number {
  let value: Session['data'] | number = 1;
  for (let level = 0; level < levels; level++) value = { n: value };
  return value;
}
