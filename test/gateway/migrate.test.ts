import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { exportJWK, generateKeyPair } from 'jose';
import { Pool } from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { createGateway, type Gateway, parseConfig } from '../../src/gateway/index.js';
import { dropKeys, REDIS_URL } from '../stores/fixtures/redis.js';

// Built by `npm run build` (pretest): the real `clawsession migrate`.
const BIN = resolve('dist/cli/main.js');
const POSTGRES_URL =
  process.env.CLAWSESSION_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const ROOT = randomBytes(32).toString('base64url');
const PASSWORD = 'correct horse battery';
const dir = mkdtempSync(join(tmpdir(), 'clawsession-gw-migrate-'));
const run = randomBytes(4).toString('hex');
const schemas: string[] = [];
const prefixes: string[] = [];

afterAll(async () => {
  const admin = new Pool({ connectionString: POSTGRES_URL });
  for (const schema of schemas) await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await admin.end();
  for (const prefix of prefixes) await dropKeys(REDIS_URL, prefix);
  rmSync(dir, { recursive: true, force: true });
});

let counter = 0;
const targets: [string, () => string][] = [
  [
    'Redis',
    () => {
      const prefix = `cs:test:gw-migrate:${run}:${++counter}:`;
      prefixes.push(prefix);
      return `${REDIS_URL}?prefix=${prefix}`;
    },
  ],
  [
    'PostgreSQL',
    () => {
      const schema = `clawsession_gw_migrate_${run}_${++counter}`;
      schemas.push(schema);
      return `${POSTGRES_URL}?schema=${schema}`;
    },
  ],
];
const freshSqlite = () => `sqlite:${join(dir, `${++counter}.db`)}`;

const secrets = (async () => {
  const { privateKey } = await generateKeyPair('EdDSA', { extractable: true });
  return {
    signingKey: JSON.stringify(await exportJWK(privateKey)),
    refreshSecret: randomBytes(32).toString('base64url'),
  };
})();

interface Reply {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: a reply body, read by tests that know its shape
  json: any;
  cookie: string;
}

