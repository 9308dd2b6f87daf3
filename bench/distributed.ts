// Networked stores next to their raw drivers, in one run, on the same servers:
// - latency (sequential) and throughput (32 in flight) of get / patch / touch for RedisStore,
//   PostgresStore and TieredStore(Redis, PostgreSQL), each beside a raw GET/SET (Redis) or
//   SELECT/UPDATE by primary key (PostgreSQL) of the same encoded blob;
// - bytes per stored session in Redis, indexes included, next to connect-redis for the same session.
// Run: npx tsx bench/distributed.ts   (needs Redis on 6379 and PostgreSQL on 5432; starts its own
// throwaway redis-servers, one per contender, for the memory figures)
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { RedisStore as ConnectRedisStore } from 'connect-redis';
import { Pool } from 'pg';
import { createClient, RESP_TYPES, type RedisArgument } from 'redis';
import {
  createCodec,
  type SessionData,
  SessionManager,
  type SessionStore,
} from '../src/core/index.js';
import { PostgresStore } from '../src/stores/postgres/session-store.js';
import { RedisStore } from '../src/stores/redis/index.js';
import { TieredStore } from '../src/stores/tiered.js';
import { freePort, startRedisServer, stopRedisServer } from '../test/stores/fixtures/redis.js';

const REDIS_URL = process.env.CLAWSESSION_BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const POSTGRES_URL =
  process.env.CLAWSESSION_BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const SEQUENTIAL = 2_000;
const CONCURRENT_OPS = 4_000;
const IN_FLIGHT = 32;
const SESSIONS = 200;

const referenceData: SessionData = {
  user: { id: 'user-4711', name: 'Ada Lovelace', email: 'ada@example.com', roles: ['customer'] },
  cart: Array.from({ length: 10 }, (_, i) => ({
    sku: `SKU-${1000 + i}`,
    qty: 1,
    priceCents: 999 + i * 250,
  })),
};
const codec = createCodec();
const prefix = `cs:bench:${randomBytes(3).toString('hex')}:`;
const schema = `clawsession_bench_${randomBytes(3).toString('hex')}`;

interface Figures {
  meanUs: number;
  p99Us: number;
  opsPerSecond: number;
}

async function measure(op: (i: number) => Promise<unknown>): Promise<Figures> {
  for (let i = 0; i < 200; i++) await op(i); // warm-up
  const samples: number[] = [];
  for (let i = 0; i < SEQUENTIAL; i++) {
    const started = performance.now();
    await op(i);
    samples.push((performance.now() - started) * 1000);
  }
  samples.sort((a, b) => a - b);
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < CONCURRENT_OPS) await op(next++);
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  return {
    meanUs: samples.reduce((sum, value) => sum + value, 0) / samples.length,
    p99Us: samples[Math.floor(samples.length * 0.99)] as number,
    opsPerSecond: CONCURRENT_OPS / seconds,
  };
}

async function storeOps(store: SessionStore) {
  const manager = new SessionManager({ store, touchThreshold: 0 });
  const tokens = await Promise.all(
    Array.from(
      { length: SESSIONS },
      async () => (await manager.create({ userId: 'bench', data: referenceData })).token,
    ),
  );
  const token = (i: number) => tokens[i % SESSIONS] as string;
  const figures = {
    get: await measure((i) => manager.get(token(i), { touch: false })),
    patch: await measure((i) =>
      manager.patch(token(i), [{ op: 'increment', path: '/visits', value: 1 }]),
    ),
    touch: await measure((i) => manager.touch(token(i))),
  };
  await manager.close();
  return figures;
}

async function rawRedisOps() {
  const client = await createClient({ url: REDIS_URL }).connect();
  const blob = Buffer.from(codec.encode('x'.repeat(64), referenceData));
  const key = (i: number) => `${prefix}raw:${i % SESSIONS}`;
  for (let i = 0; i < SESSIONS; i++) await client.set(key(i), blob);
  const figures = {
    get: await measure((i) => client.get(key(i))),
    patch: await measure((i) => client.set(key(i), blob)),
    touch: await measure((i) => client.pExpire(key(i), 1_800_000)),
  };
  await client.close();
  return figures;
}

