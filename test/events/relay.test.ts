import { randomBytes } from 'node:crypto';
import { createClient } from 'redis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, type OutboxRecord } from '../../src/core/index.js';
import {
  type CloudEvent,
  EventNotFoundError,
  EventRelay,
  type EventSink,
  RedisStreamsSink,
  type RelayOptions,
  type SinkDelivery,
  UnknownSinkError,
} from '../../src/events/index.js';
import { MemoryRecordStore, RedisLease, RedisRecordStore } from '../../src/stores/index.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';
import { TestOutbox, updatedEventOf } from '../support/test-outbox.js';

const REDIS_URL = process.env.CLAWSESSION_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const run = randomBytes(4).toString('hex');
const PREFIX = `cs:test:relay:${run}:`;
let counter = 0;
const fresh = (what: string) => `${PREFIX}${what}:${++counter}`;

const raw = createClient({ url: REDIS_URL });
const closing: { close(): Promise<void> }[] = [];
const relays: EventRelay[] = [];
beforeAll(async () => {
  await raw.connect();
});
afterEach(async () => {
  await Promise.all(relays.splice(0).map((relay) => relay.stop()));
  await Promise.all(closing.splice(0).map((item) => item.close()));
});
afterAll(async () => {
  for await (const keys of raw.scanIterator({ MATCH: `${PREFIX}*` }))
    if (keys.length > 0) await raw.unlink(keys);
  await raw.close();
});

async function lease(prefix: string): Promise<RedisLease> {
  const opened = await RedisLease.connect({ url: REDIS_URL, prefix, ttl: 3_000 });
  closing.push(opened);
  return opened;
}

async function records(prefix: string): Promise<RedisRecordStore> {
  const opened = await RedisRecordStore.connect({ url: REDIS_URL, prefix });
  closing.push(opened);
  return opened;
}

function streamSink(stream: string, name: string, url = REDIS_URL): RedisStreamsSink {
  const sink = new RedisStreamsSink({ url, stream, name, connectTimeout: 500 });
  closing.push(sink);
  return sink;
}

/** A sink that counts its publishes, around another. */
function counted(sink: EventSink): EventSink & { publishes: number } {
  return {
    name: sink.name,
    publishes: 0,
    async publish(events) {
      this.publishes++;
      await sink.publish(events);
    },
    close: () => sink.close(),
  };
}

async function proxy(): Promise<TcpProxy> {
  const opened = await startTcpProxy('127.0.0.1', 6379);
  closing.push(opened);
  return opened;
}

/** A relay on a lease and delivery log of its own in Redis, polling fast and retrying fast. */
async function relayOf(
  outbox: TestOutbox,
  sinks: EventSink[],
  options: Partial<RelayOptions> = {},
): Promise<EventRelay> {
  const relay = new EventRelay({
    outbox,
    sinks,
    lease: await lease(fresh('lease')),
    records: await records(fresh('log')),
    pollInterval: 20,
    publishTimeout: 2_000,
    retryDelay: { initial: 20, max: 100 },
    ...options,
  });
  relays.push(relay);
  return relay;
}

async function append(outbox: TestOutbox, count: number, time?: (i: number) => number) {
  const start = outbox.records.length;
  await outbox.append(
    Array.from({ length: count }, (_, i) => updatedEventOf('session-a', start + i + 1, time?.(i))),
  );
}

/** The event ids in a stream, in stream order. */
async function idsIn(stream: string): Promise<string[]> {
  return ((await raw.xRange(stream, '-', '+')) ?? []).map((entry) => entry.message.id as string);
}

const idsOf = (records: readonly OutboxRecord[]) => records.map((record) => record.id);

async function statusOf(relay: EventRelay, sink: string) {
  return (await relay.status()).find((status) => status.sink === sink);
}

