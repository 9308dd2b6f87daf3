import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { createCodec, SessionManager } from '../../src/core/index.js';
import { openBackend, SqliteStore } from '../../src/stores/index.js';
import { describeBackend } from '../conformance/backend.js';

const dir = mkdtempSync(join(tmpdir(), 'clawsession-sqlite-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let counter = 0;
const freshFile = () => join(dir, `nested/${++counter}/sessions.db`);

describeBackend('sqlite', () => openBackend(`sqlite:${freshFile()}`));

describe('SqliteStore', () => {
  it('creates its schema once and keeps sessions across reopen', async () => {
    const filename = freshFile();
    const first = new SqliteStore({ filename, codec: createCodec() });
    const { token } = await new SessionManager({ store: first }).create({
      userId: 'u',
      data: { kept: true },
    });
    await first.close();
    const second = new SqliteStore({ filename, codec: createCodec() });
    expect((await new SessionManager({ store: second }).get(token))?.data).toEqual({ kept: true });
    await second.close();
    const db = new Database(filename, { readonly: true });
    expect(db.pragma('user_version', { simple: true })).toBe(3);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    const indexes = db
      .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'sessions'")
      .all();
    expect(indexes.map((row) => (row as { name: string }).name)).toEqual(
      expect.arrayContaining(['sessions_by_user', 'sessions_by_expiry']),
    );
    db.close();
  });

  it('uses its indexes for user look-ups and expiry sweeps rather than scanning', () => {
    const filename = freshFile();
    new SqliteStore({ filename }).close();
    const db = new Database(filename, { readonly: true });
    const plan = (sql: string) =>
      (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all() as { detail: string }[])
        .map((r) => r.detail)
        .join('; ');
    expect(plan("SELECT * FROM sessions WHERE user_id = 'u' AND expires_at > 0")).toContain(
      'sessions_by_user',
    );
    expect(
      plan('SELECT id FROM sessions WHERE expires_at <= 0 ORDER BY expires_at LIMIT 10'),
    ).toContain('sessions_by_expiry');
    db.close();
  });

  it('migrates a version 1 file: tokenIssuedAt defaults to createdAt, and aliases get their table', async () => {
    const filename = freshFile();
    const now = Date.UTC(2026, 0, 1);
    const seed = new SqliteStore({ filename, codec: createCodec() });
    const manager = new SessionManager({ store: seed, clock: () => now });
    const { token } = await manager.create({ userId: 'u', data: { old: true } });
    await seed.close();
    // Back to schema 1, as a file written before rotation existed.
    const db = new Database(filename);
    db.exec(`DROP TABLE session_aliases; ALTER TABLE sessions DROP COLUMN token_issued_at;
      DROP TABLE outbox; ALTER TABLE sessions DROP COLUMN event_sequence;`);
    db.exec('UPDATE sessions SET created_at = created_at - 1000');
    db.pragma('user_version = 1');
    db.close();
    const store = new SqliteStore({ filename, codec: createCodec() });
    const reopened = new SessionManager({ store, clock: () => now });
    const session = await reopened.get(token);
    expect(session?.tokenIssuedAt).toBe(now - 1000);
    expect(session?.data).toEqual({ old: true });
    const rotated = await reopened.rotate(token, { grace: 1000 });
    expect((await reopened.get(token))?.id).toBe(rotated.session.id);
    await store.close();
  });

  it('keeps aliases in session_aliases and a sweep deletes the expired rows', async () => {
    const filename = freshFile();
    const store = new SqliteStore({ filename, codec: createCodec() });
    const now = Date.UTC(2026, 0, 1);
    let clock = now;
    const manager = new SessionManager({ store, clock: () => clock });
    const { token } = await manager.create({ userId: 'u' });
    await manager.rotate(token, { grace: 5000 });
    const db = new Database(filename, { readonly: true });
    const count = () =>
      (db.prepare('SELECT count(*) AS n FROM session_aliases').get() as { n: number }).n;
    expect(count()).toBe(1);
    await manager.sweepExpired();
    expect(count()).toBe(1);
    clock += 5000;
    await manager.sweepExpired();
    expect(count()).toBe(0);
    db.close();
    await store.close();
  });

  it('refuses to open a database written by a newer schema', () => {
    const filename = freshFile();
    new SqliteStore({ filename }).close();
    const db = new Database(filename);
    db.pragma('user_version = 99');
    db.close();
    expect(() => new SqliteStore({ filename })).toThrow(/newer than this clawsession/);
  });
});
