import type { Pool } from 'pg';
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
import { advisoryKey, inTransaction, type Run, safeInteger, withConnection } from './connection.js';
import type { PostgresTable } from './schema.js';

interface Row {
  position: string;
  id: string;
  type: string;
  time: unknown;
  session_id: string | null;
  user_id: string | null;
  sequence: unknown;
  instance: string;
  data: Record<string, unknown>;
  payload: Buffer | null;
}

const COLUMNS = 'position, id, type, time, session_id, user_id, sequence, instance, data, payload';

/**
 * The PostgreSQL store's outbox: rows of `<table>_outbox`, inserted in the
 * transaction of the change they describe.
 *
 * Positions come from an identity sequence, and a sequence hands out numbers
 * in the order transactions ask, not the order they commit: a transaction
 * holding position 10 may commit after one holding 11, and a relay that read
 * 11 in between would skip 10 forever. So every insert first takes one
 * transaction-scoped advisory lock per outbox, held to COMMIT: transactions
 * that record events take their positions and commit one after another, and
 * a position is visible only once every smaller one is. The lock is taken
 * by the last statements before COMMIT, after the row locks of the change,
 * so it is held for one insert and the commit, and cannot be part of a
 * deadlock. The price is that commits that record events are serialized per
 * outbox. The alternative, ordering by the inserting transaction's id and
 * reading only below the oldest running one (`pg_snapshot_xmin`), keeps
 * commits parallel but needs a two-part position and holds every reader back
 * behind any long transaction of the database; the lock is simpler and keeps
 * the position one decimal number.
 */
export class PostgresOutbox implements Outbox {
  readonly #pool: Pool;
  readonly #lockKey: string;
  readonly #sql;

  constructor(pool: Pool, table: PostgresTable) {
    this.#pool = pool;
    this.#lockKey = advisoryKey(`clawsession:outbox:${table.outbox}`);
    this.#sql = statements(table);
  }

  /** Inserts `events` in order, inside the caller's transaction: the last thing it does before COMMIT. */
  async record(run: Run, events: readonly OutboxEvent[]): Promise<void> {
    if (events.length === 0) return;
    await run('SELECT pg_advisory_xact_lock($1::bigint)', [this.#lockKey]);
    await run(this.#sql.insert, [JSON.stringify(events.map(withPayloadInBase64))]);
  }

  async append(events: readonly OutboxEvent[]): Promise<void> {
    assertServiceEvents(events);
    if (events.length === 0) return;
    await inTransaction(this.#pool, (run) => this.record(run, events));
  }

  async read(after: string | null, limit: number): Promise<OutboxRecord[]> {
    assertPosition(after);
    assertLimit(limit);
    const { rows } = await this.#query(this.#sql.read, [after ?? '0', limit]);
    return rows.map(toRecord);
  }

  async backlog(after: string | null): Promise<{ count: number; oldestTime: number | null }> {
    assertPosition(after);
    const { rows } = await withConnection(this.#pool, (run) =>
      run<{ count: unknown; oldest: unknown }>(this.#sql.backlog, [after ?? '0']),
    );
    const row = rows[0];
    return {
      count: safeInteger(row?.count ?? 0),
      oldestTime:
        row?.oldest === null || row?.oldest === undefined ? null : safeInteger(row.oldest),
    };
  }

  async trim(before: number, limit: number): Promise<OutboxRecord[]> {
    assertTrim(before, limit);
    const { rows } = await this.#query(this.#sql.trim, [before, limit]);
    // RETURNING promises no order.
    return rows.map(toRecord).sort((a, b) => comparePositions(a.position, b.position));
  }

  async query(filter: OutboxQuery): Promise<OutboxPage> {
    assertOutboxQuery(filter);
    const { userId, sessionId, types, since, until, limit } = filter;
    const values: unknown[] = [filter.after ?? '0', limit + 1];
    const where = ['position > $1::bigint'];
    const match = (condition: string, value: unknown) => {
      values.push(value);
      where.push(condition.replace('?', `$${values.length}`));
    };
    if (userId !== undefined) match('user_id = ?', userId);
    if (sessionId !== undefined) match('session_id = ?', sessionId);
    if (types !== undefined) match('type = ANY(?::text[])', types);
    if (since !== undefined) match('time >= ?', since);
    if (until !== undefined) match('time < ?', until);
    const { rows } = await this.#query(
      `SELECT ${COLUMNS} FROM ${this.#sql.table} WHERE ${where.join(' AND ')}
       ORDER BY position LIMIT $2`,
      values,
    );
    const records = rows.slice(0, limit).map(toRecord);
    return {
      records,
      cursor: rows.length > limit ? (records.at(-1) as OutboxRecord).position : null,
    };
  }

  #query(text: string, values: unknown[]) {
    return withConnection(this.#pool, (run) => run<Row>(text, values));
  }
}

function statements(t: PostgresTable) {
  return {
    table: t.outbox,
    // WITH ORDINALITY and ORDER BY: the events take their positions in the order given.
    insert: `INSERT INTO ${t.outbox} (id, type, time, session_id, user_id, sequence, instance, data, payload)
      SELECT (e->>'id')::uuid, e->>'type', (e->>'time')::bigint, e->>'sessionId', e->>'userId',
        (e->>'sequence')::bigint, e->>'instance', e->'data', decode(e->>'payload', 'base64')
      FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS events(e, n) ORDER BY n`,
    read: `SELECT ${COLUMNS} FROM ${t.outbox} WHERE position > $1::bigint ORDER BY position LIMIT $2`,
    backlog: `SELECT count(*) AS count,
        (SELECT time FROM ${t.outbox} WHERE position > $1::bigint ORDER BY position LIMIT 1) AS oldest
      FROM ${t.outbox} WHERE position > $1::bigint`,
    trim: `DELETE FROM ${t.outbox} WHERE position IN
        (SELECT position FROM ${t.outbox} WHERE time < $1 ORDER BY position LIMIT $2)
      RETURNING ${COLUMNS}`,
  };
}

function toRecord(row: Row): OutboxRecord {
  return {
    position: String(row.position),
    id: row.id,
    type: row.type as EventType,
    time: safeInteger(row.time),
    sessionId: row.session_id,
    userId: row.user_id,
    sequence: safeInteger(row.sequence),
    instance: row.instance,
    data: row.data,
    ...(row.payload ? { payload: row.payload } : {}),
  };
}

/** The events as one JSON parameter: bytes do not go into JSON, base64 does (and decode() takes it back). */
function withPayloadInBase64(event: OutboxEvent) {
  return {
    ...event,
    payload: event.payload ? Buffer.from(event.payload).toString('base64') : null,
  };
}

function comparePositions(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}
