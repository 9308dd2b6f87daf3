import { randomBytes } from 'node:crypto';
import Fastify from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { createCodec, SessionManager, type SessionValue } from '../../src/core/index.js';
import {
  createAuthenticator,
  type GatewayIdentity,
  REQUEST_ANSWERED,
} from '../../src/gateway/identity.js';
import {
  CSRF_DATA_KEY,
  HttpSessions,
  type HttpSessionsOptions,
  ROLES_DATA_KEY,
} from '../../src/http/index.js';
import { MemoryStore } from '../../src/stores/index.js';
import { AccessTokens, SigningKeys } from '../../src/tokens/index.js';

const MINUTE = 60_000;

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A real Fastify server whose one route answers with what `authenticate` made of the request. */
async function setup(options: Omit<HttpSessionsOptions, 'manager'> = {}) {
  const clock = { offset: 0 };
  const now = () => Date.now() + clock.offset;
  const manager = new SessionManager({
    store: new MemoryStore({ codec: createCodec() }),
    clock: now,
  });
  cleanups.push(() => manager.close());
  const sessions = new HttpSessions({ manager, ...options });
  const accessTokens = new AccessTokens({
    keys: await SigningKeys.generate(),
    issuer: 'gw',
    audience: 'clients',
    clock: now,
  });
  const authenticate = createAuthenticator({ sessions, accessTokens, manager });
  const app = Fastify();
  app.route({
    method: ['GET', 'POST'],
    url: '/whoami',
    handler: async (request, reply) => {
      const identity = await authenticate(request, reply);
      return identity === REQUEST_ANSWERED ? reply : { identity };
    },
  });
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  cleanups.push(() => app.close());

  /** A session as a login makes it: `roles` (when given) under the reserved key, beside `data`. */
  async function login(
    userId: string,
    { roles, ...data }: Record<string, SessionValue> = {},
    userAgent: string | null = null,
  ) {
    const csrf = randomBytes(32).toString('base64url');
    const issued = await manager.create({
      userId,
      data: {
        ...data,
        ...(roles === undefined ? {} : { [ROLES_DATA_KEY]: roles }),
        [CSRF_DATA_KEY]: csrf,
      },
      userAgent,
    });
    return { ...issued, csrf, cookie: `${sessions.cookie.name}=${issued.token}` };
  }

  async function whoami(headers: Record<string, string>, method = 'GET') {
    const response = await fetch(`${url}/whoami`, { method, headers });
    return {
      status: response.status,
      // `identity` is null when authentication failed; the tests that read its fields expect one.
      body: (await response.json()) as { identity: GatewayIdentity; error?: { code: string } },
      setCookies: response.headers.getSetCookie(),
    };
  }

  return { manager, sessions, accessTokens, clock, login, whoami };
}

