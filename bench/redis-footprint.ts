/*
 * What a session costs in Redis, side by side with the anchors, in one run:
 *
 * - Read cost. In this one process, with the same number of commands in
 *   flight and the same number of operations, rounds in turn of a raw
 *   node-redis `client.get(key)` of a value as long as a stored session
 *   (with the client's default options, and with its command timeout off),
 *   `RedisStore.get` and `SessionManager.get` of the reference session (as
 *   the gateway stores it: with its CSRF secret). ops/s and CPU µs per op of
 *   this process, medians, and the ratio of the costs, ours ÷ raw.
 * - Footprint. N reference sessions written through SessionManager over
 *   RedisStore (with and without the gateway's CSRF secret), and N through
 *   connect-redis 9 in express-session's shape (its cookie object and the
 *   same user and cart, the http bench's cookie options): the growth of
 *   used_memory divided by N, and MEMORY USAGE of every key each side adds
 *   (the session keys, and clawsession's expiry and user indexes).
 *
 * Each footprint round runs on a throwaway redis-server of its own, so that
 * the rest of the machine's traffic does not move used_memory (set
 * BENCH_FOOTPRINT_REDIS_URL to measure on a given server instead). Every key
 * is under a prefix of this run, deleted at the end.
 *
 *   npm run bench:redis        (node --expose-gc, so each round pays for its own garbage)
 *   BENCH_OPS=20000 BENCH_ROUNDS=3 BENCH_SESSIONS=2000 BENCH_SETTLE_MS=1000 npm run bench:redis
 *
 * Writes bench/results/redis-footprint.json and bench/results/redis-footprint.md.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { RedisStore as ConnectRedisStore } from 'connect-redis';
import expressSession from 'express-session';
import { createClient, RESP_TYPES, type RedisArgument } from 'redis';
import { type SessionData, SessionManager } from '../src/core/index.js';
import { CSRF_DATA_KEY, newCsrfToken } from '../src/http/csrf.js';
import { RedisStore } from '../src/stores/redis/index.js';
import { freePort, startRedisServer, stopRedisServer } from '../test/stores/fixtures/redis.js';
import { REFERENCE_USER, referenceCart } from './reference-session.js';
import { machine, median, packageVersion } from './report.js';

const REDIS_URL = process.env.CLAWSESSION_BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const FOOTPRINT_URL = process.env.BENCH_FOOTPRINT_REDIS_URL;
const OPS = Number(process.env.BENCH_OPS ?? 50_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 50);
/** Sessions (and raw keys) the reads cycle through. */
const POOL = Number(process.env.BENCH_POOL ?? 1000);
const SESSIONS = Number(process.env.BENCH_SESSIONS ?? 10_000);
const FOOTPRINT_ROUNDS = Number(process.env.BENCH_FOOTPRINT_ROUNDS ?? 3);
/**
 * How long after its last operation a round's CPU is still counted: node-redis's
 * default command timeout leaves an `AbortSignal.timeout` timer behind each
 * command, which fires 5 s later; counted in the next round, it would be
 * charged to the side measured after the raw GET.
 */
const SETTLE_MS = Number(process.env.BENCH_SETTLE_MS ?? 5_500);

const run = randomBytes(3).toString('hex');
/** Prefixes of one length on both sides, so that key names weigh the same. */
const prefixOf = (side: string) => `csfp:${run}:${side}:`;

/** The express-session cookie the http bench's anchor stores: its options, no maxAge. */
const ANCHOR_COOKIE = { httpOnly: true, sameSite: 'lax' as const };

function referenceData(withCsrf: boolean): SessionData {
  return {
    user: { ...REFERENCE_USER },
    cart: referenceCart(),
    ...(withCsrf ? { [CSRF_DATA_KEY]: newCsrfToken() } : {}),
  };
}

/** User ids of one length, so every session of a run is the same size. */
const userIdOf = (i: number) => String(100_000 + i);

// ---- read cost ---------------------------------------------------------------------------------

interface ReadRun {
  side: string;
  round: number;
  opsPerSecond: number;
  cpuMicrosPerOp: number;
}

