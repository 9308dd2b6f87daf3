import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { Pool } from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  ConfigError,
  type Session,
  SessionManager,
  StoreBusyError,
  StoreUnavailableError,
} from '../../src/core/index.js';
import { openBackend } from '../../src/stores/index.js';
import {
  PostgresStore,
  type PostgresStoreOptions,
} from '../../src/stores/postgres/session-store.js';

// A real server, always: without one these tests fail, they are never skipped.
const url = process.env.CLAWSESSION_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const schema = `clawsession_pool_${randomBytes(4).toString('hex')}`;
const admin = new Pool({ connectionString: url, max: 2, connectionTimeoutMillis: 5000 });
admin.on('error', () => undefined);
afterAll(async () => {
  await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await admin.end();
});

let counter = 0;
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((cleanup) => cleanup()));
});

async function opened(options: Partial<PostgresStoreOptions> = {}) {
  await admin.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
  const table = `sessions_${++counter}`;
  const store = await PostgresStore.connect({ connectionString: url, schema, table, ...options });
  cleanups.push(() => store.close());
  return { store, table, manager: new SessionManager({ store }) };
}

/**
 * Holds the row lock of `session` on a connection of its own until `release`,
 * so an update of it holds a connection of the store's pool meanwhile.
 */
async function lockRow(table: string, session: Session) {
  const blocker = await admin.connect();
  await blocker.query('BEGIN');
  await blocker.query(`SELECT 1 FROM ${schema}.${table} WHERE id = $1 FOR UPDATE`, [session.id]);
  let released = false;
  const release = async () => {
    if (released) return;
    released = true;
    await blocker.query('ROLLBACK');
    blocker.release();
  };
  cleanups.push(release);
  return release;
}

/** Resolves once `condition` holds, checking each turn of the event loop. */
async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setImmediate(resolve));
}

describe('the PostgreSQL pool under load', () => {
  it('a burst of 1,000 concurrent patches on a pool of 10 all land, though it lasts far longer than the connect timeout', async () => {
    const { table, manager } = await opened();
    const created = [];
    for (let i = 0; i < 1000; i += 100) {
      const batch = Array.from({ length: 100 }, () => manager.create({ userId: 'u', data: {} }));
      created.push(...(await Promise.all(batch)));
    }
    // Before the queue, the connect timeout also bounded the wait for a busy pool: this burst failed.
    const store = await PostgresStore.connect({
      connectionString: url,
      schema,
      table,
      poolSize: 10,
      connectTimeout: 250,
    });
    cleanups.push(() => store.close());
    const burst = new SessionManager({ store });
    // Connecting is the connect timeout's to bound, so the pool's ten connections open before the
    // burst; on a loaded machine one may take longer than 250 ms, so warming tries again.
    for (let attempt = 1; store.poolStats()?.total !== 10; attempt++) {
      const warm = created.slice(0, 10).map(({ session }) => store.get(session.id, Date.now()));
      const results = await Promise.allSettled(warm);
      if (attempt === 20)
        expect(results.filter((result) => result.status === 'rejected')).toEqual([]);
    }
    const outcomes = await Promise.allSettled(
      created.map(({ token }) => burst.patch(token, [{ op: 'add', path: '/n', value: 1 }])),
    );
    const failures = outcomes.filter((outcome) => outcome.status === 'rejected');
    expect(failures).toEqual([]);
    const sessions = await Promise.all(created.map(({ token }) => manager.get(token)));
    expect(sessions.every((session) => session?.version === 2)).toBe(true);
  });

  it('a full queue refuses at once with StoreBusyError, the queued call completes once a connection frees, and the stats say so', async () => {
    const { store, table, manager } = await opened({ poolSize: 1, poolQueue: 1 });
    const { token, session } = await manager.create({ userId: 'u', data: { n: 1 } });
    expect(store.poolStats()).toEqual({ max: 1, total: 1, idle: 1, waiting: 0 });
    const release = await lockRow(table, session);

    const held = manager.patch(token, [{ op: 'replace', path: '/n', value: 2 }]);
    await until(() => store.poolStats()?.idle === 0);
    const queued = store.get(session.id, Date.now());
    expect(store.poolStats()).toEqual({ max: 1, total: 1, idle: 0, waiting: 1 });

    const refused = await store.get(session.id, Date.now()).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(StoreBusyError);
    expect(refused).toMatchObject({ code: 'ERR_STORE_BUSY', retryAfter: 1 });
    expect((refused as Error).message).toBe(
      'PostgreSQL at 127.0.0.1:5432 (sessions) is busy: 1 requests already wait for one of its 1 connections',
    );

    await release();
    expect(await held).toMatchObject({ version: 2, data: { n: 2 } });
    expect(await queued).toMatchObject({ version: 2 });
    expect(store.poolStats()).toMatchObject({ idle: 1, waiting: 0 });
  });

  it('a call that waits past poolQueueTimeout fails with StoreBusyError and changes nothing', async () => {
    const { store, table, manager } = await opened({ poolSize: 1, poolQueueTimeout: 50 });
    const { token, session } = await manager.create({ userId: 'u', data: { n: 1 } });
    const other = await manager.create({ userId: 'u', data: { n: 1 } });
    const release = await lockRow(table, session);
    const held = manager.patch(token, [{ op: 'replace', path: '/n', value: 2 }]);
    await until(() => store.poolStats()?.idle === 0);

    const waited = await manager
      .patch(other.token, [{ op: 'replace', path: '/n', value: 2 }])
      .catch((error: unknown) => error);
    expect(waited).toBeInstanceOf(StoreBusyError);
    expect((waited as Error).message).toContain('no connection of its 1 was free within 50 ms');

    await release();
    await held;
    expect(await manager.get(other.token)).toMatchObject({ version: 1, data: { n: 1 } });
  });

  it('a server that refuses connections is still StoreUnavailableError, naming it and why once', async () => {
    const port = await closedPort();
    const error = await PostgresStore.connect({
      connectionString: `postgres://postgres:s3cret@127.0.0.1:${port}/test`,
    }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(StoreUnavailableError);
    expect((error as Error).message).toBe(
      `PostgreSQL at 127.0.0.1:${port} (sessions) is unavailable: connection refused`,
    );
  });
});

describe('the pool options of the postgres store URL', () => {
  it('sizes the pool of the sessions and of the records', async () => {
    const backend = openBackend(
      `${url}?schema=${schema}&table=sized_${++counter}&poolSize=3&poolQueue=5&poolQueueTimeout=2s`,
    );
    const store = await backend.openSessions();
    cleanups.push(() => store.close());
    expect(store.poolStats?.()).toMatchObject({ max: 3, waiting: 0 });
  });

  it.each([
    ['poolSize=0', 'poolSize must be an integer of 1 or more, got "0"'],
    ['poolSize=ten', 'poolSize must be an integer of 1 or more, got "ten"'],
    ['poolQueue=-1', 'poolQueue must be an integer of 0 or more, got "-1"'],
    ['poolQueueTimeout=soon', 'poolQueueTimeout must be a duration such as 500ms or 10s'],
    ['poolQueueTimeout=0', 'poolQueueTimeout must be a duration such as 500ms or 10s'],
  ])('refuses %s with a ConfigError naming it', (query, message) => {
    expect(() => openBackend(`${url}?${query}`)).toThrow(ConfigError);
    expect(() => openBackend(`${url}?${query}`)).toThrow(message);
  });
});

async function closedPort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}
