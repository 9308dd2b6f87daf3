export type { ArchiveSink, SessionStore } from '../core/index.js';
export { type GzipJsonlArchiveOptions, gzipJsonlArchive } from './archive.js';
export {
  InstrumentedStore,
  isStoreFault,
  type StoreObserver,
  type StoreOperation,
} from './instrumented.js';
export * from './memory/index.js';
export { type CopyOptions, type CopyProgress, copySessions } from './migrate.js';
export { NearCache, type NearCacheOptions } from './near-cache.js';
export { openBackend, openRecordStore, openStore, openSweepLease } from './open.js';
export * from './postgres/index.js';
export * from './redis/index.js';
export * from './sqlite/index.js';
export { TieredStore, type TieredStoreOptions } from './tiered.js';
export { tieredBackend } from './tiered-backend.js';
