import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { identityFromRequest } from '../../src/tokens/index.js';
import { CHROMIUM } from './chromium.js';

/*
 * A real browser against the gateway as `npm start` runs it: the default
 * config (SQLite under ./data, the __Host- Secure cookie, CSRF on), plus one
 * route so that the page and an API are served through it. Chromium treats
 * http://127.0.0.1 as a secure context, so the login must work there.
 */

const BIN = resolve('dist/cli/main.js');
const PASSWORD = 'correct horse battery staple 42';

const PAGE = `<!doctype html><meta charset="utf-8"><title>shop</title><p>shop</p>`;

let dir: string;
let gateway: ChildProcess | undefined;
let gatewayUrl: string;
let upstream: Server;
let browser: Browser;
/** What the upstream API saw of each caller: the identity the gateway vouched for. */
const seen: { path: string; user: string | null; roles: string[] | null }[] = [];

async function startUpstream(): Promise<string> {
  upstream = createServer(async (request, response) => {
    if (request.url?.startsWith('/app/')) {
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      return response.end(PAGE);
    }
    try {
      const caller = await identityFromRequest(request.headers, {
        jwks: `${gatewayUrl}/.well-known/jwks.json`,
        issuer: 'clawsession',
        audience: 'clawsession-upstream',
      });
      seen.push({ path: request.url ?? '', user: caller.userId, roles: caller.roles });
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ user: caller.userId, roles: caller.roles }));
    } catch {
      seen.push({ path: request.url ?? '', user: null, roles: null });
      response.writeHead(401).end();
    }
  });
  upstream.listen(0, '127.0.0.1');
  await once(upstream, 'listening');
  return `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
}

function clawsession(args: string[], env: Record<string, string>, input?: string) {
  return spawnSync(process.execPath, [BIN, ...args], {
    cwd: dir,
    env: { PATH: process.env.PATH, ...env },
    input,
    encoding: 'utf8',
  });
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM))
    throw new Error(`${CHROMIUM} is missing: the browser tests need Debian's chromium package`);
  dir = mkdtempSync(join(tmpdir(), 'clawsession-browser-'));
  const upstreamUrl = await startUpstream();
  const added = clawsession(
    ['users', 'add', 'alice', '--roles', 'shopper', '--password-stdin'],
    {},
    `${PASSWORD}\n`,
  );
  expect(added.status, added.stderr).toBe(0);

  gateway = spawn(process.execPath, [BIN, 'serve'], {
    cwd: dir,
    env: {
      PATH: process.env.PATH,
      CLAWSESSION_PORT: '0',
      CLAWSESSION_LOG_LEVEL: 'warn',
      CLAWSESSION_ROUTES: JSON.stringify([
        { prefix: '/app/', upstream: upstreamUrl, auth: 'none' },
        { prefix: '/api/', upstream: upstreamUrl, auth: 'session' },
      ]),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  for (;;) {
    const match = /listening on (http:\/\/\S+)/.exec(stdout);
    if (match) {
      gatewayUrl = match[1] as string;
      break;
    }
    if (gateway.exitCode !== null) throw new Error(`gateway exited: ${stdout}`);
    stdout += await once(gateway.stdout as NodeJS.ReadableStream, 'data');
  }
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  if (gateway && gateway.exitCode === null) {
    gateway.kill('SIGTERM');
    await once(gateway, 'exit');
  }
  upstream?.closeAllConnections();
  await new Promise((done) => upstream?.close(done));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('a browser on the gateway that npm start runs', () => {
  it('logs in on http://127.0.0.1, reads its session, calls an API with its identity, and posts with CSRF', async () => {
    const page = await browser.newPage();
    await page.goto(`${gatewayUrl}/app/index.html`);
    expect(await page.textContent('p')).toBe('shop');

    const outcome = await page.evaluate(async (password) => {
      const json = { 'content-type': 'application/json' };
      const login = await fetch('/auth/login', {
        method: 'POST',
        headers: json,
        body: JSON.stringify({ username: 'alice', password }),
      });
      const { csrfToken } = (await login.json()) as { csrfToken: string };
      const session = await fetch('/auth/session');
      const me = await fetch('/api/me');
      const withToken = await fetch('/api/cart', {
        method: 'POST',
        headers: { ...json, 'x-csrf-token': csrfToken },
        body: '{"sku":"a"}',
      });
      const withoutToken = await fetch('/api/cart', {
        method: 'POST',
        headers: json,
        body: '{"sku":"b"}',
      });
      return {
        login: login.status,
        session: { status: session.status, body: (await session.json()) as { user: unknown } },
        me: { status: me.status, body: await me.json() },
        withToken: withToken.status,
        withoutToken: {
          status: withoutToken.status,
          body: (await withoutToken.json()) as { error: { code: string } },
        },
      };
    }, PASSWORD);

    expect(outcome.login).toBe(200);
    expect(outcome.session.status).toBe(200);
    expect(outcome.session.body.user).toEqual({ id: 'alice', roles: ['shopper'] });
    expect(outcome.me).toEqual({ status: 200, body: { user: 'alice', roles: ['shopper'] } });
    expect(outcome.withToken).toBe(200);
    expect(outcome.withoutToken.status).toBe(403);
    expect(outcome.withoutToken.body.error.code).toBe('ERR_CSRF');
    expect(seen.map((call) => [call.path, call.user])).toEqual([
      ['/api/me', 'alice'],
      ['/api/cart', 'alice'],
    ]);

    const [cookie] = await page.context().cookies(gatewayUrl);
    expect(cookie).toMatchObject({ name: '__Host-cs_session', secure: true, httpOnly: true });
    await page.close();
  });
});
