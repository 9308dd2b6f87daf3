export { rateLimitAddress } from './address.js';
export { type CombinedRateLimitResult, consumeAll, type RateLimitCheck } from './consume-all.js';
export { RateLimitedError } from './errors.js';
export type { RateLimiter, RateLimitPolicy, RateLimitResult } from './limiter.js';
export { MemoryRateLimiter, type MemoryRateLimiterOptions } from './memory.js';
export {
  PostgresRateLimiter,
  type PostgresRateLimiterConnectOptions,
  type PostgresRateLimiterOptions,
  type PostgresRateLimitTableOptions,
} from './postgres.js';
export {
  type RedisRateLimitClient,
  RedisRateLimiter,
  type RedisRateLimiterConnectOptions,
  type RedisRateLimiterOptions,
} from './redis.js';
export { type RateLimitedResponse, rateLimitedResponse, rateLimitHeaders } from './response.js';
