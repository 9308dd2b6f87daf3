export { connectRedisCluster } from './connection.js';
export { RedisStore, type RedisStoreOptions } from './store.js';
