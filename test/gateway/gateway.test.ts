import { randomBytes } from 'node:crypto';
import { exportJWK, generateKeyPair } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/core/index.js';
import {
  createGateway,
  type Gateway,
  type GatewayConfigInput,
  parseConfig,
} from '../../src/gateway/index.js';

const ROOT = randomBytes(32).toString('base64url');
const MINUTE = 60_000;
const running: Gateway[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((gateway) => gateway.close()));
});

/** The whole gateway, in process, on an injected clock. */
async function start(overrides: GatewayConfigInput = {}) {
  const clock = { now: Date.UTC(2026, 0, 1) };
  const gateway = await createGateway(
    parseConfig({
      port: 0,
      store: 'memory:',
      adminToken: ROOT,
      logLevel: 'silent',
      bodyLimit: 4096,
      cookie: { insecureDevelopmentMode: true },
      ...overrides,
    }),
    { clock: () => clock.now },
  );
  running.push(gateway);
  const url = await gateway.listen();
  async function call(
    method: string,
    path: string,
    init: { body?: unknown; raw?: string; headers?: Record<string, string> } = {},
  ) {
    const headers: Record<string, string> = { ...init.headers };
    let body = init.raw;
    if (init.body !== undefined) body = JSON.stringify(init.body);
    if (body !== undefined) headers['content-type'] ??= 'application/json';
    const response = await fetch(`${url}${path}`, { method, headers, body });
    const text = await response.text();
    return {
      status: response.status,
      headers: response.headers,
      json: text === '' ? undefined : JSON.parse(text),
    };
  }
  const root = { authorization: `Bearer ${ROOT}` };
  async function createKey(body: Record<string, unknown>) {
    const reply = await call('POST', '/admin/keys', { headers: root, body });
    expect(reply.status).toBe(201);
    return { key: reply.json.key as string, prefix: reply.json.info.prefix as string };
  }
  return { gateway, call, clock, root, createKey };
}

