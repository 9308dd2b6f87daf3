import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createCodec,
  ForbiddenPathError,
  type PatchOperation,
  PatchTargetError,
  type Session,
  SessionManager,
  SessionNotFoundError,
  type UpdateOptions,
} from '../../src/core/index.js';
import {
  type BindingMismatch,
  CSRF_DATA_KEY,
  csrfTokenMatches,
  HttpSessions,
  type HttpSessionsOptions,
  maskCsrfToken,
  ROLES_DATA_KEY,
} from '../../src/http/index.js';
import { MemoryStore } from '../../src/stores/index.js';

/** A real MemoryStore that also counts what reaches it. */
class CountingStore extends MemoryStore {
  gets = 0;
  updates: PatchOperation[][] = [];

  override async get(id: string, now: number): Promise<Session | null> {
    this.gets++;
    return super.get(id, now);
  }

  override async update(id: string, ops: readonly PatchOperation[], options: UpdateOptions) {
    this.updates.push([...ops]);
    return super.update(id, ops, options);
  }
}

const managers: SessionManager[] = [];
afterEach(async () => {
  await Promise.all(managers.splice(0).map((manager) => manager.close()));
});

function setup(options: Omit<HttpSessionsOptions, 'manager'> = {}) {
  const store = new CountingStore({ codec: createCodec() });
  const manager = new SessionManager({ store });
  managers.push(manager);
  const sessions = new HttpSessions({ manager, ...options });
  const name = sessions.cookie.name;
  const request = (token: string | null, extra: Record<string, string> = {}, ip = '203.0.113.9') =>
    sessions.begin({
      method: extra[':method'] ?? 'GET',
      headers: { ...(token ? { cookie: `${name}=${token}` } : {}), 'user-agent': 'ua/1', ...extra },
      ip,
    });
  async function login(userId = 'alice') {
    const exchange = await request(null, { ':method': 'POST' });
    await exchange.session.login(userId, { cart: [] });
    const cookie = exchange.setCookies()[0] as string;
    return cookie.slice(cookie.indexOf('=') + 1, cookie.indexOf(';'));
  }
  return { store, manager, sessions, request, login };
}

