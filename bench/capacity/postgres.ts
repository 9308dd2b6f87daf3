import { randomBytes } from 'node:crypto';
import { Client, Pool } from 'pg';
import { SessionManager, sessionIdOf } from '../../src/core/index.js';
import { PostgresStore } from '../../src/stores/index.js';
import { postgresTable } from '../../src/stores/postgres/schema.js';
import { cpuBetween, cpuByPid } from './process-cpu.js';
import type { Settings } from './settings.js';
import { WalReader, type WalShare } from './wal.js';
import {
  mixedOp,
  type OpKind,
  type Run,
  runCount,
  runFor,
  SessionPool,
  sessionOps,
} from './workload.js';

export const POSTGRES_URL =
  process.env.CLAWSESSION_BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface PostgresOpCost {
  ops: number;
  seconds: number;
  achievedOpsPerSecond: number;
  /** The store's own backends (its pool's connections), by /proc/<pid>/schedstat. */
  backendCpuMicrosPerOp: number;
  /** The server's background processes: WAL writer, checkpointer, background writer. */
  backgroundCpuMicrosPerOp: number;
  /** 1,000,000 µs ÷ (backend + background µs per operation). */
  opsPerCore: number;
  clientCpuMicrosPerOp: number;
  /** pg_current_wal_lsn() delta per operation: the whole server's WAL, others' included. */
  serverWalBytesPerOp: number;
  /** This schema's share of it; null where pg_waldump cannot read the server's WAL. */
  wal: WalShare | null;
  /** Client backends of others seen active at the start and end of the phase (max). */
  othersActive: number;
}

export interface PostgresStorage {
  rows: number;
  heapBytes: number;
  toastAndMapsBytes: number;
  indexBytes: Record<string, number>;
  totalBytes: number;
  bytesPerRow: number;
  /** pg_column_size of a whole row and of its data column, averaged. */
  avgTupleBytes: number;
  avgDataBytes: number;
}

export interface PostgresResult {
  server: string;
  settings: Record<string, string>;
  costs: Partial<Record<OpKind | 'raw SELECT (anchor)' | 'mix', PostgresOpCost>>;
  /** Each write kind right after a CHECKPOINT: every page it touches is logged whole once. */
  cold: Partial<Record<OpKind, PostgresOpCost>>;
  storage: { afterCreate: PostgresStorage; afterUpdates: PostgresStorage };
  walUnreadable?: string;
}

const REPORTED_SETTINGS = [
  'shared_buffers',
  'synchronous_commit',
  'full_page_writes',
  'wal_compression',
  'checkpoint_timeout',
  'max_wal_size',
  'autovacuum',
];

/**
 * clawsession over PostgresStore on the shared server, in a schema of its
 * own: CPU per operation of the store's backends (found by their
 * application_name) and of the server's background processes, WAL per write,
 * and the table's bytes per session.
 */
export async function measurePostgres(settings: Settings): Promise<PostgresResult> {
  const run = randomBytes(3).toString('hex');
  const schema = `csbench_capacity_${run}`;
  const application = `csbench-capacity-${run}`;
  const observer = new Client({
    connectionString: POSTGRES_URL,
    application_name: `${application}-observer`,
  });
  await observer.connect();
  let manager: SessionManager | undefined;
  // The anchor's connections carry the store's application_name, so their backends are counted too.
  const raw = new Pool({
    connectionString: POSTGRES_URL,
    application_name: application,
    max: settings.concurrency,
  });
  try {
    const separator = POSTGRES_URL.includes('?') ? '&' : '?';
    const store = await PostgresStore.connect({
      connectionString: `${POSTGRES_URL}${separator}application_name=${application}`,
      schema,
      // A connection for every operation in flight, and room for the stalls of a shared server.
      poolSize: settings.concurrency,
      connectTimeout: 30_000,
      statementTimeout: 30_000,
    });
    manager = new SessionManager({ store, touchThreshold: 1 });
    const pool = new SessionPool();
    const ops = sessionOps(manager, pool);
    const probe = new PostgresProbe(observer, application, await WalReader.open(observer, schema));
    const table = postgresTable(schema, 'clawsession_sessions').sessions;
    const { concurrency, seconds, sessions, coldOps } = settings;
    const costs: PostgresResult['costs'] = {};
    const cold: PostgresResult['cold'] = {};

    // Opens the pool's connections, so every phase finds its backends running.
    await runCount(200, concurrency, ops.create);
    await runCount(200, concurrency, ops.revoke);
    await probe.assertBackendsFound();
    costs.create = await probe.cost(() => runCount(sessions, concurrency, ops.create));
    const afterCreate = await storage(observer, table);
    for (const kind of ['create', 'patch', 'touch', 'revoke'] as const) {
      await observer.query('CHECKPOINT');
      cold[kind] = await probe.cost(() => runCount(coldOps, concurrency, ops[kind]));
    }
    costs.get = await probe.cost(() => runFor(seconds, concurrency, ops.get));
    const rawSelect = async () => {
      await raw.query(`SELECT * FROM ${table} WHERE id = $1`, [sessionIdOf(pool.pick())]);
    };
    await runCount(100, concurrency, rawSelect);
    costs['raw SELECT (anchor)'] = await probe.cost(() => runFor(seconds, concurrency, rawSelect));
    costs.touch = await probe.cost(() => runFor(seconds, concurrency, ops.touch));
    costs.patch = await probe.cost(() => runFor(seconds, concurrency, ops.patch));
    costs.mix = await probe.cost(() => runFor(seconds, concurrency, mixedOp(settings.mix, ops)));
    const afterUpdates = await storage(observer, table);
    costs.revoke = await probe.cost(() => runCount(pool.size, concurrency, ops.revoke));

    const { rows } = await observer.query<{ name: string; setting: string; unit: string | null }>(
      'SELECT name, setting, unit FROM pg_settings WHERE name = ANY($1)',
      [REPORTED_SETTINGS],
    );
    return {
      server: String((await observer.query('SHOW server_version')).rows[0]?.server_version),
      settings: Object.fromEntries(
        rows.map((row) => [row.name, `${row.setting}${row.unit ? ` × ${row.unit}` : ''}`]),
      ),
      costs,
      cold,
      storage: { afterCreate, afterUpdates },
      ...(probe.walUnreadable ? { walUnreadable: probe.walUnreadable } : {}),
    };
  } finally {
    await manager?.close().catch(() => undefined);
    await raw.end().catch(() => undefined);
    await observer.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => undefined);
    await observer.end();
  }
}

