import { ConfigError, type EventType, StoreUnavailableError, withTimeout } from '../core/index.js';
import { parseCloudEvent } from './envelope.js';
import { checkTarget, type HeldClient, holdClient, type RedisTarget } from './redis-client.js';
import { DEFAULT_EVENT_STREAM } from './redis-streams-sink.js';
import type { EventHandler, EventSubscription } from './sink.js';
import { Wakeup } from './wakeup.js';

export interface RedisStreamSubscriptionOptions extends RedisTarget {
  /** Default `clawsession:events`. */
  stream?: string;
  /** The consumer group: each entry goes to one consumer of the group. Created (with the stream) when missing. */
  group: string;
  /** This consumer's name in the group, stable across restarts (a host name, a pod name). */
  consumer: string;
  /** Only these types reach the handler; the group's other entries are acknowledged unread. Default: all. */
  types?: readonly EventType[];
  handler: EventHandler;
  /** Told of a handler that threw (the entry stays pending), an entry that is not an event (acknowledged) and a failed read (retried). */
  onError?: (error: unknown, entryId: string | null) => void;
  /** Where a group created here starts: `new` entries only, or `all` the stream holds. Default `new`. */
  start?: 'new' | 'all';
  /** Entries per read. Default 10. */
  count?: number;
  /**
   * How long one read waits for entries, in ms. Default 1,000. With a client
   * of yours, `close` may wait this long, and the blocking read holds the
   * client's connection: give the consumer a client of its own.
   */
  block?: number;
  /** Longest wait for Redis to answer a command, in ms, on top of `block` for a read; then it counts as failed and is tried again. Default 5,000. */
  commandTimeout?: number;
  /** An entry handed out this long ago (ms) and still not acknowledged (its handler threw, its consumer died) is handed out again. Default 30,000. */
  claimAfter?: number;
}

/** A stream entry as Redis gives it: its id and its fields (null once deleted from the stream). */
type Entry = [id: string, fields: string[] | null];

/**
 * Hands a Redis stream's events to `handler` through a consumer group:
 * each entry to one consumer of the group, acknowledged (XACK) only after
 * the handler resolved. An entry whose handler threw stays pending and is
 * handed out again after `claimAfter` (XAUTOCLAIM), to this consumer or
 * another; so is one a crashed consumer held. Delivery is at least once:
 * deduplicate by event id (see `Deduplicator`). An entry that is not a
 * clawsession event is acknowledged and reported to `onError`; nothing stops
 * the consumer but `close()`.
 */
export async function subscribeRedisStream(
  options: RedisStreamSubscriptionOptions,
): Promise<EventSubscription> {
  checkTarget(options, 'a Redis Streams consumer');
  if (!options.group || !options.consumer)
    throw new ConfigError('a Redis Streams consumer needs a group and a consumer name');
  const held = await holdClient(options, 'event consumer');
  const consumer = new StreamConsumer(options, held);
  try {
    await consumer.createGroup();
  } catch (error) {
    await held.release();
    throw error;
  }
  consumer.start();
  return { close: () => consumer.close() };
}

class StreamConsumer {
  readonly #options: RedisStreamSubscriptionOptions;
  readonly #held: HeldClient;
  readonly #stream: string;
  readonly #types: ReadonlySet<EventType> | null;
  readonly #wakeup = new Wakeup();
  #claimCursor = '0-0';
  #closed = false;
  #reading = false;
  #loop: Promise<void> | null = null;

  constructor(options: RedisStreamSubscriptionOptions, held: HeldClient) {
    this.#options = options;
    this.#held = held;
    this.#stream = options.stream ?? DEFAULT_EVENT_STREAM;
    this.#types = options.types ? new Set(options.types) : null;
  }

  async createGroup(): Promise<void> {
    const from = this.#options.start === 'all' ? '0' : '$';
    try {
      await this.#send(['XGROUP', 'CREATE', this.#stream, this.#options.group, from, 'MKSTREAM']);
    } catch (error) {
      if (!replyStartsWith(error, 'BUSYGROUP')) throw error;
    }
  }

