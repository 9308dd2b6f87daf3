import type { ClientConfig, Pool } from 'pg';
import {
  ConfigError,
  type Lease,
  type LeaseOutcome,
  StoreUnavailableError,
} from '../../core/index.js';
import { advisoryKey, serverName, unavailable } from './connection.js';
import { loadPg } from './driver.js';

export interface PostgresLeaseOptions {
  /** `postgres://user:password@host:5432/database`. Give this or `pool`. */
  connectionString?: string;
  /** Connection settings are taken from this pool; its connections are not used. */
  pool?: Pool;
  /** Longest wait for the lease's connection, in ms. Default 5000 (with `connectionString`). */
  connectTimeout?: number;
  /**
   * Keeps these leases apart from those of other deployments on the same
   * database, such as the schema's name. Default: none, one set of leases
   * per database.
   */
  namespace?: string;
}

/**
 * A lease in PostgreSQL for work that exactly one instance should do at a
 * time (sweeps): a session-level advisory lock, taken with
 * `pg_try_advisory_lock` on a connection opened for the run alone (a pooled
 * one would carry the lock back into the pool). The server drops the lock
 * when that connection ends, so a holder that crashes or loses the network
 * frees the lease without anyone cleaning up.
 */
export class PostgresLease implements Lease {
  readonly #config: ClientConfig;
  readonly #keyPrefix: string;

  constructor(options: PostgresLeaseOptions) {
    if ((options.connectionString === undefined) === (options.pool === undefined))
      throw new ConfigError('a postgres lease needs exactly one of connectionString or pool');
    this.#config = options.pool
      ? options.pool.options
      : {
          connectionString: options.connectionString,
          connectionTimeoutMillis: options.connectTimeout ?? 5000,
          keepAlive: true,
        };
    this.#keyPrefix =
      options.namespace === undefined
        ? 'clawsession:lease:'
        : `clawsession:${options.namespace}:lease:`;
  }

  /**
   * Runs `fn` if no one holds the lease `name`, else returns
   * `{ acquired: false }` at once. The signal aborts if the connection is
   * lost while `fn` runs: the lease may then belong to someone else, so long
   * work should stop.
   */
  async run<T>(name: string, fn: (signal: AbortSignal) => Promise<T>): Promise<LeaseOutcome<T>> {
    const { Client } = await loadPg();
    const client = new Client({ fallback_application_name: 'clawsession lease', ...this.#config });
    const lost = new AbortController();
    const server = serverName(this.#config, `lease ${name}`);
    client.on('error', (error) => lost.abort(unavailable(server, error)));
    client.on('end', () => lost.abort(new StoreUnavailableError(`${server}: the lease was lost`)));
    try {
      let acquired: boolean;
      try {
        await client.connect();
        const { rows } = await client.query<{ acquired: boolean }>(
          'SELECT pg_try_advisory_lock($1::bigint) AS acquired',
          [advisoryKey(this.#keyPrefix + name)],
        );
        acquired = rows[0]?.acquired === true;
      } catch (error) {
        throw unavailable(server, error);
      }
      if (!acquired) return { acquired: false };
      return { acquired: true, value: await fn(lost.signal) };
    } finally {
      // `end` resolves once the server has closed the session, and with it released the lock.
      await client.end().catch(() => undefined);
    }
  }

  /** Each run opens and ends its own connection, so there is nothing to close. */
  async close(): Promise<void> {}
}
