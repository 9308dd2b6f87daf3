import { StoreUnavailableError, withTimeout } from '../core/index.js';
import type { CloudEvent } from './envelope.js';
import { checkTarget, type HeldClient, holdClient, type RedisTarget } from './redis-client.js';
import type { EventSink } from './sink.js';

/** The stream events go to unless told otherwise. */
export const DEFAULT_EVENT_STREAM = 'clawsession:events';

export interface RedisStreamsSinkOptions extends RedisTarget {
  /** Default `clawsession:events`. */
  stream?: string;
  /** Keeps the stream to about this many entries (`MAXLEN ~`); unbounded when unset. */
  maxLen?: number;
  /** Names the sink in the delivery log. Default `redis`. */
  name?: string;
  /** Longest wait for Redis to answer a batch's XADDs, in ms. Default 5,000. */
  commandTimeout?: number;
}

/**
 * Publishes each event with `XADD` to a Redis stream, fields `type`, `id`
 * and `event` (the JSON envelope), in the batch's order; a batch resolves
 * once Redis has answered every XADD. Connects on the first publish, and
 * again after a failed connection.
 */
export class RedisStreamsSink implements EventSink {
  readonly name: string;
  readonly #target: RedisTarget;
  readonly #stream: string;
  readonly #trim: string[];
  readonly #timeout: number;
  #held: Promise<HeldClient> | null = null;

  constructor(options: RedisStreamsSinkOptions) {
    checkTarget(options, 'a Redis Streams sink');
    this.#target = options;
    this.name = options.name ?? 'redis';
    this.#stream = options.stream ?? DEFAULT_EVENT_STREAM;
    this.#trim = options.maxLen === undefined ? [] : ['MAXLEN', '~', String(options.maxLen)];
    this.#timeout = options.commandTimeout ?? 5_000;
  }

  async publish(events: readonly CloudEvent[]): Promise<void> {
    if (events.length === 0) return;
    const { client } = await this.#connection();
    // Sent in one go, they are pipelined on the connection and appended in this order.
    const appended = Promise.all(
      events.map((event) =>
        client.sendCommand([
          'XADD',
          this.#stream,
          ...this.#trim,
          '*',
          'type',
          event.type,
          'id',
          event.id,
          'event',
          JSON.stringify(event),
        ]),
      ),
    );
    await withTimeout(
      appended,
      this.#timeout,
      () =>
        new StoreUnavailableError(
          `Redis did not acknowledge the events within ${this.#timeout} ms`,
        ),
    );
  }

  async close(): Promise<void> {
    const held = this.#held;
    this.#held = null;
    await (await held?.catch(() => null))?.release();
  }

  #connection(): Promise<HeldClient> {
    this.#held ??= holdClient(this.#target, 'events').catch((error) => {
      this.#held = null;
      throw error;
    });
    return this.#held;
  }
}
