/*
 * What sweeping expired sessions costs as the PostgreSQL table grows. For each
 * table size, a schema of its own holds a PostgresStore table filled in SQL
 * with rows exactly as `create()` writes them, BENCH_EXPIRED of them expired
 * and scattered through the heap. Each round times the gateway's path,
 * `SessionManager.sweepExpired()` (batches of BENCH_BATCH through
 * `store.sweepExpired`), until the expired rows are gone, then refills them;
 * sizes take turns within a round so that machine drift hits all of them.
 * A last pass runs the same sweep with auto_explain on the store's own
 * connection, so the plans and buffer counts are of the statements it sends.
 *
 *   npm run bench:pg-sweep
 *   BENCH_ROWS=20000,200000 BENCH_ROUNDS=3 npm run bench:pg-sweep
 *
 * Writes bench/results/postgres-sweep.json (machine, versions, every run,
 * every plan, the ratios) and bench/results/postgres-sweep.md.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { createCodec, type SessionData, SessionManager } from '../src/core/index.js';
import {
  InstrumentedStore,
  openStore,
  PostgresStore,
  type SessionStore,
} from '../src/stores/index.js';
import { type PostgresTable, postgresTable } from '../src/stores/postgres/schema.js';
import { machine, median, packageVersion } from './report.js';

const POSTGRES_URL =
  process.env.CLAWSESSION_BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const SIZES = (process.env.BENCH_ROWS ?? '100000,1000000')
  .split(',')
  .map(Number)
  .sort((a, b) => a - b);
const EXPIRED = Number(process.env.BENCH_EXPIRED ?? 10_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const BATCH = Number(process.env.BENCH_BATCH ?? 500);

const TABLE = 'clawsession_sessions';
const IDLE_MS = 30 * 60_000;
const ABSOLUTE_MS = 24 * 60 * 60_000;
/** How far in the past the expired sessions went idle. */
const EXPIRED_SPREAD_MS = 5 * 60 * 60_000;
const NOW = Date.now();
const RUN = randomBytes(3).toString('hex');
/** Every schema of every run starts so, which also lets a report leave it out of statements. */
const SCHEMA_PREFIX = 'cs_pgsweep_';

/** The reference session of issue 14: a user and a 10-item cart. */
const REFERENCE: SessionData = {
  user: { id: 12345, name: 'alice' },
  items: Array.from({ length: 10 }, () => ({ sku: 'SKU-000123', qty: 2, price: 19.99 })),
};

interface Table {
  rows: number;
  schema: string;
  names: PostgresTable;
  store: SessionStore;
  fillSeconds: number;
}

interface Run {
  round: number;
  rows: number;
  swept: number;
  sweepMs: number;
  storeCallsMs: number[];
}

/** One statement the sweep sent, summed over its executions as auto_explain reported them. */
interface StatementCost {
  query: string;
  calls: number;
  sharedHit: number;
  sharedRead: number;
  sharedDirtied: number;
  executionMs: number;
  plan: string;
}

interface Explained {
  rows: number;
  swept: number;
  statements: StatementCost[];
  firstPlans: unknown[];
}

for (const [name, value] of Object.entries({ EXPIRED, ROUNDS, BATCH })) {
  if (!(Number.isSafeInteger(value) && value > 0))
    throw new Error(`BENCH_${name} must be a positive integer`);
}
for (const rows of SIZES) {
  if (!(Number.isSafeInteger(rows) && rows > EXPIRED))
    throw new Error(`every BENCH_ROWS size must be an integer above BENCH_EXPIRED (${EXPIRED})`);
}

const admin = new pg.Pool({ connectionString: POSTGRES_URL, max: 2 });
admin.on('error', () => undefined);
const tables: Table[] = [];
const schemas: string[] = [];

