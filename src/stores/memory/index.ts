export { memoryBackend } from './backend.js';
export { MemoryOutbox, type MemoryOutboxOptions } from './outbox.js';
export { MemoryRateLimiter, type MemoryRateLimiterOptions } from './rate-limiter.js';
export { MemoryRecordStore } from './record-store.js';
export { MemoryStore, type MemoryStoreOptions } from './session-store.js';
