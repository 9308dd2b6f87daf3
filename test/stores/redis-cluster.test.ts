import { createCluster, type RedisArgument } from 'redis';
import { afterAll, describe, expect, it } from 'vitest';
import type { Session } from '../../src/core/index.js';
import { openBackend } from '../../src/stores/index.js';
import { RedisStore } from '../../src/stores/redis/index.js';
import { Keys, SHARDS } from '../../src/stores/redis/layout.js';
import { describeBackend } from '../conformance/backend.js';
import { CLUSTER_ROOT_NODES, dropClusterKeys, freshPrefix, RUN_PREFIX } from './fixtures/redis.js';

afterAll(() => dropClusterKeys(CLUSTER_ROOT_NODES, RUN_PREFIX));

const connect = (options: Parameters<typeof RedisStore.connect>[0] = {}) =>
  RedisStore.connect({
    cluster: { rootNodes: CLUSTER_ROOT_NODES },
    prefix: freshPrefix(),
    ...options,
  });

const nodes = CLUSTER_ROOT_NODES.map((node) => node.replace('redis://', '')).join(',');
describeBackend(
  'redis+cluster',
  () => openBackend(`redis+cluster://${nodes}?prefix=${freshPrefix()}`),
  {
    bus: 'RedisInvalidationBus connects to one server, so on a cluster each process learns of a change only when its cached copy expires',
  },
);

describe('RedisStore on a Redis Cluster', () => {
  it('serves a user whose sessions and indexes live on different nodes', async () => {
    const prefix = freshPrefix();
    const store = await connect({ prefix });
    const keys = new Keys(prefix);
    const now = Date.UTC(2026, 0, 1);
    const sessions: Session[] = Array.from({ length: 12 }, (_, n) => ({
      id: n.toString(16).padStart(64, '0'),
      userId: 'alice',
      data: { n },
      version: 1,
      createdAt: now + n,
      lastActiveAt: now + n,
      idleExpiresAt: now + 30 * 60_000,
      absoluteExpiresAt: now + 24 * 3_600_000,
      tokenIssuedAt: now + n,
      ip: null,
      userAgent: null,
    }));
    for (const session of sessions) await store.create(session);

    // The point of the test: no step here can be one multi-key command.
    expect(await nodesOf(sessions.map((s) => keys.session(s.id)))).toHaveProperty('size', 3);
    const shards = Array.from({ length: SHARDS }, (_, n) => n);
    expect(await nodesOf(shards.map((n) => keys.expiry(n)))).toHaveProperty('size', 3);

    expect(await store.getMany([sessions[3]?.id ?? '', 'f'.repeat(64)], now)).toEqual([
      sessions[3],
      null,
    ]);
    expect((await store.listByUser('alice', now)).map((s) => s.id)).toEqual(
      sessions.map((s) => s.id).reverse(),
    );
    const kept = sessions[0]?.id;
    expect((await store.deleteByUser('alice', kept)).sort()).toEqual(
      sessions.slice(1).map((s) => s.id),
    );
    expect((await store.listByUser('alice', now)).map((s) => s.id)).toEqual([kept]);
    await store.close();
  });
});

/** The ports of the masters that hold these keys, from the cluster's own slot map. */
async function nodesOf(keys: readonly RedisArgument[]): Promise<Set<number>> {
  const cluster = await createCluster({
    rootNodes: CLUSTER_ROOT_NODES.map((url) => ({ url })),
  }).connect();
  const ports = new Set<number>();
  for (const key of keys) {
    const slot = await cluster.sendCommand<number>(key, true, ['CLUSTER', 'KEYSLOT', key]);
    ports.add(cluster.slots[slot]?.master.port ?? -1);
  }
  await cluster.close();
  return ports;
}
