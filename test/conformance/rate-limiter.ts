import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  type RateLimiter,
  type RateLimiters,
  type RateLimitPolicy,
  ValidationError,
} from '../../src/core/index.js';
import { consumeAll } from '../../src/http/rate-limit/index.js';
import { type ManualClock, manualClock } from '../support/manual-clock.js';

/** Opens limiters on a connection of their own, as another process of the same deployment would; the suite closes them. */
export type RateLimitersFactory = () => Promise<RateLimiters>;

const SECOND = 1_000;
const MINUTE = 60 * SECOND;

/** Limiter names fresh per suite run, so the limiters may share a server with anyone. */
function freshNames(): () => string {
  const run = randomBytes(4).toString('hex');
  let counter = 0;
  return () => `conformance-${run}-${++counter}`;
}

/**
 * The one suite every RateLimiter passes: exact sliding-window counting
 * under an injected clock. Each limiter is created under a fresh name.
 */
export function describeRateLimiter(name: string, open: RateLimitersFactory): void {
  describe(`${name} conforms to the RateLimiter contract`, () => {
    let limiters: RateLimiters;
    beforeAll(async () => {
      limiters = await open();
    });
    afterAll(() => limiters?.close());
    const freshName = freshNames();
    /** A new limiter over fresh, empty keys. */
    const make = (policy: RateLimitPolicy, clock: ManualClock): RateLimiter =>
      limiters.create(freshName(), { ...policy, clock: clock.now });

    it('allows up to the limit, then refuses until the oldest charge leaves the window', async () => {
      const clock = manualClock();
      const limiter = make({ limit: 3, windowMs: MINUTE }, clock);
      const remaining: number[] = [];
      for (let i = 0; i < 3; i++) {
        const result = await limiter.consume('login:ip:203.0.113.9');
        expect(result.allowed).toBe(true);
        remaining.push(result.remaining);
        clock.advance(SECOND);
      }
      expect(remaining).toEqual([2, 1, 0]);

      clock.advance(2 * SECOND); // now T + 5 s; charges at T, T + 1 s, T + 2 s
      expect(await limiter.consume('login:ip:203.0.113.9')).toEqual({
        key: 'login:ip:203.0.113.9',
        allowed: false,
        limit: 3,
        remaining: 0,
        retryAfterMs: 55 * SECOND,
        resetMs: 57 * SECOND,
      });
      clock.advance(55 * SECOND - 1);
      const early = await limiter.consume('login:ip:203.0.113.9');
      expect(early).toMatchObject({ allowed: false, retryAfterMs: 1 });
      clock.advance(1);
      expect(await limiter.consume('login:ip:203.0.113.9')).toMatchObject({
        allowed: true,
        remaining: 0,
      });
    });

    it('the window slides: each charge frees its unit exactly one window after it was made', async () => {
      const clock = manualClock();
      const limiter = make({ limit: 2, windowMs: 10 * SECOND }, clock);
      await limiter.consume('k'); // T
      clock.advance(6 * SECOND);
      await limiter.consume('k'); // T + 6 s
      clock.advance(2 * SECOND);
      expect(await limiter.consume('k')).toMatchObject({
        allowed: false,
        retryAfterMs: 2 * SECOND,
      });
      clock.advance(2 * SECOND); // T + 10 s: the first charge has left, the second has not
      expect(await limiter.consume('k')).toMatchObject({ allowed: true, remaining: 0 });
      clock.advance(2 * SECOND);
      expect(await limiter.consume('k')).toMatchObject({
        allowed: false,
        retryAfterMs: 4 * SECOND, // the charge at T + 6 s leaves at T + 16 s
        resetMs: 8 * SECOND, // the charge at T + 10 s leaves at T + 20 s
      });
    });

    it('charges a cost of several units, and refuses one that does not fit without charging it', async () => {
      const clock = manualClock();
      const limiter = make({ limit: 5, windowMs: MINUTE }, clock);
      expect(await limiter.consume('k', 3)).toMatchObject({ allowed: true, remaining: 2 });
      clock.advance(SECOND);
      expect(await limiter.consume('k', 2)).toMatchObject({ allowed: true, remaining: 0 });
      clock.advance(SECOND);
      // 4 units must leave: the first charge's 3 at T + 60 s and the second's 2 at T + 61 s.
      expect(await limiter.consume('k', 4)).toMatchObject({
        allowed: false,
        remaining: 0,
        retryAfterMs: 59 * SECOND,
      });
      clock.advance(58 * SECOND); // T + 60 s: the 3 units have left
      expect(await limiter.consume('k', 3)).toMatchObject({ allowed: true, remaining: 0 });
    });

    it('a cost that is not an integer from 1 to the limit is a ValidationError', async () => {
      const limiter = make({ limit: 5, windowMs: MINUTE }, manualClock());
      for (const cost of [0, -1, 1.5, 6, Number.NaN])
        await expect(limiter.consume('k', cost)).rejects.toBeInstanceOf(ValidationError);
      await expect(limiter.consume('')).rejects.toBeInstanceOf(ValidationError);
    });

    it('keeps keys apart, and reset forgets one key only', async () => {
      const clock = manualClock();
      const limiter = make({ limit: 1, windowMs: MINUTE }, clock);
      const long = `login:account:${'a'.repeat(10_000)}`;
      for (const key of ['a', 'b', long, `${long}b`])
        expect((await limiter.consume(key)).allowed).toBe(true);
      expect((await limiter.consume(long)).allowed).toBe(false);
      await limiter.reset('a');
      expect((await limiter.consume('a')).allowed).toBe(true);
      expect((await limiter.consume('b')).allowed).toBe(false);
    });

    it('refund takes back an allowed charge; refunding a refusal changes nothing', async () => {
      const clock = manualClock();
      const limiter = make({ limit: 2, windowMs: MINUTE }, clock);
      const first = await limiter.consume('k');
      await limiter.consume('k');
      const refused = await limiter.consume('k');
      await limiter.refund(refused);
      expect((await limiter.consume('k')).allowed).toBe(false);
      await limiter.refund(first);
      await limiter.refund(first); // a second refund of the same charge is a no-op
      expect(await limiter.consume('k')).toMatchObject({ allowed: true, remaining: 0 });
      expect((await limiter.consume('k')).allowed).toBe(false);
    });

    it('per-IP and per-account limits together: a refusal by one charges neither', async () => {
      const clock = manualClock();
      const perIp = make({ limit: 3, windowMs: MINUTE }, clock);
      const perAccount = make({ limit: 2, windowMs: 15 * MINUTE }, clock);
      const login = (ip: string, account: string) =>
        consumeAll([
          { limiter: perIp, key: `login:ip:${ip}` },
          { limiter: perAccount, key: `login:account:${account}` },
        ]);

      expect(await login('203.0.113.9', 'alice')).toMatchObject({
        allowed: true,
        key: 'login:account:alice', // the binding check: fewest units left
        remaining: 1,
      });
      await login('203.0.113.9', 'alice');
      const refused = await login('203.0.113.9', 'alice');
      expect(refused).toMatchObject({
        allowed: false,
        key: 'login:account:alice',
        limit: 2,
        retryAfterMs: 15 * MINUTE,
      });
      expect(refused.results.map((result) => result.allowed)).toEqual([true, false]);
      // The refused attempt did not use the IP's third unit.
      expect(await login('203.0.113.9', 'bob')).toMatchObject({
        allowed: true,
        key: 'login:ip:203.0.113.9',
        remaining: 0,
      });
      // Refused by the IP limit: bob's account is not charged either.
      expect(await login('203.0.113.9', 'bob')).toMatchObject({
        allowed: false,
        key: 'login:ip:203.0.113.9',
      });
      expect(await login('198.51.100.7', 'bob')).toMatchObject({
        allowed: true,
        key: 'login:account:bob',
        remaining: 0,
      });
    });
  });
}

