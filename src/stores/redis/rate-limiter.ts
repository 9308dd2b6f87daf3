import { createHash, randomBytes } from 'node:crypto';
import { assertCost, assertPolicy, failedOpen, storageKey } from '../../core/backend-kit.js';
import {
  type RateLimiter,
  type RateLimitPolicy,
  type RateLimitResult,
  StoreUnavailableError,
} from '../../core/index.js';
import { connectOrFail, redisCommand, redisServerName } from './connection.js';
import { loadRedis } from './driver.js';

/** The few commands used, which a node-redis client and a cluster both offer. */
export interface RedisRateLimitClient {
  evalSha(sha: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
  eval(script: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
  zRem(key: string, members: string[]): Promise<unknown>;
  del(key: string): Promise<unknown>;
}

export interface RedisRateLimiterOptions extends RateLimitPolicy {
  /**
   * A connected node-redis client or cluster, which several limiters can
   * share; the limiter never closes it. Create it with
   * `disableOfflineQueue: true` so that checks fail at once while Redis is down.
   */
  client: RedisRateLimitClient;
  /** Key prefix. Default `cs:rl:`. */
  prefix?: string;
  /**
   * Epoch milliseconds. Default `Date.now`. Every instance sharing a limit
   * stamps charges with its own clock, so keep their clocks synchronized (NTP):
   * a skew of s ms lets the window act up to s ms shorter or longer.
   */
  clock?: () => number;
  /**
   * When Redis cannot be reached: false (the default) throws
   * StoreUnavailableError, which the gateway answers with 503, so an outage
   * never switches brute-force protection off; true allows the call (and
   * reports the error to `onUnavailable`), for limits that protect capacity
   * rather than credentials.
   */
  failOpen?: boolean;
  /** Told of every outage a fail-open limiter let through. */
  onUnavailable?: (error: StoreUnavailableError) => void;
  /** How long to wait for Redis per check, in ms. Default 1,000. */
  commandTimeout?: number;
}

export interface RedisRateLimiterConnectOptions extends Omit<RedisRateLimiterOptions, 'client'> {
  url: string;
  /** How long to wait for the first connection, in ms. Default 5,000. */
  connectTimeout?: number;
}

/*
 * One sliding-window log per key: a sorted set with one member per charged
 * unit, scored by the time it was charged. Touching only KEYS[1] keeps it legal
 * on a cluster and atomic on the node that owns the key; ZCARD counts the
 * window and ZRANGE finds the unit whose expiry frees enough room, both
 * without reading the whole log. The key expires when its newest unit leaves
 * the window. Epoch milliseconds stay exact in Lua doubles only if nothing
 * formats them with %g, hence `ms`.
 * ARGV: now, window, limit, cost, charge id.
 * Returns allowed (1/0), remaining, retry after, reset, all in ms.
 */
const CONSUME_SOURCE = `
local function ms(n) return string.format('%d', n) end
local now, window = tonumber(ARGV[1]), tonumber(ARGV[2])
local limit, cost = tonumber(ARGV[3]), tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ms(now - window))
local used = redis.call('ZCARD', KEYS[1])
local allowed, retry = 0, 0
if used + cost <= limit then
  for i = 1, cost do redis.call('ZADD', KEYS[1], ARGV[1], ARGV[5] .. ':' .. i) end
  used = used + cost
  allowed = 1
else
  local rank = used + cost - limit - 1
  local freeing = redis.call('ZRANGE', KEYS[1], rank, rank, 'WITHSCORES')
  retry = tonumber(freeing[2]) + window - now
end
local newest = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
local reset = tonumber(newest[2]) + window - now
if allowed == 1 then redis.call('PEXPIRE', KEYS[1], ms(reset)) end
return {allowed, limit - used, retry, reset}
`;
const CONSUME_SHA = createHash('sha1').update(CONSUME_SOURCE).digest('hex');

/**
 * A sliding-window log in Redis, shared by every instance that uses the same
 * prefix. Exact, like MemoryRateLimiter; Redis holds at most `limit` members
 * per live key, and keys expire by themselves.
 */
export class RedisRateLimiter implements RateLimiter {
  readonly limit: number;
  readonly windowMs: number;
  readonly #client: RedisRateLimitClient;
  /** Set only for a connection `connect` opened. */
  #close: (() => Promise<void>) | undefined;
  readonly #prefix: string;
  readonly #clock: () => number;
  readonly #failOpen: boolean;
  readonly #onUnavailable: (error: StoreUnavailableError) => void;
  readonly #timeout: number;
  readonly #server: string;
  /** Charge ids: unique per instance by the random part, per charge by the counter. */
  readonly #instance = randomBytes(6).toString('base64url');
  #charged = 0;
  readonly #charges = new WeakMap<RateLimitResult, { key: string; members: string[] }>();

  constructor(options: RedisRateLimiterOptions) {
    assertPolicy(options);
    this.limit = options.limit;
    this.windowMs = options.windowMs;
    this.#client = options.client;
    this.#prefix = options.prefix ?? 'cs:rl:';
    this.#clock = options.clock ?? Date.now;
    this.#failOpen = options.failOpen ?? false;
    this.#onUnavailable = options.onUnavailable ?? (() => {});
    this.#timeout = options.commandTimeout ?? 1_000;
    // A client made by node-redis knows its URL; a cluster's root nodes it keeps to itself.
    const url = (options.client as { options?: { url?: string } }).options?.url;
    this.#server = redisServerName({ url }, 'rate limits');
  }

  /** A limiter with a connection of its own, closed by `close()`. */
  static async connect(options: RedisRateLimiterConnectOptions): Promise<RedisRateLimiter> {
    const { createClient } = await loadRedis();
    const client = createClient({ url: options.url, disableOfflineQueue: true });
    await connectOrFail(client, 'rate limits', options.connectTimeout);
    const limiter = new RedisRateLimiter({ ...options, client });
    limiter.#close = () => client.close().catch(() => client.destroy());
    return limiter;
  }

  async consume(key: string, cost = 1): Promise<RateLimitResult> {
    assertCost(cost, this.limit);
    const redisKey = this.#prefix + storageKey(key);
    const now = Math.floor(this.#clock());
    const id = `${this.#instance}.${(++this.#charged).toString(36)}`;
    const args = [String(now), String(this.windowMs), String(this.limit), String(cost), id];
    let reply: unknown;
    try {
      reply = await redisCommand(
        this.#server,
        () => this.#evalConsume(redisKey, args),
        this.#timeout,
      );
    } catch (error) {
      if (!this.#failOpen || !(error instanceof StoreUnavailableError)) throw error;
      this.#onUnavailable(error);
      return failedOpen(key, this.limit, cost);
    }
    const [allowed, remaining, retryAfterMs, resetMs] = reply as [number, number, number, number];
    const result = {
      key,
      allowed: allowed === 1,
      limit: this.limit,
      remaining,
      retryAfterMs,
      resetMs,
    };
    if (result.allowed) {
      const members = Array.from({ length: cost }, (_, i) => `${id}:${i + 1}`);
      this.#charges.set(result, { key: redisKey, members });
    }
    return result;
  }

  async refund(result: RateLimitResult): Promise<void> {
    const charged = this.#charges.get(result);
    if (!charged) return;
    this.#charges.delete(result);
    await redisCommand(
      this.#server,
      () => this.#client.zRem(charged.key, charged.members),
      this.#timeout,
    );
  }

  async reset(key: string): Promise<void> {
    const redisKey = this.#prefix + storageKey(key);
    await redisCommand(this.#server, () => this.#client.del(redisKey), this.#timeout);
  }

  /** Closes the connection if `connect` opened it; a shared client stays open. */
  async close(): Promise<void> {
    await this.#close?.();
  }

  /** By its SHA-1, sending the source only when this Redis node has not seen it yet. */
  async #evalConsume(key: string, args: string[]): Promise<unknown> {
    try {
      return await this.#client.evalSha(CONSUME_SHA, { keys: [key], arguments: args });
    } catch (error) {
      if (!(error instanceof Error && error.message.startsWith('NOSCRIPT'))) throw error;
      return this.#client.eval(CONSUME_SOURCE, { keys: [key], arguments: args });
    }
  }
}