/**
 * `ops` calls of `op`, `CONCURRENCY` in flight, timed by the wall clock and by
 * this process's CPU, which counts what the calls left behind too: the work
 * they deferred (see SETTLE_MS) and, with --expose-gc, a full collection of
 * their garbage.
 */
async function inFlight(ops: number, op: (i: number) => Promise<unknown>) {
  let next = 0;
  const cpu = process.cpuUsage();
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < ops) {
        const i = next++;
        if ((await op(i)) === null) throw new Error('a read found nothing');
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
  globalThis.gc?.();
  const used = process.cpuUsage(cpu);
  return { opsPerSecond: ops / seconds, cpuMicrosPerOp: (used.user + used.system) / ops };
}

async function readCost(): Promise<{ valueBytes: number; runs: ReadRun[] }> {
  const prefix = prefixOf('read');
  const store = await RedisStore.connect({ url: REDIS_URL, prefix });
  const manager = new SessionManager({ store });
  const admin = await connectBinary(REDIS_URL);
  const raw = await createClient({ url: REDIS_URL }).connect();
  const untimed = await createClient({
    url: REDIS_URL,
    commandOptions: { timeout: 0 },
  }).connect();
  try {
    const tokens: string[] = [];
    for (let i = 0; i < POOL; i++) {
      const data = referenceData(true);
      tokens.push((await manager.create({ userId: userIdOf(i), data })).token);
    }
    const valueBytes = await storedValueBytes(admin, prefix);
    const value = randomBytes(valueBytes).toString('base64').slice(0, valueBytes);
    const rawKey = (i: number) => `${prefix}raw:${i % POOL}`;
    for (let i = 0; i < POOL; i++) await raw.set(rawKey(i), value);
    const ids = await Promise.all(tokens.map(async (token) => (await manager.get(token))?.id));

    const sides: [string, (i: number) => Promise<unknown>][] = [
      ['raw GET', (i) => raw.get(rawKey(i))],
      ['raw GET, no command timeout', (i) => untimed.get(rawKey(i))],
      ['RedisStore.get', (i) => store.get(ids[i % POOL] as string, Date.now())],
      ['SessionManager.get', (i) => manager.get(tokens[i % POOL] as string)],
    ];
    for (const [, op] of sides) await inFlight(Math.ceil(OPS / 5), op); // warm-up, not counted
    globalThis.gc?.();
    const runs: ReadRun[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      for (const [side, op] of sides) runs.push({ side, round, ...(await inFlight(OPS, op)) });
    }
    return { valueBytes, runs };
  } finally {
    await manager.close();
    await dropPrefix(admin, prefix);
    await admin.close();
    await raw.close();
    await untimed.close();
  }
}

/** The length of one stored session value under `prefix`. */
async function storedValueBytes(client: Client, prefix: string): Promise<number> {
  return Number(await client.sendCommand(['STRLEN', await firstSessionKey(client, prefix)]));
}

// ---- footprint ---------------------------------------------------------------------------------

type Client = Awaited<ReturnType<typeof connectBinary>>;

/** Key names come back as Buffers: session keys end in 32 raw id bytes, which UTF-8 would mangle. */
async function connectBinary(url: string) {
  const client = await createClient({ url }).connect();
  return client.withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer });
}

/** One way of storing the reference session. */
interface Writer {
  write(i: number): Promise<unknown>;
  close(): Promise<unknown>;
}

interface Contender {
  name: string;
  open(url: string, prefix: string): Promise<Writer>;
}

const clawsession = (withCsrf: boolean): Contender => ({
  name: withCsrf ? 'clawsession (with CSRF secret)' : 'clawsession (no CSRF secret)',
  async open(url, prefix) {
    const manager = new SessionManager({ store: await RedisStore.connect({ url, prefix }) });
    return {
      write: (i) => manager.create({ userId: userIdOf(i), data: referenceData(withCsrf) }),
      close: () => manager.close(),
    };
  },
});

