import type { Pool } from 'pg';
import {
  applyInOrder,
  GroupCommit,
  type QueuedUpdate,
  readClock,
  type UpdateOutcome,
} from '../../core/backend-kit.js';
import {
  type Activity,
  type ArchiveSink,
  ConfigError,
  createCodec,
  DecodeError,
  type LeaseOutcome,
  type PatchOperation,
  type PoolStats,
  type RenameOptions,
  renamedSession,
  type ScanPage,
  type Session,
  type SessionCodec,
  SessionExistsError,
  type SessionStore,
  type UpdateOptions,
} from '../../core/index.js';
import {
  createPool,
  inTransaction,
  type PoolSettings,
  poolStats,
  sqlStateOf,
  withConnection,
} from './connection.js';
import { loadPg } from './driver.js';
import { PostgresLease } from './lease.js';
import { migrate, type PostgresTable, postgresTable } from './schema.js';

export interface PostgresStoreOptions extends Omit<PoolSettings, 'connectionString'> {
  /** `postgres://user:password@host:5432/database`. Give this or `pool`. */
  connectionString?: string;
  /** A pool you own and configure, timeouts included; `close()` leaves it open. */
  pool?: Pool;
  /** An existing schema to keep the table in. Default `public`. */
  schema?: string;
  /** Default `clawsession_sessions`; `<table>_migrations` records its schema version. */
  table?: string;
  codec?: SessionCodec;
  /** Longest a statement may run, lock waits included, in ms. Default 5000. */
  statementTimeout?: number;
}

interface Row {
  id: string;
  user_id: string;
  data: Uint8Array;
  version: unknown;
  created_at: unknown;
  last_active_at: unknown;
  idle_expires_at: unknown;
  absolute_expires_at: unknown;
  token_issued_at: unknown;
  ip: string | null;
  user_agent: string | null;
}

const COLUMNS =
  'id, user_id, data, version, created_at, last_active_at, idle_expires_at, absolute_expires_at, token_issued_at, ip, user_agent';

const UNIQUE_VIOLATION = '23505';

/**
 * Sessions in one PostgreSQL table, shared by every instance of a service.
 * Changes to a record happen in one statement or in one transaction that
 * holds the row lock, so instances never lose each other's writes.
 */
export class PostgresStore implements SessionStore {
  readonly #pool: Pool;
  readonly #ownsPool: boolean;
  readonly #codec: SessionCodec;
  readonly #table: PostgresTable;
  readonly #sql;
  readonly #updates = new GroupCommit((id, batch) => this.#commit(id, batch));
  #closed = false;

  private constructor(pool: Pool, ownsPool: boolean, codec: SessionCodec, table: PostgresTable) {
    this.#pool = pool;
    this.#ownsPool = ownsPool;
    this.#codec = codec;
    this.#table = table;
    this.#sql = statements(table);
  }

  /** Connects, creates or migrates the table, and resolves once the store is ready. */
  static async connect(options: PostgresStoreOptions): Promise<PostgresStore> {
    if ((options.connectionString === undefined) === (options.pool === undefined))
      throw new ConfigError('a postgres store needs exactly one of connectionString or pool');
    await loadPg();
    const table = postgresTable(
      options.schema ?? 'public',
      options.table ?? 'clawsession_sessions',
    );
    const pool =
      options.pool ?? createPool(options, { idleInTransaction: true, purpose: 'sessions' });
    try {
      await migrate(pool, table);
    } catch (error) {
      if (!options.pool) await pool.end().catch(() => undefined);
      throw error;
    }
    return new PostgresStore(pool, !options.pool, options.codec ?? createCodec(), table);
  }

  async create(session: Session): Promise<void> {
    await existsOnConflict(this.#query(this.#sql.insert, this.#values(session)));
  }

  async get(id: string, now: number): Promise<Session | null> {
    const { rows } = await this.#query(this.#sql.selectLive, [id, now]);
    return rows[0] ? this.#toSession(rows[0]) : null;
  }

  /**
   * Updates of one session from this process go in batches (`GroupCommit`):
   * one transaction locks the row, applies the batch in order and writes it
   * once, so a hot session costs one transaction per batch, and holds one
   * pooled connection rather than one per update waiting on the row lock.
   */
  update(id: string, ops: readonly PatchOperation[], options: UpdateOptions): Promise<Session> {
    return this.#updates.update(id, ops, options);
  }

  #commit(id: string, batch: readonly QueuedUpdate[]): Promise<UpdateOutcome[]> {
    return inTransaction(this.#pool, async (run) => {
      // FOR UPDATE holds the row until COMMIT: a concurrent update, from any process, waits here.
      const { rows } = await run<Row>(this.#sql.selectLiveForUpdate, [id, readClock(batch)]);
      const stored = rows[0] ? this.#toSession(rows[0]) : null;
      const { outcomes, written } = applyInOrder(stored, batch, (session) => this.#encode(session));
      if (written) {
        const { session, encoded } = written;
        await run(this.#sql.updateData, [
          id,
          encoded,
          session.version,
          session.lastActiveAt,
          session.idleExpiresAt,
        ]);
      }
      return outcomes;
    });
  }

