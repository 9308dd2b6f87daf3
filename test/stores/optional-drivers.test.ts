import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

/*
 * The built package (`npm test` builds first) installed in a project of its
 * own, beside every package this repository installed except the drivers:
 * what a user who wants only MemoryStore gets after `npm install clawsession`.
 */
const DRIVERS = /^(redis|@redis|pg|pg-.+|better-sqlite3|@nats-io|amqplib)$/;
const project = mkdtempSync(join(tmpdir(), 'clawsession-no-drivers-'));
afterAll(() => rmSync(project, { recursive: true, force: true }));

const modules = join(project, 'node_modules');
mkdirSync(join(modules, 'clawsession'), { recursive: true });
cpSync('package.json', join(modules, 'clawsession', 'package.json'));
cpSync('dist', join(modules, 'clawsession', 'dist'), { recursive: true });
for (const entry of readdirSync('node_modules')) {
  if (entry.startsWith('.') || entry === 'clawsession' || DRIVERS.test(entry)) continue;
  symlinkSync(resolve('node_modules', entry), join(modules, entry));
}

/** Runs an ES module in the project and returns what it printed as JSON. */
async function runInProject(source: string): Promise<Record<string, unknown>> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--input-type=module', '-e', source],
    { cwd: project },
  );
  return JSON.parse(stdout);
}

/** The error a promise rejects with, as plain fields the parent process can read. */
const DESCRIBE_FAILURE = `
const { MissingDriverError } = await import('clawsession');
async function failure(promise) {
  try {
    await promise;
    return 'no error';
  } catch (error) {
    return {
      missingDriver: error instanceof MissingDriverError,
      code: error.code,
      packageName: error.packageName,
      message: error.message,
    };
  }
}
`;

function missing(packageName: string) {
  return {
    missingDriver: true,
    code: 'ERR_DRIVER_MISSING',
    packageName,
    message: expect.stringContaining(`npm install ${packageName}`),
  };
}

describe('a project without the optional drivers', () => {
  it('imports the package root and uses MemoryStore', async () => {
    const result = await runInProject(`
      const { MemoryStore, openStore } = await import('clawsession');
      const store = new MemoryStore();
      const memory = await openStore('memory:');
      await Promise.all([store.close(), memory.close()]);
      console.log(JSON.stringify({ ok: true }));
    `);
    expect(result).toEqual({ ok: true });
  });

  it('fails to open each store URL with MissingDriverError naming the package to install', async () => {
    const result = await runInProject(`${DESCRIBE_FAILURE}
      const { openRecordStore, openStore } = await import('clawsession');
      console.log(JSON.stringify({
        redis: await failure(openStore('redis://127.0.0.1:6379')),
        cluster: await failure(openStore('redis+cluster://127.0.0.1:7000')),
        postgres: await failure(openStore('postgres://postgres@127.0.0.1:5432/test')),
        sqlite: await failure(openStore('sqlite:./data/sessions.db')),
        sqliteRecords: await failure(openRecordStore('sqlite::memory:')),
      }));
    `);
    expect(result).toEqual({
      redis: missing('redis'),
      cluster: missing('redis'),
      postgres: missing('pg'),
      sqlite: missing('better-sqlite3'),
      sqliteRecords: missing('better-sqlite3'),
    });
  });

  it('imports each backend entry point, and fails only when a store opens', async () => {
    const result = await runInProject(`${DESCRIBE_FAILURE}
      const { RedisStore, RedisRateLimiter } = await import('clawsession/redis');
      const { PostgresStore, createPool } = await import('clawsession/postgres');
      const { SqliteStore } = await import('clawsession/sqlite');
      const { NatsSink, RabbitMqSink, RedisStreamsSink, toCloudEvent } = await import('clawsession/events');
      const { serviceEvent } = await import('clawsession');
      const events = [toCloudEvent(serviceEvent('login.failed', { userId: null, instance: 'i', time: 0, data: {} }))];
      console.log(JSON.stringify({
        nats: await failure(new NatsSink().publish(events)),
        rabbitmq: await failure(new RabbitMqSink().publish(events)),
        redisStreams: await failure(new RedisStreamsSink({ url: 'redis://127.0.0.1:6379' }).publish(events)),
        redis: await failure(RedisStore.connect({ url: 'redis://127.0.0.1:6379' })),
        redisLimiter: await failure(RedisRateLimiter.connect({ url: 'redis://127.0.0.1:6379', limit: 1, windowMs: 1000 })),
        postgres: await failure(PostgresStore.connect({ connectionString: 'postgres://postgres@127.0.0.1:5432/test' })),
        pool: await failure((async () => createPool({}, { idleInTransaction: false }))()),
        sqlite: await failure((async () => new SqliteStore({ filename: ':memory:' }))()),
      }));
    `);
    expect(result).toEqual({
      nats: missing('@nats-io/transport-node'),
      rabbitmq: missing('amqplib'),
      redisStreams: missing('redis'),
      redis: missing('redis'),
      redisLimiter: missing('redis'),
      postgres: missing('pg'),
      pool: missing('pg'),
      sqlite: missing('better-sqlite3'),
    });
  });

  it('`clawsession serve` on the default SQLite store prints one line naming better-sqlite3 and exits 2', async () => {
    const bin = join(modules, 'clawsession', 'dist', 'cli', 'main.js');
    const failed = await promisify(execFile)(process.execPath, [bin, 'serve'], {
      cwd: project,
      env: { PATH: process.env.PATH, CLAWSESSION_PORT: '0' },
      // A server that did start would run until killed.
      timeout: 10_000,
    }).then(
      () => null,
      (error: { code: number; stdout: string; stderr: string }) => error,
    );
    expect(failed).toMatchObject({ code: 2, stdout: '' });
    expect(failed?.stderr).toBe(
      'clawsession: the sqlite backend needs the package "better-sqlite3": npm install better-sqlite3\n',
    );
  });
});

describe('a project with the drivers', () => {
  it('loads none of them when it imports the package root, and each when its store opens', async () => {
    const result = await runInProject(`
      import { createRequire } from 'node:module';
      // The drivers are CommonJS: however they are loaded, they land in require.cache.
      const loaded = () => [...new Set(Object.keys(createRequire(import.meta.url).cache)
        .map((path) => /\\/node_modules\\/(redis|pg|better-sqlite3)\\//.exec(path)?.[1])
        .filter(Boolean))].sort();
      const { openStore } = await import(${JSON.stringify(resolve('dist/index.js'))});
      const atImport = loaded();
      const sqlite = await openStore('sqlite::memory:');
      await sqlite.close();
      const afterSqlite = loaded();
      console.log(JSON.stringify({ atImport, afterSqlite }));
    `);
    expect(result).toEqual({ atImport: [], afterSqlite: ['better-sqlite3'] });
  });
});
