import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import { ConfigError, type EventType } from '../core/index.js';
import { brokerUnavailable, checkedTypes, reporter } from './broker.js';
import { type CloudEvent, parseCloudEvent } from './envelope.js';
import {
  closeConnection,
  connectRabbitMq,
  type RabbitMqExchangeOptions,
  rabbitMqTarget,
  watchChannel,
} from './rabbitmq-connection.js';
import type { EventHandler, EventSubscription } from './sink.js';

export interface RabbitMqSubscriptionOptions extends RabbitMqExchangeOptions {
  /** The durable queue: subscriptions to one queue share its events, each event going to one of them. */
  queue: string;
  /** The event types to receive, bound as routing keys. Default: every type (`#`). */
  types?: readonly EventType[];
  handler: EventHandler;
  /**
   * Told of every event a handler failed (the error it threw), every message
   * that is not a clawsession event (a DecodeError) and every loss of the
   * connection (a BrokerUnavailableError). Default: a process warning.
   */
  onError?: (error: Error) => void;
  /** How many unacknowledged events the broker hands this subscription at most. Default 10. */
  prefetch?: number;
  /** ms before an event whose handler threw is given back to the queue, and between reconnections. Default 1000. */
  retryDelay?: number;
}

/**
 * Reads clawsession events from a durable queue, declared and bound to the
 * exchange with a routing key per type (or `#`). Events reach `handler` one
 * at a time in the order the queue hands them out; each is acked once its
 * handler resolved, and given back to the queue (nack with requeue, after
 * `retryDelay`) when it threw. A message that is not a clawsession event is
 * rejected without requeue (to the queue's dead-letter exchange, if it has
 * one) and reported. After a lost connection the subscription connects again
 * every `retryDelay` until it succeeds or is closed; the broker gives the
 * events it had not seen acked to a consumer again.
 */
export async function subscribeRabbit(
  options: RabbitMqSubscriptionOptions,
): Promise<EventSubscription> {
  const target = rabbitMqTarget(options);
  if (!options.queue) throw new ConfigError('a RabbitMQ subscription needs a queue name');
  const keys = checkedTypes(options.types) ?? ['#'];
  const report = reporter(options.onError);
  const retryDelay = options.retryDelay ?? 1000;
  const prefetch = options.prefetch ?? 10;
  const retries = new Set<NodeJS.Timeout>();
  let connection: ChannelModel | undefined;
  let handled: Promise<void> = Promise.resolve();
  let closed = false;

  async function handle(channel: Channel, message: ConsumeMessage): Promise<void> {
    let event: CloudEvent;
    try {
      event = parseCloudEvent(message.content);
    } catch (error) {
      settle(() => channel.reject(message, false));
      report(error);
      return;
    }
    try {
      await options.handler(event);
    } catch (error) {
      report(error);
      const retry = setTimeout(() => {
        retries.delete(retry);
        settle(() => channel.nack(message, false, true));
      }, retryDelay);
      retries.add(retry);
      return;
    }
    settle(() => channel.ack(message));
  }

  /** On a channel that closed meanwhile the broker gives the event to a consumer again by itself. */
  function settle(act: () => void): void {
    try {
      act();
    } catch {
      // Nothing to do: the event was not acked, so it comes again.
    }
  }

  async function start(): Promise<void> {
    const opened = await connectRabbitMq(target, (error) => {
      if (connection !== opened || closed) return;
      connection = undefined;
      report(brokerUnavailable(target.server, error ?? new Error('connection closed')));
      reconnect();
    });
    try {
      const channel = watchChannel(opened, await opened.createChannel());
      await channel.assertExchange(target.exchange, 'topic', { durable: true });
      await channel.assertQueue(options.queue, { durable: true });
      for (const key of keys) await channel.bindQueue(options.queue, target.exchange, key);
      await channel.prefetch(prefetch);
      if (closed) {
        // Closed while this reconnection was under way.
        await closeConnection(opened, target.connectTimeout);
        return;
      }
      connection = opened;
      await channel.consume(options.queue, (message) => {
        if (message === null) {
          // The broker cancelled the consumer (the queue was deleted): start over.
          opened.close().catch(() => {});
          return;
        }
        // Left unacked once closing: the broker requeues it as the connection closes.
        if (!closed) handled = handled.then(() => handle(channel, message));
      });
    } catch (error) {
      connection = undefined;
      opened.close().catch(() => {});
      throw brokerUnavailable(target.server, error);
    }
  }

  function reconnect(): void {
    const retry = setTimeout(() => {
      retries.delete(retry);
      if (closed) return;
      start().catch((error: unknown) => {
        report(error);
        reconnect();
      });
    }, retryDelay);
    retries.add(retry);
  }

  await start();
  return {
    async close() {
      closed = true;
      for (const retry of retries) clearTimeout(retry);
      retries.clear();
      const last = connection;
      connection = undefined;
      await handled;
      // Events not acked yet go back to the queue as the connection closes.
      if (last) await closeConnection(last, target.connectTimeout);
    },
  };
}
