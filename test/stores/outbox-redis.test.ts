import { randomBytes } from 'node:crypto';
import { createClient, RESP_TYPES } from 'redis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  ConfigError,
  type OutboxEvent,
  type OutboxRecord,
  PatchTargetError,
  type Session,
  SessionExistsError,
  SessionNotFoundError,
  StoreUnavailableError,
  ValidationError,
  VersionConflictError,
} from '../../src/core/index.js';
import { openBackend } from '../../src/stores/index.js';
import { RedisStore, type RedisStoreOptions } from '../../src/stores/redis/index.js';
import { Keys } from '../../src/stores/redis/layout.js';
import { describeOutbox } from '../conformance/outbox.js';
import { describeSessionStore } from '../conformance/session-store.js';
import { dropKeys, freshPrefix, REDIS_URL, RUN_PREFIX, startProxy } from './fixtures/redis.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const T = Date.UTC(2026, 0, 1);

afterAll(() => dropKeys(REDIS_URL, RUN_PREFIX));

// Recording events changes nothing of what the store does.
describeSessionStore('RedisStore with an outbox', ({ codec }) =>
  RedisStore.connect({ url: REDIS_URL, prefix: freshPrefix(), codec, outbox: true }),
);

describe('RedisStore with an outbox', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function open(options: Partial<RedisStoreOptions> = {}) {
    const prefix = options.prefix ?? freshPrefix();
    const store = await RedisStore.connect({
      url: REDIS_URL,
      outbox: { instance: 'gw-test' },
      ...options,
      prefix,
    });
    cleanups.push(() => store.close());
    const outbox = store.outbox;
    if (!outbox && options.outbox !== undefined) throw new Error('no outbox');
    return { store, outbox: outbox as NonNullable<typeof outbox>, keys: new Keys(prefix) };
  }

  /** A client whose replies are bytes: session keys and values are binary. */
  async function raw() {
    const client = await createClient({ url: REDIS_URL }).connect();
    cleanups.push(() => client.close());
    return client.withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer });
  }

  const newId = () => randomBytes(32).toString('hex');

  function fixture(overrides: Partial<Session> = {}): Session {
    return {
      id: newId(),
      userId: 'alice',
      data: {},
      version: 1,
      createdAt: T,
      lastActiveAt: T,
      idleExpiresAt: T + 30 * MINUTE,
      absoluteExpiresAt: T + 24 * 60 * MINUTE,
      tokenIssuedAt: T,
      ip: '203.0.113.7',
      userAgent: 'test-agent',
      ...overrides,
    };
  }

  const at = (now: number) => ({ now, idleExpiresAt: now + 30 * MINUTE });

  async function all(outbox: {
    read(after: string | null, limit: number): Promise<OutboxRecord[]>;
  }) {
    return outbox.read(null, 10_000);
  }

  function serviceEvent(overrides: Partial<OutboxEvent> = {}): OutboxEvent {
    return {
      id: newId().slice(0, 36),
      type: 'login.failed',
      time: T,
      sessionId: null,
      userId: 'alice',
      sequence: 0,
      instance: 'gw-test',
      data: { reason: 'bad-password' },
      ...overrides,
    };
  }

  it('records each write with its event: type, data, sequence, and the instance', async () => {
    const { store, outbox } = await open();
    const session = fixture();
    await store.create(session);
    await store.update(session.id, [{ op: 'add', path: '/cart', value: [1] }], at(T + 1000));
    await store.update(
      session.id,
      [
        { op: 'add', path: '/cart/-', value: 2 },
        { op: 'move', from: '/cart', path: '/basket' },
      ],
      at(T + 2000),
    );
    await store.delete(session.id, { cause: { actor: 'user', reason: 'logout' } });

    const records = await all(outbox);
    expect(records.map(({ type, sequence }) => [type, sequence])).toEqual([
      ['session.created', 1],
      ['session.updated', 2],
      ['session.updated', 3],
      ['session.revoked', 4],
    ]);
    for (const record of records) {
      expect(record).toMatchObject({ sessionId: session.id, userId: 'alice', instance: 'gw-test' });
      expect(record.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-/); // UUIDv7
    }
    const [created, first, second, revoked] = records as OutboxRecord[];
    expect(created).toMatchObject({
      time: T,
      data: {
        ip: '203.0.113.7',
        userAgent: 'test-agent',
        idleExpiresAt: session.idleExpiresAt,
        absoluteExpiresAt: session.absoluteExpiresAt,
      },
    });
    expect(first).toMatchObject({ time: T + 1000, data: { version: 2, paths: ['/cart'] } });
    expect(second?.data).toEqual({ version: 3, paths: ['/cart/-', '/basket', '/cart'] });
    expect(revoked?.data).toEqual({ actor: 'user', reason: 'logout' });
    // Positions increase, and each is what read takes to go on from there.
    expect(await outbox.read(created?.position ?? null, 2)).toEqual([first, second]);
  });

  it('carries the sequence across renames to the new id, and moves the counter with it', async () => {
    const { store, outbox, keys } = await open();
    const redis = await raw();
    const session = fixture();
    await store.create(session);
    const second = newId();
    const third = newId();
    expect(await store.rename(session.id, second, at(T + 1000))).toMatchObject({ id: second });
    expect(
      await store.rename(second, third, at(T + 2000), { aliasUntil: T + 2000 + MINUTE }),
    ).toMatchObject({ id: third });
    await store.update(third, [{ op: 'add', path: '/x', value: 1 }], at(T + 3000));

    const records = await all(outbox);
    expect(
      records.map(({ type, sessionId, sequence, data }) => [type, sessionId, sequence, data]),
    ).toEqual([
      ['session.created', session.id, 1, expect.anything()],
      ['session.regenerated', second, 2, { previousId: session.id }],
      ['session.rotated', third, 3, { previousId: second, graceUntil: T + 2000 + MINUTE }],
      ['session.updated', third, 4, { version: 2, paths: ['/x'] }],
    ]);
    expect(await redis.exists([keys.session(session.id), keys.session(second)])).toBe(0);
    expect(await redis.exists([keys.sequence(session.id), keys.sequence(second)])).toBe(0);
    expect(Number(await redis.get(keys.sequence(third)))).toBe(4);
    expect(await store.resolveAlias(second, T + 2500)).toBe(third);
    expect(await store.listByUser('alice', T + 3000)).toEqual([
      expect.objectContaining({ id: third, version: 2 }),
    ]);
  });

  it('records nothing for a write that fails or is refused', async () => {
    const { store, outbox } = await open();
    const session = fixture();
    const other = fixture();
    await store.create(session);
    await store.create(other);
    const before = await all(outbox);

    await expect(store.create(fixture({ id: session.id }))).rejects.toThrow(SessionExistsError);
    await expect(
      store.update(session.id, [{ op: 'add', path: '/a', value: 1 }], {
        ...at(T + 1000),
        expectedVersion: 7,
      }),
    ).rejects.toThrow(VersionConflictError);
    await expect(
      store.update(session.id, [{ op: 'test', path: '/a', value: 1 }], at(T + 1000)),
    ).rejects.toThrow(PatchTargetError);
    await expect(
      store.update(newId(), [{ op: 'add', path: '/a', value: 1 }], at(T + 1000)),
    ).rejects.toThrow(SessionNotFoundError);
    await expect(
      store.update(session.id, [{ op: 'add', path: '/a', value: 1 }], at(T + 31 * MINUTE)),
    ).rejects.toThrow(SessionNotFoundError); // expired
    await expect(store.rename(session.id, other.id, at(T + 1000))).rejects.toThrow(
      SessionExistsError,
    );
    expect(await store.rename(newId(), newId(), at(T + 1000))).toBeNull();
    expect(await store.delete(newId())).toBe(false);
    expect(await store.deleteByUser('nobody')).toEqual([]);
    expect(await store.sweepExpired(T + 1000, 10)).toEqual([]);
    expect(await store.touch(session.id, at(T + 1000))).toBe(true); // touches record none

    expect(await all(outbox)).toEqual(before);
    // The refused rename left both sessions as they were.
    expect(await store.get(session.id, T + 1000)).toMatchObject({ version: 1 });
    expect(await store.get(other.id, T + 1000)).toMatchObject({ version: 1 });
  });

  it('writes nothing when the event cannot be recorded: the stream is looked at first', async () => {
    const { store, keys } = await open();
    const redis = await raw();
    const session = fixture();
    await store.create(session);
    await redis.del(keys.events());
    await redis.set(keys.events(), 'not a stream');

    const fresh = fixture();
    await expect(store.create(fresh)).rejects.toThrow(/WRONGTYPE/);
    expect(await redis.exists(keys.session(fresh.id))).toBe(0);
    await expect(
      store.update(session.id, [{ op: 'add', path: '/a', value: 1 }], at(T + 1000)),
    ).rejects.toThrow(/WRONGTYPE/);
    await expect(store.rename(session.id, newId(), at(T + 1000))).rejects.toThrow(/WRONGTYPE/);
    await expect(store.delete(session.id)).rejects.toThrow(/WRONGTYPE/);
    expect(await store.get(session.id, T + 1000)).toMatchObject({ version: 1, data: {} });
    expect(Number(await redis.get(keys.sequence(session.id)))).toBe(1);

    // Nor when the counter cannot count.
    await redis.del(keys.events());
    await redis.del(keys.sequence(session.id));
    await redis.hSet(keys.sequence(session.id), 'not', 'a counter');
    await expect(
      store.update(session.id, [{ op: 'add', path: '/a', value: 1 }], at(T + 1000)),
    ).rejects.toThrow(/WRONGTYPE/);
    await expect(store.rename(session.id, newId(), at(T + 1000))).rejects.toThrow(/WRONGTYPE/);
    await expect(store.delete(session.id)).rejects.toThrow(/WRONGTYPE/);
    expect(await store.get(session.id, T + 1000)).toMatchObject({ version: 1, data: {} });
    expect(await redis.exists(keys.events())).toBe(0);
  });

  it('records nothing, and changes nothing, when Redis is out of reach', async () => {
    const prefix = freshPrefix();
    const { store: direct, outbox } = await open({ prefix });
    const proxy = await startProxy(Number(new URL(REDIS_URL).port || 6379));
    cleanups.push(() => proxy.close());
    const { store } = await open({ prefix, url: proxy.url, commandTimeout: 500 });
    const session = fixture();
    await store.create(session);

    // Redis out of reach: neither.
    proxy.stall();
    await expect(
      store.update(session.id, [{ op: 'add', path: '/b', value: 1 }], at(T + 2000)),
    ).rejects.toBeInstanceOf(StoreUnavailableError);
    await proxy.close(); // what the stalled socket held never reaches Redis
    expect(await direct.get(session.id, T + 2000)).toMatchObject({ version: 1 });
    expect(await all(outbox)).toHaveLength(1);
  });

  it('keeps a change and its event together when the reply is lost: the caller hears of an outage, both happened', async () => {
    const prefix = freshPrefix();
    const { store: direct, outbox } = await open({ prefix });
    const proxy = await startProxy(Number(new URL(REDIS_URL).port || 6379));
    cleanups.push(() => proxy.close());
    const { store } = await open({ prefix, url: proxy.url, commandTimeout: 500 });
    const session = fixture();
    await store.create(session);
    proxy.hold(); // a delete is one script: it runs, its reply waits in the proxy
    await expect(store.delete(session.id)).rejects.toBeInstanceOf(StoreUnavailableError);
    proxy.release();
    expect(await direct.get(session.id, T)).toBeNull();
    expect((await all(outbox)).map(({ type, sequence }) => [type, sequence])).toEqual([
      ['session.created', 1],
      ['session.revoked', 2],
    ]);
  });

  it('records nothing for silent writes, and a session without a counter counts from 0', async () => {
    const { store, outbox, keys } = await open();
    const redis = await raw();
    const session = fixture();
    await store.create(session, { silent: true });
    expect(await redis.exists(keys.sequence(session.id))).toBe(0);
    await store.update(session.id, [{ op: 'add', path: '/a', value: 1 }], {
      ...at(T + 1000),
      silent: true,
    });
    const renamed = newId();
    await store.rename(session.id, renamed, at(T + 2000), { silent: true });
    expect(await all(outbox)).toEqual([]);

    await store.update(renamed, [{ op: 'add', path: '/b', value: 1 }], at(T + 3000));
    // A counter the update made expires like one made with the session: never left forever.
    expect(await redis.pExpireTime(keys.sequence(renamed))).toBeGreaterThan(0);
    await store.rename(renamed, session.id, at(T + 4000), { silent: true });
    await store.update(session.id, [{ op: 'add', path: '/c', value: 1 }], at(T + 5000));
    await store.delete(session.id, { silent: true });
    expect((await all(outbox)).map(({ type, sequence }) => [type, sequence])).toEqual([
      ['session.updated', 1],
      ['session.updated', 2], // the silent rename moved the counter all the same
    ]);
    expect(await redis.exists([keys.sequence(session.id), keys.sequence(renamed)])).toBe(0);
  });

  it('deleteByUser records a session.revoked per session deleted, with the cause', async () => {
    const { store, outbox, keys } = await open();
    const redis = await raw();
    const [a, b, kept] = [fixture(), fixture(), fixture()];
    const bob = fixture({ userId: 'bob' });
    for (const session of [a, b, kept, bob]) await store.create(session);
    await store.update(b.id, [{ op: 'add', path: '/a', value: 1 }], at(T + 1000));
    const mark = (await all(outbox)).at(-1)?.position ?? null;

    const deleted = await store.deleteByUser('alice', kept.id, {
      cause: { actor: 'admin:k1', reason: 'password-changed' },
    });
    expect(deleted.sort()).toEqual([a.id, b.id].sort());
    const revoked = await outbox.read(mark, 100);
    expect(
      revoked
        .map(({ type, sessionId, userId, sequence, data }) => ({
          type,
          sessionId,
          userId,
          sequence,
          data,
        }))
        .sort((x, y) => x.sequence - y.sequence),
    ).toEqual([
      {
        type: 'session.revoked',
        sessionId: a.id,
        userId: 'alice',
        sequence: 2,
        data: { actor: 'admin:k1', reason: 'password-changed' },
      },
      {
        type: 'session.revoked',
        sessionId: b.id,
        userId: 'alice',
        sequence: 3,
        data: { actor: 'admin:k1', reason: 'password-changed' },
      },
    ]);
    expect(await redis.exists([keys.sequence(a.id), keys.sequence(b.id)])).toBe(0);
    expect(await redis.exists([keys.sequence(kept.id), keys.sequence(bob.id)])).toBe(2);
    // A delete without a cause: the system did it.
    await store.delete(kept.id);
    expect((await all(outbox)).at(-1)).toMatchObject({
      sessionId: kept.id,
      userId: 'alice',
      sequence: 2,
      data: { actor: 'system', reason: 'revoked' },
    });
  });

  it('sweepExpired records a session.expired per session it removes, and drops its counter', async () => {
    const { store, outbox, keys } = await open();
    const redis = await raw();
    const idle = fixture();
    const absolute = fixture({ absoluteExpiresAt: T + 10 * MINUTE });
    const alive = fixture({ idleExpiresAt: T + 60 * MINUTE, absoluteExpiresAt: T + 120 * MINUTE });
    for (const session of [idle, absolute, alive]) await store.create(session);
    await store.update(idle.id, [{ op: 'add', path: '/a', value: 1 }], at(T));

    const now = T + 45 * MINUTE;
    const swept = await store.sweepExpired(now, 10);
    expect(swept.map(({ id }) => id).sort()).toEqual([idle.id, absolute.id].sort());
    const expired = (await all(outbox)).filter(({ type }) => type === 'session.expired');
    expect(expired.sort((x, y) => x.sequence - y.sequence)).toEqual([
      expect.objectContaining({
        sessionId: absolute.id,
        sequence: 2,
        time: now,
        data: {
          reason: 'absolute',
          idleExpiresAt: T + 30 * MINUTE,
          absoluteExpiresAt: T + 10 * MINUTE,
        },
      }),
      expect.objectContaining({
        sessionId: idle.id,
        sequence: 3,
        data: {
          reason: 'idle',
          idleExpiresAt: T + 30 * MINUTE,
          absoluteExpiresAt: idle.absoluteExpiresAt,
        },
      }),
    ]);
    expect(await redis.exists([keys.sequence(idle.id), keys.sequence(absolute.id)])).toBe(0);
    expect(await redis.exists(keys.sequence(alive.id))).toBe(1);
  });

  it('keeps the counter past the last moment its session can live, and never writes it on a touch', async () => {
    const { store, keys } = await open();
    const redis = await raw();
    // On the real clock: the TTLs are relative to it, and the expiry moments the server's.
    const start = Date.now();
    const session = fixture({
      createdAt: start,
      lastActiveAt: start,
      tokenIssuedAt: start,
      idleExpiresAt: start + 30 * MINUTE,
      absoluteExpiresAt: start + 60 * MINUTE,
    });
    const expiries = async (id: string) => {
      const [value, counter] = await Promise.all([
        redis.pExpireTime(keys.session(id)),
        redis.pExpireTime(keys.sequence(id)),
      ]);
      expect(value).toBeGreaterThan(0);
      return { value, counter };
    };
    await store.create(session);
    const made = await expiries(session.id);
    // Set in one script, on one reading of the server's clock: past the idle expiry by the
    // rest of the absolute timeout and an hour.
    expect(made.counter - made.value).toBe(30 * MINUTE + HOUR);
    await store.update(session.id, [{ op: 'add', path: '/a', value: 1 }], at(Date.now()));
    const now = Date.now();
    await store.touch(session.id, { now, idleExpiresAt: now + 90 * MINUTE });
    const touched = await expiries(session.id);
    expect(touched.counter).toBe(made.counter);
    // The touch took the key to the absolute expiry, and the counter still outlives it by about
    // an hour (the two expiries were set on two readings of each clock).
    expect(Math.abs(touched.counter - touched.value - HOUR)).toBeLessThan(5_000);
    const renamed = newId();
    await store.rename(session.id, renamed, { now, idleExpiresAt: now + 90 * MINUTE });
    const moved = await expiries(renamed);
    expect(moved.counter - moved.value).toBe(HOUR);
  });

  it('gives 50 concurrent patches of one session the sequences 2 to 51, once each', async () => {
    const { store, outbox } = await open();
    const session = fixture();
    await store.create(session);
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        store.update(session.id, [{ op: 'add', path: `/k${i}`, value: i }], at(T + 1000)),
      ),
    );
    const updated = (await all(outbox)).filter(({ type }) => type === 'session.updated');
    expect(updated.map(({ sequence }) => sequence)).toEqual(
      Array.from({ length: 50 }, (_, i) => i + 2),
    );
    // Each event names the version its own update produced.
    expect(updated.map(({ data }) => data.version)).toEqual(
      updated.map(({ sequence }) => sequence),
    );
    expect(results.map(({ version }) => version).sort((x, y) => x - y)).toEqual(
      updated.map(({ data }) => data.version),
    );
  });

  it('gives concurrent patches from two stores (processes) distinct, gapless sequences', async () => {
    const prefix = freshPrefix();
    const { store: one, outbox } = await open({ prefix });
    const { store: two } = await open({ prefix });
    const session = fixture();
    await one.create(session);
    await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        (i % 2 ? one : two).update(session.id, [{ op: 'add', path: `/k${i}`, value: i }], at(T)),
      ),
    );
    const sequences = (await all(outbox)).map(({ sequence }) => sequence);
    expect(sequences).toEqual(Array.from({ length: 41 }, (_, i) => i + 1));
  });

  it('is bounded by maxLength: the oldest go, relayed or not, and skipped counts what a reader missed', async () => {
    const { outbox, keys } = await open({ outbox: { instance: 'gw-test', maxLength: 10 } });
    const redis = await raw();
    const first = serviceEvent();
    await outbox.append([first]);
    const [seen] = await all(outbox);
    for (let i = 0; i < 6; i++)
      await outbox.append(
        Array.from({ length: 50 }, (_, j) => serviceEvent({ time: T + i * 50 + j })),
      );
    const length = await redis.xLen(keys.events());
    expect(length).toBeGreaterThanOrEqual(10);
    expect(length).toBeLessThan(301);
    expect(await outbox.backlog(seen?.position ?? null)).toEqual({
      count: length,
      oldestTime: (await all(outbox))[0]?.time,
    });
    expect(await outbox.skipped(seen?.position ?? null)).toBe(300 - length);
    expect(await outbox.backlog(null)).toMatchObject({ count: length });
    expect(await outbox.skipped(null)).toBe(301 - length);
    const newest = (await all(outbox)).at(-1)?.position ?? null;
    expect(await outbox.skipped(newest)).toBe(0);
  });

  it('appends service events, reads them in pages, and counts the backlog', async () => {
    const { outbox } = await open();
    expect(await outbox.backlog(null)).toEqual({ count: 0, oldestTime: null });
    expect(await outbox.skipped(null)).toBe(0);
    expect(await outbox.read(null, 10)).toEqual([]);
    const events = [
      serviceEvent({ time: T + 1, type: 'apikey.created', userId: null, data: { keyId: 'k1' } }),
      serviceEvent({ time: T + 2, sessionId: 'c'.repeat(64), type: 'refresh.reused' }),
      serviceEvent({ time: T + 3 }),
    ];
    await outbox.append(events);
    await outbox.append([]);
    const records = await all(outbox);
    expect(records.map(({ position: _, ...event }) => event)).toEqual(events);
    expect(await outbox.read(null, 2)).toEqual(records.slice(0, 2));
    expect(await outbox.read(records[1]?.position ?? null, 5)).toEqual(records.slice(2));
    expect(await outbox.read(records[2]?.position ?? null, 5)).toEqual([]);
    expect(records.map(({ position }) => position)).toEqual(['1', '2', '3']);
    expect(await outbox.read('0', 1)).toEqual(records.slice(0, 1));
    expect(await outbox.backlog(records[0]?.position ?? null)).toEqual({
      count: 2,
      oldestTime: T + 2,
    });
    expect(await outbox.backlog(records[2]?.position ?? null)).toEqual({
      count: 0,
      oldestTime: null,
    });
    expect(await outbox.backlog('99')).toEqual({ count: 0, oldestTime: null });
    expect(await outbox.skipped(records[2]?.position ?? null)).toBe(0);
  });

  it('files an event made on a clock behind under the time before it, so a query by time still finds it', async () => {
    const { outbox, keys } = await open();
    const redis = await raw();
    await outbox.append([
      serviceEvent({ time: T + 1000 }),
      serviceEvent({ time: T + 5000 }),
      serviceEvent({ time: T + 2000 }),
      serviceEvent({ time: T + 6000 }),
    ]);
    const ids = ((await redis.xRange(keys.events(), '-', '+')) ?? []).map(({ id }) => String(id));
    expect(ids).toEqual([`1-${T + 1000}`, `2-${T + 5000}`, `3-${T + 5000}`, `4-${T + 6000}`]);
    const times = async (filter: { since?: number; until?: number }) =>
      (await outbox.query({ ...filter, limit: 10 })).records.map(({ time }) => time - T);
    // A query's window applies to the events' own times.
    expect(await times({ until: T + 3000 })).toEqual([1000, 2000]);
    expect(await times({ since: T + 1500 })).toEqual([5000, 2000, 6000]);
    expect(await times({ since: T + 5500 })).toEqual([6000]);
    expect(await times({ since: T + 7000 })).toEqual([]);
    expect(await times({ since: T + 2000, until: T + 5001 })).toEqual([5000, 2000]);
  });

  it('finds where a query by time starts (by halving the stream), at its edges too', async () => {
    const { outbox } = await open();
    await outbox.append(Array.from({ length: 2000 }, (_, i) => serviceEvent({ time: T + i })));
    const page = await outbox.query({ since: T + 1500, until: T + 1503, limit: 10 });
    expect(page.records.map(({ time, position }) => [time - T, position])).toEqual([
      [1500, '1501'],
      [1501, '1502'],
      [1502, '1503'],
    ]);
    for (const since of [0, 1, 999, 1999, 2000]) {
      const [first] = (await outbox.query({ since: T + since, limit: 1 })).records;
      expect(first?.time).toBe(since < 2000 ? T + since : undefined);
    }
  });

  it('trims the oldest records made before a moment, up to a limit, and returns them', async () => {
    const { outbox } = await open();
    await outbox.append([1, 2, 3, 4, 5].map((i) => serviceEvent({ time: T + i })));
    const records = await all(outbox);
    expect(await outbox.trim(T + 4, 2)).toEqual(records.slice(0, 2));
    expect(await outbox.trim(T + 4, 10)).toEqual(records.slice(2, 3));
    expect(await outbox.trim(T + 4, 10)).toEqual([]);
    expect(await all(outbox)).toEqual(records.slice(3));
    // A reader that had not reached the trimmed ones is told how many it missed.
    expect(await outbox.backlog(records[0]?.position ?? null)).toEqual({
      count: 2,
      oldestTime: T + 4,
    });
    expect(await outbox.skipped(records[0]?.position ?? null)).toBe(2);
    expect(await outbox.trim(T + 100, 10)).toEqual(records.slice(3));
    expect(await outbox.backlog(records[0]?.position ?? null)).toEqual({
      count: 0,
      oldestTime: null,
    });
    expect(await outbox.skipped(records[0]?.position ?? null)).toBe(4);
    // Positions go on from where the emptied stream was.
    await outbox.append([serviceEvent({ time: T })]);
    const [next] = await all(outbox);
    expect(await outbox.read(records[4]?.position ?? null, 5)).toEqual([next]);
  });

  it('queries by user, session, types and time, a page at a time', async () => {
    const { store, outbox } = await open();
    const a = fixture();
    const b = fixture({ userId: 'bob', createdAt: T + 10, lastActiveAt: T + 10 });
    await store.create(a);
    await store.create(b);
    for (let i = 1; i <= 5; i++)
      await store.update(a.id, [{ op: 'add', path: `/k${i}`, value: i }], at(T + i * 100));
    await outbox.append([serviceEvent({ time: T + 50, userId: 'alice' })]);

    const alice = await outbox.query({ userId: 'alice', limit: 100 });
    expect(alice.cursor).toBeNull();
    // In position order (the order they were recorded), whatever their times.
    expect(alice.records.map(({ type }) => type)).toEqual([
      'session.created',
      ...Array(5).fill('session.updated'),
      'login.failed',
    ]);
    expect((await outbox.query({ sessionId: b.id, limit: 10 })).records).toEqual([
      expect.objectContaining({ type: 'session.created', userId: 'bob' }),
    ]);
    const window = await outbox.query({
      sessionId: a.id,
      types: ['session.updated'],
      since: T + 200,
      until: T + 400,
      limit: 10,
    });
    expect(window.records.map(({ time }) => time)).toEqual([T + 200, T + 300]);

    // Pages: a cursor while more match, null once none does.
    const pages: number[][] = [];
    let after: string | null = null;
    for (;;) {
      const page = await outbox.query({ types: ['session.updated'], after, limit: 2 });
      pages.push(page.records.map(({ sequence }) => sequence));
      if (page.cursor === null) break;
      after = page.cursor;
    }
    expect(pages).toEqual([[2, 3], [4, 5], [6]]);
    const exact = await outbox.query({ types: ['session.updated'], since: T + 400, limit: 2 });
    expect(exact).toEqual({ records: [expect.anything(), expect.anything()], cursor: null });
    expect(await outbox.query({ userId: 'carol', limit: 5 })).toEqual({
      records: [],
      cursor: null,
    });
  });

  it('opens through the backend URL with openSessions({ outbox })', async () => {
    const backend = await openBackend(`${REDIS_URL}?prefix=${freshPrefix()}`);
    const store = await backend.openSessions({ outbox: { instance: 'from-url' } });
    cleanups.push(() => store.close());
    const session = fixture();
    await store.create(session);
    expect(await store.outbox?.read(null, 5)).toEqual([
      expect.objectContaining({ type: 'session.created', instance: 'from-url', sequence: 1 }),
    ]);
    const plain = await backend.openSessions();
    cleanups.push(() => plain.close());
    expect(plain.outbox).toBeUndefined();
  });

  it('refuses bad arguments', async () => {
    const { outbox } = await open();
    await expect(outbox.read('not-a-position', 5)).rejects.toThrow(ValidationError);
    await expect(outbox.read(null, 0)).rejects.toThrow(ValidationError);
    await expect(outbox.backlog('1-2')).rejects.toThrow(ValidationError);
    await expect(outbox.skipped('01')).rejects.toThrow(ValidationError);
    await expect(outbox.trim(Number.NaN, 5)).rejects.toThrow(ValidationError);
    await expect(outbox.query({ limit: 5, after: '-1' })).rejects.toThrow(ValidationError);
    await expect(
      outbox.query({ limit: 5, types: ['session.nope' as 'session.created'] }),
    ).rejects.toThrow(ValidationError);
    await expect(
      outbox.append([serviceEvent(), serviceEvent({ type: 'session.created' })]),
    ).rejects.toThrow(ValidationError);
    expect(await all(outbox)).toEqual([]); // nothing of a refused batch
    await expect(open({ outbox: { maxLength: 0 } })).rejects.toThrow(ConfigError);
    await expect(
      RedisStore.connect({ cluster: { rootNodes: [REDIS_URL] }, outbox: true }),
    ).rejects.toThrow(ConfigError);
  });

  it('costs a store without an outbox nothing: the same bytes, no stream, no counters, and both read each other', async () => {
    const prefix = freshPrefix();
    const { store: plain } = await open({ prefix, outbox: undefined });
    const { store: recording, outbox, keys } = await open({ prefix });
    const redis = await raw();
    expect(plain.outbox).toBeUndefined();
    const old = fixture({ data: { n: 1 } });
    await plain.create(old);
    await plain.update(old.id, [{ op: 'add', path: '/a', value: 1 }], at(T + 1000));
    await plain.touch(old.id, at(T + 1500));
    await plain.rename(old.id, newId(), at(T + 1600));
    expect(await redis.exists(keys.events())).toBe(0);
    expect(await redis.keys(`${prefix}seq:*`)).toEqual([]);

    const twin = fixture({ data: { n: 1 } });
    const recorded = { ...twin, id: newId() };
    await plain.create(twin);
    await recording.create(recorded);
    expect(await redis.get(keys.session(recorded.id))).toEqual(
      await redis.get(keys.session(twin.id)),
    );
    expect((await all(outbox)).length).toBe(1);

    // Each reads and writes the other's sessions; one without a counter counts from 0.
    await recording.update(twin.id, [{ op: 'add', path: '/b', value: 2 }], at(T + 2000));
    expect((await all(outbox)).at(-1)).toMatchObject({ sessionId: twin.id, sequence: 1 });
    await plain.update(recorded.id, [{ op: 'add', path: '/c', value: 3 }], at(T + 2000));
    expect(await recording.get(recorded.id, T + 2000)).toMatchObject({
      version: 2,
      data: { n: 1, c: 3 },
    });
    expect(await plain.get(twin.id, T + 2000)).toMatchObject({ version: 2, data: { n: 1, b: 2 } });
    expect((await all(outbox)).length).toBe(2);
  });
});

describeOutbox('redis', (options) =>
  RedisStore.connect({ url: REDIS_URL, prefix: freshPrefix(), outbox: options }),
);
