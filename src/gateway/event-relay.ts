import type { FastifyBaseLogger } from 'fastify';
import type { Lease, Outbox, RecordStore } from '../core/index.js';
import {
  EventRelay,
  type EventSink,
  gzipJsonlEventArchive,
  NatsSink,
  RabbitMqSink,
  RedisStreamsSink,
} from '../events/index.js';
import type { GatewayConfig } from './config.js';
import type { GatewayMetrics } from './metrics.js';

type EventsConfig = NonNullable<GatewayConfig['events']>;

/** The brokers `events.sinks` names; each connects on its first publish, so building them opens nothing. */
export function eventSinksOf(config: EventsConfig): EventSink[] {
  return config.sinks.map((sink): EventSink => {
    const name = sink.name ?? sink.kind;
    if (sink.kind === 'redis')
      return new RedisStreamsSink({ url: sink.url, stream: sink.stream, name });
    if (sink.kind === 'nats')
      return new NatsSink({
        url: sink.url,
        stream: sink.stream,
        subjectPrefix: sink.subjectPrefix,
        name,
      });
    return new RabbitMqSink({ url: sink.url, exchange: sink.exchange, name });
  });
}

export interface GatewayRelayOptions {
  config: EventsConfig;
  outbox: Outbox;
  records: RecordStore;
  /** The store's lease: one gateway of several relays at a time. Null for a store one process owns. */
  lease: Lease | null;
  metrics: GatewayMetrics;
  log: () => FastifyBaseLogger;
}

/**
 * The gateway's relay from its store's outbox to the configured sinks, not
 * started, or null without sinks (the outbox is then the audit log alone).
 * Failures and pauses are logged and counted; the backlog is a gauge.
 */
export function gatewayRelay(
  options: GatewayRelayOptions,
): { relay: EventRelay; close(): Promise<void> } | null {
  const { config, metrics, log } = options;
  const sinks = eventSinksOf(config);
  if (sinks.length === 0) return null;
  const relay = new EventRelay({
    outbox: options.outbox,
    sinks,
    lease: options.lease,
    records: options.records,
    batchSize: config.batchSize,
    pauseAfter: config.pauseAfter,
    retention: config.retention,
    ...(config.archive ? { archive: gzipJsonlEventArchive(config.archive) } : {}),
    observer: {
      onDelivered: (sink, count) => metrics.recordEventsDelivered(sink, count),
      onFailure: (sink, error, delivery) => {
        metrics.recordEventDeliveryFailure(sink);
        log().warn(
          { sink, failures: delivery.failures, err: error },
          'delivering events to a sink failed; the relay will try again',
        );
      },
      onPaused: (sink, delivery) => {
        metrics.recordEventSinkPaused(sink, true);
        log().error(
          { sink, failures: delivery.failures, lastError: delivery.lastError },
          'an event sink failed too many times in a row and is paused: resume it with `clawsession events resume`',
        );
      },
      onBacklog: (sink, backlog) => metrics.recordEventBacklog(sink, backlog),
      onError: (error) => log().error({ err: error }, 'the event relay failed; it tries again'),
    },
  });
  return {
    relay,
    async close() {
      await relay.stop();
      await Promise.all(sinks.map((sink) => sink.close()));
    },
  };
}
