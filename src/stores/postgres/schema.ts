import type { Pool } from 'pg';
import { ConfigError } from '../../core/index.js';
import { advisoryKey, inTransaction } from './connection.js';
import { requirePg } from './driver.js';

/** Where a PostgresStore keeps its sessions; every name is already quoted for SQL. */
export interface PostgresTable {
  /** `"schema"` */
  readonly schema: string;
  /** `"schema"."table"` */
  readonly sessions: string;
  readonly migrations: string;
  /** `"schema"."<table>_aliases"`: ids rotated away, each leading to its new id for a grace window. */
  readonly aliases: string;
  readonly aliasesByExpiry: string;
  readonly byUser: string;
  readonly byExpiry: string;
  /** `"schema"."<table>_outbox"`: the transactional outbox (see PostgresOutbox). */
  readonly outbox: string;
  readonly outboxByUser: string;
  readonly outboxBySession: string;
  readonly outboxByTime: string;
}

// Short enough that the derived names (`<table>_migrations`) stay under PostgreSQL's 63 bytes.
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,47}$/;

/**
 * A schema and a table name, checked (ConfigError) and quoted for SQL, with
 * `qualified(name)` for the table and the names derived from it in that schema.
 */
export function postgresNames(schema: string, table: string) {
  for (const [what, name] of [
    ['schema', schema],
    ['table', table],
  ] as const) {
    if (!IDENTIFIER.test(name))
      throw new ConfigError(
        `postgres ${what} ${JSON.stringify(name)} must be 1-48 letters, digits or underscores, not starting with a digit`,
      );
  }
  // By require: naming a table is synchronous, and may come before anything connects.
  const { escapeIdentifier } = requirePg();
  return {
    schema: escapeIdentifier(schema),
    qualified: (name: string) => `${escapeIdentifier(schema)}.${escapeIdentifier(name)}`,
  };
}

export function postgresTable(schema: string, table: string): PostgresTable {
  const { schema: quotedSchema, qualified } = postgresNames(schema, table);
  const { escapeIdentifier } = requirePg();
  return {
    schema: quotedSchema,
    sessions: qualified(table),
    migrations: qualified(`${table}_migrations`),
    aliases: qualified(`${table}_aliases`),
    aliasesByExpiry: escapeIdentifier(`${table}_aliases_by_expiry`),
    byUser: escapeIdentifier(`${table}_by_user`),
    byExpiry: escapeIdentifier(`${table}_by_expiry`),
    outbox: qualified(`${table}_outbox`),
    outboxByUser: escapeIdentifier(`${table}_outbox_by_user`),
    outboxBySession: escapeIdentifier(`${table}_outbox_by_session`),
    outboxByTime: escapeIdentifier(`${table}_outbox_by_time`),
  };
}

/** Each entry moves the schema one version forward; `<table>_migrations` records the versions applied. */
const MIGRATIONS: ((t: PostgresTable) => string)[] = [
  (t) => `
    CREATE TABLE ${t.sessions} (
      id text COLLATE "C" PRIMARY KEY,
      user_id text NOT NULL,
      data bytea NOT NULL,
      version bigint NOT NULL,
      created_at bigint NOT NULL,
      last_active_at bigint NOT NULL,
      idle_expires_at bigint NOT NULL,
      absolute_expires_at bigint NOT NULL,
      expires_at bigint GENERATED ALWAYS AS (least(idle_expires_at, absolute_expires_at)) STORED,
      ip text,
      user_agent text
    );
    CREATE INDEX ${t.byUser} ON ${t.sessions} (user_id, created_at);
    CREATE INDEX ${t.byExpiry} ON ${t.sessions} (expires_at);`,
  // 2: when each token was issued (rotation), and the aliases of rotated-away ids.
  (t) => `
    ALTER TABLE ${t.sessions} ADD COLUMN token_issued_at bigint;
    UPDATE ${t.sessions} SET token_issued_at = created_at;
    ALTER TABLE ${t.sessions} ALTER COLUMN token_issued_at SET NOT NULL;
    CREATE TABLE ${t.aliases} (
      from_id text COLLATE "C" PRIMARY KEY,
      to_id text NOT NULL,
      expires_at bigint NOT NULL
    );
    CREATE INDEX ${t.aliasesByExpiry} ON ${t.aliases} (expires_at);`,
  /*
   * 3: vacuumed once 1% of the rows are dead, not PostgreSQL's default 20%.
   * Every touch moves a session's expiry and leaves a dead row version behind
   * in the expiry index; a sweep's index scan steps over each one, so under
   * the default a table of 1M sessions carried ten times the dead versions of
   * one of 100k, and its sweeps slowed with its size.
   */
  (t) => `
    ALTER TABLE ${t.sessions} SET (
      autovacuum_vacuum_scale_factor = 0.01,
      autovacuum_vacuum_threshold = 1000,
      autovacuum_analyze_scale_factor = 0.02
    );`,
  // 4: each session's count of events (OutboxEvent.sequence), and the transactional outbox.
  (t) => `
    ALTER TABLE ${t.sessions} ADD COLUMN event_sequence bigint NOT NULL DEFAULT 0;
    CREATE TABLE ${t.outbox} (
      position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      id uuid NOT NULL,
      type text NOT NULL,
      time bigint NOT NULL,
      session_id text COLLATE "C",
      user_id text,
      sequence bigint NOT NULL,
      instance text NOT NULL,
      data jsonb NOT NULL,
      payload bytea
    );
    CREATE INDEX ${t.outboxByUser} ON ${t.outbox} (user_id, time);
    CREATE INDEX ${t.outboxBySession} ON ${t.outbox} (session_id);
    CREATE INDEX ${t.outboxByTime} ON ${t.outbox} (time);`,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/**
 * Brings the table to the current schema. A transaction-level advisory lock
 * makes instances that start together take turns: the first migrates, the
 * others then find nothing left to do.
 */
export async function migrate(pool: Pool, table: PostgresTable): Promise<void> {
  await inTransaction(pool, async (run) => {
    await run('SELECT pg_advisory_xact_lock($1::bigint)', [
      advisoryKey(`clawsession:migrate:${table.sessions}`),
    ]);
    await run(`CREATE SCHEMA IF NOT EXISTS ${table.schema}`);
    await run(
      `CREATE TABLE IF NOT EXISTS ${table.migrations} (
         version integer PRIMARY KEY,
         applied_at timestamptz NOT NULL DEFAULT now()
       )`,
    );
    const { rows } = await run<{ version: number }>(
      `SELECT coalesce(max(version), 0)::integer AS version FROM ${table.migrations}`,
    );
    const current = rows[0]?.version ?? 0;
    if (current > MIGRATIONS.length) {
      throw new Error(
        `table ${table.sessions} has schema version ${current}, newer than this clawsession (${MIGRATIONS.length})`,
      );
    }
    for (const [index, migration] of MIGRATIONS.entries()) {
      if (index < current) continue;
      await run(migration(table));
      await run(`INSERT INTO ${table.migrations} (version) VALUES ($1)`, [index + 1]);
    }
  });
}
