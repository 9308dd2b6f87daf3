import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { RateLimitedError, type RecordStore, ValidationError } from '../../src/core/index.js';
import {
  ApiKeyInvalidError,
  ApiKeyNotFoundError,
  type ApiKeyRefusal,
  ApiKeyScopeError,
  ApiKeys,
  type ApiKeysOptions,
} from '../../src/keys/index.js';
import {
  MemoryRecordStore,
  PostgresRecordStore,
  RedisInvalidationBus,
  RedisRecordStore,
  SqliteRecordStore,
} from '../../src/stores/index.js';
import { dropKeys, freshPrefix, REDIS_URL, RUN_PREFIX } from '../stores/fixtures/redis.js';

const POSTGRES_URL =
  process.env.CLAWSESSION_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const T0 = Date.UTC(2026, 0, 1);
const KEY = /^cs_live_([0-9A-Za-z]{12})_([A-Za-z0-9_-]{43})$/;
const dir = mkdtempSync(join(tmpdir(), 'clawsession-keys-'));
// Every table of this run lives in one schema of its own, and every Redis key under RUN_PREFIX.
const schema = `clawsession_keys_test_${randomBytes(4).toString('hex')}`;
let storesOpened = 0;
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await dropKeys(REDIS_URL, RUN_PREFIX);
  const admin = new pg.Client({ connectionString: POSTGRES_URL });
  await admin.connect();
  await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await admin.end();
});

/** Each backend opens a fresh, empty store; the suite below runs once per backend. */
const backends: [string, () => Promise<RecordStore>][] = [
  ['MemoryRecordStore', async () => new MemoryRecordStore()],
  [
    'SqliteRecordStore',
    async () => new SqliteRecordStore({ filename: join(dir, `${++storesOpened}.db`) }),
  ],
  [
    'PostgresRecordStore',
    () =>
      PostgresRecordStore.connect({
        connectionString: POSTGRES_URL,
        schema,
        table: `records_${++storesOpened}`,
      }),
  ],
  ['RedisRecordStore', () => RedisRecordStore.connect({ url: REDIS_URL, prefix: freshPrefix() })],
];

/** Counts the reads that reach the store, to tell cache hits from misses. */
function countingReads(records: RecordStore): { records: RecordStore; reads: () => number } {
  let reads = 0;
  const counted: RecordStore = {
    get: (...args) => {
      reads++;
      return records.get(...args);
    },
    put: (...args) => records.put(...args),
    delete: (...args) => records.delete(...args),
    list: (...args) => records.list(...args),
    sweepExpired: (...args) => records.sweepExpired(...args),
    close: () => records.close(),
  };
  return { records: counted, reads: () => reads };
}

