import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type Database from 'better-sqlite3';
import { outboxInstance } from '../../core/backend-kit.js';
import {
  type Activity,
  type ArchiveSink,
  createCodec,
  createdEvent,
  type EventStamp,
  expiredEvent,
  type OutboxEvent,
  type OutboxOptions,
  type PatchOperation,
  type RenameOptions,
  renamedEvent,
  renamedSession,
  revokedEvent,
  type ScanPage,
  type Session,
  type SessionCodec,
  SessionExistsError,
  SessionNotFoundError,
  type SessionStore,
  type UpdateOptions,
  updatedEvent,
  updatedSession,
  type WriteOptions,
} from '../../core/index.js';
import { requireSqlite } from './driver.js';
import { OUTBOX_SCHEMA, SqliteOutbox } from './outbox.js';

export interface SqliteStoreOptions {
  /** Database file, created with its folder if missing; `:memory:` for a private in-memory database. */
  filename: string;
  codec?: SessionCodec;
  /**
   * `normal` (default) survives a process crash with every committed write;
   * `full` also survives power loss, at the cost of an fsync per write.
   */
  synchronous?: 'normal' | 'full';
  /** How long a writer waits for another process's lock, in ms. Default 5000. */
  busyTimeout?: number;
  /** Keep an outbox (`true` for the defaults): each write records its event in its transaction. */
  outbox?: OutboxOptions | true;
}

/** Each entry moves the schema one version forward; `PRAGMA user_version` records where a file is. */
const MIGRATIONS = [
  `CREATE TABLE sessions (
     id TEXT PRIMARY KEY NOT NULL,
     user_id TEXT NOT NULL,
     data BLOB NOT NULL,
     version INTEGER NOT NULL,
     created_at INTEGER NOT NULL,
     last_active_at INTEGER NOT NULL,
     idle_expires_at INTEGER NOT NULL,
     absolute_expires_at INTEGER NOT NULL,
     expires_at INTEGER GENERATED ALWAYS AS (min(idle_expires_at, absolute_expires_at)) VIRTUAL,
     ip TEXT,
     user_agent TEXT
   ) STRICT, WITHOUT ROWID;
   CREATE INDEX sessions_by_user ON sessions (user_id, created_at);
   CREATE INDEX sessions_by_expiry ON sessions (expires_at);`,
  // 2: when each token was issued (rotation), and the aliases of rotated-away ids.
  `ALTER TABLE sessions ADD COLUMN token_issued_at INTEGER NOT NULL DEFAULT 0;
   UPDATE sessions SET token_issued_at = created_at;
   CREATE TABLE session_aliases (
     from_id TEXT PRIMARY KEY NOT NULL,
     to_id TEXT NOT NULL,
     expires_at INTEGER NOT NULL
   ) STRICT, WITHOUT ROWID;
   CREATE INDEX session_aliases_by_expiry ON session_aliases (expires_at);`,
  // 3: each session's count of events (OutboxEvent.sequence), and the transactional outbox.
  `ALTER TABLE sessions ADD COLUMN event_sequence INTEGER NOT NULL DEFAULT 0;
   ${OUTBOX_SCHEMA}`,
];

interface Row {
  id: string;
  user_id: string;
  data: Buffer;
  version: number;
  created_at: number;
  last_active_at: number;
  idle_expires_at: number;
  absolute_expires_at: number;
  token_issued_at: number;
  ip: string | null;
  user_agent: string | null;
  /** Read and written only by a store with an outbox (better-sqlite3 ignores an unused parameter). */
  event_sequence?: number;
}

/** What a delete with an outbox returns of each session it removed. */
interface Removed {
  id: string;
  user_id: string;
  event_sequence: number;
}

const COLUMNS =
  'id, user_id, data, version, created_at, last_active_at, idle_expires_at, absolute_expires_at, token_issued_at, ip, user_agent';

/**
 * The embedded default: one SQLite file in WAL mode, safe to share between
 * processes on one machine. Every update is one immediate transaction.
 */
export class SqliteStore implements SessionStore {
  readonly outbox?: SqliteOutbox;
  /** The instance events name; null without an outbox. */
  readonly #instance: string | null;
  readonly #db: Database.Database;
  readonly #codec: SessionCodec;
  readonly #sql;

