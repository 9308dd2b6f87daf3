import { createHmac } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setImmediate } from 'node:timers/promises';
import { promisify } from 'node:util';
import { RedisStore as ConnectRedisStore } from 'connect-redis';
import express, { type NextFunction, type Request, type Response } from 'express';
import session from 'express-session';
import { createClient } from 'redis';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  type PatchOperation,
  SessionManager,
  type SessionManagerOptions,
  type SessionRef,
  type SessionStore,
} from '../../src/core/index.js';
import { ClawsessionStore, genid } from '../../src/http/express-session.js';
import { MemoryStore, openStore } from '../../src/stores/index.js';
import { dropKeys, freshPrefix, REDIS_URL } from '../stores/fixtures/redis.js';
import { countingStore } from '../support/counting-store.js';

const SECRET = 'a test secret of no importance';
const COOKIE = 'sid';
const CONCURRENT = 200;

/** What the test app keeps in its sessions. */
interface AppSession {
  userId?: string;
  cart?: string[];
  prefs?: { theme: string; lang: string };
  flash?: string;
  [key: string]: unknown;
}

/** The fields the test app's routes answer with. */
interface Body {
  userId: string | null;
  cart: string[];
  prefs: { theme: string; lang: string } | null;
  flash: string | null;
  error: { code: string; message: string };
}

/** A real manager that also remembers every patch it was asked to apply. */
class RecordingManager extends SessionManager {
  readonly patches: PatchOperation[][] = [];

  constructor(options: SessionManagerOptions) {
    super(options);
  }

  override async patch(
    ref: SessionRef,
    ops: unknown,
    options?: { expectedVersion?: number },
  ): ReturnType<SessionManager['patch']> {
    this.patches.push(ops as PatchOperation[]);
    return super.patch(ref, ops, options);
  }
}

/** The kind of Express app that runs express-session today. */
function appOver(store: session.Store, options: { genid?: () => string } = {}) {
  const app = express();
  app.use(express.json());
  app.use(
    session({
      store,
      genid: options.genid,
      name: COOKIE,
      secret: SECRET,
      resave: false,
      saveUninitialized: false,
      cookie: { maxAge: 60 * 60_000, sameSite: 'lax' },
    }),
  );
  const data = (req: Request) => req.session as unknown as AppSession;
  const save = (req: Request, res: Response, next: NextFunction) =>
    req.session.save((error) => (error ? next(error) : res.json({ ok: true })));

  app.post('/login', (req, res, next) => {
    req.session.regenerate((error) => {
      if (error) return next(error);
      Object.assign(data(req), {
        userId: req.body.user,
        cart: [],
        prefs: { theme: 'light', lang: 'en' },
      });
      save(req, res, next);
    });
  });
  app.get('/me', (req, res) => {
    const { userId = null, cart = [], prefs = null, flash = null } = data(req);
    res.json({ userId, cart, prefs, flash });
  });
  // Saved by express-session as the response ends, as most apps leave it.
  app.post('/cart', async (req, res) => {
    await setImmediate(); // the handler's own I/O, a price look-up say
    const session = data(req);
    session.cart ??= [];
    session.cart.push(String(req.query.item));
    res.json({ items: session.cart.length });
  });
  app.post('/set', (req, res, next) => {
    data(req)[req.body.key] = req.body.value;
    save(req, res, next);
  });
  app.post('/theme', (req, res, next) => {
    const { prefs } = data(req);
    if (prefs) prefs.theme = req.body.theme;
    save(req, res, next);
  });
  app.delete('/flash', (req, res, next) => {
    delete data(req).flash;
    save(req, res, next);
  });
  app.post('/regenerate', (req, res, next) => {
    const { userId } = data(req);
    req.session.regenerate((error) => {
      if (error) return next(error);
      data(req).userId = userId;
      save(req, res, next);
    });
  });
  app.post('/logout', (req, res, next) => {
    req.session.destroy((error) => (error ? next(error) : res.json({ ok: true })));
  });
  app.use(
    (
      error: { code?: string; message: string },
      _req: Request,
      res: Response,
      _next: NextFunction,
    ) => {
      res
        .status(500)
        .json({ error: { code: error.code ?? 'ERR_INTERNAL', message: error.message } });
    },
  );
  return app;
}

