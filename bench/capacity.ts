/*
 * The capacity model's measurements (docs/capacity.md): for the reference
 * session through SessionManager, what each operation kind costs the server
 * (Redis: the redis-server's CPU; PostgreSQL: its backends' and background
 * processes' CPU, and WAL), what the mix costs, and the bytes a session
 * takes. CPU time per operation, not throughput: throughput on this shared
 * 2-core machine says more about the machine than about the server.
 *
 *   npm run bench:capacity
 *   CAPACITY_SESSIONS=40000 CAPACITY_SECONDS=2 CAPACITY_ONLY=redis npm run bench:capacity
 *   CAPACITY_MIX=get:90,patch:9,create:0.5,revoke:0.5 npm run bench:capacity
 *
 * Redis runs as a private redis-server this bench starts and stops;
 * PostgreSQL is the shared server (CLAWSESSION_BENCH_POSTGRES_URL), in a
 * schema of its own, dropped at the end. Writes bench/results/capacity.json
 * and bench/results/capacity.md.
 */
import { measurePostgres } from './capacity/postgres.js';
import { machineReading } from './capacity/process-cpu.js';
import { measureRedis } from './capacity/redis.js';
import { type Measurements, writeReport } from './capacity/report.js';
import { readSettings } from './capacity/settings.js';

const settings = readSettings(process.env);
const start = machineReading();
const measured: Measurements = { settings };
try {
  if (settings.only !== 'postgres') {
    console.log('redis: measuring');
    measured.redis = await measureRedis(settings);
  }
  if (settings.only !== 'redis') {
    console.log('postgres: measuring');
    measured.postgres = await measurePostgres(settings);
  }
} finally {
  // What was measured before a failure is written all the same.
  console.log(`\n${writeReport(measured, start)}`);
}
