import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import {
  applyPatch,
  ClawsessionError,
  type PatchOperation,
  type SessionData,
  SessionManager,
  type SessionStore,
} from '../../src/core/index.js';
import { MemoryStore, RedisStore, SqliteStore } from '../../src/stores/index.js';
import { dropKeys, freshPrefix, REDIS_URL, RUN_PREFIX } from '../stores/fixtures/redis.js';
import { concurrentPatches, INITIAL } from '../support/concurrent-patches.js';

/*
 * Whatever the interleaving, concurrent patches of one session end as if the
 * ones that succeeded had run one after another in some order: the final data
 * is what some permutation of them gives, and the version counts exactly them.
 * Two stores on one backend (two connections, as two processes would have)
 * share the writes where the backend allows it.
 */

const dir = mkdtempSync(join(tmpdir(), 'clawsession-serial-'));
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await dropKeys(REDIS_URL, RUN_PREFIX);
});

/** `data` after `patches` in this order, or null if one of them cannot apply at its turn. */
function serially(data: SessionData, patches: readonly PatchOperation[][]): SessionData | null {
  let current = data;
  for (const patch of patches) {
    try {
      current = applyPatch(current, patch);
    } catch {
      return null;
    }
  }
  return current;
}

function* permutations<T>(items: readonly T[]): Generator<T[]> {
  if (items.length <= 1) {
    yield [...items];
    return;
  }
  for (let i = 0; i < items.length; i++) {
    const rest = [...items.slice(0, i), ...items.slice(i + 1)];
    for (const tail of permutations(rest)) yield [items[i] as T, ...tail];
  }
}

const backends: { name: string; open: () => Promise<SessionStore[]> }[] = [
  { name: 'MemoryStore', open: async () => [new MemoryStore()] },
  {
    name: 'SqliteStore',
    open: async () => {
      const filename = join(dir, `${freshPrefix().replaceAll(':', '-')}.db`);
      return [new SqliteStore({ filename }), new SqliteStore({ filename })];
    },
  },
  {
    name: 'RedisStore',
    open: async () => {
      const prefix = freshPrefix();
      return Promise.all([0, 1].map(() => RedisStore.connect({ url: REDIS_URL, prefix })));
    },
  },
];

describe.each(backends)('concurrent patches on $name', ({ open }) => {
  it('end as some serial order of the patches that succeeded, and only typed errors refuse the rest', async () => {
    const stores = await open();
    const managers = stores.map((store) => new SessionManager({ store }));
    try {
      await fc.assert(
        fc.asyncProperty(concurrentPatches, async (patches) => {
          const { token } = await (managers[0] as SessionManager).create({
            userId: 'u',
            data: INITIAL,
          });
          const results = await Promise.allSettled(
            patches.map((patch, i) =>
              (managers[i % managers.length] as SessionManager).patch(token, patch),
            ),
          );
          for (const result of results)
            if (result.status === 'rejected')
              expect(result.reason).toBeInstanceOf(ClawsessionError);
          const succeeded = patches.filter((_, i) => results[i]?.status === 'fulfilled');
          const final = await (managers[1 % managers.length] as SessionManager).get(token);
          expect(final?.version).toBe(1 + succeeded.length);
          const explained = [...permutations(succeeded)].some((order) => {
            const expected = serially(INITIAL, order);
            return expected !== null && isDeepStrictEqual(expected, final?.data);
          });
          expect(
            explained,
            `no serial order of ${JSON.stringify(succeeded)} gives ${JSON.stringify(final?.data)}`,
          ).toBe(true);
        }),
        { numRuns: 100 },
      );
    } finally {
      await Promise.all(stores.map((store) => store.close()));
    }
  });
});