async function listen(app: express.Express): Promise<{ url: string; server: Server }> {
  const server = createServer(app).listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

async function close(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
}

/** A browser with one cookie: sends it, and keeps the one the server sets. */
class Browser {
  cookie: string | undefined;

  constructor(readonly url: string) {}

  async send(
    method: string,
    path: string,
    body?: unknown,
  ): Promise<{ status: number; json: Body }> {
    const headers: Record<string, string> = {};
    if (this.cookie) headers.cookie = this.cookie;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const response = await fetch(this.url + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const set = response.headers.getSetCookie().find((line) => line.startsWith(`${COOKIE}=`));
    if (set) this.cookie = set.split(';')[0];
    return { status: response.status, json: (await response.json()) as Body };
  }

  /** The session id inside the signed cookie. */
  get sid(): string {
    const value = decodeURIComponent((this.cookie ?? '').slice(COOKIE.length + 1));
    return value.slice(2, value.lastIndexOf('.'));
  }

  /** A cookie signed with the app's secret, as express-session signs them. */
  signed(sid: string): string {
    const signature = createHmac('sha256', SECRET).update(sid).digest('base64').replace(/=+$/, '');
    return `${COOKIE}=${encodeURIComponent(`s:${sid}.${signature}`)}`;
  }
}

/**
 * The scenario of issue 4: CONCURRENT requests of one browser, each appending
 * one item to the cart, sent at once. A first round opens the connections,
 * so that the second reaches the server as one burst rather than at the pace
 * of TCP handshakes. Returns the cart as the next request reads it.
 */
async function appendConcurrently(browser: Browser): Promise<string[]> {
  const all = (path: (index: number) => string, method: string) =>
    Promise.all(
      Array.from({ length: CONCURRENT }, (_, index) => browser.send(method, path(index))),
    );
  await all(() => '/me', 'GET');
  const responses = await all((index) => `/cart?item=sku-${index}`, 'POST');
  expect(responses.map((response) => response.status)).toEqual(responses.map(() => 200));
  return (await browser.send('GET', '/me')).json.cart;
}

const backends: [string, () => Promise<{ store: SessionStore; cleanup: () => Promise<void> }>][] = [
  [
    'SqliteStore',
    async () => ({ store: await openStore('sqlite::memory:'), cleanup: async () => {} }),
  ],
  [
    'RedisStore',
    async () => {
      const prefix = freshPrefix();
      return {
        store: await openStore(`${REDIS_URL}?prefix=${encodeURIComponent(prefix)}`),
        cleanup: () => dropKeys(REDIS_URL, prefix),
      };
    },
  ],
];

describe.each(backends)('ClawsessionStore over %s behind express-session', (_name, open) => {
  let manager: RecordingManager;
  let url: string;
  let server: Server;
  let cleanup: () => Promise<void>;
  let calls: Record<string, number>;

  beforeEach(async () => {
    const opened = await open();
    cleanup = opened.cleanup;
    const counted = countingStore(opened.store);
    calls = counted.calls;
    manager = new RecordingManager({ store: counted.store });
    ({ url, server } = await listen(appOver(new ClawsessionStore({ manager }), { genid })));
  });

  afterEach(async () => {
    await close(server);
    await manager.close();
    await cleanup();
  });

  async function loggedIn(user = 'alice'): Promise<Browser> {
    const browser = new Browser(url);
    expect((await browser.send('POST', '/login', { user })).status).toBe(200);
    return browser;
  }

  it(`keeps all ${CONCURRENT} items when ${CONCURRENT} concurrent requests of one user each append one`, async () => {
    const cart = await appendConcurrently(await loggedIn());
    console.log(
      `ClawsessionStore over ${_name}: ${cart.length} of ${CONCURRENT} concurrent appends kept`,
    );
    expect(new Set(cart)).toEqual(
      new Set(Array.from({ length: CONCURRENT }, (_, i) => `sku-${i}`)),
    );
    expect(manager.patches.filter((ops) => ops.length !== 1 || ops[0]?.path !== '/cart/-')).toEqual(
      [],
    );
  });

  it('makes the session id the clawsession token, under the user who logged in', async () => {
    const browser = await loggedIn('alice');
    const record = await manager.get(browser.sid, { touch: false });
    expect(record).toMatchObject({ userId: 'alice', data: { userId: 'alice', cart: [] } });
    expect(record?.ip).toBe('127.0.0.1');
    // The cookie's settings are kept for express-session; its expiry, which moves on every response, is not.
    expect(record?.data.cookie).toMatchObject({
      originalMaxAge: 3_600_000,
      httpOnly: true,
      path: '/',
    });
    expect(record?.data.cookie).not.toHaveProperty('expires');
    expect((await manager.listForUser('alice')).map((s) => s.id)).toEqual([record?.id]);
  });

  it('reads back on the next request what a request stored', async () => {
    const browser = await loggedIn('alice');
    await browser.send('POST', '/cart?item=sku-1');
    expect((await browser.send('GET', '/me')).json).toEqual({
      userId: 'alice',
      cart: ['sku-1'],
      prefs: { theme: 'light', lang: 'en' },
      flash: null,
    });
  });

  it('ends the session on logout', async () => {
    const browser = await loggedIn();
    const sid = browser.sid;
    await browser.send('POST', '/logout');
    expect(await manager.get(sid)).toBeNull();
    expect((await browser.send('GET', '/me')).json.userId).toBeNull();
  });

  it('gives a new session id on regenerate and the old cookie is dead', async () => {
    const browser = await loggedIn('alice');
    const old = browser.cookie;
    const oldSid = browser.sid;
    await browser.send('POST', '/regenerate');
    expect(browser.cookie).not.toBe(old);
    expect(await manager.get(oldSid)).toBeNull();
    expect((await browser.send('GET', '/me')).json.userId).toBe('alice');
    const replay = new Browser(url);
    replay.cookie = old;
    expect((await replay.send('GET', '/me')).json).toMatchObject({ userId: null, cart: [] });
  });

  it('writes the removal of a key as a remove op', async () => {
    const browser = await loggedIn();
    await browser.send('POST', '/set', { key: 'flash', value: 'saved' });
    await browser.send('DELETE', '/flash');
    expect(manager.patches.at(-1)).toEqual([{ op: 'remove', path: '/flash' }]);
    expect((await browser.send('GET', '/me')).json.flash).toBeNull();
  });

  it('writes a nested change at its nested path', async () => {
    const browser = await loggedIn();
    await browser.send('POST', '/theme', { theme: 'dark' });
    expect(manager.patches).toEqual([[{ op: 'replace', path: '/prefs/theme', value: 'dark' }]]);
    expect((await browser.send('GET', '/me')).json.prefs).toEqual({ theme: 'dark', lang: 'en' });
  });

  it('gives a new session, never a 500, for bad, foreign or unknown session cookies', async () => {
    const cookies = [
      `${COOKIE}=garbage`,
      `${COOKIE}=${encodeURIComponent('s:forged.signature')}`,
      // A cookie left over from the store used before the switch: signed, but not a token.
      new Browser(url).signed('kX3q8Yl0m7ZCk1xv0tS2rL6m9P4bQWwE'),
      // Token-shaped and signed, but no such session.
      new Browser(url).signed(genid()),
      `${COOKIE}=${'x'.repeat(4000)}`,
    ];
    for (const cookie of cookies) {
      const browser = new Browser(url);
      browser.cookie = cookie;
      expect((await browser.send('GET', '/me')).status).toBe(200);
      expect((await browser.send('POST', '/cart?item=a')).status).toBe(200);
      expect(browser.cookie).not.toBe(cookie);
      expect((await manager.get(browser.sid, { touch: false }))?.data.cart).toEqual(['a']);
    }
  });

  it('refuses, writing nothing, a login that keeps the session id of a saved anonymous session', async () => {
    const browser = new Browser(url);
    await browser.send('POST', '/cart?item=a');
    expect((await manager.get(browser.sid, { touch: false }))?.userId).toBe('anonymous');
    const { status, json } = await browser.send('POST', '/set', {
      key: 'userId',
      value: 'mallory',
    });
    expect(status).toBe(500);
    expect(json.error.code).toBe('ERR_SESSION_USER_CHANGED');
    expect(await manager.get(browser.sid, { touch: false })).toMatchObject({
      userId: 'anonymous',
      data: { cart: ['a'] },
      version: 1,
    });
  });

  it('keeps the user of a session whose data drops it on logout', async () => {
    const browser = await loggedIn('alice');
    expect((await browser.send('POST', '/set', { key: 'userId', value: null })).status).toBe(200);
    expect(await manager.get(browser.sid, { touch: false })).toMatchObject({
      userId: 'alice',
      data: { userId: null },
    });
  });

  it('lets two concurrent requests remove the same key', async () => {
    const browser = await loggedIn();
    await browser.send('POST', '/set', { key: 'flash', value: 'saved' });
    const responses = await Promise.all([
      browser.send('DELETE', '/flash'),
      browser.send('DELETE', '/flash'),
    ]);
    expect(responses.map((response) => response.status)).toEqual([200, 200]);
    expect((await manager.get(browser.sid, { touch: false }))?.data).not.toHaveProperty('flash');
  });

  it('writes nothing for requests that change nothing', async () => {
    const browser = await loggedIn();
    const writes = () => (calls.update ?? 0) + (calls.touch ?? 0) + (calls.create ?? 0);
    const before = writes();
    for (let i = 0; i < 3; i++) await browser.send('GET', '/me');
    expect(writes()).toBe(before);
  });

  it('gives a typed error when express-session makes ids without genid', async () => {
    const misused = await listen(appOver(new ClawsessionStore({ manager })));
    try {
      const { status, json } = await new Browser(misused.url).send('POST', '/set', {
        key: 'a',
        value: 1,
      });
      expect(status).toBe(500);
      expect(json.error.code).toBe('ERR_SESSION_TOKEN_INVALID');
      expect(json.error.message).toMatch(/genid/);
    } finally {
      await close(misused.server);
    }
  });
});

describe('connect-redis 9 behind express-session, the same scenario', () => {
  const prefix = `${freshPrefix()}sess:`;
  const client = createClient({ url: REDIS_URL });

  afterAll(async () => {
    await client.close();
    await dropKeys(REDIS_URL, prefix);
  });

  it(`loses some of ${CONCURRENT} concurrent appends of one user`, async () => {
    await client.connect();
    const { url, server } = await listen(appOver(new ConnectRedisStore({ client, prefix })));
    try {
      const browser = new Browser(url);
      await browser.send('POST', '/login', { user: 'alice' });
      await Promise.all(
        Array.from({ length: CONCURRENT }, (_, index) =>
          browser.send('POST', `/cart?item=sku-${index}`),
        ),
      );
      const { cart } = (await browser.send('GET', '/me')).json;
      console.log(`connect-redis 9: ${cart.length} of ${CONCURRENT} concurrent appends kept`);
      expect(cart.length).toBeLessThan(CONCURRENT);
    } finally {
      await close(server);
    }
  });
});

describe('ClawsessionStore called directly, as express-session calls it', () => {
  let manager: SessionManager;
  let store: ClawsessionStore;

  beforeEach(() => {
    manager = new SessionManager({ store: new MemoryStore() });
    store = new ClawsessionStore({ manager });
  });

  afterEach(() => manager.close());

  const get = promisify((sid: string, cb: (e: unknown, d?: unknown) => void) => store.get(sid, cb));
  const set = promisify((sid: string, data: object, cb: (e?: unknown) => void) =>
    store.set(sid, data as session.SessionData, cb),
  );
  const destroy = promisify((sid: string, cb: (e?: unknown) => void) => store.destroy(sid, cb));
  const cookie = { originalMaxAge: null, httpOnly: true, path: '/' };

  it('answers no session, without an error, for ids that are not tokens', async () => {
    await expect(get('not-a-token')).resolves.toBeNull();
    await expect(get(genid())).resolves.toBeNull();
    await expect(destroy('not-a-token')).resolves.toBeUndefined();
  });

  it('creates a session on a set without a get, and overwrites it on the next', async () => {
    const sid = genid();
    await set(sid, { cookie, userId: 'alice', cart: ['a'] });
    await set(sid, { cookie, userId: 'alice', cart: ['b'] });
    expect(await manager.get(sid)).toMatchObject({ userId: 'alice', data: { cart: ['b'] } });
  });

  it('does not bring back a session revoked while its request ran', async () => {
    const { token } = await manager.create({ userId: 'alice', data: { cart: [] } });
    const loaded = (await get(token)) as { cart: string[] };
    await manager.revoke(token);
    loaded.cart.push('a');
    await expect(set(token, loaded)).resolves.toBeUndefined();
    expect(await manager.get(token)).toBeNull();
  });

  it('derives the cookie of a session made outside express-session with secure defaults', async () => {
    const { token } = await manager.create({ userId: 'alice' });
    expect(await get(token)).toEqual({
      cookie: {
        originalMaxAge: null,
        expires: null,
        httpOnly: true,
        secure: true,
        sameSite: 'lax',
        path: '/',
      },
    });
  });

  it('refuses a userIdOf that returns something other than a user id', async () => {
    store = new ClawsessionStore({ manager, userIdOf: () => '' });
    await expect(set(genid(), { cookie })).rejects.toMatchObject({ code: 'ERR_VALIDATION' });
  });
});
