import { createClient } from 'redis';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, StoreUnavailableError } from '../../src/core/index.js';
import { RedisRecordStore } from '../../src/stores/index.js';
import {
  dropKeys,
  freePort,
  freshPrefix,
  REDIS_URL,
  RUN_PREFIX,
  startRedisServer,
  stopRedisServer,
} from './fixtures/redis.js';

const T = Date.UTC(2026, 0, 1);
const HOUR = 3_600_000;

afterAll(() => dropKeys(REDIS_URL, RUN_PREFIX));

describe('RedisRecordStore', () => {
  async function opened() {
    const prefix = freshPrefix();
    const store = await RedisRecordStore.connect({ url: REDIS_URL, prefix });
    const client = await createClient({ url: REDIS_URL }).connect();
    return {
      store,
      prefix,
      client,
      close: () => Promise.all([store.close(), client.close()]),
    };
  }

  it('keeps a record as a HASH with a native TTL beside a lexical index of its collection', async () => {
    const { store, prefix, client, close } = await opened();
    await store.put('users', 'alice', { role: 'admin' }, { now: T, expiresAt: T + HOUR });
    await store.put('users', 'bob', 'forever', { now: T });
    expect(await client.hGetAll(`${prefix}{users}:alice`)).toEqual({
      v: '1',
      x: String(T + HOUR),
      j: '{"role":"admin"}',
    });
    const ttl = await client.pTTL(`${prefix}{users}:alice`);
    expect(ttl).toBeGreaterThan(HOUR - 60_000);
    expect(ttl).toBeLessThanOrEqual(HOUR);
    expect(await client.pTTL(`${prefix}{users}:bob`)).toBe(-1);
    expect(await client.zRangeWithScores(`${prefix}{users}`, 0, -1)).toEqual([
      { value: 'alice', score: 0 },
      { value: 'bob', score: 0 },
    ]);
    expect(await client.zRange(`${prefix}{users}#expiry`, 0, -1)).toEqual(['alice']);
    // A put without expiry makes the record permanent again and leaves the expiry index.
    await store.put('users', 'alice', 'kept', { now: T });
    expect(await client.pTTL(`${prefix}{users}:alice`)).toBe(-1);
    expect(await client.zRange(`${prefix}{users}#expiry`, 0, -1)).toEqual([]);
    await close();
  });

  it('percent-encodes braces in collection names, so a collection stays on its own hash tag', async () => {
    const { store, prefix, client, close } = await opened();
    await store.put('a}b{%', 'k', 1, { now: T });
    expect(await client.exists(`${prefix}{a%7Db%7B%25}:k`)).toBe(1);
    await close();
  });

  it('list and sweep prune index entries whose record Redis has already expired', async () => {
    const { store, prefix, client, close } = await opened();
    for (const key of ['a', 'b', 'c']) {
      await store.put('tokens', key, key, { now: T, expiresAt: T + HOUR });
    }
    // As Redis's own expiry would.
    await client.del([`${prefix}{tokens}:a`, `${prefix}{tokens}:b`]);
    expect((await store.list('tokens', { now: T, limit: 10 })).map((r) => r.key)).toEqual(['c']);
    expect(await client.zRange(`${prefix}{tokens}`, 0, -1)).toEqual(['c']);
    expect(await client.zRange(`${prefix}{tokens}#expiry`, 0, -1)).toEqual(['c']);

    await client.del(`${prefix}{tokens}:c`);
    expect(await store.sweepExpired(T + HOUR, 10)).toBe(1);
    expect(await client.exists([`${prefix}{tokens}`, `${prefix}{tokens}#expiry`])).toBe(0);
    await close();
  });

  it('runs its scripts again after Redis has forgotten them', async () => {
    const { store, client, close } = await opened();
    await store.put('c', 'k', 1, { now: T });
    await client.scriptFlush();
    expect(await store.put('c', 'k', 2, { now: T, ifVersion: 1 })).toBe(2);
    expect((await store.list('c', { now: T, limit: 1 })).map((r) => r.value)).toEqual([2]);
    await close();
  });

  it('refuses to open without exactly one of url and cluster', async () => {
    await expect(RedisRecordStore.connect({})).rejects.toBeInstanceOf(ConfigError);
    await expect(
      RedisRecordStore.connect({ url: REDIS_URL, cluster: { rootNodes: [REDIS_URL] } }),
    ).rejects.toBeInstanceOf(ConfigError);
  });

  it('fails fast with StoreUnavailableError when Redis cannot be reached or goes away', async () => {
    const port = await freePort();
    await expect(
      RedisRecordStore.connect({ url: `redis://127.0.0.1:${port}`, connectTimeout: 500 }),
    ).rejects.toBeInstanceOf(StoreUnavailableError);

    const server = await startRedisServer(port);
    const store = await RedisRecordStore.connect({ url: `redis://127.0.0.1:${port}` });
    try {
      expect(await store.put('c', 'k', 1, { now: T })).toBe(1);
      await stopRedisServer(server);
      const started = performance.now();
      for (const attempt of [
        () => store.get('c', 'k', T),
        () => store.put('c', 'k', 2, { now: T }),
        () => store.list('c', { now: T, limit: 1 }),
        () => store.sweepExpired(T, 1),
      ]) {
        await expect(attempt()).rejects.toBeInstanceOf(StoreUnavailableError);
      }
      expect(performance.now() - started).toBeLessThan(2_000);
    } finally {
      await stopRedisServer(server);
      await store.close();
    }
  });
});
