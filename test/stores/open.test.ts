import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool } from 'pg';
import { createClient } from 'redis';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, redactUrl, SessionManager } from '../../src/core/index.js';
import {
  MemoryRecordStore,
  openRecordStore,
  openStore,
  openSweepLease,
  PostgresRecordStore,
  RedisRecordStore,
  SqliteRecordStore,
} from '../../src/stores/index.js';
import { CLUSTER_ROOT_NODES, dropClusterKeys, dropKeys, REDIS_URL } from './fixtures/redis.js';

const POSTGRES_URL =
  process.env.CLAWSESSION_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const run = randomBytes(4).toString('hex');
const schema = `clawsession_open_${run}`;
const prefix = `cs:test:open:${run}:`;
const dir = mkdtempSync(join(tmpdir(), 'clawsession-open-'));

afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  const admin = new Pool({ connectionString: POSTGRES_URL });
  await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await admin.end();
  await dropKeys(REDIS_URL, prefix);
  await dropClusterKeys(CLUSTER_ROOT_NODES, prefix);
});

async function roundTrip(url: string) {
  const manager = new SessionManager({ store: await openStore(url) });
  try {
    const { token } = await manager.create({ userId: 'u', data: { via: url } });
    return (await manager.get(token))?.data;
  } finally {
    await manager.close();
  }
}

describe('openStore', () => {
  const cluster = `redis+cluster://${CLUSTER_ROOT_NODES.map((node) => node.replace('redis://', '')).join(',')}?prefix=${prefix}`;
  const urls = [
    `redis://127.0.0.1:6379?prefix=${prefix}`,
    cluster,
    `${POSTGRES_URL}?schema=${schema}&table=opened`,
    `tiered:redis://127.0.0.1:6379?prefix=${prefix}t:|${POSTGRES_URL}?schema=${schema}&table=tiered`,
  ];
  for (const url of urls) {
    it(`opens a working store from ${url.split('?')[0]}`, async () => {
      expect(await roundTrip(url)).toEqual({ via: url });
    });
  }

  it('refuses unknown or incomplete URLs with a ConfigError that hides passwords', async () => {
    for (const url of [
      'mongodb://user:secret@host/db',
      'sqlite:',
      'tiered:memory:',
      'memory:?max=0',
      'redis+cluster://',
    ]) {
      const error = await openStore(url).catch((caught: unknown) => caught);
      expect(error, url).toBeInstanceOf(ConfigError);
      expect(String((error as Error).message)).not.toContain('secret');
    }
  });

  it('hands out a sweep lease for shared stores only', async () => {
    const redis = await openSweepLease('redis://127.0.0.1:6379');
    expect(redis).not.toBeNull();
    await redis?.close();
    expect(await openSweepLease(`${POSTGRES_URL}?schema=x`)).not.toBeNull();
    const cluster = await openSweepLease(
      `redis+cluster://${CLUSTER_ROOT_NODES.map((node) => node.replace('redis://', '')).join(',')}`,
    );
    expect(await cluster?.run('open-test', async () => 'ran')).toEqual({
      acquired: true,
      value: 'ran',
    });
    await cluster?.close();
    expect(await openSweepLease('sqlite:./x.db')).toBeNull();
    expect(await openSweepLease('memory:')).toBeNull();
  });

  it('keeps the sweep leases of deployments under other prefixes or schemas apart', async () => {
    const deployments = (url: (name: string) => string) =>
      Promise.all(['a', 'a', 'b'].map((name) => openSweepLease(url(name))));
    for (const [mine, same, other] of [
      await deployments((name) => `redis://127.0.0.1:6379?prefix=${prefix}${name}:`),
      await deployments((name) => `${POSTGRES_URL}?schema=${schema}_${name}`),
    ]) {
      let release = () => {};
      let taken = () => {};
      const holding = new Promise<void>((resolve) => {
        taken = resolve;
      });
      const held = mine?.run('sweep', () => {
        taken();
        return new Promise<void>((resolve) => {
          release = resolve;
        });
      });
      await holding;
      expect(await same?.run('sweep', async () => 1)).toEqual({ acquired: false });
      expect(await other?.run('sweep', async () => 'swept')).toEqual({
        acquired: true,
        value: 'swept',
      });
      release();
      expect(await held).toEqual({ acquired: true, value: undefined });
      await Promise.all([mine, same, other].map((lease) => lease?.close()));
    }
  });

  it('redacts passwords in URLs', () => {
    expect(redactUrl('postgres://app:hunter2@db:5432/x')).toBe('postgres://app:***@db:5432/x');
    expect(redactUrl('redis://:hunter2@cache:6379')).toBe('redis://:***@cache:6379');
  });
});

