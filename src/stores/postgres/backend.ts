import { splitQuery } from '../../core/backend-kit.js';
import { type BackendDefinition, ConfigError, parseDuration, redactUrl } from '../../core/index.js';
import { createPool, type PoolSettings } from './connection.js';
import { loadPg } from './driver.js';
import { PostgresInvalidationBus } from './invalidation-bus.js';
import { PostgresLease } from './lease.js';
import { PostgresRateLimiter } from './rate-limiter.js';
import { PostgresRecordStore } from './record-store.js';
import { PostgresStore } from './session-store.js';

/**
 * `postgres://user@host:5432/db` or `postgresql://…`, optionally with
 * `?schema=…&table=…` for the sessions, `recordsTable=…` for the records
 * (default `clawsession_records`), and `poolSize`, `poolQueue` and
 * `poolQueueTimeout` for the pools of each (see `PoolSettings`); other
 * parameters go to the driver.
 */
const OWN_OPTIONS = [
  'schema',
  'table',
  'recordsTable',
  'poolSize',
  'poolQueue',
  'poolQueueTimeout',
];

/** The connection-string parameters node-postgres reads (pg-connection-string and ConnectionParameters). */
const DRIVER_OPTIONS = [
  'host',
  'port',
  'user',
  'password',
  'db',
  'encoding',
  'client_encoding',
  'application_name',
  'fallback_application_name',
  'options',
  'ssl',
  'sslmode',
  'sslcert',
  'sslkey',
  'sslrootcert',
  'sslnegotiation',
  'uselibpqcompat',
  'statement_timeout',
  'query_timeout',
  'lock_timeout',
  'idle_in_transaction_session_timeout',
  'replication',
];

export const postgresBackend: BackendDefinition = {
  schemes: ['postgres:', 'postgresql:'],
  usage: 'postgres://…',
  parse(url) {
    const { base: connectionString, params } = splitQuery(url, OWN_OPTIONS, {
      backend: 'postgres',
      driverOptions: DRIVER_OPTIONS,
    });
    const { schema, table, recordsTable } = params;
    const pool = poolSettings(params);
    return {
      name: 'postgres',
      displayUrl: redactUrl(url),
      shared: true,
      openSessions: ({ codec, outbox } = {}) =>
        PostgresStore.connect({ ...pool, connectionString, schema, table, codec, outbox }),
      openRecords: () =>
        PostgresRecordStore.connect({ ...pool, connectionString, schema, table: recordsTable }),
      // Deployments in other schemas of the same database sweep on their own.
      openLease: async () => new PostgresLease({ connectionString, namespace: schema }),
      openBus: (topic) =>
        PostgresInvalidationBus.connect({ connectionString, channel: channelOf(topic, schema) }),
      async openLimiters() {
        await loadPg();
        // A pool of their own, so that limits are counted while the sessions' pool is saturated.
        const limits = createPool(
          { connectionString },
          { idleInTransaction: false, purpose: 'rate limits' },
        );
        try {
          await PostgresRateLimiter.prepare({ pool: limits, schema });
        } catch (error) {
          await limits.end().catch(() => undefined);
          throw error;
        }
        return {
          create: (name, options) =>
            new PostgresRateLimiter({ pool: limits, schema, prefix: `${name}:`, ...options }),
          close: () => limits.end(),
        };
      },
    };
  },
};

/** The pool options of the URL; a ConfigError names the one that is malformed. */
function poolSettings(params: Record<string, string | undefined>): PoolSettings {
  const count = (name: string, min: number): number | undefined => {
    const value = params[name];
    if (value === undefined) return undefined;
    const number = /^\d+$/.test(value) ? Number(value) : Number.NaN;
    if (!(Number.isSafeInteger(number) && number >= min))
      throw new ConfigError(
        `postgres store URL option ${name} must be an integer of ${min} or more, got ${JSON.stringify(value)}`,
      );
    return number;
  };
  const timeout = params.poolQueueTimeout;
  let poolQueueTimeout: number | undefined;
  if (timeout !== undefined) {
    try {
      poolQueueTimeout = parseDuration(timeout);
    } catch {
      poolQueueTimeout = 0;
    }
    if (poolQueueTimeout <= 0)
      throw new ConfigError(
        `postgres store URL option poolQueueTimeout must be a duration such as 500ms or 10s, got ${JSON.stringify(timeout)}`,
      );
  }
  return { poolSize: count('poolSize', 1), poolQueue: count('poolQueue', 0), poolQueueTimeout };
}

/** One NOTIFY channel per schema, so deployments sharing a database do not hear each other. */
function channelOf(topic: string, schema: string | undefined): string {
  const name = (schema ?? 'public').toLowerCase().replace(/[^a-z0-9_]/g, '_');
  return `clawsession_${topic}_${name}`.slice(0, 63);
}