  async touch(id: string, activity: Activity): Promise<boolean> {
    const { rowCount } = await this.#query(this.#sql.touch, [
      id,
      activity.now,
      activity.idleExpiresAt,
    ]);
    return (rowCount ?? 0) > 0;
  }

  async rename(
    fromId: string,
    toId: string,
    activity: Activity,
    options: RenameOptions = {},
  ): Promise<Session | null> {
    const { aliasUntil } = options;
    return inTransaction(this.#pool, async (run) => {
      const { rows } = await run<Row>(this.#sql.selectLiveForUpdate, [fromId, activity.now]);
      if (!rows[0]) return null;
      const next = renamedSession(this.#toSession(rows[0]), toId, activity);
      // Data is re-encoded because an encrypting codec binds it to the record id.
      await existsOnConflict(
        run(this.#sql.rename, [
          fromId,
          toId,
          this.#encode(next),
          next.lastActiveAt,
          next.idleExpiresAt,
        ]),
      );
      // In the same transaction: the old id is an alias the moment it stops being a session.
      if (aliasUntil !== undefined && aliasUntil > activity.now) {
        await run(this.#sql.putAlias, [fromId, toId, aliasUntil]);
      }
      return next;
    });
  }

  async resolveAlias(id: string, now: number): Promise<string | null> {
    const { rows } = await withConnection(this.#pool, (run) =>
      run<{ to_id: string }>(this.#sql.selectAlias, [id, now]),
    );
    return rows[0]?.to_id ?? null;
  }

  async delete(id: string): Promise<boolean> {
    const { rowCount } = await this.#query(this.#sql.delete, [id]);
    return (rowCount ?? 0) > 0;
  }

  async listByUser(userId: string, now: number): Promise<Session[]> {
    const { rows } = await this.#query(this.#sql.selectByUser, [userId, now]);
    return rows.map((row) => this.#toSession(row));
  }

  async deleteByUser(userId: string, exceptId?: string): Promise<string[]> {
    const { rows } = await this.#query(this.#sql.deleteByUser, [userId, exceptId ?? null]);
    return rows.map((row) => row.id);
  }

  async sweepExpired(now: number, limit: number, archive?: ArchiveSink): Promise<Session[]> {
    await this.#query(this.#sql.deleteExpiredAliases, [now]);
    const { rows } = await this.#query(this.#sql.selectExpired, [now, limit]);
    const expired = rows.map((row) => this.#toSession(row));
    if (expired.length === 0) return [];
    if (archive) await archive(expired);
    // Only those still expired: one touched while the archive ran stays.
    const { rows: deleted } = await this.#query(this.#sql.deleteExpired, [
      expired.map((session) => session.id),
      now,
    ]);
    const gone = new Set(deleted.map((row) => row.id));
    return expired.filter((session) => gone.has(session.id));
  }

  async scan(cursor: string | null, limit: number, now: number): Promise<ScanPage> {
    const { rows } = await this.#query(this.#sql.scan, [cursor ?? '', now, limit + 1]);
    const page = rows.slice(0, limit);
    return {
      sessions: page.map((row) => this.#toSession(row)),
      cursor: rows.length > limit ? (page.at(-1)?.id ?? null) : null,
    };
  }

  /** One COUNT on the indexed expiry column. */
  async countLive(now: number): Promise<number> {
    const { rows } = await withConnection(this.#pool, (run) =>
      run<{ live: unknown }>(this.#sql.countLive, [now]),
    );
    return safeInteger(rows[0]?.live);
  }

  /**
   * Runs `fn` if no other instance is sweeping this table, else returns
   * `{ acquired: false }` at once. See `PostgresLease`: a holder that dies
   * frees it with its connection.
   */
  withSweepLock<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<LeaseOutcome<T>> {
    return new PostgresLease({ pool: this.#pool }).run(`sweep:${this.#table.sessions}`, fn);
  }

  /** The pool's connections and waiting requests; undefined for a pool that was given. */
  poolStats(): PoolStats | undefined {
    return poolStats(this.#pool);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#ownsPool) await this.#pool.end();
  }

  #query(text: string, values: unknown[]) {
    return withConnection(this.#pool, (run) => run<Row>(text, values));
  }

  #encode(session: Session): Buffer {
    const bytes = this.#codec.encode(session.id, session.data);
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  #values(session: Session): unknown[] {
    return [
      session.id,
      session.userId,
      this.#encode(session),
      session.version,
      session.createdAt,
      session.lastActiveAt,
      session.idleExpiresAt,
      session.absoluteExpiresAt,
      session.tokenIssuedAt,
      session.ip,
      session.userAgent,
    ];
  }

  #toSession(row: Row): Session {
    return {
      id: row.id,
      userId: row.user_id,
      data: this.#codec.decode(row.id, row.data),
      version: safeInteger(row.version),
      createdAt: safeInteger(row.created_at),
      lastActiveAt: safeInteger(row.last_active_at),
      idleExpiresAt: safeInteger(row.idle_expires_at),
      absoluteExpiresAt: safeInteger(row.absolute_expires_at),
      tokenIssuedAt: safeInteger(row.token_issued_at),
      ip: row.ip,
      userAgent: row.user_agent,
    };
  }
}

function statements(t: PostgresTable) {
  return {
    insert: `INSERT INTO ${t.sessions} (${COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
    selectLive: `SELECT ${COLUMNS} FROM ${t.sessions} WHERE id = $1 AND expires_at > $2`,
    selectLiveForUpdate: `SELECT ${COLUMNS} FROM ${t.sessions} WHERE id = $1 AND expires_at > $2 FOR UPDATE`,
    updateData: `UPDATE ${t.sessions} SET data = $2, version = $3, last_active_at = $4, idle_expires_at = $5
      WHERE id = $1`,
    touch: `UPDATE ${t.sessions} SET last_active_at = greatest(last_active_at, $2),
      idle_expires_at = greatest(idle_expires_at, $3) WHERE id = $1 AND expires_at > $2`,
    rename: `UPDATE ${t.sessions} SET id = $2, data = $3, last_active_at = $4, idle_expires_at = $5,
      token_issued_at = $4 WHERE id = $1`,
    putAlias: `INSERT INTO ${t.aliases} (from_id, to_id, expires_at) VALUES ($1, $2, $3)
      ON CONFLICT (from_id) DO UPDATE SET to_id = excluded.to_id, expires_at = excluded.expires_at`,
    selectAlias: `SELECT to_id FROM ${t.aliases} WHERE from_id = $1 AND expires_at > $2`,
    deleteExpiredAliases: `DELETE FROM ${t.aliases} WHERE expires_at <= $1`,
    delete: `DELETE FROM ${t.sessions} WHERE id = $1`,
    selectByUser: `SELECT ${COLUMNS} FROM ${t.sessions} WHERE user_id = $1 AND expires_at > $2
      ORDER BY created_at DESC, id`,
    deleteByUser: `DELETE FROM ${t.sessions} WHERE user_id = $1 AND id IS DISTINCT FROM $2 RETURNING id`,
    selectExpired: `SELECT ${COLUMNS} FROM ${t.sessions} WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2`,
    scan: `SELECT ${COLUMNS} FROM ${t.sessions} WHERE id > $1 AND expires_at > $2 ORDER BY id LIMIT $3`,
    deleteExpired: `DELETE FROM ${t.sessions} WHERE id = ANY($1::text[]) AND expires_at <= $2 RETURNING id`,
    countLive: `SELECT count(*) AS live FROM ${t.sessions} WHERE expires_at > $1`,
  };
}

async function existsOnConflict<T>(statement: Promise<T>): Promise<T> {
  try {
    return await statement;
  } catch (error) {
    throw sqlStateOf(error) === UNIQUE_VIOLATION ? new SessionExistsError() : error;
  }
}

/** bigint columns arrive as strings (or numbers or bigints, if the pool's parsers say so). */
function safeInteger(value: unknown): number {
  const number = Number(value);
  if (!Number.isSafeInteger(number))
    throw new DecodeError(`stored integer ${String(value)} is out of range`);
  return number;
}
