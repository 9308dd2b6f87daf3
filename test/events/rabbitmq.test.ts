import { type Channel, type ChannelModel, connect } from 'amqplib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  BrokerUnavailableError,
  ConfigError,
  DecodeError,
  ValidationError,
} from '../../src/core/index.js';
import { type CloudEvent, parseCloudEvent } from '../../src/events/envelope.js';
import { RabbitMqSink, type RabbitMqSinkOptions } from '../../src/events/rabbitmq.js';
import {
  type RabbitMqSubscriptionOptions,
  subscribeRabbit,
} from '../../src/events/rabbitmq-subscription.js';
import type { EventSubscription } from '../../src/events/sink.js';
import { freePort } from '../stores/fixtures/redis.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';
import { bySession, interleaved, notOnce, sessionLife, uniqueName } from './fixtures.js';

const RABBITMQ_URL =
  process.env.CLAWSESSION_TEST_RABBITMQ_URL ?? 'amqp://guest:guest@127.0.0.1:5672';

let admin: ChannelModel;
let channel: Channel;
beforeAll(async () => {
  admin = await connect(RABBITMQ_URL);
  channel = await admin.createChannel();
});
afterAll(() => admin.close());

/** What a test opened, closed and deleted after it, whatever it left open. */
const opened: { close(): Promise<void> }[] = [];
const exchanges: string[] = [];
const queues: string[] = [];
afterEach(async () => {
  for (const resource of opened.splice(0).reverse()) await resource.close().catch(() => {});
  for (const queue of queues.splice(0)) await channel.deleteQueue(queue);
  for (const exchange of exchanges.splice(0)) await channel.deleteExchange(exchange);
});

function freshExchange(): string {
  const exchange = uniqueName('cstest.events');
  exchanges.push(exchange);
  return exchange;
}

function freshQueue(): string {
  const queue = uniqueName('cstest.queue');
  queues.push(queue);
  return queue;
}

function sink(options: RabbitMqSinkOptions): RabbitMqSink {
  const publisher = new RabbitMqSink({ url: RABBITMQ_URL, ...options });
  opened.push(publisher);
  return publisher;
}

async function subscribe(options: RabbitMqSubscriptionOptions): Promise<EventSubscription> {
  const subscription = await subscribeRabbit({ url: RABBITMQ_URL, retryDelay: 50, ...options });
  opened.push(subscription);
  return subscription;
}

/** A subscription that keeps what it receives, in order. */
async function collect(
  options: Omit<RabbitMqSubscriptionOptions, 'handler'>,
): Promise<{ received: CloudEvent[]; errors: Error[] }> {
  const received: CloudEvent[] = [];
  const errors: Error[] = [];
  await subscribe({
    ...options,
    handler: (event) => {
      received.push(event);
    },
    onError: (error) => errors.push(error),
  });
  return { received, errors };
}

const ids = (events: readonly CloudEvent[]) => events.map((event) => event.id);

