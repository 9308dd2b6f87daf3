/*
 * clawsession over HTTP next to its anchor, Express 4 + express-session 1.19
 * with connect-redis 9 (or connect-pg-simple on PostgreSQL), on the same
 * Redis and PostgreSQL, in one run. Every server runs in a process of its own
 * and autocannon in another (50 keep-alive connections); each pair is
 * measured in turns, anchor then clawsession, ROUNDS times, so that drift of
 * the machine hits both, and the medians and their ratio are reported.
 *
 *   npm run bench:http
 *   BENCH_SECONDS=10 BENCH_ROUNDS=5 BENCH_ONLY=me npm run bench:http
 *
 * Writes bench/results/http.json (machine, versions, every run, the ratios)
 * and bench/results/http.md (the table the README shows).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { machine, median, packageVersion, versions } from '../report.js';
import { type LoadResult, load } from './load.js';
import { type ServerChild, startServerChild } from './server-child.js';
import { BENCH_RUN, type Route, removeRunData, USER, type VARIANTS } from './variants.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const ONLY = process.env.BENCH_ONLY;

type VariantName = keyof typeof VARIANTS;
const ANCHOR_REDIS = 'express-session + connect-redis' satisfies VariantName;
const ANCHOR_POSTGRES = 'express-session + connect-pg-simple' satisfies VariantName;
const GATEWAY = 'gateway' satisfies VariantName;
const NODE = 'node:http adapter' satisfies VariantName;
const DROP_IN = 'express-session + ClawsessionStore' satisfies VariantName;
const GATEWAY_QUIET = 'gateway, logging off' satisfies VariantName;

/**
 * Each contender against the anchor on `route`, in alternating rounds. With
 * `anchorRoute`, the anchor is measured on that route instead: the same
 * server's no-session route, for what a session read costs it.
 */
interface Scenario {
  route: Route;
  backend: string;
  anchor: VariantName;
  anchorRoute?: Route;
  contenders: VariantName[];
}

const SCENARIOS: Scenario[] = [
  { route: 'health', backend: 'redis', anchor: ANCHOR_REDIS, contenders: [GATEWAY, NODE, DROP_IN] },
  { route: 'me', backend: 'redis', anchor: ANCHOR_REDIS, contenders: [GATEWAY, NODE, DROP_IN] },
  { route: 'cart', backend: 'redis', anchor: ANCHOR_REDIS, contenders: [NODE, DROP_IN] },
  { route: 'login', backend: 'redis', anchor: ANCHOR_REDIS, contenders: [GATEWAY, NODE, DROP_IN] },
  { route: 'health', backend: 'postgres', anchor: ANCHOR_POSTGRES, contenders: [GATEWAY] },
  {
    route: 'me',
    backend: 'postgres',
    anchor: ANCHOR_POSTGRES,
    contenders: [GATEWAY, NODE, DROP_IN],
  },
  { route: 'cart', backend: 'postgres', anchor: ANCHOR_POSTGRES, contenders: [NODE, DROP_IN] },
  { route: 'health', backend: 'tiered', anchor: ANCHOR_REDIS, contenders: [GATEWAY] },
  { route: 'me', backend: 'tiered', anchor: ANCHOR_REDIS, contenders: [GATEWAY, NODE] },
  { route: 'health', backend: 'near-cache', anchor: ANCHOR_REDIS, contenders: [GATEWAY, NODE] },
  {
    route: 'me',
    backend: 'near-cache',
    anchor: ANCHOR_REDIS,
    contenders: [GATEWAY, NODE, DROP_IN],
  },
  // What a session read costs the gateway: its own no-session rate as the anchor.
  { route: 'me', backend: 'redis', anchor: GATEWAY, anchorRoute: 'health', contenders: [GATEWAY] },
  {
    route: 'me',
    backend: 'near-cache',
    anchor: GATEWAY,
    anchorRoute: 'health',
    contenders: [GATEWAY],
  },
  // What the access lines cost: the same gateway with logging off as the anchor.
  { route: 'me', backend: 'redis', anchor: GATEWAY_QUIET, contenders: [GATEWAY] },
];

/** The issue's targets, each a ratio of one pair: at least `min` throughput, at most `maxP99`. */
const TARGETS: {
  what: string;
  route: Route;
  backend: string;
  contender: VariantName;
  anchor: VariantName;
  anchorRoute?: Route;
  min: number;
  maxP99?: number;
}[] = [
  {
    what: 'session read vs express-session + connect-redis',
    route: 'me',
    backend: 'redis',
    contender: GATEWAY,
    anchor: ANCHOR_REDIS,
    min: 3,
    maxP99: 0.33,
  },
  {
    what: "session read vs the gateway's own no-session rate, Redis",
    route: 'me',
    backend: 'redis',
    contender: GATEWAY,
    anchor: GATEWAY,
    anchorRoute: 'health',
    min: 0.8,
  },
  {
    what: "session read vs the gateway's own no-session rate, near-cache",
    route: 'me',
    backend: 'near-cache',
    contender: GATEWAY,
    anchor: GATEWAY,
    anchorRoute: 'health',
    min: 0.95,
  },
  {
    what: 'access logging on vs off (session read)',
    route: 'me',
    backend: 'redis',
    contender: GATEWAY,
    anchor: GATEWAY_QUIET,
    min: 0.9,
  },
];

