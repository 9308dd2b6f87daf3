import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  newEventId,
  type OutboxEvent,
  type OutboxOptions,
  registerBackend,
} from '../../src/core/index.js';
import { MemoryStore, openBackend } from '../../src/stores/index.js';
import { describeOutbox } from '../conformance/outbox.js';

describeOutbox('memory', async ({ instance }) => new MemoryStore({ outbox: { instance } }));

const event = (time: number): OutboxEvent => ({
  id: newEventId(),
  type: 'login.failed',
  time,
  sessionId: null,
  userId: 'u',
  sequence: 0,
  instance: 'test',
  data: {},
});

describe('MemoryStore outbox', () => {
  it('has none unless opened with one', async () => {
    expect(new MemoryStore().outbox).toBeUndefined();
    const store = await openBackend('memory:').openSessions({ outbox: true });
    expect(store.outbox).toBeDefined();
    await store.close();
  });

  it("in a tiered backend, is the durable tier's: the hot tier is opened without one", async () => {
    const scheme = `hot${randomBytes(4).toString('hex')}:`;
    const asked: (OutboxOptions | true | undefined)[] = [];
    registerBackend({
      schemes: [scheme],
      usage: scheme,
      parse: () => ({
        name: 'hot',
        displayUrl: scheme,
        shared: false,
        async openSessions(options = {}) {
          asked.push(options.outbox);
          return new MemoryStore({ outbox: options.outbox });
        },
        openRecords: async () => {
          throw new Error('not used');
        },
      }),
    });
    const store = await openBackend(`tiered:${scheme}|memory:`).openSessions({
      outbox: { instance: 'gw-1' },
    });
    expect(asked).toEqual([undefined]);
    const now = Date.UTC(2026, 0, 1);
    await store.create({
      id: 'a',
      userId: 'u',
      data: {},
      version: 1,
      createdAt: now,
      lastActiveAt: now,
      idleExpiresAt: now + 60_000,
      absoluteExpiresAt: now + 120_000,
      tokenIssuedAt: now,
      ip: null,
      userAgent: null,
    });
    expect(await store.outbox?.read(null, 10)).toMatchObject([
      { type: 'session.created', sessionId: 'a', instance: 'gw-1' },
    ]);
    await store.close();
  });

  it('drops the oldest records when full, counts them, and keeps positions going', async () => {
    const store = new MemoryStore({ outbox: { max: 3 } });
    const outbox = store.outbox as NonNullable<typeof store.outbox>;
    await outbox.append([1, 2, 3, 4, 5].map(event));
    expect(outbox.dropped).toBe(2);
    const held = await outbox.read(null, 10);
    expect(held.map((r) => [r.position, r.time])).toEqual([
      ['3', 3],
      ['4', 4],
      ['5', 5],
    ]);
    expect(await outbox.backlog(null)).toEqual({ count: 3, oldestTime: 3 });
    // Past the first compaction of its list, the bound and the order still hold.
    for (let i = 6; i <= 3000; i++) await outbox.append([event(i)]);
    expect(outbox.dropped).toBe(2997);
    expect((await outbox.read('2997', 10)).map((r) => r.position)).toEqual([
      '2998',
      '2999',
      '3000',
    ]);
    expect(await outbox.read('1', 1)).toEqual(await outbox.read(null, 1));
  });

  it('refuses a bound that is not a positive integer', () => {
    expect(() => new MemoryStore({ outbox: { max: 0 } })).toThrow(RangeError);
  });

  it('hands out copies: changing a record read does not change the outbox', async () => {
    const store = new MemoryStore({ outbox: true });
    const outbox = store.outbox as NonNullable<typeof store.outbox>;
    await outbox.append([{ ...event(1), data: { nested: { a: 1 } } }]);
    const [record] = await outbox.read(null, 1);
    (record?.data.nested as { a: number }).a = 2;
    expect((await outbox.read(null, 1))[0]?.data).toEqual({ nested: { a: 1 } });
  });
});
