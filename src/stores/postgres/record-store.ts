import type { Pool } from 'pg';
import {
  assertIfVersion,
  assertLimit,
  assertListOptions,
  assertName,
  assertNow,
  assertPutOptions,
  encodeValue,
} from '../../core/backend-kit.js';
import {
  ConfigError,
  DecodeError,
  type PutOptions,
  type RecordStore,
  type RecordValue,
  type StoredRecord,
} from '../../core/index.js';
import {
  advisoryKey,
  createPool,
  inTransaction,
  type PoolSettings,
  withConnection,
} from './connection.js';
import { loadPg } from './driver.js';
import { postgresTable } from './schema.js';

export interface PostgresRecordStoreOptions extends Omit<PoolSettings, 'connectionString'> {
  /** `postgres://user:password@host:5432/database`. Give this or `pool`. */
  connectionString?: string;
  /** A pool you own and configure, timeouts included; `close()` leaves it open. */
  pool?: Pool;
  /** The schema to keep the table in, created if missing. Default `public`. */
  schema?: string;
  /** Default `clawsession_records`. */
  table?: string;
  /** Longest a statement may run, lock waits included, in ms. Default 5000. */
  statementTimeout?: number;
}

interface Row {
  key: string;
  value: string;
  version: unknown;
  expires_at: unknown;
}

/**
 * Records in one PostgreSQL table, shared by every instance. Each call is one
 * statement, so a compare-and-set is decided under the row's lock and
 * concurrent writers from any process never lose each other's writes.
 */
export class PostgresRecordStore implements RecordStore {
  readonly #pool: Pool;
  readonly #ownsPool: boolean;
  readonly #sql;
  #closed = false;

  private constructor(pool: Pool, ownsPool: boolean, table: string) {
    this.#pool = pool;
    this.#ownsPool = ownsPool;
    this.#sql = statements(table);
  }

  /** Connects, creates the table if missing, and resolves once the store is ready. */
  static async connect(options: PostgresRecordStoreOptions): Promise<PostgresRecordStore> {
    if ((options.connectionString === undefined) === (options.pool === undefined))
      throw new ConfigError(
        'a postgres record store needs exactly one of connectionString or pool',
      );
    await loadPg();
    // The session table's naming rules, and its `<table>_by_expiry` index name.
    const names = postgresTable(options.schema ?? 'public', options.table ?? 'clawsession_records');
    const pool =
      options.pool ?? createPool(options, { idleInTransaction: false, purpose: 'records' });
    try {
      await createTable(pool, names.schema, names.sessions, names.byExpiry);
    } catch (error) {
      if (!options.pool) await pool.end().catch(() => undefined);
      throw error;
    }
    return new PostgresRecordStore(pool, !options.pool, names.sessions);
  }

  async get(collection: string, key: string, now: number): Promise<StoredRecord | null> {
    assertName('collection', collection);
    assertName('key', key);
    assertNow(now);
    const { rows } = await this.#query(this.#sql.selectLive, [collection, key, now]);
    return rows[0] ? present(rows[0]) : null;
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
    const { now, ifVersion } = options;
    const expiresAt = options.expiresAt ?? null;
    // At version n the record must exist, so a plain UPDATE decides; an upsert could create it.
    const { rows } =
      ifVersion === undefined || ifVersion === 0
        ? await this.#query(this.#sql.upsert, [
            collection,
            key,
            json,
            expiresAt,
            now,
            ifVersion === 0,
          ])
        : await this.#query(this.#sql.updateAtVersion, [
            collection,
            key,
            json,
            expiresAt,
            now,
            ifVersion,
          ]);
    return rows[0] ? integer(rows[0].version) : null;
  }

  async delete(
    collection: string,
    key: string,
    options: { ifVersion?: number } = {},
  ): Promise<boolean> {
    assertName('collection', collection);
    assertName('key', key);
    assertIfVersion(options.ifVersion);
    const { rowCount } = await this.#query(this.#sql.delete, [
      collection,
      key,
      options.ifVersion ?? null,
    ]);
    return (rowCount ?? 0) > 0;
  }

  async list(
    collection: string,
    options: { now: number; after?: string; limit: number },
  ): Promise<StoredRecord[]> {
    assertName('collection', collection);
    assertListOptions(options);
    const { rows } = await this.#query(this.#sql.list, [
      collection,
      // Keys are never empty, so every key sorts after ''.
      options.after ?? '',
      options.now,
      options.limit,
    ]);
    return rows.map(present);
  }

  async sweepExpired(now: number, limit: number): Promise<number> {
    assertNow(now);
    assertLimit(limit);
    const { rowCount } = await this.#query(this.#sql.deleteExpired, [now, limit]);
    return rowCount ?? 0;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#ownsPool) await this.#pool.end();
  }

  #query(text: string, values: unknown[]) {
    return withConnection(this.#pool, (run) => run<Row>(text, values));
  }
}

