export * from './core/index.js';
// Deprecated: the backends' names that moved to their entry points.
export * from './deprecated-backend-exports.js';
export * from './http/index.js';
export * from './keys/index.js';
// The stores that need no driver; SQLite, Redis and PostgreSQL each have an entry point of their own.
export {
  type GzipJsonlArchiveOptions,
  gzipJsonlArchive,
  InstrumentedStore,
  NearCache,
  type NearCacheOptions,
  openBackend,
  openRecordStore,
  openStore,
  openSweepLease,
  type StoreObserver,
  type StoreOperation,
  TieredStore,
  type TieredStoreOptions,
  tieredBackend,
} from './stores/index.js';
export * from './stores/memory/index.js';
export * from './tokens/index.js';
