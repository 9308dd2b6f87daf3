import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/core/index.js';
import {
  createGateway,
  type Gateway,
  type GatewayConfigInput,
  loadConfig,
  parseConfig,
} from '../../src/gateway/index.js';
import { dropKeys, REDIS_URL } from '../stores/fixtures/redis.js';

const ROOT = randomBytes(32).toString('base64url');
const PASSWORD = 'correct horse battery staple';
const CHROME =
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';
const FIREFOX = 'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0';
const HOME = { 'x-forwarded-for': '203.0.113.5', 'user-agent': CHROME };
const ELSEWHERE = { 'x-forwarded-for': '198.51.100.7', 'user-agent': FIREFOX };
const root = { authorization: `Bearer ${ROOT}` };

const dir = mkdtempSync(join(tmpdir(), 'clawsession-anomaly-gateway-'));
const redisPrefix = `cs:test:anomaly-gw:${randomBytes(4).toString('hex')}:`;
const running: Gateway[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((gateway) => gateway.close()));
});
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await dropKeys(REDIS_URL, redisPrefix);
});

/** The whole gateway, in process, believing X-Forwarded-For from the test (loopback). */
async function start(overrides: GatewayConfigInput = {}, clock = { now: Date.now() }) {
  const logs: string[] = [];
  const gateway = await createGateway(
    parseConfig({
      port: 0,
      store: 'memory:',
      adminToken: ROOT,
      logLevel: 'warn',
      trustProxy: '127.0.0.1',
      refreshSecret: 'anomaly-test-refresh-secret-0123456789-abcdefghij',
      cookie: { insecureDevelopmentMode: true },
      ...overrides,
    }),
    { logStream: { write: (line) => logs.push(line) }, clock: () => clock.now },
  );
  running.push(gateway);
  const url = await gateway.listen();
  async function call(
    method: string,
    path: string,
    init: { body?: unknown; headers?: Record<string, string> } = {},
  ) {
    const headers: Record<string, string> = { ...init.headers };
    if (init.body !== undefined) headers['content-type'] = 'application/json';
    const response = await fetch(`${url}${path}`, {
      method,
      headers,
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
    });
    const text = await response.text();
    const isJson = response.headers.get('content-type')?.includes('json');
    // biome-ignore lint/suspicious/noExplicitAny: bodies are checked field by field
    const json: any = isJson ? JSON.parse(text) : text;
    return { status: response.status, headers: response.headers, json };
  }
  async function addUser(username: string) {
    const added = await call('POST', '/admin/users', {
      headers: root,
      body: { username, password: PASSWORD },
    });
    expect(added.status).toBe(201);
  }
  async function login(username: string, from: Record<string, string> = HOME) {
    const reply = await call('POST', '/auth/login', {
      headers: from,
      body: { username, password: PASSWORD },
    });
    expect(reply.status).toBe(200);
    return (reply.headers.get('set-cookie') ?? '').split(';')[0] as string;
  }
  const session = (cookie: string, from: Record<string, string>) =>
    call('GET', '/auth/session', { headers: { cookie, ...from } });
  return { gateway, url, call, addUser, login, session, logs };
}

const onHijack = (action: 'log' | 'step-up' | 'revoke') => ({
  rules: { 'network-change': { action }, 'user-agent-change': { action } },
});

