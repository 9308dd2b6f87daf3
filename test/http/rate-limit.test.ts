import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Pool } from 'pg';
import { createClient } from 'redis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  RateLimitedError,
  type RateLimiter,
  type RateLimitResult,
  StoreUnavailableError,
} from '../../src/core/index.js';
import { toErrorResponse } from '../../src/http/index.js';
import {
  consumeAll,
  rateLimitedResponse,
  rateLimitHeaders,
} from '../../src/http/rate-limit/index.js';
import {
  MemoryRateLimiter,
  PostgresRateLimiter,
  type PostgresRateLimiterConnectOptions,
  RedisRateLimiter,
  type RedisRateLimiterOptions,
} from '../../src/stores/index.js';
import { describeRateLimiter } from '../conformance/rate-limiter.js';
import {
  dropKeys,
  freePort,
  freshPrefix,
  REDIS_URL,
  RUN_PREFIX,
  startProxy,
} from '../stores/fixtures/redis.js';
import { manualClock } from '../support/manual-clock.js';

const SECOND = 1_000;
const MINUTE = 60 * SECOND;
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
afterAll(() => dropKeys(REDIS_URL, RUN_PREFIX));

// A real PostgreSQL, always; every table of this run lives in one schema of its own, dropped at the end.
const POSTGRES_URL =
  process.env.CLAWSESSION_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const PG_SCHEMA = `clawsession_rl_${randomBytes(4).toString('hex')}`;
const admin = new Pool({ connectionString: POSTGRES_URL, max: 2 });
admin.on('error', () => undefined);
afterAll(async () => {
  await admin.query(`DROP SCHEMA IF EXISTS ${PG_SCHEMA} CASCADE`);
  await admin.end();
});
let pgTables = 0;
const freshTable = () => `rate_limit_${++pgTables}`;

describeRateLimiter('MemoryRateLimiter', async () => ({
  create: (_name, options) => new MemoryRateLimiter(options),
  close: async () => {},
}));

describe('MemoryRateLimiter memory', () => {
  it('stays bounded under 100,000 distinct keys, keeping the most recently used', async () => {
    const clock = manualClock();
    const limiter = new MemoryRateLimiter({
      limit: 1,
      windowMs: MINUTE,
      maxKeys: 1_000,
      clock: clock.now,
    });
    for (let i = 0; i < 100_000; i++) await limiter.consume(`login:account:user-${i}`);
    expect(limiter.size).toBe(1_000);
    expect((await limiter.consume('login:account:user-99999')).allowed).toBe(false);
    expect((await limiter.consume('login:account:user-0')).allowed).toBe(true); // evicted: forgotten
  });

  it('holds 10,000 keys by default', async () => {
    const limiter = new MemoryRateLimiter({ limit: 1, windowMs: MINUTE });
    for (let i = 0; i < 10_050; i++) await limiter.consume(`k${i}`);
    expect(limiter.size).toBe(10_000);
  });
});

describe('RedisRateLimiter across instances', () => {
  async function instance(options: { prefix: string; limit: number; url?: string }) {
    const limiter = await RedisRateLimiter.connect({
      url: options.url ?? REDIS_URL,
      prefix: options.prefix,
      limit: options.limit,
      windowMs: MINUTE,
      connectTimeout: 1_000,
    });
    cleanups.push(() => limiter.close());
    return limiter;
  }

  it('a key expires by itself when its newest charge leaves the window', async () => {
    const prefix = freshPrefix();
    const limiter = await instance({ prefix, limit: 5 });
    await limiter.consume('k');
    const client = await createClient({ url: REDIS_URL }).connect();
    cleanups.push(() => client.close());
    const ttl = await client.pTTL(`${prefix}k`);
    expect(ttl).toBeGreaterThan(MINUTE - 5 * SECOND);
    expect(ttl).toBeLessThanOrEqual(MINUTE);
  });
});