/** A gateway listening on a free port, with the fleet's shared signing key and refresh secret. */
async function startGateway(store: string) {
  const gateway: Gateway = await createGateway(
    parseConfig({
      port: 0,
      store,
      adminToken: ROOT,
      logLevel: 'silent',
      cookie: { insecureDevelopmentMode: true },
      ...(await secrets),
    }),
  );
  const url = await gateway.listen();
  const call = async (
    method: string,
    path: string,
    headers: Record<string, string> = {},
    body?: unknown,
  ): Promise<Reply> => {
    const response = await fetch(`${url}${path}`, {
      method,
      headers: body === undefined ? headers : { ...headers, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    return {
      status: response.status,
      json: text ? JSON.parse(text) : {},
      cookie: (response.headers.get('set-cookie') ?? '').split(';')[0] as string,
    };
  };
  return { call, close: () => gateway.close() };
}
type Running = Awaited<ReturnType<typeof startGateway>>;
const root = { authorization: `Bearer ${ROOT}` };

async function migrate(...args: string[]) {
  return promisify(execFile)(process.execPath, [
    BIN,
    'migrate',
    '--json',
    '--batch-size',
    '3',
    ...args,
  ]);
}

describe('clawsession migrate', () => {
  it.each(targets)(
    'moves a SQLite gateway into %s: users sign in, keys keep working with their usage, sessions and refresh tokens live on',
    async (_name, target) => {
      const source = freshSqlite();
      const to = target();
      const old = await startGateway(source);
      const users = ['ann', 'ben', 'cy', 'dee'];
      for (const username of users)
        expect(
          (await old.call('POST', '/admin/users', root, { username, password: PASSWORD })).status,
        ).toBe(201);
      const key = await old.call('POST', '/admin/keys', root, {
        owner: 'svc',
        scopes: ['sessions:read'],
      });
      for (let n = 0; n < 3; n++)
        expect(
          (await old.call('GET', '/v1/users/ann/sessions', { 'x-api-key': key.json.key })).status,
        ).toBe(200);
      const login = await old.call(
        'POST',
        '/auth/login',
        {},
        { username: 'ben', password: PASSWORD },
      );
      const tokens = await old.call(
        'POST',
        '/auth/token',
        {},
        { username: 'cy', password: PASSWORD },
      );
      expect(tokens.status).toBe(200);
      await old.close(); // flushes the key's usage

      const dry = await migrate('--from', source, '--to', to, '--dry-run');
      expect(JSON.parse(dry.stdout)).toMatchObject({
        dryRun: true,
        records: { users: 4, 'api-keys': 1, 'refresh-families': 1 },
      });
      const { stdout } = await migrate('--from', source, '--to', to);
      const result = JSON.parse(stdout);
      expect(result).toMatchObject({ done: true, phase: 'done', cursor: null });
      expect(result.copied).toBe(result.verified);
      expect(result.records).toMatchObject({
        cursor: null,
        collections: { users: 4, 'api-keys': 1, 'refresh-families': 1, 'revoked-jti': 0 },
      });
      const repeat = JSON.parse((await migrate('--from', source, '--to', to)).stdout);
      expect(repeat).toMatchObject({ copied: 0, records: { copied: 0, refreshed: 0, skipped: 6 } });

      const moved = await startGateway(to);
      try {
        for (const username of users)
          expect(
            (await moved.call('POST', '/auth/login', {}, { username, password: PASSWORD })).status,
          ).toBe(200);
        expect((await moved.call('GET', '/auth/session', { cookie: login.cookie })).status).toBe(
          200,
        );
        const listed = await moved.call('GET', '/v1/users/ann/sessions', {
          'x-api-key': key.json.key,
        });
        expect(listed.status).toBe(200);
        const shown = await moved.call('GET', `/admin/keys/${key.json.info.prefix}`, root);
        expect(shown.json.info.uses).toBe(3);
        const refreshed = await moved.call(
          'POST',
          '/auth/refresh',
          {},
          { refreshToken: tokens.json.refreshToken },
        );
        expect(refreshed.status).toBe(200);
      } finally {
        await moved.close();
      }
    },
  );

  it('refuses a source that does not exist, and creates nothing', async () => {
    const missing = join(dir, 'mistyped.db');
    const attempt = migrate('--from', `sqlite:${missing}`, '--to', freshSqlite());
    await expect(attempt).rejects.toMatchObject({
      code: 2,
      stderr: expect.stringContaining('no SQLite database'),
    });
    expect(existsSync(missing)).toBe(false);
  });

  it.each(targets)('refuses an empty %s source unless --allow-empty', async (_name, target) => {
    const source = target();
    const attempt = migrate('--from', source, '--to', freshSqlite());
    await expect(attempt).rejects.toMatchObject({
      code: 2,
      stderr: expect.stringContaining('nothing to migrate from'),
    });
    const allowed = await migrate('--from', source, '--to', freshSqlite(), '--allow-empty');
    expect(JSON.parse(allowed.stdout)).toMatchObject({ done: true, copied: 0 });
  });
});

/**
 * Clients of a fleet: each worker owns its sessions (created, patched, deleted
 * through the session API) and remembers what the gateways acknowledged.
 */
function startLoad(fleet: { current: Running[] }, apiKey: string, usesKey: string) {
  const alive = new Map<string, number>(); // id → the last acknowledged value of /n
  const deleted = new Set<string>();
  const acknowledged = { uses: 0, logins: 0 };
  const refused: string[] = [];
  const expect = (what: string, reply: Reply, status: number) => {
    if (reply.status !== status)
      refused.push(`${what}: ${reply.status} ${JSON.stringify(reply.json)}`);
    return reply.status === status;
  };
  let stopping = false;
  let paused: Promise<void> | null = null;
  let busy = 0;
  const gateway = (n: number) => fleet.current[n % fleet.current.length] as Running;
  const worker = async (w: number) => {
    const mine: string[] = [];
    for (let n = 0; !stopping; n++) {
      while (paused) await paused;
      busy++;
      const via = gateway(w + n);
      const write = { 'x-api-key': apiKey };
      const step = n % 5;
      if (step === 0 || mine.length === 0) {
        const created = await via.call('POST', '/v1/sessions', write, {
          userId: `w${w}`,
          data: { n },
        });
        if (expect('create', created, 201)) {
          mine.push(created.json.session.id);
          alive.set(created.json.session.id, n);
        }
      } else if (step === 4 && mine.length > 2) {
        const id = mine.shift() as string;
        const gone = await via.call('DELETE', `/v1/sessions/${id}`, write);
        if (expect('delete', gone, 204)) {
          alive.delete(id);
          deleted.add(id);
        }
      } else {
        const id = mine[n % mine.length] as string;
        const patched = await via.call('PATCH', `/v1/sessions/${id}`, write, [
          { op: 'replace', path: '/n', value: n },
        ]);
        if (expect('patch', patched, 200)) alive.set(id, n);
      }
      if (w === 0 && n % 10 === 0) {
        const used = await via.call('GET', '/v1/users/w0/sessions', { 'x-api-key': usesKey });
        if (expect('key use', used, 200)) acknowledged.uses++;
        const login = await via.call(
          'POST',
          '/auth/login',
          {},
          { username: 'eve', password: PASSWORD },
        );
        if (expect('login', login, 200)) acknowledged.logins++;
      }
      busy--;
    }
  };
  const workers = [0, 1, 2].map(worker);
  return {
    alive,
    deleted,
    acknowledged,
    /** Requests answered otherwise than a healthy gateway answers them. */
    refused,
    /** Holds every worker before its next round of requests, once their current one is answered. */
    async pause() {
      let resume = () => {};
      paused = new Promise((done) => {
        resume = done;
      });
      while (busy > 0) await new Promise((done) => setImmediate(done));
      return () => {
        paused = null;
        resume();
      };
    },
    async stop() {
      stopping = true;
      await Promise.all(workers);
    },
  };
}

describe('switching a serving fleet to another store', () => {
  it.each(targets)(
    'from SQLite to %s through migrating:, loses no acknowledged session, key use or user and brings back no deleted session',
    async (_name, target) => {
      const oldUrl = freshSqlite();
      const newUrl = target();
      const migrating = `migrating:${oldUrl}|${newUrl}`;
      const fleet = { current: [await startGateway(oldUrl), await startGateway(oldUrl)] };
      const [first] = fleet.current as [Running];
      expect(
        (await first.call('POST', '/admin/users', root, { username: 'eve', password: PASSWORD }))
          .status,
      ).toBe(201);
      const write = await first.call('POST', '/admin/keys', root, {
        owner: 'load',
        scopes: ['sessions:admin', 'sessions:write', 'sessions:read'],
      });
      const counted = await first.call('POST', '/admin/keys', root, {
        owner: 'counted',
        scopes: ['sessions:read'],
      });
      const tokens = await first.call(
        'POST',
        '/auth/token',
        {},
        { username: 'eve', password: PASSWORD },
      );
      // Sessions nobody uses until the copy: the copy moves them, not a gateway.
      const idle: string[] = [];
      for (let n = 0; n < 40; n++) {
        const created = await first.call(
          'POST',
          '/v1/sessions',
          { 'x-api-key': write.json.key },
          {
            userId: `idle-${n}`,
            data: { n },
          },
        );
        idle.push(created.json.session.id);
      }
      const load = startLoad(fleet, write.json.key, counted.json.key);
      const until = async (count: number) => {
        while (load.alive.size + load.deleted.size < count)
          await new Promise((done) => setImmediate(done));
      };
      await until(15);

      // Roll onto migrating:. The old gateways flush their key usage to the old store as they close.
      const next = [await startGateway(migrating), await startGateway(migrating)];
      const resume = await load.pause();
      const retired = fleet.current;
      fleet.current = next;
      await Promise.all(retired.map((gateway) => gateway.close()));
      resume();
      await until(40);

      // The copy runs while the fleet serves, and signs out half of the idle sessions as it goes.
      const draining = migrate('--from', oldUrl, '--to', newUrl, '--live');
      const signedOut = idle.filter((_, n) => n % 2 === 0);
      for (const [n, id] of signedOut.entries()) {
        const gone = await (fleet.current[n % 2] as Running).call('DELETE', `/v1/sessions/${id}`, {
          'x-api-key': write.json.key,
        });
        expect(gone.status).toBe(204);
      }
      const { stdout } = await draining;
      expect(JSON.parse(stdout)).toMatchObject({ done: true, phase: 'done' });
      await until(60);

      // Roll onto the new store alone, one gateway at a time.
      for (const index of [0, 1]) {
        const replacement = await startGateway(newUrl);
        const previous = fleet.current[index] as Running;
        const resumeRoll = await load.pause();
        fleet.current = fleet.current.map((gateway, n) => (n === index ? replacement : gateway));
        await previous.close();
        resumeRoll();
        await until(70 + index * 10);
      }
      await load.stop();
      expect(load.refused.join('\n')).toBe('');

      const [final] = fleet.current as [Running];
      const read = { 'x-api-key': write.json.key };
      for (const [id, n] of load.alive) {
        const found = await final.call('GET', `/v1/sessions/${id}`, read);
        expect(found.status, `session ${id}`).toBe(200);
        expect(found.json.session.data.n).toBe(n);
      }
      for (const id of load.deleted)
        expect((await final.call('GET', `/v1/sessions/${id}`, read)).status, `deleted ${id}`).toBe(
          404,
        );
      expect(load.deleted.size).toBeGreaterThan(0);
      for (const [n, id] of idle.entries())
        expect((await final.call('GET', `/v1/sessions/${id}`, read)).status, `idle ${id}`).toBe(
          n % 2 === 0 ? 404 : 200,
        );
      expect(
        (await final.call('POST', '/auth/login', {}, { username: 'eve', password: PASSWORD }))
          .status,
      ).toBe(200);
      const refreshed = await final.call(
        'POST',
        '/auth/refresh',
        {},
        { refreshToken: tokens.json.refreshToken },
      );
      expect(refreshed.status).toBe(200);
      await Promise.all(fleet.current.map((gateway) => gateway.close()));
      const closedFleet = await startGateway(newUrl);
      try {
        const shown = await closedFleet.call(
          'GET',
          `/admin/keys/${counted.json.info.prefix}`,
          root,
        );
        expect(shown.json.info.uses).toBe(load.acknowledged.uses);
        expect(load.acknowledged.logins).toBeGreaterThan(0);
      } finally {
        await closedFleet.close();
      }
    },
    60_000,
  );
});
