import { randomBytes } from 'node:crypto';
import { createClient } from 'redis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, DecodeError, StoreUnavailableError } from '../../src/core/index.js';
import {
  type CloudEvent,
  RedisStreamsSink,
  subscribeRedisStream,
  toCloudEvent,
} from '../../src/events/index.js';
import { startTcpProxy } from '../support/tcp-proxy.js';
import { updatedEventOf } from '../support/test-outbox.js';

const REDIS_URL = process.env.CLAWSESSION_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const run = randomBytes(4).toString('hex');
let counter = 0;
const freshStream = () => `cs:test:events:${run}:${++counter}`;

const raw = createClient({ url: REDIS_URL });
const closing: { close(): Promise<void> }[] = [];
beforeAll(async () => {
  await raw.connect();
});
afterEach(async () => {
  await Promise.all(closing.splice(0).map((item) => item.close()));
});
afterAll(async () => {
  for await (const keys of raw.scanIterator({ MATCH: `cs:test:events:${run}:*` }))
    if (keys.length > 0) await raw.unlink(keys);
  await raw.close();
});

function sink(stream: string, options: { maxLen?: number; url?: string } = {}) {
  const opened = new RedisStreamsSink({ url: options.url ?? REDIS_URL, stream, ...options });
  closing.push(opened);
  return opened;
}

function events(count: number, sessionId = 'session-a'): CloudEvent[] {
  return Array.from({ length: count }, (_, i) => toCloudEvent(updatedEventOf(sessionId, i + 1)));
}

async function subscribe(options: Parameters<typeof subscribeRedisStream>[0]) {
  const subscription = await subscribeRedisStream({ block: 100, ...options });
  closing.push(subscription);
  return subscription;
}

async function pendingCount(stream: string, group: string): Promise<number> {
  const reply = (await raw.sendCommand(['XPENDING', stream, group])) as [number, ...unknown[]];
  return reply[0];
}

describe('RedisStreamsSink', () => {
  it('appends each event with its type, id and envelope, in the order of the batch', async () => {
    const stream = freshStream();
    const batch = events(25);
    await sink(stream).publish(batch);
    const entries = (await raw.xRange(stream, '-', '+')) ?? [];
    expect(entries.map((entry) => entry.message.id)).toEqual(batch.map((event) => event.id));
    expect(entries[0]?.message.type).toBe('session.updated');
    expect(entries.map((entry) => JSON.parse(entry.message.event as string))).toEqual(batch);
  });

  it('keeps the stream to about maxLen entries', async () => {
    const stream = freshStream();
    const opened = sink(stream, { maxLen: 100 });
    for (let i = 0; i < 10; i++) await opened.publish(events(100));
    const length = await raw.xLen(stream);
    expect(length).toBeGreaterThanOrEqual(100);
    expect(length).toBeLessThan(1000);
  });

  it('publishes through a client of yours and leaves it open', async () => {
    const stream = freshStream();
    const client = await createClient({ url: REDIS_URL }).connect();
    const opened = new RedisStreamsSink({ client, stream, name: 'mine' });
    await opened.publish(events(2));
    await opened.close();
    expect(await client.xLen(stream)).toBe(2);
    await client.close();
  });

  it('rejects a batch while Redis is out of reach, and connects once it is back', async () => {
    const stream = freshStream();
    const proxy = await startTcpProxy('127.0.0.1', 6379);
    proxy.blackHole();
    const opened = new RedisStreamsSink({
      url: `redis://127.0.0.1:${proxy.port}`,
      stream,
      connectTimeout: 300,
    });
    closing.push(opened, proxy);
    await expect(opened.publish(events(1))).rejects.toBeInstanceOf(StoreUnavailableError);
    proxy.pass();
    await opened.publish(events(3));
    expect(await raw.xLen(stream)).toBe(3);
  });

  it('needs exactly one of url or client', () => {
    expect(() => new RedisStreamsSink({})).toThrow(ConfigError);
    expect(
      () => new RedisStreamsSink({ url: REDIS_URL, client: { sendCommand: async () => null } }),
    ).toThrow(ConfigError);
  });
});

