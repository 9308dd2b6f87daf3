import { randomBytes } from 'node:crypto';
import type { Pool } from 'pg';
import { assertCost, assertPolicy, failedOpen, storageKey } from '../../core/backend-kit.js';
import {
  ConfigError,
  type RateLimiter,
  type RateLimitPolicy,
  type RateLimitResult,
  StoreUnavailableError,
} from '../../core/index.js';
import { createPool, serverName, withConnection } from './connection.js';
import { loadPg, requirePg } from './driver.js';
import { postgresNames } from './schema.js';

/** Where the charges live: one table (and its consume function) that any number of limiters can share. */
export interface PostgresRateLimitTableOptions {
  /**
   * A pool you own and configure, timeouts included, which several limiters
   * can share; the limiter never closes it.
   */
  pool: Pool;
  /** The schema of the table, created if missing. Default `public`. */
  schema?: string;
  /** Default `clawsession_rate_limit`; the function beside it is `<table>_consume`. */
  table?: string;
}

export interface PostgresRateLimiterOptions extends RateLimitPolicy, PostgresRateLimitTableOptions {
  /**
   * Put before every key, so that limiters with different policies can share
   * one table (`login-ip:`, `login-account:`). Default none.
   */
  prefix?: string;
  /**
   * Epoch milliseconds. Default `Date.now`. Every instance sharing a limit
   * stamps charges with its own clock, so keep their clocks synchronized (NTP):
   * a skew of s ms lets the window act up to s ms shorter or longer.
   */
  clock?: () => number;
  /**
   * When PostgreSQL cannot be reached: false (the default) throws
   * StoreUnavailableError, which the gateway answers with 503, so an outage
   * never switches brute-force protection off; true allows the call (and
   * reports the error to `onUnavailable`), for limits that protect capacity
   * rather than credentials.
   */
  failOpen?: boolean;
  /** Told of every outage a fail-open limiter let through. */
  onUnavailable?: (error: StoreUnavailableError) => void;
  /**
   * The longest one call may take, waiting for a pooled connection included,
   * in ms; past it the call fails as unavailable. Default 1,000. A pool that
   * `connect` creates also uses it as the server-side statement timeout.
   */
  statementTimeout?: number;
}

export interface PostgresRateLimiterConnectOptions
  extends Omit<PostgresRateLimiterOptions, 'pool'> {
  /** `postgres://user:password@host:5432/database`. Give this or `pool`. */
  connectionString?: string;
  /** A pool you own; `close()` leaves it open. Give this or `connectionString`. */
  pool?: Pool;
  /** Longest wait for a connection of the pool `connect` creates, in ms. Default 5,000. */
  connectTimeout?: number;
}

/** Expired rows of any key that each consume deletes, besides those of its own key. */
const SWEEP_BATCH = 10;

interface Table {
  /** `"schema"."table"` */
  readonly qualified: string;
  /** Creates the schema, the table and the function; the same in every process. */
  readonly prepare: string;
  readonly consume: string;
  readonly refund: string;
  readonly reset: string;
}

