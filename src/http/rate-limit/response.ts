import { RateLimitedError, type RateLimitResult, retryAfterSeconds } from '../../core/index.js';

export interface RateLimitedResponse {
  status: 429;
  headers: Record<string, string>;
  body: { error: { code: 'ERR_RATE_LIMITED'; message: string } };
}

/**
 * The RateLimit header fields of draft-ietf-httpapi-ratelimit-headers (-07):
 * the limit, the units left and the seconds (rounded up) until the whole limit
 * is free again. Useful on allowed responses too.
 */
export function rateLimitHeaders(result: RateLimitResult): Record<string, string> {
  return {
    'RateLimit-Limit': String(result.limit),
    'RateLimit-Remaining': String(Math.max(0, result.remaining)),
    'RateLimit-Reset': String(Math.ceil(result.resetMs / 1000)),
  };
}

/**
 * The 429 answer to a refused result, framework-neutral: set the status and
 * headers and send `body` as JSON. `Retry-After` is in whole seconds, rounded
 * up, so a client that honours it is allowed.
 */
export function rateLimitedResponse(result: RateLimitResult): RateLimitedResponse {
  const error = new RateLimitedError(result);
  return {
    status: 429,
    headers: {
      'Content-Type': 'application/json; charset=utf-8',
      'Retry-After': String(retryAfterSeconds(result)),
      ...rateLimitHeaders(result),
    },
    body: { error: { code: 'ERR_RATE_LIMITED', message: error.message } },
  };
}