const connectRedis: Contender = {
  name: 'connect-redis 9 + express-session',
  async open(url, prefix) {
    const client = await createClient({ url }).connect();
    const store = new ConnectRedisStore({ client, prefix });
    return {
      // What express-session hands a store: its Cookie (made as `new Cookie(options)` makes it)
      // and the session's own fields.
      write: () =>
        store.set(randomBytes(24).toString('base64url'), {
          cookie: Object.assign(new expressSession.Cookie(), ANCHOR_COOKIE),
          ...referenceData(false),
        } as never),
      close: () => client.close(),
    };
  },
};

/** What one kind of key adds: how many keys, and their MEMORY USAGE. */
interface KeyKind {
  keys: number;
  bytes: number;
}

interface FootprintRun {
  contender: string;
  round: number;
  sessions: number;
  usedMemoryPerSession: number;
  /** Sum of MEMORY USAGE of every key the sessions added, per session. */
  keyBytesPerSession: number;
  sessionKeyBytes: number;
  sessionValueBytes: number;
  /** By the part of the key name after the prefix that says what it is (`s`, `exp`, `u`, `ud`, …). */
  keys: Record<string, KeyKind>;
}

async function footprint(contender: Contender, round: number): Promise<FootprintRun> {
  const port = FOOTPRINT_URL ? null : await freePort();
  const server = port === null ? null : await startRedisServer(port);
  const url = FOOTPRINT_URL ?? `redis://127.0.0.1:${port}`;
  const admin = await connectBinary(url);
  const prefix = prefixOf(`m${round}`);
  const warmUpPrefix = prefixOf(`w${round}`);
  try {
    // One session first, so the server's one-time allocations (Lua, script cache) count for no one.
    const warmUp = await contender.open(url, warmUpPrefix);
    await warmUp.write(0);
    await warmUp.close();
    const before = await usedMemory(admin);
    const writer = await contender.open(url, prefix);
    let next = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < SESSIONS) await writer.write(next++);
      }),
    );
    await writer.close();
    const after = await usedMemory(admin);
    const keys: Record<string, KeyKind> = {};
    let total = 0;
    for await (const batch of admin.scanIterator({ MATCH: `${prefix}*`, COUNT: 1000 })) {
      for (const key of batch) {
        const bytes = await memoryUsage(admin, key);
        const kind = kindOf(key, prefix);
        keys[kind] = { keys: (keys[kind]?.keys ?? 0) + 1, bytes: (keys[kind]?.bytes ?? 0) + bytes };
        total += bytes;
      }
    }
    const sessionKey = await firstSessionKey(admin, prefix);
    return {
      contender: contender.name,
      round,
      sessions: SESSIONS,
      usedMemoryPerSession: (after - before) / SESSIONS,
      keyBytesPerSession: total / SESSIONS,
      sessionKeyBytes: await memoryUsage(admin, sessionKey),
      sessionValueBytes: Number(await admin.sendCommand(['STRLEN', sessionKey])),
      keys,
    };
  } finally {
    await dropPrefix(admin, prefix);
    await dropPrefix(admin, warmUpPrefix);
    await admin.close();
    if (server) await stopRedisServer(server);
  }
}

/** used_memory once the server has let go of every connection but this one (theirs hold buffers). */
async function usedMemory(client: Client): Promise<number> {
  const connected = async () =>
    Number(/^connected_clients:(\d+)/m.exec(String(await client.info('clients')))?.[1]);
  // On a shared server other clients stay; only a throwaway one can be waited down to one.
  while (!FOOTPRINT_URL && (await connected()) > 1)
    await new Promise((resolve) => setTimeout(resolve, 10));
  return Number(/^used_memory:(\d+)/m.exec(String(await client.info('memory')))?.[1]);
}

async function memoryUsage(client: Client, key: RedisArgument): Promise<number> {
  // SAMPLES 0: every element of an index counted, not an estimate from a few.
  return Number(await client.sendCommand(['MEMORY', 'USAGE', key, 'SAMPLES', '0']));
}

