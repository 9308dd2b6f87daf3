import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import Fastify, { type FastifyInstance } from 'fastify';
import { Pool } from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { SessionManager, SessionNotFoundError, ValidationError } from '../../src/core/index.js';
import {
  createGateway,
  type Gateway,
  type GatewayConfigInput,
  loadConfig,
  parseConfig,
} from '../../src/gateway/index.js';
import { GatewayMetrics, UNMATCHED_ROUTE } from '../../src/gateway/metrics.js';
import { toErrorResponse } from '../../src/http/index.js';
import { InstrumentedStore, SqliteStore } from '../../src/stores/index.js';
import { dropKeys, freshPrefix, REDIS_URL, RUN_PREFIX } from '../stores/fixtures/redis.js';
import { parseExposition, type Sample, sampleSum, sampleValue } from '../support/exposition.js';
import { startTcpProxy } from '../support/tcp-proxy.js';

const dir = mkdtempSync(join(tmpdir(), 'clawsession-metrics-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let counter = 0;

const apps: FastifyInstance[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

async function start() {
  const store = new SqliteStore({ filename: join(dir, `${++counter}.db`) });
  const logLines: string[] = [];
  const app = Fastify({
    logger: {
      level: 'warn',
      stream: new Writable({
        write(chunk, _encoding, done) {
          logLines.push(String(chunk));
          done();
        },
      }),
    },
  });
  apps.push(app);
  const clock = { now: Date.UTC(2026, 0, 1) };
  let manager: SessionManager | undefined;
  const metrics = new GatewayMetrics({
    countLiveSessions: () => (manager as SessionManager).countLive(),
    clock: () => clock.now,
  });
  const instrumented = new InstrumentedStore(store, metrics.storeObserver);
  manager = new SessionManager({ store: instrumented });
  const sessions = manager;
  app.addHook('onClose', () => sessions.close());
  app.setErrorHandler((error, _request, reply) => {
    const { status, body } = toErrorResponse(error);
    return reply.code(status).send(body);
  });
  metrics.register(app);
  app.post('/sessions', async () => {
    const { session } = await sessions.create({ userId: 'alice' });
    return { id: session.id };
  });
  app.get('/sessions/:id', async (request) => {
    const { id } = request.params as { id: string };
    if (!/^[0-9a-f]{64}$/.test(id)) throw new ValidationError('id must be 64 hex characters');
    const session = await sessions.get({ id }, { touch: false });
    if (!session) throw new SessionNotFoundError();
    return { userId: session.userId };
  });
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  const scrape = async () => {
    const response = await fetch(`${url}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe(metrics.registry.contentType);
    return parseExposition(await response.text());
  };
  return { url, metrics, store, instrumented, manager: sessions, clock, scrape, logLines };
}

describe('GatewayMetrics', () => {
  it('counts requests by route pattern and status, and times them', async () => {
    const { url, scrape } = await start();
    const created = (await (await fetch(`${url}/sessions`, { method: 'POST' })).json()) as {
      id: string;
    };
    expect((await fetch(`${url}/sessions/${created.id}`)).status).toBe(200);
    expect((await fetch(`${url}/sessions/${created.id}?again=1`)).status).toBe(200);
    expect((await fetch(`${url}/sessions/not-an-id`)).status).toBe(400);
    expect((await fetch(`${url}/sessions/${'0'.repeat(64)}`)).status).toBe(404);
    expect((await fetch(`${url}/no/such/route-4711`)).status).toBe(404);

    const samples = await scrape();
    const requests = (method: string, route: string, status: string) =>
      sampleValue(samples, 'clawsession_http_requests_total', { method, route, status });
    expect(requests('POST', '/sessions', '200')).toBe(1);
    expect(requests('GET', '/sessions/:id', '200')).toBe(2);
    expect(requests('GET', '/sessions/:id', '400')).toBe(1);
    expect(requests('GET', '/sessions/:id', '404')).toBe(1);
    expect(requests('GET', UNMATCHED_ROUTE, '404')).toBe(1);
    expect(
      samples
        .filter((sample) => sample.name === 'clawsession_http_requests_total')
        .reduce((sum, sample) => sum + sample.value, 0),
    ).toBe(6);
    expect(
      sampleValue(samples, 'clawsession_http_request_duration_seconds_count', {
        method: 'GET',
        route: '/sessions/:id',
        status: '200',
      }),
    ).toBe(2);
    expect(
      sampleValue(samples, 'clawsession_http_request_duration_seconds_bucket', {
        method: 'GET',
        route: '/sessions/:id',
        status: '200',
        le: '+Inf',
      }),
    ).toBe(2);
    const labelValues = samples.flatMap((sample) => Object.values(sample.labels));
    expect(labelValues.some((value) => value.includes('route-4711'))).toBe(false);
    expect(labelValues.some((value) => value.includes(created.id))).toBe(false);
    expect(labelValues).not.toContain('/sessions/not-an-id');

    // The scrape itself is a request, counted once it has been answered.
    const next = await scrape();
    expect(
      sampleValue(next, 'clawsession_http_requests_total', {
        method: 'GET',
        route: '/metrics',
        status: '200',
      }),
    ).toBe(1);
  });

  it('reports live sessions, counted once per cache period', async () => {
    const { url, manager, clock, scrape } = await start();
    await fetch(`${url}/sessions`, { method: 'POST' });
    const doomed = await manager.create({ userId: 'bob' });
    let samples = await scrape();
    expect(sampleValue(samples, 'clawsession_sessions_active')).toBe(2);
    const counts = (s: Sample[]) =>
      sampleValue(s, 'clawsession_store_operation_duration_seconds_count', {
        operation: 'countLive',
      });
    expect(counts(samples)).toBe(1);

    await manager.revoke(doomed.token);
    clock.now += 9_999;
    samples = await scrape();
    expect(sampleValue(samples, 'clawsession_sessions_active')).toBe(2);
    expect(counts(samples)).toBe(1);

    clock.now += 1;
    samples = await scrape();
    expect(sampleValue(samples, 'clawsession_sessions_active')).toBe(1);
    expect(counts(samples)).toBe(2);
  });

  it('times store operations, refused ones included, and counts no refusal as a store error', async () => {
    const { url, instrumented, manager, scrape } = await start();
    await fetch(`${url}/sessions`, { method: 'POST' });
    const { session } = await manager.create({ userId: 'carol' });
    await expect(instrumented.create(session)).rejects.toMatchObject({
      code: 'ERR_SESSION_EXISTS',
    });
    const samples = await scrape();
    expect(
      sampleValue(samples, 'clawsession_store_operation_duration_seconds_count', {
        operation: 'create',
      }),
    ).toBe(3);
    expect(
      samples.filter((sample) => sample.name === 'clawsession_store_operation_errors_total'),
    ).toEqual([]);
  });

  it('a store that cannot count leaves the scrape whole, reports NaN and logs why', async () => {
    const { store, scrape, logLines } = await start();
    await store.close();
    const samples = await scrape();
    expect(sampleValue(samples, 'clawsession_sessions_active')).toBeNaN();
    expect(
      sampleValue(samples, 'clawsession_store_operation_errors_total', {
        operation: 'countLive',
        code: 'ERR_INTERNAL',
      }),
    ).toBe(1);
    expect(sampleValue(samples, 'clawsession_process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect(logLines.join('')).toContain('counting active sessions for metrics failed');
  });

  it('counts key verifications, rate-limit rejections and upstream responses as recorded', async () => {
    const { metrics, scrape } = await start();
    let samples = await scrape();
    for (const result of ['ok', 'invalid', 'forbidden', 'rate_limited'])
      expect(sampleValue(samples, 'clawsession_key_verifications_total', { result })).toBe(0);

    metrics.recordKeyVerification('ok');
    metrics.recordKeyVerification('ok');
    metrics.recordKeyVerification('forbidden');
    metrics.recordRateLimitRejection('login');
    metrics.recordUpstreamResponse('/api', 502);
    samples = await scrape();
    expect(sampleValue(samples, 'clawsession_key_verifications_total', { result: 'ok' })).toBe(2);
    expect(
      sampleValue(samples, 'clawsession_key_verifications_total', { result: 'forbidden' }),
    ).toBe(1);
    expect(sampleValue(samples, 'clawsession_key_verifications_total', { result: 'invalid' })).toBe(
      0,
    );
    expect(
      sampleValue(samples, 'clawsession_rate_limit_rejections_total', { limiter: 'login' }),
    ).toBe(1);
    expect(
      sampleValue(samples, 'clawsession_upstream_requests_total', {
        route: '/api',
        status: '502',
      }),
    ).toBe(1);
  });

  it('two gateways in one process keep separate registries', async () => {
    const first = await start();
    const second = await start();
    await fetch(`${first.url}/sessions`, { method: 'POST' });
    const firstSamples = await first.scrape();
    const secondSamples = await second.scrape();
    const created = { method: 'POST', route: '/sessions', status: '200' };
    expect(sampleValue(firstSamples, 'clawsession_http_requests_total', created)).toBe(1);
    expect(sampleValue(secondSamples, 'clawsession_http_requests_total', created)).toBeUndefined();
    expect(sampleValue(firstSamples, 'clawsession_sessions_active')).toBe(1);
    expect(sampleValue(secondSamples, 'clawsession_sessions_active')).toBe(0);
  });
});

const ROOT = randomBytes(32).toString('base64url');
const gateways: Gateway[] = [];
afterEach(async () => {
  await Promise.all(gateways.splice(0).map((gateway) => gateway.close()));
});
afterAll(() => dropKeys(REDIS_URL, RUN_PREFIX));

async function startGateway(overrides: GatewayConfigInput = {}) {
  const gateway = await createGateway(
    parseConfig({ port: 0, store: 'memory:', adminToken: ROOT, logLevel: 'silent', ...overrides }),
  );
  gateways.push(gateway);
  const url = await gateway.listen();
  const call = async (
    method: string,
    path: string,
    options: { body?: unknown; headers?: Record<string, string>; credential?: string | null } = {},
  ) => {
    const headers: Record<string, string> = { ...options.headers };
    if (options.credential !== null) headers.authorization = `Bearer ${options.credential ?? ROOT}`;
    if (options.body !== undefined) headers['content-type'] ??= 'application/json';
    const response = await fetch(`${url}${path}`, {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
    });
    const text = await response.text();
    return { status: response.status, headers: response.headers, text };
  };
  const scrape = async (credential: string = ROOT) => {
    const response = await call('GET', '/metrics', { credential });
    expect(response.status).toBe(200);
    return parseExposition(response.text);
  };
  return { gateway, url, call, scrape };
}

describe("the gateway's store error counter", () => {
  it('counts no stale If-Match or failed test op on a real store, and counts an outage', async () => {
    const network = await startTcpProxy('127.0.0.1', Number(new URL(REDIS_URL).port || 6379));
    let cut: Promise<void> | undefined;
    const cutNetwork = () => {
      cut ??= network.close();
      return cut;
    };
    try {
      const { call, scrape } = await startGateway({
        store: `redis://127.0.0.1:${network.port}?prefix=${freshPrefix()}`,
      });
      const created = await call('POST', '/v1/sessions', {
        body: { userId: 'alice', data: { cart: [] } },
      });
      expect(created.status).toBe(201);
      const { id } = (JSON.parse(created.text) as { session: { id: string } }).session;
      const patch = (ops: unknown[], headers: Record<string, string> = {}) =>
        call('PATCH', `/v1/sessions/${id}`, { body: ops, headers });
      const add = [{ op: 'add', path: '/cart/-', value: 'sku-1' }];
      expect((await patch(add, { 'if-match': '"7"' })).status).toBe(412);
      expect((await patch([{ op: 'test', path: '/cart', value: ['x'] }, ...add])).status).toBe(409);
      expect((await patch([{ op: 'remove', path: '/missing' }])).status).toBe(422);
      expect((await call('GET', `/v1/sessions/${'0'.repeat(64)}`)).status).toBe(404);

      let samples = await scrape();
      expect(
        sampleValue(samples, 'clawsession_store_operation_duration_seconds_count', {
          operation: 'update',
        }),
      ).toBe(3);
      expect(sampleSum(samples, 'clawsession_store_operation_errors_total')).toBe(0);

      await cutNetwork();
      const refused = await call('GET', `/v1/sessions/${id}`);
      expect(refused.status).toBe(503);
      samples = await scrape();
      expect(
        sampleValue(samples, 'clawsession_store_operation_errors_total', {
          operation: 'get',
          code: 'ERR_STORE_UNAVAILABLE',
        }),
      ).toBe(1);
    } finally {
      await cutNetwork();
    }
  });
});

