import type { ChildProcess } from 'node:child_process';
import { createClient, RESP_TYPES } from 'redis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  ConfigError,
  createCodec,
  type Session,
  type SessionCodec,
  SessionManager,
  StoreUnavailableError,
} from '../../src/core/index.js';
import { openBackend } from '../../src/stores/index.js';
import { RedisStore, type RedisStoreOptions } from '../../src/stores/redis/index.js';
import {
  DAY,
  dayOf,
  encodeRecord,
  Keys,
  shardOf,
  userMember,
  userSlot,
} from '../../src/stores/redis/layout.js';
import { describeBackend } from '../conformance/backend.js';
import { appendFromProcesses } from '../support/patch-processes.js';
import { startTcpProxy } from '../support/tcp-proxy.js';
import {
  dropKeys,
  freePort,
  freshPrefix,
  REDIS_URL,
  RUN_PREFIX,
  startProxy,
  startRedisServer,
  stopRedisServer,
} from './fixtures/redis.js';

const MINUTE = 60_000;
const T = Date.UTC(2026, 0, 1);

afterAll(() => dropKeys(REDIS_URL, RUN_PREFIX));

describeBackend('redis', () => openBackend(`${REDIS_URL}?prefix=${freshPrefix()}`));

describe('RedisStore', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function open(options: Partial<RedisStoreOptions> = {}) {
    const prefix = options.prefix ?? freshPrefix();
    const store = await RedisStore.connect({
      url: REDIS_URL,
      connectTimeout: 2_000,
      ...options,
      prefix,
    });
    cleanups.push(() => store.close());
    return { store, keys: new Keys(prefix), prefix };
  }

  async function rawClient() {
    const client = await createClient({ url: REDIS_URL }).connect();
    cleanups.push(() => client.close());
    return client;
  }

  /** A client whose replies are bytes: session values and index members are binary. */
  async function binaryClient() {
    return (await rawClient()).withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer });
  }

  /** The id an index holds: its 32 bytes. */
  const member = (id: string) => Buffer.from(id, 'hex');

  /** The key of the user index that holds a user's sessions of one absolute expiry. */
  const userKey = (keys: Keys, userId: string, absoluteExpiresAt: number) =>
    keys.users(userSlot(userId).shard, dayOf(absoluteExpiresAt));

  /** The ids that key holds, every one the user's (each member is the user's 8-byte hash, then the id). */
  async function userIds(
    raw: Awaited<ReturnType<typeof binaryClient>>,
    key: string,
    userId: string,
  ) {
    const members = await raw.zRange(key, 0, -1);
    const hash = userSlot(userId).hash;
    for (const m of members) expect([m.length, m.subarray(0, 8).equals(hash)]).toEqual([40, true]);
    return members.map((m) => m.subarray(8).toString('hex')).sort();
  }

  function fixture(overrides: Partial<Session> = {}): Session {
    return {
      id: 'a'.repeat(64),
      userId: 'alice',
      data: {},
      version: 1,
      createdAt: T,
      lastActiveAt: T,
      idleExpiresAt: T + 30 * MINUTE,
      absoluteExpiresAt: T + 24 * 60 * MINUTE,
      tokenIssuedAt: T,
      ip: null,
      userAgent: null,
      ...overrides,
    };
  }

  it('listByUser returns only live sessions and drops the dead ids from the user index', async () => {
    const { store, keys } = await open();
    const raw = await binaryClient();
    const [vanished, idle, touched, fresh] = ['1', '2', '3', '4'].map((c) =>
      fixture({ id: c.repeat(64) }),
    ) as [Session, Session, Session, Session];
    for (const session of [vanished, idle, touched, fresh]) await store.create(session);
    await raw.del(keys.session(vanished.id)); // as if Redis had expired it
    const later = T + 20 * MINUTE;
    await store.touch(touched.id, { now: later, idleExpiresAt: later + 30 * MINUTE });
    await store.touch(fresh.id, { now: later, idleExpiresAt: later + 30 * MINUTE });

    const now = T + 31 * MINUTE; // `idle` has been idle for 31 minutes
    const listed = await store.listByUser('alice', now);
    expect(listed.map((s) => s.id)).toEqual([touched.id, fresh.id]);
    const index = userKey(keys, 'alice', fresh.absoluteExpiresAt);
    expect(await userIds(raw, index, 'alice')).toEqual([touched.id, fresh.id]);

    const afterAbsolute = T + 24 * 60 * MINUTE;
    expect(await store.listByUser('alice', afterAbsolute)).toEqual([]);
    expect(await raw.exists(index)).toBe(0);
  });

  it('gives a session key a TTL of its remaining life plus the retention, which touch only lengthens', async () => {
    const { store, keys } = await open({ expiredRetention: 5 * MINUTE });
    const raw = await rawClient();
    const session = fixture();
    await store.create(session);
    const near = (ms: number) => [ms - 5_000, ms] as const;
    const between = (value: number, [low, high]: readonly [number, number]) =>
      value >= low && value <= high;
    expect(between(await raw.pTTL(keys.session(session.id)), near(35 * MINUTE))).toBe(true);
    // The user index, and its list of days, last until the end of the absolute expiry's day.
    const indexEnd = (dayOf(session.absoluteExpiresAt) + 1) * DAY - T;
    expect(indexEnd).toBeGreaterThanOrEqual(session.absoluteExpiresAt - T);
    expect(indexEnd).toBeLessThanOrEqual(session.absoluteExpiresAt - T + DAY);
    const index = userKey(keys, 'alice', session.absoluteExpiresAt);
    expect(between(await raw.pTTL(index), near(indexEnd))).toBe(true);
    const days = keys.userDays(userSlot('alice').shard);
    expect(between(await raw.pTTL(days), near(indexEnd))).toBe(true);

    await store.touch(session.id, { now: T, idleExpiresAt: T + 60 * MINUTE });
    expect(between(await raw.pTTL(keys.session(session.id)), near(65 * MINUTE))).toBe(true);
    await store.touch(session.id, { now: T + MINUTE, idleExpiresAt: T + 45 * MINUTE });
    expect(between(await raw.pTTL(keys.session(session.id)), near(65 * MINUTE))).toBe(true);
    expect((await store.get(session.id, T + MINUTE))?.idleExpiresAt).toBe(T + 60 * MINUTE);
  });

  it('keeps a session as one string whose activity touch rewrites in place, and indexes its id as bytes', async () => {
    const { store, keys } = await open();
    const raw = await binaryClient();
    const session = fixture({ data: { cart: ['a'] }, ip: '203.0.113.9', userAgent: 'Mozilla/5.0' });
    await store.create(session);
    const key = keys.session(session.id);
    expect(key.subarray(-32)).toEqual(member(session.id));
    expect(await raw.type(key)).toBe('string');
    const before = (await raw.get(key)) as Buffer;
    expect(before[0]).toBe(2); // the layout byte

    const later = T + 5 * MINUTE;
    await store.touch(session.id, { now: later, idleExpiresAt: later + 30 * MINUTE });
    const after = (await raw.get(key)) as Buffer;
    expect(after.length).toBe(before.length);
    const changed = [...after.keys()].filter((i) => after[i] !== before[i]);
    expect(changed.length).toBeGreaterThan(0);
    expect(changed.every((i) => i >= 17 && i < 33)).toBe(true); // last active and idle expiry only
    expect([after.readDoubleBE(17), after.readDoubleBE(25)]).toEqual([later, later + 30 * MINUTE]);
    expect(await store.get(session.id, later)).toEqual({
      ...session,
      lastActiveAt: later,
      idleExpiresAt: later + 30 * MINUTE,
    });

    const expiry = keys.expiry(shardOf(session.id));
    const users = userKey(keys, 'alice', session.absoluteExpiresAt);
    const days = keys.userDays(userSlot('alice').shard);
    expect(await raw.zRange(expiry, 0, -1)).toEqual([member(session.id)]);
    expect(await raw.zRange(users, 0, -1)).toEqual([userMember('alice', session.id)]);
    expect(userMember('alice', session.id)).toHaveLength(40);
    const day = String(dayOf(session.absoluteExpiresAt));
    expect((await raw.zRange(days, 0, -1)).map(String)).toEqual([day]);
    for (const index of [expiry, users, days])
      expect(String(await raw.objectEncoding(index))).toBe('listpack');
  });

  it('still reads, touches, updates and deletes a layout 1 record, as issued at its creation', async () => {
    const { store, keys } = await open();
    const raw = await binaryClient();
    const toLayout1 = async (id: string) => {
      const key = keys.session(id);
      const v2 = (await raw.get(key)) as Buffer;
      const v1 = Buffer.concat([v2.subarray(0, 41), v2.subarray(49)]);
      v1[0] = 1;
      await raw.sendCommand(['SET', key, v1, 'KEEPTTL']);
    };
    const session = fixture({ data: { old: true }, ip: '203.0.113.9', tokenIssuedAt: T + 5 });
    await store.create(session);
    await toLayout1(session.id);
    expect(await store.get(session.id, T)).toEqual({ ...session, tokenIssuedAt: T });
    const later = T + MINUTE;
    const activity = { now: later, idleExpiresAt: later + 30 * MINUTE };
    expect(await store.touch(session.id, activity)).toBe(true);
    const updated = await store.update(session.id, [{ op: 'add', path: '/n', value: 1 }], activity);
    expect(updated.tokenIssuedAt).toBe(T);
    expect(((await raw.get(keys.session(session.id))) as Buffer)[0]).toBe(2);

    const other = fixture({ id: 'b'.repeat(64) });
    await store.create(other);
    await toLayout1(other.id);
    expect(await store.delete(other.id)).toBe(true);
    expect((await store.listByUser('alice', T)).map((s) => s.id)).toEqual([session.id]);
  });

  it('keeps a rotated-away id as one a: key naming the new id, which expires by itself', async () => {
    const { store, keys } = await open();
    const raw = await binaryClient();
    const manager = new SessionManager({ store, clock: () => T });
    const { token, session } = await manager.create({ userId: 'alice' });
    const rotated = await manager.rotate(token, { grace: 20_000 });
    const alias = (await raw.get(keys.alias(session.id))) as Buffer;
    expect(alias.subarray(0, 32)).toEqual(member(rotated.session.id));
    expect(alias.readDoubleBE(32)).toBe(T + 20_000);
    const ttl = await raw.pTTL(keys.alias(session.id));
    expect(ttl).toBeGreaterThan(15_000);
    expect(ttl).toBeLessThanOrEqual(20_000);
    expect(await raw.exists(keys.session(session.id))).toBe(0);
    expect(await store.resolveAlias(session.id, T)).toBe(rotated.session.id);
  });

  it('keeps all 1,000 items when two processes append 500 each to one session at once', async () => {
    const { store, prefix } = await open({ codec: createCodec({ maxBytes: 64 * 1024 }) });
    const manager = new SessionManager({ store });
    const { session } = await manager.create({ userId: 'u', data: { items: [] } });
    await appendFromProcesses(`${REDIS_URL}?prefix=${prefix}`, session.id, ['a', 'b'], 500);

    const final = await manager.get({ id: session.id });
    expect(final?.version).toBe(1001);
    const items = final?.data.items as string[];
    expect(items).toHaveLength(1000);
    expect(new Set(items).size).toBe(1000);
  }, 60_000);

  it('a steady stream of appends to one session, 50 in flight across two stores, refuses none', async () => {
    // Found by the reliability suite: racing writers that keep arriving starved some writer of
    // every compare-and-set until it gave up with StoreUnavailableError.
    const codec = createCodec({ maxBytes: 64 * 1024 });
    const { store, prefix } = await open({ codec });
    // A network between them, as between gateways and Redis: a round trip is no longer instant.
    const redis = new URL(REDIS_URL);
    const network = await startTcpProxy(redis.hostname, Number(redis.port || 6379));
    cleanups.push(() => network.close());
    network.delay(2);
    const { store: other } = await open({
      codec,
      prefix,
      url: `redis://127.0.0.1:${network.port}`,
    });
    const managers = [new SessionManager({ store }), new SessionManager({ store: other })];
    const { session } = await (managers[0] as SessionManager).create({
      userId: 'u',
      data: { items: [] },
    });
    let next = 0;
    const appendUntilDone = async () => {
      while (next < 1000) {
        const n = next++;
        await (managers[n % 2] as SessionManager).patch({ id: session.id }, [
          { op: 'add', path: '/items/-', value: n },
        ]);
      }
    };
    await Promise.all(Array.from({ length: 50 }, appendUntilDone));

    const items = (await (managers[1] as SessionManager).get({ id: session.id }))?.data
      .items as number[];
    expect([...items].sort((a, b) => a - b)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
  }, 60_000);

  it('getMany sends every read before any reply comes back, and answers in order', async () => {
    const proxy = await startProxy(Number(new URL(REDIS_URL).port || 6379));
    cleanups.push(() => proxy.close());
    const { store } = await open({ url: proxy.url });
    const sessions = Array.from({ length: 20 }, (_, n) =>
      fixture({ id: n.toString(16).padStart(64, '0') }),
    );
    for (const session of sessions) await store.create(session);
    const expired = fixture({ id: 'e'.repeat(64), idleExpiresAt: T + MINUTE });
    await store.create(expired);
    const ids = [...sessions.map((s) => s.id), 'f'.repeat(64), expired.id];

    const before = proxy.sent().length;
    proxy.hold();
    const pending = store.getMany(ids, T + 2 * MINUTE);
    const readsSent = () => proxy.sent().slice(before).split('\r\n$3\r\nGET\r\n').length - 1;
    await expect.poll(readsSent, { timeout: 2_000 }).toBe(ids.length);
    proxy.release();
    expect(await pending).toEqual([...sessions, null, null]);
  });

  it('fails a command Redis does not answer with StoreUnavailableError, and later replies stay in step', async () => {
    const proxy = await startProxy(Number(new URL(REDIS_URL).port || 6379));
    cleanups.push(() => proxy.close());
    const { store } = await open({ url: proxy.url, commandTimeout: 1_000 });
    const first = fixture({ id: '1'.repeat(64), data: { n: 1 } });
    const second = fixture({ id: '2'.repeat(64), data: { n: 2 } });
    await store.create(first);
    await store.create(second);
    proxy.hold();
    await expect(store.get(first.id, T)).rejects.toBeInstanceOf(StoreUnavailableError);
    proxy.release();
    expect(await store.get(second.id, T)).toEqual(second);
  });

  it('updates of one session queued behind one Redis does not answer fail with it, without being sent', async () => {
    const proxy = await startProxy(Number(new URL(REDIS_URL).port || 6379));
    cleanups.push(() => proxy.close());
    const { store } = await open({ url: proxy.url, commandTimeout: 500 });
    const session = fixture({ id: '3'.repeat(64), data: { n: 1 } });
    await store.create(session);
    const sentBefore = proxy.sent().length;
    proxy.hold();
    const updates = Array.from({ length: 10 }, () =>
      store.update(session.id, [{ op: 'increment', path: '/n', value: 1 }], {
        now: T + 1,
        idleExpiresAt: T + 30 * MINUTE,
      }),
    );
    for (const update of updates)
      await expect(update).rejects.toBeInstanceOf(StoreUnavailableError);
    // One read went out for the first update; the nine behind it did not each wait out a timeout.
    expect(
      proxy
        .sent()
        .slice(sentBefore)
        .match(/\r\nGET\r\n/g),
    ).toHaveLength(1);
    proxy.release();
  });

  it('fails fast with StoreUnavailableError while Redis is down and works again once it is back', async () => {
    const port = await freePort();
    let server: ChildProcess = await startRedisServer(port);
    cleanups.push(() => stopRedisServer(server));
    const { store } = await open({ url: `redis://127.0.0.1:${port}`, commandTimeout: 1_000 });
    const session = fixture();
    await store.create(session);
    expect(await store.get(session.id, T)).toEqual(session);

    await stopRedisServer(server);
    for (let call = 0; call < 3; call++) {
      const started = Date.now();
      await expect(store.get(session.id, T)).rejects.toBeInstanceOf(StoreUnavailableError);
      expect(Date.now() - started).toBeLessThan(2_000);
    }

    server = await startRedisServer(port);
    const answer = () =>
      store.get(session.id, T).then(
        () => 'answered',
        (error: unknown) => (error as Error).name,
      );
    await expect.poll(answer, { timeout: 10_000, interval: 100 }).toBe('answered');
    // The throwaway server keeps nothing on disk, so the session went with it.
    expect(await store.get(session.id, T)).toBeNull();
    await store.create(session);
    expect(await store.get(session.id, T)).toEqual(session);
  }, 30_000);

  it('refuses to connect to nothing with StoreUnavailableError, and to a missing address with ConfigError', async () => {
    const url = `redis://127.0.0.1:${await freePort()}`;
    await expect(RedisStore.connect({ url, connectTimeout: 300 })).rejects.toBeInstanceOf(
      StoreUnavailableError,
    );
    await expect(RedisStore.connect({})).rejects.toBeInstanceOf(ConfigError);
    await expect(
      RedisStore.connect({ url: REDIS_URL, cluster: { rootNodes: [REDIS_URL] } }),
    ).rejects.toBeInstanceOf(ConfigError);
  });

  it('carries an update that lands on the old id during a rename over to the new id', async () => {
    const raw = await rawClient();
    const inner = createCodec();
    const from = fixture({ id: '1'.repeat(64), data: { cart: ['a'] } });
    const toId = '2'.repeat(64);
    const prefix = freshPrefix();
    const keys = new Keys(prefix);
    // Between the read of the old record and its retirement, another writer updates it.
    let updated = false;
    const codec = encodeHook(inner, (id) => {
      if (id !== toId || updated) return;
      updated = true;
      const value = encodeRecord({ ...from, version: 2, data: { cart: ['a', 'b'] } }, inner);
      void raw.set(keys.session(from.id), value, { expiration: 'KEEPTTL' });
    });
    const { store } = await open({ prefix, codec });
    await store.create(from);

    const renamed = await store.rename(from.id, toId, { now: T, idleExpiresAt: T + 30 * MINUTE });
    expect(renamed).toMatchObject({ id: toId, version: 2, data: { cart: ['a', 'b'] } });
    expect(await store.get(toId, T)).toEqual(renamed);
    expect(await store.get(from.id, T)).toBeNull();
    expect((await store.listByUser('alice', T)).map((s) => s.id)).toEqual([toId]);
  });

  it('a rename racing the revocation of the old id leaves neither id alive', async () => {
    const raw = await rawClient();
    const inner = createCodec();
    const from = fixture({ id: '1'.repeat(64) });
    const toId = '2'.repeat(64);
    const prefix = freshPrefix();
    const keys = new Keys(prefix);
    const codec = encodeHook(inner, (id) => {
      if (id === toId) void raw.del(keys.session(from.id));
    });
    const { store } = await open({ prefix, codec });
    await store.create(from);

    expect(
      await store.rename(from.id, toId, { now: T, idleExpiresAt: T + 30 * MINUTE }),
    ).toBeNull();
    expect(await store.get(toId, T)).toBeNull();
    expect(await store.get(from.id, T)).toBeNull();
    expect(await store.listByUser('alice', T)).toEqual([]);
  });

  it('a sweep re-scores a touched session it found early and forgets ids whose key is gone', async () => {
    const { store, keys } = await open();
    const raw = await binaryClient();
    const touched = fixture({ id: '1'.repeat(64) });
    const vanished = fixture({ id: '2'.repeat(64) });
    await store.create(touched);
    await store.create(vanished);
    await store.touch(touched.id, { now: T + 20 * MINUTE, idleExpiresAt: T + 50 * MINUTE });
    await raw.del(keys.session(vanished.id));

    expect(await store.sweepExpired(T + 31 * MINUTE, 10)).toEqual([]);
    const expiry = (id: string) => raw.zScore(keys.expiry(shardOf(id)), member(id));
    const index = userKey(keys, 'alice', touched.absoluteExpiresAt);
    expect(await expiry(touched.id)).toBe(T + 50 * MINUTE);
    expect(await expiry(vanished.id)).toBeNull();
    // A sweep cannot tell whose a vanished id was; the next read of the user's sessions drops it.
    expect(await userIds(raw, index, 'alice')).toEqual([touched.id, vanished.id]);
    expect((await store.listByUser('alice', T + 31 * MINUTE)).map((s) => s.id)).toEqual([
      touched.id,
    ]);
    expect(await userIds(raw, index, 'alice')).toEqual([touched.id]);

    const swept = await store.sweepExpired(T + 51 * MINUTE, 10);
    expect(swept.map((s) => s.id)).toEqual([touched.id]);
    expect(await raw.exists(keys.session(touched.id))).toBe(0);
    expect(await expiry(touched.id)).toBeNull();
    expect(await raw.exists(index)).toBe(0);
  });

  it('neither lists nor deletes nor unindexes a live session of another user whose user id hashed the same', async () => {
    const { store, keys } = await open();
    const raw = await binaryClient();
    const alice = fixture({ id: '1'.repeat(64), userId: 'alice' });
    const bob = fixture({ id: '2'.repeat(64), userId: 'bob' });
    await store.create(alice);
    await store.create(bob);
    // As if bob's user id had the same 8-byte hash as alice's: his session in her range.
    const index = userKey(keys, 'alice', alice.absoluteExpiresAt);
    await raw.zAdd(index, { score: 0, value: userMember('alice', bob.id) });

    expect(await store.listByUser('alice', T)).toEqual([alice]);
    expect(await userIds(raw, index, 'alice')).toEqual([alice.id, bob.id]);
    expect(await store.deleteByUser('alice')).toEqual([alice.id]);
    expect(await store.get(bob.id, T)).toEqual(bob);
    expect(await store.listByUser('bob', T)).toEqual([bob]);
  });

  it('a scan meets every session once while a sweep re-scores them in the expiry index', async () => {
    const { store } = await open();
    const sessions = Array.from({ length: 12 }, (_, n) =>
      fixture({ id: (n + 1).toString(16).repeat(64), userId: `user-${n % 5}` }),
    );
    for (const session of sessions) await store.create(session);
    const later = T + 20 * MINUTE;
    for (const session of sessions)
      await store.touch(session.id, { now: later, idleExpiresAt: later + 30 * MINUTE });

    const seen: string[] = [];
    let page = await store.scan(null, 4, later);
    seen.push(...page.sessions.map((s) => s.id));
    // Every session was indexed to expire at T+30m; the sweep finds them all early and moves them.
    expect(await store.sweepExpired(T + 31 * MINUTE, 100)).toEqual([]);
    const added = fixture({ id: 'd'.repeat(64), userId: 'user-9' });
    await store.create(added);
    for (let pages = 0; page.cursor !== null && pages < 20; pages++) {
      page = await store.scan(page.cursor, 4, T + 31 * MINUTE);
      expect(page.sessions.length).toBeLessThanOrEqual(4);
      seen.push(...page.sessions.map((s) => s.id));
    }
    expect(page.cursor).toBeNull();
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen.filter((id) => id !== added.id).sort()).toEqual(sessions.map((s) => s.id).sort());
  });

  it('close leaves the sessions for the next store on the same prefix', async () => {
    const prefix = freshPrefix();
    const first = await RedisStore.connect({ url: REDIS_URL, prefix });
    const session = fixture();
    await first.create(session);
    await first.close();
    await first.close();
    const { store } = await open({ prefix });
    expect(await store.get(session.id, T)).toEqual(session);
  });
});

function encodeHook(inner: SessionCodec, onEncode: (id: string) => void): SessionCodec {
  return {
    encode: (id, data) => {
      onEncode(id);
      return inner.encode(id, data);
    },
    decode: (id, bytes) => inner.decode(id, bytes),
  };
}