/** The word after the prefix: `s`, `exp`, `u`, `ud`, or the anchor's session id (`session`). */
function kindOf(key: Buffer, prefix: string): string {
  const rest = key.subarray(prefix.length);
  const colon = rest.indexOf(':');
  return colon === -1 ? 'session' : rest.subarray(0, colon).toString('latin1');
}

/** One session key under `prefix`: clawsession's `s:<id>`, or connect-redis's `<sid>`. */
async function firstSessionKey(client: Client, prefix: string): Promise<Buffer> {
  for await (const batch of client.scanIterator({ MATCH: `${prefix}*`, COUNT: 1000 })) {
    const key = batch.find((name) => ['s', 'session'].includes(kindOf(name, prefix)));
    if (key) return key;
  }
  throw new Error(`no session stored under ${prefix}`);
}

async function dropPrefix(client: Client, prefix: string): Promise<void> {
  for await (const keys of client.scanIterator({ MATCH: `${prefix}*`, COUNT: 1000 }))
    if (keys.length > 0) await client.unlink(keys);
}

// ---- run and report ----------------------------------------------------------------------------

interface ReadSummary {
  side: string;
  opsPerSecond: number;
  cpuMicrosPerOp: number;
  /** CPU per op ÷ the raw GET's (default client), and ÷ the raw GET's without a command timeout. */
  cpuRatio: number;
  cpuRatioNoTimeout: number;
  /** Wall time per op ÷ the raw GET's: the raw GET's ops/s ÷ this side's. */
  timeRatio: number;
}

interface FootprintSummary {
  contender: string;
  usedMemoryPerSession: number;
  keyBytesPerSession: number;
  sessionKeyBytes: number;
  sessionValueBytes: number;
  keys: Record<string, KeyKind>;
  /** ÷ connect-redis's, used_memory growth and MEMORY USAGE. */
  usedMemoryRatio: number;
  keyBytesRatio: number;
}

function summarizeReads(runs: ReadRun[]): ReadSummary[] {
  const sides = [...new Set(runs.map((r) => r.side))];
  const medians = sides.map((side) => {
    const mine = runs.filter((r) => r.side === side);
    return {
      side,
      opsPerSecond: median(mine.map((r) => r.opsPerSecond)),
      cpuMicrosPerOp: median(mine.map((r) => r.cpuMicrosPerOp)),
    };
  });
  const [raw, untimed] = medians;
  if (!raw || !untimed) throw new Error('no raw GET measured');
  return medians.map((m) => ({
    ...m,
    cpuRatio: m.cpuMicrosPerOp / raw.cpuMicrosPerOp,
    cpuRatioNoTimeout: m.cpuMicrosPerOp / untimed.cpuMicrosPerOp,
    timeRatio: raw.opsPerSecond / m.opsPerSecond,
  }));
}

function summarizeFootprints(runs: FootprintRun[]): FootprintSummary[] {
  const contenders = [...new Set(runs.map((r) => r.contender))];
  const medians = contenders.map((contender) => {
    const mine = runs.filter((r) => r.contender === contender);
    return {
      contender,
      usedMemoryPerSession: median(mine.map((r) => r.usedMemoryPerSession)),
      keyBytesPerSession: median(mine.map((r) => r.keyBytesPerSession)),
      sessionKeyBytes: median(mine.map((r) => r.sessionKeyBytes)),
      sessionValueBytes: median(mine.map((r) => r.sessionValueBytes)),
      keys: (mine.at(-1) as FootprintRun).keys,
    };
  });
  const anchor = medians.find((m) => m.contender === connectRedis.name);
  if (!anchor) throw new Error('connect-redis was not measured');
  return medians.map((m) => ({
    ...m,
    usedMemoryRatio: m.usedMemoryPerSession / anchor.usedMemoryPerSession,
    keyBytesRatio: m.keyBytesPerSession / anchor.keyBytesPerSession,
  }));
}

async function main() {
  const contenders = [clawsession(true), clawsession(false), connectRedis];
  const footprintRuns: FootprintRun[] = [];
  for (let round = 0; round < FOOTPRINT_ROUNDS; round++) {
    for (const contender of contenders) footprintRuns.push(await footprint(contender, round));
  }
  const footprints = summarizeFootprints(footprintRuns);
  const reads = await readCost();
  await writeReport(summarizeReads(reads.runs), reads, footprints, footprintRuns);
}

