import { createHash } from 'node:crypto';
import type { Pool, PoolClient, PoolConfig, QueryResult, QueryResultRow } from 'pg';
import { storeUnavailable } from '../../core/backend-kit.js';
import {
  ConfigError,
  DecodeError,
  type PoolStats,
  StoreUnavailableError,
} from '../../core/index.js';
import { requirePg } from './driver.js';
import { PoolQueue } from './pool-queue.js';

/*
 * The few connection steps every PostgreSQL module here shares: check a
 * client out and always give it back, run a transaction that always ends, and
 * turn "the server is not there" into StoreUnavailableError while letting
 * "the statement was refused" (a unique violation, say) through as it is.
 */

/** Runs one statement on the checked-out client; failures of the server itself come back as `StoreUnavailableError`. */
export type Run = <R extends QueryResultRow = QueryResultRow>(
  text: string,
  values?: unknown[],
) => Promise<QueryResult<R>>;

/**
 * SQLSTATEs that say the server could not serve the statement, not that the
 * statement was wrong: connection exceptions (08), insufficient resources
 * (53), shutdown (57P01-04), statement or lock timeouts (57014, 55P03) and the
 * idle-in-transaction timeout (25P03).
 */
const UNAVAILABLE_SQLSTATE = /^(08...|53...|57P0[1-4]|57014|55P03|25P03)$/;

/** A PostgreSQL error report (duck-typed, so a pool from another copy of `pg` works too). */
export function sqlStateOf(error: unknown): string | undefined {
  if (!(error instanceof Error)) return undefined;
  const { code, severity } = error as { code?: unknown; severity?: unknown };
  return typeof code === 'string' && typeof severity === 'string' ? code : undefined;
}

/** A failure of the connection or the server, as opposed to a refused statement. */
function isUnavailable(error: unknown): boolean {
  const state = sqlStateOf(error);
  // Anything else `pg` throws without a SQLSTATE is a socket, timeout or pool failure.
  return state === undefined ? error instanceof Error : UNAVAILABLE_SQLSTATE.test(state);
}

/**
 * `error` as StoreUnavailableError naming `server` (see `serverName`) and
 * why, once; a StoreUnavailableError passes as it is.
 */
export function unavailable(server: string, error: unknown): StoreUnavailableError {
  if (error instanceof StoreUnavailableError) return error;
  return storeUnavailable(server, error);
}

/**
 * `PostgreSQL at host:port (purpose)`, from the settings a pool or client
 * connects with (the connection string first, as pg reads it), for messages.
 * Never the password.
 */
export function serverName(config: PoolConfig, purpose?: string): string {
  let host = config.host ?? process.env.PGHOST;
  let port = config.port ?? process.env.PGPORT;
  if (config.connectionString) {
    try {
      const url = new URL(config.connectionString);
      host = url.searchParams.get('host') || url.hostname || host;
      port = url.searchParams.get('port') || url.port || port;
    } catch {
      // pg refuses such a string itself when it connects.
    }
  }
  const address = `${host || 'localhost'}:${port || 5432}`;
  return `PostgreSQL at ${address}${purpose ? ` (${purpose})` : ''}`;
}

/** What `createPool` adds to a pool: the wait for its connections, and its name for messages. */
interface PoolExtras {
  queue: PoolQueue;
  server: string;
}

const extras = new WeakMap<Pool, PoolExtras>();

function serverOf(pool: Pool): string {
  return extras.get(pool)?.server ?? serverName(pool.options);
}

/**
 * Connections of a pool `createPool` made: the pool's size, those open,
 * those idle, and requests waiting for one. Undefined for another pool.
 */
export function poolStats(pool: Pool): PoolStats | undefined {
  const queue = extras.get(pool)?.queue;
  if (!queue) return undefined;
  return {
    max: pool.options.max ?? 10,
    total: pool.totalCount,
    idle: pool.idleCount,
    waiting: queue.waiting + pool.waitingCount,
  };
}

/**
 * Checks a client out for `fn` and always releases it, discarding it if its
 * connection failed. On a pool `createPool` made, the wait for a free
 * connection is its queue's (StoreBusyError when full or too long), apart
 * from the connect timeout (StoreUnavailableError).
 */
export async function withConnection<T>(pool: Pool, fn: (run: Run) => Promise<T>): Promise<T> {
  const queue = extras.get(pool)?.queue;
  const freeSlot = queue ? await queue.acquire() : () => undefined;
  try {
    return await withClient(pool, fn);
  } finally {
    freeSlot();
  }
}

