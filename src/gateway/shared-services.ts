import { createClient } from 'redis';
import {
  MemoryRateLimiter,
  PostgresRateLimiter,
  type RateLimiter,
  type RateLimitPolicy,
  type RedisRateLimitClient,
  RedisRateLimiter,
} from '../http/index.js';
import { ApiKeys } from '../keys/index.js';
import {
  connectOrFail,
  connectRedisCluster,
  createPool,
  type InvalidationBus,
  PostgresInvalidationBus,
  parseStoreUrl,
  type RecordStore,
  RedisInvalidationBus,
  type StoreUrl,
} from '../stores/index.js';
import type { LoginLimiters } from './auth/index.js';
import type { GatewayConfig } from './config.js';

export interface SharedServices {
  loginLimiters: LoginLimiters;
  /** Remembers answered login challenges (limit 1, a window of the challenges' ttl). */
  loginChallengeUses: RateLimiter;
  /** Failed service credentials (admin token, API keys) per client address. */
  serviceAuthLimiter: RateLimiter;
  apiKeys(records: RecordStore): ApiKeys;
  /** Why limits or invalidations are per process here, to print at start; empty when shared. */
  warnings: string[];
  close(): Promise<void>;
}

/**
 * What several gateways must share besides the stores: rate limits and API
 * key invalidations. On a standalone Redis store (or a tiered store whose hot
 * tier is one) both go through that Redis, under the store's key prefix. On
 * PostgreSQL, limits are counted in a table of the store's schema (on one pool
 * of their own) and invalidations go through LISTEN/NOTIFY; elsewhere both are
 * per process. The warnings say which.
 */
export async function openSharedServices(
  config: Pick<GatewayConfig, 'store' | 'rateLimits' | 'keyCacheTtl'>,
  options: { clock: () => number; onRejected: (limiter: string) => void },
): Promise<SharedServices> {
  const parsed = parseStoreUrl(config.store);
  const redis = standaloneRedisOf(parsed);
  const postgres = postgresOf(parsed);
  const warnings: string[] = [];
  const shareable = isShareable(parsed);
  /** Where Redis-backed limits go: a standalone client or a cluster, and the store's key prefix. */
  let redisLimits:
    | { client: RedisRateLimitClient & { close(): Promise<void>; destroy(): void }; prefix: string }
    | undefined;
  let pool: ReturnType<typeof createPool> | undefined;
  let bus: InvalidationBus | undefined;
  try {
    if (redis) {
      const client = createClient({ url: redis.url, disableOfflineQueue: true });
      await connectOrFail(client, 'rate limits');
      redisLimits = { client, prefix: redis.prefix };
    } else if (parsed.scheme === 'redis+cluster') {
      const client = await connectRedisCluster(parsed.rootNodes, 'rate limits');
      redisLimits = { client, prefix: parsed.prefix ?? 'cs:' };
    } else if (postgres) {
      pool = createPool(
        { connectionString: postgres.connectionString },
        { idleInTransaction: false },
      );
      await PostgresRateLimiter.prepare({ pool, schema: postgres.schema });
    } else if (shareable) {
      warnings.push(
        'login, service credential and API key rate limits count per process; a Redis, Redis Cluster or PostgreSQL store (or a tiered one with a Redis hot tier or a PostgreSQL durable tier) shares them',
      );
    }
    bus = (await openKeyInvalidationBus(config.store)) ?? undefined;
    if (!bus && shareable) {
      warnings.push(
        `other gateways refuse a revoked or rotated API key only after keyCacheTtl (${config.keyCacheTtl} ms); a Redis or PostgreSQL store tells them at once`,
      );
    }
  } catch (error) {
    await redisLimits?.client.close().catch(() => redisLimits?.client.destroy());
    await pool?.end().catch(() => undefined);
    await bus?.close();
    throw error;
  }
  const limiter = (name: string, policy: RateLimitPolicy): RateLimiter =>
    redisLimits
      ? new RedisRateLimiter({
          client: redisLimits.client,
          prefix: `${redisLimits.prefix}rl:${name}:`,
          clock: options.clock,
          ...policy,
        })
      : pool && postgres
        ? new PostgresRateLimiter({
            pool,
            schema: postgres.schema,
            prefix: `${name}:`,
            clock: options.clock,
            ...policy,
          })
        : new MemoryRateLimiter({ clock: options.clock, ...policy });
  const counted = (name: string, inner: RateLimiter): RateLimiter =>
    countingRejections(inner, () => options.onRejected(name));

  const shared = (name: string, policy: { limit: number; window: number }): RateLimiter =>
    counted(name, limiter(name, { limit: policy.limit, windowMs: policy.window }));
  const limits = config.rateLimits;
  return {
    loginLimiters: {
      ip: shared('login-ip', limits.loginPerIp),
      accountAddress: shared('login-account-address', limits.loginPerAccountAddress),
      account: shared('login-account', limits.loginPerAccount),
      success: shared('login-success', limits.loginSuccessPerAccount),
    },
    loginChallengeUses: shared('login-challenge', {
      limit: 1,
      window: limits.loginProofOfWork.ttl,
    }),
    serviceAuthLimiter: shared('service-auth-ip', limits.serviceAuthPerIp),
    warnings,
    apiKeys: (records) =>
      new ApiKeys({
        records,
        clock: options.clock,
        cacheTtl: config.keyCacheTtl,
        invalidationBus: bus,
        rateLimiter: (policy) => counted('api-key', limiter('api-key', policy)),
      }),
    async close() {
      await bus?.close();
      await redisLimits?.client.close().catch(() => redisLimits?.client.destroy());
      await pool?.end();
    },
  };
}

