import type Database from 'better-sqlite3';
import { importDriver, requireDriver } from '../../core/backend-kit.js';

export type SqliteDriver = typeof Database;

let driver: SqliteDriver | undefined;

/** better-sqlite3, imported when the first SQLite store opens from a URL and kept for every later one. */
export async function loadSqlite(): Promise<SqliteDriver> {
  driver ??= (await importDriver('sqlite', 'better-sqlite3', () => import('better-sqlite3')))
    .default;
  return driver;
}

/**
 * The same module for `new SqliteStore(…)` and `new SqliteRecordStore(…)`,
 * which open their file in the constructor and so cannot await an import.
 * After `loadSqlite` it is the module already loaded.
 */
export function requireSqlite(): SqliteDriver {
  driver ??= requireDriver<SqliteDriver>('sqlite', 'better-sqlite3');
  return driver;
}