describe('EventRelay', () => {
  it('delivers the outbox to a stream in order, in batches, and records how far it got', async () => {
    const outbox = new TestOutbox();
    const stream = fresh('stream');
    const sink = counted(streamSink(stream, 'redis'));
    await append(outbox, 250);
    const relay = await relayOf(outbox, [sink], { batchSize: 100 });
    relay.start();
    await expect.poll(() => idsIn(stream), { timeout: 10_000 }).toEqual(idsOf(outbox.records));
    expect(sink.publishes).toBe(3);
    const last = outbox.records.at(-1) as OutboxRecord;
    await expect
      .poll(() => statusOf(relay, 'redis'))
      .toMatchObject({
        delivered: { position: last.position, eventId: last.id, eventTime: last.time },
        attempts: 0,
        failures: 0,
        paused: false,
        backlog: { count: 0, oldestTime: null, oldestAge: null },
      });
  });

  it('wakes at notify() instead of waiting for the next poll', async () => {
    const outbox = new TestOutbox();
    const stream = fresh('stream');
    let rounds = 0;
    const relay = await relayOf(outbox, [streamSink(stream, 'redis')], {
      pollInterval: 600_000,
      backlogInterval: 0,
      observer: { onBacklog: () => rounds++ },
    });
    relay.start();
    await expect.poll(() => rounds).toBeGreaterThan(0);
    await append(outbox, 3);
    relay.notify();
    await expect.poll(() => idsIn(stream), { timeout: 10_000 }).toEqual(idsOf(outbox.records));
  });

  it('keeps delivering to the other sinks while one is down, then drains the backlog in order with nothing lost', async () => {
    const outbox = new TestOutbox();
    const [upStream, downStream] = [fresh('stream'), fresh('stream')];
    const broken = await proxy();
    const failures: string[] = [];
    const relay = await relayOf(
      outbox,
      [
        streamSink(upStream, 'up'),
        streamSink(downStream, 'down', `redis://127.0.0.1:${broken.port}`),
      ],
      {
        batchSize: 10,
        publishTimeout: 1_000,
        observer: { onFailure: (sink) => failures.push(sink) },
      },
    );
    await append(outbox, 5);
    relay.start();
    await expect.poll(() => idsIn(downStream), { timeout: 10_000 }).toHaveLength(5);
    broken.blackHole();
    await append(outbox, 40);
    await expect.poll(() => idsIn(upStream), { timeout: 10_000 }).toEqual(idsOf(outbox.records));
    await expect
      .poll(() => failures.filter((sink) => sink === 'down').length, { timeout: 10_000 })
      .toBeGreaterThan(1);
    const down = await statusOf(relay, 'down');
    expect(down?.backlog.count).toBe(40);
    expect(down?.failures).toBeGreaterThan(0);
    expect(down?.lastError?.message).toMatch(/no acknowledgement within 1000 ms/);

    broken.pass();
    await expect
      .poll(() => statusOf(relay, 'down'), { timeout: 15_000 })
      .toMatchObject({
        backlog: { count: 0 },
        failures: 0,
      });
    // At least once: a batch may have reached Redis before its acknowledgement was lost.
    const delivered = await idsIn(downStream);
    expect([...new Set(delivered)]).toEqual(idsOf(outbox.records));
    expect(delivered.length).toBeGreaterThanOrEqual(outbox.records.length);
  });

  it('pauses a sink after pauseAfter failures in a row, tries it no more, and resumes from its cursor', async () => {
    const outbox = new TestOutbox();
    const stream = fresh('stream');
    const broken = await proxy();
    const sink = counted(streamSink(stream, 'redis', `redis://127.0.0.1:${broken.port}`));
    const paused: SinkDelivery[] = [];
    let rounds = 0;
    const relay = await relayOf(outbox, [sink], {
      pauseAfter: 3,
      publishTimeout: 1_000,
      backlogInterval: 0,
      observer: {
        onPaused: (_, delivery) => paused.push(delivery),
        onBacklog: () => rounds++,
      },
    });
    await append(outbox, 4);
    relay.start();
    await expect
      .poll(() => statusOf(relay, 'redis'), { timeout: 10_000 })
      .toMatchObject({ delivered: { eventId: outbox.records[3]?.id }, failures: 0 });
    const publishesBefore = sink.publishes;
    broken.blackHole();
    await append(outbox, 6);
    await expect.poll(() => paused.length, { timeout: 10_000 }).toBe(1);
    expect(paused[0]).toMatchObject({
      paused: true,
      failures: 3,
      attempts: 3,
      pauseReason: '3 failed deliveries in a row',
      retryAt: null,
    });
    expect(paused[0]?.pausedSince).toEqual(expect.any(Number));
    expect(sink.publishes).toBe(publishesBefore + 3);

    // Rounds go on, with no attempt at the paused sink.
    const roundsAtPause = rounds;
    await expect.poll(() => rounds, { timeout: 10_000 }).toBeGreaterThan(roundsAtPause + 5);
    expect(sink.publishes).toBe(publishesBefore + 3);
    expect(await statusOf(relay, 'redis')).toMatchObject({ paused: true, backlog: { count: 6 } });

    broken.pass();
    const resumed = await relay.resume('redis');
    expect(resumed).toMatchObject({ paused: false, failures: 0, pausedSince: null });
    await expect
      .poll(async () => [...new Set(await idsIn(stream))], { timeout: 10_000 })
      .toEqual(idsOf(outbox.records));
    expect(paused).toHaveLength(1);
  });

  it('redelivers from an event id: the sink gets that event and every one after it again', async () => {
    const outbox = new TestOutbox();
    const stream = fresh('stream');
    const relay = await relayOf(outbox, [streamSink(stream, 'redis')]);
    await append(outbox, 10);
    relay.start();
    const ids = idsOf(outbox.records);
    await expect.poll(() => idsIn(stream), { timeout: 10_000 }).toEqual(ids);
    const moved = await relay.redeliver('redis', ids[3] as string);
    expect(moved.delivered?.eventId).toBe(ids[2]);
    await expect.poll(() => idsIn(stream), { timeout: 10_000 }).toEqual([...ids, ...ids.slice(3)]);
  });

  it('redelivers from a time: the first record at or after it, and from the start when that is the first', async () => {
    const outbox = new TestOutbox();
    const stream = fresh('stream');
    const relay = await relayOf(outbox, [streamSink(stream, 'redis')]);
    const t0 = Date.now() - 60_000;
    await append(outbox, 10, (i) => t0 + i * 1_000);
    relay.start();
    const ids = idsOf(outbox.records);
    await expect.poll(() => idsIn(stream), { timeout: 10_000 }).toEqual(ids);
    await relay.redeliver('redis', t0 + 6_500);
    await expect.poll(() => idsIn(stream), { timeout: 10_000 }).toEqual([...ids, ...ids.slice(7)]);
    const fromStart = await relay.redeliver('redis', t0 - 1);
    expect(fromStart.delivered).toBeNull();
    await expect
      .poll(() => idsIn(stream), { timeout: 10_000 })
      .toEqual([...ids, ...ids.slice(7), ...ids]);
  });

  it('refuses to redeliver from an id the outbox does not hold, or to a sink it does not know, and never moves a cursor forward', async () => {
    const outbox = new TestOutbox();
    const relay = await relayOf(outbox, [streamSink(fresh('stream'), 'redis')]);
    await append(outbox, 3);
    const unknown = relay.redeliver('redis', '01938f4e-6c2a-7b1e-9d3f-5a7c2b8e4f10');
    await expect(unknown).rejects.toBeInstanceOf(EventNotFoundError);
    await expect(unknown).rejects.toMatchObject({ code: 'ERR_EVENT_NOT_FOUND' });
    await expect(relay.redeliver('kafka', 0)).rejects.toBeInstanceOf(UnknownSinkError);
    await expect(relay.resume('kafka')).rejects.toMatchObject({ code: 'ERR_SINK_UNKNOWN' });
    // Nothing delivered yet: a redelivery from the last record leaves the cursor at the start.
    const unchanged = await relay.redeliver('redis', outbox.records[2]?.id as string);
    expect(unchanged.delivered).toBeNull();
    expect(await relay.redeliver('redis', Date.now() + 60_000)).toMatchObject({ delivered: null });
  });

  it('two relays on one lease and one delivery log deliver each event once', async () => {
    const outbox = new TestOutbox();
    const stream = fresh('stream');
    const [leasePrefix, logPrefix] = [fresh('lease'), fresh('log')];
    const delivered = { a: 0, b: 0 };
    const pair = await Promise.all(
      (['a', 'b'] as const).map(
        async (name) =>
          new EventRelay({
            outbox,
            sinks: [streamSink(stream, 'redis')],
            lease: await lease(leasePrefix),
            records: await records(logPrefix),
            pollInterval: 10,
            batchSize: 7,
            observer: {
              onDelivered: (_, count) => {
                delivered[name] += count;
              },
            },
          }),
      ),
    );
    relays.push(...pair);
    for (const relay of pair) relay.start();
    for (let chunk = 0; chunk < 20; chunk++) {
      await append(outbox, 15);
      await new Promise((resolve) => setImmediate(resolve));
    }
    await expect.poll(() => idsIn(stream), { timeout: 15_000 }).toEqual(idsOf(outbox.records));
    expect(delivered.a + delivered.b).toBe(300);
  });

  it('a relay started again continues from the delivery log, without delivering anything twice', async () => {
    const outbox = new TestOutbox();
    const stream = fresh('stream');
    const [leasePrefix, logPrefix] = [fresh('lease'), fresh('log')];
    const relayOn = async () =>
      new EventRelay({
        outbox,
        sinks: [streamSink(stream, 'redis')],
        lease: await lease(leasePrefix),
        records: await records(logPrefix),
        pollInterval: 20,
      });
    const first = await relayOn();
    await append(outbox, 5);
    first.start();
    await expect.poll(() => idsIn(stream), { timeout: 10_000 }).toHaveLength(5);
    await first.stop();
    await append(outbox, 3);
    const second = await relayOn();
    relays.push(second);
    expect((await second.status())[0]?.delivered?.eventId).toBe(outbox.records[4]?.id);
    second.start();
    await expect.poll(() => idsIn(stream), { timeout: 10_000 }).toEqual(idsOf(outbox.records));
  });

  it('retries a batch whose sink failed, whole, until the sink takes it', async () => {
    const outbox = new TestOutbox();
    const batches: string[][] = [];
    let failuresLeft = 2;
    const flaky: EventSink = {
      name: 'flaky',
      async publish(events: readonly CloudEvent[]) {
        batches.push(events.map((event) => event.id));
        if (failuresLeft-- > 0)
          throw new Error('connect ECONNREFUSED redis://relay:s3cret@broker:6379');
      },
      close: async () => {},
    };
    const relay = await relayOf(outbox, [flaky], { batchSize: 5 });
    await append(outbox, 5);
    relay.start();
    await expect.poll(() => batches.length, { timeout: 10_000 }).toBe(3);
    const ids = idsOf(outbox.records);
    expect(batches).toEqual([ids, ids, ids]);
    const status = await statusOf(relay, 'flaky');
    expect(status).toMatchObject({ failures: 0, attempts: 0, delivered: { eventId: ids[4] } });
    // The last error stays for the record, without the password in the broker's URL.
    expect(status?.lastError?.message).toBe('connect ECONNREFUSED redis://relay:***@broker:6379');
  });

  it('reports an outbox that fails and goes on once it answers again', async () => {
    const outbox = new TestOutbox();
    const stream = fresh('stream');
    const errors: unknown[] = [];
    const relay = await relayOf(outbox, [streamSink(stream, 'redis')], {
      observer: { onError: (error) => errors.push(error) },
    });
    await append(outbox, 3);
    outbox.failing = true;
    relay.start();
    await expect.poll(() => errors.length, { timeout: 10_000 }).toBeGreaterThan(1);
    expect(errors[0]).toEqual(new Error('the outbox is unavailable'));
    outbox.failing = false;
    await expect.poll(() => idsIn(stream), { timeout: 10_000 }).toEqual(idsOf(outbox.records));
  });

  it('stop() waits for the batch in flight, whose delivery is recorded', async () => {
    const outbox = new TestOutbox();
    let release: () => void = () => {};
    let publishing = false;
    const gated: EventSink = {
      name: 'gated',
      async publish() {
        publishing = true;
        await new Promise<void>((resolve) => {
          release = resolve;
        });
      },
      close: async () => {},
    };
    const relay = await relayOf(outbox, [gated], { publishTimeout: 10_000 });
    await append(outbox, 2);
    relay.start();
    await expect.poll(() => publishing).toBe(true);
    let stopped = false;
    const stopping = relay.stop().then(() => {
      stopped = true;
    });
    for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
    expect(stopped).toBe(false);
    release();
    await stopping;
    expect((await statusOf(relay, 'gated'))?.delivered?.eventId).toBe(outbox.records[1]?.id);
  });

  it('trims records past retention that every sink delivered, archiving them first', async () => {
    const outbox = new TestOutbox();
    const [fast, slow] = [fresh('stream'), fresh('stream')];
    const broken = await proxy();
    const archived: string[] = [];
    const relay = await relayOf(
      outbox,
      [streamSink(fast, 'fast'), streamSink(slow, 'slow', `redis://127.0.0.1:${broken.port}`)],
      {
        retention: 60_000,
        retentionInterval: 10,
        publishTimeout: 1_000,
        pauseAfter: 1_000,
        archive: async (records) => {
          archived.push(...idsOf(records));
        },
      },
    );
    const old = Date.now() - 10 * 60_000;
    await append(outbox, 4, (i) => old + i);
    relay.start();
    await expect.poll(() => archived, { timeout: 10_000 }).toHaveLength(4);
    expect(outbox.records).toHaveLength(0);

    broken.blackHole();
    await append(outbox, 3, (i) => old + 100 + i);
    await append(outbox, 2);
    const kept = idsOf(outbox.records);
    await expect.poll(async () => new Set(await idsIn(fast)).size, { timeout: 10_000 }).toBe(9);
    await expect
      .poll(async () => (await statusOf(relay, 'slow'))?.failures, { timeout: 10_000 })
      .toBeGreaterThan(1);
    // The slow sink has not had the old records: none goes.
    expect(idsOf(outbox.records)).toEqual(kept);
    expect(archived).toHaveLength(4);

    broken.pass();
    await expect.poll(() => archived, { timeout: 15_000 }).toHaveLength(7);
    expect(idsOf(outbox.records)).toEqual(kept.slice(3));
  });

  it('needs sinks with names of their own and sane numbers', async () => {
    const outbox = new TestOutbox();
    const base = { outbox, lease: null, records: new MemoryRecordStore() };
    const sink = (name: string): EventSink => ({
      name,
      publish: async () => {},
      close: async () => {},
    });
    expect(() => new EventRelay({ ...base, sinks: [] })).toThrow(ConfigError);
    expect(() => new EventRelay({ ...base, sinks: [sink('a'), sink('a')] })).toThrow(ConfigError);
    expect(() => new EventRelay({ ...base, sinks: [sink('a')], batchSize: 0 })).toThrow(
      ConfigError,
    );
  });

  it('relays without a lease for an outbox only this process writes', async () => {
    const outbox = new TestOutbox();
    const stream = fresh('stream');
    const relay = new EventRelay({
      outbox,
      sinks: [streamSink(stream, 'redis')],
      lease: null,
      records: new MemoryRecordStore(),
      pollInterval: 20,
    });
    relays.push(relay);
    await append(outbox, 3);
    relay.start();
    await expect.poll(() => idsIn(stream), { timeout: 10_000 }).toEqual(idsOf(outbox.records));
  });
});