describe('service credentials on /v1', () => {
  it('refuses a missing or malformed credential with 401 and a Bearer challenge', async () => {
    const { call } = await start();
    const attempts: Record<string, string>[] = [
      {},
      { authorization: 'Bearer' },
      { authorization: 'Basic cm9vdDpyb290' },
      { authorization: 'Bearer cs_live_short_x' },
      { 'x-api-key': 'cs_live_AAAAAAAAAAAA_notasecret' },
      { 'x-api-key': 'not a key at all' },
    ];
    for (const headers of attempts) {
      const reply = await call('GET', '/v1/users/alice/sessions', { headers });
      expect(reply.status).toBe(401);
      expect(reply.json).toEqual({
        error: { code: 'ERR_UNAUTHORIZED', message: expect.any(String) },
      });
      expect(reply.headers.get('www-authenticate')).toBe('Bearer realm="clawsession"');
    }
  });

  it('limits a key to its scopes: 403 for the rest, and nothing is written', async () => {
    const { call, createKey, root } = await start();
    const reader = await createKey({ owner: 'billing', scopes: ['sessions:read'] });
    const asReader = { authorization: `Bearer ${reader.key}` };
    expect((await call('GET', '/v1/users/alice/sessions', { headers: asReader })).status).toBe(200);
    const write = await call('POST', '/v1/sessions', {
      headers: asReader,
      body: { userId: 'alice' },
    });
    expect(write.status).toBe(403);
    expect(write.json.error.code).toBe('ERR_API_KEY_SCOPE');
    const admin = await call('DELETE', '/v1/users/alice/sessions', { headers: asReader });
    expect(admin.status).toBe(403);
    expect((await call('GET', '/admin/keys', { headers: asReader })).status).toBe(403);
    const listed = await call('GET', '/v1/users/alice/sessions', { headers: root });
    expect(listed.json.sessions).toEqual([]);

    // Creating a session signs a user in: sessions:write (changing sessions) is not enough.
    const writer = await createKey({ owner: 'cart', scopes: ['sessions:write'] });
    const asWriter = await call('POST', '/v1/sessions', {
      headers: { 'x-api-key': writer.key },
      body: { userId: 'alice' },
    });
    expect(asWriter.status).toBe(403);
    expect(asWriter.json.error.code).toBe('ERR_API_KEY_SCOPE');
    const signer = await createKey({ owner: 'sso', scopes: ['sessions:admin'] });
    const created = await call('POST', '/v1/sessions', {
      headers: { 'x-api-key': signer.key },
      body: { userId: 'alice' },
    });
    expect(created.status).toBe(201);
  });

  it('refuses a revoked key and an expired one at once', async () => {
    const { call, createKey, root, clock } = await start();
    const revoked = await createKey({ owner: 'a', scopes: ['sessions:read'] });
    const expiring = await createKey({
      owner: 'b',
      scopes: ['sessions:read'],
      expiresAt: new Date(clock.now + 60 * MINUTE).toISOString(),
    });
    const read = (key: string) =>
      call('GET', '/v1/users/alice/sessions', { headers: { 'x-api-key': key } });
    expect((await read(revoked.key)).status).toBe(200);
    expect((await read(expiring.key)).status).toBe(200);
    const deleted = await call('DELETE', `/admin/keys/${revoked.prefix}`, { headers: root });
    expect(deleted.status).toBe(204);
    expect((await read(revoked.key)).status).toBe(401);
    clock.now += 60 * MINUTE;
    expect((await read(expiring.key)).status).toBe(401);
  });

  it('keeps a rotated key working through its grace period only; the new secret works at once', async () => {
    const { call, createKey, root, clock } = await start();
    const old = await createKey({ owner: 'a', scopes: ['sessions:read'] });
    const rotated = await call('POST', `/admin/keys/${old.prefix}/rotate`, {
      headers: root,
      body: { grace: '10m' },
    });
    expect(rotated.status).toBe(200);
    const fresh = rotated.json.key as string;
    const read = (key: string) =>
      call('GET', '/v1/users/alice/sessions', { headers: { 'x-api-key': key } });
    expect((await read(old.key)).status).toBe(200);
    expect((await read(fresh)).status).toBe(200);
    clock.now += 10 * MINUTE;
    expect((await read(old.key)).status).toBe(401);
    expect((await read(fresh)).status).toBe(200);
  });

  it('keeps the root token working unless turned off, and then generates none', async () => {
    const on = await start();
    expect((await on.call('GET', '/admin/keys', { headers: on.root })).status).toBe(200);
    const off = await start({ adminTokenEnabled: false });
    expect(off.gateway.adminToken).toBeNull();
    expect(off.gateway.adminTokenGenerated).toBe(false);
    expect((await off.call('GET', '/admin/keys', { headers: off.root })).status).toBe(401);
    expect((await off.call('GET', '/metrics', { headers: off.root })).status).toBe(401);
  });
});