describe('who may scrape the gateway', () => {
  async function mintKey(call: Awaited<ReturnType<typeof startGateway>>['call'], scopes: string[]) {
    const minted = await call('POST', '/admin/keys', { body: { owner: 'prometheus', scopes } });
    expect(minted.status).toBe(201);
    return (JSON.parse(minted.text) as { key: string }).key;
  }

  it('a metrics:read key scrapes and may do nothing else; the admin token scrapes too', async () => {
    const { call, scrape } = await startGateway();
    const scraper = await mintKey(call, ['metrics:read']);
    const created = await call('POST', '/v1/sessions', { body: { userId: 'alice' } });
    const { id } = (JSON.parse(created.text) as { session: { id: string } }).session;

    expect(sampleValue(await scrape(scraper), 'clawsession_sessions_active')).toBe(1);
    expect(sampleValue(await scrape(ROOT), 'clawsession_sessions_active')).toBe(1);
    const refusals = [
      ['POST', '/v1/sessions', { userId: 'mallory' }],
      ['GET', `/v1/sessions/${id}`],
      ['DELETE', `/v1/sessions/${id}`],
      ['DELETE', '/v1/users/alice/sessions'],
      ['GET', '/admin/keys'],
      ['POST', '/admin/keys', { owner: 'mallory', scopes: ['metrics:read'] }],
      ['GET', '/admin/users'],
    ] as const;
    for (const [method, path, body] of refusals) {
      const refused = await call(method, path, { body, credential: scraper });
      expect({ method, path, status: refused.status, text: refused.text }).toMatchObject({
        status: 403,
        text: expect.stringContaining('ERR_API_KEY_SCOPE'),
      });
    }
    expect((await call('GET', `/v1/sessions/${id}`)).status).toBe(200);
  });

  it('refuses a key without metrics:read, sessions:admin included, and a request without credential', async () => {
    const { call } = await startGateway();
    const admin = await mintKey(call, ['sessions:admin', 'sessions:read', 'keys:admin']);
    const refused = await call('GET', '/metrics', { credential: admin });
    expect(refused.status).toBe(403);
    expect(JSON.parse(refused.text)).toMatchObject({
      error: { code: 'ERR_API_KEY_SCOPE', message: expect.stringContaining('metrics:read') },
    });
    expect((await call('GET', '/metrics', { credential: null })).status).toBe(401);
  });
});

