import { ClawsessionError } from '../../core/index.js';
import type { RateLimitResult } from './limiter.js';

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
