export { RedisStore, type RedisStoreOptions } from './store.js';
