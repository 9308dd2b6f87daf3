import type { Channel, ChannelModel } from 'amqplib';
import { withTimeout } from '../core/index.js';
import { brokerName, brokerUnavailable } from './broker.js';
import { loadAmqp } from './rabbitmq-driver.js';

/** Where the RabbitMQ sink and subscriptions look unless told otherwise. */
export const RABBITMQ_DEFAULTS = Object.freeze({
  url: 'amqp://guest:guest@127.0.0.1:5672',
  exchange: 'clawsession.events',
  connectTimeout: 5000,
});

/** Where the events of one deployment go in RabbitMQ. */
export interface RabbitMqExchangeOptions {
  /** The broker, `amqp://user:password@host:port/vhost`. Default `amqp://guest:guest@127.0.0.1:5672`. */
  url?: string;
  /** The durable topic exchange events are published to. Default `clawsession.events`. */
  exchange?: string;
  /** ms to wait for the broker when connecting. Default 5000. */
  connectTimeout?: number;
}

export interface RabbitMqTarget {
  url: string;
  exchange: string;
  connectTimeout: number;
  /** `RabbitMQ at host:port`, for messages. */
  server: string;
}

/** The options with their defaults; a ConfigError for a URL that is not one. */
export function rabbitMqTarget(options: RabbitMqExchangeOptions): RabbitMqTarget {
  const url = options.url ?? RABBITMQ_DEFAULTS.url;
  return {
    url,
    exchange: options.exchange ?? RABBITMQ_DEFAULTS.exchange,
    connectTimeout: options.connectTimeout ?? RABBITMQ_DEFAULTS.connectTimeout,
    server: brokerName('RabbitMQ', url, url.startsWith('amqps:') ? 5671 : 5672),
  };
}

/**
 * A connection to the broker, or a BrokerUnavailableError naming the server,
 * never its credentials. `onLost` hears of the connection's end, whatever
 * ended it.
 */
export async function connectRabbitMq(
  target: RabbitMqTarget,
  onLost: (error: Error | undefined) => void,
): Promise<ChannelModel> {
  const amqp = await loadAmqp();
  const attempt = amqp.connect(target.url, { timeout: target.connectTimeout });
  let connection: ChannelModel;
  try {
    connection = await withTimeout(
      attempt,
      target.connectTimeout,
      () => new Error('connection timed out'),
    );
  } catch (error) {
    attempt.then((late) => late.close()).catch(() => {});
    throw brokerUnavailable(target.server, error);
  }
  // Without a listener an `error` would be thrown out of the event loop; `close` follows it.
  connection.on('error', () => {});
  connection.on('close', onLost);
  return connection;
}

/** A channel whose failures end the connection, so that its owner hears of them once, by `onLost`. */
export function watchChannel<T extends Channel>(connection: ChannelModel, channel: T): T {
  channel.on('error', () => {});
  channel.on('close', () => {
    connection.close().catch(() => {});
  });
  return channel;
}

/** Closes a connection, waiting at most `ms` for a broker that may not answer. */
export async function closeConnection(connection: ChannelModel, ms: number): Promise<void> {
  await withTimeout(connection.close(), ms, () => new Error('close timed out')).catch(() => {});
}