async function rawPostgresOps() {
  const pool = new Pool({ connectionString: POSTGRES_URL, max: 10 });
  await pool.query(`CREATE TABLE ${schema}.raw (id text PRIMARY KEY, data bytea, expires bigint)`);
  const blob = Buffer.from(codec.encode('x'.repeat(64), referenceData));
  for (let i = 0; i < SESSIONS; i++)
    await pool.query(`INSERT INTO ${schema}.raw VALUES ($1, $2, 0)`, [String(i), blob]);
  const id = (i: number) => String(i % SESSIONS);
  const figures = {
    get: await measure((i) => pool.query(`SELECT data FROM ${schema}.raw WHERE id = $1`, [id(i)])),
    patch: await measure((i) =>
      pool.query(`UPDATE ${schema}.raw SET data = $2 WHERE id = $1`, [id(i), blob]),
    ),
    touch: await measure((i) =>
      pool.query(`UPDATE ${schema}.raw SET expires = $2 WHERE id = $1`, [id(i), i]),
    ),
  };
  await pool.end();
  return figures;
}

/** One way of storing sessions in Redis, measured by `bytesPerSession`. */
interface MemoryContender {
  /** Stores session number `i` (number 0 is the warm-up, not counted). */
  write(i: number): Promise<unknown>;
  /** The key of one stored session, for MEMORY USAGE. */
  sampleKey(): Promise<RedisArgument>;
  close(): Promise<void>;
}

/**
 * Bytes per stored session: the growth of used_memory over `count` sessions, on a throwaway
 * redis-server of the contender's own. The baseline is taken after one warm-up session, so the
 * server's one-time allocations on first use (the Lua engine and script cache, the first keys:
 * ~200 KB for clawsession, ~50 KB for connect-redis) are charged to neither; measured in turn on
 * one server, the first contender paid them all, which at 1,000 sessions is some 200 bytes per
 * session. Both readings are taken with the writer's connection closed, so its buffers (tens of
 * KB, varying from run to run) are not counted either.
 */
async function bytesPerSession(open: (url: string) => Promise<MemoryContender>) {
  const port = await freePort();
  const server = await startRedisServer(port);
  const url = `redis://127.0.0.1:${port}`;
  const client = await createClient({ url }).connect();
  /** used_memory once the server has let go of every connection but this one. */
  const usedMemory = async () => {
    while (/^connected_clients:(\d+)/m.exec(await client.info('clients'))?.[1] !== '1')
      await new Promise((resolve) => setTimeout(resolve, 10));
    return Number(/^used_memory:(\d+)/m.exec(await client.info('memory'))?.[1]);
  };
  const count = 1_000;
  try {
    const warmUp = await open(url);
    await warmUp.write(0);
    await warmUp.close();
    const baseline = await usedMemory();
    const contender = await open(url);
    for (let i = 1; i <= count; i++) await contender.write(i);
    const sessionKey = await contender.sampleKey();
    await contender.close();
    const perSession = ((await usedMemory()) - baseline) / count;
    return { perSession, sessionKeyOnly: Number(await client.memoryUsage(sessionKey)) };
  } finally {
    await client.close();
    await stopRedisServer(server);
  }
}

async function clawsessionContender(url: string): Promise<MemoryContender> {
  const manager = new SessionManager({ store: await RedisStore.connect({ url, codec }) });
  return {
    write: (i) => manager.create({ userId: `user-${i}`, data: referenceData }),
    async sampleKey() {
      // Session keys end in the id's 32 raw bytes: key names are read as bytes, not as UTF-8 text.
      const client = await createClient({ url }).connect();
      const binary = client.withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer });
      const [key] = await binary.keys('cs:s:*');
      await client.close();
      return key as Buffer;
    },
    close: () => manager.close(),
  };
}