async function refusal(promise: Promise<unknown>): Promise<ApiKeyRefusal> {
  const error = await promise.then(
    () => {
      throw new Error('expected a refusal');
    },
    (error: unknown) => error,
  );
  expect(error).toBeInstanceOf(ApiKeyInvalidError);
  const invalid = error as ApiKeyInvalidError;
  expect(invalid.code).toBe('ERR_API_KEY_INVALID');
  expect(invalid.message).toBe('API key is missing, invalid, revoked or expired');
  return invalid.reason;
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('base64url');

describe.each(backends)('ApiKeys over %s', (_name, openRecords) => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function setup(options: Partial<ApiKeysOptions> = {}) {
    const store = await openRecords();
    cleanups.push(() => store.close());
    const counted = countingReads(store);
    let now = T0;
    const clock = {
      now: () => now,
      advance: (ms: number) => {
        now += ms;
      },
    };
    const open = (more: Partial<ApiKeysOptions> = {}) => {
      const keys = new ApiKeys({ records: counted.records, clock: clock.now, ...options, ...more });
      cleanups.push(() => keys.close());
      return keys;
    };
    return { store, reads: counted.reads, clock, keys: open(), open };
  }

  it('issues cs_live_<prefix>_<secret> keys and stores only the SHA-256 of the secret', async () => {
    const { keys, store } = await setup();
    const { key, info } = await keys.create({
      owner: 'billing',
      scopes: ['sessions:read', 'sessions:read', 'sessions:write'],
      description: 'nightly export',
    });
    const [, prefix, secret] = KEY.exec(key) as RegExpExecArray;
    expect(info).toEqual({
      prefix,
      owner: 'billing',
      scopes: ['sessions:read', 'sessions:write'],
      description: 'nightly export',
      createdAt: T0,
      expiresAt: null,
      rateLimit: null,
      rotatedAt: null,
      previousValidUntil: null,
      lastUsedAt: null,
      uses: 0,
    });
    const stored = await store.get('api-keys', prefix as string, T0);
    expect(stored?.value).toMatchObject({ secretHash: sha256(secret as string) });
    expect(JSON.stringify(stored)).not.toContain(secret);
    expect(JSON.stringify(await keys.list())).not.toContain(sha256(secret as string));
    expect(await keys.get(prefix as string)).toEqual(info);
  });

  it('verifies a key and returns its frozen principal; a missing scope is a 403-class error', async () => {
    const { keys } = await setup();
    const { key, info } = await keys.create({ owner: 'billing', scopes: ['sessions:read'] });
    const principal = await keys.verify(key, 'sessions:read');
    expect(principal).toEqual({
      prefix: info.prefix,
      owner: 'billing',
      scopes: ['sessions:read'],
      expiresAt: null,
      rateLimit: null,
    });
    expect(Object.isFrozen(principal) && Object.isFrozen(principal.scopes)).toBe(true);
    const error = await keys.verify(key, 'sessions:write').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiKeyScopeError);
    expect(error).toMatchObject({ code: 'ERR_API_KEY_SCOPE', required: 'sessions:write' });
    await expect(keys.verify(key, 'nope' as 'keys:admin')).rejects.toBeInstanceOf(ValidationError);
  });

  it('refuses missing, malformed, unknown and wrong-secret keys with one code and message', async () => {
    const { keys } = await setup();
    const { key } = await keys.create({ owner: 'billing', scopes: ['sessions:read'] });
    const [, prefix, secret] = KEY.exec(key) as RegExpExecArray;
    const otherSecret = randomBytes(32).toString('base64url');
    expect(await refusal(keys.verify(undefined))).toBe('missing');
    expect(await refusal(keys.verify(''))).toBe('missing');
    expect(await refusal(keys.verify(`${key}x`))).toBe('malformed');
    expect(await refusal(keys.verify(`Bearer ${key}`))).toBe('malformed');
    expect(await refusal(keys.verify(`cs_live_${prefix}_${secret?.slice(1)}`))).toBe('malformed');
    expect(await refusal(keys.verify(`cs_live_AAAAAAAAAAAA_${secret}`))).toBe('unknown');
    expect(await refusal(keys.verify(`cs_live_${prefix}_${otherSecret}`))).toBe('secret-mismatch');
    expect((await keys.verify(key)).prefix).toBe(prefix);
  });

  it('caches a verification for cacheTtl and never caches a failure', async () => {
    const { keys, reads, clock } = await setup({ cacheTtl: 5_000 });
    const { key } = await keys.create({ owner: 'billing', scopes: ['sessions:read'] });
    const [, prefix] = KEY.exec(key) as RegExpExecArray;
    const wrong = `cs_live_${prefix}_${randomBytes(32).toString('base64url')}`;
    const before = reads();
    for (let i = 0; i < 10; i++) await keys.verify(key);
    expect(reads() - before).toBe(1);
    for (let i = 0; i < 3; i++) await refusal(keys.verify(wrong));
    expect(reads() - before).toBe(4);
    clock.advance(5_000);
    await keys.verify(key);
    expect(reads() - before).toBe(5);
  });

  it('reads the store on every verification when cacheTtl is 0', async () => {
    const { keys, reads } = await setup({ cacheTtl: 0 });
    const { key } = await keys.create({ owner: 'billing', scopes: ['sessions:read'] });
    const before = reads();
    for (let i = 0; i < 3; i++) await keys.verify(key);
    expect(reads() - before).toBe(3);
  });

  it('holds at most cacheMax verified keys', async () => {
    const { keys, reads } = await setup({ cacheMax: 2 });
    const issued = await Promise.all(
      [1, 2, 3].map(() => keys.create({ owner: 'billing', scopes: ['sessions:read'] })),
    );
    for (const { key } of issued) await keys.verify(key);
    const before = reads();
    await keys.verify((issued[2] as { key: string }).key);
    expect(reads()).toBe(before);
    await keys.verify((issued[0] as { key: string }).key);
    expect(reads()).toBe(before + 1);
  });

  it('refuses a key from its expiry on, even when its verification is cached', async () => {
    const { keys, clock } = await setup({ cacheTtl: 600_000 });
    const { key } = await keys.create({
      owner: 'billing',
      scopes: ['sessions:read'],
      expiresAt: T0 + 60_000,
    });
    await keys.verify(key);
    clock.advance(59_999);
    await keys.verify(key);
    clock.advance(1);
    expect(await refusal(keys.verify(key))).toBe('expired');
    expect(await refusal(keys.verify(key))).toBe('unknown');
    expect(await keys.list()).toEqual([]);
  });

  it('rotation issues a new secret and keeps the old one valid for the grace period only', async () => {
    const { keys, clock } = await setup({ cacheTtl: 600_000 });
    const { key: first, info } = await keys.create({ owner: 'billing', scopes: ['sessions:read'] });
    await keys.verify(first);
    clock.advance(1_000);
    const { key: second, info: rotated } = await keys.rotate(info.prefix, { grace: 60_000 });
    expect(KEY.exec(second)?.[1]).toBe(info.prefix);
    expect(second).not.toBe(first);
    expect(rotated).toMatchObject({ rotatedAt: T0 + 1_000, previousValidUntil: T0 + 61_000 });
    await keys.verify(first);
    await keys.verify(second);
    clock.advance(59_999);
    await keys.verify(first);
    clock.advance(1);
    expect(await refusal(keys.verify(first))).toBe('rotated-out');
    expect(await refusal(keys.verify(first))).toBe('rotated-out');
    await keys.verify(second);
  });

  it('a rotation without grace refuses the old secret at once, and a second rotation drops the first secret', async () => {
    const { keys } = await setup({ cacheTtl: 600_000 });
    const { key: first, info } = await keys.create({ owner: 'billing', scopes: ['sessions:read'] });
    await keys.verify(first);
    const { key: second } = await keys.rotate(info.prefix);
    expect(await refusal(keys.verify(first))).toBe('secret-mismatch');
    await keys.verify(second);
    const { key: third } = await keys.rotate(info.prefix, { grace: 60_000 });
    const { key: fourth } = await keys.rotate(info.prefix, { grace: 60_000 });
    expect(await refusal(keys.verify(second))).toBe('secret-mismatch');
    await keys.verify(third);
    await keys.verify(fourth);
  });

  it('revoke refuses the key at once on this instance, even when cached', async () => {
    const { keys } = await setup({ cacheTtl: 600_000 });
    const { key, info } = await keys.create({ owner: 'billing', scopes: ['sessions:read'] });
    await keys.verify(key);
    expect(await keys.revoke(info.prefix)).toBe(true);
    expect(await refusal(keys.verify(key))).toBe('unknown');
    expect(await keys.revoke(info.prefix)).toBe(false);
    expect(await keys.get(info.prefix)).toBeNull();
    await expect(keys.rotate(info.prefix)).rejects.toBeInstanceOf(ApiKeyNotFoundError);
  });

  it('without a bus, another instance sees a revoke within cacheTtl', async () => {
    const { keys: a, open, clock } = await setup({ cacheTtl: 5_000 });
    const b = open();
    const { key, info } = await a.create({ owner: 'billing', scopes: ['sessions:read'] });
    await b.verify(key);
    await a.revoke(info.prefix);
    clock.advance(4_999);
    await b.verify(key);
    clock.advance(1);
    expect(await refusal(b.verify(key))).toBe('unknown');
  });

  it('counts uses of two instances exactly, flushed concurrently through compare-and-set', async () => {
    const { keys: a, open, clock } = await setup();
    const b = open();
    const { key, info } = await a.create({ owner: 'billing', scopes: ['sessions:read'] });
    for (let i = 0; i < 100; i++) {
      await a.verify(key);
      await b.verify(key);
    }
    clock.advance(10);
    await b.verify(key);
    await a.verify(key);
    expect((await a.get(info.prefix))?.uses).toBe(0);
    await Promise.all([a.flushUsage(), b.flushUsage()]);
    expect(await a.get(info.prefix)).toMatchObject({ uses: 202, lastUsedAt: T0 + 10 });
    await Promise.all([a.flushUsage(), b.flushUsage()]);
    expect((await a.get(info.prefix))?.uses).toBe(202);
  });

  it('a usage flush racing a rotation loses neither', async () => {
    const { keys } = await setup();
    const { key, info } = await keys.create({ owner: 'billing', scopes: ['sessions:read'] });
    for (let i = 0; i < 10; i++) await keys.verify(key);
    const [, rotated] = await Promise.all([keys.flushUsage(), keys.rotate(info.prefix)]);
    expect((await keys.get(info.prefix))?.uses).toBe(10);
    await keys.verify(rotated.key);
    expect(await refusal(keys.verify(key))).toBe('secret-mismatch');
  });

  it('flushes usage on its interval and on close, and never brings a revoked key back', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    try {
      const { keys, open } = await setup({ usageFlushInterval: 1_000 });
      const { key, info } = await keys.create({ owner: 'billing', scopes: ['sessions:read'] });
      await keys.verify(key);
      await vi.advanceTimersByTimeAsync(1_000);
      // The interval started the flush; over a network store it lands a little later.
      await expect.poll(async () => (await keys.get(info.prefix))?.uses).toBe(1);
      const other = open();
      await other.verify(key);
      await other.close();
      expect((await keys.get(info.prefix))?.uses).toBe(2);
      await keys.verify(key);
      await keys.revoke(info.prefix);
      await keys.flushUsage();
      expect(await keys.get(info.prefix)).toBeNull();
    } finally {
      vi.useRealTimers();
    }
  });

  it('applies the per-key rate limit and counts only allowed verifications as uses', async () => {
    const { keys, clock } = await setup();
    const { key, info } = await keys.create({
      owner: 'billing',
      scopes: ['sessions:read'],
      rateLimit: { limit: 3, windowMs: 60_000 },
    });
    for (let i = 0; i < 3; i++) await keys.verify(key);
    const error = await keys.verify(key).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RateLimitedError);
    expect((error as RateLimitedError).result).toMatchObject({ retryAfterMs: 60_000 });
    clock.advance(60_000);
    await keys.verify(key);
    await keys.flushUsage();
    expect((await keys.get(info.prefix))?.uses).toBe(4);
  });

  it('never overwrites a key: a prefix collision draws another prefix', async () => {
    let prefixDraws = 0;
    const random = (size: number) =>
      size === 24 && ++prefixDraws <= 2 ? new Uint8Array(size) : randomBytes(size);
    const { keys } = await setup({ random });
    const first = await keys.create({ owner: 'one', scopes: ['sessions:read'] });
    const second = await keys.create({ owner: 'two', scopes: ['sessions:read'] });
    expect(first.info.prefix).toBe('000000000000');
    expect(second.info.prefix).not.toBe(first.info.prefix);
    expect((await keys.verify(first.key)).owner).toBe('one');
    expect((await keys.verify(second.key)).owner).toBe('two');
  });

  it('refuses bad input to create, get, rotate and revoke with ValidationError and writes nothing', async () => {
    const { keys } = await setup();
    const bad: unknown[] = [
      { owner: '', scopes: ['sessions:read'] },
      { owner: 'a'.repeat(201), scopes: ['sessions:read'] },
      { owner: 'line\nbreak', scopes: ['sessions:read'] },
      { owner: 'billing', scopes: [] },
      { owner: 'billing', scopes: ['sessions:delete'] },
      { owner: 'billing', scopes: 'sessions:read' },
      { owner: 'billing', scopes: ['sessions:read'], expiresAt: T0 },
      { owner: 'billing', scopes: ['sessions:read'], expiresAt: 1.5 },
      { owner: 'billing', scopes: ['sessions:read'], rateLimit: { limit: 0, windowMs: 1000 } },
      { owner: 'billing', scopes: ['sessions:read'], rateLimit: { limit: 5, windowMs: -1 } },
      { owner: 'billing', scopes: ['sessions:read'], description: 'x'.repeat(501) },
    ];
    for (const input of bad) {
      await expect(keys.create(input as never), JSON.stringify(input)).rejects.toBeInstanceOf(
        ValidationError,
      );
    }
    expect(await keys.list()).toEqual([]);
    for (const prefix of ['', 'short', 'has_under_sc', 'A'.repeat(13)]) {
      await expect(keys.get(prefix)).rejects.toBeInstanceOf(ValidationError);
      await expect(keys.rotate(prefix)).rejects.toBeInstanceOf(ValidationError);
      await expect(keys.revoke(prefix)).rejects.toBeInstanceOf(ValidationError);
    }
    const { info } = await keys.create({ owner: 'billing', scopes: ['sessions:read'] });
    await expect(keys.rotate(info.prefix, { grace: -1 })).rejects.toBeInstanceOf(ValidationError);
    expect(() => new ApiKeys({ records: new MemoryRecordStore(), cacheTtl: -1 })).toThrow(
      /cacheTtl/,
    );
  });

  it('lists every key in prefix order across pages', async () => {
    const { keys } = await setup();
    const created = [];
    for (let i = 0; i < 105; i++)
      created.push((await keys.create({ owner: `svc-${i}`, scopes: ['sessions:read'] })).info);
    const listed = await keys.list();
    expect(listed.map((info) => info.prefix)).toEqual(created.map((info) => info.prefix).sort());
  });
});

