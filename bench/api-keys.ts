/*
 * What verifying an API key costs, next to its anchor measured in the same
 * run: a bare SHA-256 of the secret plus a Map lookup of the prefix, which any
 * verification must do at least. The ratio (ops/s ÷ anchor ops/s) shows what
 * ApiKeys adds: parsing, the cache look-up (itself a SHA-256 of the whole
 * key), the expiry, scope and rate-limit checks, usage counting, and, with the
 * cache off, a read of the record store.
 *
 *   npx tsx bench/api-keys.ts      (Redis on 127.0.0.1:6379 adds the Redis rows)
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Bench, type Task } from 'tinybench';
import type { RecordStore } from '../src/core/index.js';
import { ApiKeys } from '../src/keys/index.js';
import { MemoryRecordStore, RedisRecordStore, SqliteRecordStore } from '../src/stores/index.js';

const TASK_TIME_MS = 1000;
const WARMUP_TIME_MS = 200;
/** Keys the verifications cycle through. */
const POOL_SIZE = 100;
const REDIS_URL = process.env.CLAWSESSION_BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const KEY = /^cs_live_([0-9A-Za-z]{12})_([A-Za-z0-9_-]{43})$/;

function cycle<T>(items: readonly T[]): () => T {
  let next = 0;
  return () => items[next++ % items.length] as T;
}

interface Side {
  apiKeys: ApiKeys;
  next: () => string;
}

/** ApiKeys over `records` with a pool of keys, each verified once so that a cache starts warm. */
async function side(records: RecordStore, cacheTtl: number): Promise<Side> {
  const apiKeys = new ApiKeys({ records, cacheTtl });
  const pool: string[] = [];
  for (let i = 0; i < POOL_SIZE; i++) {
    const { key } = await apiKeys.create({ owner: `service-${i}`, scopes: ['sessions:read'] });
    pool.push(key);
    await apiKeys.verify(key, 'sessions:read');
  }
  return { apiKeys, next: cycle(pool) };
}

/** The least any verification does: split the key, hash the secret, find the prefix, compare. */
function anchor(): () => boolean {
  const hashes = new Map<string, Buffer>();
  const pool: string[] = [];
  for (let i = 0; i < POOL_SIZE; i++) {
    const prefix = `p${String(i).padStart(11, '0')}`;
    const secret = createHash('sha256').update(`secret-${i}`).digest('base64url');
    hashes.set(prefix, createHash('sha256').update(secret).digest());
    pool.push(`cs_live_${prefix}_${secret}`);
  }
  const next = cycle(pool);
  return () => {
    const [, prefix, secret] = KEY.exec(next()) as RegExpExecArray;
    const stored = hashes.get(prefix as string) as Buffer;
    return timingSafeEqual(
      createHash('sha256')
        .update(secret as string)
        .digest(),
      stored,
    );
  };
}

async function connectRedis(): Promise<RecordStore | null> {
  try {
    return await RedisRecordStore.connect({
      url: REDIS_URL,
      prefix: `cs:bench:keys:${process.pid}:`,
      connectTimeout: 1000,
    });
  } catch (error) {
    console.log(
      `Redis at ${REDIS_URL} not reachable (${(error as Error).message}); no Redis rows.`,
    );
    return null;
  }
}

function opsPerSecond(task: Task | undefined): { ops: number; meanMicros: number } {
  const result = task?.result;
  if (!result || !('latency' in result)) {
    const reason = result && 'error' in result ? String(result.error) : result?.state;
    throw new Error(`task ${task?.name} did not complete: ${reason}`);
  }
  return { ops: 1000 / result.latency.mean, meanMicros: result.latency.mean * 1000 };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'clawsession-bench-keys-'));
  const sqlite = new SqliteRecordStore({ filename: join(dir, 'keys.db') });
  const redis = await connectRedis();
  const sides: [string, Side][] = [
    ['verify, warm cache', await side(new MemoryRecordStore(), 600_000)],
    ['verify, no cache, memory', await side(new MemoryRecordStore(), 0)],
    ['verify, no cache, sqlite', await side(sqlite, 0)],
  ];
  const redisSide = redis && (await side(redis, 0));
  if (redisSide) sides.push(['verify, no cache, redis', redisSide]);
  try {
    console.log(
      `node ${process.version} · ${process.platform}/${process.arch} · tinybench ${TASK_TIME_MS} ms per task · pool of ${POOL_SIZE} keys`,
    );
    console.log(
      'anchor = split the key, SHA-256 of the secret, Map lookup, constant-time compare\n',
    );
    const bench = new Bench({ time: TASK_TIME_MS, warmupTime: WARMUP_TIME_MS, throws: true });
    bench.add('anchor', anchor());
    for (const [name, { apiKeys, next }] of sides)
      bench.add(name, () => apiKeys.verify(next(), 'sessions:read'));
    await bench.run();

    const base = opsPerSecond(bench.getTask('anchor'));
    const rows = [['task', 'ops/s', 'mean µs', 'ratio to anchor']];
    for (const name of ['anchor', ...sides.map(([name]) => name)]) {
      const { ops, meanMicros } = opsPerSecond(bench.getTask(name));
      rows.push([
        name,
        Math.round(ops).toLocaleString('en-US'),
        meanMicros.toFixed(2),
        `${(ops / base.ops).toFixed(3)}x`,
      ]);
    }
    const widths = (rows[0] ?? []).map((_, c) =>
      Math.max(...rows.map((row) => row[c]?.length ?? 0)),
    );
    for (const row of rows)
      console.log(
        row
          .map((cell, c) => (c === 0 ? cell.padEnd(widths[c] ?? 0) : cell.padStart(widths[c] ?? 0)))
          .join('  '),
      );
  } finally {
    for (const [, { apiKeys }] of sides) await apiKeys.close();
    // Redis outlives this process, so its keys are removed; the others go with it.
    if (redisSide)
      for (const info of await redisSide.apiKeys.list())
        await redisSide.apiKeys.revoke(info.prefix);
    await Promise.all([sqlite.close(), redis?.close()]);
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
