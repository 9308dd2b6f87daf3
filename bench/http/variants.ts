import { randomBytes, scrypt, scryptSync, timingSafeEqual } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import connectPgSimple from 'connect-pg-simple';
import { RedisStore as ConnectRedisStore } from 'connect-redis';
import expressSession from 'express-session';
import express from 'express4';
import { Pool } from 'pg';
import { createClient, RESP_TYPES } from 'redis';
import { createCodec, SessionManager, type SessionStore } from '../../src/core/index.js';
import { createGateway, parseConfig } from '../../src/gateway/index.js';
import { ClawsessionStore, genid } from '../../src/http/express-session.js';
import { HttpSessions, withSessions } from '../../src/http/index.js';
import { NearCache, openStore, RedisInvalidationBus } from '../../src/stores/index.js';
import { REFERENCE_USER, referenceCart } from '../reference-session.js';

/*
 * The servers the HTTP bench loads, each with the same four routes:
 *   GET  /health  no session
 *   GET  /me      reads the session (the user)
 *   POST /cart    appends an item to the session's cart (and drops the
 *                 oldest past CART_LENGTH, so every run writes the same size)
 *   POST /login   checks a password (scrypt, the gateway's cost) and starts
 *                 the reference session
 * The gateway has its own routes for three of them (/healthz, /auth/session,
 * /auth/login) and no cart route; `paths` says which path serves what.
 */

export type Route = 'health' | 'me' | 'cart' | 'login';

export interface Variant {
  url: string;
  /** The path serving each route, or undefined where this server has none. */
  paths: Partial<Record<Route, string>>;
  close(): Promise<void>;
}

export const USER = { username: 'alice', password: 'correct horse battery staple 42' };
const CART_LENGTH = 10;
const SECRET = randomBytes(32).toString('hex');
/** The gateway's password hashing cost, so every login does the same work. */
const SCRYPT = { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };
const SALT = randomBytes(16);
const HASH = scryptSync(USER.password, SALT, 32, SCRYPT);

const scryptAsync = promisify(scrypt) as (
  password: string,
  salt: Buffer,
  length: number,
  options: typeof SCRYPT,
) => Promise<Buffer>;

/** On libuv's thread pool, as the gateway hashes: no side blocks its event loop on a login. */
async function passwordMatches(password: unknown): Promise<boolean> {
  if (typeof password !== 'string') return false;
  return timingSafeEqual(await scryptAsync(password, SALT, 32, SCRYPT), HASH);
}

export const REDIS_URL = process.env.CLAWSESSION_BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
export const POSTGRES_URL =
  process.env.CLAWSESSION_BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
/** Names this run's keys and schemas; a parent sets it for child processes that must share one store. */
export const BENCH_RUN = process.env.CLAWSESSION_BENCH_RUN ?? randomBytes(3).toString('hex');
const run = BENCH_RUN;

/** clawsession store URLs for each backend the bench compares, all isolated to this run. */
export function storeUrl(backend: string): string {
  const redis = `${REDIS_URL}/?prefix=csbench:${run}:`;
  const postgres = `${POSTGRES_URL}?schema=csbench_${run}`;
  if (backend === 'redis') return redis;
  if (backend === 'postgres') return postgres;
  if (backend === 'tiered') return `tiered:${redis}|${postgres}`;
  throw new Error(`no store URL for backend ${backend}`);
}

/**
 * A clawsession store for a backend: a store URL, or `near-cache` (a
 * NearCache over Redis with the Redis invalidation bus, as the gateway's
 * `nearCache` setting builds it).
 */
async function openBenchStore(backend: string): Promise<SessionStore> {
  const codec = createCodec();
  if (backend !== 'near-cache') return openStore(storeUrl(backend), { codec });
  const bus = await RedisInvalidationBus.connect({ url: REDIS_URL, channel: `csbench:${run}` });
  return NearCache.create(await openStore(storeUrl('redis'), { codec }), { bus });
}

async function listen(
  handler: (request: IncomingMessage, response: ServerResponse) => void,
): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer(handler);
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

const EXPRESS_PATHS = { health: '/health', me: '/me', cart: '/cart', login: '/login' };

