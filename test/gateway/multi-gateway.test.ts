import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { exportJWK, generateKeyPair } from 'jose';
import { Pool } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyIdentityContext } from '../../src/tokens/index.js';
import { dropKeys, REDIS_URL } from '../stores/fixtures/redis.js';

// `npm test` builds first (pretest), so this drives the real `clawsession serve`.
const BIN = resolve('dist/cli/main.js');
const POSTGRES_URL =
  process.env.CLAWSESSION_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const ADMIN = `root-${randomBytes(16).toString('hex')}`;
const COOKIE = 'cs_session';

/** A small upstream service that remembers what reached it. */
async function startUpstream() {
  const seen: { method: string; url: string; headers: IncomingHttpHeaders }[] = [];
  const server: Server = createServer((req, res) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ served: req.url }));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, seen, close: () => server.close() };
}

interface Gateway {
  url: string;
  child: ChildProcess;
  output(): string;
}

async function startGateway(env: Record<string, string>): Promise<Gateway> {
  const child = spawn(process.execPath, [BIN, 'serve'], {
    env: { PATH: process.env.PATH, CLAWSESSION_PORT: '0', CLAWSESSION_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk) => {
    output += chunk;
  });
  child.stderr?.on('data', (chunk) => {
    output += chunk;
  });
  for (;;) {
    const match = /listening on (http:\/\/\S+)/.exec(output);
    if (match) return { url: match[1] as string, child, output: () => output };
    if (child.exitCode !== null) throw new Error(`gateway exited ${child.exitCode}: ${output}`);
    await once(child.stdout as NodeJS.ReadableStream, 'data');
  }
}

async function stopGateway(gateway: Gateway): Promise<void> {
  if (gateway.child.exitCode !== null) return;
  gateway.child.kill('SIGTERM');
  await once(gateway.child, 'exit');
}

interface Reply {
  status: number;
  body: Record<string, unknown>;
  setCookies: string[];
}

async function call(
  base: string,
  method: string,
  path: string,
  init: { body?: unknown; headers?: Record<string, string> } = {},
): Promise<Reply> {
  const headers: Record<string, string> = { ...init.headers };
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`${base}${path}`, {
    method,
    headers,
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  const text = await response.text();
  return {
    status: response.status,
    body: text === '' ? {} : JSON.parse(text),
    setCookies: response.headers.getSetCookie(),
  };
}

const root = { authorization: `Bearer ${ADMIN}` };

const backends = [
  {
    name: 'Redis',
    store: () => `${REDIS_URL}?prefix=e2e-${randomBytes(4).toString('hex')}:`,
    cleanup: (store: string) =>
      dropKeys(REDIS_URL, new URL(store).searchParams.get('prefix') ?? ''),
    keyCacheTtl: '5s',
    sharedLimits: true,
  },
  {
    name: 'PostgreSQL',
    store: () => `${POSTGRES_URL}?schema=e2e_${randomBytes(4).toString('hex')}`,
    cleanup: async (store: string) => {
      const pool = new Pool({ connectionString: POSTGRES_URL });
      await pool.query(
        `DROP SCHEMA IF EXISTS ${new URL(store).searchParams.get('schema')} CASCADE`,
      );
      await pool.end();
    },
    keyCacheTtl: '5s',
    sharedLimits: true,
  },
];

describe.each(backends)('two gateways over one $name store', (backend) => {
  const dir = mkdtempSync(join(tmpdir(), 'clawsession-e2e-'));
  const store = backend.store();
  let upstream: Awaited<ReturnType<typeof startUpstream>>;
  let a: Gateway;
  let b: Gateway;
  /** Every credential handed out in this file: none may ever appear in a log line. */
  const secrets: string[] = [ADMIN];

  beforeAll(async () => {
    upstream = await startUpstream();
    const { privateKey } = await generateKeyPair('EdDSA', { extractable: true });
    const config = join(dir, 'gateway.yaml');
    writeFileSync(
      config,
      [
        `store: "${store}"`,
        'cookie: { insecureDevelopmentMode: true }',
        `keyCacheTtl: ${backend.keyCacheTtl}`,
        'routes:',
        `  - { prefix: /api/, upstream: "${upstream.url}", auth: session }`,
        `  - { prefix: /public/, upstream: "${upstream.url}", auth: none }`,
      ].join('\n'),
    );
    const env = {
      CLAWSESSION_CONFIG: config,
      CLAWSESSION_ADMIN_TOKEN: ADMIN,
      CLAWSESSION_SIGNING_KEY: JSON.stringify(await exportJWK(privateKey)),
      CLAWSESSION_REFRESH_SECRET: randomBytes(32).toString('base64url'),
    };
    a = await startGateway(env);
    b = await startGateway(env);
    const added = await call(a.url, 'POST', '/admin/users', {
      headers: root,
      body: { username: 'alice', password: 'correct horse battery', roles: ['buyer'] },
    });
    expect(added.status).toBe(201);
  }, 30_000);

  afterAll(async () => {
    await Promise.all([a, b].filter(Boolean).map(stopGateway));
    upstream?.close();
    await backend.cleanup(store);
    rmSync(dir, { recursive: true, force: true });
  });

  async function login(gateway: Gateway) {
    const reply = await call(gateway.url, 'POST', '/auth/login', {
      body: { username: 'alice', password: 'correct horse battery' },
    });
    expect(reply.status).toBe(200);
    const cookie = (reply.setCookies[0] ?? '').split(';')[0] as string;
    expect(cookie.startsWith(`${COOKIE}=`)).toBe(true);
    secrets.push(cookie.slice(COOKIE.length + 1), reply.body.csrfToken as string);
    return { cookie, csrfToken: reply.body.csrfToken as string };
  }

  it('a session made on A works through B, whose upstream gets a verified context and no credential', async () => {
    const alice = await login(a);
    const before = upstream.seen.length;
    const reply = await call(b.url, 'GET', '/api/orders?page=2', {
      headers: {
        cookie: `${alice.cookie}; theme=dark`,
        'x-clawsession-context': 'forged',
        'x-clawsession-user': 'mallory',
      },
    });
    expect(reply.status).toBe(200);
    expect(reply.body).toEqual({ served: '/api/orders?page=2' });
    expect(upstream.seen).toHaveLength(before + 1);
    const received = upstream.seen.at(-1)?.headers ?? {};
    expect(received['x-clawsession-user']).toBeUndefined();
    expect(received.cookie).toBe('theme=dark');
    const context = await verifyIdentityContext(received['x-clawsession-context'] as string, {
      jwks: `${a.url}/.well-known/jwks.json`,
      issuer: 'clawsession',
      audience: 'clawsession-upstream',
    });
    const session = await call(a.url, 'GET', '/auth/session', {
      headers: { cookie: alice.cookie },
    });
    expect(context).toMatchObject({
      userId: 'alice',
      sessionId: (session.body.session as { id: string }).id,
      roles: ['buyer'],
      via: 'session',
    });
  });

  it('logout on B kills the session on A before anything reaches the upstream', async () => {
    const alice = await login(a);
    expect(
      (await call(a.url, 'GET', '/api/cart', { headers: { cookie: alice.cookie } })).status,
    ).toBe(200);
    const loggedOut = await call(b.url, 'POST', '/auth/logout', {
      headers: { cookie: alice.cookie, 'x-csrf-token': alice.csrfToken },
    });
    expect(loggedOut.status).toBe(204);
    const before = upstream.seen.length;
    const refused = await call(a.url, 'GET', '/api/cart', { headers: { cookie: alice.cookie } });
    expect(refused.status).toBe(401);
    expect(refused.body).toMatchObject({ error: { code: 'ERR_UNAUTHORIZED' } });
    expect(upstream.seen).toHaveLength(before);
  });

  it('an access token from B is honoured by A until its session is revoked; a tampered one never is', async () => {
    const issued = await call(b.url, 'POST', '/auth/token', {
      body: { username: 'alice', password: 'correct horse battery' },
    });
    expect(issued.status).toBe(200);
    secrets.push(issued.body.accessToken as string, issued.body.refreshToken as string);
    const bearer = { authorization: `Bearer ${issued.body.accessToken as string}` };
    const before = upstream.seen.length;
    expect((await call(a.url, 'GET', '/api/profile', { headers: bearer })).status).toBe(200);
    expect(upstream.seen.at(-1)?.headers.authorization).toBeUndefined();

    const [head, payload, signature] = (issued.body.accessToken as string).split('.');
    const claims = JSON.parse(Buffer.from(payload as string, 'base64url').toString());
    const forged = Buffer.from(JSON.stringify({ ...claims, sub: 'root' })).toString('base64url');
    const tampered = { authorization: `Bearer ${head}.${forged}.${signature}` };
    expect((await call(a.url, 'GET', '/api/profile', { headers: tampered })).status).toBe(401);

    expect((await call(a.url, 'POST', '/auth/logout', { headers: bearer })).status).toBe(204);
    expect((await call(b.url, 'GET', '/api/profile', { headers: bearer })).status).toBe(401);
    expect(upstream.seen).toHaveLength(before + 1);

    const refreshed = await call(a.url, 'POST', '/auth/refresh', {
      body: { refreshToken: issued.body.refreshToken },
    });
    expect(refreshed.status).toBe(401);
  });

  it('counts failed logins of one account from one address across gateways: limits are shared on Redis and on PostgreSQL', async () => {
    const attempt = (gateway: Gateway) =>
      call(gateway.url, 'POST', '/auth/login', {
        body: { username: 'bob-the-target', password: 'wrong password, again' },
      });
    // The default limit is 5 failed logins per account and address per 15 minutes.
    for (let i = 0; i < 5; i++) expect((await attempt(a)).status).toBe(401);
    expect((await attempt(a)).status).toBe(429);
    const onB = await attempt(b);
    expect(onB.status).toBe(backend.sharedLimits ? 429 : 401);
    if (backend.sharedLimits)
      expect(onB.body).toMatchObject({ error: { code: 'ERR_RATE_LIMITED' } });
  });

  it('a public route passes without a session and still strips client identity headers', async () => {
    const reply = await call(b.url, 'GET', '/public/status', {
      headers: { 'x-clawsession-context': 'forged' },
    });
    expect(reply.status).toBe(200);
    expect(upstream.seen.at(-1)?.headers['x-clawsession-context']).toBeUndefined();
  });

  it('an API key made on A is limited to its scopes on B, and refused on B once revoked on A', async () => {
    const created = await call(a.url, 'POST', '/admin/keys', {
      headers: root,
      body: { owner: 'billing', scopes: ['sessions:read'] },
    });
    expect(created.status).toBe(201);
    secrets.push(created.body.key as string);
    const key = { 'x-api-key': created.body.key as string };
    expect((await call(b.url, 'GET', '/v1/users/alice/sessions', { headers: key })).status).toBe(
      200,
    );
    const write = await call(b.url, 'POST', '/v1/sessions', {
      headers: key,
      body: { userId: 'alice' },
    });
    expect(write.status).toBe(403);
    expect(write.body).toMatchObject({ error: { code: 'ERR_API_KEY_SCOPE' } });

    const prefix = (created.body.info as { prefix: string }).prefix;
    expect((await call(a.url, 'DELETE', `/admin/keys/${prefix}`, { headers: root })).status).toBe(
      204,
    );
    // B cached the key for keyCacheTtl (5 s); Redis pub/sub or PostgreSQL NOTIFY tells it at once.
    await expect
      .poll(
        async () => (await call(b.url, 'GET', '/v1/users/alice/sessions', { headers: key })).status,
        { timeout: 2_000, interval: 10 },
      )
      .toBe(401);
  });

  it('a key revoked with the clawsession keys CLI is refused by a running gateway at once', async () => {
    const created = await call(a.url, 'POST', '/admin/keys', {
      headers: root,
      body: { owner: 'reports', scopes: ['sessions:read'] },
    });
    secrets.push(created.body.key as string);
    const key = { 'x-api-key': created.body.key as string };
    expect((await call(b.url, 'GET', '/v1/users/alice/sessions', { headers: key })).status).toBe(
      200,
    );
    const prefix = (created.body.info as { prefix: string }).prefix;
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [BIN, 'keys', 'revoke', prefix, '--config', join(dir, 'gateway.yaml'), '--json'],
      { env: { PATH: process.env.PATH } },
    );
    expect(JSON.parse(stdout)).toMatchObject({ revoked: prefix });
    await expect
      .poll(
        async () => (await call(b.url, 'GET', '/v1/users/alice/sessions', { headers: key })).status,
        { timeout: 2_000, interval: 10 },
      )
      .toBe(401);
  });

  it('logs JSON lines with request ids, notes root token use, and never logs a credential', async () => {
    const lines = (a.output() + b.output())
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines.length).toBeGreaterThan(10);
    expect(lines.some((line) => line.msg === 'root admin token used')).toBe(true);
    expect(lines.filter((line) => line.req !== undefined).every((line) => line.reqId)).toBe(true);
    const everything = a.output() + b.output();
    for (const secret of secrets) expect(everything).not.toContain(secret);
  });

  it('both report ready, and serve metrics only to an admin credential', async () => {
    for (const gateway of [a, b]) {
      expect((await call(gateway.url, 'GET', '/readyz')).status).toBe(200);
      expect((await call(gateway.url, 'GET', '/metrics')).status).toBe(401);
      const response = await fetch(`${gateway.url}/metrics`, { headers: root });
      expect(response.status).toBe(200);
      const text = await response.text();
      expect(text).toMatch(/clawsession_http_requests_total\{[^}]*route="\/readyz"/);
      expect(text).toMatch(/clawsession_sessions_active \d+/);
    }
  });
});
