export * from './core/index.js';
export * from './http/index.js';
export * from './keys/index.js';
// The stores that need no driver; SQLite, Redis and PostgreSQL each have an entry point of their own.
/*
 * The backends' names the root exported before each backend got an entry point
 * of its own (`clawsession/sqlite`, `/redis`, `/postgres`), kept here for one
 * minor version. Backends load their drivers only when they open, so these
 * exports load none.
 */
export {
  type CopyOptions,
  type CopyProgress,
  /** @deprecated Import from 'clawsession/redis'; removed in 0.2. */
  connectOrFail,
  /** @deprecated Import from 'clawsession/redis'; removed in 0.2. */
  connectRedisCluster,
  copySessions,
  /** @deprecated Import from 'clawsession/postgres'; removed in 0.2. */
  createPool,
  type GzipJsonlArchiveOptions,
  gzipJsonlArchive,
  InstrumentedStore,
  MemoryRateLimiter,
  type MemoryRateLimiterOptions,
  MemoryRecordStore,
  MemoryStore,
  type MemoryStoreOptions,
  memoryBackend,
  NearCache,
  type NearCacheOptions,
  openBackend,
  openRecordStore,
  openStore,
  openSweepLease,
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
  /** @deprecated Import from 'clawsession/sqlite'; removed in 0.2. */
  SqliteRecordStore,
  /** @deprecated Import from 'clawsession/sqlite'; removed in 0.2. */
  type SqliteRecordStoreOptions,
  /** @deprecated Import from 'clawsession/sqlite'; removed in 0.2. */
  SqliteStore,
  /** @deprecated Import from 'clawsession/sqlite'; removed in 0.2. */
  type SqliteStoreOptions,
  type StoreObserver,
  type StoreOperation,
  /** @deprecated Import from 'clawsession/sqlite'; removed in 0.2. */
  sqliteBackend,
  TieredStore,
  type TieredStoreOptions,
  tieredBackend,
  /** @deprecated Import from 'clawsession/postgres'; removed in 0.2. */
  withConnection,
} from './stores/index.js';
export * from './tokens/index.js';