describe('a hijacked session: the same cookie from another network and browser', () => {
  it('with revoke, is ended at once: that request and every later one get 401, and the flags are counted, logged and listed', async () => {
    const { call, addUser, login, session, logs } = await start({ anomaly: onHijack('revoke') });
    await addUser('bob');
    const cookie = await login('bob');
    expect((await session(cookie, HOME)).status).toBe(200);
    expect((await session(cookie, HOME)).status).toBe(200);

    const hijack = await session(cookie, ELSEWHERE);
    expect(hijack.status).toBe(401);
    expect(hijack.json.error.code).toBe('ERR_UNAUTHORIZED');
    const owner = await session(cookie, HOME);
    expect(owner.status).toBe(401);
    expect(owner.json.error.code).toBe('ERR_UNAUTHORIZED');
    expect((await call('GET', '/v1/users/bob/sessions', { headers: root })).json.sessions).toEqual(
      [],
    );

    const metrics = await call('GET', '/metrics', { headers: root });
    expect(metrics.json).toContain(
      'clawsession_anomalies_total{rule="network-change",action="revoke"} 1',
    );
    expect(metrics.json).toContain(
      'clawsession_anomalies_total{rule="user-agent-change",action="revoke"} 1',
    );
    const flagged = logs.map((line) => JSON.parse(line)).filter((l) => l.msg === 'anomaly flagged');
    expect(flagged.map((line) => line.anomaly.rule).sort()).toEqual([
      'network-change',
      'user-agent-change',
    ]);
    expect(flagged[0].anomaly).toMatchObject({ userId: 'bob', network: '198.51.0.0/16' });
    expect(logs.join('\n')).not.toContain(cookie.split('=')[1]);

    const listed = await call('GET', '/admin/anomalies?user=bob', { headers: root });
    expect(listed.status).toBe(200);
    expect(listed.json.next).toBeNull();
    expect(listed.json.flags).toHaveLength(2);
    expect(listed.json.flags[0]).toMatchObject({
      userId: 'bob',
      action: 'revoke',
      userAgentFamily: 'Firefox',
      time: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    });
  });

  it('with step-up, is kept but refused with ERR_STEP_UP_REQUIRED until the user logs in again', async () => {
    const { call, addUser, login, session } = await start({ anomaly: onHijack('step-up') });
    await addUser('carol');
    const cookie = await login('carol');
    expect((await session(cookie, HOME)).status).toBe(200);
    const hijack = await session(cookie, ELSEWHERE);
    expect(hijack.status).toBe(401);
    expect(hijack.json.error.code).toBe('ERR_STEP_UP_REQUIRED');
    const owner = await session(cookie, HOME);
    expect(owner.status).toBe(401);
    expect(owner.json.error.code).toBe('ERR_STEP_UP_REQUIRED');
    const sessions = await call('GET', '/v1/users/carol/sessions', { headers: root });
    expect(sessions.json.sessions).toHaveLength(1);

    const again = await login('carol');
    expect((await session(again, HOME)).status).toBe(200);
    const metrics = await call('GET', '/metrics', { headers: root });
    expect(metrics.json).toContain(
      'clawsession_anomalies_total{rule="network-change",action="step-up"} 1',
    );
  });

  it('is flagged even when its request is the one that rotates the token', async () => {
    const clock = { now: Date.now() };
    const { addUser, login, session } = await start(
      { anomaly: onHijack('revoke'), rotation: { interval: '5m' } },
      clock,
    );
    await addUser('rita');
    const cookie = await login('rita');
    expect((await session(cookie, HOME)).status).toBe(200);
    clock.now += 6 * 60_000;
    const hijack = await session(cookie, ELSEWHERE);
    expect(hijack.status).toBe(401);
    expect((await session(cookie, HOME)).status).toBe(401);
  });

  it('with log, is let through and only flagged', async () => {
    const { call, addUser, login, session } = await start({ anomaly: onHijack('log') });
    await addUser('dave');
    const cookie = await login('dave');
    expect((await session(cookie, HOME)).status).toBe(200);
    expect((await session(cookie, ELSEWHERE)).status).toBe(200);
    const listed = await call('GET', '/admin/anomalies?user=dave', { headers: root });
    expect(listed.json.flags.map((flag: { action: string }) => flag.action)).toEqual([
      'log',
      'log',
    ]);
  });

  it('through an access token, is refused the same way', async () => {
    const { call, addUser } = await start({ anomaly: onHijack('revoke') });
    await addUser('erin');
    const issued = await call('POST', '/auth/token', {
      headers: HOME,
      body: { username: 'erin', password: PASSWORD },
    });
    const bearer = { authorization: `Bearer ${issued.json.accessToken}` };
    expect((await call('GET', '/auth/session', { headers: { ...bearer, ...HOME } })).status).toBe(
      200,
    );
    const hijack = await call('GET', '/auth/session', { headers: { ...bearer, ...ELSEWHERE } });
    expect(hijack.status).toBe(401);
    expect((await call('GET', '/auth/session', { headers: { ...bearer, ...HOME } })).status).toBe(
      401,
    );
  });

  it('through the proxy, never reaches the upstream', async () => {
    const reached: string[] = [];
    const upstream = createServer((req, res) => {
      reached.push(req.headers['user-agent'] ?? '');
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
    upstream.listen(0, '127.0.0.1');
    await once(upstream, 'listening');
    try {
      const { port } = upstream.address() as AddressInfo;
      const { call, addUser, login } = await start({
        anomaly: onHijack('step-up'),
        routes: [{ prefix: '/app', upstream: `http://127.0.0.1:${port}`, auth: 'session' }],
      });
      await addUser('fay');
      const cookie = await login('fay');
      expect((await call('GET', '/app/x', { headers: { cookie, ...HOME } })).status).toBe(200);
      const hijack = await call('GET', '/app/x', { headers: { cookie, ...ELSEWHERE } });
      expect(hijack.status).toBe(401);
      expect(hijack.json.error.code).toBe('ERR_STEP_UP_REQUIRED');
      expect(reached).toEqual([CHROME]);
    } finally {
      upstream.close();
    }
  });
});

describe.each([
  ['SQLite', () => `sqlite:${join(dir, `shared-${randomBytes(4).toString('hex')}.db`)}`],
  ['Redis', () => `${REDIS_URL}?prefix=${redisPrefix}${randomBytes(4).toString('hex')}:`],
])('two gateways on one %s store', (_name, storeUrl) => {
  it('see one session as one: the second flags a move first seen on the first, and its revocation holds on both', async () => {
    const store = storeUrl();
    const first = await start({ store, anomaly: onHijack('revoke') });
    const second = await start({ store, anomaly: onHijack('revoke') });
    await first.addUser('gus');
    const cookie = await first.login('gus');
    expect((await first.session(cookie, HOME)).status).toBe(200);
    expect((await second.session(cookie, HOME)).status).toBe(200);
    const hijack = await second.session(cookie, ELSEWHERE);
    expect(hijack.status).toBe(401);
    expect((await first.session(cookie, HOME)).status).toBe(401);
    const listed = await first.call('GET', '/admin/anomalies?user=gus', { headers: root });
    expect(listed.json.flags.map((flag: { rule: string }) => flag.rule).sort()).toEqual([
      'network-change',
      'user-agent-change',
    ]);
  });
});

describe('credential stuffing', () => {
  it('refuses every login from an address that failed for too many accounts, for the rest of the window', async () => {
    const { call, addUser } = await start({
      anomaly: { rules: { 'credential-stuffing': { limit: 3, action: 'revoke' } } },
    });
    await addUser('hank');
    const attempt = (username: string, password: string, ip: string) =>
      call('POST', '/auth/login', {
        headers: { 'x-forwarded-for': ip },
        body: { username, password },
      });
    for (const username of ['ann', 'ben', 'hank']) {
      expect((await attempt(username, 'wrong password', '203.0.113.66')).status).toBe(401);
    }
    const refused = await attempt('hank', PASSWORD, '203.0.113.66');
    expect(refused.status).toBe(429);
    expect(refused.json.error.code).toBe('ERR_RATE_LIMITED');
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await attempt('hank', PASSWORD, '198.51.100.66')).status).toBe(200);
    const listed = await call('GET', '/admin/anomalies', { headers: root });
    expect(listed.json.flags).toMatchObject([
      { rule: 'credential-stuffing', network: '203.0.113.66/32', sessionId: null, userId: null },
    ]);
  });
});

