export { postgresBackend } from './backend.js';
export { createPool, withConnection } from './connection.js';
export {
  PostgresInvalidationBus,
  type PostgresInvalidationBusOptions,
} from './invalidation-bus.js';
export { PostgresLease, type PostgresLeaseOptions } from './lease.js';
export { PostgresOutbox } from './outbox.js';
export {
  PostgresRateLimiter,
  type PostgresRateLimiterConnectOptions,
  type PostgresRateLimiterOptions,
  type PostgresRateLimitTableOptions,
} from './rate-limiter.js';
export { PostgresRecordStore, type PostgresRecordStoreOptions } from './record-store.js';
export { postgresNames } from './schema.js';
export { PostgresStore, type PostgresStoreOptions } from './session-store.js';