  constructor(options: SqliteStoreOptions) {
    if (options.filename !== ':memory:') mkdirSync(dirname(options.filename), { recursive: true });
    // By require: the constructor opens the file, synchronously.
    const Database = requireSqlite();
    this.#db = new Database(options.filename);
    this.#db.pragma('journal_mode = WAL');
    this.#db.pragma(`synchronous = ${options.synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
    this.#db.pragma(`busy_timeout = ${options.busyTimeout ?? 5000}`);
    migrate(this.#db);
    this.#codec = options.codec ?? createCodec();
    this.#instance = outboxInstance(options.outbox);
    // Without an outbox the statements are the ones of a store that never had one.
    this.#sql = prepareStatements(this.#db, this.#instance !== null);
    if (this.#instance !== null) this.outbox = new SqliteOutbox(this.#db);
  }

  async create(session: Session, options?: WriteOptions): Promise<void> {
    const stamp = this.#stamp(options, session.createdAt, 0);
    const row = this.#toRow(session, stamp?.sequence ?? 0);
    try {
      if (!stamp) this.#sql.insert.run(row);
      else
        this.#db.transaction(() => {
          this.#sql.insert.run(row);
          this.#record([createdEvent(session, stamp)]);
        })();
    } catch (error) {
      throw isPrimaryKeyConflict(error) ? new SessionExistsError() : error;
    }
  }

  async get(id: string, now: number): Promise<Session | null> {
    const row = this.#sql.selectLive.get(id, now) as Row | undefined;
    return row ? this.#toSession(row) : null;
  }

  async update(
    id: string,
    ops: readonly PatchOperation[],
    options: UpdateOptions,
  ): Promise<Session> {
    return this.#db
      .transaction(() => {
        const row = this.#sql.selectLive.get(id, options.now) as Row | undefined;
        if (!row) throw new SessionNotFoundError();
        const next = updatedSession(this.#toSession(row), ops, options);
        const stamp = this.#stamp(options, options.now, row.event_sequence);
        this.#sql.updateData.run(this.#toRow(next, stamp?.sequence ?? row.event_sequence));
        if (stamp) this.#record([updatedEvent(next, ops, stamp)]);
        return next;
      })
      .immediate();
  }

  async touch(id: string, activity: Activity): Promise<boolean> {
    return this.#sql.touch.run({ id, ...activity }).changes > 0;
  }

  async rename(
    fromId: string,
    toId: string,
    activity: Activity,
    options: RenameOptions = {},
  ): Promise<Session | null> {
    const { aliasUntil } = options;
    return this.#db
      .transaction(() => {
        const row = this.#sql.selectLive.get(fromId, activity.now) as Row | undefined;
        if (!row) return null;
        const next = renamedSession(this.#toSession(row), toId, activity);
        const stamp = this.#stamp(options, activity.now, row.event_sequence);
        const { data, event_sequence } = this.#toRow(next, stamp?.sequence ?? row.event_sequence);
        try {
          // Data is re-encoded because an encrypting codec binds it to the record id.
          this.#sql.rename.run({ fromId, toId, data, event_sequence, ...activity });
        } catch (error) {
          throw isPrimaryKeyConflict(error) ? new SessionExistsError() : error;
        }
        if (aliasUntil !== undefined && aliasUntil > activity.now) {
          this.#sql.putAlias.run({ fromId, toId, expiresAt: aliasUntil });
        }
        if (stamp) this.#record([renamedEvent(next, fromId, aliasUntil, stamp)]);
        return next;
      })
      .immediate();
  }

  async resolveAlias(id: string, now: number): Promise<string | null> {
    const row = this.#sql.selectAlias.get(id, now) as { to_id: string } | undefined;
    return row?.to_id ?? null;
  }

  async delete(id: string, options?: WriteOptions): Promise<boolean> {
    if (this.#instance === null) return this.#sql.delete.run(id).changes > 0;
    return this.#db.transaction(() => {
      const removed = this.#sql.delete.all(id) as Removed[];
      this.#recordRevoked(removed, options);
      return removed.length > 0;
    })();
  }

  async listByUser(userId: string, now: number): Promise<Session[]> {
    const rows = this.#sql.selectByUser.all(userId, now) as Row[];
    return rows.map((row) => this.#toSession(row));
  }

  async deleteByUser(userId: string, exceptId?: string, options?: WriteOptions): Promise<string[]> {
    const remove = () => this.#sql.deleteByUser.all(userId, exceptId ?? '') as Removed[];
    const rows =
      this.#instance === null
        ? remove()
        : this.#db.transaction(() => {
            const removed = remove();
            this.#recordRevoked(removed, options);
            return removed;
          })();
    return rows.map((row) => row.id);
  }

