import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createCodec, SessionManager, type SessionValue } from '../../src/core/index.js';
import {
  type BindingMismatch,
  HttpSessions,
  type HttpSessionsOptions,
  type SessionHandle,
} from '../../src/http/index.js';
import { MemoryStore } from '../../src/stores/index.js';

/** One route of the small application every adapter serves, written once, framework-neutral. */
export interface AppRoute {
  method: 'GET' | 'POST';
  path: string;
  handle(session: SessionHandle, query: URLSearchParams): Promise<unknown>;
}

export const APP_ROUTES: readonly AppRoute[] = [
  {
    method: 'POST',
    path: '/login',
    async handle(session, query) {
      await session.login(query.get('user') ?? 'alice', { cart: [], role: 'user' });
      return { userId: session.userId, csrfToken: session.csrfToken };
    },
  },
  {
    method: 'GET',
    path: '/whoami',
    async handle(session) {
      return {
        userId: session.userId,
        cart: session.get('cart') ?? null,
        role: session.get('role') ?? null,
        csrfToken: session.csrfToken,
      };
    },
  },
  {
    method: 'POST',
    path: '/cart',
    async handle(session, query) {
      session.patch([{ op: 'add', path: '/cart/-', value: query.get('item') ?? 'sku' }]);
      return { cart: session.get('cart') as SessionValue };
    },
  },
  {
    method: 'POST',
    path: '/promote',
    async handle(session) {
      session.set('role', 'admin');
      await session.regenerate();
      return { csrfToken: session.csrfToken };
    },
  },
  {
    method: 'POST',
    path: '/logout',
    async handle(session) {
      await session.destroy();
      return { ok: true };
    },
  },
];

/** Listens on a free port of 127.0.0.1. */
export async function listen(server: Server): Promise<RunningApp> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

export interface RunningApp {
  /** Base URL, e.g. http://127.0.0.1:41234 */
  url: string;
  close(): Promise<void>;
}

/** Starts a real listening server on port 0 serving APP_ROUTES through one adapter. */
export type AppFactory = (sessions: HttpSessions) => Promise<RunningApp>;

export interface AdapterCapabilities {
  /** The adapter reads `_csrf` from urlencoded bodies (node:http has no body parser). */
  formField: boolean;
}

interface Reply {
  status: number;
  body: Record<string, unknown>;
  setCookies: string[];
}

interface Cookie {
  name: string;
  value: string;
  attributes: Map<string, string>;
}

function parseSetCookie(header: string): Cookie {
  const [pair = '', ...rest] = header.split(';').map((part) => part.trim());
  const eq = pair.indexOf('=');
  const attributes = new Map<string, string>();
  for (const attribute of rest) {
    const [key = '', value = ''] = attribute.split('=');
    attributes.set(key.toLowerCase(), value);
  }
  return { name: pair.slice(0, eq), value: pair.slice(eq + 1), attributes };
}

/**
 * The one behaviour suite every HTTP adapter passes, over real HTTP. Call it
 * once per adapter with a factory; a bug found in one adapter becomes a test here.
 */
