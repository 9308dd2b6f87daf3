import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { BrokerUnavailableError } from '../core/index.js';
import { brokerUnavailable } from './broker.js';
import type { CloudEvent } from './envelope.js';
import {
  connectNats,
  type NatsStreamOptions,
  type NatsTarget,
  natsTarget,
  subjectOf,
} from './nats-connection.js';
import type { NatsDriver } from './nats-driver.js';
import type { EventSink } from './sink.js';

export interface NatsSinkOptions extends NatsStreamOptions {
  /** The sink's name in logs and metrics. Default `nats`. */
  name?: string;
  /** How long the stream keeps an event, in ms, when the sink creates the stream. Default 7 days. */
  maxAge?: number;
  /** The most bytes the stream keeps, the oldest dropped first, when the sink creates it. Default: no limit. */
  maxBytes?: number;
  /**
   * How long JetStream remembers an event id, in ms, to drop a copy the relay
   * sends again, when the sink creates the stream. Default 2 minutes.
   */
  duplicateWindow?: number;
  /** ms to wait for the PubAcks of a batch. Default 5000. */
  publishTimeout?: number;
}

const DAY = 86_400_000;

interface Link {
  connection: NatsConnection;
  jetstream: JetStreamClient;
}

/**
 * Publishes each event to `<subjectPrefix>.<type>` on a JetStream stream it
 * creates when missing, with the JSON envelope as payload and the event id as
 * `Nats-Msg-Id`, so that JetStream drops the copies of a batch sent again
 * within its duplicate window. `publish` resolves once every event has its
 * PubAck. After a failure the connection is dropped and the next `publish`
 * opens a new one: an outage never outlives the broker's.
 */
export class NatsSink implements EventSink {
  readonly name: string;
  readonly #target: NatsTarget;
  readonly #options: NatsSinkOptions;
  #link: Promise<Link> | undefined;
  #closed = false;

  /** Checks the options (a ConfigError names what is wrong); connects at the first `publish`. */
  constructor(options: NatsSinkOptions = {}) {
    this.#target = natsTarget(options);
    this.#options = options;
    this.name = options.name ?? 'nats';
  }

  async publish(events: readonly CloudEvent[]): Promise<void> {
    if (this.#closed)
      throw new BrokerUnavailableError(`the sink for ${this.#target.server} is closed`);
    if (events.length === 0) return;
    const pending = this.#connected();
    const link = await pending;
    const timeout = this.#options.publishTimeout ?? 5000;
    try {
      // Sent back to back on one connection, so JetStream stores them in the batch's order.
      await Promise.all(
        events.map((event) =>
          link.jetstream.publish(
            subjectOf(this.#target.subjectPrefix, event.type),
            JSON.stringify(event),
            { msgID: event.id, timeout },
          ),
        ),
      );
    } catch (error) {
      this.#drop(pending, link);
      throw brokerUnavailable(this.#target.server, error);
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    const link = await this.#link?.catch(() => undefined);
    this.#link = undefined;
    await link?.connection.close();
  }

  #connected(): Promise<Link> {
    if (this.#link) return this.#link;
    const link = this.#open();
    this.#link = link;
    link.catch(() => {
      if (this.#link === link) this.#link = undefined;
    });
    return link;
  }

  async #open(): Promise<Link> {
    const { nats, connection } = await connectNats(this.#target, 'clawsession event sink');
    try {
      const manager = await nats.jetstream.jetstreamManager(connection);
      await this.#ensureStream(nats, manager);
      return { connection, jetstream: manager.jetstream() };
    } catch (error) {
      await connection.close();
      throw brokerUnavailable(this.#target.server, error);
    }
  }

  /** Creates the stream unless it exists; an existing stream is left as its operator made it. */
  async #ensureStream(nats: NatsDriver, manager: JetStreamManager): Promise<void> {
    const { JetStreamApiError, JetStreamApiCodes, StorageType, RetentionPolicy } = nats.jetstream;
    try {
      await manager.streams.info(this.#target.stream);
      return;
    } catch (error) {
      if (!(error instanceof JetStreamApiError && error.code === JetStreamApiCodes.StreamNotFound))
        throw error;
    }
    await manager.streams.add({
      name: this.#target.stream,
      subjects: [`${this.#target.subjectPrefix}.>`],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      max_age: nanos(this.#options.maxAge ?? 7 * DAY),
      max_bytes: this.#options.maxBytes ?? -1,
      duplicate_window: nanos(this.#options.duplicateWindow ?? 120_000),
    });
  }

  /** Forgets a connection that failed, so the next publish makes a new one. */
  #drop(pending: Promise<Link>, link: Link): void {
    if (this.#link === pending) this.#link = undefined;
    link.connection.close().catch(() => {});
  }
}

function nanos(ms: number): number {
  return ms * 1_000_000;
}
