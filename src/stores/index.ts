export type { ArchiveSink, SessionStore } from '../core/index.js';
export { MemoryStore, type MemoryStoreOptions } from './memory.js';
export { openStore } from './open.js';
export { SqliteStore, type SqliteStoreOptions } from './sqlite.js';
