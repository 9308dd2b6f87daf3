import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { SessionManager, SessionNotFoundError, ValidationError } from '../../src/core/index.js';
import { GatewayMetrics, UNMATCHED_ROUTE } from '../../src/gateway/metrics.js';
import { toErrorResponse } from '../../src/http/index.js';
import { InstrumentedStore, SqliteStore } from '../../src/stores/index.js';

const dir = mkdtempSync(join(tmpdir(), 'clawsession-metrics-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let counter = 0;

const apps: FastifyInstance[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of a Prometheus text exposition; a line that is neither a sample nor HELP/TYPE fails the test. */
function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('# HELP ') || line.startsWith('# TYPE ')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, key, value] of (match[2] ?? '').matchAll(/([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g))
      labels[key as string] = value as string;
    samples.push({ name: match[1] as string, labels, value: Number(match[3]) });
  }
  return samples;
}

/** The value of the one sample with exactly these labels, or undefined. */
function sampleValue(
  samples: Sample[],
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  const wanted = JSON.stringify(Object.entries(labels).sort());
  return samples.find(
    (sample) =>
      sample.name === name && JSON.stringify(Object.entries(sample.labels).sort()) === wanted,
  )?.value;
}

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

  it('times store operations and counts their errors by code', async () => {
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
      sampleValue(samples, 'clawsession_store_operation_errors_total', {
        operation: 'create',
        code: 'ERR_SESSION_EXISTS',
      }),
    ).toBe(1);
    expect(
      samples.filter((sample) => sample.name === 'clawsession_store_operation_errors_total'),
    ).toHaveLength(1);
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
    metrics.recordUpstreamResponse('/api/*', 502);
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
        route: '/api/*',
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
