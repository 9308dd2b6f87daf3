import { randomBytes } from 'node:crypto';
import Fastify from 'fastify';
import { expect } from 'vitest';
import { SessionManager, type SessionStore } from '../../../src/core/index.js';
import {
  type CredentialSource,
  LoginChallenges,
  registerAuthRoutes,
  UserDirectory,
} from '../../../src/gateway/auth/index.js';
import { applyApiDefaults } from '../../../src/gateway/fastify-defaults.js';
import { HttpSessions } from '../../../src/http/index.js';
import { MemoryRateLimiter, MemoryRecordStore, MemoryStore } from '../../../src/stores/index.js';
import {
  AccessTokens,
  RecordRefreshFamilyStore,
  RecordTokenDenylist,
  RefreshTokens,
  SigningKeys,
} from '../../../src/tokens/index.js';

/** Cheaper than the default cost, so that tests with many logins stay quick; the format is the same. */
export const TEST_HASHING = { ln: 12, r: 8, p: 1 };
export const PASSWORD = 'correct horse battery staple';

export interface AuthAppOptions {
  store?: SessionStore;
  /** Wraps the user directory, e.g. to count the checks that reached it. */
  credentials?: (directory: UserDirectory) => CredentialSource;
  /** Failed logins per address, per account and address, per account (the ceiling); successes per account. */
  limits?: { ip?: number; accountAddress?: number; account?: number; success?: number };
  /** Zero bits of the proof of work past the ceiling; small, so that tests solve it at once. */
  difficulty?: number;
}

export type AuthApp = Awaited<ReturnType<typeof startAuthApp>>;

/**
 * The auth routes on a real listening Fastify app, with real sessions,
 * tokens and limiters over one injected clock. The session cookie keeps its
 * secure defaults (`__Host-cs_session`); tests send it back by hand.
 * `trustProxy` lets a test choose its client address with X-Forwarded-For.
 */
export async function startAuthApp(options: AuthAppOptions = {}) {
  const clock = { now: Date.now() };
  const now = () => clock.now;
  const manager = new SessionManager({ store: options.store ?? new MemoryStore(), clock: now });
  const directory = new UserDirectory({
    store: new MemoryRecordStore(),
    hashing: TEST_HASHING,
    clock: now,
  });
  await directory.add({ username: 'Alice', password: PASSWORD, roles: ['admin'] });
  await directory.add({ username: 'bob', password: PASSWORD });
  const signingKeys = await SigningKeys.generate({ clock: now });
  const accessTokens = new AccessTokens({
    keys: signingKeys,
    issuer: 'https://gateway.test',
    audience: 'services',
    denylist: new RecordTokenDenylist(new MemoryRecordStore()),
    clock: now,
  });
  const refreshTokens = new RefreshTokens({
    store: new RecordRefreshFamilyStore(new MemoryRecordStore()),
    manager,
    secret: randomBytes(32),
    clock: now,
  });
  const window = { windowMs: 15 * 60_000, clock: now };
  const loginLimiter = {
    ip: new MemoryRateLimiter({ limit: options.limits?.ip ?? 20, ...window }),
    accountAddress: new MemoryRateLimiter({
      limit: options.limits?.accountAddress ?? 5,
      ...window,
    }),
    account: new MemoryRateLimiter({ limit: options.limits?.account ?? 20, ...window }),
    success: new MemoryRateLimiter({ limit: options.limits?.success ?? 30, ...window }),
  };
  const loginChallenges = new LoginChallenges({
    secret: randomBytes(32),
    difficulty: options.difficulty ?? 8,
    ttl: 5 * 60_000,
    uses: new MemoryRateLimiter({ limit: 1, windowMs: 5 * 60_000, clock: now }),
    clock: now,
  });

  const app = Fastify({ trustProxy: true });
  applyApiDefaults(app);
  registerAuthRoutes(app, {
    sessions: new HttpSessions({ manager }),
    manager,
    credentials: options.credentials?.(directory) ?? directory,
    accessTokens,
    refreshTokens,
    signingKeys,
    loginLimiter,
    loginChallenges,
  });
  const url = await app.listen({ port: 0, host: '127.0.0.1' });

  /** One request; `cookie` is a session token sent as the session cookie, `ip` the client address. */
  const call = async (
    method: string,
    path: string,
    init: {
      body?: unknown;
      raw?: string;
      cookie?: string;
      csrf?: string;
      bearer?: string;
      ip?: string;
      headers?: Record<string, string>;
    } = {},
  ) => {
    const headers: Record<string, string> = {
      'x-forwarded-for': init.ip ?? '198.51.100.1',
      ...init.headers,
    };
    if (init.cookie !== undefined) headers.cookie = `__Host-cs_session=${init.cookie}`;
    if (init.csrf !== undefined) headers['x-csrf-token'] = init.csrf;
    if (init.bearer !== undefined) headers.authorization = `Bearer ${init.bearer}`;
    let body = init.raw;
    if (init.body !== undefined) body = JSON.stringify(init.body);
    if (body !== undefined) headers['content-type'] ??= 'application/json';
    const response = await fetch(`${url}${path}`, { method, headers, body });
    const text = await response.text();
    const setCookie = response.headers.getSetCookie();
    return {
      status: response.status,
      headers: response.headers,
      setCookie,
      /** The session token a Set-Cookie carried; '' for a cleared cookie, null for none. */
      cookie: /^__Host-cs_session=([^;]*)/.exec(setCookie[0] ?? '')?.[1] ?? null,
      // biome-ignore lint/suspicious/noExplicitAny: response bodies are checked field by field
      json: (text ? JSON.parse(text) : undefined) as any,
    };
  };

  /** Signs in through the API; the session token and CSRF token of the new session. */
  const login = async (username = 'alice', init: { ip?: string; userAgent?: string } = {}) => {
    const response = await call('POST', '/auth/login', {
      body: { username, password: PASSWORD },
      ip: init.ip,
      headers: init.userAgent ? { 'user-agent': init.userAgent } : {},
    });
    expect(response.status).toBe(200);
    return { token: response.cookie as string, csrf: response.json.csrfToken as string };
  };

  /** Tokens for an API client. */
  const tokens = async (username = 'alice') => {
    const response = await call('POST', '/auth/token', { body: { username, password: PASSWORD } });
    expect(response.status).toBe(200);
    return response.json as {
      accessToken: string;
      tokenType: 'Bearer';
      expiresIn: number;
      refreshToken: string;
    };
  };

  return {
    app,
    url,
    clock,
    manager,
    directory,
    accessTokens,
    signingKeys,
    call,
    login,
    tokens,
    close: () => app.close(),
  };
}
