import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect, createServer, type Socket } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { Pool } from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  ConfigError,
  createCodec,
  generateEncryptionKey,
  Keyring,
  SessionManager,
  StoreUnavailableError,
} from '../../src/core/index.js';
import { openBackend } from '../../src/stores/index.js';
import { PostgresLease } from '../../src/stores/postgres/lease.js';
import {
  PostgresStore,
  type PostgresStoreOptions,
} from '../../src/stores/postgres/session-store.js';
import { describeBackend } from '../conformance/backend.js';
import { appendFromProcesses } from '../support/patch-processes.js';

// A real server, always: without one these tests fail (in CI and locally), they are never skipped.
const url = process.env.CLAWSESSION_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
// Every table of this run lives in one schema of its own, dropped at the end.
const schema = `clawsession_test_${randomBytes(4).toString('hex')}`;
const admin = new Pool({ connectionString: url, max: 4, connectionTimeoutMillis: 5000 });
admin.on('error', () => undefined);
afterAll(async () => {
  await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await admin.end();
});

let counter = 0;
const freshTable = () => `sessions_${++counter}`;

async function open(options: Partial<PostgresStoreOptions> = {}): Promise<PostgresStore> {
  return PostgresStore.connect({
    ...(options.pool ? {} : { connectionString: url }),
    schema,
    table: freshTable(),
    ...options,
  });
}

// Each backend has tables of its own for sessions and records; leases, buses and limits
// are shared by the backends of one schema, and the suites give them fresh names.
describeBackend('postgres', () => {
  const table = freshTable();
  return openBackend(`${url}?schema=${schema}&table=${table}&recordsTable=${table}_records`);
});

