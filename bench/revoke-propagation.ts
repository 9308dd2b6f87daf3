/*
 * How soon a session revoked on one gateway is refused by another that holds
 * it in its near-cache. Two gateway processes, A and B, share one store; per
 * trial the bench logs in on A, reads GET /auth/session on B until B caches
 * the session, logs out on A (POST /auth/logout with the cookie and CSRF
 * token), and from the moment A has answered polls B, one request in flight,
 * until B answers 401. The anchor is the same pair without the near-cache,
 * where B reads the store each time. Redis (pub/sub invalidation) and
 * PostgreSQL (LISTEN/NOTIFY), every setup's trials taken in turns so that
 * machine drift hits all alike. Beside B, the bench itself listens on the
 * gateways' invalidation channel, so each trial also says when the bus
 * delivered the revoke to a third subscriber: what the near-cache waits for.
 *
 *   npm run bench:revoke
 *   REVOKE_TRIALS=20 REVOKE_ONLY=postgres npm run bench:revoke
 *
 * Writes bench/results/revoke-propagation.json (machine, versions, every
 * trial, the ratios) and bench/results/revoke-propagation.md.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { InvalidationBus } from '../src/core/index.js';
import { openSessionInvalidationBus } from '../src/gateway/shared-services.js';
import { type ServerChild, startServerChild } from './http/server-child.js';
import { BENCH_RUN, removeRunData, storeUrl, USER } from './http/variants.js';
import { machine, versions } from './report.js';

const TRIALS = Number(process.env.REVOKE_TRIALS ?? 200);
const ONLY = process.env.REVOKE_ONLY;
/** Reads of the session on B before the revoke: the first fills B's near-cache, the rest are served from it. */
const READS = Number(process.env.REVOKE_READS ?? 3);
const TARGET_MS = 50;
/** A trial whose revoke B has not seen by then failed; the near-cache's default ttl is 5 s. */
const GIVE_UP_MS = 10_000;
/** The near-cache's default ttl (config.ts `nearCache.ttl`): how long a copy is served after a lost message. */
const NEAR_CACHE_TTL_MS = 5_000;

interface Setup {
  name: string;
  store: 'redis' | 'postgres';
  nearCache: boolean;
}

const SETUPS = (
  [
    { name: 'redis', store: 'redis', nearCache: false },
    { name: 'redis + near-cache', store: 'redis', nearCache: true },
    { name: 'postgres', store: 'postgres', nearCache: false },
    { name: 'postgres + near-cache', store: 'postgres', nearCache: true },
  ] satisfies Setup[]
).filter((setup) => !ONLY || setup.name.includes(ONLY));

/** The setup a near-cache setup is compared with: the same store without it. */
const anchorOf = (setup: Setup) => (setup.nearCache ? setup.store : undefined);

interface Pair {
  setup: Setup;
  a: ServerChild;
  b: ServerChild;
}

interface Trial {
  setup: string;
  trial: number;
  /** From A's answer to the logout to B's first 401, in ms. */
  ms: number;
  /** Requests sent to B after the logout, the refused one included. */
  polls: number;
  /** From A's answer to the invalidation reaching this process's subscriber (negative: before A answered). */
  busMs?: number;
}

/** When each session id's invalidation reached this process, by id. */
const delivered = new Map<string, number>();

/** A 503 from a gateway whose store did not answer in time: the machine is shared, so the trial is taken again. */
class StoreBusy extends Error {}
/** Takes of one trial at most, each 503 a retake. */
const TAKES = 5;

async function request(url: string, init: RequestInit & { expect: number }): Promise<Response> {
  const response = await fetch(url, { ...init, signal: AbortSignal.timeout(GIVE_UP_MS) });
  if (response.status === 503) throw new StoreBusy(`${url}: 503`);
  if (response.status !== init.expect)
    throw new Error(`${init.method ?? 'GET'} ${url}: ${response.status}, not ${init.expect}`);
  return response;
}