/**
 * Creates the schema, table and index if missing. The transaction-level
 * advisory lock makes instances that start together take turns, since
 * concurrent `CREATE … IF NOT EXISTS` can still collide in the catalog.
 */
async function createTable(pool: Pool, schema: string, table: string, byExpiry: string) {
  await inTransaction(pool, async (run) => {
    await run('SELECT pg_advisory_xact_lock($1::bigint)', [
      advisoryKey(`clawsession:migrate:${table}`),
    ]);
    await run(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    // COLLATE "C" compares bytes, so keys sort in the byte order of their UTF-8.
    await run(
      `CREATE TABLE IF NOT EXISTS ${table} (
         collection text COLLATE "C" NOT NULL,
         key text COLLATE "C" NOT NULL,
         value text NOT NULL,
         version bigint NOT NULL,
         expires_at bigint,
         PRIMARY KEY (collection, key)
       )`,
    );
    await run(`CREATE INDEX IF NOT EXISTS ${byExpiry} ON ${table} (expires_at)`);
  });
}

function statements(t: string) {
  const live = (row: string) => `(${row}.expires_at IS NULL OR ${row}.expires_at > $5)`;
  return {
    selectLive: `SELECT key, value, version, expires_at FROM ${t}
      WHERE collection = $1 AND key = $2 AND (expires_at IS NULL OR expires_at > $3)`,
    // $6: only if absent (ifVersion 0). An expired row counts as absent and restarts at 1.
    upsert: `INSERT INTO ${t} AS r (collection, key, value, version, expires_at)
      VALUES ($1, $2, $3, 1, $4)
      ON CONFLICT (collection, key) DO UPDATE SET
        value = excluded.value,
        expires_at = excluded.expires_at,
        version = CASE WHEN ${live('r')} THEN r.version + 1 ELSE 1 END
      WHERE NOT ($6::boolean AND ${live('r')})
      RETURNING version`,
    updateAtVersion: `UPDATE ${t} r SET value = $3, expires_at = $4, version = version + 1
      WHERE collection = $1 AND key = $2 AND version = $6 AND ${live('r')}
      RETURNING version`,
    delete: `DELETE FROM ${t} WHERE collection = $1 AND key = $2
      AND ($3::bigint IS NULL OR version = $3)`,
    list: `SELECT key, value, version, expires_at FROM ${t}
      WHERE collection = $1 AND key > $2 AND (expires_at IS NULL OR expires_at > $3)
      ORDER BY key LIMIT $4`,
    deleteExpired: `DELETE FROM ${t} WHERE (collection, key) IN (
      SELECT collection, key FROM ${t} WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2
      FOR UPDATE SKIP LOCKED)`,
  };
}

function present(row: Row): StoredRecord {
  return {
    key: row.key,
    value: JSON.parse(row.value) as RecordValue,
    version: integer(row.version),
    expiresAt: row.expires_at === null ? null : integer(row.expires_at),
  };
}

/** bigint columns arrive as strings (or numbers or bigints, if the pool's parsers say so). */
function integer(value: unknown): number {
  const number = Number(value);
  if (!Number.isSafeInteger(number))
    throw new DecodeError(`stored integer ${String(value)} is out of range`);
  return number;
}
