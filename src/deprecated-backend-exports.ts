/**
 * The backends' names that the package root exported before each backend got
 * an entry point of its own (`clawsession/sqlite`, `/redis`, `/postgres`),
 * kept at the root for one minor version. Backends load their drivers only
 * when they open, so these exports load none.
 */
export {
  /** @deprecated Import from 'clawsession/postgres'; removed in 0.2. */
  createPool,
  /** @deprecated Import from 'clawsession/postgres'; removed in 0.2. */
  PostgresInvalidationBus,
  /** @deprecated Import from 'clawsession/postgres'; removed in 0.2. */
  type PostgresInvalidationBusOptions,
  /** @deprecated Import from 'clawsession/postgres'; removed in 0.2. */
  PostgresLease,
  /** @deprecated Import from 'clawsession/postgres'; removed in 0.2. */
  type PostgresLeaseOptions,
  /** @deprecated Import from 'clawsession/postgres'; removed in 0.2. */
  PostgresRateLimiter,
  /** @deprecated Import from 'clawsession/postgres'; removed in 0.2. */
  type PostgresRateLimiterConnectOptions,
  /** @deprecated Import from 'clawsession/postgres'; removed in 0.2. */
  type PostgresRateLimiterOptions,
  /** @deprecated Import from 'clawsession/postgres'; removed in 0.2. */
  type PostgresRateLimitTableOptions,
  /** @deprecated Import from 'clawsession/postgres'; removed in 0.2. */
  PostgresRecordStore,
  /** @deprecated Import from 'clawsession/postgres'; removed in 0.2. */
  type PostgresRecordStoreOptions,
  /** @deprecated Import from 'clawsession/postgres'; removed in 0.2. */
  PostgresStore,
  /** @deprecated Import from 'clawsession/postgres'; removed in 0.2. */
  type PostgresStoreOptions,
  /** @deprecated Import from 'clawsession/postgres'; removed in 0.2. */
  postgresBackend,
  /** @deprecated Import from 'clawsession/postgres'; removed in 0.2. */
  postgresNames,
  /** @deprecated Import from 'clawsession/postgres'; removed in 0.2. */
  withConnection,
} from './stores/postgres/index.js';

export {
  /** @deprecated Import from 'clawsession/redis'; removed in 0.2. */
  connectOrFail,
  /** @deprecated Import from 'clawsession/redis'; removed in 0.2. */
  connectRedisCluster,
  /** @deprecated Import from 'clawsession/redis'; removed in 0.2. */
  RedisInvalidationBus,
  /** @deprecated Import from 'clawsession/redis'; removed in 0.2. */
  type RedisInvalidationBusOptions,
  /** @deprecated Import from 'clawsession/redis'; removed in 0.2. */
  RedisLease,
  /** @deprecated Import from 'clawsession/redis'; removed in 0.2. */
  type RedisLeaseOptions,
  /** @deprecated Import from 'clawsession/redis'; removed in 0.2. */
  type RedisRateLimitClient,
  /** @deprecated Import from 'clawsession/redis'; removed in 0.2. */
  RedisRateLimiter,
  /** @deprecated Import from 'clawsession/redis'; removed in 0.2. */
  type RedisRateLimiterConnectOptions,
  /** @deprecated Import from 'clawsession/redis'; removed in 0.2. */
  type RedisRateLimiterOptions,
  /** @deprecated Import from 'clawsession/redis'; removed in 0.2. */
  RedisRecordStore,
  /** @deprecated Import from 'clawsession/redis'; removed in 0.2. */
  type RedisRecordStoreOptions,
  /** @deprecated Import from 'clawsession/redis'; removed in 0.2. */
  RedisStore,
  /** @deprecated Import from 'clawsession/redis'; removed in 0.2. */
  type RedisStoreOptions,
  /** @deprecated Import from 'clawsession/redis'; removed in 0.2. */
  redisBackend,
  /** @deprecated Import from 'clawsession/redis'; removed in 0.2. */
  redisCommand,
} from './stores/redis/index.js';
export {
  /** @deprecated Import from 'clawsession/sqlite'; removed in 0.2. */
  SqliteRecordStore,
  /** @deprecated Import from 'clawsession/sqlite'; removed in 0.2. */
  type SqliteRecordStoreOptions,
  /** @deprecated Import from 'clawsession/sqlite'; removed in 0.2. */
  SqliteStore,
  /** @deprecated Import from 'clawsession/sqlite'; removed in 0.2. */
  type SqliteStoreOptions,
  /** @deprecated Import from 'clawsession/sqlite'; removed in 0.2. */
  sqliteBackend,
} from './stores/sqlite/index.js';
