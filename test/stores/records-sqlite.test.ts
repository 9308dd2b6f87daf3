import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { SessionManager } from '../../src/core/index.js';
import { SqliteRecordStore, SqliteStore } from '../../src/stores/index.js';

const dir = mkdtempSync(join(tmpdir(), 'clawsession-records-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let counter = 0;
const freshFile = () => join(dir, `nested/${++counter}/records.db`);
const T = Date.UTC(2026, 0, 1);

describe('SqliteRecordStore', () => {
  it('shares a file with SqliteStore without touching its schema version', async () => {
    const filename = freshFile();
    const sessions = new SqliteStore({ filename });
    const records = new SqliteRecordStore({ filename });
    const manager = new SessionManager({ store: sessions });
    const { token } = await manager.create({ userId: 'alice', data: { n: 1 } });
    expect(await records.put('users', 'alice', { role: 'admin' }, { now: T })).toBe(1);
    await Promise.all([manager.close(), records.close()]);

    const reopenedRecords = new SqliteRecordStore({ filename });
    const reopenedSessions = new SqliteStore({ filename });
    expect(await reopenedRecords.get('users', 'alice', T)).toMatchObject({ version: 1 });
    expect((await new SessionManager({ store: reopenedSessions }).get(token))?.data).toEqual({
      n: 1,
    });
    await Promise.all([reopenedRecords.close(), reopenedSessions.close()]);

    const db = new Database(filename, { readonly: true });
    expect(db.pragma('user_version', { simple: true })).toBe(3);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    const table = db.prepare("SELECT sql FROM sqlite_master WHERE name = 'records'").get() as {
      sql: string;
    };
    expect(table.sql).toMatch(/STRICT/);
    const indexes = db
      .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'records'")
      .all() as { name: string }[];
    expect(indexes.map((row) => row.name)).toContain('records_by_expiry');
    db.close();
  });

  it('compare-and-set holds between two connections to one file', async () => {
    const filename = freshFile();
    const [a, b] = [new SqliteRecordStore({ filename }), new SqliteRecordStore({ filename })];
    await a.put('counters', 'n', 0, { now: T });
    const increment = async (store: SqliteRecordStore) => {
      for (;;) {
        const current = await store.get('counters', 'n', T);
        const next = (current?.value as number) + 1;
        if (
          (await store.put('counters', 'n', next, { now: T, ifVersion: current?.version })) !== null
        )
          return;
      }
    };
    await Promise.all(Array.from({ length: 40 }, (_, i) => increment(i % 2 ? a : b)));
    expect(await b.get('counters', 'n', T)).toMatchObject({ value: 40, version: 41 });
    await Promise.all([a.close(), b.close()]);
  });

  it('uses a database it is given and leaves it open on close', async () => {
    const database = new Database(join(dir, `given-${++counter}.db`));
    const store = new SqliteRecordStore({ database });
    await store.put('c', 'k', 'v', { now: T });
    await store.close();
    expect(database.open).toBe(true);
    expect(database.prepare('SELECT value FROM records').get()).toEqual({ value: '"v"' });
    database.close();
  });
});