describe('the RabbitMQ sink', () => {
  it('publishes each event persistent to a durable topic exchange, routed by its type, with its id as messageId', async () => {
    const exchange = freshExchange();
    const queue = freshQueue();
    const publisher = sink({ exchange });
    await publisher.publish(sessionLife(0)); // declares the exchange; bound to no queue, the events go nowhere
    await channel.assertQueue(queue, { durable: false });
    await channel.bindQueue(queue, exchange, '#');
    const events = interleaved([sessionLife(2), sessionLife(1)]);
    await publisher.publish(events);

    // A durable topic exchange: declaring it so again is accepted, anything else would close the channel.
    await channel.assertExchange(exchange, 'topic', { durable: true });
    for (const event of events) {
      const message = await channel.get(queue, { noAck: true });
      if (message === false) throw new Error(`event ${event.id} did not arrive`);
      expect(message.fields.routingKey).toBe(event.type);
      expect(message.properties).toMatchObject({
        messageId: event.id,
        type: event.type,
        contentType: 'application/json',
        deliveryMode: 2,
      });
      expect(parseCloudEvent(message.content)).toEqual(event);
    }
    expect(await channel.get(queue)).toBe(false);
  });

  it('rejects with BrokerUnavailableError naming host:port, never the credentials, when RabbitMQ is not there', async () => {
    const port = await freePort();
    const publisher = sink({
      exchange: freshExchange(),
      url: `amqp://clawsession:hunter2@127.0.0.1:${port}`,
    });
    const failure = await publisher.publish(sessionLife(0)).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(BrokerUnavailableError);
    expect(failure).toMatchObject({ code: 'ERR_BROKER_UNAVAILABLE' });
    expect((failure as Error).message).toBe(
      `RabbitMQ at 127.0.0.1:${port} is unavailable: connection refused`,
    );
  });

  it('rejects with BrokerUnavailableError when the broker refuses the exchange, and works once it is fixed', async () => {
    const exchange = freshExchange();
    await channel.assertExchange(exchange, 'fanout', { durable: false });
    const publisher = sink({ exchange });
    await expect(publisher.publish(sessionLife(0))).rejects.toBeInstanceOf(BrokerUnavailableError);
    await channel.deleteExchange(exchange);
    await publisher.publish(sessionLife(0));
  });

  describe('through an outage', () => {
    let proxy: TcpProxy;
    beforeAll(async () => {
      const target = new URL(RABBITMQ_URL);
      proxy = await startTcpProxy(target.hostname, Number(target.port || 5672));
    });
    afterAll(() => proxy.close());

    it('rejects while the broker is cut off, recovers once it is back without being made again, and loses nothing', async () => {
      const exchange = freshExchange();
      const { received } = await collect({ exchange, queue: freshQueue() });
      const publisher = sink({
        exchange,
        url: `amqp://guest:guest@127.0.0.1:${proxy.port}`,
        publishTimeout: 500,
        connectTimeout: 500,
      });
      const [before, during, after] = [sessionLife(4), sessionLife(4), sessionLife(4)];

      await publisher.publish(before);
      proxy.blackHole();
      const failure = await publisher.publish(during).catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(BrokerUnavailableError);
      expect((failure as Error).message).toContain(`RabbitMQ at 127.0.0.1:${proxy.port}`);
      expect((failure as Error).message).not.toContain('guest:guest');
      // Still cut off: a new connection fails the same way.
      await expect(publisher.publish(during)).rejects.toBeInstanceOf(BrokerUnavailableError);

      proxy.pass();
      // As the relay does: the batch again until it goes through.
      await expect
        .poll(
          () =>
            publisher.publish(during).then(
              () => true,
              () => false,
            ),
          { timeout: 15_000 },
        )
        .toBe(true);
      await publisher.publish(after);

      // At least once: a batch sent again may arrive twice, and consumers drop copies by id.
      const expected = ids([...before, ...during, ...after]);
      const arrived = () => new Set(ids(received));
      await expect.poll(() => arrived().size, { timeout: 10_000 }).toBe(expected.length);
      expect([...arrived()].sort()).toEqual([...expected].sort());
    });

    it('a subscription reconnects after the broker was cut off and receives what was published meanwhile', async () => {
      const exchange = freshExchange();
      const queue = freshQueue();
      const publisher = sink({ exchange });
      const errors: Error[] = [];
      const received: CloudEvent[] = [];
      await subscribe({
        exchange,
        queue,
        url: `amqp://guest:guest@127.0.0.1:${proxy.port}`,
        handler: (event) => {
          received.push(event);
        },
        onError: (error) => errors.push(error),
      });
      const [before, during] = [sessionLife(2), sessionLife(2)];
      await publisher.publish(before);
      await expect.poll(() => received.length, { timeout: 10_000 }).toBe(before.length);

      proxy.blackHole();
      await publisher.publish(during);
      proxy.pass();
      await expect
        .poll(() => new Set(ids(received)).size, { timeout: 15_000 })
        .toBe(before.length + during.length);
      expect(errors.some((error) => error instanceof BrokerUnavailableError)).toBe(true);
    });
  });
});

