import { connectOrFail, redisServerName } from './connection.js';
import { loadRedis } from './driver.js';

/**
 * A plain connection to a standalone Redis, for code outside this folder
 * (the event sinks and consumers of src/events), which may not load the
 * driver itself. Replies come as node-redis gives them.
 */
export interface RedisCommandClient {
  sendCommand(args: string[]): Promise<unknown>;
  /** Waits for the replies in flight, then closes. */
  close(): Promise<void>;
  /** Closes at once; commands in flight fail. */
  destroy(): void;
}

export interface RedisCommandClientOptions {
  /** `redis[s]://[[user]:password@]host[:port][/db]`. */
  url: string;
  /** Names the connection in errors, such as `events`. */
  purpose: string;
  /** How long to wait for the first connection, in ms. Default 5,000. */
  connectTimeout?: number;
}

/**
 * Connects within `connectTimeout` or fails with StoreUnavailableError. The
 * offline queue is off: while Redis is out of reach a command fails at once
 * instead of waiting for the reconnect, which the client keeps trying.
 */
export async function openRedisCommandClient(
  options: RedisCommandClientOptions,
): Promise<RedisCommandClient> {
  const { createClient } = await loadRedis();
  const connectTimeout = options.connectTimeout ?? 5_000;
  const client = createClient({
    url: options.url,
    disableOfflineQueue: true,
    socket: {
      connectTimeout,
      reconnectStrategy: (retries: number) => Math.min(50 * 2 ** retries, 2_000),
    },
  });
  await connectOrFail(
    client,
    options.purpose,
    connectTimeout,
    redisServerName({ url: options.url }, options.purpose),
  );
  return {
    sendCommand: (args) => client.sendCommand(args),
    close: () => client.close(),
    destroy: () => client.destroy(),
  };
}
