import { createHash } from 'node:crypto';
import { ClawsessionError, ConfigError, ValidationError } from './errors.js';

/** At most `limit` units in any window of `windowMs` milliseconds. */
export interface RateLimitPolicy {
  /** Units allowed per window; a positive integer. */
  limit: number;
  /** The window's length in ms; a positive integer. */
  windowMs: number;
}

/** The answer to one `consume`. Times are milliseconds from now. */
export interface RateLimitResult {
  /** The key as the caller gave it. */
  key: string;
  allowed: boolean;
  limit: number;
  /** Units still free in the window after this call (0 once used up). */
  remaining: number;
  /** 0 when allowed; otherwise how long until the same call would be allowed. */
  retryAfterMs: number;
  /** How long until the whole limit is free again (every charge in the window has left it). */
  resetMs: number;
}

/**
 * A sliding-window limit on units charged to arbitrary string keys (the caller
 * builds them, such as `login:ip:203.0.113.9`). Every implementation counts
 * exactly: at most `limit` units are ever allowed in any window of `windowMs`.
 */
export interface RateLimiter extends Readonly<RateLimitPolicy> {
  /** Charges `cost` units (default 1) to `key` if they fit in the window; a refused call charges nothing. */
  consume(key: string, cost?: number): Promise<RateLimitResult>;
  /**
   * Takes back the charge of an allowed `consume` of this limiter, for example
   * so that a successful login does not count. Anything else changes nothing.
   */
  refund(result: RateLimitResult): Promise<void>;
  /** Forgets every charge to `key`. */
  reset(key: string): Promise<void>;
}

export function assertPolicy(policy: RateLimitPolicy): void {
  for (const name of ['limit', 'windowMs'] as const) {
    const value = policy[name];
    if (!Number.isSafeInteger(value) || value < 1)
      throw new ConfigError(`rate limit ${name} must be a positive integer, got ${value}`);
  }
}

/** A cost above the limit could never be allowed, so it is a caller's mistake, not a refusal. */
export function assertCost(cost: number, limit: number): void {
  if (!Number.isSafeInteger(cost) || cost < 1 || cost > limit)
    throw new ValidationError(`rate limit cost must be an integer from 1 to ${limit}, got ${cost}`);
}

/** Keys past this length are stored by their digest. */
const MAX_KEY_LENGTH = 128;

/**
 * Keys often embed what a client sent (a user name), so a long one is stored
 * by its SHA-256: a client cannot make the limiter hold megabytes per key.
 */
export function storageKey(key: string): string {
  if (typeof key !== 'string' || key.length === 0)
    throw new ValidationError('a rate limit key must be a non-empty string');
  if (key.length <= MAX_KEY_LENGTH) return key;
  return `sha256:${createHash('sha256').update(key).digest('base64url')}`;
}

/** What a fail-open limiter answers while its backend is down: allowed, as if charged. */
export function failedOpen(key: string, limit: number, cost: number): RateLimitResult {
  return { key, allowed: true, limit, remaining: limit - cost, retryAfterMs: 0, resetMs: 0 };
}

/** A rate limit refused the request; `result` says when to retry (see `rateLimitedResponse`). */
export class RateLimitedError extends ClawsessionError {
  readonly result: RateLimitResult;

  constructor(result: RateLimitResult) {
    super('ERR_RATE_LIMITED', `too many requests; retry in ${retryAfterSeconds(result)} s`);
    this.result = result;
  }
}

/** Whole seconds, rounded up and at least 1, so a client never retries before it may. */
export function retryAfterSeconds(result: RateLimitResult): number {
  return Math.max(1, Math.ceil(result.retryAfterMs / 1000));
}