/** A limiter that reports each refusal, for the rate-limit rejection metric. */
function countingRejections(inner: RateLimiter, onRejected: () => void): RateLimiter {
  return {
    limit: inner.limit,
    windowMs: inner.windowMs,
    async consume(key, cost) {
      const result = await inner.consume(key, cost);
      if (!result.allowed) onRejected();
      return result;
    },
    refund: (result) => inner.refund(result),
    reset: (key) => inner.reset(key),
  };
}

/**
 * The bus that carries API key revocations and rotations between the
 * gateways (and `clawsession keys`) of the store at `storeUrl`: Redis pub/sub
 * on a standalone Redis (or a tiered store's Redis hot tier), PostgreSQL
 * LISTEN/NOTIFY on PostgreSQL (or a tiered store's PostgreSQL durable tier),
 * one channel per key prefix or schema; null for other stores.
 */
export function openKeyInvalidationBus(storeUrl: string): Promise<InvalidationBus | null> {
  return openInvalidationBus(storeUrl, 'keys');
}

/**
 * The bus on which the gateways of one store tell each other which
 * sessions changed, so that each drops its near-cached copy: as
 * `openKeyInvalidationBus`, on a channel of its own.
 */
export function openSessionInvalidationBus(storeUrl: string): Promise<InvalidationBus | null> {
  return openInvalidationBus(storeUrl, 'sessions');
}

async function openInvalidationBus(
  storeUrl: string,
  topic: 'keys' | 'sessions',
): Promise<InvalidationBus | null> {
  const parsed = parseStoreUrl(storeUrl);
  const redis = standaloneRedisOf(parsed);
  if (redis)
    return RedisInvalidationBus.connect({ url: redis.url, channel: `${redis.prefix}${topic}` });
  const postgres = postgresOf(parsed);
  if (postgres) {
    return PostgresInvalidationBus.connect({
      connectionString: postgres.connectionString,
      channel: postgresChannel(topic, postgres.schema),
    });
  }
  return null;
}

/**
 * Whether several gateway processes can serve one store: not SQLite or
 * memory, which serve one process, so nothing there is per process that
 * could be shared.
 */
export function isShareable(store: StoreUrl): boolean {
  return store.scheme !== 'sqlite' && store.scheme !== 'memory';
}

/** The standalone Redis of a store (a tiered store's hot tier), with its key prefix; null for others. */
function standaloneRedisOf(store: StoreUrl): { url: string; prefix: string } | null {
  const redis = store.scheme === 'tiered' ? store.hot : store;
  return redis.scheme === 'redis' ? { url: redis.url, prefix: redis.prefix ?? 'cs:' } : null;
}

/** The PostgreSQL of a store (a tiered store's durable tier); null for others. */
function postgresOf(
  store: StoreUrl,
): { connectionString: string; schema: string | undefined } | null {
  const postgres = store.scheme === 'tiered' ? store.durable : store;
  return postgres.scheme === 'postgres' ? postgres : null;
}

/** One NOTIFY channel per schema, so deployments sharing a database do not hear each other. */
function postgresChannel(topic: string, schema: string | undefined): string {
  const name = (schema ?? 'public').toLowerCase().replace(/[^a-z0-9_]/g, '_');
  return `clawsession_${topic}_${name}`.slice(0, 63);
}
