// clawsession/events: the event envelope, the relay from the outbox to the sinks, and the brokers' sinks and consumers.
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
export type { OutboxArchive } from './retention.js';
export type { EventHandler, EventSink, EventSubscription } from './sink.js';
