import type { CloudEvent } from './envelope.js';

/**
 * A broker the relay delivers events to. The relay hands a sink batches in
 * outbox order and moves its cursor only past a batch `publish` resolved,
 * so a sink's promise is at-least-once and in order: it must resolve only
 * once the broker has acknowledged every event of the batch (a stream's
 * entry id, a JetStream PubAck, a RabbitMQ publisher confirm), and throw
 * otherwise, whatever part of the batch got through (the relay sends the
 * whole batch again; consumers deduplicate by event id).
 */
export interface EventSink {
  /** Names the sink in the delivery log, metrics and the CLI (`redis`, `nats`, `rabbitmq`, or as configured). */
  readonly name: string;
  publish(events: readonly CloudEvent[]): Promise<void>;
  close(): Promise<void>;
}

/**
 * A service's end of a broker: handlers by event type, each event handed
 * over at least once and acknowledged only when its handler resolved.
 */
export interface EventSubscription {
  close(): Promise<void>;
}

export type EventHandler = (event: CloudEvent) => Promise<void> | void;