describe('the metrics listener', () => {
  it('is off unless configured, and defaults to loopback when it is', () => {
    expect(parseConfig({}).metrics).toBeUndefined();
    expect(parseConfig({ metrics: { port: 9464 } }).metrics).toEqual({
      port: 9464,
      host: '127.0.0.1',
    });
    expect(
      loadConfig({ env: { CLAWSESSION_METRICS: '{"port":9464,"host":"10.0.0.5"}' } }).metrics,
    ).toEqual({ port: 9464, host: '10.0.0.5' });
    expect(() => parseConfig({ metrics: { port: 9464, path: '/m' } })).toThrow(/metrics/);
    expect(() => parseConfig({ metrics: { host: '0.0.0.0' } })).toThrow(/metrics\.port/);
  });

  it('serves /metrics without auth on its own port, while the main port keeps asking for a credential', async () => {
    const { gateway, call, scrape } = await startGateway({ metrics: { port: 0 } });
    const origin = gateway.metricsApp?.listeningOrigin as string;
    expect(origin).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(origin).not.toBe(new URL(gateway.app.listeningOrigin).origin);
    await call('POST', '/v1/sessions', { body: { userId: 'alice' } });

    const open = await fetch(`${origin}/metrics`);
    expect(open.status).toBe(200);
    expect(open.headers.get('content-type')).toContain('text/plain');
    const samples = parseExposition(await open.text());
    expect(sampleValue(samples, 'clawsession_sessions_active')).toBe(1);
    expect(
      sampleValue(samples, 'clawsession_http_requests_total', {
        method: 'POST',
        route: '/v1/sessions',
        status: '201',
      }),
    ).toBe(1);

    expect((await call('GET', '/metrics', { credential: null })).status).toBe(401);
    const onMain = await scrape();
    // The listener's own scrapes are not the gateway's traffic.
    expect(
      sampleSum(onMain, 'clawsession_http_requests_total', { route: '/metrics', status: '200' }),
    ).toBe(0);
    for (const path of ['/v1/sessions', '/healthz', '/admin/keys']) {
      const other = await fetch(`${origin}${path}`, {
        headers: { authorization: `Bearer ${ROOT}` },
      });
      expect({ path, status: other.status, body: await other.json() }).toMatchObject({
        status: 404,
        body: { error: { code: 'ERR_ROUTE_NOT_FOUND' } },
      });
    }
    expect((await fetch(`${origin}/metrics`, { method: 'POST' })).status).toBe(404);
  });

  it('closes with the gateway', async () => {
    const { gateway } = await startGateway({ metrics: { port: 0 } });
    const origin = gateway.metricsApp?.listeningOrigin as string;
    expect((await fetch(`${origin}/metrics`)).status).toBe(200);
    await gateway.close();
    await expect(fetch(`${origin}/metrics`)).rejects.toThrow();
  });
});

