import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type Database from 'better-sqlite3';
import {
  assertIfVersion,
  assertLimit,
  assertListOptions,
  assertName,
  assertNow,
  assertPutOptions,
  encodeValue,
} from '../../core/backend-kit.js';
import type { PutOptions, RecordStore, RecordValue, StoredRecord } from '../../core/index.js';
import { requireSqlite } from './driver.js';

export type SqliteRecordStoreOptions =
  | {
      /** Database file, created with its folder if missing; `:memory:` for a private in-memory database. */
      filename: string;
      /** How long a writer waits for another connection's lock, in ms. Default 5000. */
      busyTimeout?: number;
    }
  | {
      /** An open database you own (the store sets WAL mode on it); `close()` leaves it open. */
      database: Database.Database;
    };

/*
 * Its own table, created if missing rather than migrated through
 * `PRAGMA user_version`: that counter belongs to SqliteStore, which may share
 * the file. Text compares as bytes (SQLite's BINARY collation), so keys sort
 * in the byte order of their UTF-8.
 */
const SCHEMA = `
  CREATE TABLE IF NOT EXISTS records (
    collection TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    version INTEGER NOT NULL,
    expires_at INTEGER,
    PRIMARY KEY (collection, key)
  ) STRICT, WITHOUT ROWID;
  CREATE INDEX IF NOT EXISTS records_by_expiry ON records (expires_at);`;

interface Row {
  key: string;
  value: string;
  version: number;
  expires_at: number | null;
}

const LIVE = '(expires_at IS NULL OR expires_at > @now)';

/**
 * Records in a SQLite file in WAL mode, beside (or in the same file as) a
 * SqliteStore's sessions; safe to share between processes on one machine.
 * Every put is one immediate transaction.
 */
export class SqliteRecordStore implements RecordStore {
  readonly #db: Database.Database;
  readonly #ownsDatabase: boolean;
  readonly #sql;

  constructor(options: SqliteRecordStoreOptions) {
    if ('database' in options) {
      this.#db = options.database;
      this.#ownsDatabase = false;
    } else {
      if (options.filename !== ':memory:') {
        mkdirSync(dirname(options.filename), { recursive: true });
      }
      // By require: the constructor opens the file, synchronously.
      const Database = requireSqlite();
      this.#db = new Database(options.filename);
      this.#ownsDatabase = true;
      this.#db.pragma(`busy_timeout = ${options.busyTimeout ?? 5000}`);
    }
    this.#db.pragma('journal_mode = WAL');
    this.#db.transaction(() => this.#db.exec(SCHEMA)).immediate();
    this.#sql = prepareStatements(this.#db);
  }

  async get(collection: string, key: string, now: number): Promise<StoredRecord | null> {
    assertName('collection', collection);
    assertName('key', key);
    assertNow(now);
    const row = this.#sql.selectLive.get({ collection, key, now }) as Row | undefined;
    return row ? present(row) : null;
  }

  async put(
    collection: string,
    key: string,
    value: RecordValue,
    options: PutOptions,
  ): Promise<number | null> {
    assertName('collection', collection);
    assertName('key', key);
    assertPutOptions(options);
    const json = encodeValue(value);
    return this.#db
      .transaction(() => {
        const current = this.#sql.selectLive.get({ collection, key, now: options.now }) as
          | Row
          | undefined;
        const currentVersion = current?.version ?? 0;
        if (options.ifVersion !== undefined && options.ifVersion !== currentVersion) return null;
        const version = currentVersion + 1;
        this.#sql.upsert.run({
          collection,
          key,
          value: json,
          version,
          expiresAt: options.expiresAt ?? null,
        });
        return version;
      })
      .immediate();
  }

  async delete(
    collection: string,
    key: string,
    options: { ifVersion?: number } = {},
  ): Promise<boolean> {
    assertName('collection', collection);
    assertName('key', key);
    assertIfVersion(options.ifVersion);
    const { changes } = this.#sql.delete.run({
      collection,
      key,
      ifVersion: options.ifVersion ?? null,
    });
    return changes > 0;
  }

  async list(
    collection: string,
    options: { now: number; after?: string; limit: number },
  ): Promise<StoredRecord[]> {
    assertName('collection', collection);
    assertListOptions(options);
    const rows = this.#sql.list.all({
      collection,
      // Keys are never empty, so every key sorts after ''.
      after: options.after ?? '',
      now: options.now,
      limit: options.limit,
    }) as Row[];
    return rows.map(present);
  }

  async sweepExpired(now: number, limit: number): Promise<number> {
    assertNow(now);
    assertLimit(limit);
    return this.#sql.deleteExpired.run({ now, limit }).changes;
  }

  async close(): Promise<void> {
    if (this.#ownsDatabase && this.#db.open) this.#db.close();
  }
}

function prepareStatements(db: Database.Database) {
  return {
    selectLive: db.prepare(
      `SELECT key, value, version, expires_at FROM records
         WHERE collection = @collection AND key = @key AND ${LIVE}`,
    ),
    upsert: db.prepare(
      `INSERT INTO records (collection, key, value, version, expires_at)
         VALUES (@collection, @key, @value, @version, @expiresAt)
         ON CONFLICT (collection, key) DO UPDATE SET
           value = excluded.value, version = excluded.version, expires_at = excluded.expires_at`,
    ),
    delete: db.prepare(
      `DELETE FROM records WHERE collection = @collection AND key = @key
         AND (@ifVersion IS NULL OR version = @ifVersion)`,
    ),
    list: db.prepare(
      `SELECT key, value, version, expires_at FROM records
         WHERE collection = @collection AND key > @after AND ${LIVE}
         ORDER BY key LIMIT @limit`,
    ),
    deleteExpired: db.prepare(
      `DELETE FROM records WHERE (collection, key) IN (
         SELECT collection, key FROM records WHERE expires_at <= @now ORDER BY expires_at LIMIT @limit)`,
    ),
  };
}

function present(row: Row): StoredRecord {
  return {
    key: row.key,
    value: JSON.parse(row.value) as RecordValue,
    version: row.version,
    expiresAt: row.expires_at,
  };
}
