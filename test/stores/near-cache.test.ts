import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createCodec, SessionManager } from '../../src/core/index.js';
import { SqliteStore } from '../../src/stores/index.js';
import { NearCache } from '../../src/stores/near-cache.js';
import { RedisInvalidationBus } from '../../src/stores/redis/invalidation-bus.js';
import { describeSessionStore } from '../conformance/session-store.js';
import { countingStore } from '../support/counting-store.js';

const REDIS_URL = process.env.CLAWSESSION_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const dir = mkdtempSync(join(tmpdir(), 'clawsession-near-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let counter = 0;
const freshFile = () => join(dir, `${++counter}.db`);

describeSessionStore('NearCache(SQLite)', async ({ codec }) =>
  NearCache.create(new SqliteStore({ filename: freshFile(), codec })),
);

describe('NearCache across instances', () => {
  it('a revoke on one instance is seen by another through Redis pub/sub, long before the cache ttl', async () => {
    const filename = freshFile();
    const channel = `cs:test:${Math.random().toString(36).slice(2)}`;
    const codec = createCodec();
    const instance = async () =>
      new SessionManager({
        store: await NearCache.create(new SqliteStore({ filename, codec }), {
          ttl: 600_000,
          bus: await RedisInvalidationBus.connect({ url: REDIS_URL, channel }),
        }),
      });
    const a = await instance();
    const b = await instance();
    const { token } = await a.create({ userId: 'u', data: { role: 'admin' } });
    expect((await b.get(token))?.data).toEqual({ role: 'admin' }); // now cached in b
    expect((await b.get(token))?.data).toEqual({ role: 'admin' });

    await a.patch(token, [{ op: 'replace', path: '/role', value: 'user' }]);
    await expect
      .poll(async () => (await b.get(token))?.data, { timeout: 5_000, interval: 5 })
      .toEqual({ role: 'user' });

    await a.revoke(token);
    await expect.poll(async () => b.get(token), { timeout: 5_000, interval: 5 }).toBeNull();
    await Promise.all([a.close(), b.close()]);
  });

  it('serves repeated reads from memory without asking the store', async () => {
    const codec = createCodec();
    const { store, calls } = countingStore(new SqliteStore({ filename: freshFile(), codec }));
    const manager = new SessionManager({ store: await NearCache.create(store) });
    const { token } = await manager.create({ userId: 'u' });
    for (let i = 0; i < 10; i++) await manager.get(token);
    expect(calls.get).toBe(1);
    await manager.close();
  });
});