async function dropSchemas() {
  for (const schema of schemas.splice(0))
    await admin.query(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(schema)} CASCADE`);
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void dropSchemas().finally(() => process.exit(130));
  });
}

/**
 * Inserts `count` sessions; row g is expired when g is a multiple of `stride`,
 * for the first `expired` multiples, so expired rows lie spread over the heap
 * as sessions created at different times would.
 */
function insertSessions(t: PostgresTable): string {
  return `
    INSERT INTO ${t.sessions} (id, user_id, data, version, created_at, last_active_at,
      idle_expires_at, absolute_expires_at, token_issued_at, ip, user_agent)
    SELECT encode(sha256(convert_to($1 || g, 'UTF8')), 'hex'), 'user-' || (g % $2), $3::bytea, 1,
      last_active_at - age, last_active_at, last_active_at + ${IDLE_MS},
      last_active_at - age + ${ABSOLUTE_MS}, last_active_at - age,
      '203.0.113.7', 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0'
    FROM (
      SELECT g,
        CASE WHEN g % $5 = 0 AND g / $5 <= $6
          THEN $7::bigint - ${IDLE_MS + 1} - floor(random() * ${EXPIRED_SPREAD_MS})::bigint
          ELSE $7::bigint - floor(random() * ${0.9 * IDLE_MS})::bigint
        END AS last_active_at,
        floor(random() * ${ABSOLUTE_MS - IDLE_MS})::bigint AS age
      FROM generate_series(1, $4::integer) AS g
    ) AS generated`;
}

async function insert(table: Table, prefix: string, count: number, stride: number) {
  // What create() stores under the default codec; the id would matter only to a sealing keyring.
  const data = Buffer.from(createCodec().encode('', REFERENCE));
  await admin.query(insertSessions(table.names), [
    `${RUN}:${prefix}:`,
    Math.ceil(table.rows / 3),
    data,
    count,
    stride,
    EXPIRED,
    NOW,
  ]);
  await admin.query(`VACUUM (ANALYZE) ${table.names.sessions}`);
}

async function openTable(rows: number): Promise<Table> {
  const schema = `${SCHEMA_PREFIX}${RUN}_${rows}`;
  schemas.push(schema);
  const store = await openStore(`${POSTGRES_URL}?schema=${schema}`);
  const table: Table = { rows, schema, names: postgresTable(schema, TABLE), store, fillSeconds: 0 };
  tables.push(table);
  const started = performance.now();
  await insert(table, 'fill', rows, Math.floor(rows / EXPIRED));
  table.fillSeconds = (performance.now() - started) / 1000;
  return table;
}

/** The gateway's sweep: the manager's batches until a short one, each store call timed. */
async function timedSweep(table: Table, round: number): Promise<Run> {
  const storeCallsMs: number[] = [];
  const store = new InstrumentedStore(table.store, {
    onOperation(operation, seconds) {
      if (operation === 'sweepExpired') storeCallsMs.push(seconds * 1000);
    },
  });
  const manager = new SessionManager({ store, clock: () => NOW });
  const started = performance.now();
  const swept = await manager.sweepExpired({ batchSize: BATCH });
  const sweepMs = performance.now() - started;
  if (swept !== EXPIRED) throw new Error(`swept ${swept} of ${EXPIRED} expired in ${table.schema}`);
  return { round, rows: table.rows, swept, sweepMs, storeCallsMs };
}

/**
 * The same sweep through a store on a connection with auto_explain, whose
 * plans arrive as notices: a pool of our own is the only way to set it there.
 */
async function explainedSweep(table: Table): Promise<Explained> {
  const plans: { 'Query Text': string; Plan: PlanNode }[] = [];
  const pool = new pg.Pool({ connectionString: POSTGRES_URL, max: 1 });
  pool.on('connect', (client) => {
    client.on('notice', (notice) => {
      const json = notice.message?.split('plan:\n')[1];
      if (json) plans.push(JSON.parse(json));
    });
    void client.query(`LOAD 'auto_explain';
      SET auto_explain.log_min_duration = 0; SET auto_explain.log_analyze = on;
      SET auto_explain.log_buffers = on; SET auto_explain.log_format = json;
      SET client_min_messages = log`);
  });
  const store = await PostgresStore.connect({ pool, schema: table.schema, table: TABLE });
  try {
    await insert(table, 'explain', EXPIRED, 1);
    plans.length = 0;
    const swept = await new SessionManager({ store, clock: () => NOW }).sweepExpired({
      batchSize: BATCH,
    });
    if (swept !== EXPIRED) throw new Error(`explained sweep removed ${swept} of ${EXPIRED}`);
    const byQuery = new Map<string, StatementCost>();
    for (const { 'Query Text': query, Plan: plan } of plans) {
      const cost = byQuery.get(query) ?? {
        query,
        calls: 0,
        sharedHit: 0,
        sharedRead: 0,
        sharedDirtied: 0,
        executionMs: 0,
        plan: planShape(plan),
      };
      cost.calls += 1;
      cost.sharedHit += plan['Shared Hit Blocks'];
      cost.sharedRead += plan['Shared Read Blocks'];
      cost.sharedDirtied += plan['Shared Dirtied Blocks'];
      cost.executionMs += plan['Actual Total Time'];
      byQuery.set(query, cost);
    }
    const firstPlans = [...byQuery.keys()].map((query) =>
      shortened(plans.find((plan) => plan['Query Text'] === query)),
    );
    return { rows: table.rows, swept, statements: [...byQuery.values()], firstPlans };
  } finally {
    await store.close();
    await pool.end();
  }
}

interface PlanNode {
  'Node Type': string;
  'Index Name'?: string;
  'Relation Name'?: string;
  'Shared Hit Blocks': number;
  'Shared Read Blocks': number;
  'Shared Dirtied Blocks': number;
  'Actual Total Time': number;
  Plans?: PlanNode[];
}

/** `Limit > Index Scan (sessions_by_expiry)`: the nodes of a plan, outermost first. */
function planShape(node: PlanNode): string {
  const target = node['Index Name'] ?? node['Relation Name'];
  const own = target ? `${node['Node Type']} (${target})` : node['Node Type'];
  const children = (node.Plans ?? []).map(planShape);
  if (children.length === 0) return own;
  return `${own} > ${children.length === 1 ? children[0] : `[${children.join(', ')}]`}`;
}

/** A plan without the hundreds of ids a custom plan spells out in its conditions. */
function shortened(plan: unknown): unknown {
  return JSON.parse(
    JSON.stringify(plan, (_key, value) =>
      typeof value === 'string' && value.length > 400 ? `${value.slice(0, 400)}…` : value,
    ),
  );
}

/** A statement on one line, without the schema that differs per size. */
function unqualified(query: string): string {
  return query.replace(new RegExp(`"${SCHEMA_PREFIX}\\w+"\\.`, 'g'), '').replace(/\s+/g, ' ');
}

async function main() {
  const runs: Run[] = [];
  const explained: Explained[] = [];
  try {
    for (const rows of SIZES) {
      const table = await openTable(rows);
      console.log(`${rows} rows filled in ${table.fillSeconds.toFixed(1)} s`);
    }
    for (let round = 1; round <= ROUNDS; round++) {
      const order = round % 2 ? tables : [...tables].reverse();
      for (const table of order) {
        if (round > 1) await insert(table, `round-${round}`, EXPIRED, 1);
        const run = await timedSweep(table, round);
        runs.push(run);
        console.log(`round ${round}, ${run.rows} rows: ${run.sweepMs.toFixed(1)} ms`);
      }
    }
    for (const table of tables) explained.push(await explainedSweep(table));
    await writeReport(runs, explained);
  } finally {
    for (const table of tables) await table.store.close().catch(() => undefined);
    await dropSchemas();
    await admin.end();
  }
}

async function writeReport(runs: Run[], explained: Explained[]) {
  const setting = async (name: string) =>
    (await admin.query<{ value: string }>(`SELECT current_setting($1) AS value`, [name])).rows[0]
      ?.value;
  const sizes = await Promise.all(
    tables.map(async (table) => {
      const { rows } = await admin.query<{ table: string; indexes: string }>(
        'SELECT pg_table_size($1) AS table, pg_indexes_size($1) AS indexes',
        [`${table.names.sessions}`],
      );
      return {
        rows: table.rows,
        fillSeconds: Number(table.fillSeconds.toFixed(1)),
        tableBytes: Number(rows[0]?.table),
        indexBytes: Number(rows[0]?.indexes),
      };
    }),
  );
  const summary = SIZES.map((rows) => {
    const own = runs.filter((run) => run.rows === rows);
    const plan = explained.find((entry) => entry.rows === rows);
    const statements = plan?.statements ?? [];
    const sum = (field: 'sharedHit' | 'sharedRead' | 'executionMs') =>
      statements.reduce((total, statement) => total + statement[field], 0);
    return {
      rows,
      sweepMs: median(own.map((run) => run.sweepMs)),
      storeCallMs: median(own.flatMap((run) => run.storeCallsMs)),
      serverMs: sum('executionMs'),
      buffers: sum('sharedHit') + sum('sharedRead'),
      buffersRead: sum('sharedRead'),
      selectPlan:
        statements.find((statement) => statement.query.startsWith('SELECT'))?.plan ?? 'unknown',
    };
  });
  const smallest = summary[0];
  const ratios = summary.slice(1).map((entry) => ({
    of: `${entry.rows} / ${smallest?.rows}`,
    sweepTime: entry.sweepMs / (smallest?.sweepMs ?? Number.NaN),
    storeCallTime: entry.storeCallMs / (smallest?.storeCallMs ?? Number.NaN),
    serverTime: entry.serverMs / (smallest?.serverMs ?? Number.NaN),
    buffers: entry.buffers / (smallest?.buffers ?? Number.NaN),
  }));
  const report = {
    date: new Date().toISOString(),
    machine: machine(),
    versions: {
      node: process.version,
      clawsession: packageVersion('../'),
      pg: packageVersion('pg'),
      postgres: await setting('server_version'),
      sharedBuffers: await setting('shared_buffers'),
      autovacuum: await setting('autovacuum'),
    },
    settings: { sizes: SIZES, expired: EXPIRED, rounds: ROUNDS, batch: BATCH },
    sizes,
    summary,
    ratios,
    runs,
    explained,
  };
  const results = new URL('results/', import.meta.url);
  mkdirSync(results, { recursive: true });
  writeFileSync(new URL('postgres-sweep.json', results), `${JSON.stringify(report, null, 2)}\n`);

  const ms = (value: number) => value.toFixed(1);
  const table = [
    `Measured ${report.date.slice(0, 10)} on ${report.machine.cpus} × ${report.machine.cpu}, Node ${process.version}, PostgreSQL ${report.versions.postgres} (shared_buffers ${report.versions.sharedBuffers}). ${EXPIRED} expired sessions scattered through the table, swept by \`SessionManager.sweepExpired()\` (the gateway's sweeper) in batches of ${BATCH}; ${ROUNDS} rounds, sizes in turn, medians; the expired rows are refilled and the table vacuumed and analysed before each round. One store call: median of the \`store.sweepExpired\` calls. In PostgreSQL and buffers (shared blocks hit + read): every statement of one whole sweep, summed from auto_explain in one separate pass (one sample, not a median; its times include auto_explain's own timing). Provisional: a shared 2-core machine.`,
    '',
    '| rows | sweep, ms | one store call, ms | in PostgreSQL, ms | buffers | of which read | sweep select plan |',
    '| ---: | ---: | ---: | ---: | ---: | ---: | --- |',
    ...summary.map(
      (entry) =>
        `| ${entry.rows} | ${ms(entry.sweepMs)} | ${ms(entry.storeCallMs)} | ${ms(entry.serverMs)} | ${entry.buffers} | ${entry.buffersRead} | ${entry.selectPlan} |`,
    ),
    ...ratios.map(
      (ratio) =>
        `| **${ratio.of}** | **${ratio.sweepTime.toFixed(2)}×** | **${ratio.storeCallTime.toFixed(2)}×** | **${ratio.serverTime.toFixed(2)}×** | **${ratio.buffers.toFixed(2)}×** | | |`,
    ),
    '',
    '| rows | statement | calls | buffers | plan |',
    '| ---: | --- | ---: | ---: | --- |',
    ...explained.flatMap((entry) =>
      entry.statements.map(
        (statement) =>
          `| ${entry.rows} | \`${unqualified(statement.query).slice(0, 60)}…\` | ${statement.calls} | ${statement.sharedHit + statement.sharedRead} | ${statement.plan} |`,
      ),
    ),
  ].join('\n');
  writeFileSync(new URL('postgres-sweep.md', results), `${table}\n`);
  console.log(`\n${table}`);
}

await main();