describe('the route label', () => {
  it('is the registered pattern for gateway routes and the configured prefix for proxy routes, in request and upstream metrics alike', async () => {
    const upstream = createServer((_request, response) => response.end('ok'));
    upstream.listen(0, '127.0.0.1');
    await once(upstream, 'listening');
    const port = (upstream.address() as AddressInfo).port;
    const gone = createServer();
    gone.listen(0, '127.0.0.1');
    await once(gone, 'listening');
    const gonePort = (gone.address() as AddressInfo).port;
    gone.close();
    try {
      const { call, scrape } = await startGateway({
        routes: [
          { prefix: '/api/orders/', upstream: `http://127.0.0.1:${port}`, auth: 'none' },
          { prefix: '/api', upstream: `http://127.0.0.1:${port}`, auth: 'none' },
          { prefix: '/gone', upstream: `http://127.0.0.1:${gonePort}`, auth: 'none' },
        ],
      });
      for (const path of ['/api/orders', '/api/orders/7', '/api/orders/7/lines?page=2'])
        expect((await call('GET', path, { credential: null })).status).toBe(200);
      expect((await call('POST', '/api/users/1', { credential: null })).status).toBe(200);
      expect((await call('GET', '/gone/x', { credential: null })).status).toBe(502);
      expect((await call('GET', `/v1/sessions/${'0'.repeat(64)}`)).status).toBe(404);

      const samples = await scrape();
      const requests = (route: string, status: string) =>
        sampleSum(samples, 'clawsession_http_requests_total', { route, status });
      const upstreamResponses = (route: string, status: string) =>
        sampleValue(samples, 'clawsession_upstream_requests_total', { route, status });
      expect(requests('/api/orders', '200')).toBe(3);
      expect(upstreamResponses('/api/orders', '200')).toBe(3);
      expect(requests('/api', '200')).toBe(1);
      expect(upstreamResponses('/api', '200')).toBe(1);
      expect(requests('/gone', '502')).toBe(1);
      expect(upstreamResponses('/gone', '502')).toBe(1);
      expect(requests('/v1/sessions/:id', '404')).toBe(1);
      const routes = new Set(
        samples
          .filter((sample) => sample.name === 'clawsession_http_requests_total')
          .map((sample) => sample.labels.route),
      );
      expect([...routes].filter((route) => route?.includes('*'))).toEqual([]);
    } finally {
      upstream.close();
    }
  });
});

