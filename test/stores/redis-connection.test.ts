import { createServer } from 'node:net';
import { createClient } from 'redis';
import { afterAll, describe, expect, it } from 'vitest';
import { StoreUnavailableError } from '../../src/core/index.js';
import { openBackend } from '../../src/stores/index.js';
import { openConnection } from '../../src/stores/redis/connection.js';
import { dropKeys, freshPrefix, REDIS_URL, RUN_PREFIX, startProxy } from './fixtures/redis.js';

afterAll(() => dropKeys(REDIS_URL, RUN_PREFIX));

describe('the Redis store connection', () => {
  it('once commands time out, drops those still unwritten when their wait ends: a server that stops reading gets only what was already sent', async () => {
    const proxy = await startProxy(Number(new URL(REDIS_URL).port || 6379));
    const connection = await openConnection({
      url: proxy.url,
      commandTimeout: 300,
      connectTimeout: 2_000,
    });
    const prefix = freshPrefix();
    const keys = Array.from({ length: 24 }, (_, i) => `${prefix}${i}`);
    const value = Buffer.alloc(2 * 1024 * 1024, 0x61);
    const redis = await createClient({ url: REDIS_URL }).connect();
    try {
      proxy.stall();
      await expect(connection.send(keys[0] as string, ['PING'])).rejects.toBeInstanceOf(
        StoreUnavailableError,
      );
      const outcomes = await Promise.all(
        keys.map((key) => connection.send(key, ['SET', key, value]).catch((error) => error)),
      );
      expect(outcomes.every((outcome) => outcome instanceof StoreUnavailableError)).toBe(true);
      proxy.resume();
      // Written after everything sent before it, so answered after all of that has landed.
      await connection.send(keys[0] as string, ['PING']);
      expect(await redis.exists(keys)).toBeLessThan(keys.length / 2);
    } finally {
      await redis.close();
      await connection.close();
      await proxy.close();
    }
  });
});

describe('a Redis server that refuses connections', () => {
  it('fails each part with StoreUnavailableError naming the server, what it was for and why, once, without the password', async () => {
    const port = await closedPort();
    const backend = openBackend(`redis://:s3cret@127.0.0.1:${port}?prefix=${freshPrefix()}`);
    const attempts: [string, () => Promise<unknown>][] = [
      [
        'sessions',
        () =>
          openConnection({
            url: `redis://:s3cret@127.0.0.1:${port}`,
            commandTimeout: 200,
            connectTimeout: 2_000,
          }),
      ],
      ['leases', () => (backend.openLease as () => Promise<unknown>)()],
      ['invalidations', () => (backend.openBus as (topic: string) => Promise<unknown>)('sessions')],
      ['rate limits', () => (backend.openLimiters as () => Promise<unknown>)()],
    ];
    // Side by side: each waits out its own connect timeout.
    const errors = await Promise.all(
      attempts.map(([, attempt]) => attempt().catch((caught: unknown) => caught)),
    );
    for (const [i, [purpose]] of attempts.entries()) {
      expect(errors[i]).toBeInstanceOf(StoreUnavailableError);
      expect((errors[i] as Error).message).toBe(
        `Redis at 127.0.0.1:${port} (${purpose}) is unavailable: connection refused`,
      );
    }
  });
});

async function closedPort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}