async function writeReport(
  reads: ReadSummary[],
  readRuns: { valueBytes: number; runs: ReadRun[] },
  footprints: FootprintSummary[],
  footprintRuns: FootprintRun[],
) {
  const info = await createClient({ url: REDIS_URL }).connect();
  const server = /^redis_version:(\S+)/m.exec(await info.info('server'))?.[1] ?? 'unknown';
  await info.close();
  const report = {
    date: new Date().toISOString(),
    machine: machine(),
    versions: {
      node: process.version,
      clawsession: packageVersion('../'),
      redis: packageVersion('redis'),
      'connect-redis': packageVersion('connect-redis'),
      'express-session': packageVersion('express-session'),
      'redis-server': server,
    },
    settings: {
      ops: OPS,
      rounds: ROUNDS,
      concurrency: CONCURRENCY,
      pool: POOL,
      settleMs: SETTLE_MS,
      exposedGc: typeof globalThis.gc === 'function',
      sessions: SESSIONS,
      footprintRounds: FOOTPRINT_ROUNDS,
      footprintServer: FOOTPRINT_URL ?? 'a throwaway redis-server per round',
      readValueBytes: readRuns.valueBytes,
    },
    reads,
    footprints,
    runs: { reads: readRuns.runs, footprints: footprintRuns },
  };
  const results = new URL('./results/', import.meta.url);
  mkdirSync(results, { recursive: true });
  writeFileSync(new URL('redis-footprint.json', results), `${JSON.stringify(report, null, 2)}\n`);
  const fixed = (value: number, digits = 2) => value.toFixed(digits);
  const keyList = (keys: Record<string, KeyKind>) =>
    Object.entries(keys)
      .map(([kind, { keys: count, bytes }]) => `${kind}: ${count} keys, ${Math.round(bytes)} B`)
      .join('; ');
  const table = [
    `Measured ${report.date.slice(0, 10)} on ${report.machine.cpus} × ${report.machine.cpu}, Node ${process.version}, Redis ${server}, node-redis ${report.versions.redis}.`,
    '',
    `Read cost: ${CONCURRENCY} in flight, ${ROUNDS} alternating rounds of ${OPS} ops, medians; the raw GET reads a ${readRuns.valueBytes}-byte value (a stored reference session's length). CPU is this process's, over each round and the ${SETTLE_MS} ms after it, then a full GC: what a round leaves behind is charged to it.`,
    '',
    '| read | ops/s | CPU µs/op | CPU ÷ raw GET | CPU ÷ raw GET (no timeout) | time ÷ raw GET |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
    ...reads.map(
      (r) =>
        `| ${r.side} | ${Math.round(r.opsPerSecond)} | ${fixed(r.cpuMicrosPerOp, 1)} | **${fixed(r.cpuRatio)}×** | ${fixed(r.cpuRatioNoTimeout)}× | ${fixed(r.timeRatio)}× |`,
    ),
    '',
    `Footprint: ${SESSIONS} reference sessions per side, ${FOOTPRINT_ROUNDS} rounds, medians, on ${report.settings.footprintServer}. Bytes per session: used_memory growth ÷ N, and MEMORY USAGE of every key added ÷ N.`,
    '',
    '| stored by | used_memory B/session | ÷ connect-redis | MEMORY USAGE B/session | ÷ connect-redis | one session key B | its value B | keys added |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
    ...footprints.map(
      (f) =>
        `| ${f.contender} | ${Math.round(f.usedMemoryPerSession)} | **${fixed(f.usedMemoryRatio)}×** | ${Math.round(f.keyBytesPerSession)} | ${fixed(f.keyBytesRatio)}× | ${f.sessionKeyBytes} | ${f.sessionValueBytes} | ${keyList(f.keys)} |`,
    ),
  ].join('\n');
  writeFileSync(new URL('redis-footprint.md', results), `${table}\n`);
  console.log(table);
}

await main();