function rateLimitTable(schema: string, table: string): Table {
  const names = postgresNames(schema, table);
  // By require: the limiter's constructor builds its statements, synchronously.
  const { escapeIdentifier, escapeLiteral } = requirePg();
  const s = names.schema;
  const t = names.qualified(table);
  const consume = names.qualified(`${table}_consume`);
  /*
   * One call per consume, atomic per key: the advisory lock on the key's hash
   * makes the charges of one key take turns (other keys never wait), so the
   * sum is exact. The key's charges that left the window go first; a charge
   * that fits is one row of `units`. Retry time is when enough of the oldest
   * units have left, reset when the newest has, as RedisRateLimiter computes
   * them. Then up to SWEEP_BATCH expired rows of any key go, skipping rows
   * another call holds: that step waits for nothing, so calls cannot deadlock.
   */
  const consumeFunction = `
    CREATE OR REPLACE FUNCTION ${consume}(
      p_key text, p_now bigint, p_window bigint, p_limit integer, p_cost integer,
      p_charge text, p_sweep integer,
      OUT allowed boolean, OUT remaining bigint, OUT retry_after_ms bigint, OUT reset_ms bigint)
    LANGUAGE plpgsql VOLATILE AS $fn$
    DECLARE
      used bigint;
    BEGIN
      PERFORM pg_advisory_xact_lock(hashtextextended(${escapeLiteral(`${t}:`)} || p_key, 0));
      DELETE FROM ${t} WHERE key = p_key AND charged_at <= p_now - p_window;
      SELECT coalesce(sum(units), 0) INTO used FROM ${t} WHERE key = p_key;
      IF used + p_cost <= p_limit THEN
        INSERT INTO ${t} (key, charged_at, expires_at, charge_id, units)
          VALUES (p_key, p_now, p_now + p_window, p_charge, p_cost);
        allowed := true;
        remaining := p_limit - used - p_cost;
        retry_after_ms := 0;
      ELSE
        allowed := false;
        remaining := p_limit - used;
        SELECT c.charged_at + p_window - p_now INTO retry_after_ms
          FROM (SELECT charged_at,
                       sum(units) OVER (ORDER BY charged_at ROWS UNBOUNDED PRECEDING) AS freed
                  FROM ${t} WHERE key = p_key) c
          WHERE c.freed >= used + p_cost - p_limit
          ORDER BY c.charged_at LIMIT 1;
      END IF;
      SELECT max(charged_at) + p_window - p_now INTO reset_ms FROM ${t} WHERE key = p_key;
      IF p_sweep > 0 THEN
        DELETE FROM ${t} WHERE ctid = ANY (ARRAY(
          SELECT ctid FROM ${t} WHERE expires_at <= p_now
            ORDER BY expires_at LIMIT p_sweep FOR UPDATE SKIP LOCKED));
      END IF;
    END
    $fn$`;
  // One simple-protocol message runs as one transaction, so the lock covers every step.
  const prepare = `
    SELECT pg_advisory_xact_lock(hashtextextended(${escapeLiteral(`clawsession:rate-limit:${t}`)}, 0));
    DO $do$
    BEGIN
      IF to_regnamespace(${escapeLiteral(s)}) IS NULL THEN
        CREATE SCHEMA ${s};
      END IF;
      IF to_regclass(${escapeLiteral(t)}) IS NULL THEN
        CREATE TABLE ${t} (
          key text COLLATE "C" NOT NULL,
          charged_at bigint NOT NULL,
          expires_at bigint NOT NULL,
          charge_id text COLLATE "C" NOT NULL,
          units integer NOT NULL
        );
        CREATE INDEX ${escapeIdentifier(`${table}_by_key`)} ON ${t} (key, charged_at);
        CREATE INDEX ${escapeIdentifier(`${table}_by_expiry`)} ON ${t} (expires_at);
      END IF;
    END
    $do$;
    ${consumeFunction};`;
  return {
    qualified: t,
    prepare,
    consume: `SELECT allowed, remaining, retry_after_ms, reset_ms FROM ${consume}($1, $2, $3, $4, $5, $6, $7)`,
    refund: `DELETE FROM ${t} WHERE key = $1 AND charged_at = $2 AND charge_id = $3`,
    reset: `DELETE FROM ${t} WHERE key = $1`,
  };
}

/** What each pool has prepared, so limiters sharing a pool and table prepare it once. */
const prepared = new WeakMap<Pool, Map<string, Promise<void>>>();

function prepareOnce(pool: Pool, table: Table): Promise<void> {
  let tables = prepared.get(pool);
  if (!tables) {
    tables = new Map();
    prepared.set(pool, tables);
  }
  const known = tables.get(table.qualified);
  if (known) return known;
  const ready = withConnection(pool, (run) => run(table.prepare)).then(() => undefined);
  tables.set(table.qualified, ready);
  // A failure is not remembered: the next call tries again.
  ready.catch(() => {
    if (tables.get(table.qualified) === ready) tables.delete(table.qualified);
  });
  return ready;
}

interface ConsumeRow {
  allowed: boolean;
  remaining: unknown;
  retry_after_ms: unknown;
  reset_ms: unknown;
}

/**
 * A sliding-window log in PostgreSQL, shared by every instance that uses the
 * same table and prefix: one row per allowed charge, and one round trip per
 * consume to a PL/pgSQL function that serializes the charges of a key with an
 * advisory lock, so counts and retry times are exact, like MemoryRateLimiter.
 * A live key holds at most `limit` rows. Rows of keys never charged again are
 * removed by later consumes of any key sharing the table, up to 10 per call,
 * so expired rows are cleared faster than charges add them.
 */
export class PostgresRateLimiter implements RateLimiter {
  readonly limit: number;
  readonly windowMs: number;
  readonly #pool: Pool;
  /** Set only for a pool `connect` created. */
  #ownsPool = false;
  #closed = false;
  readonly #table: Table;
  readonly #prefix: string;
  readonly #clock: () => number;
  readonly #failOpen: boolean;
  readonly #onUnavailable: (error: StoreUnavailableError) => void;
  readonly #timeout: number;
  /** Charge ids: unique per instance by the random part, per charge by the counter. */
  readonly #instance = randomBytes(6).toString('base64url');
  #charged = 0;
  readonly #charges = new WeakMap<RateLimitResult, { key: string; at: number; id: string }>();

