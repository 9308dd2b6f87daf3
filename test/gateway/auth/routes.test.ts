import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalJWKSet, decodeJwt, jwtVerify } from 'jose';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { type SessionStore, sessionIdOf } from '../../../src/core/index.js';
import { UpstreamCredentials } from '../../../src/gateway/auth/index.js';
import { MemoryStore, SqliteStore } from '../../../src/stores/index.js';
import { TokenRevokedError } from '../../../src/tokens/index.js';
import { solveProofOfWork } from '../../security/support.js';
import { type AuthApp, type AuthAppOptions, PASSWORD, startAuthApp } from './auth-app.js';

const dir = mkdtempSync(join(tmpdir(), 'clawsession-auth-routes-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const running: AuthApp[] = [];
const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((app) => app.close()));
  await Promise.all(closers.splice(0).map((close) => close()));
});

async function start(options: AuthAppOptions = {}) {
  const app = await startAuthApp(options);
  running.push(app);
  return app;
}

const stores: [string, () => SessionStore][] = [
  ['MemoryStore', () => new MemoryStore()],
  ['SqliteStore', () => new SqliteStore({ filename: join(dir, `${crypto.randomUUID()}.db`) })],
];

for (const [name, openStore] of stores) {
  describe(`cookie login over ${name}`, () => {
    it('signs in with a secure session cookie and answers the session with its CSRF token', async () => {
      const { call } = await start({ store: openStore() });
      const login = await call('POST', '/auth/login', {
        body: { username: 'alice', password: PASSWORD },
      });
      expect(login.status).toBe(200);
      expect(login.json).toEqual({
        user: { id: 'alice', roles: ['admin'] },
        csrfToken: expect.stringMatching(/^[A-Za-z0-9_-]{86}$/),
      });
      expect(login.setCookie[0]).toMatch(
        /^__Host-cs_session=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; Secure; SameSite=Lax$/,
      );
      expect(login.headers.get('cache-control')).toBe('no-store');

      const current = await call('GET', '/auth/session', { cookie: login.cookie as string });
      expect(current.status).toBe(200);
      expect(current.json).toEqual({
        user: { id: 'alice', roles: ['admin'] },
        session: {
          id: sessionIdOf(login.cookie as string),
          createdAt: expect.any(String),
          lastActiveAt: expect.any(String),
          expiresAt: expect.any(String),
        },
        // The same secret under a fresh mask (BREACH): every form of it is accepted.
        csrfToken: expect.stringMatching(/^[A-Za-z0-9_-]{86}$/),
      });
      expect(current.json.csrfToken).not.toBe(login.json.csrfToken);
      expect(Date.parse(current.json.session.expiresAt)).toBeGreaterThan(Date.now());
    });

    it('logs out with the CSRF token: the cookie is cleared and the session is gone', async () => {
      const { call, login, manager } = await start({ store: openStore() });
      const { token, csrf } = await login();
      const refused = await call('POST', '/auth/logout', { cookie: token });
      expect(refused.status).toBe(403);
      expect(refused.json.error.code).toBe('ERR_CSRF');
      expect(await manager.get(token)).not.toBeNull();

      const out = await call('POST', '/auth/logout', { cookie: token, csrf });
      expect(out.status).toBe(204);
      expect(out.cookie).toBe('');
      expect(out.setCookie[0]).toContain('Max-Age=0');
      expect(await manager.get(token)).toBeNull();
      expect((await call('GET', '/auth/session', { cookie: token })).status).toBe(401);
    });
  });
}