describe('bad input across the gateway', () => {
  const huge = JSON.stringify({ username: 'x'.repeat(10_000), password: 'y' });

  it('answers every malformed, mistyped, unknown-field or oversize body with a 4xx JSON error and changes nothing', async () => {
    const { call, root, createKey } = await start();
    const key = await createKey({ owner: 'svc', scopes: ['sessions:write', 'sessions:read'] });
    expect(
      (
        await call('POST', '/admin/users', {
          headers: root,
          body: { username: 'alice', password: 'correct horse battery' },
        })
      ).status,
    ).toBe(201);
    const session = await call('POST', '/v1/sessions', {
      headers: root,
      body: { userId: 'alice', data: { cart: [] } },
    });
    const sessionId = session.json.session.id as string;

    const endpoints: { method: string; path: string; headers?: Record<string, string> }[] = [
      { method: 'POST', path: '/auth/login' },
      { method: 'POST', path: '/auth/token' },
      { method: 'POST', path: '/auth/refresh' },
      { method: 'POST', path: '/admin/users', headers: root },
      { method: 'POST', path: '/admin/keys', headers: root },
      { method: 'POST', path: `/admin/keys/${key.prefix}/rotate`, headers: root },
      { method: 'POST', path: '/v1/sessions', headers: root },
      { method: 'POST', path: '/v1/sessions/validate', headers: root },
      { method: 'PATCH', path: `/v1/sessions/${sessionId}`, headers: root },
    ];
    const bodies: { name: string; raw: string; contentType?: string }[] = [
      { name: 'malformed JSON', raw: '{"username": ' },
      { name: 'wrong types', raw: JSON.stringify({ username: 7, password: [], userId: {} }) },
      { name: 'unknown fields', raw: JSON.stringify({ surprise: true }) },
      { name: 'a JSON array', raw: '[1,2,3]' },
      { name: 'a form body', raw: 'username=a&password=b', contentType: 'text/plain' },
      { name: 'a huge body', raw: huge },
    ];
    const outcomes: string[] = [];
    for (const endpoint of endpoints) {
      for (const body of bodies) {
        const reply = await call(endpoint.method, endpoint.path, {
          raw: body.raw,
          headers: {
            ...endpoint.headers,
            'content-type': body.contentType ?? 'application/json',
          },
        });
        const ok =
          reply.status >= 400 &&
          reply.status < 500 &&
          typeof reply.json?.error?.code === 'string' &&
          typeof reply.json?.error?.message === 'string';
        if (!ok) outcomes.push(`${endpoint.method} ${endpoint.path} ${body.name}: ${reply.status}`);
      }
    }
    expect(outcomes).toEqual([]);

    const users = await call('GET', '/admin/users', { headers: root });
    expect(users.json.users.map((user: { username: string }) => user.username)).toEqual(['alice']);
    const keys = await call('GET', '/admin/keys', { headers: root });
    expect(keys.json.keys).toHaveLength(1);
    const sessions = await call('GET', '/v1/users/alice/sessions', { headers: root });
    expect(sessions.json.sessions).toHaveLength(1);
    expect(sessions.json.sessions[0]).toMatchObject({ version: 1, data: { cart: [] } });
    const login = await call('POST', '/auth/login', {
      body: { username: 'alice', password: 'correct horse battery' },
    });
    expect(login.status).toBe(200);
  });

  it('answers unknown routes and methods with JSON 404s, and bad path parameters with 400s', async () => {
    const { call, root } = await start();
    const missing = await call('GET', '/nowhere', { headers: root });
    expect(missing.status).toBe(404);
    expect(missing.json.error.code).toBe('ERR_ROUTE_NOT_FOUND');
    for (const path of ['/v1/sessions/not-hex', '/admin/keys/%00bad', '/auth/sessions/xyz']) {
      const method = path.startsWith('/auth') ? 'DELETE' : 'GET';
      const reply = await call(method, path, { headers: root });
      expect([400, 401, 404]).toContain(reply.status);
      expect(reply.json.error.code).toMatch(/^ERR_/);
    }
  });
});

describe('starting', () => {
  it('refuses a signing key it cannot sign with as a ConfigError, before opening anything', async () => {
    const { privateKey } = await generateKeyPair('RS256', { extractable: true });
    const exportedKey = await exportJWK(privateKey);
    // The config's own validation refuses it, so `config check` does too.
    expect(() =>
      parseConfig({
        port: 0,
        store: 'postgres://postgres@127.0.0.1:1/unreachable',
        logLevel: 'silent',
        signingKey: JSON.stringify(exportedKey),
      }),
    ).toThrow(ConfigError);
  });
});

describe('removing a user', () => {
  it('ends their sessions too', async () => {
    const { call, root } = await start();
    await call('POST', '/admin/users', {
      headers: root,
      body: { username: 'bob', password: 'correct horse battery' },
    });
    const login = await call('POST', '/auth/login', {
      body: { username: 'bob', password: 'correct horse battery' },
    });
    const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] as string;
    expect((await call('GET', '/auth/session', { headers: { cookie } })).status).toBe(200);
    expect((await call('DELETE', '/admin/users/bob', { headers: root })).status).toBe(204);
    expect((await call('GET', '/auth/session', { headers: { cookie } })).status).toBe(401);
  });
});
