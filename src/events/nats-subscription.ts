import type { ConsumerConfig, ConsumerMessages, JetStreamManager, JsMsg } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { BrokerUnavailableError, ConfigError, type EventType, withTimeout } from '../core/index.js';
import { brokerUnavailable, checkedTypes, reporter } from './broker.js';
import { type CloudEvent, parseCloudEvent } from './envelope.js';
import {
  connectNats,
  type NatsStreamOptions,
  type NatsTarget,
  natsTarget,
  subjectOf,
} from './nats-connection.js';
import type { NatsDriver } from './nats-driver.js';
import type { EventHandler, EventSubscription } from './sink.js';

export interface NatsSubscriptionOptions extends NatsStreamOptions {
  /** The durable consumer: subscriptions of one name share its events, each event going to one of them. */
  durable: string;
  /** The event types to receive. Default: every type. */
  types?: readonly EventType[];
  handler: EventHandler;
  /**
   * Told of every event a handler failed (the error it threw) and every
   * message that is not a clawsession event (a DecodeError). Default: a
   * process warning.
   */
  onError?: (error: Error) => void;
  /** How many events are fetched ahead of the handler. Default 100. */
  prefetch?: number;
  /** ms before an event whose handler threw is delivered again. Default 1000. */
  retryDelay?: number;
  /** ms JetStream waits for an ack before it delivers the event again, when the durable is created. Default 30000. */
  ackWait?: number;
}

/**
 * Reads a JetStream stream of clawsession events through a durable pull
 * consumer, created if missing, that starts at the oldest event the stream
 * holds. Events reach `handler` one at a time in stream order; each is acked
 * once its handler resolved, and nak'ed, to come again after `retryDelay`,
 * when it threw. A message that is not a clawsession event is terminated
 * (never delivered again) and reported to `onError`. The connection
 * reconnects by itself; `close` waits for the handler running.
 */
export async function subscribeNats(options: NatsSubscriptionOptions): Promise<EventSubscription> {
  const target = natsTarget(options);
  if (!/^[A-Za-z0-9_-]+$/.test(options.durable))
    throw new ConfigError(
      `the durable name ${JSON.stringify(options.durable)} may hold only letters, digits, - and _`,
    );
  const types = checkedTypes(options.types);
  const report = reporter(options.onError);
  const { nats, connection } = await connectNats(target, `clawsession consumer ${options.durable}`);
  let messages: ConsumerMessages;
  let wanted: ReadonlySet<EventType> | null;
  try {
    const manager = await nats.jetstream.jetstreamManager(connection);
    const filter = consumerFilter(target, types, supportsManyFilters(connection));
    await ensureDurable(nats, manager, target, options, filter.config);
    wanted = filter.clientSide;
    const consumer = await manager.jetstream().consumers.get(target.stream, options.durable);
    messages = await consumer.consume({ max_messages: options.prefetch ?? 100 });
  } catch (error) {
    await connection.close();
    throw brokerUnavailable(target.server, error);
  }

  const retryDelay = options.retryDelay ?? 1000;
  async function handle(message: JsMsg): Promise<void> {
    let event: CloudEvent;
    try {
      event = parseCloudEvent(message.data);
    } catch (error) {
      // No reason: servers before 2.10.4 do not read `+TERM <reason>` and leave the message pending.
      message.term();
      report(error);
      return;
    }
    if (wanted && !wanted.has(event.type)) {
      message.ack();
      return;
    }
    try {
      await options.handler(event);
      message.ack();
    } catch (error) {
      message.nak(retryDelay);
      report(error);
    }
  }

  const reading = (async () => {
    try {
      for await (const message of messages) await handle(message);
    } catch (error) {
      report(brokerUnavailable(target.server, error));
    }
  })();

  return {
    async close() {
      await messages.close();
      await reading;
      await closeFlushed(connection);
    },
  };
}

interface ConsumerFilter {
  config: Pick<ConsumerConfig, 'filter_subject' | 'filter_subjects'>;
  /** The types to keep of what the server sends, where it cannot filter them all itself. */
  clientSide: ReadonlySet<EventType> | null;
}

/**
 * The server filters by subject: one subject for one type, several on
 * servers from 2.10. Older servers take one filter only, so there the
 * consumer takes every subject and the subscription skips the other types.
 */
function consumerFilter(
  target: NatsTarget,
  types: readonly EventType[] | null,
  manyFilters: boolean,
): ConsumerFilter {
  const every = `${target.subjectPrefix}.>`;
  if (types === null) return { config: { filter_subject: every }, clientSide: null };
  const subjects = types.map((type) => subjectOf(target.subjectPrefix, type));
  if (subjects.length === 1) return { config: { filter_subject: subjects[0] }, clientSide: null };
  if (manyFilters) return { config: { filter_subjects: subjects }, clientSide: null };
  return { config: { filter_subject: every }, clientSide: new Set(types) };
}

function supportsManyFilters(connection: NatsConnection): boolean {
  const [major = 0, minor = 0] = (connection.info?.version ?? '0.0').split('.').map(Number);
  return major > 2 || (major === 2 && minor >= 10);
}

/** Creates the durable consumer, or points an existing one at the types asked for now. */
async function ensureDurable(
  nats: NatsDriver,
  manager: JetStreamManager,
  target: NatsTarget,
  options: NatsSubscriptionOptions,
  filter: ConsumerFilter['config'],
): Promise<void> {
  const { AckPolicy, DeliverPolicy, JetStreamApiCodes, JetStreamApiError } = nats.jetstream;
  let existing: Pick<ConsumerConfig, 'filter_subject' | 'filter_subjects'> | null = null;
  try {
    existing = (await manager.consumers.info(target.stream, options.durable)).config;
  } catch (error) {
    if (!(error instanceof JetStreamApiError)) throw error;
    if (error.code === JetStreamApiCodes.StreamNotFound)
      throw new BrokerUnavailableError(
        `${target.server} has no stream ${JSON.stringify(target.stream)}: the NATS sink creates it when it first publishes`,
        { cause: error },
      );
    if (error.code !== JetStreamApiCodes.ConsumerNotFound) throw error;
  }
  if (existing === null) {
    await manager.consumers.add(target.stream, {
      durable_name: options.durable,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: (options.ackWait ?? 30_000) * 1_000_000,
      ...filter,
    });
  } else if (!sameFilter(existing, filter)) {
    await manager.consumers.update(target.stream, options.durable, filter);
  }
}

function sameFilter(a: ConsumerFilter['config'], b: ConsumerFilter['config']): boolean {
  const subjects = (filter: ConsumerFilter['config']) =>
    [...(filter.filter_subjects ?? []), ...(filter.filter_subject ? [filter.filter_subject] : [])]
      .sort()
      .join(' ');
  return subjects(a) === subjects(b);
}

/** Sends the acks still buffered before closing; a broker out of reach gets a bounded wait. */
async function closeFlushed(connection: NatsConnection): Promise<void> {
  try {
    await withTimeout(connection.drain(), 5000, () => new Error('drain timed out'));
  } catch {
    await connection.close();
  }
}
