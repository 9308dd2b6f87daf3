import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import {
  createServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ConfigError,
  createCodec,
  SessionManager,
  StoreUnavailableError,
} from '../../src/core/index.js';
import { createAuthenticator } from '../../src/gateway/identity.js';
import { type ProxyOptions, type ProxyRoute, registerProxy } from '../../src/gateway/proxy.js';
import {
  CSRF_DATA_KEY,
  HttpSessions,
  type HttpSessionsOptions,
  ROLES_DATA_KEY,
} from '../../src/http/index.js';
import { MemoryStore } from '../../src/stores/index.js';
import {
  AccessTokens,
  IdentityContexts,
  SigningKeys,
  verifyIdentityContext,
} from '../../src/tokens/index.js';

const ISSUER = 'https://gateway.test';
const CONTEXT_AUDIENCE = 'upstreams';
const MINUTE = 60_000;
const MiB = 1024 * 1024;

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((done) => {
    resolve = done;
  });
  return { promise, resolve };
}

async function listen(server: Server): Promise<string> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

interface Hit {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  bytes: number;
  sha256: string | null;
}

/**
 * A real upstream that records every request it is sent (counted on arrival)
 * and echoes it. Paths ending in /reset, /slow, /crash and /download misbehave
 * as named; /download waits for `downloadMayFinish` after its first 64 KiB.
 */
async function startUpstream() {
  const hits: Hit[] = [];
  const uploadStarted = deferred();
  const downloadMayFinish = deferred();
  let downloadFinished = false;
  const server = createServer((request, response) => {
    const path = request.url ?? '';
    const hit: Hit = {
      method: request.method ?? '',
      url: path,
      headers: request.headers,
      bytes: 0,
      sha256: null,
    };
    hits.push(hit);
    if (path.endsWith('/reset')) return request.socket.destroy();
    if (path.endsWith('/slow')) return; // never answers
    const hash = createHash('sha256');
    request.on('data', (chunk: Buffer) => {
      if (hit.bytes === 0) uploadStarted.resolve();
      hit.bytes += chunk.length;
      hash.update(chunk);
    });
    request.on('end', async () => {
      hit.sha256 = hash.digest('hex');
      if (path.endsWith('/crash')) {
        response.writeHead(200, { 'content-type': 'text/plain' });
        response.write('the first part, and then');
        setTimeout(() => response.socket?.destroy(), 50);
        return;
      }
      if (path.endsWith('/download')) {
        response.writeHead(200, { 'content-type': 'application/octet-stream' });
        response.write(Buffer.alloc(64 * 1024, 1));
        await downloadMayFinish.promise;
        downloadFinished = true;
        response.end(Buffer.alloc(1024, 2));
        return;
      }
      response.writeHead(200, {
        'content-type': 'application/json',
        'set-cookie': 'upstream=1; Path=/',
        connection: 'keep-alive, x-upstream-hop',
        'x-upstream-hop': 'for the gateway only',
      });
      response.end(JSON.stringify({ method: hit.method, url: path, bytes: hit.bytes }));
    });
  });
  const url = await listen(server);
  return {
    url,
    hits,
    uploadStarted,
    downloadMayFinish,
    downloadFinished: () => downloadFinished,
  };
}

