import { type JetStreamManager, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  BrokerUnavailableError,
  ConfigError,
  DecodeError,
  ValidationError,
} from '../../src/core/index.js';
import { type CloudEvent, parseCloudEvent } from '../../src/events/envelope.js';
import { NatsSink, type NatsSinkOptions } from '../../src/events/nats.js';
import { type NatsSubscriptionOptions, subscribeNats } from '../../src/events/nats-subscription.js';
import type { EventSubscription } from '../../src/events/sink.js';
import { freePort } from '../stores/fixtures/redis.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';
import { bySession, interleaved, notOnce, sessionLife, uniqueName } from './fixtures.js';

const NATS_URL = process.env.CLAWSESSION_TEST_NATS_URL ?? 'nats://127.0.0.1:4222';

let admin: NatsConnection;
let manager: JetStreamManager;
beforeAll(async () => {
  admin = await connect({ servers: NATS_URL });
  manager = await jetstreamManager(admin);
});
afterAll(() => admin.close());

/** What a test opened, closed and deleted after it, whatever it left open. */
const opened: { close(): Promise<void> }[] = [];
const streams: string[] = [];
afterEach(async () => {
  for (const resource of opened.splice(0).reverse()) await resource.close().catch(() => {});
  for (const stream of streams.splice(0)) await manager.streams.delete(stream).catch(() => {});
});

/** A stream and subject prefix of this test's own: streams may not share subjects. */
function freshStream(): { stream: string; subjectPrefix: string } {
  const stream = uniqueName('CS_TEST');
  streams.push(stream);
  return { stream, subjectPrefix: `cstest.${stream}` };
}

function sink(options: NatsSinkOptions): NatsSink {
  const opened_ = new NatsSink({ url: NATS_URL, ...options });
  opened.push(opened_);
  return opened_;
}

async function subscribe(options: NatsSubscriptionOptions): Promise<EventSubscription> {
  const subscription = await subscribeNats({ url: NATS_URL, retryDelay: 50, ...options });
  opened.push(subscription);
  return subscription;
}

