import type { NatsConnection } from '@nats-io/transport-node';
import { ConfigError, type EventType } from '../core/index.js';
import { brokerName, brokerUnavailable } from './broker.js';
import { loadNats, type NatsDriver } from './nats-driver.js';

/** Where the NATS sink and subscriptions look unless told otherwise. */
export const NATS_DEFAULTS = Object.freeze({
  url: 'nats://127.0.0.1:4222',
  stream: 'CLAWSESSION_EVENTS',
  subjectPrefix: 'clawsession',
  connectTimeout: 5000,
});

/** Where the events of one deployment live in JetStream. */
export interface NatsStreamOptions {
  /** The server, `nats://[user:password@]host:port`. Default `nats://127.0.0.1:4222`. */
  url?: string;
  /** The JetStream stream. Default `CLAWSESSION_EVENTS`. */
  stream?: string;
  /** Events go to `<subjectPrefix>.<type>`, and the stream takes `<subjectPrefix>.>`. Default `clawsession`. */
  subjectPrefix?: string;
  /** ms to wait for the server when connecting. Default 5000. */
  connectTimeout?: number;
}

export interface NatsTarget {
  url: string;
  stream: string;
  subjectPrefix: string;
  connectTimeout: number;
  /** `NATS at host:port`, for messages. */
  server: string;
}

/** The options with their defaults, checked: a ConfigError names what is wrong. */
export function natsTarget(options: NatsStreamOptions): NatsTarget {
  const url = options.url ?? NATS_DEFAULTS.url;
  const stream = options.stream ?? NATS_DEFAULTS.stream;
  const subjectPrefix = options.subjectPrefix ?? NATS_DEFAULTS.subjectPrefix;
  if (!/^[A-Za-z0-9_-]+$/.test(stream))
    throw new ConfigError(
      `the NATS stream name ${JSON.stringify(stream)} may hold only letters, digits, - and _`,
    );
  if (!/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/.test(subjectPrefix))
    throw new ConfigError(
      `the NATS subject prefix ${JSON.stringify(subjectPrefix)} must be dot-separated tokens of letters, digits, - and _`,
    );
  return {
    url,
    stream,
    subjectPrefix,
    connectTimeout: options.connectTimeout ?? NATS_DEFAULTS.connectTimeout,
    server: brokerName('NATS', url, 4222),
  };
}

/** `clawsession.session.created`: the subject an event of `type` is published to. */
export function subjectOf(subjectPrefix: string, type: EventType): string {
  return `${subjectPrefix}.${type}`;
}

/**
 * A connection that reconnects by itself for as long as it lives; a failure
 * to make it is a BrokerUnavailableError naming the server, never its
 * credentials.
 */
export async function connectNats(
  target: NatsTarget,
  name: string,
): Promise<{ nats: NatsDriver; connection: NatsConnection }> {
  const nats = await loadNats();
  try {
    const connection = await nats.transport.connect({
      servers: target.url,
      name,
      timeout: target.connectTimeout,
      maxReconnectAttempts: -1,
    });
    return { nats, connection };
  } catch (error) {
    throw brokerUnavailable(target.server, error);
  }
}
