import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { type Session, SessionManager } from '../../src/core/index.js';
import { openBackend, SqliteStore } from '../../src/stores/index.js';
import { describeOutbox } from '../conformance/outbox.js';

const dir = mkdtempSync(join(tmpdir(), 'clawsession-outbox-sqlite-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let counter = 0;
const freshFile = () => join(dir, `${++counter}/sessions.db`);

describeOutbox(
  'sqlite',
  async ({ instance }) => new SqliteStore({ filename: freshFile(), outbox: { instance } }),
);

const T0 = Date.UTC(2026, 0, 1);
const MINUTE = 60_000;

function session(id: string, overrides: Partial<Session> = {}): Session {
  return {
    id,
    userId: 'u',
    data: { n: 0 },
    version: 1,
    createdAt: T0,
    lastActiveAt: T0,
    idleExpiresAt: T0 + 30 * MINUTE,
    absoluteExpiresAt: T0 + 60 * MINUTE,
    tokenIssuedAt: T0,
    ip: null,
    userAgent: null,
    ...overrides,
  };
}

const activity = { now: T0 + 1, idleExpiresAt: T0 + 30 * MINUTE };
const increment = [{ op: 'increment', path: '/n', value: 1 }] as const;

describe('SqliteStore outbox', () => {
  it('keeps outbox rows and sequences in the file, and a reopened store goes on from them', async () => {
    const filename = freshFile();
    const first = new SqliteStore({ filename, outbox: true });
    await first.create(session('a'));
    await first.update('a', increment, activity);
    await first.close();
    const second = await openBackend(`sqlite:${filename}`).openSessions({ outbox: true });
    await second.rename('a', 'b', activity);
    expect((await second.outbox?.read(null, 10))?.map((r) => [r.type, r.sequence])).toEqual([
      ['session.created', 1],
      ['session.updated', 2],
      ['session.regenerated', 3],
    ]);
    await second.close();
  });

  it('without an outbox records nothing and keeps no sequence', async () => {
    const filename = freshFile();
    const store = new SqliteStore({ filename });
    expect(store.outbox).toBeUndefined();
    await store.create(session('a'));
    await store.update('a', increment, activity);
    await store.rename('a', 'b', activity);
    await store.delete('b');
    await store.create(session('c', { idleExpiresAt: T0 + 1 }));
    await store.sweepExpired(T0 + MINUTE, 10);
    await store.close();
    const db = new Database(filename, { readonly: true });
    expect(db.prepare('SELECT count(*) AS n FROM outbox').get()).toEqual({ n: 0 });
    db.close();
  });

  it('migrates a version 2 file: sessions count their events from 0 and the outbox table appears', async () => {
    const filename = freshFile();
    const seed = new SqliteStore({ filename });
    const { token } = await new SessionManager({ store: seed, clock: () => T0 }).create({
      userId: 'u',
    });
    await seed.close();
    const db = new Database(filename);
    db.exec('DROP TABLE outbox; ALTER TABLE sessions DROP COLUMN event_sequence;');
    db.pragma('user_version = 2');
    db.close();
    const store = new SqliteStore({ filename, outbox: true });
    const manager = new SessionManager({ store, clock: () => T0 + 1 });
    await manager.patch(token, [{ op: 'add', path: '/x', value: 1 }]);
    expect((await store.outbox?.read(null, 10))?.map((r) => [r.type, r.sequence])).toEqual([
      ['session.updated', 1],
    ]);
    await store.close();
    const migrated = new Database(filename, { readonly: true });
    expect(migrated.pragma('user_version', { simple: true })).toBe(3);
    migrated.close();
  });

  it('makes no change when its event cannot be recorded', async () => {
    const filename = freshFile();
    const store = new SqliteStore({ filename, outbox: true });
    await store.create(session('a'));
    await store.create(session('b'));
    const db = new Database(filename);
    db.exec(
      `CREATE TRIGGER refuse BEFORE INSERT ON outbox BEGIN SELECT RAISE(ABORT, 'outbox refused'); END`,
    );
    await expect(store.create(session('c'))).rejects.toThrow(/outbox refused/);
    await expect(store.update('a', increment, activity)).rejects.toThrow(/outbox refused/);
    await expect(store.rename('a', 'z', activity)).rejects.toThrow(/outbox refused/);
    await expect(store.delete('a')).rejects.toThrow(/outbox refused/);
    await expect(store.deleteByUser('u')).rejects.toThrow(/outbox refused/);
    await expect(store.sweepExpired(T0 + 2 * 60 * MINUTE, 10)).rejects.toThrow(/outbox refused/);
    expect(await store.get('c', T0)).toBeNull();
    expect(await store.get('a', T0)).toMatchObject({ version: 1, data: { n: 0 } });
    expect(await store.get('b', T0)).not.toBeNull();
    expect(await store.resolveAlias('a', T0)).toBeNull();
    db.exec('DROP TRIGGER refuse');
    db.close();
    await store.update('a', increment, activity);
    expect((await store.outbox?.read(null, 10))?.map((r) => [r.sessionId, r.sequence])).toEqual([
      ['a', 1],
      ['b', 1],
      ['a', 2],
    ]);
    await store.close();
  });

  it('answers audit queries of a user or a session from their indexes', async () => {
    const filename = freshFile();
    new SqliteStore({ filename, outbox: true }).close();
    const db = new Database(filename, { readonly: true });
    const plan = (sql: string) =>
      (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all() as { detail: string }[])
        .map((row) => row.detail)
        .join('; ');
    expect(
      plan(
        "SELECT * FROM outbox INDEXED BY outbox_by_user WHERE position > 0 AND user_id = 'u' AND time >= 0 ORDER BY position LIMIT 5",
      ),
    ).toContain('outbox_by_user');
    expect(
      plan(
        "SELECT * FROM outbox INDEXED BY outbox_by_session WHERE position > 0 AND session_id = 's' AND user_id = 'u' ORDER BY position LIMIT 5",
      ),
    ).toContain('outbox_by_session');
    expect(
      plan(
        'SELECT * FROM outbox WHERE position > 0 AND time >= 5 AND time < 9 ORDER BY position LIMIT 5',
      ),
    ).not.toMatch(/^SCAN outbox$/);
    db.close();
  });
});