describe('ApiKeys with a Redis invalidation bus', () => {
  it('a revoke or rotation on one instance reaches the cache of another long before cacheTtl', async () => {
    const records = new MemoryRecordStore();
    const channel = `cs:test:keys:${randomBytes(4).toString('hex')}`;
    const buses = await Promise.all([
      RedisInvalidationBus.connect({ url: REDIS_URL, channel }),
      RedisInvalidationBus.connect({ url: REDIS_URL, channel }),
    ]);
    const [a, b] = buses.map(
      (invalidationBus) => new ApiKeys({ records, cacheTtl: 600_000, invalidationBus }),
    ) as [ApiKeys, ApiKeys];
    try {
      const revoked = await a.create({ owner: 'billing', scopes: ['sessions:read'] });
      const rotated = await a.create({ owner: 'search', scopes: ['sessions:read'] });
      const kept = await a.create({ owner: 'audit', scopes: ['sessions:read'] });
      for (const { key } of [revoked, rotated, kept]) await b.verify(key);

      await a.revoke(revoked.info.prefix);
      await expect
        .poll(
          () =>
            b.verify(revoked.key).then(
              () => 'accepted',
              (e: ApiKeyInvalidError) => e.reason,
            ),
          {
            timeout: 5_000,
            interval: 5,
          },
        )
        .toBe('unknown');

      await a.rotate(rotated.info.prefix);
      await expect
        .poll(
          () =>
            b.verify(rotated.key).then(
              () => 'accepted',
              (e: ApiKeyInvalidError) => e.reason,
            ),
          {
            timeout: 5_000,
            interval: 5,
          },
        )
        .toBe('secret-mismatch');

      await records.delete('api-keys', kept.info.prefix);
      expect((await b.verify(kept.key)).owner).toBe('audit');
    } finally {
      await Promise.all([a.close(), b.close()]);
      await Promise.all(buses.map((bus) => bus.close()));
    }
  });
});