  /**
   * A limiter on a pool you own. The table and function are created by
   * `prepare` or `connect`, or else on this limiter's first call.
   */
  constructor(options: PostgresRateLimiterOptions) {
    assertPolicy(options);
    this.limit = options.limit;
    this.windowMs = options.windowMs;
    this.#pool = options.pool;
    this.#table = rateLimitTable(
      options.schema ?? 'public',
      options.table ?? 'clawsession_rate_limit',
    );
    this.#prefix = options.prefix ?? '';
    this.#clock = options.clock ?? Date.now;
    this.#failOpen = options.failOpen ?? false;
    this.#onUnavailable = options.onUnavailable ?? (() => {});
    this.#timeout = options.statementTimeout ?? 1_000;
    if (!Number.isSafeInteger(this.#timeout) || this.#timeout < 1)
      throw new ConfigError(`statementTimeout must be a positive integer, got ${this.#timeout}`);
  }

  /**
   * Creates the table and its consume function if missing (and replaces the
   * function with this version's), under an advisory lock so that instances
   * starting together take turns. Idempotent.
   */
  static async prepare(options: PostgresRateLimitTableOptions): Promise<void> {
    const table = rateLimitTable(
      options.schema ?? 'public',
      options.table ?? 'clawsession_rate_limit',
    );
    await prepareOnce(options.pool, table);
  }

  /**
   * A limiter with the table ready, on the given pool or on one of its own
   * (closed by `close()`). A server that cannot be reached is
   * StoreUnavailableError, with `failOpen` too.
   */
  static async connect(options: PostgresRateLimiterConnectOptions): Promise<PostgresRateLimiter> {
    if ((options.connectionString === undefined) === (options.pool === undefined))
      throw new ConfigError(
        'a postgres rate limiter needs exactly one of connectionString or pool',
      );
    await loadPg();
    const pool =
      options.pool ??
      createPool(
        {
          connectionString: options.connectionString,
          connectTimeout: options.connectTimeout,
          statementTimeout: options.statementTimeout ?? 1_000,
        },
        { idleInTransaction: false, purpose: 'rate limits' },
      );
    try {
      const limiter = new PostgresRateLimiter({ ...options, pool });
      await prepareOnce(pool, limiter.#table);
      limiter.#ownsPool = !options.pool;
      return limiter;
    } catch (error) {
      if (!options.pool) await pool.end().catch(() => undefined);
      throw error;
    }
  }

  async consume(key: string, cost = 1): Promise<RateLimitResult> {
    assertCost(cost, this.limit);
    const stored = this.#prefix + storageKey(key);
    const now = Math.floor(this.#clock());
    const id = `${this.#instance}.${(++this.#charged).toString(36)}`;
    let row: ConsumeRow | undefined;
    try {
      row = await this.#call(async () => {
        await prepareOnce(this.#pool, this.#table);
        return withConnection(this.#pool, (run) =>
          run<ConsumeRow>(this.#table.consume, [
            stored,
            now,
            this.windowMs,
            this.limit,
            cost,
            id,
            SWEEP_BATCH,
          ]),
        );
      }).then(({ rows }) => rows[0]);
    } catch (error) {
      if (!this.#failOpen || !(error instanceof StoreUnavailableError)) throw error;
      this.#onUnavailable(error);
      return failedOpen(key, this.limit, cost);
    }
    if (!row) throw new Error('the rate limit function returned no row');
    const result = {
      key,
      allowed: row.allowed,
      limit: this.limit,
      remaining: Number(row.remaining),
      retryAfterMs: Number(row.retry_after_ms),
      resetMs: Number(row.reset_ms),
    };
    if (result.allowed) this.#charges.set(result, { key: stored, at: now, id });
    return result;
  }

  async refund(result: RateLimitResult): Promise<void> {
    const charged = this.#charges.get(result);
    if (!charged) return;
    this.#charges.delete(result);
    await this.#call(() =>
      withConnection(this.#pool, (run) =>
        run(this.#table.refund, [charged.key, charged.at, charged.id]),
      ),
    );
  }

  async reset(key: string): Promise<void> {
    const stored = this.#prefix + storageKey(key);
    await this.#call(() => withConnection(this.#pool, (run) => run(this.#table.reset, [stored])));
  }

  /** Ends the pool if `connect` created it; a pool that was given stays open. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#ownsPool) await this.#pool.end();
  }

  /**
   * Bounds the whole call, checkout included: `pg` can wait long for a busy
   * pool or a silent server. A call given up on may still complete on the
   * server; it then charged a request that was refused with 503, never the
   * other way round.
   */
  async #call<T>(work: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        work(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () =>
              reject(
                new StoreUnavailableError(
                  `${serverName(this.#pool.options, 'rate limits')} did not answer within ${this.#timeout} ms`,
                ),
              ),
            this.#timeout,
          );
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }
}
