import { createClient } from 'redis';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, StoreUnavailableError } from '../../src/core/index.js';
import { RedisLease } from '../../src/stores/redis/lease.js';

const REDIS_URL = process.env.CLAWSESSION_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const opened: RedisLease[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((lease) => lease.close()));
});
const prefix = `cs:test:lease:${Math.random().toString(36).slice(2)}:`;
async function lease(ttl = 30_000) {
  const opened1 = await RedisLease.connect({ url: REDIS_URL, ttl, prefix });
  opened.push(opened1);
  return opened1;
}

describe('RedisLease', () => {
  it('renews the lease while long work runs, beyond its ttl', async () => {
    // Work of 2.5 ttls; renewed every third of a ttl, so only a 600 ms stall could lose it.
    const [a, b] = [await lease(900), await lease(900)];
    const attempts: boolean[] = [];
    const result = await a.run('long', async (signal) => {
      for (let i = 0; i < 5; i++) {
        await new Promise((resolve) => setTimeout(resolve, 450));
        attempts.push((await b.run('long', async () => true)).acquired);
      }
      return signal.aborted;
    });
    expect(result).toEqual({ acquired: true, value: false });
    expect(attempts).toEqual([false, false, false, false, false]);
  });

  it('a holder that died without releasing frees the lease when its ttl runs out', async () => {
    const raw = createClient({ url: REDIS_URL });
    await raw.connect();
    await raw.set(`${prefix}crashed`, 'dead-owner', { expiration: { type: 'PX', value: 60_000 } });
    const b = await lease();
    expect(await b.run('crashed', async () => 'b')).toEqual({ acquired: false });
    // The dead owner's ttl runs out (shortened here rather than waited for, so load cannot race it).
    await raw.pExpire(`${prefix}crashed`, 1);
    await raw.close();
    await expect
      .poll(() => b.run('crashed', async () => 'b'), { timeout: 3_000, interval: 50 })
      .toEqual({ acquired: true, value: 'b' });
  });

  it('needs exactly one of url or cluster', async () => {
    await expect(RedisLease.connect({})).rejects.toBeInstanceOf(ConfigError);
  });

  it('reports an unreachable Redis as StoreUnavailableError', async () => {
    await expect(
      RedisLease.connect({ url: 'redis://127.0.0.1:1', connectTimeout: 300 }),
    ).rejects.toBeInstanceOf(StoreUnavailableError);
  });
});