describe('the gateway authenticator', () => {
  it('turns a session cookie into an identity with the roles kept in the session', async () => {
    const { login, whoami } = await setup();
    const alice = await login('alice', { roles: ['admin', 'support'], theme: 'dark' });
    expect((await whoami({ cookie: alice.cookie })).body.identity).toEqual({
      userId: 'alice',
      sessionId: alice.session.id,
      roles: ['admin', 'support'],
      scopes: [],
      via: 'session',
    });
  });

  it('grants no role from a roles key that is not a list of names', async () => {
    const { login, whoami } = await setup();
    for (const roles of ['admin', ['admin', 7], [''], { admin: true }, null]) {
      const user = await login('alice', { roles });
      const { identity } = (await whoami({ cookie: user.cookie })).body;
      expect({ roles, granted: identity.roles }).toEqual({ roles, granted: [] });
    }
  });

  it('grants no role from a plain roles key in the session data, which any service could write', async () => {
    const { manager, sessions, whoami } = await setup();
    const { token } = await manager.create({ userId: 'alice', data: { roles: ['admin'] } });
    const { identity } = (await whoami({ cookie: `${sessions.cookie.name}=${token}` })).body;
    expect(identity.roles).toEqual([]);
  });

  it("drops from a token's scopes a role the session no longer holds", async () => {
    const { login, whoami, accessTokens, manager } = await setup();
    const alice = await login('alice', { roles: ['billing', 'support'] });
    const { token } = await accessTokens.issue({
      userId: 'alice',
      sessionId: alice.session.id,
      scope: ['billing', 'support'],
    });
    await manager.patch(alice.token, [
      { op: 'replace', path: `/${ROLES_DATA_KEY}`, value: ['support'] },
    ]);
    const { identity } = (await whoami({ authorization: `Bearer ${token}` })).body;
    expect(identity).toMatchObject({ roles: ['support'], scopes: ['support'] });
  });

  it('prefers a bearer access token, with its scopes, over a cookie', async () => {
    const { login, whoami, accessTokens } = await setup();
    const alice = await login('alice', { roles: ['billing', 'invoices:read'] });
    const bob = await login('bob');
    const { token } = await accessTokens.issue({
      userId: 'alice',
      sessionId: alice.session.id,
      scope: ['invoices:read'],
    });
    const { identity } = (await whoami({ authorization: `bearer ${token}`, cookie: bob.cookie }))
      .body;
    expect(identity).toEqual({
      userId: 'alice',
      sessionId: alice.session.id,
      roles: ['billing', 'invoices:read'],
      scopes: ['invoices:read'],
      via: 'access-token',
    });
  });

  it('does not fall back to the cookie when the bearer token fails', async () => {
    const { login, whoami, accessTokens, manager } = await setup();
    const alice = await login('alice');
    const gone = await login('alice');
    const ofGone = (await accessTokens.issue({ userId: 'alice', sessionId: gone.session.id }))
      .token;
    await manager.revoke(gone.token);
    const notASession = (await accessTokens.issue({ userId: 'alice', sessionId: 'not-an-id' }))
      .token;
    const otherUser = (await accessTokens.issue({ userId: 'bob', sessionId: alice.session.id }))
      .token;
    for (const token of ['', 'garbage', `${ofGone} extra`, ofGone, notASession, otherUser]) {
      const { status, body } = await whoami({
        authorization: `Bearer ${token}`,
        cookie: alice.cookie,
      });
      expect({ token, status, identity: body.identity }).toEqual({
        token,
        status: 200,
        identity: null,
      });
    }
  });

  it('reads the cookie when the authorization header is of another scheme', async () => {
    const { login, whoami } = await setup();
    const alice = await login('alice');
    const { identity } = (await whoami({ authorization: 'Basic YTpi', cookie: alice.cookie })).body;
    expect(identity).toMatchObject({ userId: 'alice', via: 'session' });
  });

  it('answers a cookie request that fails CSRF itself, with 403', async () => {
    const { login, whoami } = await setup();
    const alice = await login('alice');
    const refused = await whoami({ cookie: alice.cookie }, 'POST');
    expect(refused).toMatchObject({ status: 403, body: { error: { code: 'ERR_CSRF' } } });
    const allowed = await whoami({ cookie: alice.cookie, 'x-csrf-token': alice.csrf }, 'POST');
    expect(allowed.body.identity).toMatchObject({ userId: 'alice' });
  });

  it('rotates a token that is due and sets the new cookie on the reply', async () => {
    const { login, whoami, clock, sessions } = await setup({ rotation: { interval: MINUTE } });
    const alice = await login('alice');
    clock.offset += 2 * MINUTE;
    const rotated = await whoami({ cookie: alice.cookie });
    expect(rotated.setCookies).toHaveLength(1);
    expect(rotated.setCookies[0]).toMatch(
      new RegExp(`^${sessions.cookie.name}=[A-Za-z0-9_-]{43};`),
    );
    expect(rotated.body.identity.sessionId).not.toBe(alice.session.id);
  });

  it('gives null, and clears the cookie, for a session revoked by its binding', async () => {
    const { login, whoami, sessions } = await setup({
      binding: { userAgent: 'revoke' },
      onBindingMismatch: () => {},
    });
    const alice = await login('alice', {}, 'alice-browser/1');
    const { manager } = sessions;
    const own = await whoami({ cookie: alice.cookie, 'user-agent': 'alice-browser/1' });
    expect(own.body.identity).toMatchObject({ userId: 'alice' });
    const stolen = await whoami({ cookie: alice.cookie, 'user-agent': 'another-browser/2' });
    expect(stolen.body.identity).toBeNull();
    expect(stolen.setCookies[0]).toMatch(new RegExp(`^${sessions.cookie.name}=;.*Max-Age=0`));
    expect(await manager.get(alice.token)).toBeNull();
  });
});
