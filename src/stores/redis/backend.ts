import { splitQuery } from '../../core/backend-kit.js';
import { type BackendDefinition, ConfigError, redactUrl } from '../../core/index.js';
import { connectOrFail, connectRedisCluster } from './connection.js';
import { loadRedis } from './driver.js';
import { RedisInvalidationBus } from './invalidation-bus.js';
import { RedisLease } from './lease.js';
import { RedisRateLimiter } from './rate-limiter.js';
import { RedisRecordStore } from './record-store.js';
import { RedisStore } from './session-store.js';

const DEFAULT_PREFIX = 'cs:';

/**
 * `redis://[user:password@]host:port[/db]` or `rediss://…` for one server,
 * `redis+cluster://[user:password@]host:port,host:port` for some nodes of a
 * Redis Cluster; optionally `?prefix=…` (default `cs:`) for every key.
 */
export const redisBackend: BackendDefinition = {
  schemes: ['redis:', 'rediss:', 'redis+cluster:'],
  usage: 'redis://host:port, redis+cluster://host:port,host:port',
  parse(url) {
    const { base, params } = splitQuery(url, ['prefix'], { backend: 'redis' });
    const prefix = params.prefix;
    const keyPrefix = prefix ?? DEFAULT_PREFIX;
    const cluster = url.startsWith('redis+cluster:')
      ? { rootNodes: clusterNodes(base) }
      : undefined;
    const target = cluster ? { cluster } : { url: base };
    return {
      name: 'redis',
      displayUrl: redactUrl(url),
      shared: true,
      openSessions: ({ codec, outbox } = {}) =>
        RedisStore.connect({ ...target, prefix, codec, outbox }),
      // Session keys start `<prefix>s:`, `a:`, `exp:`, `u:`, `ud:`, `seq:` or are `ev`; `rec:` is free.
      openRecords: () => RedisRecordStore.connect({ ...target, prefix: `${keyPrefix}rec:` }),
      // Under the store's prefix, so that deployments sharing one Redis sweep on their own.
      openLease: () => RedisLease.connect({ ...target, prefix: `${keyPrefix}lease:` }),
      // RedisInvalidationBus connects to one server, so a cluster has no bus (yet: on a
      // cluster, a PUBLISH to any node reaches the subscribers of every node).
      openBus: cluster
        ? undefined
        : (topic) => RedisInvalidationBus.connect({ url: base, channel: `${keyPrefix}${topic}` }),
      async openLimiters() {
        const client = cluster
          ? await connectRedisCluster(cluster.rootNodes, 'rate limits')
          : (await loadRedis()).createClient({ url: base, disableOfflineQueue: true });
        if (!cluster) await connectOrFail(client, 'rate limits');
        return {
          create: (name, options) =>
            new RedisRateLimiter({ client, prefix: `${keyPrefix}rl:${name}:`, ...options }),
          close: () => client.close().catch(() => client.destroy()),
        };
      },
    };
  },
};

function clusterNodes(base: string): string[] {
  const match = /^redis\+cluster:\/\/(?:([^@]*)@)?(.+)$/.exec(base);
  if (!match?.[2])
    throw new ConfigError(
      'a cluster URL is redis+cluster://[user:password@]host:port[,host:port…]',
    );
  const credentials = match[1] ? `${match[1]}@` : '';
  return match[2].split(',').map((node) => `redis://${credentials}${node.trim()}`);
}