export function describeHttpAdapter(
  name: string,
  factory: AppFactory,
  capabilities: AdapterCapabilities,
): void {
  describe(`the ${name} adapter`, () => {
    const running: Array<{ app: RunningApp; manager: SessionManager }> = [];
    afterEach(async () => {
      for (const { app, manager } of running.splice(0)) {
        await app.close();
        await manager.close();
      }
    });

    async function setup(options: Omit<HttpSessionsOptions, 'manager'> = {}) {
      /** The manager's clock: real time plus an offset a test moves forward. */
      const clock = { offset: 0 };
      const manager = new SessionManager({
        store: new MemoryStore({ codec: createCodec() }),
        clock: () => Date.now() + clock.offset,
      });
      const sessions = new HttpSessions({ manager, ...options });
      const app = await factory(sessions);
      running.push({ app, manager });
      const cookieName = sessions.cookie.name;
      const origin = `${options.cookie?.insecureDevelopmentMode ? 'http' : 'https'}://${new URL(app.url).host}`;

      async function call(
        method: string,
        path: string,
        init: {
          token?: string;
          cookie?: string;
          headers?: Record<string, string>;
          body?: string;
        } = {},
      ): Promise<Reply> {
        const headers: Record<string, string> = { 'user-agent': 'test-browser/1.0' };
        if (method !== 'GET') headers.origin = origin;
        if (init.token !== undefined) headers.cookie = `${cookieName}=${init.token}`;
        if (init.cookie !== undefined) headers.cookie = init.cookie;
        Object.assign(headers, init.headers);
        const response = await fetch(`${app.url}${path}`, { method, headers, body: init.body });
        const text = await response.text();
        return {
          status: response.status,
          body: text === '' ? {} : JSON.parse(text),
          setCookies: response.headers.getSetCookie(),
        };
      }

      async function login(user = 'alice', headers: Record<string, string> = {}) {
        const reply = await call('POST', `/login?user=${user}`, { headers });
        expect(reply.status).toBe(200);
        const cookie = parseSetCookie(reply.setCookies[0] ?? '');
        expect(cookie.name).toBe(cookieName);
        return { token: cookie.value, csrfToken: reply.body.csrfToken as string, reply };
      }

      /** An unsafe request as a same-origin page sends it, with the CSRF header. */
      function post(path: string, user: { token: string; csrfToken: string }) {
        return call('POST', path, {
          token: user.token,
          headers: { 'x-csrf-token': user.csrfToken },
        });
      }

      return { manager, sessions, app, call, login, post, cookieName, origin, clock };
    }

    describe('cookies', () => {
      it('sets a __Host- cookie that is HttpOnly, Secure, SameSite=Lax, Path=/ and has no Domain', async () => {
        const { login } = await setup();
        const { reply, token } = await login();
        expect(reply.setCookies).toHaveLength(1);
        const cookie = parseSetCookie(reply.setCookies[0] as string);
        expect(cookie.name).toBe('__Host-cs_session');
        expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
        expect(cookie.attributes.has('httponly')).toBe(true);
        expect(cookie.attributes.has('secure')).toBe(true);
        expect(cookie.attributes.get('samesite')).toBe('Lax');
        expect(cookie.attributes.get('path')).toBe('/');
        expect(cookie.attributes.has('domain')).toBe(false);
        expect(cookie.attributes.has('max-age')).toBe(false);
      });

      it('in explicit insecure development mode drops Secure and the __Host- prefix, nothing else', async () => {
        const { login } = await setup({ cookie: { insecureDevelopmentMode: true } });
        const cookie = parseSetCookie((await login()).reply.setCookies[0] as string);
        expect(cookie.name).toBe('cs_session');
        expect(cookie.attributes.has('secure')).toBe(false);
        expect(cookie.attributes.has('httponly')).toBe(true);
        expect(cookie.attributes.get('samesite')).toBe('Lax');
        expect(cookie.attributes.get('path')).toBe('/');
        expect(cookie.attributes.has('domain')).toBe(false);
      });

      it('honours a configured name, SameSite and lifetime', async () => {
        const { login } = await setup({
          cookie: { name: '__Host-app', sameSite: 'strict', maxAge: 3_600_000 },
        });
        const cookie = parseSetCookie((await login()).reply.setCookies[0] as string);
        expect(cookie.name).toBe('__Host-app');
        expect(cookie.attributes.get('samesite')).toBe('Strict');
        expect(cookie.attributes.get('max-age')).toBe('3600');
      });

      it('treats malformed, oversize, duplicated and foreign cookies as no session, never a 500', async () => {
        const { call, login, cookieName } = await setup();
        const { token } = await login();
        const { token: other } = await login('bob');
        const headers = [
          'garbage-without-equals',
          `${cookieName}=not-a-token`,
          `${cookieName}=${token.slice(0, 42)}`,
          `${cookieName}="${token}"`,
          `${cookieName}=${token}!`,
          `${cookieName}=${token}; ${cookieName}=${token}`,
          `${cookieName}=${token}; ${cookieName}=${other}`,
          `${cookieName}=${token}; padding=${'x'.repeat(5000)}`,
          `cs_session=${token}; __Secure-cs_session=${token}; other=${token}`,
          `%E0%A4%A; ===; ;;; ${cookieName}`,
          `${cookieName}=${'A'.repeat(43)}`,
        ];
        for (const cookie of headers) {
          const whoami = await call('GET', '/whoami', { cookie });
          expect({ cookie, status: whoami.status, userId: whoami.body.userId }).toEqual({
            cookie,
            status: 200,
            userId: null,
          });
        }
      });

      it('finds its own cookie among foreign ones', async () => {
        const { call, login, cookieName } = await setup();
        const { token } = await login();
        const whoami = await call('GET', '/whoami', {
          cookie: `theme=dark; ${cookieName}=${token}; _ga=GA1.2.3`,
        });
        expect(whoami.body.userId).toBe('alice');
      });
    });

    describe('regeneration and logout', () => {
      it('kills a token planted before login (session fixation)', async () => {
        const { call, manager, cookieName } = await setup();
        const planted = await manager.create({ userId: 'mallory' });
        // The victim's browser renders the login page under the planted cookie, then submits it.
        const page = await call('GET', '/whoami', { token: planted.token });
        const reply = await call('POST', '/login?user=alice', {
          token: planted.token,
          headers: { 'x-csrf-token': page.body.csrfToken as string },
        });
        expect(reply.status).toBe(200);
        const issued = parseSetCookie(reply.setCookies[0] as string);
        expect(issued.name).toBe(cookieName);
        expect(issued.value).not.toBe(planted.token);
        expect(await manager.get(planted.token)).toBeNull();
        expect((await call('GET', '/whoami', { token: planted.token })).body.userId).toBeNull();
        expect((await call('GET', '/whoami', { token: issued.value })).body.userId).toBe('alice');
      });

      it('regenerates on a privilege change: the old cookie dies at once and the data moves', async () => {
        const { call, login, post, manager } = await setup();
        const alice = await login();
        expect((await post('/cart?item=book', alice)).status).toBe(200);
        const promoted = await post('/promote', alice);
        expect(promoted.status).toBe(200);
        const fresh = parseSetCookie(promoted.setCookies[0] as string).value;
        expect(fresh).not.toBe(alice.token);
        expect(await manager.get(alice.token)).toBeNull();
        expect((await call('GET', '/whoami', { token: alice.token })).body.userId).toBeNull();
        const whoami = await call('GET', '/whoami', { token: fresh });
        expect(whoami.body).toMatchObject({ userId: 'alice', role: 'admin', cart: ['book'] });
        // The CSRF secret is new too: the old page's token is refused, both new forms accepted.
        const withToken = (csrfToken: string) =>
          post('/cart?item=pen', { token: fresh, csrfToken });
        expect((await withToken(alice.csrfToken)).status).toBe(403);
        expect((await withToken(promoted.body.csrfToken as string)).status).toBe(200);
        expect((await withToken(whoami.body.csrfToken as string)).status).toBe(200);
      });

      it('destroys on logout: the cookie is cleared and the token revoked', async () => {
        const { call, login, post, manager, cookieName } = await setup();
        const alice = await login();
        const reply = await post('/logout', alice);
        expect(reply.status).toBe(200);
        const cleared = parseSetCookie(reply.setCookies[0] as string);
        expect(cleared.name).toBe(cookieName);
        expect(cleared.value).toBe('');
        expect(cleared.attributes.get('max-age')).toBe('0');
        expect(cleared.attributes.get('path')).toBe('/');
        expect(cleared.attributes.has('secure')).toBe(true);
        expect(await manager.get(alice.token)).toBeNull();
        expect((await call('GET', '/whoami', { token: alice.token })).body.userId).toBeNull();
      });
    });

    describe('scheduled rotation', () => {
      const MINUTE = 60_000;
      const rotation = { interval: 10 * MINUTE, grace: 30_000 };

      it('gives a due session a new cookie; the old one works inside the grace window, not after', async () => {
        const { call, login, clock, manager } = await setup({ rotation });
        const alice = await login();
        const early = await call('GET', '/whoami', { token: alice.token });
        expect(early.body.userId).toBe('alice');
        expect(early.setCookies).toEqual([]);

        clock.offset += 10 * MINUTE;
        const due = await call('GET', '/whoami', { token: alice.token });
        expect(due.status).toBe(200);
        expect(due.body).toMatchObject({ userId: 'alice', cart: [], role: 'user' });
        const fresh = parseSetCookie(due.setCookies[0] ?? '').value;
        expect(fresh).toMatch(/\S/);
        expect(fresh).not.toBe(alice.token);

        clock.offset += 10_000; // a parallel request of another tab, still with the old cookie
        const parallel = await call('GET', '/whoami', { token: alice.token });
        expect(parallel.body.userId).toBe('alice');
        expect(parallel.setCookies).toEqual([]);
        const next = await call('GET', '/whoami', { token: fresh });
        expect(next.body.userId).toBe('alice');
        expect(next.setCookies).toEqual([]);

        clock.offset += 20_000; // the grace is over
        const late = await call('GET', '/whoami', { token: alice.token });
        expect(late.body.userId).toBeNull();
        expect(await manager.get(alice.token)).toBeNull();
        expect((await call('GET', '/whoami', { token: fresh })).body.userId).toBe('alice');
      });

      it('lands data written through the old cookie during the grace in the rotated session', async () => {
        const { call, login, post, clock } = await setup({ rotation });
        const alice = await login();
        expect((await post('/cart?item=before', alice)).status).toBe(200);
        clock.offset += 10 * MINUTE;
        const due = await call('GET', '/whoami', { token: alice.token });
        const fresh = parseSetCookie(due.setCookies[0] ?? '').value;
        clock.offset += 5_000;
        const late = await post('/cart?item=late', alice);
        expect(late.status).toBe(200);
        expect(late.setCookies).toEqual([]);
        const whoami = await call('GET', '/whoami', { token: fresh });
        expect(whoami.body.cart).toEqual(['before', 'late']);
      });

      it('rotates a due unsafe request after its CSRF check, keeping what it wrote', async () => {
        const { call, login, post, clock } = await setup({ rotation });
        const alice = await login();
        clock.offset += 10 * MINUTE;
        const due = await post('/cart?item=x', alice);
        expect(due.status).toBe(200);
        const fresh = parseSetCookie(due.setCookies[0] ?? '').value;
        expect(fresh).not.toBe(alice.token);
        expect((await call('GET', '/whoami', { token: fresh })).body.cart).toEqual(['x']);
      });

      it('keeps the CSRF token across rotations: a page loaded before them can still post', async () => {
        const { call, login, post, clock } = await setup({ rotation });
        const alice = await login();
        clock.offset += 10 * MINUTE;
        const first = await call('GET', '/whoami', { token: alice.token });
        const second = parseSetCookie(first.setCookies[0] ?? '').value;
        clock.offset += 10 * MINUTE;
        const again = await call('GET', '/whoami', { token: second });
        const third = parseSetCookie(again.setCookies[0] ?? '').value;
        expect(new Set([alice.token, second, third]).size).toBe(3);
        clock.offset += MINUTE; // both graces are over: only the newest cookie works
        const posted = await post('/cart?item=from-old-page', {
          token: third,
          csrfToken: alice.csrfToken,
        });
        expect(posted.status).toBe(200);
        expect((await call('GET', '/whoami', { token: third })).body.cart).toEqual([
          'from-old-page',
        ]);
      });

      it('does not rotate without the option, however old the token', async () => {
        const { call, login, clock } = await setup();
        const alice = await login();
        clock.offset += 20 * MINUTE;
        const reply = await call('GET', '/whoami', { token: alice.token });
        expect(reply.body.userId).toBe('alice');
        expect(reply.setCookies).toEqual([]);
      });
    });

    describe('CSRF', () => {
      async function refusedAndUnchanged(reply: Reply, check: () => Promise<Reply>): Promise<void> {
        expect(reply.status).toBe(403);
        expect(reply.body).toEqual({ error: { code: 'ERR_CSRF', message: expect.any(String) } });
        expect((await check()).body.cart).toEqual([]);
      }

      it('refuses an unsafe request without a token, and changes nothing', async () => {
        const { call, login } = await setup();
        const alice = await login();
        const reply = await call('POST', '/cart?item=x', { token: alice.token });
        await refusedAndUnchanged(reply, () => call('GET', '/whoami', { token: alice.token }));
      });

      it('refuses an unsafe request with a wrong token, and changes nothing', async () => {
        const { call, login } = await setup();
        const alice = await login();
        const bob = await login('bob');
        for (const wrong of ['nope', bob.csrfToken, `${alice.csrfToken}x`, '']) {
          const reply = await call('POST', '/cart?item=x', {
            token: alice.token,
            headers: { 'x-csrf-token': wrong },
          });
          await refusedAndUnchanged(reply, () => call('GET', '/whoami', { token: alice.token }));
        }
      });

      it('accepts an unsafe request with the right token in the header', async () => {
        const { call, login, post } = await setup();
        const alice = await login();
        expect((await post('/cart?item=x', alice)).status).toBe(200);
        expect((await call('GET', '/whoami', { token: alice.token })).body.cart).toEqual(['x']);
      });

      it('takes the token from a _csrf form field where the framework parses forms (node:http: the header only)', async () => {
        const { call, login } = await setup();
        const alice = await login();
        const form = { 'content-type': 'application/x-www-form-urlencoded' };
        const wrong = await call('POST', '/cart?item=x', {
          token: alice.token,
          headers: form,
          body: '_csrf=wrong',
        });
        expect(wrong.status).toBe(403);
        const right = await call('POST', '/cart?item=x', {
          token: alice.token,
          headers: form,
          body: new URLSearchParams({ _csrf: alice.csrfToken }).toString(),
        });
        expect(right.status).toBe(capabilities.formField ? 200 : 403);
        const cart = (await call('GET', '/whoami', { token: alice.token })).body.cart;
        expect(cart).toEqual(capabilities.formField ? ['x'] : []);
      });

      it('refuses a cross-site Origin even with the right token, and changes nothing', async () => {
        const { call, login } = await setup();
        const alice = await login();
        for (const origin of ['https://evil.example', 'null', 'http://127.0.0.1', 'not a url']) {
          const reply = await call('POST', '/cart?item=x', {
            token: alice.token,
            headers: { 'x-csrf-token': alice.csrfToken, origin },
          });
          await refusedAndUnchanged(reply, () => call('GET', '/whoami', { token: alice.token }));
        }
      });

      it('refuses Sec-Fetch-Site: cross-site even with the right token, and changes nothing', async () => {
        const { call, login } = await setup();
        const alice = await login();
        const reply = await call('POST', '/cart?item=x', {
          token: alice.token,
          headers: { 'x-csrf-token': alice.csrfToken, 'sec-fetch-site': 'cross-site' },
        });
        await refusedAndUnchanged(reply, () => call('GET', '/whoami', { token: alice.token }));
      });

      it('refuses a cross-site login (login CSRF) and creates no session', async () => {
        const { call, manager } = await setup();
        const reply = await call('POST', '/login?user=mallory', {
          headers: { origin: 'https://evil.example' },
        });
        expect(reply.status).toBe(403);
        expect(reply.setCookies).toEqual([]);
        expect(await manager.listForUser('mallory')).toEqual([]);
      });

      it('lets safe methods through without a token, whatever the origin', async () => {
        const { call, login } = await setup();
        const alice = await login();
        const reply = await call('GET', '/whoami', {
          token: alice.token,
          headers: { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' },
        });
        expect(reply.status).toBe(200);
        expect(reply.body.userId).toBe('alice');
      });

      it('accepts a non-browser client (no Origin, no Sec-Fetch-Site) on its token alone', async () => {
        const { app, login } = await setup();
        const alice = await login();
        const response = await fetch(`${app.url}/cart?item=x`, {
          method: 'POST',
          headers: {
            cookie: `__Host-cs_session=${alice.token}`,
            'x-csrf-token': alice.csrfToken,
            'user-agent': 'test-browser/1.0',
          },
        });
        expect(response.status).toBe(200);
      });

      it('refuses the token of before a regeneration, which changes nothing', async () => {
        const { call, login, post } = await setup();
        const alice = await login();
        const fresh = parseSetCookie((await post('/promote', alice)).setCookies[0] as string).value;
        const reply = await call('POST', '/cart?item=x', {
          token: fresh,
          headers: { 'x-csrf-token': alice.csrfToken },
        });
        await refusedAndUnchanged(reply, () => call('GET', '/whoami', { token: fresh }));
      });
    });

    it('keeps all 20 items when 20 concurrent requests of one user each add one to the cart', async () => {
      const { call, login, post } = await setup();
      const alice = await login();
      const items = Array.from({ length: 20 }, (_, i) => `sku-${i}`);
      const replies = await Promise.all(items.map((item) => post(`/cart?item=${item}`, alice)));
      expect(replies.map((reply) => reply.status)).toEqual(items.map(() => 200));
      const cart = (await call('GET', '/whoami', { token: alice.token })).body.cart as string[];
      expect(cart.slice().sort()).toEqual(items.slice().sort());
    });

    describe('binding', () => {
      it("revokes the session when the User-Agent changes under 'revoke'", async () => {
        const reports: BindingMismatch[] = [];
        const { call, login, manager } = await setup({
          binding: { userAgent: 'revoke' },
          onBindingMismatch: (mismatch) => reports.push(mismatch),
        });
        const alice = await login();
        const stolen = await call('GET', '/whoami', {
          token: alice.token,
          headers: { 'user-agent': 'attacker/2.0' },
        });
        expect(stolen.body.userId).toBeNull();
        expect(parseSetCookie(stolen.setCookies[0] as string).attributes.get('max-age')).toBe('0');
        expect(await manager.get(alice.token)).toBeNull();
        expect(reports).toMatchObject([
          {
            field: 'userAgent',
            expected: 'test-browser/1.0',
            actual: 'attacker/2.0',
            action: 'revoke',
          },
        ]);
      });

      it("keeps the session and reports when the User-Agent changes under 'log'", async () => {
        const reports: BindingMismatch[] = [];
        const { call, login } = await setup({
          binding: { userAgent: 'log' },
          onBindingMismatch: (mismatch) => reports.push(mismatch),
        });
        const alice = await login();
        const reply = await call('GET', '/whoami', {
          token: alice.token,
          headers: { 'user-agent': 'other/2.0' },
        });
        expect(reply.body.userId).toBe('alice');
        expect(reports).toMatchObject([{ field: 'userAgent', action: 'log', userId: 'alice' }]);
      });

      it("keeps the session from the same address under an exact IP 'revoke' policy", async () => {
        const reports: BindingMismatch[] = [];
        const { call, login, manager } = await setup({
          binding: { ip: 'revoke', ipMatch: 'exact', userAgent: 'revoke' },
          onBindingMismatch: (mismatch) => reports.push(mismatch),
        });
        const alice = await login();
        expect((await manager.get(alice.token))?.ip).toBe('127.0.0.1');
        expect((await call('GET', '/whoami', { token: alice.token })).body.userId).toBe('alice');
        expect(reports).toEqual([]);
      });
    });
  });
}
