import { describe, expect, it } from 'vitest';
import type { RateLimiter } from '../../src/core/index.js';
import { FailureThrottle } from '../../src/gateway/failure-throttle.js';
import { MemoryRateLimiter } from '../../src/stores/index.js';

const MINUTE = 60_000;

function setup() {
  const clock = { now: Date.UTC(2026, 0, 1) };
  const inner = new MemoryRateLimiter({ limit: 3, windowMs: 15 * MINUTE, clock: () => clock.now });
  const calls: string[] = [];
  const limiter: RateLimiter = {
    limit: inner.limit,
    windowMs: inner.windowMs,
    consume: (key, cost) => {
      calls.push(key);
      return inner.consume(key, cost);
    },
    refund: (result) => inner.refund(result),
    reset: (key) => inner.reset(key),
  };
  return { clock, calls, limiter, throttle: new FailureThrottle(limiter, () => clock.now) };
}

describe('FailureThrottle', () => {
  it('asks the limiter only for failures, and refuses locally once they are used up', async () => {
    const { clock, calls, throttle } = setup();
    expect(throttle.refusal('ip:a')).toBeNull();
    for (let i = 0; i < 3; i++) expect((await throttle.fail('ip:a')).allowed).toBe(true);
    expect(calls).toHaveLength(3);

    const refused = throttle.refusal('ip:a');
    expect(refused).toMatchObject({ key: 'ip:a', allowed: false, limit: 3, remaining: 0 });
    expect(refused?.retryAfterMs).toBe(15 * MINUTE);
    expect(throttle.refusal('ip:b')).toBeNull();
    expect(calls).toHaveLength(3);

    clock.now += 5 * MINUTE;
    expect(throttle.refusal('ip:a')?.retryAfterMs).toBe(10 * MINUTE);
    clock.now += 10 * MINUTE;
    expect(throttle.refusal('ip:a')).toBeNull();
    expect((await throttle.fail('ip:a')).allowed).toBe(true);
  });

  it('on another gateway sharing the limiter, learns the refusal at its own next failure', async () => {
    const { clock, throttle, limiter } = setup();
    const elsewhere = new FailureThrottle(limiter, () => clock.now);
    for (let i = 0; i < 3; i++) await throttle.fail('ip:a');
    expect(elsewhere.refusal('ip:a')).toBeNull();
    expect((await elsewhere.fail('ip:a')).allowed).toBe(false);
    expect(elsewhere.refusal('ip:a')?.retryAfterMs).toBeGreaterThan(0);
  });
});
