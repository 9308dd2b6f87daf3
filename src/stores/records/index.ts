export type { PutOptions, RecordStore, RecordValue, StoredRecord } from './contract.js';
export { MemoryRecordStore } from './memory.js';
