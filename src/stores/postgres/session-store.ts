import type { Pool } from 'pg';
import {
  applyInOrder,
  GroupCommit,
  outboxInstance,
  type QueuedUpdate,
  readClock,
  type UpdateOutcome,
} from '../../core/backend-kit.js';
import {
  type Activity,
  type ArchiveSink,
  ConfigError,
  createCodec,
  createdEvent,
  type EventStamp,
  expiredEvent,
  type LeaseOutcome,
  type OutboxEvent,
  type OutboxOptions,
  type PatchOperation,
  type PoolStats,
  type RenameOptions,
  renamedEvent,
  renamedSession,
  revokedEvent,
  type ScanPage,
  type Session,
  type SessionCodec,
  SessionExistsError,
  type SessionStore,
  type UpdateOptions,
  updatedEvent,
  type WriteOptions,
} from '../../core/index.js';
import {
  createPool,
  inTransaction,
  type PoolSettings,
  poolStats,
  type Run,
  safeInteger,
  sqlStateOf,
  withConnection,
} from './connection.js';
import { loadPg } from './driver.js';
import { PostgresLease } from './lease.js';
import { PostgresOutbox } from './outbox.js';
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
  /**
   * Keep an outbox (`true` for the defaults) in `<table>_outbox`: each write
   * records its event in its own transaction.
   */
  outbox?: OutboxOptions | true;
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
  /** Read only by a store with an outbox. */
  event_sequence?: unknown;
}

/** What a delete with an outbox returns of each session it removed. */
interface Removed {
  id: string;
  user_id: string;
  event_sequence: unknown;
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
  readonly outbox?: PostgresOutbox;
  /** The instance events name; null without an outbox. */
  readonly #instance: string | null;
  readonly #pool: Pool;
  readonly #ownsPool: boolean;
  readonly #codec: SessionCodec;
  readonly #table: PostgresTable;
  readonly #sql;
  readonly #updates = new GroupCommit((id, batch) => this.#commit(id, batch));
  #closed = false;

  private constructor(
    pool: Pool,
    ownsPool: boolean,
    codec: SessionCodec,
    table: PostgresTable,
    instance: string | null,
  ) {
    this.#pool = pool;
    this.#ownsPool = ownsPool;
    this.#codec = codec;
    this.#table = table;
    this.#instance = instance;
    // Without an outbox the statements are the ones of a store that never had one.
    this.#sql = statements(table, instance !== null);
    if (instance !== null) this.outbox = new PostgresOutbox(pool, table);
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
    return new PostgresStore(
      pool,
      !options.pool,
      options.codec ?? createCodec(),
      table,
      outboxInstance(options.outbox),
    );
  }

