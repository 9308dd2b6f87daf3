// How long until a revoke on one instance is seen by another through NearCache,
// next to the raw Redis pub/sub delivery time measured in the same run.
// Run: npx tsx bench/near-cache.ts   (needs Redis on 127.0.0.1:6379)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createClient } from 'redis';
import { createCodec, SessionManager } from '../src/core/index.js';
import { NearCache, RedisInvalidationBus, SqliteStore } from '../src/stores/index.js';

const REDIS_URL = process.env.CLAWSESSION_BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const ROUNDS = 300;
const channel = `cs:bench:${process.pid}`;
const dir = mkdtempSync(join(tmpdir(), 'clawsession-bench-near-'));
const filename = join(dir, 'sessions.db');
const codec = createCodec();

const instance = async () =>
  new SessionManager({
    store: await NearCache.create(new SqliteStore({ filename, codec }), {
      ttl: 600_000,
      bus: await RedisInvalidationBus.connect({ url: REDIS_URL, channel }),
    }),
  });

function summary(samples: number[]) {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) =>
    sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
  return { p50: at(0.5), p99: at(0.99), max: sorted.at(-1) as number };
}

function round(values: Record<string, number>) {
  return Object.fromEntries(
    Object.entries(values).map(([key, value]) => [key, Number(value.toFixed(3))]),
  );
}

async function revokeVisibility(): Promise<number[]> {
  const [a, b] = [await instance(), await instance()];
  const samples: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const { token } = await a.create({ userId: 'bench' });
    await b.get(token); // cached in b
    const started = performance.now();
    await a.revoke(token);
    while ((await b.get(token)) !== null) await new Promise((resolve) => setImmediate(resolve));
    samples.push(performance.now() - started);
  }
  await Promise.all([a.close(), b.close()]);
  return samples;
}

async function rawPubSub(): Promise<number[]> {
  const publisher = createClient({ url: REDIS_URL });
  const subscriber = publisher.duplicate();
  await Promise.all([publisher.connect(), subscriber.connect()]);
  const samples: number[] = [];
  let resolveMessage = () => {};
  await subscriber.subscribe(`${channel}:raw`, () => resolveMessage());
  for (let i = 0; i < ROUNDS; i++) {
    const received = new Promise<void>((resolve) => (resolveMessage = resolve));
    const started = performance.now();
    await publisher.publish(`${channel}:raw`, 'x');
    await received;
    samples.push(performance.now() - started);
  }
  await Promise.all([publisher.close(), subscriber.close()]);
  return samples;
}

const anchor = summary(await rawPubSub());
const nearCache = summary(await revokeVisibility());
rmSync(dir, { recursive: true, force: true });
console.log(`node ${process.version}, ${ROUNDS} rounds, Redis ${REDIS_URL}`);
console.table({
  'revoke seen by the other instance (ms)': round(nearCache),
  'anchor: raw Redis publish → receive (ms)': round(anchor),
  'ratio (near cache / anchor)': round({
    p50: nearCache.p50 / anchor.p50,
    p99: nearCache.p99 / anchor.p99,
    max: nearCache.max / anchor.max,
  }),
});