/** The bench's four routes on Express 4 and express-session over `store`. */
function expressApp(store: expressSession.Store, generateId?: () => string) {
  const app = express();
  app.use(express.json());
  const sessions = expressSession({
    store,
    ...(generateId ? { genid: generateId } : {}),
    secret: SECRET,
    resave: false,
    saveUninitialized: false,
    cookie: { httpOnly: true, sameSite: 'lax' },
  });
  // express-session's types are written against Express 5's; the middleware is the same function.
  app.use(sessions as unknown as express.RequestHandler);
  type BenchSession = { user?: typeof REFERENCE_USER; cart?: unknown[] };
  app.get('/health', (_request, response) => {
    response.json({ ok: true });
  });
  app.post('/login', async (request, response) => {
    if (!(await passwordMatches(request.body?.password))) return void response.status(401).end();
    request.session.regenerate(() => {
      Object.assign(request.session, { user: REFERENCE_USER, cart: referenceCart() });
      response.json({ user: REFERENCE_USER });
    });
  });
  app.get('/me', (request, response) => {
    const { user } = request.session as unknown as BenchSession;
    if (!user) return void response.status(401).end();
    response.json({ user });
  });
  app.post('/cart', (request, response) => {
    const session = request.session as unknown as BenchSession;
    if (!session.user || !session.cart) return void response.status(401).end();
    session.cart.push(request.body?.item ?? { sku: 'SKU-000124', qty: 1, price: 4.5 });
    if (session.cart.length > CART_LENGTH) session.cart.shift();
    response.json({ items: session.cart.length });
  });
  return app;
}

/** The anchor: Express 4, express-session 1.19, and connect-redis 9 or connect-pg-simple. */
export async function anchor(backend: 'redis' | 'postgres'): Promise<Variant> {
  let store: expressSession.Store;
  let closeStore: () => Promise<unknown>;
  if (backend === 'redis') {
    const client = await createClient({ url: REDIS_URL }).connect();
    store = new ConnectRedisStore({ client, prefix: `anchor:${run}:` });
    closeStore = () => client.close();
  } else {
    const pool = new Pool({ connectionString: POSTGRES_URL });
    // A schema of its own: connect-pg-simple names its primary key session_pkey whatever the table.
    const schemaName = `csbench_anchor_${run}`;
    await pool.query(`CREATE SCHEMA IF NOT EXISTS ${schemaName}`);
    const PgStore = connectPgSimple(expressSession);
    store = new PgStore({
      pool,
      schemaName,
      createTableIfMissing: true,
      pruneSessionInterval: false,
    });
    closeStore = async () => {
      await pool.query(`DROP SCHEMA ${schemaName} CASCADE`);
      await pool.end();
    };
  }
  const server = await listen(expressApp(store));
  return {
    url: server.url,
    paths: EXPRESS_PATHS,
    close: async () => {
      await server.close();
      await closeStore();
    },
  };
}

/** clawsession's node:http adapter on a clawsession store. */
export async function nodeAdapter(backend: string): Promise<Variant> {
  const manager = new SessionManager({ store: await openBenchStore(backend) });
  const sessions = new HttpSessions({ manager, cookie: { insecureDevelopmentMode: true } });
  const server = await listen(
    withSessions(sessions, async (request, response) => {
      const { session } = request;
      const reply = (status: number, body?: unknown) => {
        response.statusCode = status;
        response.setHeader('content-type', 'application/json');
        response.end(body === undefined ? undefined : JSON.stringify(body));
      };
      if (request.url === '/health') return reply(200, { ok: true });
      if (request.url === '/login' && request.method === 'POST') {
        const body = JSON.parse((await readBody(request)) || '{}');
        if (!(await passwordMatches(body.password))) return reply(401);
        await session.login('alice', { user: REFERENCE_USER, cart: referenceCart() });
        return reply(200, { user: REFERENCE_USER, csrfToken: session.csrfToken });
      }
      if (session.userId === null) return reply(401);
      if (request.url === '/me') return reply(200, { user: session.get('user') });
      if (request.url === '/cart' && request.method === 'POST') {
        const body = JSON.parse((await readBody(request)) || '{}');
        session.patch([
          {
            op: 'add',
            path: '/cart/-',
            value: body.item ?? { sku: 'SKU-000124', qty: 1, price: 4.5 },
          },
          { op: 'remove', path: '/cart/0' },
        ]);
        return reply(200, { items: CART_LENGTH });
      }
      return reply(404);
    }),
  );
  return {
    url: server.url,
    paths: EXPRESS_PATHS,
    close: () => server.close().then(() => manager.close()),
  };
}

