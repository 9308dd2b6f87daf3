import { createClient } from 'redis';
import {
  MemoryRateLimiter,
  type RateLimiter,
  type RateLimitPolicy,
  RedisRateLimiter,
} from '../http/index.js';
import { ApiKeys } from '../keys/index.js';
import { connectOrFail, type RecordStore, RedisInvalidationBus } from '../stores/index.js';
import type { LoginLimiters } from './auth/index.js';
import type { GatewayConfig } from './config.js';

export interface SharedServices {
  loginLimiters: LoginLimiters;
  apiKeys(records: RecordStore): ApiKeys;
  /** Why limits or invalidations are per process here, to print at start; empty when shared. */
  warnings: string[];
  close(): Promise<void>;
}

/**
 * What several gateways must share besides the stores: rate limits and API
 * key invalidations. On a standalone Redis store (or a tiered store whose hot
 * tier is one) they go through that Redis, under the store's key prefix;
 * elsewhere they count per process, which the warnings say.
 */
export async function openSharedServices(
  config: Pick<GatewayConfig, 'store' | 'rateLimits' | 'keyCacheTtl'>,
  options: { clock: () => number; onRejected: (limiter: string) => void },
): Promise<SharedServices> {
  const redis = standaloneRedisOf(config.store);
  const warnings: string[] = [];
  let client: ReturnType<typeof createClient> | undefined;
  let bus: RedisInvalidationBus | undefined;
  try {
    if (redis) {
      client = createClient({ url: redis.url, disableOfflineQueue: true });
      await connectOrFail(client, 'rate limits');
      bus = await RedisInvalidationBus.connect({ url: redis.url, channel: `${redis.prefix}keys` });
    } else {
      warnings.push(
        `login and API key rate limits count per process, and other gateways refuse a revoked API key only after keyCacheTtl (${config.keyCacheTtl} ms); a Redis store shares both`,
      );
    }
  } catch (error) {
    await client?.close().catch(() => client?.destroy());
    throw error;
  }
  const limiter = (name: string, policy: RateLimitPolicy): RateLimiter =>
    client && redis
      ? new RedisRateLimiter({
          client,
          prefix: `${redis.prefix}rl:${name}:`,
          clock: options.clock,
          ...policy,
        })
      : new MemoryRateLimiter({ clock: options.clock, ...policy });
  const counted = (name: string, inner: RateLimiter): RateLimiter =>
    countingRejections(inner, () => options.onRejected(name));

  const { loginPerIp, loginPerAccount } = config.rateLimits;
  return {
    loginLimiters: {
      ip: counted(
        'login-ip',
        limiter('login-ip', { limit: loginPerIp.limit, windowMs: loginPerIp.window }),
      ),
      account: counted(
        'login-account',
        limiter('login-account', {
          limit: loginPerAccount.limit,
          windowMs: loginPerAccount.window,
        }),
      ),
    },
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
      await client?.close().catch(() => client?.destroy());
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

/** The standalone Redis behind a store URL, with the store's key prefix; null for other stores. */
function standaloneRedisOf(storeUrl: string): { url: string; prefix: string } | null {
  const url = storeUrl.startsWith('tiered:') ? (storeUrl.slice(7).split('|')[0] ?? '') : storeUrl;
  if (!/^rediss?:/.test(url)) return null;
  const parsed = new URL(url);
  const prefix = parsed.searchParams.get('prefix') ?? 'cs:';
  parsed.search = '';
  return { url: parsed.toString(), prefix };
}