describe("the session store's pool", () => {
  const postgresUrl =
    process.env.CLAWSESSION_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const schema = `clawsession_metrics_${randomBytes(4).toString('hex')}`;
  const admin = new Pool({ connectionString: postgresUrl, max: 2 });
  admin.on('error', () => undefined);
  afterAll(async () => {
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await admin.end();
  });

  /** Resolves once `check` does, asking again each turn of the event loop. */
  async function until(check: () => Promise<boolean>): Promise<void> {
    while (!(await check())) await new Promise((resolve) => setImmediate(resolve));
  }

  it('shows requests waiting for a held pool, and a full queue answers 503 with Retry-After', async () => {
    await admin.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    const { call, scrape } = await startGateway({
      store: `${postgresUrl}?schema=${schema}&poolSize=1&poolQueue=1`,
    });
    const created = await call('POST', '/v1/sessions', { body: { userId: 'alice', data: {} } });
    const { id } = (JSON.parse(created.text) as { session: { id: string } }).session;
    // The first scrape counts the live sessions, and later ones reuse that count rather than queue.
    let samples = await scrape();
    expect(sampleValue(samples, 'clawsession_store_pool_size', {})).toBe(1);
    expect(sampleValue(samples, 'clawsession_store_pool_waiting', {})).toBe(0);

    // A patch blocked on the session's row lock holds the pool's one connection.
    const blocker = await admin.connect();
    await blocker.query('BEGIN');
    await blocker.query(`SELECT 1 FROM ${schema}.clawsession_sessions WHERE id = $1 FOR UPDATE`, [
      id,
    ]);
    try {
      const patched = call('PATCH', `/v1/sessions/${id}`, {
        body: [{ op: 'add', path: '/n', value: 1 }],
      });
      await until(async () => {
        const { rows } = await admin.query<{ n: number }>(
          "SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE $1",
          [`%${schema}%`],
        );
        return rows[0]?.n === 1;
      });
      const queued = call('GET', `/v1/sessions/${id}`);
      await until(async () => {
        samples = await scrape();
        return sampleValue(samples, 'clawsession_store_pool_waiting', {}) === 1;
      });
      expect(sampleValue(samples, 'clawsession_store_pool_connections', { state: 'in_use' })).toBe(
        1,
      );
      expect(sampleValue(samples, 'clawsession_store_pool_connections', { state: 'idle' })).toBe(0);

      const refused = await call('GET', `/v1/sessions/${id}`);
      expect(refused.status).toBe(503);
      expect(refused.headers.get('retry-after')).toBe('1');
      expect(JSON.parse(refused.text)).toEqual({
        error: {
          code: 'ERR_STORE_BUSY',
          message: 'the store is busy; nothing was changed, retry after Retry-After seconds',
        },
      });

      await blocker.query('ROLLBACK');
      expect((await patched).status).toBe(200);
      expect((await queued).status).toBe(200);
    } finally {
      await blocker.query('ROLLBACK');
      blocker.release();
    }
  });
});
