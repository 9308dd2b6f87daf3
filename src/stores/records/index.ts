export type { PutOptions, RecordStore, RecordValue, StoredRecord } from './contract.js';
export { MemoryRecordStore } from './memory.js';
export { openRecordStore } from './open.js';
export { PostgresRecordStore, type PostgresRecordStoreOptions } from './postgres.js';
export { RedisRecordStore, type RedisRecordStoreOptions } from './redis.js';
export { SqliteRecordStore, type SqliteRecordStoreOptions } from './sqlite.js';
