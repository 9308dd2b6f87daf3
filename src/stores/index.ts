export type { ArchiveSink, SessionStore } from '../core/index.js';
export { appendGzipJsonl, type GzipJsonlArchiveOptions, gzipJsonlArchive } from './archive.js';
export {
  copyRecords,
  countRecords,
  type RecordCopyOptions,
  type RecordCopyProgress,
  type RecordCursor,
} from './copy-records.js';
export { type DrainOptions, drainRecords, drainSessions } from './drain.js';
export {
  InstrumentedStore,
  isStoreFault,
  type StoreObserver,
  type StoreOperation,
} from './instrumented.js';
export * from './memory/index.js';
export { type CopyOptions, type CopyProgress, copySessions } from './migrate.js';
export { MigratingStore } from './migrating.js';
export { migratingBackend } from './migrating-backend.js';
export { MigratingRecordStore } from './migrating-records.js';
export { NearCache, type NearCacheOptions } from './near-cache.js';
export { openBackend, openRecordStore, openStore, openSweepLease } from './open.js';
export * from './postgres/index.js';
export * from './redis/index.js';
export * from './sqlite/index.js';
export { TieredStore, type TieredStoreOptions } from './tiered.js';
export { tieredBackend } from './tiered-backend.js';