/** A subscription that keeps what it receives, in order. */
async function collect(
  options: Omit<NatsSubscriptionOptions, 'handler'>,
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

describe('the NATS JetStream sink', () => {
  it('creates its stream and stores each event at <prefix>.<type>, in order, with its id as Nats-Msg-Id', async () => {
    const names = freshStream();
    const events = interleaved([sessionLife(2), sessionLife(1)]);
    await sink({ ...names, maxAge: 3_600_000, maxBytes: 1 << 20 }).publish(events);

    const info = await manager.streams.info(names.stream);
    expect(info.config.subjects).toEqual([`${names.subjectPrefix}.>`]);
    expect(info.config.max_age).toBe(3_600_000 * 1_000_000);
    expect(info.config.max_bytes).toBe(1 << 20);
    expect(info.state.messages).toBe(events.length);
    for (const [at, event] of events.entries()) {
      const stored = await manager.streams.getMessage(names.stream, { seq: at + 1 });
      expect(stored?.subject).toBe(`${names.subjectPrefix}.${event.type}`);
      expect(stored?.header.get('Nats-Msg-Id')).toBe(event.id);
      expect(parseCloudEvent(stored?.data ?? new Uint8Array())).toEqual(event);
    }
  });

  it('stores a batch sent again once: JetStream drops the ids it has seen', async () => {
    const names = freshStream();
    const events = sessionLife(3);
    const publisher = sink(names);
    await publisher.publish(events.slice(0, 3));
    await publisher.publish(events);
    expect((await manager.streams.info(names.stream)).state.messages).toBe(events.length);
  });

  it('publishes to a stream that exists and leaves its settings alone', async () => {
    const names = freshStream();
    await manager.streams.add({
      name: names.stream,
      subjects: [`${names.subjectPrefix}.>`],
      max_msgs: 1000,
    });
    await sink({ ...names, maxAge: 60_000 }).publish(sessionLife(0));
    const info = await manager.streams.info(names.stream);
    expect(info.config.max_msgs).toBe(1000);
    expect(info.config.max_age).toBe(0);
    expect(info.state.messages).toBe(2);
  });

  it('refuses a stream name or subject prefix NATS would not take, before connecting', () => {
    expect(() => new NatsSink({ stream: 'events.all' })).toThrow(ConfigError);
    expect(() => new NatsSink({ subjectPrefix: 'clawsession.>' })).toThrow(ConfigError);
    expect(() => new NatsSink({ url: 'not a url' })).toThrow(ConfigError);
    expect(() => new NatsSink({ url: 'nats://u:hunter2@127.0.0.1:port' })).toThrow(
      'the NATS URL "nats://u:***@127.0.0.1:port" is not a URL',
    );
  });

  it('rejects with BrokerUnavailableError naming host:port, never the credentials, when NATS is not there', async () => {
    const port = await freePort();
    const publisher = sink({
      ...freshStream(),
      url: `nats://clawsession:hunter2@127.0.0.1:${port}`,
      connectTimeout: 2000,
    });
    const failure = await publisher.publish(sessionLife(0)).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(BrokerUnavailableError);
    expect(failure).toMatchObject({ code: 'ERR_BROKER_UNAVAILABLE' });
    expect((failure as Error).message).toContain(`NATS at 127.0.0.1:${port} is unavailable`);
    expect((failure as Error).message).not.toContain('hunter2');
  });

  describe('through an outage', () => {
    let proxy: TcpProxy;
    beforeAll(async () => {
      const target = new URL(NATS_URL);
      proxy = await startTcpProxy(target.hostname, Number(target.port || 4222));
    });
    afterAll(() => proxy.close());

    it('rejects while the broker is cut off, recovers once it is back without being made again, and loses nothing', async () => {
      const names = freshStream();
      const publisher = sink({
        ...names,
        url: `nats://127.0.0.1:${proxy.port}`,
        publishTimeout: 500,
        connectTimeout: 500,
      });
      const [before, during, after] = [sessionLife(4), sessionLife(4), sessionLife(4)];

      await publisher.publish(before);
      proxy.blackHole();
      const failure = await publisher.publish(during).catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(BrokerUnavailableError);
      expect((failure as Error).message).toContain(`NATS at 127.0.0.1:${proxy.port}`);
      // Still cut off: a new connection is refused the same way.
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

      const { received } = await collect({ ...names, durable: uniqueName('all') });
      const expected = ids([...before, ...during, ...after]);
      await expect
        .poll(() => received.length, { timeout: 10_000 })
        .toBeGreaterThanOrEqual(expected.length);
      expect(notOnce(ids(received), expected)).toEqual({});
      expect(received.length).toBe(expected.length);
    });

    it('a subscription goes on after the broker was cut off and receives what was published meanwhile', async () => {
      const names = freshStream();
      const publisher = sink(names);
      const [before, during] = [sessionLife(2), sessionLife(2)];
      await publisher.publish(before);
      const { received } = await collect({
        ...names,
        url: `nats://127.0.0.1:${proxy.port}`,
        durable: uniqueName('steady'),
        // What the server sent into the cut comes again once its ack wait has passed.
        ackWait: 1000,
      });
      await expect.poll(() => received.length, { timeout: 10_000 }).toBe(before.length);

      proxy.blackHole();
      await publisher.publish(during);
      proxy.pass();
      await expect
        .poll(() => new Set(ids(received)).size, { timeout: 15_000 })
        .toBe(before.length + during.length);
    });
  });
});

describe('subscribeNats', () => {
  it('hands every event once, in order per session, as the envelope the sink published', async () => {
    const names = freshStream();
    const lives = [sessionLife(3), sessionLife(5), sessionLife(0)];
    const events = interleaved(lives);
    await sink(names).publish(events);

    const { received, errors } = await collect({ ...names, durable: uniqueName('all') });
    await expect.poll(() => received.length, { timeout: 10_000 }).toBe(events.length);
    expect(received).toEqual(events);
    for (const sequences of bySession(received).values())
      expect(sequences).toEqual([...sequences].sort((a, b) => a - b));
    expect(errors).toEqual([]);
  });

  it('hands a subscription only the types it asked for', async () => {
    const names = freshStream();
    const events = interleaved([sessionLife(2), sessionLife(1)]);
    await sink(names).publish(events);

    const ends = await collect({
      ...names,
      durable: uniqueName('ends'),
      types: ['session.created', 'session.revoked'],
    });
    const updates = await collect({
      ...names,
      durable: uniqueName('updates'),
      types: ['session.updated'],
    });
    const wantedEnds = events.filter((event) => event.type !== 'session.updated');
    const wantedUpdates = events.filter((event) => event.type === 'session.updated');
    await expect.poll(() => ends.received.length, { timeout: 10_000 }).toBe(wantedEnds.length);
    await expect
      .poll(() => updates.received.length, { timeout: 10_000 })
      .toBe(wantedUpdates.length);
    expect(ids(ends.received)).toEqual(ids(wantedEnds));
    expect(ids(updates.received)).toEqual(ids(wantedUpdates));
  });

  it('shares one durable between subscriptions, each event going to one of them', async () => {
    const names = freshStream();
    const events = interleaved([sessionLife(8), sessionLife(8)]);
    await sink(names).publish(events);

    const durable = uniqueName('shared');
    const byFirst: string[] = [];
    const bySecond: string[] = [];
    let releaseFirst: () => void = () => {};
    const secondHasOne = new Promise<void>((resolve) => {
      releaseFirst = resolve;
    });
    // The first holds its first event until the second has had one: both must have taken part.
    await subscribe({
      ...names,
      durable,
      prefetch: 1,
      handler: async (event) => {
        byFirst.push(event.id);
        await secondHasOne;
      },
    });
    await subscribe({
      ...names,
      durable,
      prefetch: 1,
      handler: (event) => {
        bySecond.push(event.id);
        releaseFirst();
      },
    });
    await expect
      .poll(() => byFirst.length + bySecond.length, { timeout: 10_000 })
      .toBeGreaterThanOrEqual(events.length);
    expect(byFirst.length).toBeGreaterThan(0);
    expect(bySecond.length).toBeGreaterThan(0);
    expect(notOnce([...byFirst, ...bySecond], ids(events))).toEqual({});
  });

  it('hands an event again after its handler threw, and reports the error', async () => {
    const names = freshStream();
    const events = sessionLife(2);
    await sink(names).publish(events);
    const failing = events[1]?.id;
    const attempts: string[] = [];
    const errors: Error[] = [];
    await subscribe({
      ...names,
      durable: uniqueName('retry'),
      handler: (event) => {
        attempts.push(event.id);
        if (event.id === failing && attempts.filter((id) => id === failing).length === 1)
          throw new Error('the fraud service is down');
      },
      onError: (error) => errors.push(error),
    });
    await expect.poll(() => attempts.length, { timeout: 10_000 }).toBe(events.length + 1);
    expect(notOnce(attempts, ids(events))).toEqual({ [failing as string]: 2 });
    expect(errors.map((error) => error.message)).toEqual(['the fraud service is down']);
  });

  it('terminates a message that is not a clawsession event, reports it, and goes on', async () => {
    const names = freshStream();
    const events = sessionLife(1);
    const publisher = sink(names);
    await publisher.publish(events.slice(0, 1));
    const jetstream = manager.jetstream();
    await jetstream.publish(`${names.subjectPrefix}.session.updated`, '{"not":"an event"}');
    await jetstream.publish(`${names.subjectPrefix}.session.updated`, 'not json');
    await publisher.publish(events.slice(1));

    const durable = uniqueName('strict');
    const { received, errors } = await collect({ ...names, durable });
    await expect.poll(() => received.length, { timeout: 10_000 }).toBe(events.length);
    expect(ids(received)).toEqual(ids(events));
    expect(errors).toHaveLength(2);
    for (const error of errors) expect(error).toBeInstanceOf(DecodeError);
    await expect
      .poll(async () => {
        const info = await manager.consumers.info(names.stream, durable);
        return {
          pending: info.num_pending,
          unacked: info.num_ack_pending,
          again: info.num_redelivered,
        };
      })
      .toEqual({ pending: 0, unacked: 0, again: 0 });
  });

  it('goes on from where a durable stopped, without the events it acked', async () => {
    const names = freshStream();
    const [first, second] = [sessionLife(2), sessionLife(2)];
    const publisher = sink(names);
    await publisher.publish(first);
    const durable = uniqueName('resume');
    const earlier = await collect({ ...names, durable });
    await expect.poll(() => earlier.received.length, { timeout: 10_000 }).toBe(first.length);
    await opened.pop()?.close();

    await publisher.publish(second);
    const later = await collect({ ...names, durable });
    await expect.poll(() => later.received.length, { timeout: 10_000 }).toBe(second.length);
    expect(ids(later.received)).toEqual(ids(second));
  });

  it('refuses unknown types, bad durable names and a stream that does not exist', async () => {
    const handler = () => {};
    await expect(
      subscribeNats({ durable: 'x', types: ['session.exploded' as never], handler }),
    ).rejects.toBeInstanceOf(ValidationError);
    await expect(subscribeNats({ durable: 'a.b', handler })).rejects.toBeInstanceOf(ConfigError);
    const missing = uniqueName('CS_MISSING');
    const failure = await subscribeNats({
      url: NATS_URL,
      stream: missing,
      durable: 'x',
      handler,
    }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(BrokerUnavailableError);
    expect((failure as Error).message).toContain(`no stream "${missing}"`);
  });
});
