import { ConfigError, withTimeout } from '../core/index.js';
import { openRedisCommandClient } from '../stores/index.js';

/**
 * What the Redis Streams sink and consumer need of a client: node-redis's
 * `sendCommand` (RESP2 or RESP3 replies, strings as strings). A `createClient()` from the
 * `redis` package fits.
 */
export interface RedisStreamsClient {
  sendCommand(args: string[]): Promise<unknown>;
}

/** Where the sink or consumer finds Redis: a URL it connects to (and closes), or a client of yours (left open). */
export interface RedisTarget {
  /** `redis[s]://[[user]:password@]host[:port][/db]`; the `redis` package is loaded when it first connects. */
  url?: string;
  client?: RedisStreamsClient;
  /** How long to wait for the first connection to `url`, in ms. Default 5,000. */
  connectTimeout?: number;
}

/** A client to send commands on, and how to let go of it. */
export interface HeldClient {
  client: RedisStreamsClient;
  /** Closes a client opened from a URL, waiting at most a moment for replies in flight; leaves a given client open. */
  release(): Promise<void>;
  /** Drops a client opened from a URL at once, failing what is in flight (a blocking read); false for a given client. */
  interrupt(): boolean;
}

/** ConfigError unless `target` has exactly one of url and client. */
export function checkTarget(target: RedisTarget, what: string): void {
  if ((target.url === undefined) === (target.client === undefined))
    throw new ConfigError(`${what} needs exactly one of url or client`);
}

export async function holdClient(target: RedisTarget, purpose: string): Promise<HeldClient> {
  if (target.client) {
    return { client: target.client, release: async () => {}, interrupt: () => false };
  }
  const owned = await openRedisCommandClient({
    url: target.url as string,
    purpose,
    connectTimeout: target.connectTimeout,
  });
  let open = true;
  return {
    client: owned,
    async release() {
      if (!open) return;
      open = false;
      await withTimeout(owned.close(), 2_000, () => new Error('closing timed out')).catch(() =>
        owned.destroy(),
      );
    },
    interrupt() {
      if (open) owned.destroy();
      open = false;
      return true;
    },
  };
}