  async create(session: Session, options?: WriteOptions): Promise<void> {
    const stamp = this.#stamp(options, session.createdAt, 0);
    const values = this.#values(session);
    if (this.#instance !== null) values.push(stamp?.sequence ?? 0);
    if (!stamp) await existsOnConflict(this.#query(this.#sql.insert, values));
    else
      await inTransaction(this.#pool, async (run) => {
        await existsOnConflict(run(this.#sql.insert, values));
        await this.#record(run, [createdEvent(session, stamp)]);
      });
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
        const values = [id, encoded, session.version, session.lastActiveAt, session.idleExpiresAt];
        if (this.#instance === null) await run(this.#sql.updateData, values);
        else {
          const events = this.#updatedEvents(rows[0] as Row, batch, outcomes);
          await run(this.#sql.updateData, [
            ...values,
            events.at(-1)?.sequence ?? rows[0]?.event_sequence,
          ]);
          await this.#record(run, events);
        }
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
      const row = rows[0];
      if (!row) return null;
      const next = renamedSession(this.#toSession(row), toId, activity);
      // Data is re-encoded because an encrypting codec binds it to the record id.
      const values: unknown[] = [
        fromId,
        toId,
        this.#encode(next),
        next.lastActiveAt,
        next.idleExpiresAt,
      ];
      const stamp = this.#stamp(options, activity.now, row.event_sequence);
      if (this.#instance !== null) values.push(stamp?.sequence ?? row.event_sequence);
      await existsOnConflict(run(this.#sql.rename, values));
      // In the same transaction: the old id is an alias the moment it stops being a session.
      if (aliasUntil !== undefined && aliasUntil > activity.now) {
        await run(this.#sql.putAlias, [fromId, toId, aliasUntil]);
      }
      if (stamp) await this.#record(run, [renamedEvent(next, fromId, aliasUntil, stamp)]);
      return next;
    });
  }

  async resolveAlias(id: string, now: number): Promise<string | null> {
    const { rows } = await withConnection(this.#pool, (run) =>
      run<{ to_id: string }>(this.#sql.selectAlias, [id, now]),
    );
    return rows[0]?.to_id ?? null;
  }

  async delete(id: string, options?: WriteOptions): Promise<boolean> {
    if (this.#instance === null) {
      const { rowCount } = await this.#query(this.#sql.delete, [id]);
      return (rowCount ?? 0) > 0;
    }
    const removed = await this.#deleteRecordingRevoked(this.#sql.delete, [id], options);
    return removed.length > 0;
  }

  async listByUser(userId: string, now: number): Promise<Session[]> {
    const { rows } = await this.#query(this.#sql.selectByUser, [userId, now]);
    return rows.map((row) => this.#toSession(row));
  }

  async deleteByUser(userId: string, exceptId?: string, options?: WriteOptions): Promise<string[]> {
    const values = [userId, exceptId ?? null];
    const rows =
      this.#instance === null
        ? (await this.#query(this.#sql.deleteByUser, values)).rows
        : await this.#deleteRecordingRevoked(this.#sql.deleteByUser, values, options);
    return rows.map((row) => row.id);
  }

  /** Runs a delete that returns what it removed, and records a session.revoked for each in its transaction. */
  #deleteRecordingRevoked(
    text: string,
    values: unknown[],
    options: WriteOptions | undefined,
  ): Promise<Removed[]> {
    return inTransaction(this.#pool, async (run) => {
      const { rows } = await run<Removed>(text, values);
      const time = options?.at ?? Date.now();
      const events: OutboxEvent[] = [];
      for (const row of rows) {
        const stamp = this.#stamp(options, time, row.event_sequence);
        if (stamp) events.push(revokedEvent({ id: row.id, userId: row.user_id }, stamp));
      }
      await this.#record(run, events);
      return rows;
    });
  }

  async sweepExpired(now: number, limit: number, archive?: ArchiveSink): Promise<Session[]> {
    await this.#query(this.#sql.deleteExpiredAliases, [now]);
    const { rows } = await this.#query(this.#sql.selectExpired, [now, limit]);
    const expired = rows.map((row) => this.#toSession(row));
    if (expired.length === 0) return [];
    if (archive) await archive(expired);
    // Only those still expired: one touched while the archive ran stays.
    const values = [expired.map((session) => session.id), now];
    const deleted =
      this.#instance === null
        ? (await this.#query(this.#sql.deleteExpired, values)).rows
        : await inTransaction(this.#pool, async (run) => {
            const { rows } = await run<Removed>(this.#sql.deleteExpired, values);
            const sequences = new Map(rows.map((row) => [row.id, row.event_sequence]));
            const events: OutboxEvent[] = [];
            for (const session of expired) {
              const stamp =
                sequences.has(session.id) && this.#stamp(undefined, now, sequences.get(session.id));
              if (stamp) events.push(expiredEvent(session, stamp));
            }
            await this.#record(run, events);
            return rows;
          });
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

  /**
   * The stamp of a write's event, one past the session's `previous` count;
   * null when the write records none (no outbox, or a silent write).
   */
  #stamp(options: WriteOptions | undefined, time: number, previous: unknown): EventStamp | null {
    if (this.#instance === null || options?.silent) return null;
    const sequence = safeInteger(previous ?? 0) + 1;
    return { instance: this.#instance, time, sequence, cause: options?.cause, codec: this.#codec };
  }

  /** The events of a batch's updates that applied, numbered on from the stored count. */
  #updatedEvents(
    stored: Row,
    batch: readonly QueuedUpdate[],
    outcomes: readonly UpdateOutcome[],
  ): OutboxEvent[] {
    let sequence = safeInteger(stored.event_sequence ?? 0);
    const events: OutboxEvent[] = [];
    for (const [i, outcome] of outcomes.entries()) {
      if (!('session' in outcome)) continue;
      const { ops, options } = batch[i] as QueuedUpdate;
      const stamp = this.#stamp(options, options.now, sequence);
      if (!stamp) continue;
      sequence = stamp.sequence;
      events.push(updatedEvent(outcome.session, ops, stamp));
    }
    return events;
  }

  #record(run: Run, events: readonly OutboxEvent[]): Promise<void> {
    return this.outbox?.record(run, events) ?? Promise.resolve();
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

/**
 * The store's statements; `counted` (a store with an outbox) adds the
 * session's `event_sequence` to those that write a session or lock one to
 * change it, as their last parameter, and makes the deletes return it.
 */
function statements(t: PostgresTable, counted: boolean) {
  const sequence = (sql: string) => (counted ? sql : '');
  return {
    insert: `INSERT INTO ${t.sessions} (${COLUMNS}${sequence(', event_sequence')})
      VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11${sequence(', $12')})`,
    selectLive: `SELECT ${COLUMNS} FROM ${t.sessions} WHERE id = $1 AND expires_at > $2`,
    selectLiveForUpdate: `SELECT ${COLUMNS}${sequence(', event_sequence')} FROM ${t.sessions} WHERE id = $1 AND expires_at > $2 FOR UPDATE`,
    updateData: `UPDATE ${t.sessions} SET data = $2, version = $3, last_active_at = $4, idle_expires_at = $5${sequence(', event_sequence = $6')}
      WHERE id = $1`,
    touch: `UPDATE ${t.sessions} SET last_active_at = greatest(last_active_at, $2),
      idle_expires_at = greatest(idle_expires_at, $3) WHERE id = $1 AND expires_at > $2`,
    rename: `UPDATE ${t.sessions} SET id = $2, data = $3, last_active_at = $4, idle_expires_at = $5,
      token_issued_at = $4${sequence(', event_sequence = $6')} WHERE id = $1`,
    putAlias: `INSERT INTO ${t.aliases} (from_id, to_id, expires_at) VALUES ($1, $2, $3)
      ON CONFLICT (from_id) DO UPDATE SET to_id = excluded.to_id, expires_at = excluded.expires_at`,
    selectAlias: `SELECT to_id FROM ${t.aliases} WHERE from_id = $1 AND expires_at > $2`,
    deleteExpiredAliases: `DELETE FROM ${t.aliases} WHERE expires_at <= $1`,
    delete: `DELETE FROM ${t.sessions} WHERE id = $1${sequence(' RETURNING id, user_id, event_sequence')}`,
    selectByUser: `SELECT ${COLUMNS} FROM ${t.sessions} WHERE user_id = $1 AND expires_at > $2
      ORDER BY created_at DESC, id`,
    deleteByUser: `DELETE FROM ${t.sessions} WHERE user_id = $1 AND id IS DISTINCT FROM $2
      RETURNING id${sequence(', user_id, event_sequence')}`,
    selectExpired: `SELECT ${COLUMNS} FROM ${t.sessions} WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2`,
    scan: `SELECT ${COLUMNS} FROM ${t.sessions} WHERE id > $1 AND expires_at > $2 ORDER BY id LIMIT $3`,
    deleteExpired: `DELETE FROM ${t.sessions} WHERE id = ANY($1::text[]) AND expires_at <= $2
      RETURNING id${sequence(', event_sequence')}`,
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