interface Reading {
  backends: Map<number, number>;
  background: Map<number, number>;
  lsn: string;
  othersActive: number;
}

/** Readings of the server around a phase, through the observer connection. */
class PostgresProbe {
  readonly #observer: Client;
  readonly #application: string;
  readonly #wal: WalReader;
  walUnreadable: string | undefined;

  constructor(observer: Client, application: string, wal: WalReader) {
    this.#observer = observer;
    this.#application = application;
    this.#wal = wal;
  }

  async assertBackendsFound(): Promise<void> {
    const { backends } = await this.#read();
    if (backends.size === 0)
      throw new Error(
        `no backend with application_name ${this.#application}: is PostgreSQL on this machine?`,
      );
  }

  async cost(run: () => Promise<Run>): Promise<PostgresOpCost> {
    const before = await this.#read();
    const client = process.cpuUsage();
    const { ops, seconds } = await run();
    const clientCpu = process.cpuUsage(client);
    const after = await this.#read();
    const micros = (cpuSeconds: number) => (cpuSeconds * 1e6) / ops;
    const backendCpuMicrosPerOp = micros(cpuBetween(before.backends, after.backends));
    const backgroundCpuMicrosPerOp = micros(cpuBetween(before.background, after.background));
    const { rows } = await this.#observer.query<{ bytes: string }>(
      'SELECT pg_wal_lsn_diff($2::pg_lsn, $1::pg_lsn)::bigint AS bytes',
      [before.lsn, after.lsn],
    );
    return {
      ops,
      seconds,
      achievedOpsPerSecond: ops / seconds,
      backendCpuMicrosPerOp,
      backgroundCpuMicrosPerOp,
      opsPerCore: 1e6 / (backendCpuMicrosPerOp + backgroundCpuMicrosPerOp),
      clientCpuMicrosPerOp: (clientCpu.user + clientCpu.system) / ops,
      serverWalBytesPerOp: Number(rows[0]?.bytes) / ops,
      wal: await this.#walShare(before.lsn, after.lsn, ops),
      othersActive: Math.max(before.othersActive, after.othersActive),
    };
  }

  async #walShare(from: string, to: string, ops: number): Promise<WalShare | null> {
    if (this.walUnreadable) return null;
    try {
      return await this.#wal.share(from, to, ops);
    } catch (error) {
      this.walUnreadable = error instanceof Error ? error.message : String(error);
      return null;
    }
  }

  async #read(): Promise<Reading> {
    const { rows } = await this.#observer.query<{ pid: number; own: boolean }>(
      `SELECT pid, application_name = $1 AS own FROM pg_stat_activity
        WHERE application_name = $1 OR backend_type <> 'client backend'`,
      [this.#application],
    );
    const { rows: others } = await this.#observer.query<{ active: string }>(
      `SELECT count(*) AS active FROM pg_stat_activity
        WHERE backend_type = 'client backend' AND state = 'active' AND application_name NOT LIKE $1`,
      [`${this.#application}%`],
    );
    const { rows: position } = await this.#observer.query<{ lsn: string }>(
      // The flushed position: with synchronous_commit every commit before it is on disk, for pg_waldump.
      'SELECT pg_current_wal_flush_lsn()::text AS lsn',
    );
    return {
      backends: cpuByPid(rows.filter((row) => row.own).map((row) => row.pid)),
      background: cpuByPid(rows.filter((row) => !row.own).map((row) => row.pid)),
      lsn: String(position[0]?.lsn),
      othersActive: Number(others[0]?.active),
    };
  }
}

async function storage(observer: Client, table: string): Promise<PostgresStorage> {
  const { rows } = await observer.query<Record<string, string>>(
    `SELECT count(*) AS rows,
            pg_relation_size($1::regclass) AS heap,
            pg_table_size($1::regclass) - pg_relation_size($1::regclass) AS toast_and_maps,
            pg_total_relation_size($1::regclass) AS total,
            (SELECT avg(pg_column_size(t.*)) FROM ${table} t) AS tuple,
            (SELECT avg(pg_column_size(t.data)) FROM ${table} t) AS data
       FROM ${table}`,
    [table],
  );
  const { rows: indexes } = await observer.query<{ name: string; bytes: string }>(
    `SELECT indexrelid::regclass::text AS name, pg_relation_size(indexrelid) AS bytes
       FROM pg_index WHERE indrelid = $1::regclass ORDER BY 1`,
    [table],
  );
  const row = rows[0] ?? {};
  const total = Number(row.total);
  const count = Number(row.rows);
  return {
    rows: count,
    heapBytes: Number(row.heap),
    toastAndMapsBytes: Number(row.toast_and_maps),
    indexBytes: Object.fromEntries(
      indexes.map(({ name, bytes }) => [name.split('.').at(-1) ?? name, Number(bytes)]),
    ),
    totalBytes: total,
    bytesPerRow: total / count,
    avgTupleBytes: Number(row.tuple),
    avgDataBytes: Number(row.data),
  };
}
