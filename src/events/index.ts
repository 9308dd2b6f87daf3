export {
  type CloudEvent,
  dataSchemaOf,
  EVENT_SCHEMA_VERSION,
  type EventData,
  parseCloudEvent,
  sourceOf,
  toCloudEvent,
} from './envelope.js';
export { NatsSink, type NatsSinkOptions } from './nats.js';
export { NATS_DEFAULTS, type NatsStreamOptions } from './nats-connection.js';
export { type NatsSubscriptionOptions, subscribeNats } from './nats-subscription.js';
export { RabbitMqSink, type RabbitMqSinkOptions } from './rabbitmq.js';
export { RABBITMQ_DEFAULTS, type RabbitMqExchangeOptions } from './rabbitmq-connection.js';
export { type RabbitMqSubscriptionOptions, subscribeRabbit } from './rabbitmq-subscription.js';
export {
  outboxRecords,
  type Replay,
  type ReplayedSession,
  type ReplayGap,
  replaySessions,
} from './replay.js';
export type { EventHandler, EventSink, EventSubscription } from './sink.js';