describe('POST /auth/login', () => {
  it('finds the user whatever the case of the name', async () => {
    const { call } = await start();
    const response = await call('POST', '/auth/login', {
      body: { username: ' ALICE ', password: PASSWORD },
    });
    expect(response.status).toBe(200);
    expect(response.json.user).toEqual({ id: 'alice', roles: ['admin'] });
  });

  it('regenerates a session the request carried: the old cookie is dead', async () => {
    const { call, login, manager } = await start();
    const first = await login();
    const again = await call('POST', '/auth/login', {
      body: { username: 'bob', password: PASSWORD },
      cookie: first.token,
      csrf: first.csrf,
    });
    expect(again.status).toBe(200);
    expect(again.cookie).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(again.cookie).not.toBe(first.token);
    expect(await manager.get(first.token)).toBeNull();
    expect((await call('GET', '/auth/session', { cookie: first.token })).status).toBe(401);
    const current = await call('GET', '/auth/session', { cookie: again.cookie as string });
    expect(current.json.user.id).toBe('bob');
    const stale = await call('POST', '/auth/logout', {
      cookie: again.cookie as string,
      csrf: first.csrf,
    });
    expect(stale.status).toBe(403);
    const out = await call('POST', '/auth/logout', {
      cookie: again.cookie as string,
      csrf: current.json.csrfToken,
    });
    expect(out.status).toBe(204);
  });

  it('refuses a login carrying a session cookie without its CSRF token, and the session lives', async () => {
    const { call, login, manager } = await start();
    const first = await login();
    const response = await call('POST', '/auth/login', {
      body: { username: 'alice', password: PASSWORD },
      cookie: first.token,
    });
    expect(response.status).toBe(403);
    expect(response.json.error.code).toBe('ERR_CSRF');
    expect(await manager.get(first.token)).not.toBeNull();
  });

  it('answers a wrong password and an unknown user identically', async () => {
    const { call } = await start();
    const wrong = await call('POST', '/auth/login', {
      body: { username: 'alice', password: 'not the password' },
    });
    const unknown = await call('POST', '/auth/login', {
      body: { username: 'mallory', password: PASSWORD },
    });
    expect(wrong.status).toBe(401);
    expect(wrong.json).toEqual({
      error: { code: 'ERR_LOGIN_FAILED', message: 'the username or password is incorrect' },
    });
    expect(unknown.status).toBe(wrong.status);
    expect(unknown.json).toEqual(wrong.json);
    const headersOf = (r: typeof wrong) =>
      [...r.headers].filter(([name]) => name !== 'date').sort();
    expect(headersOf(unknown)).toEqual(headersOf(wrong));
    expect(wrong.setCookie).toEqual([]);
  });

  it.each([
    ['malformed JSON', { raw: '{"username": "alice",' }, 400, 'ERR_BODY_MALFORMED'],
    ['an empty JSON body', { raw: '' }, 400, 'ERR_BODY_MALFORMED'],
    ['a body that is not an object', { body: ['alice', PASSWORD] }, 400, 'ERR_VALIDATION'],
    [
      'a number for the password',
      { body: { username: 'alice', password: 1234 } },
      400,
      'ERR_VALIDATION',
    ],
    ['a missing password', { body: { username: 'alice' } }, 400, 'ERR_VALIDATION'],
    ['an empty username', { body: { username: '', password: PASSWORD } }, 400, 'ERR_VALIDATION'],
    [
      'an unknown field',
      { body: { username: 'alice', password: PASSWORD, remember: true } },
      400,
      'ERR_VALIDATION',
    ],
    [
      'a huge body',
      { body: { username: 'alice', password: 'x'.repeat(64 * 1024) } },
      413,
      'ERR_BODY_TOO_LARGE',
    ],
    [
      'a form body',
      {
        raw: `username=alice&password=${PASSWORD}`,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      },
      415,
      'ERR_UNSUPPORTED_MEDIA_TYPE',
    ],
  ])('refuses %s with a JSON error and signs nobody in', async (_what, init, status, code) => {
    const { call, manager } = await start();
    const response = await call('POST', '/auth/login', init);
    expect(response.status).toBe(status);
    expect(response.json.error.code).toBe(code);
    expect(response.setCookie).toEqual([]);
    expect(await manager.listForUser('alice')).toEqual([]);
  });
});

