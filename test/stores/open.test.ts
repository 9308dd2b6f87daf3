import { randomBytes } from 'node:crypto';
import { Pool } from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, SessionManager } from '../../src/core/index.js';
import { openStore, openSweepLease, redactUrl } from '../../src/stores/index.js';
import { CLUSTER_ROOT_NODES, dropClusterKeys, dropKeys, REDIS_URL } from './fixtures/redis.js';

const POSTGRES_URL =
  process.env.CLAWSESSION_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const run = randomBytes(4).toString('hex');
const schema = `clawsession_open_${run}`;
const prefix = `cs:test:open:${run}:`;

afterAll(async () => {
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

  it('redacts passwords in URLs', () => {
    expect(redactUrl('postgres://app:hunter2@db:5432/x')).toBe('postgres://app:***@db:5432/x');
    expect(redactUrl('redis://:hunter2@cache:6379')).toBe('redis://:***@cache:6379');
  });
});