/** A port that nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

type Upstream = Awaited<ReturnType<typeof startUpstream>>;

async function setup(
  options: {
    routes?: (upstream: Upstream) => ProxyRoute[];
    sessions?: Omit<HttpSessionsOptions, 'manager'>;
    proxy?: Partial<ProxyOptions>;
  } = {},
) {
  /** Real time plus an offset a test moves forward: the sessions' and access tokens' clock. */
  const clock = { offset: 0 };
  const now = () => Date.now() + clock.offset;
  const manager = new SessionManager({
    store: new MemoryStore({ codec: createCodec() }),
    clock: now,
  });
  cleanups.push(() => manager.close());
  const sessions = new HttpSessions({ manager, ...options.sessions });
  const keys = await SigningKeys.generate();
  const accessTokens = new AccessTokens({ keys, issuer: ISSUER, audience: 'clients', clock: now });
  const contexts = new IdentityContexts({ keys, issuer: ISSUER, audience: CONTEXT_AUDIENCE });
  const upstream = await startUpstream();

  // Closing must not wait for a request that a failing test left hanging.
  const app: FastifyInstance = Fastify({ forceCloseConnections: true });
  app.get('/.well-known/jwks.json', async () => keys.jwks());
  registerProxy(app, {
    routes: options.routes?.(upstream) ?? [
      { prefix: '/api', upstream: upstream.url, auth: 'session' },
      {
        prefix: '/api/orders/',
        upstream: `${upstream.url}/orders-svc/`,
        auth: 'session',
        stripPrefix: true,
      },
      { prefix: '/public', upstream: upstream.url, auth: 'none' },
      { prefix: '/v2:beta', upstream: `${upstream.url}/beta`, auth: 'none', stripPrefix: true },
    ],
    authenticate: createAuthenticator({ sessions, accessTokens, manager }),
    contexts,
    sessionCookieName: sessions.cookie.name,
    ...options.proxy,
  });
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  cleanups.push(() => app.close());

  async function login(userId = 'alice', roles: unknown = ['admin']) {
    const csrf = randomBytes(32).toString('base64url');
    const issued = await manager.create({
      userId,
      data: { [ROLES_DATA_KEY]: roles, [CSRF_DATA_KEY]: csrf },
    } as never);
    return {
      token: issued.token,
      session: issued.session,
      csrf,
      cookie: `${sessions.cookie.name}=${issued.token}`,
    };
  }

  function call(path: string, init: RequestInit & { headers?: Record<string, string> } = {}) {
    return fetch(`${url}${path}`, init);
  }

  const verify = (header: string | string[] | undefined) =>
    verifyIdentityContext(typeof header === 'string' ? header : undefined, {
      jwks: `${url}/.well-known/jwks.json`,
      issuer: ISSUER,
      audience: CONTEXT_AUDIENCE,
    });

  return {
    app,
    url,
    clock,
    manager,
    sessions,
    accessTokens,
    contexts,
    upstream,
    login,
    call,
    verify,
  };
}

async function errorOf(response: Response) {
  return {
    status: response.status,
    body: (await response.json()) as { error: { code: string; message: string } },
  };
}