describe('subscribeRabbit', () => {
  it('hands every event once, in order per session, as the envelope the sink published', async () => {
    const exchange = freshExchange();
    const { received, errors } = await collect({ exchange, queue: freshQueue() });
    const events = interleaved([sessionLife(3), sessionLife(5), sessionLife(0)]);
    await sink({ exchange }).publish(events);

    await expect.poll(() => received.length, { timeout: 10_000 }).toBe(events.length);
    expect(received).toEqual(events);
    for (const sequences of bySession(received).values())
      expect(sequences).toEqual([...sequences].sort((a, b) => a - b));
    expect(errors).toEqual([]);
  });

  it('binds a queue to the types it asked for only', async () => {
    const exchange = freshExchange();
    const ends = await collect({
      exchange,
      queue: freshQueue(),
      types: ['session.created', 'session.revoked'],
    });
    const updates = await collect({ exchange, queue: freshQueue(), types: ['session.updated'] });
    const events = interleaved([sessionLife(2), sessionLife(1)]);
    await sink({ exchange }).publish(events);

    const wantedEnds = events.filter((event) => event.type !== 'session.updated');
    const wantedUpdates = events.filter((event) => event.type === 'session.updated');
    await expect.poll(() => ends.received.length, { timeout: 10_000 }).toBe(wantedEnds.length);
    await expect
      .poll(() => updates.received.length, { timeout: 10_000 })
      .toBe(wantedUpdates.length);
    expect(ids(ends.received)).toEqual(ids(wantedEnds));
    expect(ids(updates.received)).toEqual(ids(wantedUpdates));
  });

  it('shares one queue between subscriptions, each event going to one of them', async () => {
    const exchange = freshExchange();
    const queue = freshQueue();
    const byFirst: string[] = [];
    const bySecond: string[] = [];
    let releaseFirst: () => void = () => {};
    const secondHasOne = new Promise<void>((resolve) => {
      releaseFirst = resolve;
    });
    // The first holds its first event until the second has had one: both must have taken part.
    await subscribe({
      exchange,
      queue,
      prefetch: 1,
      handler: async (event) => {
        byFirst.push(event.id);
        await secondHasOne;
      },
    });
    await subscribe({
      exchange,
      queue,
      prefetch: 1,
      handler: (event) => {
        bySecond.push(event.id);
        releaseFirst();
      },
    });
    const events = interleaved([sessionLife(8), sessionLife(8)]);
    await sink({ exchange }).publish(events);

    await expect
      .poll(() => byFirst.length + bySecond.length, { timeout: 10_000 })
      .toBeGreaterThanOrEqual(events.length);
    expect(byFirst.length).toBeGreaterThan(0);
    expect(bySecond.length).toBeGreaterThan(0);
    expect(notOnce([...byFirst, ...bySecond], ids(events))).toEqual({});
  });

  it('hands an event again after its handler threw, and reports the error', async () => {
    const exchange = freshExchange();
    const events = sessionLife(2);
    const failing = events[1]?.id;
    const attempts: string[] = [];
    const errors: Error[] = [];
    await subscribe({
      exchange,
      queue: freshQueue(),
      handler: (event) => {
        attempts.push(event.id);
        if (event.id === failing && attempts.filter((id) => id === failing).length === 1)
          throw new Error('the fraud service is down');
      },
      onError: (error) => errors.push(error),
    });
    await sink({ exchange }).publish(events);

    await expect.poll(() => attempts.length, { timeout: 10_000 }).toBe(events.length + 1);
    expect(notOnce(attempts, ids(events))).toEqual({ [failing as string]: 2 });
    expect(errors.map((error) => error.message)).toEqual(['the fraud service is down']);
  });

  it('rejects a message that is not a clawsession event for good, reports it, and goes on', async () => {
    const exchange = freshExchange();
    const queue = freshQueue();
    const { received, errors } = await collect({ exchange, queue });
    const events = sessionLife(1);
    const publisher = sink({ exchange });
    await publisher.publish(events.slice(0, 1));
    channel.publish(exchange, 'session.updated', Buffer.from('{"not":"an event"}'));
    channel.publish(exchange, 'session.updated', Buffer.from('not json'));
    await publisher.publish(events.slice(1));

    await expect.poll(() => received.length, { timeout: 10_000 }).toBe(events.length);
    await expect.poll(() => errors.length, { timeout: 10_000 }).toBe(2);
    expect(ids(received)).toEqual(ids(events));
    for (const error of errors) expect(error).toBeInstanceOf(DecodeError);
    // Closed, a subscription gives back what it had not settled: nothing is left.
    await opened.pop()?.close();
    expect((await channel.checkQueue(queue)).messageCount).toBe(0);
  });

  it('refuses unknown types and a missing queue name, and names the broker it cannot reach', async () => {
    const handler = () => {};
    await expect(
      subscribeRabbit({ queue: 'q', types: ['session.exploded' as never], handler }),
    ).rejects.toBeInstanceOf(ValidationError);
    await expect(subscribeRabbit({ queue: '', handler })).rejects.toBeInstanceOf(ConfigError);
    const port = await freePort();
    const failure = await subscribeRabbit({
      url: `amqp://guest:hunter2@127.0.0.1:${port}`,
      queue: 'q',
      handler,
    }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(BrokerUnavailableError);
    expect((failure as Error).message).toBe(
      `RabbitMQ at 127.0.0.1:${port} is unavailable: connection refused`,
    );
  });
});
