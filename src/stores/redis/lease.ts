import { randomBytes } from 'node:crypto';
import type { RedisClientType } from 'redis';
import { storeUnavailable } from '../../core/backend-kit.js';
import {
  ConfigError,
  type Lease,
  type LeaseOutcome,
  StoreUnavailableError,
} from '../../core/index.js';
import { connectOrFail, redisCommand, redisServerName } from './connection.js';
import { loadRedis } from './driver.js';

export interface RedisLeaseOptions {
  /** A standalone server. Give this or `cluster`. */
  url?: string;
  /** Some nodes of a Redis Cluster; the lease key is routed to the node that owns its slot. */
  cluster?: { rootNodes: readonly string[] };
  /** How long a holder that stops renewing (crashed, partitioned) keeps the lease, in ms. Default 30,000. */
  ttl?: number;
  /** Key prefix. Default `cs:lease:`. */
  prefix?: string;
  /** How long to wait for the first connection, in ms. Default 5,000. */
  connectTimeout?: number;
}

// Renew or release only while we are still the holder: never extend or drop someone else's lease.
const RENEW =
  "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0";
const RELEASE =
  "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";

/** What a lease needs of a standalone or cluster client: both route these by key. */
type LeaseClient = Pick<RedisClientType, 'set' | 'eval' | 'close'>;

/**
 * A lease in Redis for work that exactly one instance should do at a time
 * (sweeps). Taken with SET NX PX and renewed at a third of its ttl while the
 * work runs; a holder that dies stops renewing and the lease expires.
 */
export class RedisLease implements Lease {
  readonly #client: LeaseClient;
  readonly #ttl: number;
  readonly #prefix: string;
  readonly #server: string;

  private constructor(client: LeaseClient, options: RedisLeaseOptions, server: string) {
    this.#client = client;
    this.#server = server;
    this.#ttl = options.ttl ?? 30_000;
    this.#prefix = options.prefix ?? 'cs:lease:';
  }

  static async connect(options: RedisLeaseOptions): Promise<RedisLease> {
    if ((options.url === undefined) === (options.cluster === undefined)) {
      throw new ConfigError('a Redis lease needs exactly one of url or cluster');
    }
    const { createClient, createCluster } = await loadRedis();
    const client = options.cluster
      ? createCluster({
          rootNodes: options.cluster.rootNodes.map((url) => ({ url })),
          defaults: { disableOfflineQueue: true },
        })
      : createClient({ url: options.url, disableOfflineQueue: true });
    const server = redisServerName(
      { url: options.url, rootNodes: options.cluster?.rootNodes },
      'leases',
    );
    await connectOrFail(client, 'leases', options.connectTimeout, server);
    return new RedisLease(client as unknown as LeaseClient, options, server);
  }

  /** Runs `fn` if the lease `name` is free, else returns `{ acquired: false }` at once. */
  async run<T>(name: string, fn: (signal: AbortSignal) => Promise<T>): Promise<LeaseOutcome<T>> {
    const key = this.#prefix + name;
    const owner = randomBytes(16).toString('hex');
    const taken = await redisCommand(this.#server, () =>
      this.#client.set(key, owner, {
        condition: 'NX',
        expiration: { type: 'PX', value: this.#ttl },
      }),
    );
    if (taken !== 'OK') return { acquired: false };
    const lost = new AbortController();
    const renewal = setInterval(async () => {
      try {
        const renewed = await this.#client.eval(RENEW, {
          keys: [key],
          arguments: [owner, String(this.#ttl)],
        });
        if (renewed !== 1)
          lost.abort(new StoreUnavailableError(`${this.#server}: lease ${name} was lost`));
      } catch (error) {
        lost.abort(storeUnavailable(this.#server, error));
      }
    }, this.#ttl / 3);
    try {
      return { acquired: true, value: await fn(lost.signal) };
    } finally {
      clearInterval(renewal);
      await this.#client.eval(RELEASE, { keys: [key], arguments: [owner] }).catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    await this.#client.close().catch(() => undefined);
  }
}
