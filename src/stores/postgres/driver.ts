import { importDriver, requireDriver } from '../../core/backend-kit.js';

export type PgDriver = typeof import('pg');

let driver: PgDriver | undefined;

/** node-postgres, imported when the first PostgreSQL store, lease or bus opens and kept for every later one. */
export async function loadPg(): Promise<PgDriver> {
  driver ??= await importDriver('postgres', 'pg', () => import('pg'));
  return driver;
}

/**
 * The same module for the synchronous steps: `createPool`, and quoting names
 * in `postgresNames` and the rate limiter's constructor, which cannot await
 * an import. After `loadPg` it is the module already loaded.
 */
export function requirePg(): PgDriver {
  driver ??= requireDriver<PgDriver>('postgres', 'pg');
  return driver;
}
