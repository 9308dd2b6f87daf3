/*
 * The gateway's proxy overhead, next to its anchor measured in the same run: a
 * bare Fastify + @fastify/reply-from proxy to the same upstream, with no
 * authentication, which is what any Node proxy costs. Every request is a GET
 * answered by one small node:http upstream with a tiny JSON body.
 *
 * Three processes, so that no figure pays for another's event loop: this one
 * is the client (undici keep-alive pools), one child runs the upstream, and
 * one child runs the anchor and the gateways. Besides latency (sequential) and
 * throughput (32 in flight), the proxy process's CPU time per request during
 * the throughput phase is what the proxy itself costs, client and upstream apart.
 *
 *   npx tsx bench/gateway.ts      (needs Redis on 127.0.0.1:6379 for the Redis row)
 */
import { type ChildProcess, fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import replyFrom from '@fastify/reply-from';
import Fastify from 'fastify';
import { createClient, RESP_TYPES } from 'redis';
import { Pool } from 'undici';
import { createGateway, type Gateway, parseConfig } from '../src/gateway/index.js';

const REDIS_URL = process.env.CLAWSESSION_BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const WARMUP = 500;
const SEQUENTIAL = 2_000;
const CONCURRENT = 8_000;
const IN_FLIGHT = 32;
/** reply-from's keep-alive connections per upstream, as the gateway sets them. */
const UPSTREAM_CONNECTIONS = 128;
const ADMIN_TOKEN = randomBytes(32).toString('base64url');
const USER = { username: 'ada', password: 'correct horse battery', roles: ['buyer'] };
const UPSTREAM_BODY = JSON.stringify({ ok: true, id: 42 });
/** The upstream says whether it received an identity context, so each target is checked once. */
const SAW_CONTEXT = 'x-bench-saw-context';

/** One thing to measure: where to send the GET, and with what. */
interface Target {
  name: string;
  origin: string;
  path: string;
  headers: Record<string, string>;
  /** Whether the upstream must receive an X-Clawsession-Context. */
  context: boolean;
  /** Whether the request crosses the proxy process (the direct one does not). */
  proxied: boolean;
}

type Message =
  | { type: 'ready'; origin?: string; targets?: Target[] }
  | { type: 'cpu'; micros: number }
  | { type: 'closed' };

// ---- the children ------------------------------------------------------------------------------

/** Answers the parent's `cpu` and `close` messages; `close` runs `shutdown` first. */
function serveParent(shutdown: () => Promise<void>): void {
  process.on('message', async (message: { type: string }) => {
    if (message.type === 'cpu') {
      const { user, system } = process.cpuUsage();
      process.send?.({ type: 'cpu', micros: user + system } satisfies Message);
    } else if (message.type === 'close') {
      await shutdown();
      process.send?.({ type: 'closed' } satisfies Message, () => process.exit(0));
    }
  });
}

async function upstreamChild(): Promise<void> {
  const server = createServer((request, response) => {
    response.writeHead(200, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(UPSTREAM_BODY),
      [SAW_CONTEXT]: request.headers['x-clawsession-context'] ? 'yes' : 'no',
    });
    response.end(UPSTREAM_BODY);
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  serveParent(async () => {
    server.closeAllConnections();
    server.close();
  });
  process.send?.({ type: 'ready', origin: `http://127.0.0.1:${port}` } satisfies Message);
}

async function proxiesChild(upstream: string, sqliteFile: string, redisPrefix: string) {
  // The anchor: Fastify and reply-from as the gateway configures them, and nothing else.
  const anchor = Fastify({ logger: false });
  await anchor.register(replyFrom, {
    base: upstream,
    undici: { connections: UPSTREAM_CONNECTIONS },
    disableCache: true,
    disableRequestLogging: true,
  });
  anchor.get('/*', (request, reply) => reply.from(request.url));
  const anchorOrigin = await anchor.listen({ host: '127.0.0.1', port: 0 });

  const gateways: Gateway[] = [];
  async function gateway(store: string) {
    const started = await createGateway(
      parseConfig({
        port: 0,
        store,
        adminToken: ADMIN_TOKEN,
        logLevel: 'silent',
        cookie: { insecureDevelopmentMode: true },
        routes: [
          { prefix: '/public/', upstream, auth: 'none' },
          { prefix: '/api/', upstream, auth: 'session' },
        ],
      }),
    );
    gateways.push(started);
    const origin = await started.listen();
    const json = { 'content-type': 'application/json' };
    const created = await fetch(`${origin}/admin/users`, {
      method: 'POST',
      headers: { ...json, authorization: `Bearer ${ADMIN_TOKEN}` },
      body: JSON.stringify(USER),
    });
    if (created.status !== 201) throw new Error(`POST /admin/users: ${created.status}`);
    const credentials = JSON.stringify({ username: USER.username, password: USER.password });
    const login = await fetch(`${origin}/auth/login`, {
      method: 'POST',
      headers: json,
      body: credentials,
    });
    const cookie = login.headers.getSetCookie()[0]?.split(';')[0];
    if (login.status !== 200 || !cookie) throw new Error(`POST /auth/login: ${login.status}`);
    const token = await fetch(`${origin}/auth/token`, {
      method: 'POST',
      headers: json,
      body: credentials,
    });
    if (token.status !== 200) throw new Error(`POST /auth/token: ${token.status}`);
    const { accessToken } = (await token.json()) as { accessToken: string };
    return { origin, cookie, bearer: `Bearer ${accessToken}` };
  }

  const memory = await gateway('memory:');
  const sqlite = await gateway(`sqlite:${sqliteFile}`);
  const redis = await gateway(`${REDIS_URL}?prefix=${redisPrefix}`);
  const proxied = (name: string, origin: string, path: string, headers = {}) => ({
    name,
    origin,
    path,
    headers,
    context: path.startsWith('/api/'),
    proxied: true,
  });
  const targets: Target[] = [
    { ...proxied('direct (upstream itself)', upstream, '/public/item'), proxied: false },
    proxied('anchor: Fastify + reply-from', anchorOrigin, '/public/item'),
    proxied('gateway public, memory', memory.origin, '/public/item'),
    proxied('gateway cookie, memory', memory.origin, '/api/item', { cookie: memory.cookie }),
    proxied('gateway bearer, memory', memory.origin, '/api/item', { authorization: memory.bearer }),
    proxied('gateway cookie, sqlite', sqlite.origin, '/api/item', { cookie: sqlite.cookie }),
    proxied('gateway cookie, redis', redis.origin, '/api/item', { cookie: redis.cookie }),
  ];
  serveParent(async () => {
    await anchor.close();
    for (const started of gateways) await started.close();
  });
  process.send?.({ type: 'ready', targets } satisfies Message);
}

// ---- the client ----------------------------------------------------------------------------------

/** A forked child of this script, and a way to ask it one thing at a time. */
async function spawn(args: string[]) {
  const child: ChildProcess = fork(fileURLToPath(import.meta.url), args, {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  // One listener each for messages and exit, however many questions are asked.
  const inbox: Message[] = [];
  let waiting: { resolve: (message: Message) => void; reject: (error: Error) => void } | null =
    null;
  let exited: Error | null = null;
  child.on('message', (message: Message) => {
    if (waiting) waiting.resolve(message);
    else inbox.push(message);
    waiting = null;
  });
  child.on('exit', (code) => {
    exited = new Error(`bench child ${args[0]} exited with ${code}`);
    waiting?.reject(exited);
    waiting = null;
  });
  const next = (): Promise<Message> => {
    const queued = inbox.shift();
    if (queued) return Promise.resolve(queued);
    if (exited) return Promise.reject(exited);
    return new Promise((resolve, reject) => {
      waiting = { resolve, reject };
    });
  };
  const ready = await next();
  return {
    ready,
    async cpuMicros(): Promise<number> {
      child.send({ type: 'cpu' });
      const reply = await next();
      if (reply.type !== 'cpu') throw new Error(`expected cpu, got ${reply.type}`);
      return reply.micros;
    },
    async close(): Promise<void> {
      if (child.exitCode !== null) return;
      child.send({ type: 'close' });
      await next().catch(() => undefined);
    },
  };
}

interface Figures {
  meanUs: number;
  p50Us: number;
  p99Us: number;
  opsPerSecond: number;
  proxyCpuUs: number | null;
}

async function measure(target: Target, proxyCpuMicros: () => Promise<number>): Promise<Figures> {
  const pool = new Pool(target.origin, {
    connections: IN_FLIGHT,
    pipelining: 1,
    keepAliveTimeout: 60_000,
  });
  const get = async () => {
    const { statusCode, headers, body } = await pool.request({
      method: 'GET',
      path: target.path,
      headers: target.headers,
    });
    await body.dump();
    if (statusCode !== 200) throw new Error(`${target.name}: status ${statusCode}`);
    return headers;
  };
  try {
    const first = await get();
    if ((first[SAW_CONTEXT] === 'yes') !== target.context)
      throw new Error(`${target.name}: upstream saw context: ${first[SAW_CONTEXT]}`);
    for (let i = 0; i < WARMUP; i++) await get();
    const samples: number[] = [];
    for (let i = 0; i < SEQUENTIAL; i++) {
      const started = performance.now();
      await get();
      samples.push((performance.now() - started) * 1000);
    }
    samples.sort((a, b) => a - b);
    // Open the connections (and warm the 32-in-flight path) before the timed throughput phase.
    await Promise.all(Array.from({ length: IN_FLIGHT * 4 }, get));
    const proxyBefore = await proxyCpuMicros();
    let sent = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, async () => {
        while (sent < CONCURRENT) {
          sent++;
          await get();
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    const proxyAfter = await proxyCpuMicros();
    return {
      meanUs: samples.reduce((sum, value) => sum + value, 0) / samples.length,
      p50Us: samples[Math.floor(samples.length * 0.5)] as number,
      p99Us: samples[Math.floor(samples.length * 0.99)] as number,
      opsPerSecond: CONCURRENT / seconds,
      proxyCpuUs: target.proxied ? (proxyAfter - proxyBefore) / CONCURRENT : null,
    };
  } finally {
    await pool.close();
  }
}

function formatTable(rows: string[][]): string {
  const widths = (rows[0] ?? []).map((_, column) =>
    Math.max(...rows.map((row) => row[column]?.length ?? 0)),
  );
  const line = (row: string[]) =>
    row
      .map((cell, column) =>
        column === 0 ? cell.padEnd(widths[column] ?? 0) : cell.padStart(widths[column] ?? 0),
      )
      .join('  ');
  const [header, ...body] = rows;
  return [
    line(header ?? []),
    widths.map((width) => '-'.repeat(width)).join('  '),
    ...body.map(line),
  ].join('\n');
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'clawsession-bench-gateway-'));
  const redisPrefix = `bench-${randomBytes(4).toString('hex')}:`;
  const children: Awaited<ReturnType<typeof spawn>>[] = [];
  try {
    const upstream = await spawn(['upstream']);
    children.push(upstream);
    const origin = upstream.ready.type === 'ready' ? upstream.ready.origin : undefined;
    if (!origin) throw new Error('the upstream did not say where it listens');
    const proxies = await spawn(['proxies', origin, join(dir, 'gateway.db'), redisPrefix]);
    children.push(proxies);
    const targets = proxies.ready.type === 'ready' ? proxies.ready.targets : undefined;
    if (!targets) throw new Error('the proxies did not say where they listen');

    const results = new Map<string, Figures>();
    for (const target of targets)
      results.set(target.name, await measure(target, () => proxies.cpuMicros()));
    const anchor = results.get(targets[1]?.name ?? '') as Figures;

    console.log(
      `node ${process.version} · ${process.platform}/${process.arch} · ${cpus().length} CPUs · ` +
        `client, upstream and proxies in 3 processes · ${SEQUENTIAL} sequential GETs after ${WARMUP} ` +
        `warm-up, then ${CONCURRENT} with ${IN_FLIGHT} in flight (undici Pool, keep-alive)`,
    );
    console.log(
      `upstream: node:http answering ${Buffer.byteLength(UPSTREAM_BODY)} bytes of JSON · ` +
        'gateway: log level silent, insecureDevelopmentMode cookie, stores memory: / sqlite: (temp file) / redis: (127.0.0.1:6379)\n',
    );
    const rows = [
      [
        'target',
        'mean µs',
        'p50 µs',
        'p99 µs',
        'latency ratio',
        'ops/s (32 in flight)',
        'throughput ratio',
        'proxy CPU µs/req',
        'CPU ratio',
      ],
    ];
    for (const target of targets) {
      const figures = results.get(target.name) as Figures;
      rows.push([
        target.name,
        figures.meanUs.toFixed(0),
        figures.p50Us.toFixed(0),
        figures.p99Us.toFixed(0),
        `${(figures.meanUs / anchor.meanUs).toFixed(2)}x`,
        Math.round(figures.opsPerSecond).toLocaleString('en-US'),
        `${(figures.opsPerSecond / anchor.opsPerSecond).toFixed(2)}x`,
        figures.proxyCpuUs === null ? '-' : figures.proxyCpuUs.toFixed(0),
        figures.proxyCpuUs === null
          ? '-'
          : `${(figures.proxyCpuUs / (anchor.proxyCpuUs as number)).toFixed(2)}x`,
      ]);
    }
    console.log(formatTable(rows));
    console.log(
      '\nratios: latency = mean ÷ anchor mean (higher is slower); throughput = ops/s ÷ anchor ops/s' +
        '\n        (lower is slower); CPU = proxy-process CPU per request ÷ the anchor’s, measured' +
        '\n        over the throughput phase. cookie and bearer rows are auth: session routes: the' +
        '\n        gateway authenticates each request and signs an X-Clawsession-Context (EdDSA) for it.',
    );
  } finally {
    for (const child of children.reverse()) await child.close();
    rmSync(dir, { recursive: true, force: true });
    // Redis outlives this process, so the gateway's keys are removed; the rest go with the temp dir.
    // As Buffers: session keys end in the id's 32 raw bytes, which a UTF-8 string would mangle.
    const cleanup = await createClient({ url: REDIS_URL }).connect();
    const binary = cleanup.withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer });
    for await (const keys of binary.scanIterator({ MATCH: `${redisPrefix}*`, COUNT: 1000 })) {
      if (keys.length > 0) await cleanup.unlink(keys);
    }
    await cleanup.close();
  }
}

const [role, ...args] = process.argv.slice(2);
if (role === 'upstream') await upstreamChild();
else if (role === 'proxies') await proxiesChild(args[0] ?? '', args[1] ?? '', args[2] ?? '');
else await main();
