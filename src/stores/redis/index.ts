export { redisBackend } from './backend.js';
export {
  openRedisCommandClient,
  type RedisCommandClient,
  type RedisCommandClientOptions,
} from './command-client.js';
export { connectOrFail, connectRedisCluster, redisCommand } from './connection.js';
export { RedisInvalidationBus, type RedisInvalidationBusOptions } from './invalidation-bus.js';
export { RedisLease, type RedisLeaseOptions } from './lease.js';
export { RedisOutbox, type RedisOutboxOptions } from './outbox.js';
export {
  type RedisRateLimitClient,
  RedisRateLimiter,
  type RedisRateLimiterConnectOptions,
  type RedisRateLimiterOptions,
} from './rate-limiter.js';
export { RedisRecordStore, type RedisRecordStoreOptions } from './record-store.js';
export { RedisStore, type RedisStoreOptions } from './session-store.js';