describe('login rate limits', () => {
  function counting(checked: string[]): AuthAppOptions['credentials'] {
    return (directory) => ({
      verify: (username, password) => {
        checked.push(username);
        return directory.verify(username, password);
      },
    });
  }

  it('refuses an address that keeps failing on one account, without checking the password, while the owner signs in from elsewhere', async () => {
    const checked: string[] = [];
    const { call } = await start({
      limits: { accountAddress: 3, ip: 100, account: 100 },
      credentials: counting(checked),
    });
    const attacker = '203.0.113.1';
    for (let i = 0; i < 3; i++) {
      const failed = await call('POST', '/auth/login', {
        body: { username: 'alice', password: 'wrong password' },
        ip: attacker,
      });
      expect(failed.status).toBe(401);
    }
    checked.length = 0;
    const refused = await call('POST', '/auth/login', {
      body: { username: 'ALICE', password: PASSWORD },
      ip: attacker,
    });
    expect(refused.status).toBe(429);
    expect(refused.json.error.code).toBe('ERR_RATE_LIMITED');
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(refused.setCookie).toEqual([]);
    expect(checked).toEqual([]);

    const owner = await call('POST', '/auth/login', {
      body: { username: 'alice', password: PASSWORD },
      ip: '198.51.100.7',
    });
    expect(owner.status).toBe(200);
  });

  it('asks for a proof of work past the account ceiling; a solved one lets the owner in, once', async () => {
    const checked: string[] = [];
    const { call } = await start({
      limits: { account: 3, ip: 100 },
      credentials: counting(checked),
    });
    for (const ip of ['203.0.113.1', '203.0.113.2', '203.0.113.3']) {
      const failed = await call('POST', '/auth/login', {
        body: { username: 'alice', password: 'wrong password' },
        ip,
      });
      expect(failed.status).toBe(401);
    }
    checked.length = 0;
    const asked = await call('POST', '/auth/login', {
      body: { username: 'alice', password: PASSWORD },
      ip: '198.51.100.7',
    });
    expect(asked.status).toBe(429);
    expect(asked.json.error.code).toBe('ERR_PROOF_OF_WORK_REQUIRED');
    expect(Number(asked.headers.get('retry-after'))).toBeGreaterThan(0);
    const offered = asked.json.error.details.proofOfWork;
    expect(offered).toMatchObject({ algorithm: 'sha256', difficulty: 8 });
    expect(checked).toEqual([]);

    const proofOfWork = solveProofOfWork(offered);
    const solved = await call('POST', '/auth/login', {
      body: { username: 'alice', password: PASSWORD, proofOfWork },
      ip: '198.51.100.7',
    });
    expect(solved.status).toBe(200);

    const again = await call('POST', '/auth/login', {
      body: { username: 'alice', password: PASSWORD, proofOfWork },
      ip: '198.51.100.7',
    });
    expect(again.status).toBe(429);
    expect(again.json.error.code).toBe('ERR_PROOF_OF_WORK_REQUIRED');
    expect(again.json.error.message).toContain('reused');
  });

  it('refuses an address after its failed logins for any account; a refused attempt charges the account nothing', async () => {
    const { call, clock } = await start({ limits: { ip: 3, account: 2 } });
    const attacker = '192.0.2.66';
    for (const username of ['u1', 'u2', 'u3']) {
      const failed = await call('POST', '/auth/login', {
        body: { username, password: 'guess guess' },
        ip: attacker,
      });
      expect(failed.status).toBe(401);
    }
    for (let i = 0; i < 3; i++) {
      const refused = await call('POST', '/auth/login', {
        body: { username: 'bob', password: 'guess guess' },
        ip: attacker,
      });
      expect(refused.status).toBe(429);
      expect(refused.headers.get('retry-after')).toBe(String(15 * 60));
    }
    // bob's ceiling was never charged by the refused attempts: its two failures are all still free.
    for (const ip of ['198.51.100.20', '198.51.100.21']) {
      const failed = await call('POST', '/auth/login', {
        body: { username: 'bob', password: 'guess guess' },
        ip,
      });
      expect(failed.status).toBe(401);
    }
    const third = await call('POST', '/auth/login', {
      body: { username: 'bob', password: PASSWORD },
      ip: '198.51.100.22',
    });
    expect(third.json.error.code).toBe('ERR_PROOF_OF_WORK_REQUIRED');

    const elsewhere = await call('POST', '/auth/login', {
      body: { username: 'alice', password: PASSWORD },
      ip: '198.51.100.23',
    });
    expect(elsewhere.status).toBe(200);

    clock.now += 15 * 60_000;
    const later = await call('POST', '/auth/login', {
      body: { username: 'bob', password: PASSWORD },
      ip: attacker,
    });
    expect(later.status).toBe(200);
  });

  it('does not count successful logins as failures', async () => {
    const { login } = await start({ limits: { ip: 2, accountAddress: 2, account: 2 } });
    for (let i = 0; i < 5; i++) await login('alice');
  });

  it('bounds the successful logins of an account, and failures do not use that bound', async () => {
    const { call, login } = await start({ limits: { success: 2 } });
    await login('alice');
    const failed = await call('POST', '/auth/login', {
      body: { username: 'alice', password: 'wrong password' },
    });
    expect(failed.status).toBe(401);
    await login('alice', { ip: '198.51.100.9' });
    const third = await call('POST', '/auth/token', {
      body: { username: 'Alice', password: PASSWORD },
      ip: '198.51.100.10',
    });
    expect(third.status).toBe(429);
    expect(third.json.error.code).toBe('ERR_RATE_LIMITED');
    await login('bob');
  });

  it('applies the same limits to POST /auth/token', async () => {
    const { call } = await start({ limits: { ip: 100, accountAddress: 1 } });
    const failed = await call('POST', '/auth/token', {
      body: { username: 'alice', password: 'wrong password' },
    });
    expect(failed.status).toBe(401);
    expect(failed.json.error.code).toBe('ERR_LOGIN_FAILED');
    const refused = await call('POST', '/auth/login', {
      body: { username: 'alice', password: PASSWORD },
    });
    expect(refused.status).toBe(429);
    expect(refused.json.error.code).toBe('ERR_RATE_LIMITED');
  });
});