describe('watched fields', () => {
  it('a service patch that multiplies a watched total revokes the session with revoke', async () => {
    const { call } = await start({
      anomaly: {
        rules: { 'watched-field': { pointers: ['/cart/total'], factor: 5, action: 'revoke' } },
      },
    });
    const created = await call('POST', '/v1/sessions', {
      headers: root,
      body: { userId: 'ivy', data: { cart: { total: 20 } } },
    });
    const id = created.json.session.id as string;
    const patch = (total: number) =>
      call('PATCH', `/v1/sessions/${id}`, {
        headers: root,
        body: [{ op: 'replace', path: '/cart/total', value: total }],
      });
    expect((await patch(40)).status).toBe(200);
    expect((await patch(60)).status).toBe(200);
    expect((await call('GET', `/v1/sessions/${id}`, { headers: root })).status).toBe(200);
    expect((await patch(1_000)).status).toBe(200);
    expect((await call('GET', `/v1/sessions/${id}`, { headers: root })).status).toBe(404);
    const listed = await call('GET', `/admin/anomalies?session=${id}`, { headers: root });
    expect(listed.json.flags).toMatchObject([{ rule: 'watched-field', action: 'revoke' }]);
  });
});

describe('refresh-token reuse', () => {
  it('is reported to the detector and flagged for the session it ended', async () => {
    const clock = { now: Date.now() };
    const { call, addUser } = await start({ anomaly: {} }, clock);
    await addUser('jo');
    const issued = await call('POST', '/auth/token', {
      headers: HOME,
      body: { username: 'jo', password: PASSWORD },
    });
    const rotated = await call('POST', '/auth/refresh', {
      body: { refreshToken: issued.json.refreshToken },
    });
    expect(rotated.status).toBe(200);
    clock.now += 60_000; // past the grace window for a racing second use
    const reused = await call('POST', '/auth/refresh', {
      body: { refreshToken: issued.json.refreshToken },
    });
    expect(reused.json.error.code).toBe('ERR_REFRESH_TOKEN_REUSED');
    // The report reaches the detector after the answer: wait for it, boundedly.
    let flags: { rule: string }[] = [];
    for (let tries = 0; tries < 100 && flags.length === 0; tries++) {
      flags = (await call('GET', '/admin/anomalies?user=jo', { headers: root })).json.flags;
      if (flags.length === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    expect(flags).toMatchObject([{ rule: 'refresh-reuse', action: 'log' }]);
  });
});

describe('the anomaly config', () => {
  it('is off unless set: no flags and no admin route', async () => {
    const { call, addUser, login, session } = await start();
    await addUser('kim');
    const cookie = await login('kim');
    expect((await session(cookie, ELSEWHERE)).status).toBe(200);
    expect((await call('GET', '/admin/anomalies', { headers: root })).status).toBe(404);
  });

  it.each([
    [{ rules: { 'ip-change': {} } }, 'anomaly.rules: unknown rule "ip-change"; the rules are'],
    [
      { rules: { 'request-rate': { limit: -5 } } },
      'anomaly.rules.request-rate.limit: must be an integer from 1 to 1000000',
    ],
    [
      { rules: { 'concurrent-use': { window: '-5m' } } },
      'anomaly.rules.concurrent-use.window: expected a positive duration',
    ],
    [
      { rules: { 'network-change': { action: 'ban' } } },
      'anomaly.rules.network-change.action: must be one of log, step-up, revoke',
    ],
    [
      { rules: { 'watched-field': { pointers: ['cart.total'] } } },
      'anomaly.rules.watched-field.pointers.0: must be a JSON Pointer',
    ],
    [{ threshold: 3 }, 'anomaly (CLAWSESSION_ANOMALY): Unrecognized key: "threshold"'],
  ])('refuses %j with a clear error', (anomaly, message) => {
    expect(() => parseConfig({ anomaly })).toThrow(ConfigError);
    expect(() => parseConfig({ anomaly })).toThrow(message);
  });

  it('is read from CLAWSESSION_ANOMALY as JSON, with defaults for what it leaves out', () => {
    const config = loadConfig({
      env: { CLAWSESSION_ANOMALY: '{"rules":{"new-device":{"action":"step-up","history":12}}}' },
    });
    expect(config.anomaly?.rules['new-device']).toEqual({
      enabled: true,
      action: 'step-up',
      score: 20,
      history: 12,
    });
    expect(config.anomaly?.rules['credential-stuffing'].limit).toBe(100);
  });
});
