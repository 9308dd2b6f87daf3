import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createGateway,
  type Gateway,
  type GatewayConfigInput,
  parseConfig,
} from '../../src/gateway/index.js';
import { parseExposition, sampleValue } from '../support/exposition.js';

/**
 * Every 429 the gateway answers, from each limiter that can refuse, tells the
 * client when to come back: Retry-After, and the RateLimit-Limit, -Remaining
 * and -Reset fields of the IETF draft (as `rateLimitHeaders` writes them).
 */
const ROOT = randomBytes(32).toString('base64url');
const PASSWORD = 'correct horse battery staple';
const running: Gateway[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((gateway) => gateway.close()));
});

async function start(overrides: GatewayConfigInput = {}) {
  const gateway = await createGateway(
    parseConfig({
      port: 0,
      store: 'memory:',
      adminToken: ROOT,
      logLevel: 'silent',
      trustProxy: '127.0.0.1',
      ...overrides,
    }),
  );
  running.push(gateway);
  const url = await gateway.listen();
  const call = async (
    method: string,
    path: string,
    options: { body?: unknown; credential?: string; from?: string } = {},
  ) => {
    const headers: Record<string, string> = { 'x-forwarded-for': options.from ?? '192.0.2.1' };
    if (options.credential !== undefined) headers.authorization = `Bearer ${options.credential}`;
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    const response = await fetch(`${url}${path}`, {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
    });
    const text = await response.text();
    return {
      status: response.status,
      headers: response.headers,
      // biome-ignore lint/suspicious/noExplicitAny: error bodies are checked field by field
      json: (text ? JSON.parse(text) : undefined) as any,
    };
  };
  const addUser = async (username: string) => {
    const added = await call('POST', '/admin/users', {
      credential: ROOT,
      body: { username, password: PASSWORD },
    });
    expect(added.status).toBe(201);
  };
  return { url, call, addUser };
}

/** The 429's headers, checked against the limit that refused it. */
function expectRateLimited(
  response: { status: number; headers: Headers; json: { error: { code: string } } },
  limit: number,
  code = 'ERR_RATE_LIMITED',
) {
  expect(response.status).toBe(429);
  expect(response.json.error.code).toBe(code);
  const header = (name: string) => response.headers.get(name);
  expect(header('retry-after')).toMatch(/^[1-9]\d*$/);
  expect(header('ratelimit-limit')).toBe(String(limit));
  expect(header('ratelimit-remaining')).toBe('0');
  expect(header('ratelimit-reset')).toMatch(/^[1-9]\d*$/);
  expect(Number(header('ratelimit-reset'))).toBeGreaterThanOrEqual(Number(header('retry-after')));
}

async function scrapeRejections(url: string, limiter: string) {
  const response = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${ROOT}` } });
  return sampleValue(
    parseExposition(await response.text()),
    'clawsession_rate_limit_rejections_total',
    { limiter },
  );
}

describe('a rate-limited response', () => {
  it('from the per-address login limit carries Retry-After and RateLimit-*', async () => {
    const { url, call, addUser } = await start({
      rateLimits: { loginPerIp: { limit: 2, window: '15m' } },
    });
    await addUser('alice');
    const login = (username: string) =>
      call('POST', '/auth/login', { body: { username, password: 'wrong guess' } });
    for (const username of ['alice', 'bob']) expect((await login(username)).status).toBe(401);
    expectRateLimited(await login('carol'), 2);
    expect(await scrapeRejections(url, 'login-ip')).toBe(1);
  });

  it('from the per-account ceiling, asking for a proof of work, carries them too', async () => {
    const { url, call, addUser } = await start({
      rateLimits: {
        loginPerAccount: { limit: 2, window: '15m' },
        loginProofOfWork: { difficulty: 4 },
      },
    });
    await addUser('alice');
    for (const from of ['203.0.113.1', '203.0.113.2']) {
      const failed = await call('POST', '/auth/login', {
        body: { username: 'alice', password: 'wrong guess' },
        from,
      });
      expect(failed.status).toBe(401);
    }
    const asked = await call('POST', '/auth/login', {
      body: { username: 'alice', password: PASSWORD },
      from: '198.51.100.7',
    });
    expectRateLimited(asked, 2, 'ERR_PROOF_OF_WORK_REQUIRED');
    expect(asked.json.error.details.proofOfWork).toMatchObject({ difficulty: 4 });
    expect(await scrapeRejections(url, 'login-account')).toBe(1);
  });

  it('from the successful-login limit carries them', async () => {
    const { url, call, addUser } = await start({
      rateLimits: { loginSuccessPerAccount: { limit: 1, window: '15m' } },
    });
    await addUser('alice');
    const login = () =>
      call('POST', '/auth/token', { body: { username: 'alice', password: PASSWORD } });
    expect((await login()).status).toBe(200);
    expectRateLimited(await login(), 1);
    expect(await scrapeRejections(url, 'login-success')).toBe(1);
  });

  it('from the failed service credential limit carries them, whatever the credential', async () => {
    const { url, call } = await start({
      rateLimits: { serviceAuthPerIp: { limit: 2, window: '15m' } },
    });
    const guess = () =>
      call('GET', `/v1/sessions/${'0'.repeat(64)}`, { credential: 'not-the-token' });
    // The second failure uses up the limit: this address is refused from now on.
    for (let i = 0; i < 2; i++) expect((await guess()).status).toBe(401);
    expectRateLimited(await guess(), 2);
    expectRateLimited(await call('GET', `/v1/sessions/${'0'.repeat(64)}`, { credential: ROOT }), 2);
    expect(await scrapeRejections(url, 'service-auth-ip')).toBe(2);
  });

  it("from an API key's own limit carries them", async () => {
    const { url, call } = await start();
    const minted = await call('POST', '/admin/keys', {
      credential: ROOT,
      body: {
        owner: 'billing',
        scopes: ['sessions:read'],
        rateLimit: { limit: 2, windowMs: '1m' },
      },
    });
    expect(minted.status).toBe(201);
    const key = minted.json.key as string;
    const read = () => call('GET', `/v1/sessions/${'0'.repeat(64)}`, { credential: key });
    for (let i = 0; i < 2; i++) expect((await read()).status).toBe(404);
    expectRateLimited(await read(), 2);
    expect(await scrapeRejections(url, 'api-key')).toBe(1);
  });
});