  start(): void {
    this.#loop = this.#run();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#wakeup.notify();
    // A blocking read would hold the close for up to `block`; a handler in flight is waited for.
    if (this.#reading) this.#held.interrupt();
    await this.#loop;
    await this.#held.release();
  }

  async #run(): Promise<void> {
    let failures = 0;
    while (!this.#closed) {
      try {
        await this.#handleAll(await this.#claimStale());
        if (this.#closed) break;
        await this.#handleAll(await this.#readNew());
        failures = 0;
      } catch (error) {
        if (this.#closed) break;
        failures++;
        this.#options.onError?.(error, null);
        if (replyStartsWith(error, 'NOGROUP')) await this.createGroup().catch(() => undefined);
        await this.#wakeup.wait(Math.min(100 * 2 ** failures, 5_000));
      }
    }
  }

  /** Pending entries of the group idle longer than `claimAfter`, now this consumer's, a page per call. */
  async #claimStale(): Promise<Entry[]> {
    const reply = (await this.#send([
      'XAUTOCLAIM',
      this.#stream,
      this.#options.group,
      this.#options.consumer,
      String(this.#options.claimAfter ?? 30_000),
      this.#claimCursor,
      'COUNT',
      String(this.#options.count ?? 10),
    ])) as [string, (Entry | null)[]];
    this.#claimCursor = reply[0];
    return reply[1].filter((entry): entry is Entry => entry !== null);
  }

  async #readNew(): Promise<Entry[]> {
    this.#reading = true;
    try {
      const reply = await this.#send(
        [
          'XREADGROUP',
          'GROUP',
          this.#options.group,
          this.#options.consumer,
          'COUNT',
          String(this.#options.count ?? 10),
          'BLOCK',
          String(this.#options.block ?? 1_000),
          'STREAMS',
          this.#stream,
          '>',
        ],
        this.#options.block ?? 1_000,
      );
      return entriesOf(reply, this.#stream);
    } finally {
      this.#reading = false;
    }
  }

  async #handleAll(entries: readonly Entry[]): Promise<void> {
    for (const entry of entries) await this.#handle(entry);
  }

  async #handle([id, fields]: Entry): Promise<void> {
    let event: ReturnType<typeof parseCloudEvent>;
    try {
      event = parseCloudEvent(fieldOf(fields, 'event') ?? '');
    } catch (error) {
      await this.#ack(id);
      this.#options.onError?.(error, id);
      return;
    }
    if (this.#types && !this.#types.has(event.type)) return this.#ack(id);
    try {
      await this.#options.handler(event);
    } catch (error) {
      this.#options.onError?.(error, id);
      return;
    }
    await this.#ack(id);
  }

  async #ack(id: string): Promise<void> {
    await this.#send(['XACK', this.#stream, this.#options.group, id]);
  }

  /** One command, failing if Redis has not answered within `commandTimeout` (plus `blocking` ms it was told to wait). */
  #send(args: string[], blocking = 0): Promise<unknown> {
    const timeout = (this.#options.commandTimeout ?? 5_000) + blocking;
    return withTimeout(
      this.#held.client.sendCommand(args),
      timeout,
      () => new StoreUnavailableError(`Redis did not answer ${args[0]} within ${timeout} ms`),
    );
  }
}

/** XREADGROUP's entries of `stream`: an array of [stream, entries] pairs in RESP2, a map by stream in RESP3. */
function entriesOf(reply: unknown, stream: string): Entry[] {
  if (reply === null || reply === undefined) return [];
  if (Array.isArray(reply))
    return (reply as [string, Entry[]][]).find(([name]) => String(name) === stream)?.[1] ?? [];
  if (reply instanceof Map) return (reply.get(stream) as Entry[] | undefined) ?? [];
  return (reply as Record<string, Entry[]>)[stream] ?? [];
}

function fieldOf(fields: readonly string[] | null, name: string): string | undefined {
  if (!fields) return undefined;
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}

function replyStartsWith(error: unknown, code: string): boolean {
  return error instanceof Error && error.message.startsWith(code);
}
