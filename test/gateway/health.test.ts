import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { applyApiDefaults } from '../../src/gateway/fastify-defaults.js';
import { pingStore, registerHealthRoutes } from '../../src/gateway/health.js';
import { RedisStore } from '../../src/stores/index.js';
import {
  dropKeys,
  freshPrefix,
  REDIS_URL,
  RUN_PREFIX,
  startProxy,
} from '../stores/fixtures/redis.js';

afterAll(() => dropKeys(REDIS_URL, RUN_PREFIX));

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((cleanup) => cleanup()));
});

async function serve(ready: () => Promise<void>, readyTimeout?: number) {
  const logged: string[] = [];
  const app: FastifyInstance = Fastify({
    logger: { level: 'warn', stream: { write: (line: string) => logged.push(line) } },
  });
  cleanups.push(() => app.close());
  applyApiDefaults(app);
  registerHealthRoutes(app, { ready, readyTimeout });
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  const get = async (path: string) => {
    const response = await fetch(`${url}${path}`);
    return {
      status: response.status,
      cacheControl: response.headers.get('cache-control'),
      body: (await response.json()) as unknown,
    };
  };
  return { get, logged };
}

async function redisStore(url = REDIS_URL, commandTimeout = 2000): Promise<RedisStore> {
  const store = await RedisStore.connect({ url, prefix: freshPrefix(), commandTimeout });
  cleanups.push(() => store.close());
  return store;
}

const notReady = {
  error: { code: 'ERR_NOT_READY', message: 'the session store is not answering' },
};

describe('health routes', () => {
  it('readyz answers 200 while the store answers and 503 once its connection is closed; healthz stays 200', async () => {
    const store = await redisStore();
    const { get, logged } = await serve(pingStore(store));
    expect(await get('/readyz')).toEqual({
      status: 200,
      cacheControl: 'no-store',
      body: { status: 'ready' },
    });
    await store.close();
    expect(await get('/readyz')).toEqual({ status: 503, cacheControl: 'no-store', body: notReady });
    expect(logged.join('')).toContain('ERR_STORE_UNAVAILABLE');
    expect(await get('/healthz')).toEqual({
      status: 200,
      cacheControl: 'no-store',
      body: { status: 'ok' },
    });
  });

  it('readyz answers 503 within its timeout when the store stops answering, and 200 when it answers again', async () => {
    const port = Number(new URL(REDIS_URL).port || 6379);
    const proxy = await startProxy(port);
    cleanups.push(() => proxy.close());
    const store = await redisStore(proxy.url, 10_000);
    const { get, logged } = await serve(pingStore(store), 200);
    expect((await get('/readyz')).status).toBe(200);
    proxy.hold();
    const started = performance.now();
    expect(await get('/readyz')).toMatchObject({ status: 503, body: notReady });
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(logged.join('')).toContain('not ready within 200 ms');
    proxy.release();
    expect((await get('/readyz')).status).toBe(200);
  });
});