describe('RedisRateLimiter while Redis is down', () => {
  const redisPort = Number(new URL(REDIS_URL).port || 6379);

  it('connect to a Redis that is not there fails with StoreUnavailableError', async () => {
    const url = `redis://127.0.0.1:${await freePort()}`;
    await expect(
      RedisRateLimiter.connect({ url, limit: 5, windowMs: MINUTE, connectTimeout: 500 }),
    ).rejects.toBeInstanceOf(StoreUnavailableError);
  });

  async function throughProxy(
    options: Pick<RedisRateLimiterOptions, 'failOpen' | 'onUnavailable'> = {},
  ) {
    const proxy = await startProxy(redisPort);
    const limiter = await RedisRateLimiter.connect({
      url: proxy.url,
      prefix: freshPrefix(),
      limit: 5,
      windowMs: MINUTE,
      commandTimeout: 300,
      ...options,
    });
    cleanups.push(
      () => limiter.close(),
      () => proxy.close().catch(() => {}),
    );
    return { proxy, limiter };
  }

  describeLimiterOutage('Redis', 'commandTimeout', throughProxy);

  it('consumeAll with one limit down fails and leaves no charge on the others', async () => {
    const { proxy, limiter: perAccount } = await throughProxy();
    const perIp = new MemoryRateLimiter({ limit: 1, windowMs: MINUTE });
    await proxy.close();
    await expect(
      consumeAll([
        { limiter: perIp, key: 'login:ip:203.0.113.9' },
        { limiter: perAccount, key: 'login:account:alice' },
      ]),
    ).rejects.toBeInstanceOf(StoreUnavailableError);
    expect((await perIp.consume('login:ip:203.0.113.9')).allowed).toBe(true);
  });
});

describe('PostgresRateLimiter across instances', () => {
  async function instance(
    options: Partial<PostgresRateLimiterConnectOptions> & { limit: number; table: string },
  ) {
    const limiter = await PostgresRateLimiter.connect({
      connectionString: POSTGRES_URL,
      schema: PG_SCHEMA,
      windowMs: MINUTE,
      ...options,
    });
    cleanups.push(() => limiter.close());
    return limiter;
  }
  const rows = async (table: string) =>
    (
      await admin.query<{ key: string; units: number }>(
        `SELECT key, units FROM ${PG_SCHEMA}.${table} ORDER BY key`,
      )
    ).rows;

  it('200 concurrent consumes through two instances against a limit of 50 allow exactly 50', async () => {
    const table = freshTable();
    const [a, b] = [await instance({ table, limit: 50 }), await instance({ table, limit: 50 })];
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) => (i % 2 ? a : b).consume('login:account:alice')),
    );
    expect(results.filter((result) => result.allowed)).toHaveLength(50);
    expect(results.filter((result) => !result.allowed)).toHaveLength(150);
    expect(await rows(table)).toHaveLength(50);
  });

  it('limiters sharing one table are kept apart by their prefix, and a long key is stored by its digest', async () => {
    const table = freshTable();
    const perIp = await instance({ table, prefix: 'login-ip:', limit: 1 });
    const perAccount = await instance({ table, prefix: 'login-account:', limit: 1 });
    expect((await perIp.consume('k')).allowed).toBe(true);
    expect((await perAccount.consume('k')).allowed).toBe(true);
    expect((await perAccount.consume('x'.repeat(10_000), 1)).allowed).toBe(true);
    expect((await rows(table)).map((row) => row.key)).toEqual([
      'login-account:k',
      expect.stringMatching(/^login-account:sha256:[\w-]{43}$/),
      'login-ip:k',
    ]);
  });

  it('refund deletes exactly the row of its charge, a charge of several units being one row', async () => {
    const table = freshTable();
    const limiter = await instance({ table, limit: 5 });
    const kept = await limiter.consume('k', 2);
    const refunded = await limiter.consume('k', 3);
    expect(await rows(table)).toEqual([
      { key: 'k', units: 2 },
      { key: 'k', units: 3 },
    ]);
    await limiter.refund(refunded);
    expect(await rows(table)).toEqual([{ key: 'k', units: 2 }]);
    expect(kept.allowed).toBe(true);
  });

  it('each consume deletes up to 10 expired rows of keys never charged again, never a live one', async () => {
    const table = freshTable();
    const clock = manualClock();
    const perIp = await instance({ table, prefix: 'ip:', limit: 1, clock: clock.now });
    const perAccount = await instance({
      table,
      prefix: 'account:',
      limit: 1,
      windowMs: 15 * MINUTE,
      clock: clock.now,
    });
    for (let i = 0; i < 25; i++) await perIp.consume(`198.51.100.${i}`);
    await perAccount.consume('alice');
    clock.advance(MINUTE); // every per-IP charge has left its window; alice's has 14 minutes left
    await perIp.consume('203.0.113.1');
    expect(await rows(table)).toHaveLength(25 - 10 + 2);
    await perAccount.consume('bob');
    await perIp.consume('203.0.113.2');
    expect((await rows(table)).map((row) => row.key)).toEqual([
      'account:alice',
      'account:bob',
      'ip:203.0.113.1',
      'ip:203.0.113.2',
    ]);
    expect((await perAccount.consume('alice')).allowed).toBe(false);
  });

  it('creates its table once when many instances connect together', async () => {
    const table = freshTable();
    const limiters = await Promise.all(
      Array.from({ length: 6 }, () => instance({ table, limit: 6 })),
    );
    const results = await Promise.all(limiters.map((limiter) => limiter.consume('k')));
    expect(results.map((result) => result.allowed)).toEqual(Array(6).fill(true));
    expect((await (limiters[0] as PostgresRateLimiter).consume('k')).allowed).toBe(false);
  });

  it('close ends the pool it created but leaves a pool it was given open', async () => {
    const table = freshTable();
    const given = new Pool({ connectionString: POSTGRES_URL, max: 2 });
    given.on('error', () => undefined);
    cleanups.push(() => given.end());
    const shared = await PostgresRateLimiter.connect({
      pool: given,
      schema: PG_SCHEMA,
      table,
      limit: 1,
      windowMs: MINUTE,
    });
    await shared.close();
    expect((await given.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);

    const own = await PostgresRateLimiter.connect({
      connectionString: POSTGRES_URL,
      schema: PG_SCHEMA,
      table,
      limit: 1,
      windowMs: MINUTE,
    });
    await own.close();
    await own.close();
    await expect(own.consume('k')).rejects.toBeInstanceOf(StoreUnavailableError);
  });
});