  async sweepExpired(now: number, limit: number, archive?: ArchiveSink): Promise<Session[]> {
    const rows = this.#sql.selectExpired.all(now, limit) as Row[];
    const expired = rows.map((row) => this.#toSession(row));
    if (archive && expired.length > 0) await archive(expired);
    this.#db.transaction(() => {
      const events: OutboxEvent[] = [];
      for (const session of expired) {
        if (this.#instance === null) {
          this.#sql.deleteExpired.run(session.id, now);
          continue;
        }
        // Only if still expired: one touched while the archive ran stays, and records nothing.
        const [removed] = this.#sql.deleteExpired.all(session.id, now) as Removed[];
        const stamp = removed && this.#stamp(undefined, now, removed.event_sequence);
        if (stamp) events.push(expiredEvent(session, stamp));
      }
      this.#sql.deleteExpiredAliases.run(now);
      this.#record(events);
    })();
    return expired;
  }

  async scan(cursor: string | null, limit: number, now: number): Promise<ScanPage> {
    const rows = this.#sql.scan.all(cursor ?? '', now, limit + 1) as Row[];
    const page = rows.slice(0, limit);
    return {
      sessions: page.map((row) => this.#toSession(row)),
      cursor: rows.length > limit ? (page.at(-1) as Row).id : null,
    };
  }

  /** One count over the expiry index. */
  async countLive(now: number): Promise<number> {
    return (this.#sql.countLive.get(now) as { live: number }).live;
  }

  async close(): Promise<void> {
    if (this.#db.open) this.#db.close();
  }

  /**
   * The stamp of a write's event, one past the session's `previous` count; null
   * when the write records none (no outbox, or a silent write).
   */
  #stamp(
    options: WriteOptions | undefined,
    time: number,
    previous: number | undefined,
  ): EventStamp | null {
    if (this.#instance === null || options?.silent) return null;
    return {
      instance: this.#instance,
      time,
      sequence: (previous ?? 0) + 1,
      cause: options?.cause,
      codec: this.#codec,
    };
  }

  #record(events: readonly OutboxEvent[]): void {
    if (events.length > 0) this.outbox?.record(events);
  }

  #recordRevoked(removed: readonly Removed[], options: WriteOptions | undefined): void {
    const time = options?.at ?? Date.now();
    const events: OutboxEvent[] = [];
    for (const row of removed) {
      const stamp = this.#stamp(options, time, row.event_sequence);
      if (stamp) events.push(revokedEvent({ id: row.id, userId: row.user_id }, stamp));
    }
    this.#record(events);
  }

  #toRow(session: Session, eventSequence?: number): Row {
    return {
      id: session.id,
      user_id: session.userId,
      data: Buffer.from(this.#codec.encode(session.id, session.data)),
      version: session.version,
      created_at: session.createdAt,
      last_active_at: session.lastActiveAt,
      idle_expires_at: session.idleExpiresAt,
      absolute_expires_at: session.absoluteExpiresAt,
      token_issued_at: session.tokenIssuedAt,
      ip: session.ip,
      user_agent: session.userAgent,
      event_sequence: eventSequence ?? 0,
    };
  }

  #toSession(row: Row): Session {
    return {
      id: row.id,
      userId: row.user_id,
      data: this.#codec.decode(row.id, row.data),
      version: row.version,
      createdAt: row.created_at,
      lastActiveAt: row.last_active_at,
      idleExpiresAt: row.idle_expires_at,
      absoluteExpiresAt: row.absolute_expires_at,
      tokenIssuedAt: row.token_issued_at,
      ip: row.ip,
      userAgent: row.user_agent,
    };
  }
}