describe('openRecordStore', () => {
  const T = Date.UTC(2026, 0, 1);
  const cluster = `redis+cluster://${CLUSTER_ROOT_NODES.map((node) => node.replace('redis://', '')).join(',')}?prefix=${prefix}`;
  const postgres = `${POSTGRES_URL}?schema=${schema}&table=sessions&recordsTable=records`;
  const cases: [string, string, { prototype: object }][] = [
    ['sqlite', `sqlite:${join(dir, 'records.db')}`, SqliteRecordStore],
    ['memory', 'memory:?max=5', MemoryRecordStore],
    ['redis', `redis://127.0.0.1:6379?prefix=${prefix}`, RedisRecordStore],
    ['redis+cluster', cluster, RedisRecordStore],
    ['postgres', postgres, PostgresRecordStore],
    [
      'tiered (the durable tier)',
      `tiered:redis://127.0.0.1:6379?prefix=${prefix}|${postgres}`,
      PostgresRecordStore,
    ],
  ];
  for (const [scheme, url, type] of cases) {
    it(`opens a working record store from a ${scheme} URL`, async () => {
      const store = await openRecordStore(url);
      try {
        expect(store).toBeInstanceOf(type);
        const version = await store.put('opened', scheme, { via: scheme }, { now: T });
        expect(await store.get('opened', scheme, T)).toMatchObject({
          value: { via: scheme },
          version,
        });
      } finally {
        await store.close();
      }
    });
  }

  it('keeps records beside the sessions of the same URL', async () => {
    const url = `sqlite:${join(dir, 'shared.db')}`;
    const manager = new SessionManager({ store: await openStore(url) });
    const records = await openRecordStore(url);
    try {
      const { token } = await manager.create({ userId: 'u', data: { n: 1 } });
      await records.put('users', 'u', { name: 'U' }, { now: T });
      expect((await manager.get(token))?.data).toEqual({ n: 1 });
      expect((await records.get('users', 'u', T))?.value).toEqual({ name: 'U' });
    } finally {
      await Promise.all([manager.close(), records.close()]);
    }
    const redis = `redis://127.0.0.1:6379?prefix=${prefix}shared:`;
    const sessions = new SessionManager({ store: await openStore(redis) });
    const redisRecords = await openRecordStore(redis);
    try {
      const { token } = await sessions.create({ userId: 'u' });
      await redisRecords.put('users', 'u', 1, { now: T });
      const client = await createClient({ url: REDIS_URL }).connect();
      expect(await client.exists(`${prefix}shared:rec:{users}:u`)).toBe(1);
      await client.close();
      expect(await sessions.get(token)).not.toBeNull();
    } finally {
      await Promise.all([sessions.close(), redisRecords.close()]);
    }
  });

  it('the session store of a postgres URL ignores recordsTable', async () => {
    expect(await roundTrip(postgres)).toEqual({ via: postgres });
  });

  it('refuses unknown or incomplete URLs with a ConfigError that hides passwords, opening nothing', async () => {
    for (const url of [
      'mongodb://user:secret@host/db',
      'sqlite:',
      'tiered:memory:',
      'tiered:memory:|mongodb://user:secret@host/db',
      'tiered:memory:|memory:|memory:',
      'memory:?max=0',
      'redis+cluster://',
      `${POSTGRES_URL}?recordsTable=bad-name`,
    ]) {
      const error = await openRecordStore(url).catch((caught: unknown) => caught);
      expect(error, url).toBeInstanceOf(ConfigError);
      expect(String((error as Error).message)).not.toContain('secret');
    }
  });
});