describe('PostgresRateLimiter while PostgreSQL is down', () => {
  const postgresPort = Number(new URL(POSTGRES_URL).port || 5432);
  const viaPort = (port: number) => {
    const url = new URL(POSTGRES_URL);
    url.host = `127.0.0.1:${port}`;
    return url.toString();
  };

  it('connect to a server that is not there fails fast with StoreUnavailableError', async () => {
    const started = performance.now();
    await expect(
      PostgresRateLimiter.connect({
        connectionString: viaPort(await freePort()),
        limit: 5,
        windowMs: MINUTE,
      }),
    ).rejects.toBeInstanceOf(StoreUnavailableError);
    expect(performance.now() - started).toBeLessThan(2_000);
  });

  it('a limiter on a pool that cannot reach its server fails closed, or with failOpen allows', async () => {
    const pool = new Pool({ connectionString: viaPort(await freePort()) });
    pool.on('error', () => undefined);
    cleanups.push(() => pool.end());
    const policy = { pool, schema: PG_SCHEMA, limit: 5, windowMs: MINUTE };
    await expect(new PostgresRateLimiter(policy).consume('k')).rejects.toBeInstanceOf(
      StoreUnavailableError,
    );
    const reported: unknown[] = [];
    const open = new PostgresRateLimiter({
      ...policy,
      failOpen: true,
      onUnavailable: (error) => reported.push(error),
    });
    expect(await open.consume('k')).toMatchObject({ allowed: true, remaining: 4 });
    expect(reported).toHaveLength(1);
  });

  async function throughProxy(
    options: Pick<PostgresRateLimiterConnectOptions, 'failOpen' | 'onUnavailable'> = {},
  ) {
    const proxy = await startProxy(postgresPort);
    const limiter = await PostgresRateLimiter.connect({
      connectionString: viaPort(Number(new URL(proxy.url).port)),
      schema: PG_SCHEMA,
      table: freshTable(),
      limit: 5,
      windowMs: MINUTE,
      statementTimeout: 300,
      ...options,
    });
    cleanups.push(
      () => limiter.close(),
      () => proxy.close().catch(() => {}),
    );
    return { proxy, limiter };
  }

  describeLimiterOutage('PostgreSQL', 'statementTimeout', throughProxy);
});

