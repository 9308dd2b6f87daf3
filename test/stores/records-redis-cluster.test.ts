import { createCluster } from 'redis';
import { afterAll, describe, expect, it } from 'vitest';
import { RedisRecordStore } from '../../src/stores/index.js';
import { CLUSTER_ROOT_NODES, dropClusterKeys, freshPrefix, RUN_PREFIX } from './fixtures/redis.js';

const T = Date.UTC(2026, 0, 1);

afterAll(() => dropClusterKeys(CLUSTER_ROOT_NODES, RUN_PREFIX));

const connect = (prefix = freshPrefix()) =>
  RedisRecordStore.connect({ cluster: { rootNodes: CLUSTER_ROOT_NODES }, prefix });

describe('RedisRecordStore on a Redis Cluster', () => {
  it('keeps each collection on one slot and spreads collections over the nodes', async () => {
    const prefix = freshPrefix();
    const store = await connect(prefix);
    const cluster = await createCluster({
      rootNodes: CLUSTER_ROOT_NODES.map((url) => ({ url })),
    }).connect();
    try {
      const collections = Array.from({ length: 30 }, (_, n) => `collection-${n}`);
      const slotsOfCollection = new Map<string, Set<number>>();
      for (const collection of collections) {
        await store.put(collection, 'k', 1, { now: T, expiresAt: T + 3_600_000 });
        const keys = [
          `${prefix}{${collection}}`,
          `${prefix}{${collection}}:k`,
          `${prefix}{${collection}}#expiry`,
        ];
        const slots = new Set<number>();
        for (const key of keys) {
          expect(await cluster.exists(key), key).toBe(1);
          slots.add(Number(await cluster.sendCommand(key, true, ['CLUSTER', 'KEYSLOT', key])));
        }
        slotsOfCollection.set(collection, slots);
      }
      for (const slots of slotsOfCollection.values()) expect(slots.size).toBe(1);
      const nodes = new Set(
        [...slotsOfCollection.values()].map((slots) => {
          const [slot] = [...slots] as [number];
          return cluster.slots[slot]?.master.address;
        }),
      );
      expect(nodes.size).toBe(3);
      expect(await store.sweepExpired(T + 3_600_000, 100)).toBe(30);
    } finally {
      await Promise.all([store.close(), cluster.close()]);
    }
  });
});
