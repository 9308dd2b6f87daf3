import type { RedisClientType } from 'redis';
import type { InvalidationBus } from '../../core/index.js';
import { connectOrFail, redisCommand, redisServerName } from './connection.js';
import { loadRedis } from './driver.js';

export interface RedisInvalidationBusOptions {
  url: string;
  /** Pub/sub channel shared by every instance of one deployment. Default `cs:invalidate`. */
  channel?: string;
}

/**
 * Invalidation over Redis pub/sub. Pub/sub delivers at most once, so after a
 * reconnect of the subscriber (when messages may have been missed) every
 * subscriber is told to drop its whole cache.
 */
export class RedisInvalidationBus implements InvalidationBus {
  readonly #publisher: RedisClientType;
  readonly #subscriber: RedisClientType;
  readonly #channel: string;
  readonly #server: string;

  private constructor(
    publisher: RedisClientType,
    subscriber: RedisClientType,
    channel: string,
    server: string,
  ) {
    this.#publisher = publisher;
    this.#subscriber = subscriber;
    this.#channel = channel;
    this.#server = server;
  }

  static async connect(options: RedisInvalidationBusOptions): Promise<RedisInvalidationBus> {
    const { createClient } = await loadRedis();
    const socket = {
      connectTimeout: 2_000,
      reconnectStrategy: (retries: number) => Math.min(50 * 2 ** retries, 2_000),
    };
    const publisher = createClient({
      url: options.url,
      socket,
      disableOfflineQueue: true,
    }) as RedisClientType;
    const subscriber = publisher.duplicate() as RedisClientType;
    const server = redisServerName(options, 'invalidations');
    const connected = await Promise.allSettled([
      connectOrFail(publisher, 'invalidations'),
      connectOrFail(subscriber, 'invalidations'),
    ]);
    const failure = connected.find((result) => result.status === 'rejected');
    if (failure) {
      for (const client of [publisher, subscriber]) if (client.isOpen) client.destroy();
      throw failure.reason;
    }
    return new RedisInvalidationBus(
      publisher,
      subscriber,
      options.channel ?? 'cs:invalidate',
      server,
    );
  }

  async publish(id: string): Promise<void> {
    await redisCommand(this.#server, () => this.#publisher.publish(this.#channel, id));
  }

  async subscribe(handler: (id: string | null) => void): Promise<void> {
    let connectedBefore = true;
    this.#subscriber.on('error', () => {
      connectedBefore = false;
    });
    this.#subscriber.on('ready', () => {
      if (!connectedBefore) handler(null);
      connectedBefore = true;
    });
    await this.#subscriber.subscribe(this.#channel, (message) => handler(message));
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.#subscriber.close(), this.#publisher.close()]);
  }
}