function migrate(db: Database.Database): void {
  db.transaction(() => {
    const current = db.pragma('user_version', { simple: true }) as number;
    if (current > MIGRATIONS.length) {
      throw new Error(
        `database schema version ${current} is newer than this clawsession (${MIGRATIONS.length})`,
      );
    }
    for (const [index, sql] of MIGRATIONS.entries()) {
      if (index < current) continue;
      db.exec(sql);
      db.pragma(`user_version = ${index + 1}`);
    }
  }).immediate();
}

/**
 * The store's statements; `counted` (a store with an outbox) adds the
 * session's `event_sequence` to those that write a session or read one to
 * change it, and makes the deletes return it with each id.
 */
function prepareStatements(db: Database.Database, counted: boolean) {
  const sequence = (sql: string) => (counted ? sql : '');
  const removed = sequence(', user_id, event_sequence');
  return {
    insert: db.prepare(
      `INSERT INTO sessions (${COLUMNS}${sequence(', event_sequence')}) VALUES (@id, @user_id, @data,
         @version, @created_at, @last_active_at, @idle_expires_at, @absolute_expires_at,
         @token_issued_at, @ip, @user_agent${sequence(', @event_sequence')})`,
    ),
    selectLive: db.prepare(
      `SELECT ${COLUMNS}${sequence(', event_sequence')} FROM sessions WHERE id = ? AND expires_at > ?`,
    ),
    updateData: db.prepare(
      `UPDATE sessions SET data = @data, version = @version, last_active_at = @last_active_at,
         idle_expires_at = @idle_expires_at${sequence(', event_sequence = @event_sequence')} WHERE id = @id`,
    ),
    touch: db.prepare(
      `UPDATE sessions SET last_active_at = max(last_active_at, @now),
         idle_expires_at = max(idle_expires_at, @idleExpiresAt) WHERE id = @id AND expires_at > @now`,
    ),
    rename: db.prepare(
      `UPDATE sessions SET id = @toId, data = @data, last_active_at = @now,
         idle_expires_at = @idleExpiresAt, token_issued_at = @now${sequence(', event_sequence = @event_sequence')}
         WHERE id = @fromId`,
    ),
    putAlias: db.prepare(
      `INSERT INTO session_aliases (from_id, to_id, expires_at) VALUES (@fromId, @toId, @expiresAt)
         ON CONFLICT (from_id) DO UPDATE SET to_id = excluded.to_id, expires_at = excluded.expires_at`,
    ),
    selectAlias: db.prepare(
      'SELECT to_id FROM session_aliases WHERE from_id = ? AND expires_at > ?',
    ),
    deleteExpiredAliases: db.prepare('DELETE FROM session_aliases WHERE expires_at <= ?'),
    delete: db.prepare(
      `DELETE FROM sessions WHERE id = ?${sequence(' RETURNING id, user_id, event_sequence')}`,
    ),
    selectByUser: db.prepare(
      `SELECT ${COLUMNS} FROM sessions WHERE user_id = ? AND expires_at > ? ORDER BY created_at DESC, id`,
    ),
    deleteByUser: db.prepare(
      `DELETE FROM sessions WHERE user_id = ? AND id <> ? RETURNING id${removed}`,
    ),
    selectExpired: db.prepare(
      `SELECT ${COLUMNS} FROM sessions WHERE expires_at <= ? ORDER BY expires_at LIMIT ?`,
    ),
    deleteExpired: db.prepare(
      `DELETE FROM sessions WHERE id = ? AND expires_at <= ?${sequence(' RETURNING id, user_id, event_sequence')}`,
    ),
    scan: db.prepare(
      `SELECT ${COLUMNS} FROM sessions WHERE id > ? AND expires_at > ? ORDER BY id LIMIT ?`,
    ),
    countLive: db.prepare('SELECT count(*) AS live FROM sessions WHERE expires_at > ?'),
  };
}

function isPrimaryKeyConflict(error: unknown): boolean {
  return (
    error instanceof requireSqlite().SqliteError &&
    (error.code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || error.code === 'SQLITE_CONSTRAINT_UNIQUE')
  );
}