describe('HttpSessions', () => {
  it('treats a token that is not well-formed as no session without touching the store', async () => {
    const { store, request } = setup();
    for (const token of ['short', `${'A'.repeat(43)}=`, 'A'.repeat(44), '%00'.repeat(15)]) {
      const exchange = await request(token);
      expect(exchange.session.userId).toBeNull();
    }
    expect(store.gets).toBe(0);
  });

  it('writes the changes of one request as one patch, at commit, and nothing before', async () => {
    const { store, request, login } = setup();
    const token = await login();
    const exchange = await request(token);
    exchange.session.set('theme', 'dark');
    exchange.session.patch([{ op: 'add', path: '/cart/-', value: 'book' }]);
    exchange.session.patch([{ op: 'increment', path: '/visits', value: 1 }]);
    expect(exchange.session.get()).toEqual({ cart: ['book'], theme: 'dark', visits: 1 });
    expect(store.updates).toEqual([]);
    await exchange.commit(200);
    expect(store.updates).toEqual([
      [
        { op: 'add', path: '/theme', value: 'dark' },
        { op: 'add', path: '/cart/-', value: 'book' },
        { op: 'increment', path: '/visits', value: 1 },
      ],
    ]);
    await exchange.commit(200);
    expect(store.updates).toHaveLength(1);
  });

  it('keeps the changes of two overlapping requests of one user, since neither rewrites the record', async () => {
    const { manager, request, login } = setup();
    const token = await login();
    const first = await request(token);
    const second = await request(token);
    first.session.set('a', 1);
    second.session.set('b', 2);
    await second.commit();
    await first.commit();
    expect((await manager.get(token))?.data).toEqual({
      cart: [],
      a: 1,
      b: 2,
      [CSRF_DATA_KEY]: expect.any(String),
    });
  });

  it('skips the write when the response is a server error', async () => {
    const { store, request, login } = setup();
    const token = await login();
    const exchange = await request(token);
    exchange.session.set('half', 'done');
    await exchange.commit(500);
    expect(store.updates).toEqual([]);
  });

  it('fails a patch that cannot apply inside the handler, queueing nothing', async () => {
    const { store, request, login } = setup();
    const exchange = await request(await login());
    expect(() => exchange.session.patch([{ op: 'add', path: '/missing/x', value: 1 }])).toThrow(
      PatchTargetError,
    );
    expect(() => exchange.session.set('__proto__', 1)).toThrow();
    await exchange.commit();
    expect(store.updates).toEqual([]);
  });

  it('refuses to change or regenerate when the request has no session', async () => {
    const { request } = setup();
    const { session } = await request(null);
    expect(() => session.set('a', 1)).toThrow(SessionNotFoundError);
    await expect(session.regenerate()).rejects.toThrow(SessionNotFoundError);
    expect(session.get()).toEqual({});
    expect(session.csrfToken).toBeNull();
  });

  it('shows when the session began, was last active (this request counting) and ends, and null without one', async () => {
    const { manager, request, login } = setup();
    const alice = await login('alice');
    const stored = (await manager.get(alice, { touch: false })) as Session;
    const { times } = (await request(alice)).session;
    expect(times?.createdAt).toBe(stored.createdAt);
    expect(times?.lastActiveAt).toBeGreaterThanOrEqual(stored.lastActiveAt);
    expect(times?.expiresAt).toBe(Math.min(stored.absoluteExpiresAt, times?.expiresAt ?? 0));
    expect(times?.expiresAt).toBeGreaterThan(Date.now());
    expect((await request(null)).session.times).toBeNull();
  });

  it('never shows the same pad twice across a thousand masks, past the refill of its random block', async () => {
    const { manager, login } = setup();
    const stored = (await manager.get(await login('alice'))) as Session;
    const secret = stored.data[CSRF_DATA_KEY] as string;
    const pads = new Set<string>();
    for (let i = 0; i < 1000; i++) {
      const masked = Buffer.from(maskCsrfToken(secret), 'base64url');
      pads.add(masked.subarray(0, 32).toString('hex'));
    }
    expect(pads.size).toBe(1000);
  });

  it('gives each session its own CSRF secret, masked anew per request, and a new one on regeneration', async () => {
    const { request, login } = setup();
    const alice = await login('alice');
    const bob = await login('bob');
    const a1 = (await request(alice)).session;
    const a2 = (await request(alice)).session;
    const b = (await request(bob)).session;
    expect(a1.csrfToken).toMatch(/^[A-Za-z0-9_-]{86}$/);
    expect(a1.csrfToken).toBe(a1.csrfToken);
    expect(a1.csrfToken).not.toBe(a2.csrfToken);
    const post = (token: string, csrf: string | null) =>
      request(token, { ':method': 'POST', 'x-csrf-token': csrf as string });
    expect((await post(alice, a1.csrfToken)).refused).toBeNull();
    expect((await post(alice, a2.csrfToken)).refused).toBeNull();
    expect((await post(alice, b.csrfToken)).refused?.status).toBe(403);
    const before = a1.csrfToken as string;
    const promoted = await request(alice);
    await promoted.session.regenerate();
    await promoted.commit();
    const fresh = (promoted.setCookies()[0] as string).split(';')[0]?.split('=')[1] as string;
    expect((await post(fresh, before)).refused?.status).toBe(403);
    expect((await post(fresh, promoted.session.csrfToken)).refused).toBeNull();
  });

  it('accepts the stored form of the secret and refuses near misses of the masked one', () => {
    const secret = newCsrfSecretForTest();
    const masked = maskCsrfToken(secret);
    expect(csrfTokenMatches(masked, secret)).toBe(true);
    expect(csrfTokenMatches(secret, secret)).toBe(true);
    const flipped = Buffer.from(masked, 'base64url');
    flipped[40] = (flipped[40] as number) ^ 1;
    for (const wrong of [
      flipped.toString('base64url'),
      masked.slice(0, -1),
      `${masked}A`,
      `${masked.slice(0, 85)}=`,
      maskCsrfToken(newCsrfSecretForTest()),
      '',
      'x'.repeat(86),
    ]) {
      expect(csrfTokenMatches(wrong, secret), wrong).toBe(false);
    }
  });

  it('keeps the CSRF token in the session, hidden from get() and out of reach of patches', async () => {
    const { request, login, manager } = setup();
    const token = await login();
    const { session, commit } = await request(token);
    expect(session.get()).toEqual({ cart: [] });
    expect(session.get(CSRF_DATA_KEY)).toBeUndefined();
    const secret = (await manager.get(token))?.data[CSRF_DATA_KEY] as string;
    expect(csrfTokenMatches(session.csrfToken as string, secret)).toBe(true);
    for (const op of [
      { op: 'replace', path: `/${CSRF_DATA_KEY}`, value: 'mine' },
      { op: 'remove', path: `/${CSRF_DATA_KEY}` },
      { op: 'copy', from: `/${CSRF_DATA_KEY}`, path: '/leak' },
      { op: 'test', path: '', value: { cart: [] } },
    ] as PatchOperation[]) {
      expect(() => session.patch([op])).toThrow(ForbiddenPathError);
    }
    session.patch([{ op: 'replace', path: '', value: { fresh: true } }]);
    expect(session.get()).toEqual({ fresh: true });
    await commit();
    const stored = await manager.get(token);
    expect(stored?.data).toEqual({ fresh: true, [CSRF_DATA_KEY]: secret });
  });

  it('keeps the roles granted at login out of get() and out of reach of every patch', async () => {
    const { request, manager } = setup();
    const exchange = await request(null, { ':method': 'POST' });
    await exchange.session.login('alice', { cart: [] }, { roles: ['viewer'] });
    const cookie = exchange.setCookies()[0] as string;
    const token = cookie.slice(cookie.indexOf('=') + 1, cookie.indexOf(';'));
    const { session, commit } = await request(token);
    expect(session.roles).toEqual(['viewer']);
    expect(session.get()).toEqual({ cart: [] });
    for (const op of [
      { op: 'add', path: `/${ROLES_DATA_KEY}`, value: ['admin'] },
      { op: 'replace', path: `/${ROLES_DATA_KEY}/0`, value: 'admin' },
      { op: 'remove', path: `/${ROLES_DATA_KEY}` },
      { op: 'add', path: '/__clawsession_anything', value: 1 },
      { op: 'move', from: '/cart', path: `/${ROLES_DATA_KEY}` },
      { op: 'copy', from: '/cart', path: '' },
      { op: 'move', from: '/cart', path: '' },
      { op: 'replace', path: '', value: { [ROLES_DATA_KEY]: ['admin'] } },
      { op: 'test', path: `/${ROLES_DATA_KEY}`, value: ['viewer'] },
    ] as PatchOperation[]) {
      expect(() => session.patch([op]), JSON.stringify(op)).toThrow(ForbiddenPathError);
    }
    expect(() => session.set(ROLES_DATA_KEY, ['admin'])).toThrow(ForbiddenPathError);
    session.patch([{ op: 'replace', path: '', value: { roles: ['admin'] } }]);
    await commit();
    const stored = await manager.get(token);
    expect(stored?.data).toMatchObject({ roles: ['admin'], [ROLES_DATA_KEY]: ['viewer'] });
    expect((await request(token)).session.roles).toEqual(['viewer']);
    const other = await request(null, { ':method': 'POST' });
    await expect(
      other.session.login('bob', { [ROLES_DATA_KEY]: ['admin'] }),
    ).rejects.toBeInstanceOf(ForbiddenPathError);
  });

  it('derives a CSRF token for a session created through the API, stores it, and keeps it on rotation', async () => {
    const { request, manager, store } = setup();
    const { token } = await manager.create({ userId: 'svc-user', data: { a: 1 } });
    const [one, two] = await Promise.all([request(token), request(token)]);
    await one.commit();
    const secret = store.updates[0]?.[0] as { value: string };
    expect(store.updates).toEqual([
      [{ op: 'add', path: `/${CSRF_DATA_KEY}`, value: expect.stringMatching(/^[\w-]{43}$/) }],
    ]);
    // Concurrent first requests derive the same secret.
    expect(csrfTokenMatches(one.session.csrfToken as string, secret.value)).toBe(true);
    expect(csrfTokenMatches(two.session.csrfToken as string, secret.value)).toBe(true);
    const rotated = await manager.rotate(token, { grace: 0 });
    const after = await request(rotated.token);
    expect(csrfTokenMatches(after.session.csrfToken as string, secret.value)).toBe(true);
    await after.commit();
    expect(store.updates).toHaveLength(1);
  });

  it('accepts unsafe requests from a trusted origin and refuses other cross-site ones', async () => {
    const { request, login } = setup({ csrf: { trustedOrigins: ['https://app.example'] } });
    const token = await login();
    const { session } = await request(token);
    const unsafe = {
      ':method': 'POST',
      'x-csrf-token': session.csrfToken as string,
      host: 'api.example',
    };
    const trusted = await request(token, {
      ...unsafe,
      origin: 'https://app.example',
      'sec-fetch-site': 'same-site',
    });
    expect(trusted.refused).toBeNull();
    const own = await request(token, { ...unsafe, origin: 'https://api.example' });
    expect(own.refused).toBeNull();
    const plainHttp = await request(token, { ...unsafe, origin: 'http://api.example' });
    expect(plainHttp.refused?.status).toBe(403);
    const sibling = await request(token, { ...unsafe, origin: 'https://evil.example' });
    expect(sibling.refused?.body.error.code).toBe('ERR_CSRF');
  });

  it('accepts a same-origin http page on loopback, as browsers treat loopback as secure', async () => {
    const { request, login } = setup();
    const token = await login();
    const { session } = await request(token);
    const post = (host: string, origin: string) =>
      request(token, {
        ':method': 'POST',
        'x-csrf-token': session.csrfToken as string,
        host,
        origin,
      });
    for (const host of ['127.0.0.1:8080', 'localhost:8080', '[::1]:8080', 'app.localhost:8080']) {
      expect((await post(host, `http://${host}`)).refused, host).toBeNull();
    }
    const refused: [string, string][] = [
      ['127.0.0.1:8080', 'http://127.0.0.1:9090'],
      ['127.0.0.1:8080', 'http://localhost:8080'],
      ['api.example', 'http://api.example'],
      ['localhost.evil.example:8080', 'http://localhost.evil.example:8080'],
      ['127.0.0.1.evil.example', 'http://127.0.0.1.evil.example'],
    ];
    for (const [host, origin] of refused) {
      expect((await post(host, origin)).refused?.status, origin).toBe(403);
    }
  });

  it("revokes under an IP 'revoke' policy when the address leaves the /24, and keeps it inside", async () => {
    const reports: BindingMismatch[] = [];
    const { manager, request, login } = setup({
      binding: { ip: 'revoke' },
      onBindingMismatch: (mismatch) => reports.push(mismatch),
    });
    const token = await login();
    expect((await request(token, {}, '203.0.113.77')).session.userId).toBe('alice');
    expect((await request(token, {}, '::ffff:203.0.113.8')).session.userId).toBe('alice');
    expect(reports).toEqual([]);
    const moved = await request(token, {}, '198.51.100.1');
    expect(moved.session.userId).toBeNull();
    expect(moved.setCookies()[0]).toMatch(/Max-Age=0/);
    expect(await manager.get(token)).toBeNull();
    expect(reports).toMatchObject([{ field: 'ip', actual: '198.51.100.1', action: 'revoke' }]);
  });

  it('revokes the session a request carried when it logs in', async () => {
    const { manager, request, login } = setup();
    const old = await login('alice');
    const exchange = await request(old);
    await exchange.session.login('bob');
    expect(await manager.get(old)).toBeNull();
    expect(exchange.session.userId).toBe('bob');
  });
});

