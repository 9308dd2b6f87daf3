export type { ArchiveSink, SessionStore } from '../core/index.js';
export { type GzipJsonlArchiveOptions, gzipJsonlArchive } from './archive.js';
export { MemoryStore, type MemoryStoreOptions } from './memory.js';
export { type InvalidationBus, NearCache, type NearCacheOptions } from './near-cache.js';
export { openStore } from './open.js';
export {
  RedisInvalidationBus,
  type RedisInvalidationBusOptions,
} from './redis-invalidation-bus.js';
export { SqliteStore, type SqliteStoreOptions } from './sqlite.js';
export { TieredStore, type TieredStoreOptions } from './tiered.js';