interface Server {
  key: string;
  url: string;
  paths: Partial<Record<Route, string>>;
  child: ServerChild;
  /** A signed-in session: its cookie and, where the server checks one, its CSRF token. */
  cookie: string;
  csrfToken: string | undefined;
}

const servers = new Map<string, Promise<Server>>();

/** The anchors run on their own backend; the clawsession variants on the scenario's. */
function serverFor(variant: VariantName, backend: string): Promise<Server> {
  const on =
    variant === ANCHOR_REDIS ? 'redis' : variant === ANCHOR_POSTGRES ? 'postgres' : backend;
  const key = `${variant} @ ${on}`;
  let server = servers.get(key);
  if (!server) {
    server = startServer(key, variant, on);
    servers.set(key, server);
  }
  return server;
}

async function startServer(key: string, variant: VariantName, backend: string): Promise<Server> {
  // One run id for every server, so that the run's keys and schemas can be removed at the end.
  const child = await startServerChild(variant, backend, { CLAWSESSION_BENCH_RUN: BENCH_RUN });
  const session = await signIn(key, child.url, child.paths);
  return { key, url: child.url, paths: child.paths, child, ...session };
}

/** A signed-in session on a server: its cookie and, where the server checks one, its CSRF token. */
async function signIn(key: string, url: string, paths: Server['paths']) {
  const login = await fetch(`${url}${paths.login}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(USER),
  });
  if (login.status !== 200) throw new Error(`${key}: login answered ${login.status}`);
  const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  const { csrfToken } = (await login.json()) as { csrfToken?: string };
  return { cookie, csrfToken };
}

function loadOptions(server: Server, route: Route) {
  const url = `${server.url}${server.paths[route]}`;
  const json = { 'content-type': 'application/json' };
  if (route === 'health') return { url };
  if (route === 'login')
    return { url, method: 'POST' as const, headers: json, body: JSON.stringify(USER) };
  const session = {
    cookie: server.cookie,
    ...(server.csrfToken ? { 'x-csrf-token': server.csrfToken } : {}),
  };
  if (route === 'me') return { url, headers: session };
  return {
    url,
    method: 'POST' as const,
    headers: { ...json, ...session },
    body: JSON.stringify({ item: { sku: 'SKU-000124', qty: 1, price: 4.5 } }),
  };
}

interface Run extends LoadResult {
  server: string;
  route: Route;
  round: number;
}

const runs: Run[] = [];

/**
 * Sends one request of the kind the next run sends and waits for its answer,
 * which comes only once what an earlier run left queued (slow logins, in the
 * event loop or the thread pool) is done: no run pays for the one before it.
 */
async function settle(server: Server, route: Route): Promise<void> {
  const { url, method, headers, body } = loadOptions(server, route) as {
    url: string;
    method?: string;
    headers?: Record<string, string>;
    body?: string;
  };
  const response = await fetch(url, {
    method,
    headers,
    body,
    signal: AbortSignal.timeout(120_000),
  });
  // Thousands of logins of the same user (the login route) push its older sessions out.
  if (response.status === 401 && route !== 'login') {
    Object.assign(server, await signIn(server.key, server.url, server.paths));
    await settle(server, route);
  }
}

async function measure(server: Server, route: Route, round: number): Promise<LoadResult> {
  await settle(server, route);
  const result = await load({
    ...loadOptions(server, route),
    connections: CONNECTIONS,
    seconds: SECONDS,
  });
  runs.push({ server: server.key, route, round, ...result });
  if (result.requestsPerSecond === 0)
    throw new Error(`${server.key} ${route}: no request completed in ${SECONDS} s`);
  if (result.non2xx > 0 || result.errors > 0)
    throw new Error(
      `${server.key} ${route}: ${result.non2xx} non-2xx responses, ${result.errors} errors`,
    );
  return result;
}

interface Pair {
  route: Route;
  backend: string;
  contender: string;
  anchor: string;
  anchorRoute: Route;
  requestsPerSecond: number;
  anchorRequestsPerSecond: number;
  p99Ms: number;
  anchorP99Ms: number;
  throughputRatio: number;
  p99Ratio: number;
}

async function main() {
  const pairs: Pair[] = [];
  try {
    for (const scenario of SCENARIOS) {
      for (const contender of scenario.contenders) {
        const anchorRoute = scenario.anchorRoute ?? scenario.route;
        const against =
          anchorRoute === scenario.route ? scenario.anchor : `${scenario.anchor} ${anchorRoute}`;
        const label = `${scenario.route} @ ${scenario.backend}: ${contender} vs ${against}`;
        if (ONLY && !label.includes(ONLY)) continue;
        const [anchor, mine] = await Promise.all([
          serverFor(scenario.anchor, scenario.backend),
          serverFor(contender, scenario.backend),
        ]);
        // One short warm-up each (JIT, pools, caches), not counted.
        for (const [server, route] of [
          [anchor, anchorRoute],
          [mine, scenario.route],
        ] as const) {
          await settle(server, route);
          await load({ ...loadOptions(server, route), connections: CONNECTIONS, seconds: 1 });
        }
        const theirs: LoadResult[] = [];
        const ours: LoadResult[] = [];
        for (let round = 0; round < ROUNDS; round++) {
          theirs.push(await measure(anchor, anchorRoute, round));
          ours.push(await measure(mine, scenario.route, round));
        }
        const pair: Pair = {
          route: scenario.route,
          backend: scenario.backend,
          contender: mine.key,
          anchor: anchor.key,
          anchorRoute,
          requestsPerSecond: median(ours.map((run) => run.requestsPerSecond)),
          anchorRequestsPerSecond: median(theirs.map((run) => run.requestsPerSecond)),
          p99Ms: median(ours.map((run) => run.p99Ms)),
          anchorP99Ms: median(theirs.map((run) => run.p99Ms)),
          throughputRatio: 0,
          p99Ratio: 0,
        };
        pair.throughputRatio = pair.requestsPerSecond / pair.anchorRequestsPerSecond;
        pair.p99Ratio = pair.p99Ms / pair.anchorP99Ms;
        pairs.push(pair);
        console.log(
          `${label}: ${pair.requestsPerSecond.toFixed(0)} vs ${pair.anchorRequestsPerSecond.toFixed(0)} req/s (${pair.throughputRatio.toFixed(2)}×), p99 ${pair.p99Ms} vs ${pair.anchorP99Ms} ms (${pair.p99Ratio.toFixed(2)}×)`,
        );
      }
    }
  } finally {
    for (const server of servers.values()) {
      const { child } = await server.catch(() => ({ child: undefined }));
      await child?.close();
    }
    await removeRunData();
    // What was measured before a failure is worth keeping too.
    writeReport(pairs);
  }
}

/** The issue's targets, as a table: each ratio measured in this run, and whether it is met. */
function targetRows(pairs: Pair[]): string[] {
  const rows = TARGETS.flatMap((target) => {
    const pair = pairs.find(
      (candidate) =>
        candidate.route === target.route &&
        candidate.backend === target.backend &&
        candidate.contender.startsWith(`${target.contender} @`) &&
        candidate.anchor.startsWith(`${target.anchor} @`) &&
        candidate.anchorRoute === (target.anchorRoute ?? target.route),
    );
    if (!pair) return [];
    const throughputMet = pair.throughputRatio >= target.min;
    const p99Met = target.maxP99 === undefined || pair.p99Ratio <= target.maxP99;
    const p99 =
      target.maxP99 === undefined
        ? ''
        : `; p99 ${pair.p99Ratio.toFixed(2)}× (target ≤ ${target.maxP99}×)`;
    return [
      `| ${target.what} | ≥ ${target.min}× | ${pair.throughputRatio.toFixed(2)}×${p99} | ${throughputMet && p99Met ? 'met' : '**not met**'} |`,
    ];
  });
  if (rows.length === 0) return [];
  return ['', '| target | wanted | measured | |', '| --- | --- | --- | --- |', ...rows];
}

function writeReport(pairs: Pair[]) {
  const report = {
    date: new Date().toISOString(),
    machine: machine(),
    versions: {
      ...versions(),
      express: packageVersion('express4'),
      'express-session': packageVersion('express-session'),
      'connect-redis': packageVersion('connect-redis'),
      'connect-pg-simple': packageVersion('connect-pg-simple'),
    },
    settings: { seconds: SECONDS, rounds: ROUNDS, connections: CONNECTIONS },
    pairs,
    runs,
  };
  const results = new URL('../results/', import.meta.url);
  mkdirSync(results, { recursive: true });
  writeFileSync(new URL('http.json', results), `${JSON.stringify(report, null, 2)}\n`);
  const name = (key: string) => key.split(' @ ')[0];
  const rows = pairs.map(
    (pair) =>
      `| ${pair.route} | ${pair.backend} | ${name(pair.contender)} | ${pair.requestsPerSecond.toFixed(0)} | ${name(pair.anchor)}${pair.anchorRoute === pair.route ? '' : ` (${pair.anchorRoute})`} | ${pair.anchorRequestsPerSecond.toFixed(0)} | **${pair.throughputRatio.toFixed(2)}×** | ${pair.p99Ms} | ${pair.anchorP99Ms} | **${pair.p99Ratio.toFixed(2)}×** |`,
  );
  const table = [
    `Measured ${report.date.slice(0, 10)} on ${report.machine.cpus} × ${report.machine.cpu}, Node ${process.version}; ${CONNECTIONS} connections, ${ROUNDS} alternating rounds of ${SECONDS} s, medians. Load, servers, Redis and PostgreSQL share the machine.`,
    '',
    '| route | store | measured | req/s | against | req/s | throughput | p99 ms | p99 ms | p99 |',
    '| --- | --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |',
    ...rows,
    ...targetRows(pairs),
  ].join('\n');
  writeFileSync(new URL('http.md', results), `${table}\n`);
  console.log(`\n${table}`);
}

await main();
