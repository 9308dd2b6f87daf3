import { splitQuery } from '../../core/backend-kit.js';
import { type BackendDefinition, redactUrl } from '../../core/index.js';
import { createPool } from './connection.js';
import { loadPg } from './driver.js';
import { PostgresInvalidationBus } from './invalidation-bus.js';
import { PostgresLease } from './lease.js';
import { PostgresRateLimiter } from './rate-limiter.js';
import { PostgresRecordStore } from './record-store.js';
import { PostgresStore } from './session-store.js';

/**
 * `postgres://user@host:5432/db` or `postgresql://…`, optionally with
 * `?schema=…&table=…` for the sessions and `recordsTable=…` for the records
 * (default `clawsession_records`); other parameters go to the driver.
 */
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
    const { base: connectionString, params } = splitQuery(
      url,
      ['schema', 'table', 'recordsTable'],
      {
        backend: 'postgres',
        driverOptions: DRIVER_OPTIONS,
      },
    );
    const { schema, table, recordsTable } = params;
    return {
      name: 'postgres',
      displayUrl: redactUrl(url),
      shared: true,
      openSessions: ({ codec } = {}) =>
        PostgresStore.connect({ connectionString, schema, table, codec }),
      openRecords: () =>
        PostgresRecordStore.connect({ connectionString, schema, table: recordsTable }),
      // Deployments in other schemas of the same database sweep on their own.
      openLease: async () => new PostgresLease({ connectionString, namespace: schema }),
      openBus: (topic) =>
        PostgresInvalidationBus.connect({ connectionString, channel: channelOf(topic, schema) }),
      async openLimiters() {
        await loadPg();
        // A pool of their own, so that limits are counted while the sessions' pool is saturated.
        const pool = createPool({ connectionString }, { idleInTransaction: false });
        try {
          await PostgresRateLimiter.prepare({ pool, schema });
        } catch (error) {
          await pool.end().catch(() => undefined);
          throw error;
        }
        return {
          create: (name, options) =>
            new PostgresRateLimiter({ pool, schema, prefix: `${name}:`, ...options }),
          close: () => pool.end(),
        };
      },
    };
  },
};

/** One NOTIFY channel per schema, so deployments sharing a database do not hear each other. */
function channelOf(topic: string, schema: string | undefined): string {
  const name = (schema ?? 'public').toLowerCase().replace(/[^a-z0-9_]/g, '_');
  return `clawsession_${topic}_${name}`.slice(0, 63);
}