describe('the session-aware reverse proxy', () => {
  it('forwards a signed-in request with a context the JWKS verifies, and without the session cookie', async () => {
    const { call, login, upstream, verify, url } = await setup();
    const alice = await login();
    const response = await call('/api/profile?view=full&lang=en', {
      headers: { cookie: `theme=dark; ${alice.cookie}; _ga=GA1.2` },
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      method: 'GET',
      url: '/api/profile?view=full&lang=en',
      bytes: 0,
    });
    expect(response.headers.getSetCookie()).toEqual(['upstream=1; Path=/']);
    expect(response.headers.get('x-upstream-hop')).toBeNull();

    expect(upstream.hits).toHaveLength(1);
    const { headers } = upstream.hits[0] as Hit;
    expect(headers.cookie).toBe('theme=dark; _ga=GA1.2');
    expect(headers.authorization).toBeUndefined();
    await expect(verify(headers['x-clawsession-context'])).resolves.toMatchObject({
      userId: 'alice',
      sessionId: alice.session.id,
      roles: ['admin'],
      scopes: [],
      via: 'session',
    });
    expect(headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(headers['x-forwarded-proto']).toBe('http');
    expect(headers['x-forwarded-host']).toBe(new URL(url).host);
    expect(headers['x-request-id']).toMatch(/^\S+$/);
    expect(headers.host).toBe(new URL(upstream.url).host);
  });

  it("signs a route's contexts for that route's own audience, so another upstream refuses them", async () => {
    const { call, login, upstream, verify, url } = await setup({
      routes: (up) => [
        { prefix: '/billing', upstream: up.url, auth: 'session', audience: 'billing-svc' },
      ],
    });
    const alice = await login();
    expect((await call('/billing/invoices', { headers: { cookie: alice.cookie } })).status).toBe(
      200,
    );
    const header = upstream.hits[0]?.headers['x-clawsession-context'] as string;
    await expect(verify(header)).rejects.toMatchObject({ code: 'ERR_CONTEXT_INVALID' });
    await expect(
      verifyIdentityContext(header, {
        jwks: `${url}/.well-known/jwks.json`,
        issuer: ISSUER,
        audience: 'billing-svc',
      }),
    ).resolves.toMatchObject({ userId: 'alice' });
  });

  it('routes by the longest matching prefix, on whole segments, and strips it when asked', async () => {
    const { call, login, upstream } = await setup();
    const { cookie } = await login();
    const paths = [
      '/api/orders/7?expand=lines',
      '/api/orders',
      '/api/ordersX',
      '/api',
      '/api/',
      '/v2:beta/items',
    ];
    for (const path of paths) expect((await call(path, { headers: { cookie } })).status).toBe(200);
    expect(upstream.hits.map((hit) => hit.url)).toEqual([
      '/orders-svc/7?expand=lines',
      '/orders-svc',
      '/api/ordersX',
      '/api',
      '/api/',
      '/beta/items',
    ]);
    for (const outside of ['/apiX', '/v2:betaX', '/v2:other/items'])
      expect((await call(outside, { headers: { cookie } })).status).toBe(404);
    expect(upstream.hits).toHaveLength(6);
  });

  it('forwards every method, with the CSRF token on unsafe ones', async () => {
    const { call, login, upstream } = await setup();
    const { cookie, csrf } = await login();
    const methods = ['GET', 'HEAD', 'OPTIONS', 'POST', 'PUT', 'PATCH', 'DELETE'];
    for (const method of methods) {
      const response = await call('/api/things/1', {
        method,
        headers: { cookie, 'x-csrf-token': csrf, 'content-type': 'application/json' },
        body: ['GET', 'HEAD'].includes(method) ? undefined : '{"n":1}',
      });
      expect({ method, status: response.status }).toEqual({ method, status: 200 });
    }
    expect(upstream.hits.map((hit) => [hit.method, hit.bytes])).toEqual(
      methods.map((method) => [method, ['GET', 'HEAD'].includes(method) ? 0 : 7]),
    );
    expect(upstream.hits.every((hit) => hit.headers['x-clawsession-context'])).toBe(true);
    // The CSRF token is the gateway's to check, not the upstream's to see.
    expect(upstream.hits.some((hit) => hit.headers['x-csrf-token'] !== undefined)).toBe(false);
  });

  it('never forwards identity headers a client made up, on session and public routes', async () => {
    const { call, login, upstream, verify, contexts } = await setup();
    const alice = await login();
    const forged = {
      // Even a genuine context, signed by this gateway, is the gateway's to send, not the client's.
      'x-clawsession-context': await contexts.sign({
        userId: 'root',
        sessionId: null,
        roles: ['admin'],
        via: 'api-key',
      }),
      'x-clawsession-user': 'root',
      'X-Clawsession-Roles': 'admin',
      'x-forwarded-for': '203.0.113.9',
      forwarded: 'for=203.0.113.9',
      'x-request-id': 'forged-id',
    };
    await call('/api/x', { headers: { ...forged, cookie: alice.cookie } });
    await call('/public/x', { headers: forged });
    const [session, open] = upstream.hits as [Hit, Hit];
    await expect(verify(session.headers['x-clawsession-context'])).resolves.toMatchObject({
      userId: 'alice',
    });
    expect(open.headers['x-clawsession-context']).toBeUndefined();
    for (const hit of [session, open]) {
      expect(Object.keys(hit.headers).filter((name) => name.startsWith('x-clawsession-'))).toEqual(
        hit === session ? ['x-clawsession-context'] : [],
      );
      expect(hit.headers['x-forwarded-for']).toBe('127.0.0.1');
      expect(hit.headers.forwarded).toBeUndefined();
      expect(hit.headers['x-request-id']).not.toBe('forged-id');
    }
  });

  it('drops the headers it is told to strip, and only those', async () => {
    const { call, upstream } = await setup({ proxy: { stripHeaders: ['X-Internal-Debug'] } });
    await call('/public/x', { headers: { 'x-internal-debug': '1', 'x-trace': 'abc' } });
    expect(upstream.hits[0]?.headers['x-internal-debug']).toBeUndefined();
    expect(upstream.hits[0]?.headers['x-trace']).toBe('abc');
  });

  it('answers a failure of its own session store as JSON, upstream untouched', async () => {
    const { call, upstream } = await setup({
      proxy: {
        authenticate: async () => {
          throw new StoreUnavailableError('the store is down');
        },
      },
    });
    const { status, body } = await errorOf(await call('/api/x'));
    expect({ status, code: body.error.code }).toEqual({
      status: 503,
      code: 'ERR_STORE_UNAVAILABLE',
    });
    expect(upstream.hits).toHaveLength(0);
  });

  it('authenticates a bearer access token whose session is live, and forwards neither', async () => {
    const { call, login, upstream, verify, accessTokens } = await setup();
    // The gateway issues a token's scope from the session's roles; one the session lost is dropped.
    const alice = await login('alice', ['support', 'orders:read']);
    const { token } = await accessTokens.issue({
      userId: 'alice',
      sessionId: alice.session.id,
      scope: ['orders:read'],
    });
    const response = await call('/api/orders/9', { headers: { authorization: `Bearer ${token}` } });
    expect(response.status).toBe(200);
    const hit = upstream.hits[0] as Hit;
    expect(hit.headers.authorization).toBeUndefined();
    await expect(verify(hit.headers['x-clawsession-context'])).resolves.toMatchObject({
      userId: 'alice',
      sessionId: alice.session.id,
      roles: ['support', 'orders:read'],
      scopes: ['orders:read'],
      via: 'access-token',
    });
  });

  it('answers 401 without contacting the upstream for a missing, revoked or forged credential', async () => {
    const { call, login, upstream, manager, accessTokens } = await setup();
    const revoked = await login();
    await manager.revoke(revoked.token);
    const live = await login();
    const bearer = async (userId: string, sessionId: string) =>
      `Bearer ${(await accessTokens.issue({ userId, sessionId })).token}`;
    const good = await bearer('alice', live.session.id);
    const [header, payload, signature] = good.slice(7).split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
    const tampered = Buffer.from(JSON.stringify({ ...claims, sub: 'root' })).toString('base64url');
    const victim = await login();
    const forRevoked = await bearer('alice', victim.session.id);
    await manager.revoke(victim.token);

    const cases: [string, Record<string, string>][] = [
      ['no credential', {}],
      ['a revoked session cookie', { cookie: revoked.cookie }],
      ['a cookie that is not a token', { cookie: '__Host-cs_session=nope' }],
      ['a tampered bearer token', { authorization: `Bearer ${header}.${tampered}.${signature}` }],
      ['a bearer token whose session was revoked', { authorization: forRevoked }],
      [
        'a bearer token naming another user',
        { authorization: await bearer('bob', live.session.id) },
      ],
      ['a bearer that is no token', { authorization: 'Bearer nonsense' }],
      [
        'an invalid bearer next to a live cookie',
        { authorization: 'Bearer x', cookie: live.cookie },
      ],
    ];
    for (const [what, headers] of cases) {
      const { status, body } = await errorOf(await call('/api/orders/1', { headers }));
      expect({ what, status, code: body.error.code }).toEqual({
        what,
        status: 401,
        code: 'ERR_UNAUTHORIZED',
      });
    }
    expect(upstream.hits).toHaveLength(0);
    // The controls: the live credentials do pass.
    expect((await call('/api/x', { headers: { authorization: good } })).status).toBe(200);
    expect((await call('/api/x', { headers: { cookie: live.cookie } })).status).toBe(200);
  });

  it('answers 401 for an expired bearer token and an expired session, upstream untouched', async () => {
    const { call, login, upstream, accessTokens, clock } = await setup();
    const alice = await login();
    const { token } = await accessTokens.issue({ userId: 'alice', sessionId: alice.session.id });
    clock.offset += 6 * MINUTE; // the token (5 min + 30 s skew) is over, the session is not
    const expiredToken = await call('/api/x', { headers: { authorization: `Bearer ${token}` } });
    expect(await errorOf(expiredToken)).toMatchObject({
      status: 401,
      body: { error: { code: 'ERR_UNAUTHORIZED' } },
    });
    expect(expiredToken.headers.get('www-authenticate')).toBe('Bearer realm="clawsession"');
    clock.offset += 31 * MINUTE; // idle timeout of 30 minutes
    const expiredSession = await call('/api/x', { headers: { cookie: alice.cookie } });
    expect(expiredSession.status).toBe(401);
    expect(upstream.hits).toHaveLength(0);
  });

  it('refuses an unsafe cookie request without its CSRF token (403), upstream untouched', async () => {
    const { call, login, upstream } = await setup();
    const { cookie, csrf } = await login();
    const cases: Record<string, string>[] = [
      { cookie },
      { cookie, 'x-csrf-token': 'wrong' },
      { cookie, 'x-csrf-token': csrf, 'sec-fetch-site': 'cross-site' },
    ];
    for (const headers of cases) {
      const { status, body } = await errorOf(
        await call('/api/orders', { method: 'POST', headers, body: 'x' }),
      );
      expect({ status, code: body.error.code }).toEqual({ status: 403, code: 'ERR_CSRF' });
    }
    expect(upstream.hits).toHaveLength(0);
    const allowed = await call('/api/orders', {
      method: 'POST',
      headers: { cookie, 'x-csrf-token': csrf },
      body: 'x',
    });
    expect(allowed.status).toBe(200);
    expect(upstream.hits).toHaveLength(1);
  });

  it('passes public routes through without a context, still without gateway credentials', async () => {
    const { call, login, upstream, accessTokens } = await setup();
    const alice = await login();
    const { token } = await accessTokens.issue({ userId: 'alice', sessionId: alice.session.id });
    await call('/public/page', { headers: { cookie: `${alice.cookie}; theme=dark` } });
    await call('/public/page', { headers: { authorization: `Bearer ${token}` } });
    await call('/public/page', { headers: { authorization: 'Basic dXNlcjpwYXNz' } });
    expect((await call('/public/page', { method: 'POST', body: 'hi' })).status).toBe(200);
    const [withCookie, withToken, withBasic] = upstream.hits as [Hit, Hit, Hit];
    for (const hit of upstream.hits) expect(hit.headers['x-clawsession-context']).toBeUndefined();
    expect(withCookie.headers.cookie).toBe('theme=dark');
    expect(withToken.headers.authorization).toBeUndefined();
    // The public upstream's own credentials are its business.
    expect(withBasic.headers.authorization).toBe('Basic dXNlcjpwYXNz');
  });

  it("sends a scheduled rotation's new cookie with the proxied response", async () => {
    const { call, login, upstream, clock, verify, sessions } = await setup({
      sessions: { rotation: { interval: MINUTE } },
    });
    const alice = await login();
    clock.offset += 2 * MINUTE;
    const response = await call('/api/x', { headers: { cookie: alice.cookie } });
    expect(response.status).toBe(200);
    const cookies = response.headers.getSetCookie();
    expect(cookies).toHaveLength(2);
    expect(cookies).toContain('upstream=1; Path=/');
    const rotated = cookies.find((cookie) => cookie.startsWith(`${sessions.cookie.name}=`));
    const newToken = rotated?.split(';')[0]?.split('=')[1] as string;
    expect(newToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(newToken).not.toBe(alice.token);
    const context = await verify(upstream.hits[0]?.headers['x-clawsession-context']);
    expect(context.sessionId).not.toBe(alice.session.id);
    const next = await call('/api/x', {
      headers: { cookie: `${sessions.cookie.name}=${newToken}` },
    });
    expect(next.status).toBe(200);
    expect(next.headers.getSetCookie()).toEqual(['upstream=1; Path=/']);
  });

  it('streams a multi-MB upload: the upstream gets the first bytes before the client sends the rest', async () => {
    const { url, login, upstream } = await setup();
    const { cookie, csrf } = await login();
    const chunks = Array.from({ length: 8 }, () => randomBytes(MiB));
    const request = httpRequest(`${url}/api/upload`, {
      method: 'POST',
      headers: { cookie, 'x-csrf-token': csrf, 'content-type': 'application/octet-stream' },
    });
    const responded = once(request, 'response') as Promise<[IncomingMessage]>;
    request.write(chunks[0]);
    // A gateway that buffered the body would wait for the end, which never comes: the test would time out.
    await upstream.uploadStarted.promise;
    for (const chunk of chunks.slice(1)) request.write(chunk);
    request.end();
    const [response] = await responded;
    const body = JSON.parse(await textOf(response));
    expect(response.statusCode).toBe(200);
    expect(body.bytes).toBe(8 * MiB);
    const hash = createHash('sha256');
    for (const chunk of chunks) hash.update(chunk);
    expect(upstream.hits[0]?.sha256).toBe(hash.digest('hex'));
  });

  it('forwards a body larger than the body limit, with its content-length', async () => {
    const { call, upstream } = await setup();
    const body = randomBytes(5 * MiB);
    const response = await call('/public/upload', {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body,
    });
    expect(response.status).toBe(200);
    expect(upstream.hits[0]?.headers['content-length']).toBe(String(5 * MiB));
    expect(upstream.hits[0]?.sha256).toBe(createHash('sha256').update(body).digest('hex'));
  });

  it('streams a slow download: the first bytes reach the client before the upstream has finished', async () => {
    const { call, login, upstream } = await setup();
    const { cookie } = await login();
    const response = await call('/api/download', { headers: { cookie } });
    expect(response.status).toBe(200);
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    let received = 0;
    while (received < 64 * 1024) {
      const { value, done } = await reader.read();
      if (done) break;
      received += value.length;
    }
    expect(received).toBe(64 * 1024);
    expect(upstream.downloadFinished()).toBe(false);
    upstream.downloadMayFinish.resolve();
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read())
      received += chunk.value.length;
    expect(received).toBe(65 * 1024);
  });

  it('answers 502 as JSON when the upstream refuses or resets the connection', async () => {
    const port = await closedPort();
    const { call, login } = await setup({
      routes: (upstream) => [
        { prefix: '/down', upstream: `http://127.0.0.1:${port}`, auth: 'none' },
        { prefix: '/api', upstream: upstream.url, auth: 'session' },
      ],
    });
    const { cookie } = await login();
    for (const [path, headers] of [
      ['/down/x', {}],
      ['/api/reset', { cookie }],
    ] as const) {
      expect(await errorOf(await call(path, { headers }))).toEqual({
        status: 502,
        body: {
          error: {
            code: 'ERR_UPSTREAM_UNAVAILABLE',
            message: 'the upstream service could not be reached',
          },
        },
      });
    }
  });

  it('answers 504 as JSON when the upstream does not answer in time', async () => {
    const { call, upstream } = await setup({ proxy: { timeout: 300 } });
    const { status, body } = await errorOf(await call('/public/slow'));
    expect({ status, code: body.error.code }).toEqual({
      status: 504,
      code: 'ERR_UPSTREAM_TIMEOUT',
    });
    expect(upstream.hits).toHaveLength(1);
  });

  it('aborts the client connection when the upstream dies mid-response, and keeps serving', async () => {
    const { call, login } = await setup();
    const { cookie } = await login();
    const response = await call('/api/crash', { headers: { cookie } });
    expect(response.status).toBe(200);
    await expect(response.text()).rejects.toThrow();
    const next = await call('/api/after', { headers: { cookie } });
    expect(next.status).toBe(200);
    expect(await next.json()).toMatchObject({ url: '/api/after' });
  });

  it('refuses a path the app did not normalise, whether it climbs, hides a separator or names its prefix encoded, upstream untouched', async () => {
    // This app has no normalizedPathOptions: the proxy refuses what it would otherwise route on one reading and forward with another.
    const { url, upstream } = await setup();
    const paths = [
      '/public/..%2Fadmin',
      '/public/x/..%2F..%2Fadmin',
      '/public/../api/x',
      '/public/a/../../admin',
      '/public/x\\..\\..\\api/x',
      '/public//x',
      '/publ%69c/x',
    ];
    const { hostname, port } = new URL(url);
    for (const path of paths) {
      // Sent as written: a URL string would have its dot segments resolved by the client.
      const request = httpRequest({ hostname, port, path });
      request.end();
      const [response] = (await once(request, 'response')) as [IncomingMessage];
      const body = JSON.parse(await textOf(response));
      expect({ path, status: response.statusCode, code: body.error?.code }).toEqual({
        path,
        status: 400,
        code: 'ERR_PATH_INVALID',
      });
      expect(body.error.message).not.toContain('public');
    }
    expect(upstream.hits).toHaveLength(0);
  });

  it('refuses a bad configuration when registering', async () => {
    const base = {
      authenticate: async () => null,
      contexts: new IdentityContexts({
        keys: await SigningKeys.generate(),
        issuer: ISSUER,
        audience: CONTEXT_AUDIENCE,
      }),
      sessionCookieName: 'cs_session',
    };
    const route = { prefix: '/api', upstream: 'http://127.0.0.1:1', auth: 'session' as const };
    const bad: [string, Partial<ProxyOptions>][] = [
      ['a relative prefix', { routes: [{ ...route, prefix: 'api' }] }],
      ['a wildcard prefix', { routes: [{ ...route, prefix: '/api/*' }] }],
      ['a dot-dot prefix', { routes: [{ ...route, prefix: '/a/../b' }] }],
      ['a non-http upstream', { routes: [{ ...route, upstream: 'ftp://files' }] }],
      ['an upstream with a query', { routes: [{ ...route, upstream: 'http://a/?x=1' }] }],
      ['an unknown auth', { routes: [{ ...route, auth: 'cookie' as never }] }],
      ['a duplicated prefix', { routes: [route, { ...route, prefix: '/api/' }] }],
      ['no cookie name', { routes: [route], sessionCookieName: '' }],
      ['a zero timeout', { routes: [route], timeout: 0 }],
      ['a route pool of no connections', { routes: [{ ...route, connections: 0 }] }],
      ['a fractional route pool', { routes: [{ ...route, connections: 1.5 }] }],
      ['a public host with a path', { routes: [route], publicHost: 'gateway.example/x' }],
    ];
    for (const [what, options] of bad) {
      expect(() => registerProxy(Fastify(), { ...base, routes: [], ...options }), what).toThrow(
        ConfigError,
      );
    }
  });
});

async function textOf(response: IncomingMessage): Promise<string> {
  let text = '';
  for await (const chunk of response) text += chunk;
  return text;
}
