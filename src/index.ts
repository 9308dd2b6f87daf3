export * from './core/index.js';
export {
  MemoryStore,
  type MemoryStoreOptions,
  openStore,
  SqliteStore,
  type SqliteStoreOptions,
} from './stores/index.js';
