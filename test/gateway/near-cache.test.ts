import { randomBytes } from 'node:crypto';
import { Pool } from 'pg';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { runCli } from '../../src/cli/program.js';
import {
  createGateway,
  type Gateway,
  type GatewayConfigInput,
  parseConfig,
} from '../../src/gateway/index.js';
import {
  CLUSTER_ROOT_NODES,
  dropClusterKeys,
  dropKeys,
  REDIS_URL,
} from '../stores/fixtures/redis.js';
import { POSTGRES_URL } from '../support/record-backends.js';

const run = randomBytes(4).toString('hex');
const prefix = `cs:test:nc-${run}:`;
const schema = `clawsession_nc_${run}`;
const ADMIN_TOKEN = randomBytes(32).toString('base64url');
const root = { authorization: `Bearer ${ADMIN_TOKEN}` };
/** Long enough that only the invalidation bus can explain a copy dropped within a test. */
const NEAR_CACHE = { max: 1000, ttl: '1h' };

const running: Gateway[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((gateway) => gateway.close()));
});
afterAll(async () => {
  await dropKeys(REDIS_URL, prefix);
  await dropClusterKeys(CLUSTER_ROOT_NODES, prefix);
  const admin = new Pool({ connectionString: POSTGRES_URL });
  await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await admin.end();
});

async function start(config: GatewayConfigInput) {
  const gateway = await createGateway(
    parseConfig({ port: 0, adminToken: ADMIN_TOKEN, logLevel: 'silent', ...config }),
  );
  running.push(gateway);
  const url = await gateway.listen();
  const call = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${url}${path}`, {
      method,
      headers: body === undefined ? root : { ...root, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, json: text === '' ? undefined : JSON.parse(text) };
  };
  return { gateway, call };
}

describe.each([
  ['Redis', `${REDIS_URL}?prefix=${prefix}`],
  ['PostgreSQL', `${POSTGRES_URL}?schema=${schema}`],
])('the near-cache on %s', (_name, store) => {
  it('drops a copy on every gateway at once when one gateway changes or ends the session', async () => {
    const a = await start({ store, nearCache: NEAR_CACHE });
    const b = await start({ store, nearCache: NEAR_CACHE });
    const created = await a.call('POST', '/v1/sessions', { userId: 'alice', data: { n: 1 } });
    const id = created.json.session.id as string;
    // B reads it, and so holds a copy for up to an hour.
    expect((await b.call('GET', `/v1/sessions/${id}`)).json.session.data).toEqual({ n: 1 });

    expect(
      (await a.call('PATCH', `/v1/sessions/${id}`, [{ op: 'replace', path: '/n', value: 2 }]))
        .status,
    ).toBe(200);
    await vi.waitFor(
      async () =>
        expect((await b.call('GET', `/v1/sessions/${id}`)).json.session.data).toEqual({ n: 2 }),
      { timeout: 5_000 },
    );

    expect((await a.call('DELETE', `/v1/sessions/${id}`)).status).toBe(204);
    await vi.waitFor(
      async () => expect((await b.call('GET', `/v1/sessions/${id}`)).status).toBe(404),
      { timeout: 5_000 },
    );
  });

  it('drops the sessions of a user the CLI removes from every gateway holding a copy', async () => {
    const a = await start({ store, nearCache: NEAR_CACHE });
    const added = await a.call('POST', '/admin/users', {
      username: `bob${run}`,
      password: 'correct horse battery 1',
    });
    expect(added.status).toBe(201);
    const created = await a.call('POST', '/v1/sessions', { userId: `bob${run}` });
    const id = created.json.session.id as string;
    expect((await a.call('GET', `/v1/sessions/${id}`)).status).toBe(200);

    const out: string[] = [];
    await runCli(['users', 'remove', `bob${run}`, '--store', store, '--json'], {
      stdin: process.stdin,
      stdout: { write: (line: string) => out.push(line) } as never,
      stderr: process.stderr,
    });
    expect(out.join('')).toContain('"sessionsEnded":1');
    await vi.waitFor(
      async () => expect((await a.call('GET', `/v1/sessions/${id}`)).status).toBe(404),
      { timeout: 5_000 },
    );
  });
});

describe('the near-cache setting', () => {
  it('is off by default, read from the environment as JSON, and checked', () => {
    expect(parseConfig({}).nearCache).toBeUndefined();
    expect(parseConfig({ nearCache: {} }).nearCache).toEqual({ max: 10_000, ttl: 5_000 });
    for (const nearCache of [{ max: 0 }, { ttl: '0s' }, { size: 10 }])
      expect(() => parseConfig({ nearCache }), JSON.stringify(nearCache)).toThrow(/nearCache/);
  });

  it('warns where a store several gateways share has no bus to carry invalidations', async () => {
    const hosts = CLUSTER_ROOT_NODES.map((node) => node.replace('redis://', '')).join(',');
    const cluster = await start({
      store: `redis+cluster://${hosts}?prefix=${prefix}c:`,
      nearCache: { ttl: '2s' },
    });
    expect(cluster.gateway.warnings).toContainEqual(
      expect.stringContaining('nearCache has no invalidation bus'),
    );
    const memory = await start({ store: 'memory:', nearCache: {} });
    expect(memory.gateway.warnings).toEqual([]);
  });
});