async function trial(pair: Pair, index: number): Promise<Trial> {
  const { a, b } = pair;
  const login = await request(`${a.url}/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(USER),
    expect: 200,
  });
  const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  const { csrfToken } = (await login.json()) as { csrfToken: string };
  let id = '';
  for (let read = 0; read < READS; read++) {
    const session = await request(`${b.url}/auth/session`, { headers: { cookie }, expect: 200 });
    ({ id } = ((await session.json()) as { session: { id: string } }).session);
  }
  delivered.clear();
  await (
    await request(`${a.url}/auth/logout`, {
      method: 'POST',
      headers: { cookie, 'x-csrf-token': csrfToken },
      expect: 204,
    })
  ).text();
  const answered = performance.now();
  for (let polls = 1; ; polls++) {
    const response = await fetch(`${b.url}/auth/session`, { headers: { cookie } });
    await response.text();
    const ms = performance.now() - answered;
    if (response.status === 401) {
      // B may hear of the revoke before this process does.
      while (
        pair.setup.nearCache &&
        !delivered.has(id) &&
        performance.now() - answered < GIVE_UP_MS
      )
        await sleep(1);
      const busAt = delivered.get(id);
      return {
        setup: pair.setup.name,
        trial: index,
        ms,
        polls,
        ...(busAt === undefined ? {} : { busMs: busAt - answered }),
      };
    }
    if (response.status === 503) throw new StoreBusy(`${b.url}: 503`);
    if (response.status !== 200 || ms > GIVE_UP_MS)
      throw new Error(
        `${pair.setup.name}: B answered ${response.status} after ${ms.toFixed(0)} ms`,
      );
  }
}

interface Summary {
  setup: string;
  trials: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Trials taken again after a 503 (a store too slow to answer on the shared machine). */
  retaken: number;
  /** Share of trials refused on B within TARGET_MS. */
  underTarget: number;
  /** Share of trials where B's very first request after the logout was refused. */
  firstPollRefused: number;
  /** p99 and max of the bus's delivery to this process after A answered, where the setup has a bus. */
  busP99Ms?: number;
  busMaxMs?: number;
  /** p99 over the anchor's p99 (the same store without the near-cache). */
  p99Ratio?: number;
}

/** Nearest-rank percentile of sorted values. */
const percentile = (sorted: number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] as number;

function summarize(setup: Setup, trials: Trial[], retaken: number): Summary {
  const sorted = trials.map((t) => t.ms).sort((x, y) => x - y);
  const bus = trials.flatMap((t) => (t.busMs === undefined ? [] : [t.busMs]));
  bus.sort((x, y) => x - y);
  return {
    setup: setup.name,
    trials: trials.length,
    retaken,
    p50Ms: percentile(sorted, 0.5),
    p90Ms: percentile(sorted, 0.9),
    p99Ms: percentile(sorted, 0.99),
    maxMs: sorted.at(-1) as number,
    underTarget: trials.filter((t) => t.ms < TARGET_MS).length / trials.length,
    firstPollRefused: trials.filter((t) => t.polls === 1).length / trials.length,
    ...(setup.nearCache && bus.length === trials.length
      ? { busP99Ms: percentile(bus, 0.99), busMaxMs: bus.at(-1) as number }
      : {}),
  };
}

const retaken = new Map<string, number>();

async function take(pair: Pair, index: number): Promise<Trial> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await trial(pair, index);
    } catch (error) {
      if (!(error instanceof StoreBusy) || attempt === TAKES) throw error;
      retaken.set(pair.setup.name, (retaken.get(pair.setup.name) ?? 0) + 1);
    }
  }
}

async function main() {
  const pairs: Pair[] = [];
  const buses: InvalidationBus[] = [];
  const trials: Trial[] = [];
  const env = { CLAWSESSION_BENCH_RUN: BENCH_RUN };
  try {
    // One gateway at a time: the first of a store migrates it and adds the user.
    for (const setup of SETUPS) {
      const backend = setup.nearCache ? `${setup.store}+near-cache` : setup.store;
      const a = await startServerChild('gateway', backend, env);
      const b = await startServerChild('gateway', backend, env).catch(async (error) => {
        await a.close();
        throw error;
      });
      pairs.push({ setup, a, b });
    }
    for (const store of new Set(SETUPS.filter((s) => s.nearCache).map((s) => s.store))) {
      const bus = await openSessionInvalidationBus(storeUrl(store));
      if (!bus) throw new Error(`no session invalidation bus on ${store}`);
      buses.push(bus);
      await bus.subscribe((id) => {
        if (id !== null && !delivered.has(id)) delivered.set(id, performance.now());
      });
    }
    // One unrecorded trial each: JIT, pools and connections warm.
    for (const pair of pairs) await take(pair, -1);
    for (let index = 0; index < TRIALS; index++)
      for (const pair of pairs) trials.push(await take(pair, index));
  } finally {
    await Promise.all(buses.map((bus) => bus.close()));
    for (const pair of pairs) await Promise.all([pair.a.close(), pair.b.close()]);
    await removeRunData();
  }
  const summaries = SETUPS.map((setup) =>
    summarize(
      setup,
      trials.filter((t) => t.setup === setup.name),
      retaken.get(setup.name) ?? 0,
    ),
  );
  for (const [index, summary] of summaries.entries()) {
    const anchor = summaries.find((s) => s.setup === anchorOf(SETUPS[index] as Setup));
    if (anchor) summary.p99Ratio = summary.p99Ms / anchor.p99Ms;
  }
  writeReport(summaries, trials);
}

function writeReport(summaries: Summary[], trials: Trial[]) {
  const report = {
    date: new Date().toISOString(),
    machine: machine(),
    versions: versions(),
    settings: {
      trials: TRIALS,
      readsBeforeRevoke: READS,
      targetMs: TARGET_MS,
      nearCache: { max: 10_000, ttlMs: NEAR_CACHE_TTL_MS },
      revoke: 'POST /auth/logout on A; B polled with GET /auth/session, one request in flight',
    },
    summaries,
    trials,
  };
  const results = new URL('./results/', import.meta.url);
  mkdirSync(results, { recursive: true });
  writeFileSync(
    new URL('revoke-propagation.json', results),
    `${JSON.stringify(report, null, 2)}\n`,
  );
  const ms = (value: number | undefined) => (value === undefined ? '' : value.toFixed(1));
  const share = (value: number) => `${(value * 100).toFixed(1)}%`;
  const rows = summaries.map(
    (s) =>
      `| ${s.setup} | ${s.trials} | ${s.retaken} | ${ms(s.p50Ms)} | ${ms(s.p90Ms)} | ${ms(s.p99Ms)} | ${ms(s.maxMs)} | **${share(s.underTarget)}** | ${share(s.firstPollRefused)} | ${ms(s.busP99Ms)} | ${ms(s.busMaxMs)} | ${s.p99Ratio === undefined ? '' : `${s.p99Ratio.toFixed(2)}×`} |`,
  );
  const table = [
    `Measured ${report.date.slice(0, 10)} on ${report.machine.cpus} × ${report.machine.cpu}, Node ${process.version}; ${TRIALS} trials per setup, taken in turns. Two gateway processes on one store; the time from A's answer to a logout until B, which had the session cached (${READS} reads before), answers 401. "bus" is when the invalidation reached a third subscriber (the bench) after A answered. Anchor: the same pair without the near-cache.`,
    '',
    `| store | trials | retaken after a 503 | p50 ms | p90 ms | p99 ms | max ms | under ${TARGET_MS} ms | refused at B's first request | bus p99 ms | bus max ms | p99 vs anchor |`,
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows,
    '',
    `The near-cache drops its copy when the invalidation arrives (Redis pub/sub or PostgreSQL NOTIFY, published before A answers the logout). If that message is lost, B serves its copy until it is \`nearCache.ttl\` old (default ${NEAR_CACHE_TTL_MS} ms) counted from B's last read of the store, so ${NEAR_CACHE_TTL_MS} ms is the worst case; a subscriber that reconnects drops its whole cache, since it may have missed messages.`,
  ].join('\n');
  writeFileSync(new URL('revoke-propagation.md', results), `${table}\n`);
  console.log(table);
}

await main();