/**
 * What limiters shared by several processes add: limiters of one name count
 * together across every RateLimiters opened on the backend; other names count apart.
 */
export function describeSharedRateLimiters(name: string, open: RateLimitersFactory): void {
  describe(`${name} share their counts between instances`, () => {
    const opened: RateLimiters[] = [];
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((limiters) => limiters.close()));
    });
    async function instance(): Promise<RateLimiters> {
      const limiters = await open();
      opened.push(limiters);
      return limiters;
    }
    const freshName = freshNames();

    it('two instances share the count of a limiter of one name, and another name counts apart', async () => {
      const [a, b] = [await instance(), await instance()];
      const clock = manualClock();
      const shared = freshName();
      const policy = { limit: 3, windowMs: MINUTE, clock: clock.now };
      const [onA, onB] = [a.create(shared, policy), b.create(shared, policy)];
      expect((await onA.consume('login:ip:203.0.113.9')).remaining).toBe(2);
      expect((await onB.consume('login:ip:203.0.113.9')).remaining).toBe(1);
      expect((await onA.consume('login:ip:203.0.113.9')).remaining).toBe(0);
      expect((await onB.consume('login:ip:203.0.113.9')).allowed).toBe(false);
      const other = b.create(freshName(), policy);
      expect((await other.consume('login:ip:203.0.113.9')).remaining).toBe(2);
    });

    it('200 concurrent consumes through two instances against a limit of 50 allow exactly 50', async () => {
      const shared = freshName();
      const [a, b] = [
        (await instance()).create(shared, { limit: 50, windowMs: MINUTE }),
        (await instance()).create(shared, { limit: 50, windowMs: MINUTE }),
      ];
      const results = await Promise.all(
        Array.from({ length: 200 }, (_, i) => (i % 2 ? a : b).consume('login:account:alice')),
      );
      expect(results.filter((result) => result.allowed)).toHaveLength(50);
      expect(results.filter((result) => !result.allowed)).toHaveLength(150);
    });
  });
}
