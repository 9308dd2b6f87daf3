import type { ChannelModel, ConfirmChannel } from 'amqplib';
import { BrokerUnavailableError, withTimeout } from '../core/index.js';
import { brokerUnavailable } from './broker.js';
import type { CloudEvent } from './envelope.js';
import {
  closeConnection,
  connectRabbitMq,
  type RabbitMqExchangeOptions,
  type RabbitMqTarget,
  rabbitMqTarget,
  watchChannel,
} from './rabbitmq-connection.js';
import type { EventSink } from './sink.js';

export interface RabbitMqSinkOptions extends RabbitMqExchangeOptions {
  /** The sink's name in logs and metrics. Default `rabbitmq`. */
  name?: string;
  /** ms to wait for the publisher confirms of a batch. Default 5000. */
  publishTimeout?: number;
}

interface Link {
  connection: ChannelModel;
  channel: ConfirmChannel;
}

/**
 * Publishes each event to a durable topic exchange, declared when the sink
 * connects, with the event's type as routing key (`session.created`), as a
 * persistent JSON message whose `messageId` is the event id and `type` its
 * type. `publish` resolves once the broker has confirmed every event of the
 * batch on a confirm channel; a nack, a closed channel or no confirm in time
 * rejects with BrokerUnavailableError. A lost connection is noticed and the
 * next `publish` opens a new one.
 */
export class RabbitMqSink implements EventSink {
  readonly name: string;
  readonly #target: RabbitMqTarget;
  readonly #publishTimeout: number;
  #link: Promise<Link> | undefined;
  #closed = false;

  /** Checks the options (a ConfigError names what is wrong); connects at the first `publish`. */
  constructor(options: RabbitMqSinkOptions = {}) {
    this.#target = rabbitMqTarget(options);
    this.#publishTimeout = options.publishTimeout ?? 5000;
    this.name = options.name ?? 'rabbitmq';
  }

  async publish(events: readonly CloudEvent[]): Promise<void> {
    if (this.#closed)
      throw new BrokerUnavailableError(`the sink for ${this.#target.server} is closed`);
    if (events.length === 0) return;
    const pending = this.#connected();
    const link = await pending;
    try {
      await withTimeout(
        Promise.all(events.map((event) => this.#confirmed(link.channel, event))),
        this.#publishTimeout,
        () => new Error('no publisher confirm in time'),
      );
    } catch (error) {
      this.#forget(pending);
      link.connection.close().catch(() => {});
      throw brokerUnavailable(this.#target.server, error);
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    const link = await this.#link?.catch(() => undefined);
    this.#link = undefined;
    if (link) await closeConnection(link.connection, this.#target.connectTimeout);
  }

  #confirmed(channel: ConfirmChannel, event: CloudEvent): Promise<void> {
    return new Promise((resolve, reject) => {
      const content = Buffer.from(JSON.stringify(event));
      channel.publish(
        this.#target.exchange,
        event.type,
        content,
        {
          persistent: true,
          messageId: event.id,
          type: event.type,
          contentType: 'application/json',
        },
        (error: unknown) => (error ? reject(error) : resolve()),
      );
    });
  }

  #connected(): Promise<Link> {
    if (this.#link) return this.#link;
    const lost = () => this.#forget(pending);
    const pending = this.#open(lost);
    this.#link = pending;
    pending.catch(lost);
    return pending;
  }

  async #open(onLost: () => void): Promise<Link> {
    const connection = await connectRabbitMq(this.#target, onLost);
    try {
      const channel = watchChannel(connection, await connection.createConfirmChannel());
      await channel.assertExchange(this.#target.exchange, 'topic', { durable: true });
      return { connection, channel };
    } catch (error) {
      connection.close().catch(() => {});
      throw brokerUnavailable(this.#target.server, error);
    }
  }

  /** Drops a connection that failed or ended, so the next publish makes a new one. */
  #forget(link: Promise<Link>): void {
    if (this.#link === link) this.#link = undefined;
  }
}
