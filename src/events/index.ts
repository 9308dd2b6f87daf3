// clawsession/events: the event envelope, the relay from the outbox to the sinks, and the brokers' sinks and consumers.

export { type GzipJsonlEventArchiveOptions, gzipJsonlEventArchive } from './archive.js';
export type { DeliveredUpTo, SinkDelivery } from './delivery-log.js';
export {
  type CloudEvent,
  dataSchemaOf,
  EVENT_SCHEMA_VERSION,
  type EventData,
  parseCloudEvent,
  sourceOf,
  toCloudEvent,
} from './envelope.js';
export { EventNotFoundError, UnknownSinkError } from './errors.js';
export { Deduplicator, SessionSequences } from './idempotency.js';
export { NatsSink, type NatsSinkOptions } from './nats.js';
export { NATS_DEFAULTS, type NatsStreamOptions } from './nats-connection.js';
export { type NatsSubscriptionOptions, subscribeNats } from './nats-subscription.js';
export { RabbitMqSink, type RabbitMqSinkOptions } from './rabbitmq.js';
export { RABBITMQ_DEFAULTS, type RabbitMqExchangeOptions } from './rabbitmq-connection.js';
export { type RabbitMqSubscriptionOptions, subscribeRabbit } from './rabbitmq-subscription.js';
export type { RedeliverFrom } from './redelivery.js';
export type { RedisStreamsClient, RedisTarget } from './redis-client.js';
export {
  type RedisStreamSubscriptionOptions,
  subscribeRedisStream,
} from './redis-streams-consumer.js';
export {
  DEFAULT_EVENT_STREAM,
  RedisStreamsSink,
  type RedisStreamsSinkOptions,
} from './redis-streams-sink.js';
export {
  EventRelay,
  type RelayObserver,
  type RelayOptions,
  type SinkBacklog,
  type SinkStatus,
} from './relay.js';
export {
  outboxRecords,
  type Replay,
  type ReplayedSession,
  type ReplayGap,
  replaySessions,
} from './replay.js';
export type { OutboxArchive } from './retention.js';
export type { EventHandler, EventSink, EventSubscription } from './sink.js';
