import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool } from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { createGateway, parseConfig } from '../../src/gateway/index.js';
import {
  CLUSTER_ROOT_NODES,
  dropClusterKeys,
  dropKeys,
  REDIS_URL,
} from '../stores/fixtures/redis.js';

const POSTGRES_URL =
  process.env.CLAWSESSION_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const run = randomBytes(4).toString('hex');
const prefix = `cs:test:gw-${run}:`;
const schema = `clawsession_gw_${run}`;
const dir = mkdtempSync(join(tmpdir(), 'clawsession-gw-stores-'));
const clusterHosts = CLUSTER_ROOT_NODES.map((node) => node.replace('redis://', '')).join(',');

afterAll(async () => {
  await dropKeys(REDIS_URL, prefix);
  await dropClusterKeys(CLUSTER_ROOT_NODES, prefix);
  const admin = new Pool({ connectionString: POSTGRES_URL });
  await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await admin.end();
  rmSync(dir, { recursive: true, force: true });
});

/** What a gateway without signingKey and refreshSecret warns about at start, on a shareable store. */
const KEYS = ['signingKey', 'refreshSecret'];
const stores: [string, string, string[]][] = [
  ['memory', 'memory:', []],
  ['SQLite', `sqlite:${join(dir, 'gateway.db')}`, []],
  ['Redis', `${REDIS_URL}?prefix=${prefix}r:`, KEYS],
  [
    'Redis Cluster',
    `redis+cluster://${clusterHosts}?prefix=${prefix}c:`,
    [...KEYS, 'only after keyCacheTtl'],
  ],
  ['PostgreSQL', `${POSTGRES_URL}?schema=${schema}`, KEYS],
  [
    'tiered Redis over PostgreSQL',
    `tiered:${REDIS_URL}?prefix=${prefix}t:|${POSTGRES_URL}?schema=${schema}&table=tiered&recordsTable=tiered_records`,
    KEYS,
  ],
];

const ROOT = randomBytes(32).toString('base64url');

describe.each(stores)('the gateway on a %s store', (_name, store, expectedWarnings) => {
  it('signs in users, serves tokens, the session API and API keys', async () => {
    const clock = { offset: 0 };
    const gateway = await createGateway(
      parseConfig({
        port: 0,
        store,
        adminToken: ROOT,
        logLevel: 'silent',
        cookie: { insecureDevelopmentMode: true },
      }),
      { clock: () => Date.now() + clock.offset },
    );
    try {
      expect(gateway.warnings).toHaveLength(expectedWarnings.length);
      expectedWarnings.forEach((fragment, index) => {
        expect(gateway.warnings[index]).toContain(fragment);
      });
      const url = await gateway.listen();
      const call = async (method: string, path: string, headers = {}, body?: unknown) => {
        const response = await fetch(`${url}${path}`, {
          method,
          headers:
            body === undefined ? headers : { ...headers, 'content-type': 'application/json' },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
        const text = await response.text();
        return {
          status: response.status,
          headers: response.headers,
          json: text ? JSON.parse(text) : {},
        };
      };
      const root = { authorization: `Bearer ${ROOT}` };
      const user = `user-${randomBytes(3).toString('hex')}`;
      const credentials = { username: user, password: 'correct horse battery' };

      expect((await call('GET', '/readyz')).status).toBe(200);
      expect((await call('POST', '/admin/users', root, credentials)).status).toBe(201);
      const login = await call('POST', '/auth/login', {}, credentials);
      expect(login.status).toBe(200);
      const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] as string;
      const mine = await call('GET', '/auth/sessions', { cookie });
      expect(mine.json.sessions).toHaveLength(1);

      const tokens = await call('POST', '/auth/token', {}, credentials);
      expect(tokens.status).toBe(200);
      const refreshed = await call(
        'POST',
        '/auth/refresh',
        {},
        { refreshToken: tokens.json.refreshToken },
      );
      expect(refreshed.status).toBe(200);
      clock.offset += 11_000; // past the 10 s grace for a racing second use: now it is reuse
      const reused = await call(
        'POST',
        '/auth/refresh',
        {},
        { refreshToken: tokens.json.refreshToken },
      );
      expect(reused.status).toBe(401);

      const key = await call('POST', '/admin/keys', root, {
        owner: 'svc',
        scopes: ['sessions:read'],
      });
      expect(key.status).toBe(201);
      const listed = await call('GET', `/v1/users/${user}/sessions`, { 'x-api-key': key.json.key });
      expect(listed.status).toBe(200);
      // The cookie session; the token session ended with the refresh token's reuse.
      expect(listed.json.sessions).toHaveLength(1);

      const loggedOut = await call('POST', '/auth/logout', {
        cookie,
        'x-csrf-token': login.json.csrfToken,
      });
      expect(loggedOut.status).toBe(204);
      expect((await call('GET', '/auth/session', { cookie })).status).toBe(401);
    } finally {
      await gateway.close();
    }
  });
});

describe('two gateways on one Redis Cluster', () => {
  it('count failed logins of one account together', async () => {
    const config = parseConfig({
      port: 0,
      store: `redis+cluster://${clusterHosts}?prefix=${prefix}limits:`,
      adminToken: ROOT,
      logLevel: 'silent',
    });
    const gateways = [await createGateway(config), await createGateway(config)];
    try {
      const [a, b] = await Promise.all(gateways.map((gateway) => gateway.listen()));
      const attempt = async (url: string | undefined) =>
        (
          await fetch(`${url}/auth/login`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ username: 'target', password: 'wrong password here' }),
          })
        ).status;
      // The default limit is 5 failed logins per account and address per 15 minutes.
      for (const url of [a, b, a, b, a]) expect(await attempt(url)).toBe(401);
      expect(await attempt(b)).toBe(429);
    } finally {
      await Promise.all(gateways.map((gateway) => gateway.close()));
    }
  });
});