/** The anchor's Express app with clawsession's express-session drop-in store instead of connect-redis. */
export async function expressDropIn(backend: string): Promise<Variant> {
  const manager = new SessionManager({ store: await openBenchStore(backend) });
  const server = await listen(expressApp(new ClawsessionStore({ manager }), genid));
  return {
    url: server.url,
    paths: EXPRESS_PATHS,
    close: () => server.close().then(() => manager.close()),
  };
}

/**
 * Removes what this run stored: its Redis keys and its PostgreSQL schema.
 * As Buffers: session keys end in the id's raw bytes, which a UTF-8 string would mangle.
 */
export async function removeRunData(): Promise<void> {
  const client = await createClient({ url: REDIS_URL }).connect();
  const binary = client.withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer });
  for (const prefix of [`csbench:${run}:`, `anchor:${run}:`])
    for await (const keys of binary.scanIterator({ MATCH: `${prefix}*`, COUNT: 1000 }))
      if (keys.length > 0) await client.unlink(keys);
  await client.close();
  const pool = new Pool({ connectionString: POSTGRES_URL });
  await pool.query(`DROP SCHEMA IF EXISTS csbench_${run} CASCADE`);
  await pool.end();
}

/** A gateway backend is a store of `storeUrl`, optionally `+near-cache`; `near-cache` alone is Redis behind it. */
function gatewayStore(backend: string): { store: string; nearCache?: object } {
  const named = backend === 'near-cache' ? 'redis+near-cache' : backend;
  const [store = named, cache] = named.split('+');
  return { store: storeUrl(store), ...(cache === 'near-cache' ? { nearCache: {} } : {}) };
}

/**
 * The gateway as `clawsession serve` runs it: the default config (info
 * logging to stdout, which the bench sends to /dev/null) on the given store,
 * with one user. Login limits are raised so that a login run measures logins,
 * not 429s; everything else is default. Several gateways of one run share the
 * store, and the user the first of them added.
 */
export async function gateway(backend: string, logLevel = 'info'): Promise<Variant> {
  const adminToken = randomBytes(32).toString('base64url');
  const gatewayInstance = await createGateway(
    parseConfig({
      port: 0,
      logLevel,
      ...gatewayStore(backend),
      adminToken,
      cookie: { insecureDevelopmentMode: true },
      rateLimits: {
        loginPerIp: { limit: 1_000_000, window: '1m' },
        loginPerAccountAddress: { limit: 1_000_000, window: '1m' },
        loginPerAccount: { limit: 1_000_000, window: '1m' },
        loginSuccessPerAccount: { limit: 1_000_000, window: '1m' },
      },
    }),
  );
  const url = await gatewayInstance.listen();
  const added = await fetch(`${url}/admin/users`, {
    method: 'POST',
    headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ username: USER.username, password: USER.password }),
  });
  if (added.status !== 201 && added.status !== 409)
    throw new Error(`adding the bench user failed: ${added.status}`);
  return {
    url,
    paths: { health: '/healthz', me: '/auth/session', login: '/auth/login' },
    close: () => gatewayInstance.close(),
  };
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export const VARIANTS = {
  'express-session + connect-redis': () => anchor('redis'),
  'express-session + connect-pg-simple': () => anchor('postgres'),
  gateway,
  /** The same gateway with access logging off (warn): what the access lines cost. */
  'gateway, logging off': (backend: string) => gateway(backend, 'warn'),
  'node:http adapter': nodeAdapter,
  'express-session + ClawsessionStore': expressDropIn,
} as const;
