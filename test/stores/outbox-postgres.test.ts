import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { Pool } from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { OutboxRecord, Session } from '../../src/core/index.js';
import { openBackend } from '../../src/stores/index.js';
import {
  PostgresStore,
  type PostgresStoreOptions,
} from '../../src/stores/postgres/session-store.js';
import { describeOutbox } from '../conformance/outbox.js';

// A real server, always: without one these tests fail (in CI and locally), they are never skipped.
const url = process.env.CLAWSESSION_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
// Every table of this run lives in one schema of its own, dropped at the end.
const schema = `clawsession_outbox_${randomBytes(4).toString('hex')}`;
const admin = new Pool({ connectionString: url, max: 4, connectionTimeoutMillis: 5000 });
admin.on('error', () => undefined);
afterAll(async () => {
  await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await admin.end();
});

let counter = 0;
const freshTable = () => `sessions_${++counter}`;

function open(options: Partial<PostgresStoreOptions> = {}): Promise<PostgresStore> {
  return PostgresStore.connect({
    connectionString: url,
    schema,
    table: freshTable(),
    outbox: true,
    poolSize: 4,
    ...options,
  });
}

describeOutbox('postgres', ({ instance }) => open({ outbox: { instance } }), { workloadRuns: 15 });

const T0 = Date.UTC(2026, 0, 1);
const MINUTE = 60_000;

function session(id: string, userId = 'u'): Session {
  return {
    id,
    userId,
    data: { n: 0 },
    version: 1,
    createdAt: T0,
    lastActiveAt: T0,
    idleExpiresAt: T0 + 30 * MINUTE,
    absoluteExpiresAt: T0 + 60 * MINUTE,
    tokenIssuedAt: T0,
    ip: null,
    userAgent: null,
  };
}

const activity = { now: T0 + 1, idleExpiresAt: T0 + 30 * MINUTE };
const increment = [{ op: 'increment', path: '/n', value: 1 }] as const;

/** Polls `condition` until it holds, for at most `ms`. */
async function waitFor(what: string, condition: () => Promise<boolean>, ms = 10_000) {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(20);
  }
}

/** Whether a connection of the pool named `application` waits for a lock. */
async function waitsForLock(application: string): Promise<boolean> {
  const { rows } = await admin.query(
    `SELECT count(*)::int AS n FROM pg_stat_activity
     WHERE application_name = $1 AND wait_event_type = 'Lock'`,
    [application],
  );
  return rows[0].n > 0;
}

