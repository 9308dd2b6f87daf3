import { importDriver } from '../../core/backend-kit.js';

export type RedisDriver = typeof import('redis');

let driver: RedisDriver | undefined;

/** node-redis, imported when the first Redis connection opens and kept for every later one. */
export async function loadRedis(): Promise<RedisDriver> {
  driver ??= await importDriver('redis', 'redis', () => import('redis'));
  return driver;
}