describe('PostgresStore', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    await Promise.all(cleanups.splice(0).map((cleanup) => cleanup()));
  });
  async function opened(options: Partial<PostgresStoreOptions> = {}): Promise<PostgresStore> {
    const store = await open(options);
    cleanups.push(() => store.close());
    return store;
  }
  function pool(config: { application_name?: string } = {}): Pool {
    const created = new Pool({ connectionString: url, max: 4, ...config });
    created.on('error', () => undefined);
    cleanups.push(() => created.end());
    return created;
  }

  it('creates its schema once when many instances open a new table together, and keeps sessions across reopen', async () => {
    const table = freshTable();
    const first = await Promise.all(Array.from({ length: 6 }, () => open({ table, poolSize: 1 })));
    const { token } = await new SessionManager({ store: first[0] as PostgresStore }).create({
      userId: 'u',
      data: { kept: true },
    });
    await Promise.all(first.map((store) => store.close()));

    const reopened = await opened({ table });
    expect((await new SessionManager({ store: reopened }).get(token))?.data).toEqual({
      kept: true,
    });
    const versions = await admin.query(
      `SELECT version FROM ${schema}.${table}_migrations ORDER BY version`,
    );
    expect(versions.rows).toEqual([{ version: 1 }, { version: 2 }, { version: 3 }, { version: 4 }]);
    const options = await admin.query('SELECT reloptions FROM pg_class WHERE oid = $1::regclass', [
      `${schema}.${table}`,
    ]);
    // Vacuumed early: touches leave dead versions that sweeps would otherwise step over.
    expect(options.rows[0].reloptions).toEqual(
      expect.arrayContaining(['autovacuum_vacuum_scale_factor=0.01']),
    );
    const indexes = await admin.query(
      'SELECT indexname FROM pg_indexes WHERE schemaname = $1 AND tablename = $2',
      [schema, table],
    );
    expect(indexes.rows.map((row) => row.indexname)).toEqual(
      expect.arrayContaining([`${table}_by_user`, `${table}_by_expiry`]),
    );
  });

  it('migrates a version 1 table: tokenIssuedAt defaults to createdAt, and aliases get their table', async () => {
    const table = freshTable();
    const now = Date.UTC(2026, 0, 1);
    const seed = await open({ table });
    const { token } = await new SessionManager({ store: seed, clock: () => now }).create({
      userId: 'u',
      data: { old: true },
    });
    await seed.close();
    // Back to schema 1, as a table written before rotation existed.
    await admin.query(`DROP TABLE ${schema}.${table}_aliases`);
    await admin.query(`ALTER TABLE ${schema}.${table} DROP COLUMN token_issued_at`);
    await admin.query(`DROP TABLE ${schema}.${table}_outbox`);
    await admin.query(`ALTER TABLE ${schema}.${table} DROP COLUMN event_sequence`);
    await admin.query(`UPDATE ${schema}.${table} SET created_at = created_at - 1000`);
    await admin.query(`DELETE FROM ${schema}.${table}_migrations WHERE version >= 2`);
    const store = await opened({ table });
    const manager = new SessionManager({ store, clock: () => now });
    const session = await manager.get(token);
    expect(session?.tokenIssuedAt).toBe(now - 1000);
    expect(session?.data).toEqual({ old: true });
    const rotated = await manager.rotate(token, { grace: 1000 });
    expect((await manager.get(token))?.id).toBe(rotated.session.id);
  });

  it('keeps aliases in <table>_aliases and a sweep deletes the expired rows', async () => {
    const table = freshTable();
    const store = await opened({ table });
    let clock = Date.UTC(2026, 0, 1);
    const manager = new SessionManager({ store, clock: () => clock });
    const { token } = await manager.create({ userId: 'u' });
    await manager.rotate(token, { grace: 5000 });
    const count = async () =>
      Number((await admin.query(`SELECT count(*) AS n FROM ${schema}.${table}_aliases`)).rows[0].n);
    expect(await count()).toBe(1);
    await manager.sweepExpired();
    expect(await count()).toBe(1);
    clock += 5000;
    await manager.sweepExpired();
    expect(await count()).toBe(0);
  });

  it('refuses to open a table migrated by a newer clawsession', async () => {
    const table = freshTable();
    await (await open({ table })).close();
    await admin.query(`INSERT INTO ${schema}.${table}_migrations (version) VALUES (99)`);
    await expect(open({ table })).rejects.toThrow(/newer than this clawsession/);
  });

  it('refuses a missing connection, names that are not plain identifiers and a pool of no connections', async () => {
    await expect(PostgresStore.connect({ schema })).rejects.toBeInstanceOf(ConfigError);
    await expect(open({ table: 'sessions; DROP TABLE x' })).rejects.toBeInstanceOf(ConfigError);
    await expect(open({ schema: 'a"b' })).rejects.toBeInstanceOf(ConfigError);
    await expect(open({ poolSize: 0 })).rejects.toBeInstanceOf(ConfigError);
  });

  it('uses its indexes for user look-ups and expiry sweeps rather than scanning', async () => {
    const table = freshTable();
    await opened({ table });
    const qualified = `${schema}.${table}`;
    await admin.query(
      `INSERT INTO ${qualified}
         (id, user_id, data, version, created_at, last_active_at, idle_expires_at, absolute_expires_at,
          token_issued_at)
       SELECT md5(n::text), 'user-' || (n % 2000), '\\x02', 1, n, n, n + 1000, n + 100000, n
       FROM generate_series(1, 20000) AS n`,
    );
    await admin.query(`ANALYZE ${qualified}`);
    const plan = async (sql: string) =>
      (await admin.query(`EXPLAIN ${sql}`)).rows.map((row) => row['QUERY PLAN']).join('\n');

    const byUser = await plan(
      `SELECT * FROM ${qualified} WHERE user_id = 'user-7' AND expires_at > 0 ORDER BY created_at DESC, id`,
    );
    expect(byUser).toContain(`${table}_by_user`);
    expect(byUser).not.toContain('Seq Scan');
    const deleteByUser = await plan(
      `DELETE FROM ${qualified} WHERE user_id = 'user-7' AND id IS DISTINCT FROM NULL RETURNING id`,
    );
    expect(deleteByUser).toContain(`${table}_by_user`);
    const sweep = await plan(
      `SELECT * FROM ${qualified} WHERE expires_at <= 1500 ORDER BY expires_at LIMIT 100`,
    );
    expect(sweep).toContain(`${table}_by_expiry`);
    expect(sweep).not.toContain('Seq Scan');
  });

  it('keeps only the codec’s bytes in the table, so encrypted data cannot be read there', async () => {
    const table = freshTable();
    const codec = createCodec({
      keyring: new Keyring({ activeKeyId: 'k1', keys: { k1: generateEncryptionKey() } }),
    });
    const manager = new SessionManager({ store: await opened({ table, codec }) });
    const { session } = await manager.create({ userId: 'u', data: { note: 'plaintext-marker' } });
    const { rows } = await admin.query(
      `SELECT data, expires_at FROM ${schema}.${table} WHERE id = $1`,
      [session.id],
    );
    const stored = rows[0].data as Buffer;
    expect(stored.includes('plaintext-marker')).toBe(false);
    expect(codec.decode(session.id, stored)).toEqual({ note: 'plaintext-marker' });
    expect(Number(rows[0].expires_at)).toBe(session.idleExpiresAt);
  });

  it('a session touched while its expired batch is archived is not deleted', async () => {
    const store = await opened();
    const clock = { now: Date.UTC(2026, 0, 1) };
    const manager = new SessionManager({ store, clock: () => clock.now });
    const created = clock.now;
    const revived = await manager.create({ userId: 'u' });
    const expired = await manager.create({ userId: 'u' });
    clock.now += 31 * 60_000;
    const swept = await store.sweepExpired(clock.now, 10, async (batch) => {
      expect(batch).toHaveLength(2);
      // Another instance, its clock a minute behind the expiry, records activity meanwhile.
      const late = created + 29 * 60_000;
      await store.touch(revived.session.id, { now: late, idleExpiresAt: clock.now + 60_000 });
    });
    expect(swept.map((session) => session.id)).toEqual([expired.session.id]);
    expect(await store.get(revived.session.id, clock.now)).not.toBeNull();
    expect(await store.get(expired.session.id, created)).toBeNull();
  });

  it('two processes, each with its own manager, apply 1,000 concurrent patches to one session and lose none', async () => {
    const table = freshTable();
    const manager = new SessionManager({ store: await opened({ table }) });
    const { token, session } = await manager.create({ userId: 'u', data: { items: [] } });
    await appendFromProcesses(
      `${url}?schema=${schema}&table=${table}`,
      session.id,
      ['p1', 'p2'],
      500,
    );

    const final = await manager.get(token);
    expect(final?.version).toBe(1001);
    const items = final?.data.items as string[];
    expect(items).toHaveLength(1000);
    expect(new Set(items).size).toBe(1000);
  }, 60_000);

  it('one instance at a time holds the sweep lease, and a crashed holder’s lease passes to another', async () => {
    const table = freshTable();
    const holderName = `clawsession_lease_${randomBytes(3).toString('hex')}`;
    const holder = await opened({ table, pool: pool({ application_name: holderName }) });
    const other = await opened({ table, pool: pool() });
    expect(await holder.withSweepLock(async () => 'swept')).toEqual({
      acquired: true,
      value: 'swept',
    });

    let finish = () => {};
    const finished = new Promise<void>((resolve) => {
      finish = resolve;
    });
    let signal = new AbortController().signal;
    let entered = () => {};
    const inside = new Promise<void>((resolve) => {
      entered = resolve;
    });
    const holding = holder.withSweepLock(async (leaseSignal) => {
      signal = leaseSignal;
      entered();
      await finished;
      return 'holder swept';
    });
    await inside;
    expect(await other.withSweepLock(async () => 'other swept')).toEqual({ acquired: false });

    const { rows } = await admin.query(
      `SELECT l.pid FROM pg_locks l JOIN pg_stat_activity a USING (pid)
       WHERE l.locktype = 'advisory' AND l.granted AND a.application_name = $1`,
      [holderName],
    );
    expect(rows).toHaveLength(1);
    await admin.query('SELECT pg_terminate_backend($1)', [rows[0].pid]);
    if (!signal.aborted) await once(signal, 'abort');
    expect(signal.reason).toBeInstanceOf(StoreUnavailableError);
    finish();
    await holding;

    // The backend lets go of its locks as it exits, a moment after the holder hears of it.
    let outcome = await other.withSweepLock(async () => 'other swept');
    for (let attempt = 0; !outcome.acquired && attempt < 100; attempt++) {
      await delay(20);
      outcome = await other.withSweepLock(async () => 'other swept');
    }
    expect(outcome).toEqual({ acquired: true, value: 'other swept' });
    // Released on return, so the next instance gets it at once.
    expect((await holder.withSweepLock(async () => 'again')).acquired).toBe(true);
  });

  it('a lease on a server that refuses connections fails with StoreUnavailableError', async () => {
    const name = `test-${randomBytes(4).toString('hex')}`;
    const port = await closedPort();
    const unreachable = new PostgresLease({
      connectionString: `postgres://postgres@127.0.0.1:${port}/test`,
    });
    await expect(unreachable.run(name, async () => 'never')).rejects.toBeInstanceOf(
      StoreUnavailableError,
    );
  });

  it('a server that refuses connections fails fast with StoreUnavailableError', async () => {
    const port = await closedPort();
    const started = performance.now();
    await expect(
      PostgresStore.connect({ connectionString: `postgres://postgres@127.0.0.1:${port}/test` }),
    ).rejects.toBeInstanceOf(StoreUnavailableError);
    expect(performance.now() - started).toBeLessThan(2_000);
  });

  it('a server that accepts but never answers fails at the connect timeout rather than hanging', async () => {
    const sockets: Socket[] = [];
    const server = createServer((socket) => sockets.push(socket)).listen(0, '127.0.0.1');
    await once(server, 'listening');
    cleanups.push(async () => {
      for (const socket of sockets) socket.destroy();
      server.close();
    });
    const { port } = server.address() as { port: number };
    const started = performance.now();
    await expect(
      PostgresStore.connect({
        connectionString: `postgres://postgres@127.0.0.1:${port}/test`,
        connectTimeout: 200,
      }),
    ).rejects.toBeInstanceOf(StoreUnavailableError);
    expect(performance.now() - started).toBeLessThan(3_000);
  });

  it('an update stuck behind a held row lock gives up at the statement timeout and changes nothing', async () => {
    const table = freshTable();
    const manager = new SessionManager({ store: await opened({ table, statementTimeout: 200 }) });
    const { token, session } = await manager.create({ userId: 'u', data: { n: 1 } });
    const blocker = await admin.connect();
    try {
      await blocker.query('BEGIN');
      await blocker.query(`SELECT 1 FROM ${schema}.${table} WHERE id = $1 FOR UPDATE`, [
        session.id,
      ]);
      await expect(
        manager.patch(token, [{ op: 'replace', path: '/n', value: 2 }]),
      ).rejects.toBeInstanceOf(StoreUnavailableError);
    } finally {
      await blocker.query('ROLLBACK');
      blocker.release();
    }
    expect(await manager.get(token)).toMatchObject({ version: 1, data: { n: 1 } });
  });

  it('a server that stops answering mid-session fails the call at the query timeout, and the store recovers once it answers', async () => {
    const proxy = await blackHoleProxy(new URL(url));
    cleanups.push(() => proxy.close());
    const target = new URL(url);
    target.host = `127.0.0.1:${proxy.port}`;
    const manager = new SessionManager({
      store: await opened({ connectionString: target.toString(), statementTimeout: 200 }),
    });
    const { token } = await manager.create({ userId: 'u', data: { n: 1 } });
    proxy.silence(true);
    const started = performance.now();
    await expect(
      manager.patch(token, [{ op: 'replace', path: '/n', value: 2 }]),
    ).rejects.toBeInstanceOf(StoreUnavailableError);
    expect(performance.now() - started).toBeLessThan(5_000);
    proxy.silence(false);
    expect((await manager.patch(token, [{ op: 'replace', path: '/n', value: 3 }])).version).toBe(2);
  });

  it('outlives the server dropping its connections: a call may fail as unavailable, then it reconnects', async () => {
    const name = `clawsession_drop_${randomBytes(3).toString('hex')}`;
    const store = await opened({ pool: pool({ application_name: name }) });
    const manager = new SessionManager({ store });
    const { session } = await manager.create({ userId: 'u' });
    const { rows } = await admin.query(
      'SELECT pg_terminate_backend(pid) AS terminated FROM pg_stat_activity WHERE application_name = $1',
      [name],
    );
    expect(rows.length).toBeGreaterThan(0);
    for (let attempt = 0; ; attempt++) {
      const read = await store.get(session.id, Date.now()).then(
        (found) => ({ found }),
        (error: unknown) => ({ error }),
      );
      if ('found' in read) {
        expect(read.found?.id).toBe(session.id);
        break;
      }
      expect(read.error).toBeInstanceOf(StoreUnavailableError);
      expect(attempt).toBeLessThan(4);
    }
  });

  it('close ends the pool the store created but leaves a pool it was given open', async () => {
    const given = pool();
    await (await open({ pool: given })).close();
    expect((await given.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);

    const own = await open();
    await own.close();
    await own.close();
    await expect(own.get('a'.repeat(64), Date.now())).rejects.toBeInstanceOf(StoreUnavailableError);
  });
});

/** A TCP proxy to the server that can silently drop everything, like a network partition. */
async function blackHoleProxy(upstream: URL) {
  let silent = false;
  const sockets: Socket[] = [];
  const server = createServer((client) => {
    const toServer = connect(Number(upstream.port || 5432), upstream.hostname);
    sockets.push(client, toServer);
    client.on('data', (chunk) => silent || toServer.write(chunk));
    toServer.on('data', (chunk) => silent || client.write(chunk));
    for (const [a, b] of [
      [client, toServer],
      [toServer, client],
    ] as const) {
      a.on('error', () => b.destroy());
      a.on('close', () => b.destroy());
    }
  }).listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as { port: number }).port,
    silence: (on: boolean) => {
      silent = on;
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

async function closedPort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}
