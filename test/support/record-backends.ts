import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool } from 'pg';
import { afterAll } from 'vitest';
import {
  PostgresRecordStore,
  RedisRecordStore,
  SqliteRecordStore,
} from '../../src/stores/index.js';
import { dropKeys, REDIS_URL } from '../stores/fixtures/redis.js';

export const POSTGRES_URL =
  process.env.CLAWSESSION_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/**
 * Where state that instances share can live, fresh for one test file and
 * removed after it: a Redis key prefix (with a Redis record store under it,
 * opened on first use), a SQLite record store and a PostgreSQL record store
 * (in a schema of its own, opened on first use).
 */
export function sharedBackends(tag: string) {
  const run = randomBytes(4).toString('hex');
  const redisPrefix = `cs:test:${tag}:${run}:`;
  const dir = mkdtempSync(join(tmpdir(), `clawsession-${tag}-`));
  const schema = `clawsession_${tag}_${run}`;
  const sqliteRecords = new SqliteRecordStore({ filename: join(dir, 'records.db') });
  let postgresRecords: Promise<PostgresRecordStore> | undefined;
  let redisRecords: Promise<RedisRecordStore> | undefined;
  afterAll(async () => {
    await (await redisRecords)?.close();
    await dropKeys(REDIS_URL, redisPrefix);
    await sqliteRecords.close();
    rmSync(dir, { recursive: true, force: true });
    await (await postgresRecords)?.close();
    const admin = new Pool({ connectionString: POSTGRES_URL });
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await admin.end();
  });
  return {
    redisUrl: REDIS_URL,
    redisPrefix,
    redisRecords: () =>
      (redisRecords ??= RedisRecordStore.connect({ url: REDIS_URL, prefix: `${redisPrefix}rec:` })),
    sqliteRecords,
    postgresRecords: () =>
      (postgresRecords ??= PostgresRecordStore.connect({ connectionString: POSTGRES_URL, schema })),
  };
}
