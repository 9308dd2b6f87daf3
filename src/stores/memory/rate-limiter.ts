import { assertCost, assertPolicy, storageKey } from '../../core/backend-kit.js';
import {
  ConfigError,
  type RateLimiter,
  type RateLimitPolicy,
  type RateLimitResult,
} from '../../core/index.js';

export interface MemoryRateLimiterOptions extends RateLimitPolicy {
  /** Most keys tracked; past it the least recently used key is forgotten. Default 10,000. */
  maxKeys?: number;
  /** Epoch milliseconds. Default `Date.now`. */
  clock?: () => number;
}

/** `cost` units charged at `at`. */
interface Charge {
  at: number;
  cost: number;
}

/**
 * A sliding-window log in this process: each key keeps the charges of its
 * last window, so counts and retry times are exact. Memory is bounded: at
 * most `maxKeys` keys (least recently used forgotten first) of at most
 * `limit` charges each. Forgetting a live key forgets its count, so size
 * `maxKeys` above the keys one window sees; a per-IP limit in front bounds how
 * many keys one client can create. For several instances use RedisRateLimiter.
 */
export class MemoryRateLimiter implements RateLimiter {
  readonly limit: number;
  readonly windowMs: number;
  readonly #maxKeys: number;
  readonly #clock: () => number;
  /** Oldest charge first in each log; Map order is recency of use, least recent first. */
  readonly #logs = new Map<string, Charge[]>();
  readonly #charges = new WeakMap<RateLimitResult, { key: string; charge: Charge }>();

  constructor(options: MemoryRateLimiterOptions) {
    assertPolicy(options);
    this.limit = options.limit;
    this.windowMs = options.windowMs;
    this.#maxKeys = options.maxKeys ?? 10_000;
    if (!Number.isSafeInteger(this.#maxKeys) || this.#maxKeys < 1)
      throw new ConfigError(`maxKeys must be a positive integer, got ${this.#maxKeys}`);
    this.#clock = options.clock ?? Date.now;
  }

  /** Keys tracked now, including ones whose charges have all expired but that were not yet evicted. */
  get size(): number {
    return this.#logs.size;
  }

  async consume(key: string, cost = 1): Promise<RateLimitResult> {
    assertCost(cost, this.limit);
    const id = storageKey(key);
    const now = this.#clock();
    const log = this.#logs.get(id) ?? [];
    this.#remember(id, log);
    while (log[0] && log[0].at <= now - this.windowMs) log.shift();
    const used = log.reduce((sum, charge) => sum + charge.cost, 0);
    if (used + cost > this.limit) {
      return {
        key,
        allowed: false,
        limit: this.limit,
        remaining: this.limit - used,
        retryAfterMs: this.#freedAt(log, used + cost - this.limit) - now,
        resetMs: this.#resetAt(log, now) - now,
      };
    }
    const charge = { at: now, cost };
    let index = log.length;
    while (index > 0 && (log[index - 1] as Charge).at > now) index--; // a clock that stepped back
    log.splice(index, 0, charge);
    const result = {
      key,
      allowed: true,
      limit: this.limit,
      remaining: this.limit - used - cost,
      retryAfterMs: 0,
      resetMs: this.#resetAt(log, now) - now,
    };
    this.#charges.set(result, { key: id, charge });
    return result;
  }

  async refund(result: RateLimitResult): Promise<void> {
    const charged = this.#charges.get(result);
    if (!charged) return;
    this.#charges.delete(result);
    const log = this.#logs.get(charged.key);
    const index = log?.indexOf(charged.charge) ?? -1;
    if (!log || index < 0) return;
    log.splice(index, 1);
    if (log.length === 0) this.#logs.delete(charged.key);
  }

  async reset(key: string): Promise<void> {
    this.#logs.delete(storageKey(key));
  }

  /** Marks `id` most recently used, evicting the least recently used key past the bound. */
  #remember(id: string, log: Charge[]): void {
    this.#logs.delete(id);
    this.#logs.set(id, log);
    if (this.#logs.size > this.#maxKeys) {
      const oldest = this.#logs.keys().next();
      if (!oldest.done) this.#logs.delete(oldest.value);
    }
  }

  /** When the oldest `units` charged units have all left the window (`units` never exceeds what the log holds). */
  #freedAt(log: readonly Charge[], units: number): number {
    let freed = 0;
    for (const charge of log) {
      freed += charge.cost;
      if (freed >= units) return charge.at + this.windowMs;
    }
    throw new Error('unreachable: fewer units charged than must be freed');
  }

  #resetAt(log: readonly Charge[], now: number): number {
    const newest = log.at(-1);
    return newest ? newest.at + this.windowMs : now;
  }
}
