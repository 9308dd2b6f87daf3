import { describe, expect, it } from 'vitest';
import {
  applyInOrder,
  type CommitBatch,
  GroupCommit,
  type QueuedUpdate,
} from '../../src/core/group-commit.js';
import {
  type PatchOperation,
  type Session,
  StoreUnavailableError,
  ValidationError,
} from '../../src/core/index.js';

const T = Date.UTC(2026, 0, 1);
const MINUTE = 60_000;
const activity = { now: T, idleExpiresAt: T + 30 * MINUTE };
const append = (value: number): PatchOperation[] => [{ op: 'add', path: '/items/-', value }];

function session(id: string): Session {
  return {
    id,
    userId: 'u',
    data: { items: [] },
    version: 1,
    createdAt: T,
    lastActiveAt: T,
    idleExpiresAt: T + 30 * MINUTE,
    absoluteExpiresAt: T + 24 * 60 * MINUTE,
    tokenIssuedAt: T,
    ip: null,
    userAgent: null,
  };
}

/**
 * A store of sessions in memory whose commits wait until `release`d, so that
 * a test decides when the write in flight ends. It records every batch.
 */
function heldStore() {
  const sessions = new Map<string, Session>();
  const batches: { id: string; size: number }[] = [];
  const held: (() => void)[] = [];
  let failure: unknown = null;
  const commit: CommitBatch = async (id, batch) => {
    batches.push({ id, size: batch.length });
    await new Promise<void>((resolve) => held.push(resolve));
    if (failure) throw failure;
    const { outcomes, written } = applyInOrder(sessions.get(id) ?? null, batch, () => null);
    if (written) sessions.set(id, written.session);
    return outcomes;
  };
  return {
    sessions,
    batches,
    commit,
    failWith: (error: unknown) => {
      failure = error;
    },
    /** Lets the commit in flight finish, and waits until the next one, if any, has started. */
    release: async () => {
      held.shift()?.();
      await new Promise((resolve) => setTimeout(resolve, 5));
    },
  };
}

describe('GroupCommit', () => {
  it('writes the updates queued behind a commit in flight together, at most maxBatch at a time', async () => {
    const store = heldStore();
    store.sessions.set('s', session('s'));
    const updates = new GroupCommit(store.commit, { maxWait: 5000, maxBatch: 4 });
    const results = Array.from({ length: 10 }, (_, i) => updates.update('s', append(i), activity));
    for (let batch = 0; batch < 4; batch++) await store.release();
    expect(store.batches.map(({ size }) => size)).toEqual([1, 4, 4, 1]);
    const sessions = await Promise.all(results);
    expect(sessions.map(({ version }) => version)).toEqual(
      Array.from({ length: 10 }, (_, i) => i + 2),
    );
    for (const [i, { data }] of sessions.entries())
      expect(data.items).toEqual(Array.from({ length: i + 1 }, (_, n) => n));
  });

  it('a session never waits for the commits of another', async () => {
    const store = heldStore();
    store.sessions.set('a', session('a'));
    store.sessions.set('b', session('b'));
    const updates = new GroupCommit(store.commit);
    const first = updates.update('a', append(1), activity);
    const second = updates.update('b', append(2), activity);
    expect(store.batches).toEqual([
      { id: 'a', size: 1 },
      { id: 'b', size: 1 },
    ]);
    await store.release();
    await store.release();
    await expect(first).resolves.toMatchObject({ data: { items: [1] } });
    await expect(second).resolves.toMatchObject({ data: { items: [2] } });
  });

  it('a commit that throws fails each update of its batch with that error, and the queue goes on', async () => {
    const store = heldStore();
    store.sessions.set('s', session('s'));
    const updates = new GroupCommit(store.commit);
    const failing = expect(updates.update('s', append(1), activity)).rejects.toBeInstanceOf(
      ValidationError,
    );
    const queued = updates.update('s', append(2), activity);
    store.failWith(new ValidationError('refused'));
    await store.release();
    store.failWith(null);
    await store.release();
    await failing;
    await expect(queued).resolves.toMatchObject({ version: 2, data: { items: [2] } });
  });

  it('updates queued behind a commit that found the store unavailable fail at once, unsent', async () => {
    const store = heldStore();
    store.sessions.set('s', session('s'));
    const updates = new GroupCommit(store.commit);
    const results = Array.from({ length: 5 }, (_, i) =>
      expect(updates.update('s', append(i), activity)).rejects.toBeInstanceOf(
        StoreUnavailableError,
      ),
    );
    store.failWith(new StoreUnavailableError('down'));
    await store.release();
    await Promise.all(results);
    expect(store.batches).toHaveLength(1);
    // The queue is empty again: the next update is committed, not failed.
    store.failWith(null);
    const later = updates.update('s', append(9), activity);
    await store.release();
    await expect(later).resolves.toMatchObject({ data: { items: [9] } });
  });

  it('an update whose batch starts more than maxWait after it was queued fails unrun', async () => {
    const store = heldStore();
    store.sessions.set('s', session('s'));
    const updates = new GroupCommit(store.commit, { maxWait: 20, maxBatch: 64 });
    const first = updates.update('s', append(1), activity);
    const late = expect(updates.update('s', append(2), activity)).rejects.toThrow(
      /waited over 20 ms/,
    );
    await new Promise((resolve) => setTimeout(resolve, 40));
    await store.release();
    await expect(first).resolves.toMatchObject({ version: 2 });
    await late;
    expect(store.batches).toHaveLength(1);
  });
});

describe('applyInOrder', () => {
  it('applies each update to what the ones before it left, and skips a failing one alone', () => {
    const batch: QueuedUpdate[] = [
      { ops: append(1), options: activity },
      { ops: [{ op: 'remove', path: '/missing' }], options: activity },
      { ops: append(2), options: { ...activity, expectedVersion: 2 } },
      { ops: append(3), options: { ...activity, now: T + 1, idleExpiresAt: T + 31 * MINUTE } },
    ];
    const encoded: number[] = [];
    const { outcomes, written } = applyInOrder(session('s'), batch, (next) => {
      encoded.push(next.version);
      return next.version;
    });
    expect(
      outcomes.map((outcome) => ('session' in outcome ? outcome.session.version : null)),
    ).toEqual([2, null, 3, 4]);
    expect(written?.session).toMatchObject({
      version: 4,
      lastActiveAt: T + 1,
      data: { items: [1, 2, 3] },
    });
    expect(written?.encoded).toBe(4);
    expect(encoded).toEqual([2, 3, 4]);
  });

  it('finds nothing for every update when the record is missing, and one expired at an update’s clock is missing for it', () => {
    const missing = applyInOrder(null, [{ ops: append(1), options: activity }], () => null);
    expect(missing.written).toBeNull();
    expect(missing.outcomes[0]).toMatchObject({ error: { code: 'ERR_SESSION_NOT_FOUND' } });

    const expiresSoon = { ...session('s'), idleExpiresAt: T + 1 };
    const late = { now: T + 1, idleExpiresAt: T + 30 * MINUTE };
    const { outcomes } = applyInOrder(
      expiresSoon,
      [
        { ops: append(1), options: late },
        { ops: append(2), options: activity },
        { ops: append(3), options: late },
      ],
      () => null,
    );
    expect(
      outcomes.map((outcome) => ('session' in outcome ? outcome.session.version : null)),
    ).toEqual([null, 2, 3]);
  });
});
