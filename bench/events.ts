/*
 * What recording events costs a session write on Redis: the same workload
 * through SessionManager over RedisStore without an outbox and with one
 * (each update's event XADDed in the same Lua script), in alternating rounds
 * in one process, so that machine drift hits both. The workload is the
 * reference session's cart: create, then patches that append an item and
 * drop the oldest, 50 in flight. Reported: writes per second (medians) and
 * the ratio with ÷ without. Target (issue #10): at least 0.9.
 *
 *   npx tsx bench/events.ts      (or: npm run bench:events)
 *   BENCH_OPS=20000 BENCH_ROUNDS=7 npm run bench:events
 *
 * Writes bench/results/events.json and bench/results/events.md.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { createClient } from 'redis';
import { type PatchOperation, SessionManager } from '../src/core/index.js';
import { RedisStore } from '../src/stores/redis/index.js';
import { REFERENCE_USER, referenceCart } from './reference-session.js';
import { machine, median, packageVersion } from './report.js';

const REDIS_URL = process.env.CLAWSESSION_BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const OPS = Number(process.env.BENCH_OPS ?? 10_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 50);
/** Sessions the patches spread over, so no single key is hot. */
const SESSIONS = Number(process.env.BENCH_SESSIONS ?? 500);

const run = randomBytes(3).toString('hex');
const CART_PATCH: PatchOperation[] = [
  { op: 'add', path: '/cart/-', value: { sku: 'SKU-000124', qty: 1, price: 4.5 } },
  { op: 'remove', path: '/cart/0' },
];

type Side = 'outbox off' | 'outbox on';
const SIDES: Side[] = ['outbox off', 'outbox on'];

interface Round {
  side: Side;
  round: number;
  writesPerSecond: number;
}

async function measure(side: Side, round: number): Promise<Round> {
  const store = await RedisStore.connect({
    url: REDIS_URL,
    prefix: `csbench:${run}:${side === 'outbox on' ? 'on' : 'off'}:${round}:`,
    ...(side === 'outbox on' ? { outbox: { instance: 'bench' } } : {}),
  });
  const manager = new SessionManager({ store });
  const tokens: string[] = [];
  for (let i = 0; i < SESSIONS; i++) {
    const { token } = await manager.create({
      userId: `user-${i}`,
      data: { user: REFERENCE_USER, cart: referenceCart() },
    });
    tokens.push(token);
  }
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < OPS) {
        const token = tokens[next++ % SESSIONS] as string;
        await manager.patch(token, CART_PATCH);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  await manager.close();
  return { side, round, writesPerSecond: OPS / seconds };
}

async function removeRunKeys(): Promise<void> {
  const client = await createClient({ url: REDIS_URL }).connect();
  for await (const keys of client.scanIterator({ MATCH: `csbench:${run}:*`, COUNT: 1000 }))
    if (keys.length > 0) await client.unlink(keys);
  await client.close();
}

const rounds: Round[] = [];
try {
  for (let round = 1; round <= ROUNDS; round++)
    for (const side of round % 2 ? SIDES : [...SIDES].reverse()) {
      const result = await measure(side, round);
      rounds.push(result);
      console.log(`${side} round ${round}: ${Math.round(result.writesPerSecond)} writes/s`);
    }
} finally {
  await removeRunKeys();
}

const medianOf = (side: Side) =>
  median(rounds.filter((r) => r.side === side).map((r) => r.writesPerSecond));
const off = medianOf('outbox off');
const on = medianOf('outbox on');
const ratio = on / off;
const report = {
  machine: machine(),
  versions: { node: process.version, redis: packageVersion('redis') },
  settings: { ops: OPS, rounds: ROUNDS, concurrency: CONCURRENCY, sessions: SESSIONS },
  rounds,
  medians: { outboxOff: off, outboxOn: on },
  ratio,
  target: 0.9,
  met: ratio >= 0.9,
};
mkdirSync('bench/results', { recursive: true });
writeFileSync('bench/results/events.json', `${JSON.stringify(report, null, 2)}\n`);
const md = `Measured ${new Date().toISOString().slice(0, 10)} on ${report.machine.cpus} × ${report.machine.cpu}, Node ${process.version}; SessionManager.patch over RedisStore, ${CONCURRENCY} in flight, ${OPS} patches per round over ${SESSIONS} sessions, ${ROUNDS} alternating rounds, medians.

| side | writes/s |
| --- | ---: |
| outbox off | ${Math.round(off)} |
| outbox on (event XADDed in the same script) | ${Math.round(on)} |
| ratio on ÷ off | **${ratio.toFixed(2)}×** (target ≥ 0.90: ${report.met ? 'met' : 'not met'}) |
`;
writeFileSync('bench/results/events.md', md);
console.log(md);
