export { sqliteBackend } from './backend.js';
export { SqliteOutbox } from './outbox.js';
export { SqliteRecordStore, type SqliteRecordStoreOptions } from './record-store.js';
export { SqliteStore, type SqliteStoreOptions } from './session-store.js';