describe('login through an upstream auth service', () => {
  async function authService(status: number, body: unknown) {
    const server = createServer((_request, response) => {
      response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    closers.push(() => new Promise((resolve) => server.close(() => resolve())));
    return new UpstreamCredentials({ url: `http://127.0.0.1:${port}/check` });
  }

  it("signs in as the user the service names, with the service's roles", async () => {
    const upstream = await authService(200, { user: { id: 'u-42', roles: ['ops'] } });
    const { call, manager } = await start({ credentials: () => upstream });
    const response = await call('POST', '/auth/login', {
      body: { username: 'anyone', password: 'their password' },
    });
    expect(response.status).toBe(200);
    expect(response.json.user).toEqual({ id: 'u-42', roles: ['ops'] });
    expect(await manager.listForUser('u-42')).toHaveLength(1);
  });

  it('answers 503 while the service fails, without using up the limits', async () => {
    const upstream = await authService(500, { error: 'down' });
    const { call } = await start({ credentials: () => upstream, limits: { ip: 1, account: 1 } });
    for (let i = 0; i < 3; i++) {
      const response = await call('POST', '/auth/login', {
        body: { username: 'alice', password: PASSWORD },
      });
      expect(response.status).toBe(503);
      expect(response.json.error.code).toBe('ERR_AUTH_UPSTREAM_UNAVAILABLE');
      expect(response.setCookie).toEqual([]);
    }
  });
});

describe('the sessions of the signed-in user', () => {
  it('lists my sessions with their device and address, marking the current one', async () => {
    const { call, login } = await start();
    const laptop = await login('alice', { ip: '203.0.113.10', userAgent: 'Laptop/1.0' });
    const phone = await login('alice', { ip: '2001:db8::7', userAgent: 'Phone/2.0' });
    await login('bob');
    const response = await call('GET', '/auth/sessions', { cookie: phone.token });
    expect(response.status).toBe(200);
    const byId = new Map(
      (response.json.sessions as { id: string }[]).map((session) => [session.id, session]),
    );
    expect(byId.size).toBe(2);
    expect(byId.get(sessionIdOf(laptop.token))).toEqual({
      id: sessionIdOf(laptop.token),
      createdAt: expect.any(String),
      lastActiveAt: expect.any(String),
      expiresAt: expect.any(String),
      ip: '203.0.113.10',
      userAgent: 'Laptop/1.0',
      current: false,
    });
    expect(byId.get(sessionIdOf(phone.token))).toMatchObject({
      ip: '2001:db8::7',
      userAgent: 'Phone/2.0',
      current: true,
    });
  });

  it('revokes one of my other sessions, with the CSRF token', async () => {
    const { call, login, manager } = await start();
    const laptop = await login();
    const phone = await login();
    const path = `/auth/sessions/${sessionIdOf(laptop.token)}`;
    const refused = await call('DELETE', path, { cookie: phone.token });
    expect(refused.status).toBe(403);
    expect(await manager.get(laptop.token)).not.toBeNull();

    const revoked = await call('DELETE', path, { cookie: phone.token, csrf: phone.csrf });
    expect(revoked.status).toBe(204);
    expect(revoked.setCookie).toEqual([]);
    expect(await manager.get(laptop.token)).toBeNull();
    expect(await manager.get(phone.token)).not.toBeNull();
  });

  it("answers someone else's session id exactly as a missing one, and their session lives", async () => {
    const { call, login, manager } = await start();
    const mine = await login('alice');
    const theirs = await login('bob');
    const other = await call('DELETE', `/auth/sessions/${sessionIdOf(theirs.token)}`, {
      cookie: mine.token,
      csrf: mine.csrf,
    });
    const missing = await call('DELETE', `/auth/sessions/${'0'.repeat(64)}`, {
      cookie: mine.token,
      csrf: mine.csrf,
    });
    expect(other.status).toBe(404);
    expect(other.json).toEqual({
      error: { code: 'ERR_SESSION_NOT_FOUND', message: 'session not found' },
    });
    expect(missing.status).toBe(other.status);
    expect(missing.json).toEqual(other.json);
    expect(await manager.get(theirs.token)).not.toBeNull();
  });

  it('revoking my current session clears my cookie', async () => {
    const { call, login, manager } = await start();
    const { token, csrf } = await login();
    const response = await call('DELETE', `/auth/sessions/${sessionIdOf(token)}`, {
      cookie: token,
      csrf,
    });
    expect(response.status).toBe(204);
    expect(response.cookie).toBe('');
    expect(await manager.get(token)).toBeNull();
  });

  it('refuses a malformed session id and a caller without a session', async () => {
    const { call, login } = await start();
    const { token, csrf } = await login();
    const malformed = await call('DELETE', '/auth/sessions/not-an-id', { cookie: token, csrf });
    expect(malformed.status).toBe(400);
    expect(malformed.json.error.code).toBe('ERR_VALIDATION');
    const anonymous = await call('DELETE', `/auth/sessions/${sessionIdOf(token)}`);
    expect(anonymous.status).toBe(401);
    expect(anonymous.json.error.code).toBe('ERR_UNAUTHORIZED');
    expect((await call('GET', '/auth/sessions')).status).toBe(401);
  });

  it('revokes all my other sessions and keeps the current one and other users', async () => {
    const { call, login, manager } = await start();
    const current = await login();
    const others = [await login(), await login()];
    const bob = await login('bob');
    const refused = await call('POST', '/auth/sessions/revoke-others', { cookie: current.token });
    expect(refused.status).toBe(403);
    expect(await manager.get(others[0]?.token as string)).not.toBeNull();

    const response = await call('POST', '/auth/sessions/revoke-others', {
      cookie: current.token,
      csrf: current.csrf,
    });
    expect(response.status).toBe(200);
    expect(response.json).toEqual({ revoked: 2 });
    for (const other of others) expect(await manager.get(other.token)).toBeNull();
    expect(await manager.get(current.token)).not.toBeNull();
    expect(await manager.get(bob.token)).not.toBeNull();
  });
});

describe('tokens for API clients', () => {
  it('issues an access token for a new session and a refresh token, without a cookie', async () => {
    const { call, manager, url } = await start();
    const response = await call('POST', '/auth/token', {
      body: { username: 'Alice', password: PASSWORD },
    });
    expect(response.status).toBe(200);
    expect(response.setCookie).toEqual([]);
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(response.json).toEqual({
      accessToken: expect.any(String),
      tokenType: 'Bearer',
      expiresIn: 300,
      refreshToken: expect.stringMatching(/^[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}$/),
    });
    const claims = decodeJwt(response.json.accessToken);
    expect(claims).toMatchObject({ sub: 'alice', scope: 'admin' });
    const [session] = await manager.listForUser('alice');
    expect(claims.sid).toBe(session?.id);

    const jwks = await call('GET', '/.well-known/jwks.json');
    expect(jwks.status).toBe(200);
    expect(jwks.headers.get('cache-control')).toBe('public, max-age=300');
    const verified = await jwtVerify(response.json.accessToken, createLocalJWKSet(jwks.json), {
      issuer: 'https://gateway.test',
      audience: 'services',
    });
    expect(verified.protectedHeader.kid).toBe(jwks.json.keys[0].kid);
    expect(url).toMatch(/^http:/);
  });

  it('answers the session of a bearer token and refuses one whose session has ended', async () => {
    const { call, tokens, manager } = await start();
    const { accessToken } = await tokens();
    const current = await call('GET', '/auth/session', { bearer: accessToken });
    expect(current.status).toBe(200);
    expect(current.json.user).toEqual({ id: 'alice', roles: ['admin'] });
    expect(current.json).not.toHaveProperty('csrfToken');

    await manager.revoke({ id: current.json.session.id });
    const ended = await call('GET', '/auth/session', { bearer: accessToken });
    expect(ended.status).toBe(401);
    expect(ended.json.error.code).toBe('ERR_UNAUTHORIZED');
  });

  it('refuses malformed and forged bearer tokens', async () => {
    const { call, tokens } = await start();
    const { accessToken } = await tokens();
    const forged = `${accessToken.slice(0, -4)}AAAA`;
    for (const [authorization, code] of [
      [`Bearer ${forged}`, 'ERR_TOKEN_INVALID'],
      ['Bearer not-a-jwt', 'ERR_TOKEN_INVALID'],
      [`Basic ${Buffer.from('alice:pw').toString('base64')}`, 'ERR_UNAUTHORIZED'],
    ] as const) {
      const response = await call('GET', '/auth/session', { headers: { authorization } });
      expect(response.status).toBe(401);
      expect(response.json.error.code).toBe(code);
    }
  });

  it('takes no cookie and needs no CSRF token, even when a session cookie is sent', async () => {
    const { call, login } = await start();
    const { token } = await login();
    const response = await call('POST', '/auth/token', {
      body: { username: 'bob', password: PASSWORD },
      cookie: token,
    });
    expect(response.status).toBe(200);
    expect(response.setCookie).toEqual([]);
  });

  it('rotates the refresh token; a rotated one used again revokes the session', async () => {
    const { call, tokens, clock, manager } = await start();
    const first = await tokens();
    const sessionId = decodeJwt(first.accessToken).sid as string;
    const refreshed = await call('POST', '/auth/refresh', {
      body: { refreshToken: first.refreshToken },
    });
    expect(refreshed.status).toBe(200);
    expect(refreshed.json).toEqual({
      accessToken: expect.any(String),
      tokenType: 'Bearer',
      expiresIn: 300,
      refreshToken: expect.any(String),
    });
    expect(refreshed.json.refreshToken).not.toBe(first.refreshToken);
    expect(decodeJwt(refreshed.json.accessToken)).toMatchObject({ sid: sessionId, sub: 'alice' });

    clock.now += 60_000;
    const reused = await call('POST', '/auth/refresh', {
      body: { refreshToken: first.refreshToken },
    });
    expect(reused.status).toBe(401);
    expect(reused.json.error.code).toBe('ERR_REFRESH_TOKEN_REUSED');
    expect(await manager.get({ id: sessionId }, { touch: false })).toBeNull();
    const next = await call('POST', '/auth/refresh', {
      body: { refreshToken: refreshed.json.refreshToken },
    });
    expect(next.status).toBe(401);
    expect(next.json.error.code).toBe('ERR_REFRESH_TOKEN_INVALID');
    const current = await call('GET', '/auth/session', { bearer: refreshed.json.accessToken });
    expect(current.status).toBe(401);
  });

  it.each([
    [
      'an unknown field',
      { body: { refreshToken: 'a.b', grant_type: 'refresh_token' } },
      'ERR_VALIDATION',
    ],
    ['a wrong type', { body: { refreshToken: 42 } }, 'ERR_VALIDATION'],
    ['malformed JSON', { raw: '{"refreshToken":' }, 'ERR_BODY_MALFORMED'],
    [
      'a malformed token',
      { body: { refreshToken: 'not-a-refresh-token' } },
      'ERR_REFRESH_TOKEN_INVALID',
    ],
  ])('refuses a refresh with %s', async (_what, init, code) => {
    const { call } = await start();
    const response = await call('POST', '/auth/refresh', init);
    expect(response.status).toBeGreaterThanOrEqual(400);
    expect(response.status).toBeLessThan(500);
    expect(response.json.error.code).toBe(code);
  });

  it('logs out with a bearer token: the session ends and the token is deny-listed', async () => {
    const { call, tokens, accessTokens, manager } = await start();
    const { accessToken } = await tokens();
    const claims = await accessTokens.verify(accessToken);
    const response = await call('POST', '/auth/logout', { bearer: accessToken });
    expect(response.status).toBe(204);
    expect(response.setCookie).toEqual([]);
    expect(await manager.get({ id: claims.sid }, { touch: false })).toBeNull();
    await expect(accessTokens.verify(accessToken)).rejects.toBeInstanceOf(TokenRevokedError);
    const after = await call('GET', '/auth/session', { bearer: accessToken });
    expect(after.status).toBe(401);
    expect(after.json.error.code).toBe('ERR_TOKEN_REVOKED');
  });

  it('lets a bearer client list and revoke its other sessions without CSRF', async () => {
    const { call, tokens, login, manager } = await start();
    const cookieSession = await login();
    const { accessToken } = await tokens();
    const listed = await call('GET', '/auth/sessions', { bearer: accessToken });
    expect(listed.json.sessions).toHaveLength(2);
    const revoked = await call('DELETE', `/auth/sessions/${sessionIdOf(cookieSession.token)}`, {
      bearer: accessToken,
    });
    expect(revoked.status).toBe(204);
    expect(await manager.get(cookieSession.token)).toBeNull();
  });
});

describe('GET /auth/session', () => {
  it('is 401 without a cookie or bearer token, and for a cookie that names no session', async () => {
    const { call } = await start();
    const anonymous = await call('GET', '/auth/session');
    expect(anonymous.status).toBe(401);
    expect(anonymous.json.error.code).toBe('ERR_UNAUTHORIZED');
    const stale = await call('GET', '/auth/session', { cookie: 'A'.repeat(43) });
    expect(stale.status).toBe(401);
  });
});
