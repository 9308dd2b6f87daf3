import { LRUCache } from 'lru-cache';
import type { RateLimiter, RateLimitResult } from '../core/index.js';

/** Addresses remembered as over their limit, per process; the oldest are forgotten past this. */
const MAX_BLOCKED = 10_000;

/**
 * Failures charged to a key in a shared limiter, and keys whose failures are
 * used up refused without asking it again. Only failures cost a limiter
 * call, so a service calling with a good credential never waits on the
 * limiter. Once a key's failures are used up, this process refuses it until
 * its charges leave the window (the whole window, a little longer than a
 * sliding window would: an address that used up its failures can wait);
 * other gateways learn it at their own next failure (a burst may overshoot
 * by what is in flight at once, which the credentials' strength makes
 * harmless: this bounds cost, not guessing).
 */
export class FailureThrottle {
  readonly #limiter: RateLimiter;
  readonly #clock: () => number;
  readonly #blocked = new LRUCache<string, { limit: number; until: number }>({ max: MAX_BLOCKED });

  constructor(limiter: RateLimiter, clock: () => number = Date.now) {
    this.#limiter = limiter;
    this.#clock = clock;
  }

  /** The refusal in force for `key`, with its times from now, or null. */
  refusal(key: string): RateLimitResult | null {
    const entry = this.#blocked.get(key);
    if (entry === undefined) return null;
    const left = entry.until - this.#clock();
    if (left <= 0) {
      this.#blocked.delete(key);
      return null;
    }
    return {
      key,
      allowed: false,
      limit: entry.limit,
      remaining: 0,
      retryAfterMs: left,
      resetMs: left,
    };
  }

  /** Charges one failure to `key`; the result says whether it was still within the limit. */
  async fail(key: string): Promise<RateLimitResult> {
    const result = await this.#limiter.consume(key);
    const wait = result.allowed
      ? result.remaining === 0
        ? result.resetMs
        : 0
      : result.retryAfterMs;
    if (wait > 0) this.#blocked.set(key, { limit: result.limit, until: this.#clock() + wait });
    return result;
  }
}
