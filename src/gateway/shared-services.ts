import type {
  InvalidationBus,
  RateLimiter,
  RateLimiters,
  RateLimitPolicy,
  RecordStore,
} from '../core/index.js';
import { ApiKeys } from '../keys/index.js';
import { MemoryRateLimiter, openBackend } from '../stores/index.js';
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
 * key invalidations, on the store's backend where it can share them (on
 * Redis under the store's key prefix, on PostgreSQL in a table of the store's
 * schema on a pool of their own, with LISTEN/NOTIFY for invalidations; a
 * tiered store's hot tier first, else its durable tier); elsewhere per
 * process. The warnings say which.
 */
export async function openSharedServices(
  config: Pick<GatewayConfig, 'store' | 'rateLimits' | 'keyCacheTtl'>,
  options: { clock: () => number; onRejected: (limiter: string) => void },
): Promise<SharedServices> {
  const backend = openBackend(config.store);
  const warnings: string[] = [];
  let limiters: RateLimiters | undefined;
  let bus: InvalidationBus | undefined;
  try {
    limiters = await backend.openLimiters?.();
    if (!limiters && backend.shared) {
      warnings.push(
        'login, service credential and API key rate limits count per process; a Redis, Redis Cluster or PostgreSQL store (or a tiered one with a Redis hot tier or a PostgreSQL durable tier) shares them',
      );
    }
    bus = (await openKeyInvalidationBus(config.store)) ?? undefined;
    if (!bus && backend.shared) {
      warnings.push(
        `other gateways refuse a revoked or rotated API key only after keyCacheTtl (${config.keyCacheTtl} ms); a Redis or PostgreSQL store tells them at once`,
      );
    }
  } catch (error) {
    await limiters?.close().catch(() => undefined);
    await bus?.close();
    throw error;
  }
  const limiter = (name: string, policy: RateLimitPolicy): RateLimiter =>
    limiters
      ? limiters.create(name, { clock: options.clock, ...policy })
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
      await limiters?.close();
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
  return (await openBackend(storeUrl).openBus?.(topic)) ?? null;
}
