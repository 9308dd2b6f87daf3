export type { ArchiveSink, SessionStore } from '../core/index.js';
export { type GzipJsonlArchiveOptions, gzipJsonlArchive } from './archive.js';
export {
  InstrumentedStore,
  type StoreObserver,
  type StoreOperation,
} from './instrumented.js';
export type { Lease, LeaseOutcome } from './lease.js';
export { MemoryStore, type MemoryStoreOptions } from './memory.js';
export { type InvalidationBus, NearCache, type NearCacheOptions } from './near-cache.js';
export { openStore, openSweepLease, parseStoreUrl, redactUrl, type StoreUrl } from './open.js';
export { PostgresStore, type PostgresStoreOptions } from './postgres.js';
export { createPool, withConnection } from './postgres-connection.js';
export {
  PostgresInvalidationBus,
  type PostgresInvalidationBusOptions,
} from './postgres-invalidation-bus.js';
export { PostgresLease, type PostgresLeaseOptions } from './postgres-lease.js';
export { postgresNames } from './postgres-schema.js';
export {
  MemoryRecordStore,
  openRecordStore,
  PostgresRecordStore,
  type PostgresRecordStoreOptions,
  type PutOptions,
  type RecordStore,
  type RecordValue,
  RedisRecordStore,
  type RedisRecordStoreOptions,
  SqliteRecordStore,
  type SqliteRecordStoreOptions,
  type StoredRecord,
} from './records/index.js';
export { connectRedisCluster, RedisStore, type RedisStoreOptions } from './redis/index.js';
export { connectOrFail, redisCommand } from './redis-connect.js';
export {
  RedisInvalidationBus,
  type RedisInvalidationBusOptions,
} from './redis-invalidation-bus.js';
export { RedisLease, type RedisLeaseOptions } from './redis-lease.js';
export { SqliteStore, type SqliteStoreOptions } from './sqlite.js';
export { TieredStore, type TieredStoreOptions } from './tiered.js';