/** What a shared limiter does while its server, behind `throughProxy`, is down or silent. */
function describeLimiterOutage(
  server: string,
  timeoutOption: string,
  throughProxy: (options?: {
    failOpen?: boolean;
    onUnavailable?: (error: StoreUnavailableError) => void;
  }) => Promise<{ proxy: Awaited<ReturnType<typeof startProxy>>; limiter: RateLimiter }>,
) {
  it(`fails closed by default: a check while ${server} is down is StoreUnavailableError (503)`, async () => {
    const { proxy, limiter } = await throughProxy();
    const allowed = await limiter.consume('k');
    expect(allowed.allowed).toBe(true);
    await proxy.close();
    const error = await limiter.consume('k').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(StoreUnavailableError);
    expect(toErrorResponse(error).status).toBe(503);
    await expect(limiter.reset('k')).rejects.toBeInstanceOf(StoreUnavailableError);
    await expect(limiter.refund(allowed)).rejects.toBeInstanceOf(StoreUnavailableError);
  });

  it(`a ${server} that does not answer fails the check after ${timeoutOption}`, async () => {
    const { proxy, limiter } = await throughProxy();
    expect((await limiter.consume('k')).allowed).toBe(true);
    proxy.hold();
    const started = performance.now();
    await expect(limiter.consume('k')).rejects.toBeInstanceOf(StoreUnavailableError);
    expect(performance.now() - started).toBeLessThan(2_000);
    proxy.release();
  });

  it(`with failOpen, a check while ${server} is down is allowed and reported`, async () => {
    const reported: unknown[] = [];
    const { proxy, limiter } = await throughProxy({
      failOpen: true,
      onUnavailable: (error) => reported.push(error),
    });
    await proxy.close();
    expect(await limiter.consume('k', 2)).toMatchObject({ allowed: true, remaining: 3 });
    expect(reported).toHaveLength(1);
    expect(reported[0]).toBeInstanceOf(StoreUnavailableError);
  });
}

describe('the 429 response', () => {
  const refused: RateLimitResult = {
    key: 'login:ip:203.0.113.9',
    allowed: false,
    limit: 5,
    remaining: 0,
    retryAfterMs: 1_001,
    resetMs: 59_000,
  };

  it('is a JSON error with Retry-After in whole seconds, rounded up, and the RateLimit fields', () => {
    expect(rateLimitedResponse(refused)).toEqual({
      status: 429,
      headers: {
        'Content-Type': 'application/json; charset=utf-8',
        'Retry-After': '2',
        'RateLimit-Limit': '5',
        'RateLimit-Remaining': '0',
        'RateLimit-Reset': '59',
      },
      body: { error: { code: 'ERR_RATE_LIMITED', message: 'too many requests; retry in 2 s' } },
    });
    expect(rateLimitedResponse({ ...refused, retryAfterMs: 1 }).headers['Retry-After']).toBe('1');
    expect(rateLimitedResponse({ ...refused, retryAfterMs: 3_000 }).headers['Retry-After']).toBe(
      '3',
    );
  });

  it('RateLimit fields describe an allowed result too', () => {
    const allowed = { ...refused, allowed: true, remaining: 3, retryAfterMs: 0, resetMs: 1_500 };
    expect(rateLimitHeaders(allowed)).toEqual({
      'RateLimit-Limit': '5',
      'RateLimit-Remaining': '3',
      'RateLimit-Reset': '2',
    });
  });

  it('RateLimitedError carries the result and maps to 429 in the gateway table', () => {
    const error = new RateLimitedError(refused);
    expect(error.code).toBe('ERR_RATE_LIMITED');
    expect(error.result).toBe(refused);
    expect(toErrorResponse(error)).toEqual({
      status: 429,
      body: { error: { code: 'ERR_RATE_LIMITED', message: 'too many requests; retry in 2 s' } },
    });
  });

  it('a node:http server using it answers 429 with Retry-After after N requests', async () => {
    const clock = manualClock();
    const limiter = new MemoryRateLimiter({ limit: 3, windowMs: MINUTE, clock: clock.now });
    const server = createServer(async (req, res) => {
      const result = await limiter.consume(`login:ip:${req.socket.remoteAddress}`);
      if (!result.allowed) {
        const { status, headers, body } = rateLimitedResponse(result);
        res.writeHead(status, headers).end(JSON.stringify(body));
        return;
      }
      res.writeHead(200, rateLimitHeaders(result)).end('ok');
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    cleanups.push(async () => {
      server.close();
      await once(server, 'close');
    });
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/login`;

    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) {
      const response = await fetch(url, { method: 'POST' });
      await response.text();
      statuses.push(response.status);
      clock.advance(10 * SECOND);
    }
    expect(statuses).toEqual([200, 200, 200]);
    const refusedResponse = await fetch(url, { method: 'POST' });
    expect(refusedResponse.status).toBe(429);
    expect(refusedResponse.headers.get('retry-after')).toBe('30'); // the first request leaves at T + 60 s
    expect(refusedResponse.headers.get('ratelimit-remaining')).toBe('0');
    expect(refusedResponse.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await refusedResponse.json()).toEqual({
      error: { code: 'ERR_RATE_LIMITED', message: 'too many requests; retry in 30 s' },
    });
    clock.advance(30 * SECOND);
    expect((await fetch(url, { method: 'POST' })).status).toBe(200);
  });
});