describe('subscribeRedisStream', () => {
  it('hands each event to one consumer of the group, once, and acknowledges it', async () => {
    const stream = freshStream();
    const seen: { consumer: string; id: string }[] = [];
    for (const consumer of ['c1', 'c2']) {
      await subscribe({
        url: REDIS_URL,
        stream,
        group: 'g',
        consumer,
        count: 5,
        handler: (event) => {
          seen.push({ consumer, id: event.id });
        },
      });
    }
    const batch = events(60);
    await sink(stream).publish(batch);
    await expect.poll(() => seen.length, { timeout: 10_000 }).toBe(60);
    expect(new Set(seen.map((entry) => entry.id))).toEqual(new Set(batch.map((event) => event.id)));
    await expect.poll(() => pendingCount(stream, 'g')).toBe(0);
  });

  it('gives every group its own copy of the stream', async () => {
    const stream = freshStream();
    const got: Record<string, string[]> = { audit: [], fraud: [] };
    for (const group of ['audit', 'fraud'])
      await subscribe({
        url: REDIS_URL,
        stream,
        group,
        consumer: 'c',
        handler: (event) => {
          got[group]?.push(event.id);
        },
      });
    const batch = events(10);
    await sink(stream).publish(batch);
    const ids = batch.map((event) => event.id);
    await expect.poll(() => got, { timeout: 10_000 }).toEqual({ audit: ids, fraud: ids });
  });

  it('starts a new group at the stream’s first entry when asked to', async () => {
    const stream = freshStream();
    const batch = events(4);
    await sink(stream).publish(batch);
    const got: string[] = [];
    await subscribe({
      url: REDIS_URL,
      stream,
      group: 'late',
      consumer: 'c',
      start: 'all',
      handler: (event) => {
        got.push(event.id);
      },
    });
    await expect.poll(() => got, { timeout: 10_000 }).toEqual(batch.map((event) => event.id));
  });

  it('hands only the chosen types to the handler and acknowledges the others unread', async () => {
    const stream = freshStream();
    const got: string[] = [];
    await subscribe({
      url: REDIS_URL,
      stream,
      group: 'g',
      consumer: 'c',
      types: ['session.revoked'],
      handler: (event) => {
        got.push(event.type);
      },
    });
    const revoked = toCloudEvent({
      ...updatedEventOf('s', 2),
      type: 'session.revoked',
      data: { actor: 'user', reason: 'logout' },
    });
    await sink(stream).publish([...events(3, 's'), revoked]);
    await expect.poll(() => got, { timeout: 10_000 }).toEqual(['session.revoked']);
    await expect.poll(() => pendingCount(stream, 'g')).toBe(0);
  });

  it('hands an event whose handler threw out again, and acknowledges it once handled', async () => {
    const stream = freshStream();
    const attempts = new Map<string, number>();
    const errors: { error: unknown; entry: string | null }[] = [];
    await subscribe({
      url: REDIS_URL,
      stream,
      group: 'g',
      consumer: 'c',
      claimAfter: 100,
      handler: (event) => {
        const attempt = (attempts.get(event.id) ?? 0) + 1;
        attempts.set(event.id, attempt);
        if (attempt === 1 && event.data.sequence === 2) throw new Error('downstream is busy');
      },
      onError: (error, entry) => errors.push({ error, entry }),
    });
    const batch = events(3);
    await sink(stream).publish(batch);
    await expect.poll(() => attempts.get(batch[1]?.id as string), { timeout: 10_000 }).toBe(2);
    expect(attempts.get(batch[0]?.id as string)).toBe(1);
    expect(attempts.get(batch[2]?.id as string)).toBe(1);
    expect(errors).toHaveLength(1);
    expect(errors[0]?.error).toEqual(new Error('downstream is busy'));
    expect(errors[0]?.entry).toMatch(/^\d+-\d+$/);
    await expect.poll(() => pendingCount(stream, 'g')).toBe(0);
  });

  it('takes over the entries a consumer that died left unacknowledged', async () => {
    const stream = freshStream();
    await raw.xGroupCreate(stream, 'g', '$', { MKSTREAM: true });
    const batch = events(3);
    await sink(stream).publish(batch);
    // A consumer reads them and dies before acknowledging.
    await raw.xReadGroup('g', 'dead', { key: stream, id: '>' }, { COUNT: 10 });
    expect(await pendingCount(stream, 'g')).toBe(3);
    const got: string[] = [];
    await subscribe({
      url: REDIS_URL,
      stream,
      group: 'g',
      consumer: 'alive',
      claimAfter: 100,
      handler: (event) => {
        got.push(event.id);
      },
    });
    await expect.poll(() => got, { timeout: 10_000 }).toEqual(batch.map((event) => event.id));
    await expect.poll(() => pendingCount(stream, 'g')).toBe(0);
  });

  it('acknowledges and reports an entry that is not an event, and goes on with the next', async () => {
    const stream = freshStream();
    const got: string[] = [];
    const errors: unknown[] = [];
    await subscribe({
      url: REDIS_URL,
      stream,
      group: 'g',
      consumer: 'c',
      handler: (event) => {
        got.push(event.id);
      },
      onError: (error) => errors.push(error),
    });
    await raw.xAdd(stream, '*', { event: 'not json' });
    await raw.xAdd(stream, '*', { something: 'else' });
    await raw.xAdd(stream, '*', { event: JSON.stringify({ specversion: '1.0', id: 'x' }) });
    const [valid] = events(1);
    await sink(stream).publish([valid as CloudEvent]);
    await expect.poll(() => got, { timeout: 10_000 }).toEqual([valid?.id]);
    expect(errors).toHaveLength(3);
    for (const error of errors) expect(error).toBeInstanceOf(DecodeError);
    await expect.poll(() => pendingCount(stream, 'g')).toBe(0);
  });

  it('keeps consuming across a Redis outage, reporting the failed reads', async () => {
    const stream = freshStream();
    const proxy = await startTcpProxy('127.0.0.1', 6379);
    const got: string[] = [];
    const errors: unknown[] = [];
    await subscribe({
      url: `redis://127.0.0.1:${proxy.port}`,
      stream,
      group: 'g',
      consumer: 'c',
      handler: (event) => {
        got.push(event.id);
      },
      commandTimeout: 200,
      // A read Redis answered into the black hole left its entries pending on this consumer.
      claimAfter: 500,
      onError: (error) => errors.push(error),
    });
    const [before, during] = [events(2), events(2)];
    await sink(stream).publish(before);
    await expect.poll(() => got.length, { timeout: 10_000 }).toBe(2);
    proxy.blackHole();
    await sink(stream).publish(during);
    // Healing resets the connection that lost bytes; the consumer reconnects and reads on.
    await expect.poll(() => errors.length, { timeout: 10_000 }).toBeGreaterThan(0);
    proxy.pass();
    await expect
      .poll(() => new Set(got), { timeout: 15_000 })
      .toEqual(new Set([...before, ...during].map((event) => event.id)));
    await expect.poll(() => pendingCount(stream, 'g')).toBe(0);
    await proxy.close();
  });

  it('refuses a consumer without a group or a name, and reports an unreachable Redis', async () => {
    const handler = () => {};
    await expect(
      subscribeRedisStream({ url: REDIS_URL, group: '', consumer: 'c', handler }),
    ).rejects.toBeInstanceOf(ConfigError);
    await expect(
      subscribeRedisStream({
        url: 'redis://127.0.0.1:1',
        group: 'g',
        consumer: 'c',
        handler,
        connectTimeout: 300,
      }),
    ).rejects.toBeInstanceOf(StoreUnavailableError);
  });
});