describe('HttpSessions rotation', () => {
  it('refuses a rotation without a positive integer interval or with a negative grace', () => {
    const manager = new SessionManager({ store: new MemoryStore() });
    managers.push(manager);
    for (const rotation of [{ interval: 0 }, { interval: 1.5 }, { interval: 10, grace: -1 }]) {
      expect(() => new HttpSessions({ manager, rotation })).toThrow(/rotation needs/);
    }
  });

  it('does not rotate a due request that the CSRF check refused', async () => {
    let now = Date.UTC(2026, 0, 1);
    const manager = new SessionManager({ store: new MemoryStore(), clock: () => now });
    managers.push(manager);
    const sessions = new HttpSessions({ manager, rotation: { interval: 60_000 } });
    const name = sessions.cookie.name;
    const login = await sessions.begin({ method: 'GET', headers: {} });
    await login.session.login('alice');
    const cookie = login.setCookies()[0] as string;
    const token = cookie.slice(cookie.indexOf('=') + 1, cookie.indexOf(';'));
    now += 60_000;
    const refused = await sessions.begin({
      method: 'POST',
      headers: { cookie: `${name}=${token}`, 'x-csrf-token': 'wrong' },
    });
    expect(refused.refused?.status).toBe(403);
    expect(refused.setCookies()).toEqual([]);
    const due = await sessions.begin({ method: 'GET', headers: { cookie: `${name}=${token}` } });
    expect(due.setCookies()).toHaveLength(1);
    expect(due.session.userId).toBe('alice');
  });
});

function newCsrfSecretForTest(): string {
  return randomBytes(32).toString('base64url');
}