describe('PostgresStore outbox', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    await Promise.all(cleanups.splice(0).map((cleanup) => cleanup()));
  });
  async function opened(options: Partial<PostgresStoreOptions> = {}): Promise<PostgresStore> {
    const store = await open(options);
    cleanups.push(() => store.close());
    return store;
  }

  it('never lets a reader pass a position whose transaction commits after a later one', async () => {
    const table = freshTable();
    const name = `outbox-${randomBytes(4).toString('hex')}`;
    // Two instances of one table, as two processes would be.
    const slow = await opened({ table, connectionString: `${url}?application_name=${name}-a` });
    const fast = await opened({ table, connectionString: `${url}?application_name=${name}-b` });
    // The slow writer's outbox insert waits, after taking its position, for a lock the test holds.
    const gate = Math.floor(Math.random() * 2 ** 30);
    await admin.query(`
      CREATE FUNCTION ${schema}.${table}_gate() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.user_id = 'slow' THEN PERFORM pg_advisory_xact_lock(${gate}); END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER gate AFTER INSERT ON ${schema}.${table}_outbox
        FOR EACH ROW EXECUTE FUNCTION ${schema}.${table}_gate();`);
    const holder = await admin.connect();
    cleanups.push(async () => {
      // Back to the pool with no lock held, whatever the test got to.
      await holder.query('SELECT pg_advisory_unlock_all()');
      holder.release();
    });
    await holder.query('SELECT pg_advisory_lock($1)', [gate]);

    const slowWrite = slow.create(session('s1', 'slow'));
    await waitFor('the slow write to hold its position', () => waitsForLock(`${name}-a`));
    let fastDone = false;
    const fastWrite = fast.create(session('f1', 'fast')).finally(() => {
      fastDone = true;
    });
    await waitFor(
      'the fast write to wait behind it, or to finish',
      async () => fastDone || (await waitsForLock(`${name}-b`)),
    );
    // A relay reading now sees neither: the position after the slow one is not visible before it.
    const outbox = fast.outbox as NonNullable<typeof fast.outbox>;
    const early = await outbox.read(null, 10);
    expect(fastDone).toBe(false);
    expect(early).toEqual([]);

    await holder.query('SELECT pg_advisory_unlock($1)', [gate]);
    await Promise.all([slowWrite, fastWrite]);
    const cursor = early.at(-1)?.position ?? null;
    const late = await outbox.read(cursor, 10);
    expect([...early, ...late].map((r) => r.userId)).toEqual(['slow', 'fast']);
  });

  it('gives updates of one session from two instances distinct consecutive sequences', async () => {
    const table = freshTable();
    const [one, two] = [await opened({ table }), await opened({ table })];
    await one.create(session('a'));
    await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        (i % 2 ? one : two).update('a', increment, { ...activity, now: T0 + i }),
      ),
    );
    const outbox = one.outbox as NonNullable<typeof one.outbox>;
    const records = await outbox.read(null, 100);
    expect(records.map((r) => r.sequence)).toEqual(Array.from({ length: 41 }, (_, i) => i + 1));
    expect(records.slice(1).map((r) => r.data.version)).toEqual(
      Array.from({ length: 40 }, (_, i) => i + 2),
    );
  });

  it('makes no change when its event cannot be recorded', async () => {
    const table = freshTable();
    const store = await opened({ table });
    await store.create(session('a'));
    await store.create(session('b'));
    await admin.query(`
      CREATE FUNCTION ${schema}.${table}_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'outbox refused'; END $$;
      CREATE TRIGGER refuse BEFORE INSERT ON ${schema}.${table}_outbox
        FOR EACH ROW EXECUTE FUNCTION ${schema}.${table}_refuse();`);
    await expect(store.create(session('c'))).rejects.toThrow(/outbox refused/);
    await expect(store.update('a', increment, activity)).rejects.toThrow(/outbox refused/);
    await expect(
      store.rename('a', 'z', { ...activity, now: T0 + 2 }, { aliasUntil: T0 + MINUTE }),
    ).rejects.toThrow(/outbox refused/);
    await expect(store.delete('a')).rejects.toThrow(/outbox refused/);
    await expect(store.deleteByUser('u')).rejects.toThrow(/outbox refused/);
    await expect(store.sweepExpired(T0 + 2 * 60 * MINUTE, 10)).rejects.toThrow(/outbox refused/);
    expect(await store.get('c', T0)).toBeNull();
    expect(await store.get('a', T0)).toMatchObject({ version: 1, data: { n: 0 } });
    expect(await store.get('b', T0)).not.toBeNull();
    expect(await store.resolveAlias('a', T0 + 2)).toBeNull();
    await admin.query(`DROP TRIGGER refuse ON ${schema}.${table}_outbox`);
    await store.update('a', increment, activity);
    const outbox = store.outbox as NonNullable<typeof store.outbox>;
    expect((await outbox.read(null, 10)).map((r) => [r.sessionId, r.sequence])).toEqual([
      ['a', 1],
      ['b', 1],
      ['a', 2],
    ]);
  });

  it('without an outbox records nothing and keeps no sequence', async () => {
    const table = freshTable();
    const store = await opened({ table, outbox: undefined });
    expect(store.outbox).toBeUndefined();
    await store.create(session('a'));
    await store.update('a', increment, activity);
    await store.rename('a', 'b', activity);
    await store.create(session('c'));
    await store.delete('b');
    await store.sweepExpired(T0 + 2 * 60 * MINUTE, 10);
    const { rows } = await admin.query(`SELECT count(*)::int AS n FROM ${schema}.${table}_outbox`);
    expect(rows[0].n).toBe(0);
  });

  it('opens with an outbox from its URL, and a version 3 table counts its events from 0', async () => {
    const table = freshTable();
    const seed = await opened({ table, outbox: undefined });
    await seed.create(session('a'));
    await seed.close();
    await admin.query(`DROP TABLE ${schema}.${table}_outbox`);
    await admin.query(`ALTER TABLE ${schema}.${table} DROP COLUMN event_sequence`);
    await admin.query(`DELETE FROM ${schema}.${table}_migrations WHERE version >= 4`);
    const store = await openBackend(`${url}?schema=${schema}&table=${table}`).openSessions({
      outbox: { instance: 'gw-9' },
    });
    cleanups.push(() => store.close());
    await store.update('a', increment, activity);
    const outbox = store.outbox as NonNullable<typeof store.outbox>;
    expect(await outbox.read(null, 10)).toMatchObject([
      { type: 'session.updated', sequence: 1, instance: 'gw-9' },
    ]);
  });

  it('answers audit queries of a user or a session from their indexes', async () => {
    const table = freshTable();
    const store = await opened({ table });
    await store.create(session('a'));
    const client = await admin.connect();
    cleanups.push(async () => client.release());
    await client.query('SET enable_seqscan = off');
    const plan = async (where: string) =>
      (
        await client.query(
          `EXPLAIN SELECT * FROM ${schema}.${table}_outbox WHERE position > 0 AND ${where} ORDER BY position LIMIT 5`,
        )
      ).rows
        .map((row) => row['QUERY PLAN'])
        .join('\n');
    expect(await plan(`user_id = 'u' AND time >= 0`)).toContain(`${table}_outbox_by_user`);
    expect(await plan(`session_id = 'a'`)).toContain(`${table}_outbox_by_session`);
    expect(await plan('time >= 0 AND time < 5')).toContain(`${table}_outbox_by_time`);
  });

  it('keeps records whole: uuid ids, JSON data and positions past 2^31', async () => {
    const table = freshTable();
    const store = await opened({ table });
    await admin.query(
      `ALTER TABLE ${schema}.${table}_outbox ALTER COLUMN position RESTART WITH 3000000000`,
    );
    await store.create(session('a'));
    await store.update('a', [{ op: 'add', path: '/ünï', value: 1 }], activity);
    const outbox = store.outbox as NonNullable<typeof store.outbox>;
    const records = await outbox.read('2999999999', 10);
    expect(records.map((r) => r.position)).toEqual(['3000000000', '3000000001']);
    expect(records[1]?.data).toEqual({ version: 2, paths: ['/ünï'] });
    expect(await outbox.read('3000000000', 10)).toEqual(records.slice(1));
    expect(await outbox.backlog('2999999999')).toEqual({ count: 2, oldestTime: T0 });
    const trimmed: OutboxRecord[] = await outbox.trim(T0 + MINUTE, 10);
    expect(trimmed).toEqual(records);
  });
});