async function connectRedisContender(url: string): Promise<MemoryContender> {
  const client = await createClient({ url }).connect();
  const store = new ConnectRedisStore({ client });
  return {
    write: (i) =>
      store.set(randomBytes(24).toString('base64url'), {
        cookie: {
          originalMaxAge: 86_400_000,
          expires: new Date(Date.now() + 86_400_000),
          httpOnly: true,
          path: '/',
          secure: true,
          sameSite: 'lax',
        },
        userId: `user-${i}`,
        ...referenceData,
      } as never),
    sampleKey: async () => (await client.keys('sess:*'))[0] as string,
    close: () => client.close(),
  };
}

function row(name: string, op: string, store: Figures, anchor: Figures) {
  return {
    store: name,
    op,
    'mean µs': Math.round(store.meanUs),
    'p99 µs': Math.round(store.p99Us),
    'ops/s (32 in flight)': Math.round(store.opsPerSecond),
    'anchor mean µs': Math.round(anchor.meanUs),
    'anchor ops/s': Math.round(anchor.opsPerSecond),
    'latency ratio': Number((store.meanUs / anchor.meanUs).toFixed(2)),
    'throughput ratio': Number((store.opsPerSecond / anchor.opsPerSecond).toFixed(2)),
  };
}

const admin = new Pool({ connectionString: POSTGRES_URL });
await admin.query(`CREATE SCHEMA ${schema}`);
try {
  const redisAnchor = await rawRedisOps();
  const postgresAnchor = await rawPostgresOps();
  const redis = await storeOps(await RedisStore.connect({ url: REDIS_URL, prefix, codec }));
  const postgres = await storeOps(
    await PostgresStore.connect({ connectionString: POSTGRES_URL, schema, codec }),
  );
  const tiered = await storeOps(
    new TieredStore(
      await RedisStore.connect({ url: REDIS_URL, prefix: `${prefix}t:`, codec }),
      await PostgresStore.connect({
        connectionString: POSTGRES_URL,
        schema,
        table: 'tiered',
        codec,
      }),
    ),
  );
  const rows = [];
  for (const op of ['get', 'patch', 'touch'] as const) {
    rows.push(row('RedisStore', op, redis[op], redisAnchor[op]));
    rows.push(row('PostgresStore', op, postgres[op], postgresAnchor[op]));
    rows.push(row('Tiered(Redis, PG)', op, tiered[op], redisAnchor[op]));
  }
  console.log(
    `node ${process.version}; ${SEQUENTIAL} sequential ops, then ${CONCURRENT_OPS} with ${IN_FLIGHT} in flight`,
  );
  console.log(
    'anchors: raw GET / SET / PEXPIRE of the same blob (Redis, and Tiered), raw SELECT / UPDATE by pk (PostgreSQL)',
  );
  console.table(rows);
  const bytes = {
    clawsession: await bytesPerSession(clawsessionContender),
    connectRedis: await bytesPerSession(connectRedisContender),
  };
  console.log(
    'bytes per stored session in Redis (user + 10-item cart), 1,000 sessions after a warm-up one, used_memory delta:',
  );
  console.table({
    clawsession: { ...bytes.clawsession },
    'connect-redis 9': { ...bytes.connectRedis },
    ratio: {
      perSession: Number((bytes.clawsession.perSession / bytes.connectRedis.perSession).toFixed(2)),
      sessionKeyOnly: Number(
        (bytes.clawsession.sessionKeyOnly / bytes.connectRedis.sessionKeyOnly).toFixed(2),
      ),
    },
  });
} finally {
  await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await admin.end();
  const cleanup = await createClient({ url: REDIS_URL }).connect();
  // As Buffers: session keys end in the id's 32 raw bytes, which a UTF-8 string would mangle.
  const binary = cleanup.withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer });
  for await (const keys of binary.scanIterator({ MATCH: `${prefix}*`, COUNT: 1000 })) {
    if (keys.length > 0) await cleanup.unlink(keys);
  }
  await cleanup.close();
}
