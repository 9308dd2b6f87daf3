import type Database from 'better-sqlite3';
import {
  assertLimit,
  assertOutboxQuery,
  assertPosition,
  assertServiceEvents,
  assertTrim,
} from '../../core/backend-kit.js';
import type {
  EventType,
  Outbox,
  OutboxEvent,
  OutboxPage,
  OutboxQuery,
  OutboxRecord,
} from '../../core/index.js';

/** The outbox table and its audit-log indexes, created by the store's migration 3. */
export const OUTBOX_SCHEMA = `
  CREATE TABLE outbox (
    position INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL,
    type TEXT NOT NULL,
    time INTEGER NOT NULL,
    session_id TEXT,
    user_id TEXT,
    sequence INTEGER NOT NULL,
    instance TEXT NOT NULL,
    data TEXT NOT NULL,
    payload BLOB
  ) STRICT;
  CREATE INDEX outbox_by_user ON outbox (user_id, time);
  CREATE INDEX outbox_by_session ON outbox (session_id);
  CREATE INDEX outbox_by_time ON outbox (time);`;

interface Row {
  position: number;
  id: string;
  type: string;
  time: number;
  session_id: string | null;
  user_id: string | null;
  sequence: number;
  instance: string;
  data: string;
  payload: Uint8Array | null;
}

const COLUMNS = 'position, id, type, time, session_id, user_id, sequence, instance, data, payload';

/**
 * The SQLite store's outbox: rows of the `outbox` table in the store's file.
 * AUTOINCREMENT keeps a position from being handed out twice, even after
 * `trim` removed the newest row; and since SQLite has one writer at a time,
 * rows commit in position order, so a reader past a position never misses
 * one committed later.
 */
export class SqliteOutbox implements Outbox {
  readonly #db: Database.Database;
  readonly #sql;
  /** The query statements by the filters they take: a handful of shapes at most. */
  readonly #queries = new Map<string, Database.Statement>();

  constructor(db: Database.Database) {
    this.#db = db;
    this.#sql = prepareStatements(db);
  }

  /** Inserts `events` in order; the store calls it inside the transaction of its change. */
  record(events: readonly OutboxEvent[]): void {
    for (const event of events) {
      this.#sql.insert.run({
        id: event.id,
        type: event.type,
        time: event.time,
        session_id: event.sessionId,
        user_id: event.userId,
        sequence: event.sequence,
        instance: event.instance,
        data: JSON.stringify(event.data),
        payload: event.payload ?? null,
      });
    }
  }

  async append(events: readonly OutboxEvent[]): Promise<void> {
    assertServiceEvents(events);
    this.#db.transaction(() => this.record(events)).immediate();
  }

  async read(after: string | null, limit: number): Promise<OutboxRecord[]> {
    assertPosition(after);
    assertLimit(limit);
    return (this.#sql.read.all(after ?? '0', limit) as Row[]).map(toRecord);
  }

  async backlog(after: string | null): Promise<{ count: number; oldestTime: number | null }> {
    assertPosition(after);
    const row = this.#sql.backlog.get({ after: after ?? '0' }) as {
      count: number;
      oldest: number | null;
    };
    return { count: row.count, oldestTime: row.oldest };
  }

  async trim(before: number, limit: number): Promise<OutboxRecord[]> {
    assertTrim(before, limit);
    const rows = this.#sql.trim.all(before, limit) as Row[];
    // RETURNING promises no order.
    return rows.sort((a, b) => a.position - b.position).map(toRecord);
  }

  async query(filter: OutboxQuery): Promise<OutboxPage> {
    assertOutboxQuery(filter);
    const { userId, sessionId, types, since, until, limit } = filter;
    const where = ['position > CAST(@after AS INTEGER)'];
    if (userId !== undefined) where.push('user_id = @userId');
    if (sessionId !== undefined) where.push('session_id = @sessionId');
    if (types !== undefined) where.push('type IN (SELECT value FROM json_each(@types))');
    if (since !== undefined) where.push('time >= @since');
    if (until !== undefined) where.push('time < @until');
    // Named, so that a query of one user or session can never become a scan of the whole outbox.
    const index =
      sessionId !== undefined
        ? ' INDEXED BY outbox_by_session'
        : userId !== undefined
          ? ' INDEXED BY outbox_by_user'
          : '';
    const text = `SELECT ${COLUMNS} FROM outbox${index} WHERE ${where.join(' AND ')} ORDER BY position LIMIT @limit`;
    let statement = this.#queries.get(text);
    if (!statement) {
      statement = this.#db.prepare(text);
      this.#queries.set(text, statement);
    }
    const rows = statement.all({
      after: filter.after ?? '0',
      limit: limit + 1,
      ...(userId !== undefined && { userId }),
      ...(sessionId !== undefined && { sessionId }),
      ...(types !== undefined && { types: JSON.stringify(types) }),
      ...(since !== undefined && { since }),
      ...(until !== undefined && { until }),
    }) as Row[];
    const records = rows.slice(0, limit).map(toRecord);
    return {
      records,
      cursor: rows.length > limit ? (records.at(-1) as OutboxRecord).position : null,
    };
  }
}

function prepareStatements(db: Database.Database) {
  return {
    insert: db.prepare(
      `INSERT INTO outbox (id, type, time, session_id, user_id, sequence, instance, data, payload)
         VALUES (@id, @type, @time, @session_id, @user_id, @sequence, @instance, @data, @payload)`,
    ),
    read: db.prepare(
      `SELECT ${COLUMNS} FROM outbox WHERE position > CAST(? AS INTEGER) ORDER BY position LIMIT ?`,
    ),
    backlog: db.prepare(
      `SELECT count(*) AS count,
         (SELECT time FROM outbox WHERE position > CAST(@after AS INTEGER) ORDER BY position LIMIT 1) AS oldest
       FROM outbox WHERE position > CAST(@after AS INTEGER)`,
    ),
    trim: db.prepare(
      `DELETE FROM outbox WHERE position IN
         (SELECT position FROM outbox WHERE time < ? ORDER BY position LIMIT ?)
       RETURNING ${COLUMNS}`,
    ),
  };
}

function toRecord(row: Row): OutboxRecord {
  return {
    position: String(row.position),
    id: row.id,
    type: row.type as EventType,
    time: row.time,
    sessionId: row.session_id,
    userId: row.user_id,
    sequence: row.sequence,
    instance: row.instance,
    data: JSON.parse(row.data) as Record<string, unknown>,
    ...(row.payload ? { payload: row.payload } : {}),
  };
}
