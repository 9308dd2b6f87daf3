import { randomBytes } from 'node:crypto';
import { Pool } from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ConfigError, StoreUnavailableError } from '../../src/core/index.js';
import { PostgresRecordStore, type PostgresRecordStoreOptions } from '../../src/stores/index.js';
import { freePort } from './fixtures/redis.js';

// A real server, always: without one these tests fail, they are never skipped.
const url = process.env.CLAWSESSION_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
// Every table of this run lives in one schema of its own, dropped at the end.
const schema = `clawsession_records_${randomBytes(4).toString('hex')}`;
const admin = new Pool({ connectionString: url, max: 4, connectionTimeoutMillis: 5000 });
admin.on('error', () => undefined);
afterAll(async () => {
  await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await admin.end();
});

let counter = 0;
const freshTable = () => `records_${++counter}`;
const T = Date.UTC(2026, 0, 1);

function open(options: Partial<PostgresRecordStoreOptions> = {}): Promise<PostgresRecordStore> {
  return PostgresRecordStore.connect({
    ...(options.pool ? {} : { connectionString: url }),
    schema,
    table: freshTable(),
    ...options,
  });
}

describe('PostgresRecordStore', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    await Promise.all(cleanups.splice(0).map((cleanup) => cleanup()));
  });

  it('creates its schema and table once when many instances open them together, and keeps records across reopen', async () => {
    const table = freshTable();
    const first = await Promise.all(Array.from({ length: 6 }, () => open({ table, poolSize: 1 })));
    expect(await first[0]?.put('users', 'alice', { kept: true }, { now: T })).toBe(1);
    await Promise.all(first.map((store) => store.close()));

    const reopened = await open({ table });
    cleanups.push(() => reopened.close());
    expect(await reopened.get('users', 'alice', T)).toMatchObject({ value: { kept: true } });
    const { rows } = await admin.query(
      `SELECT indexname FROM pg_indexes WHERE schemaname = $1 AND tablename = $2`,
      [schema, table],
    );
    expect(rows.map((row) => row.indexname)).toContain(`${table}_by_expiry`);
  });

  it('keeps the value as the JSON text it was given', async () => {
    const table = freshTable();
    const store = await open({ table });
    cleanups.push(() => store.close());
    await store.put('c', 'k', { z: 1, a: [1.5, 'é'] }, { now: T });
    const { rows } = await admin.query(`SELECT value FROM ${schema}.${table}`);
    expect(rows).toEqual([{ value: '{"z":1,"a":[1.5,"é"]}' }]);
  });

  it('refuses a missing connection and names that are not plain identifiers', async () => {
    await expect(PostgresRecordStore.connect({ schema })).rejects.toBeInstanceOf(ConfigError);
    await expect(open({ table: 'records; DROP TABLE x' })).rejects.toBeInstanceOf(ConfigError);
    await expect(open({ schema: 'a"b' })).rejects.toBeInstanceOf(ConfigError);
    await expect(open({ poolSize: 0 })).rejects.toBeInstanceOf(ConfigError);
  });

  it('a server that refuses connections fails fast with StoreUnavailableError', async () => {
    const port = await freePort();
    const started = performance.now();
    await expect(
      PostgresRecordStore.connect({
        connectionString: `postgres://postgres@127.0.0.1:${port}/test`,
      }),
    ).rejects.toBeInstanceOf(StoreUnavailableError);
    expect(performance.now() - started).toBeLessThan(2_000);
  });

  it('a put stuck behind a held row lock gives up at the statement timeout and changes nothing', async () => {
    const table = freshTable();
    const store = await open({ table, statementTimeout: 200 });
    cleanups.push(() => store.close());
    await store.put('c', 'k', 'before', { now: T });
    const blocker = await admin.connect();
    try {
      await blocker.query('BEGIN');
      await blocker.query(`SELECT 1 FROM ${schema}.${table} WHERE key = 'k' FOR UPDATE`);
      await expect(store.put('c', 'k', 'after', { now: T, ifVersion: 1 })).rejects.toBeInstanceOf(
        StoreUnavailableError,
      );
    } finally {
      await blocker.query('ROLLBACK');
      blocker.release();
    }
    expect(await store.get('c', 'k', T)).toMatchObject({ value: 'before', version: 1 });
  });

  it('close ends the pool the store created but leaves a pool it was given open', async () => {
    const given = new Pool({ connectionString: url, max: 2 });
    cleanups.push(() => given.end());
    await (await open({ pool: given })).close();
    expect((await given.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);

    const own = await open();
    await own.close();
    await own.close();
    await expect(own.get('c', 'k', T)).rejects.toBeInstanceOf(StoreUnavailableError);
  });
});