async function withClient<T>(pool: Pool, fn: (run: Run) => Promise<T>): Promise<T> {
  let client: PoolClient;
  try {
    client = await pool.connect();
  } catch (error) {
    // Refused, timed out, bad credentials or a closed pool: nothing was done either way.
    throw unavailable(serverOf(pool), error);
  }
  let broken: Error | undefined;
  // A checked-out client whose socket fails emits 'error'; unheard, that would end the process.
  const onError = (error: Error) => {
    broken ??= error;
  };
  client.on('error', onError);
  const run: Run = async (text, values) => {
    try {
      return await client.query(text, values);
    } catch (error) {
      if (!isUnavailable(error)) throw error;
      broken ??= error as Error;
      throw unavailable(serverOf(pool), error);
    }
  };
  try {
    return await fn(run);
  } catch (error) {
    // Whatever made the store unavailable may have left this session mid-statement or mid-transaction.
    if (error instanceof StoreUnavailableError) broken ??= error;
    throw error;
  } finally {
    client.off('error', onError);
    client.release(broken);
  }
}

/**
 * Runs `fn` between BEGIN and COMMIT on one connection. Anything thrown,
 * by SQL or by `fn` (a patch error, a version conflict), rolls it all back.
 */
export function inTransaction<T>(pool: Pool, fn: (run: Run) => Promise<T>): Promise<T> {
  return withConnection(pool, async (run) => {
    await run('BEGIN');
    try {
      const result = await fn(run);
      await run('COMMIT');
      return result;
    } catch (error) {
      // An unavailable connection is discarded rather than rolled back: closing it aborts the
      // transaction on the server, and a ROLLBACK could wait behind a statement that never ends.
      if (!(error instanceof StoreUnavailableError)) await run('ROLLBACK').catch(() => undefined);
      throw error;
    }
  });
}

/** A 64-bit advisory lock key for a name, the same in every process and server version. */
export function advisoryKey(name: string): string {
  return createHash('sha256').update(name).digest().readBigInt64BE(0).toString();
}

export interface PoolSettings {
  connectionString?: string;
  /** Connections in the pool. Default 10. */
  poolSize?: number;
  /** Requests that may wait for a connection of a busy pool; past it StoreBusyError. Default 1,000. */
  poolQueue?: number;
  /** The longest a request waits for a connection of a busy pool, in ms; past it StoreBusyError. Default 10,000. */
  poolQueueTimeout?: number;
  /** The longest opening a connection may take, in ms; past it StoreUnavailableError. Default 5,000. */
  connectTimeout?: number;
  statementTimeout?: number;
}

export const POOL_DEFAULTS = { poolSize: 10, poolQueue: 1000, poolQueueTimeout: 10_000 } as const;

/**
 * A pool with the timeouts every store here relies on: a bounded connect, a
 * server-side statement timeout, and a client-side one a second longer for a
 * server that stops answering altogether. `idleInTransaction` also ends
 * transactions left idle that long (they would hold row locks). The wait for
 * a free connection is bounded apart from connecting (see `withConnection`);
 * `purpose` names the pool in errors.
 */
export function createPool(
  settings: PoolSettings,
  options: { idleInTransaction: boolean; purpose?: string },
): Pool {
  const statementTimeout = positive(settings.statementTimeout ?? 5000, 'statementTimeout');
  const max = positive(settings.poolSize ?? POOL_DEFAULTS.poolSize, 'poolSize');
  const queueLimits = {
    slots: max,
    maxWaiting: atLeastZero(settings.poolQueue ?? POOL_DEFAULTS.poolQueue, 'poolQueue'),
    maxWait: positive(
      settings.poolQueueTimeout ?? POOL_DEFAULTS.poolQueueTimeout,
      'poolQueueTimeout',
    ),
  };
  // By require: creating a pool opens nothing, so this stays synchronous.
  const { Pool } = requirePg();
  const pool = new Pool({
    connectionString: settings.connectionString,
    max,
    // With the queue in front, pg never waits for a busy pool, so this bounds connecting only.
    connectionTimeoutMillis: positive(settings.connectTimeout ?? 5000, 'connectTimeout'),
    statement_timeout: statementTimeout,
    ...(options.idleInTransaction ? { idle_in_transaction_session_timeout: statementTimeout } : {}),
    query_timeout: statementTimeout + 1000,
    keepAlive: true,
    fallback_application_name: 'clawsession',
  });
  // An idle connection that drops (a server restart) is replaced on the next checkout;
  // unheard, its error would end the process.
  pool.on('error', () => undefined);
  const server = serverName(pool.options, options.purpose);
  extras.set(pool, { queue: new PoolQueue(queueLimits, server), server });
  return pool;
}

function positive(value: number, name: string): number {
  if (!(Number.isSafeInteger(value) && value > 0))
    throw new ConfigError(`postgres ${name} must be a positive integer`);
  return value;
}

function atLeastZero(value: number, name: string): number {
  if (!(Number.isSafeInteger(value) && value >= 0))
    throw new ConfigError(`postgres ${name} must be an integer of 0 or more`);
  return value;
}

/** bigint columns arrive as strings (or numbers or bigints, if the pool's parsers say so). */
export function safeInteger(value: unknown): number {
  const number = Number(value);
  if (!Number.isSafeInteger(number))
    throw new DecodeError(`stored integer ${String(value)} is out of range`);
  return number;
}
